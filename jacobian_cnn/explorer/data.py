"""The data the explorer page draws: one panel per layer, built from the package's public API.

A *panel* is a plain dict (JSON-ready) describing one Jacobian ``d vec(y) / d vec(x)``
(conventions: :mod:`jacobian_cnn.vec`):

``input`` / ``output``
    Each map: its ``name`` (a letter), ``shape``, ``grid`` ``[H, W, K]`` (how it is
    drawn: ``K`` grids of ``H x W`` pixels; vector index ``r + H*c + H*W*k``),
    ``labels`` (1-based names in ``vec`` order, ``a_{21}``), ``values`` and
    ``rowmajor`` (at row-major position ``s``, the ``vec`` index shown there).
``entries``
    ``[i, j, value, text]`` for every stored entry of ``layer.jacobian(x)``: the
    structural nonzeros the page highlights.
``symbols``
    ``[i, j, text]``: the entry named by :mod:`jacobian_cnn.symbolic` (``k_{12}``,
    ``1/4``), or ``[]`` when symbolic labels are off.
``switches``
    Max pooling: the ``vec`` index into the input each output copies (``-1``:
    padding won), as :meth:`MaxPool2D.switches <jacobian_cnn.MaxPool2D.switches>` gives them.
``gradient``
    ``None``, or ``{"out": g_y, "in": g_x}`` with ``g_x = g_y @ J``.

Examples
--------
>>> import numpy as np
>>> import jacobian_cnn as jc
>>> from jacobian_cnn.explorer.data import layer_panel
>>> panel = layer_panel(jc.AvgPool2D(2, stride=1), np.arange(9.).reshape(3, 3), symbolic=False)
>>> panel["output"]["labels"], panel["input"]["rowmajor"][:4]
(['p_{11}', 'p_{21}', 'p_{12}', 'p_{22}'], [0, 3, 6, 1])
>>> panel["entries"][0]
[0, 0, 0.25, '0.25']
"""

from __future__ import annotations

import importlib.util

import numpy as np

from jacobian_cnn.chain import Chain
from jacobian_cnn.errors import InvalidValueError, SizeLimitError
from jacobian_cnn.ops.activations import Softmax
from jacobian_cnn.ops.conv import Conv2D
from jacobian_cnn.ops.dense import Dense
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D
from jacobian_cnn.ops.reshape import Flatten

__all__ = ["MAX_EXPLORE_ENTRIES", "chain_panels", "layer_panel", "map_data", "number_text",
           "symbolic_available"]

MAX_EXPLORE_ENTRIES = 10_000
"""Default ``max_entries``: the largest Jacobian drawn, in cells (rows x columns)."""

_OUTPUT_LETTER = {Conv2D: "z", Dense: "z", AvgPool2D: "p", MaxPool2D: "p", Flatten: "f", Softmax: "s"}
_SPARE_LETTERS = "yzpfsuvqrhgtcde"  # never k, w, b or J: the symbolic module's parameter letters


def number_text(value):
    """The text the page shows for a number: 6 significant digits (``0.25``, ``-1.5e-07``)."""
    value = float(value)
    return "0" if value == 0 else f"{value:.6g}"


def symbolic_available():
    """Whether SymPy (the ``symbolic`` extra) can be imported."""
    return importlib.util.find_spec("sympy") is not None


