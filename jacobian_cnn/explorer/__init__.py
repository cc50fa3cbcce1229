"""The interactive Jacobian explorer: a self-contained HTML page, also shown inline in Jupyter.

``jc.explore(layer, x)`` (:func:`~jacobian_cnn.explorer.page.explore`) returns an
:class:`~jacobian_cnn.explorer.page.Explorer`; ``jacobian-cnn explore OP ... -o FILE.html``
writes the same page. :mod:`~jacobian_cnn.explorer.data` builds what the page draws
from the package's public API, :mod:`~jacobian_cnn.explorer.variants` the grid of
settings behind its controls, :mod:`~jacobian_cnn.explorer.page` the page itself
(``template.html``, ``explorer.css`` and ``explorer.js`` inlined). What it shows and
how it is tested: docs/explorer.md.
"""

from jacobian_cnn.explorer.data import MAX_EXPLORE_ENTRIES
from jacobian_cnn.explorer.page import Explorer, explore, render_page
from jacobian_cnn.explorer.variants import MAX_VARIANTS

__all__ = ["Explorer", "explore", "render_page", "MAX_EXPLORE_ENTRIES", "MAX_VARIANTS"]
