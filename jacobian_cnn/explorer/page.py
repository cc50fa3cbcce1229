"""The explorer page: one self-contained HTML file (script, styles and data inline, no network).

:func:`explore` builds the data (:mod:`jacobian_cnn.explorer.data`, and for a window
layer the controls of :mod:`jacobian_cnn.explorer.variants`) and returns an
:class:`Explorer`, which renders inline in Jupyter (``_repr_html_``: an ``iframe``
whose ``srcdoc`` holds the page, so its script runs in JupyterLab and the classic
notebook alike) and writes the page with :meth:`Explorer.save`.

Examples
--------
>>> import numpy as np
>>> import jacobian_cnn as jc
>>> view = jc.explore(jc.AvgPool2D(2, stride=1), np.arange(9.).reshape(3, 3), symbolic=False)
>>> view
Explorer(AvgPool2D(2x2, stride=1), 1 panel, 14 settings)
>>> page = view.to_html()
>>> page.startswith("<!DOCTYPE html>"), "http" in page.split("<script")[0].lower()
(True, False)
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path

from jacobian_cnn.chain import Chain
from jacobian_cnn.explorer.data import MAX_EXPLORE_ENTRIES, chain_panels, layer_panel, symbolic_available
from jacobian_cnn.explorer.variants import MAX_VARIANTS, WINDOW_LAYERS, geometry_variants

__all__ = ["Explorer", "explore", "render_page"]


def _asset(name):
    return resources.files("jacobian_cnn.explorer").joinpath(name).read_text(encoding="utf-8")


def render_page(data):
    """The HTML page of ``data`` (the dict :func:`explore` builds), with everything inline."""
    from jacobian_cnn import __version__

    payload = json.dumps(data, separators=(",", ":"), allow_nan=False)
    payload = payload.replace("<", "\\u003c")  # no "</script>" or "<!--" can end the script element
    page = _asset("template.html")
    for key, value in (("__CSS__", _asset("explorer.css")), ("__JS__", _asset("explorer.js")),
                       ("__TITLE__", html.escape(data["title"])), ("__VERSION__", __version__),
                       ("__DATA__", payload)):
        page = page.replace(key, value)
    return page


class Explorer:
    """An explorer page: ``data`` (a JSON-ready dict), shown inline in Jupyter, saved with :meth:`save`.

    Attributes
    ----------
    data : dict
        ``title``, ``kind`` (``"layer"`` or ``"chain"``), ``panels`` (see
        :mod:`jacobian_cnn.explorer.data`), ``controls``/``variants``/``initial``/
        ``left_out`` (a window layer's settings, else ``None``), ``symbolic`` and ``limits``.
    """

    def __init__(self, data):
        self.data = data

    def __repr__(self):
        n = len(self.data["panels"])
        settings = f", {len(self.data['variants'])} settings" if self.data["variants"] else ""
        return f"Explorer({self.data['title']}, {n} panel{'s' if n > 1 else ''}{settings})"

    def to_html(self):
        """The page, one self-contained HTML document."""
        return render_page(self.data)

    def save(self, path):
        """Write the page to ``path`` (UTF-8); returns the path."""
        path = Path(path)
        path.write_text(self.to_html(), encoding="utf-8")
        return path

    def _height(self):
        rows = sum(max(len(p["output"]["labels"]), p["input"]["grid"][0] * p["input"]["grid"][2])
                   for p in self.data["panels"])
        return min(1200, 180 + 24 * rows + 160 * len(self.data["panels"]))

    def _repr_html_(self):
        return (f'<iframe srcdoc="{html.escape(self.to_html(), quote=True)}" '
                f'style="width: 100%; height: {self._height()}px; border: 0" '
                f'sandbox="allow-scripts" title="{html.escape(self.data["title"])}"></iframe>')


def explore(layer, x, *, g=None, symbolic=None, controls=True, max_entries=MAX_EXPLORE_ENTRIES):
    """An interactive view of ``layer``'s Jacobian at ``x`` (a layer or a :class:`~jacobian_cnn.Chain`).

    Parameters
    ----------
    layer : Layer or Chain
    x : array_like
        The input; one sample ``(H, W)``, ``(H, W, C)``, or a vector.
    g : array_like, optional
        A gradient row over ``vec(y)``. A chain shows it moving back through every
        step (default: ``[1.0]`` after a loss, a row of ones otherwise); a layer shows
        ``g`` and ``g @ J`` only when it is given.
    symbolic : bool or None
        Name entries with :mod:`jacobian_cnn.symbolic` (``k_{12}``, ``1/4``; needs the
        ``symbolic`` extra). ``None`` (default): when SymPy is installed; otherwise each
        entry shows its meaning (``∂p_{11}/∂a_{22}``) and value.
    controls : bool
        For a convolution or pooling layer, embed the grid of settings of
        :mod:`jacobian_cnn.explorer.variants` (at most 81) behind the page's controls.
    max_entries : int
        The largest Jacobian drawn, in cells (rows x columns) of every panel and
        setting; a bigger one raises :class:`~jacobian_cnn.errors.SizeLimitError`
        (settings over it are left out of the controls). Default 10,000.

    Returns
    -------
    Explorer
    """
    from jacobian_cnn._arguments import float_array, int_value

    max_entries = int_value(max_entries, "max_entries", minimum=1)
    x = float_array(x, "x")
    if symbolic is None:
        symbolic = symbolic_available()
    data = {"title": repr(layer), "kind": "layer", "controls": None, "variants": None, "initial": None,
            "left_out": 0, "symbolic": bool(symbolic),
            "limits": {"max_entries": max_entries, "max_variants": MAX_VARIANTS}}
    if isinstance(layer, Chain):
        data.update(kind="chain", title=f"Chain of {len(layer)} layers",
                    panels=chain_panels(layer, x, g, symbolic=symbolic, max_entries=max_entries))
    elif controls and isinstance(layer, WINDOW_LAYERS) and g is None:
        grid = geometry_variants(layer, x, symbolic=symbolic, max_entries=max_entries)
        data.update(grid, panels=[grid["variants"][grid["initial"]]])
    else:
        data["panels"] = [layer_panel(layer, x, symbolic=symbolic, g=g, max_entries=max_entries)]
    return Explorer(data)