def map_data(name, values):
    """One map (input or output) as the page draws it; ``values`` is an array (``()``: a scalar).

    Examples
    --------
    >>> from jacobian_cnn.explorer.data import map_data
    >>> m = map_data("a", np.arange(6.).reshape(2, 3))
    >>> m["grid"], m["labels"][:3], m["rowmajor"]
    ([2, 3, 1], ['a_{11}', 'a_{21}', 'a_{12}'], [0, 2, 4, 1, 3, 5])
    """
    from jacobian_cnn.symbolic.jacobians import entry_names  # needs no SymPy

    values = np.asarray(values)
    shape = tuple(int(n) for n in values.shape)
    n = values.size
    if shape == ():
        labels = [name]
    else:
        labels = entry_names(name, shape)
    grid = [shape[0] if shape else 1, shape[1] if len(shape) > 1 else 1]
    grid.append(n // (grid[0] * grid[1]) if n else 0)
    order = np.arange(n).reshape(shape, order="F").ravel(order="C")
    return {"name": name, "shape": list(shape), "grid": grid, "labels": labels,
            "values": [float(v) for v in values.ravel(order="F")],
            "texts": [number_text(v) for v in values.ravel(order="F")],
            "rowmajor": [int(k) for k in order]}


def _check_size(n_out, n_in, max_entries, what):
    cells = n_out * n_in
    if cells <= max_entries:
        return
    raise SizeLimitError(
        f"the explorer draws every cell of {what}: {n_out:,} x {n_in:,} = {cells:,} cells, over "
        f"the limit of {max_entries:,}; pass a larger max_entries (command line: --max-entries) "
        "or a smaller input")


def _symbolic_entries(layer, x, letters):
    """``[[i, j, text], ...]`` of the symbolic Jacobian, or ``[]`` when the layer has no rule."""
    from jacobian_cnn.symbolic import SUPPORTED_LAYERS, Names, SymbolicProblem
    from jacobian_cnn.symbolic.latex import to_text

    x = np.asarray(x)
    if type(layer) not in SUPPORTED_LAYERS or x.ndim > 3 or (isinstance(layer, Softmax) and x.ndim != 1):
        return []
    names = Names(input=letters[0], output=letters[1])
    matrix = SymbolicProblem(layer, x.astype(np.float64), names=names).jacobian("input").matrix
    return [[int(i), int(j), to_text(v)] for (i, j), v in sorted(matrix.todok().items())]


def layer_panel(layer, x, *, symbolic=None, letters=("a", None), g=None,
                max_entries=MAX_EXPLORE_ENTRIES, title=None):
    """The panel (see the module docstring) of ``layer`` at input ``x``.

    Parameters
    ----------
    layer : Layer
    x : array_like
        The input; its values matter for max pooling (switches) and the activations.
    symbolic : bool or None
        Name the entries with :mod:`jacobian_cnn.symbolic` (needs SymPy). ``None``:
        when SymPy is installed. Without it, an entry is shown by its meaning
        (``∂p_{11}/∂a_{22}``) and its value.
    letters : (str, str or None)
        The input's and output's letter; ``None`` picks by layer (``z``, ``p``, ``f``, ``s``, ``y``).
    g : array_like, optional
        A gradient row over ``vec(y)``; the panel then shows it and ``g @ J``.
    max_entries : int
        Refuse a Jacobian of more cells (:class:`~jacobian_cnn.errors.SizeLimitError`).
    title : str, optional
        Default ``repr(layer)``.
    """
    x = np.asarray(x)
    y = np.asarray(layer.forward(x))
    _check_size(y.size, x.size, max_entries, f"the Jacobian of {layer!r}")
    letter_in = letters[0]
    letter_out = letters[1] or ("L" if y.ndim == 0 else _OUTPUT_LETTER.get(type(layer), "y"))
    J = layer.jacobian(x).tocoo()
    use_symbols = symbolic_available() if symbolic is None else bool(symbolic)
    if use_symbols:
        from jacobian_cnn.symbolic.latex import require_sympy

        require_sympy()  # symbolic=True without SymPy: the extra's install hint
    symbols = _symbolic_entries(layer, x, (letter_in, letter_out)) if use_symbols else []
    order = np.lexsort((J.col, J.row))
    entries = [[int(J.row[k]), int(J.col[k]), float(J.data[k]), number_text(J.data[k])] for k in order]
    panel = {"title": title or repr(layer), "input": map_data(letter_in, x),
             "output": map_data(letter_out, y), "entries": entries, "symbols": symbols,
             "switches": None, "gradient": None}
    if isinstance(layer, MaxPool2D):
        panel["switches"] = [int(s) for s in np.asarray(layer.switches(x)).ravel(order="F")]
    if g is not None:
        g = np.asarray(g, dtype=np.float64).ravel()
        if g.size != y.size:
            raise InvalidValueError(f"g must have y.size = {y.size} entries (a row over vec(y)), "
                                    f"got {g.size}")
        panel["gradient"] = {"out": [float(v) for v in g],
                             "in": [float(v) for v in np.asarray(g @ J.tocsr()).ravel()]}
    return panel


def _letters(layers, first="a"):
    """One letter per map of a chain: the input's, then each output's, none repeated."""
    used = [first]
    for layer in layers:
        letter = _OUTPUT_LETTER.get(type(layer), "y")
        if letter in used:
            letter = next(c for c in _SPARE_LETTERS if c not in used)
        used.append(letter)
    return used


def chain_panels(chain, x, g=None, *, symbolic=None, max_entries=MAX_EXPLORE_ENTRIES):
    """One panel per step of ``chain``, each with the gradient row that enters and leaves it.

    The row leaving the chain is ``g`` (default ``[1.0]`` after a loss, a row of ones
    otherwise); the row leaving step ``i``'s input is ``Chain(layers[i:]).backward``'s,
    so the first panel's ``g_x`` is exactly ``chain.backward(x, g).input``.

    Examples
    --------
    >>> import jacobian_cnn as jc
    >>> net = jc.Chain([jc.AvgPool2D(2, stride=1), jc.Flatten(), jc.MSELoss(np.zeros(4))])
    >>> panels = chain_panels(net, np.arange(9.).reshape(3, 3), symbolic=False)
    >>> [p["output"]["name"] for p in panels], panels[-1]["gradient"]["out"]
    (['p', 'f', 'L'], [1.0])
    """
    if not isinstance(chain, Chain):
        raise InvalidValueError(f"chain must be a Chain, got {type(chain).__name__}")
    inputs = [np.asarray(x)]
    for layer in chain.layers:
        inputs.append(np.asarray(layer.forward(inputs[-1])))
        _check_size(inputs[-1].size, inputs[-2].size, max_entries,
                    f"step {len(inputs) - 1} ({layer!r})")
    y = inputs[-1]
    g = np.ones(y.size) if g is None else np.asarray(g, dtype=np.float64).ravel()
    letters = _letters(chain.layers)
    letters[-1] = "L" if y.ndim == 0 else letters[-1]
    rows = [np.asarray(Chain(chain.layers[i:]).backward(inputs[i], g).input).ravel()
            for i in range(len(chain.layers))] + [g]
    panels = []
    for i, layer in enumerate(chain.layers):
        panel = layer_panel(layer, inputs[i], symbolic=symbolic, letters=(letters[i], letters[i + 1]),
                            g=rows[i + 1], max_entries=max_entries, title=f"step {i + 1}: {layer!r}")
        panel["gradient"]["in"] = [float(v) for v in rows[i]]  # the chain's own row, bit for bit
        panels.append(panel)
    return panels
