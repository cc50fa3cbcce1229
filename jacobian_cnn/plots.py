"""Pictures of Jacobians: the sparsity pattern, the values, and training curves.

Rows are ``vec(y)`` and columns ``vec(x)`` in the numerator layout of
:mod:`jacobian_cnn.vec` (``vec(K)``, ``vec(W)``, ``vec(b)`` for a Jacobian wrt a parameter:
``col_name`` says which). Give the shapes of ``y`` and ``x`` and the pictures mark
where one channel's block ends (dotted) and where one sample's block ends (solid):
a batch Jacobian wrt the input is block diagonal between the solid lines.

matplotlib is imported only when a function here is called; without it they raise
an ``ImportError`` that says how to install it. Nothing here picks a backend:
notebooks show figures inline, scripts and tests choose theirs (``Agg``).

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import numpy as np
>>> import jacobian_cnn as jc
>>> from jacobian_cnn import plots
>>> x = np.zeros((4, 4, 2, 3))                      # 2 channels, 3 samples
>>> J = jc.AvgPool2D(2).jacobian(x)
>>> plots.block_sizes(x.shape)                      # a channel is 16 entries, a sample 32
(16, 32)
>>> ax = plots.spy(J, row_shape=(2, 2, 2, 3), col_shape=x.shape)
>>> ax.get_xlabel()
'vec(x): 96 columns'

Label the columns by what they are: a kernel Jacobian's columns are ``vec(K)``.

>>> conv = jc.Conv2D(np.ones((3, 3, 2, 4)))
>>> ax = plots.spy(conv.jacobian(x, wrt="kernel"), col_name="K")
>>> ax.get_xlabel(), ax.get_ylabel()
('vec(K): 72 columns', 'vec(y): 48 rows')
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jacobian_cnn.errors import InvalidValueError

__all__ = ["spy", "heatmap", "block_sizes", "vec_labels", "plot_history"]

#: refuse to draw a dense heat map with more entries than this
MAX_HEATMAP_ENTRIES = 1_000_000
#: block lines are left out when there would be more than this many of one kind
MAX_BLOCK_LINES = 128


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "jacobian_cnn.plots needs matplotlib: pip install matplotlib "
            "(or pip install 'jacobian_cnn[plot]')"
        ) from exc
    return plt


def block_sizes(shape):
    """Lengths along ``vec`` of one channel and of one sample of an ``(H, W, C, N)`` array.

    Only the blocks that split the vector are returned, smallest first. Shapes with
    fewer than three axes (a 2-D map, a vector) have no blocks: pass ``row_blocks``/
    ``col_blocks`` explicitly for a ``(n, N)`` batch of vectors (``(n,)``).

    Examples
    --------
    >>> from jacobian_cnn.plots import block_sizes
    >>> block_sizes((4, 4, 3, 2)), block_sizes((4, 4, 1, 2)), block_sizes((4, 4, 3)), block_sizes((3, 3))
    ((16, 48), (16,), (16,), ())
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) < 3:
        return ()
    h, w, c = shape[:3]
    n = int(np.prod(shape[3:], dtype=np.int64))
    total = h * w * c * n
    sizes = []
    for size in (h * w, h * w * c):
        if size < total and size not in sizes:
            sizes.append(size)
    return tuple(sizes)


def vec_labels(shape, name, *, seed_style=False):
    """Names of the entries of an array of ``shape`` in ``vec`` order, for tick labels.

    ``seed_style=True`` writes 1-based subscripts without separators, as the seed
    derivations do (``a21`` is ``a[1, 0]``); otherwise 0-based NumPy indices.

    Examples
    --------
    >>> from jacobian_cnn.plots import vec_labels
    >>> vec_labels((2, 2), "p", seed_style=True)
    ['p11', 'p21', 'p12', 'p22']
    >>> vec_labels((2, 1), "x")
    ['x[0, 0]', 'x[1, 0]']
    """
    shape = tuple(int(s) for s in shape)
    labels = []
    for flat in range(int(np.prod(shape, dtype=np.int64))):
        index = np.unravel_index(flat, shape, order="F")
        if seed_style:
            labels.append(name + "".join(str(int(i) + 1) for i in index))
        else:
            labels.append(f"{name}[{', '.join(str(int(i)) for i in index)}]")
    return labels


def _blocks(shape, blocks, length):
    """``[(size, is_sample_block), ...]`` from a shape or from explicit block lengths."""
    if blocks is not None:
        blocks = (blocks,) if np.isscalar(blocks) else tuple(blocks)
        return [(int(b), True) for b in blocks if 0 < int(b) < length]
    if shape is None:
        return []
    sample = int(np.prod(tuple(shape)[:3], dtype=np.int64)) if len(shape) >= 3 else 0
    return [(size, size == sample) for size in block_sizes(shape) if size < length]


def _draw_blocks(ax, n_rows, n_cols, row_blocks, col_blocks):
    """Dotted lines between channels, solid lines between samples (or given blocks)."""
    for blocks, n, line in ((row_blocks, n_rows, ax.axhline), (col_blocks, n_cols, ax.axvline)):
        for size, sample in blocks:
            if n // size > MAX_BLOCK_LINES:
                continue
            style = (dict(color="tab:red", linewidth=1.2, linestyle="-") if sample
                     else dict(color="tab:blue", linewidth=0.7, linestyle=":"))
            for k in range(size, n, size):
                line(k - 0.5, **style)


def _ticks(ax, row_labels, col_labels):
    if row_labels is not None:
        ax.set_yticks(range(len(row_labels)), row_labels)
    if col_labels is not None:
        ax.set_xticks(range(len(col_labels)), col_labels, rotation=90)


def _axes(ax):
    if ax is None:
        _, ax = _pyplot().subplots()
    else:
        _pyplot()
    return ax


def _check_matrix(J):
    if not sp.issparse(J):
        J = np.asarray(J)
        if J.ndim != 2:
            raise InvalidValueError(f"J must be a 2-D Jacobian (y.size, x.size); got shape {J.shape}")
    return J


def spy(J, *, row_shape=None, col_shape=None, row_blocks=None, col_blocks=None, ax=None,
        title=None, markersize=None, aspect=None, row_labels=None, col_labels=None, row_name="y",
        col_name="x", **kwargs):
    """Draw the sparsity pattern of a Jacobian with ``matplotlib``'s ``spy``.

    Every *stored* entry is drawn (a sparse Jacobian of :mod:`jacobian_cnn` stores
    exactly its structural nonzeros); dense input shows its nonzeros.

    Parameters
    ----------
    J : scipy sparse array or array_like
        ``(y.size, x.size)``.
    row_shape, col_shape : tuple, optional
        Shapes of ``y`` and ``x``; maps ``(H, W, C[, N])`` get channel and sample
        block lines (see :func:`block_sizes`).
    row_blocks, col_blocks : int or sequence of int, optional
        Block lengths to mark instead, e.g. ``n`` for a ``(n, N)`` batch of vectors.
        A kind of line that would be drawn more than ``MAX_BLOCK_LINES`` times is left out.
    ax : matplotlib Axes, optional
        Drawn into a new figure when omitted.
    title : str, optional
    markersize : float, optional
        Default: one cell wide, from the axes' size.
    aspect : {"equal", "auto"}, optional
        Default: square cells unless one side is more than three times the other.
    row_labels, col_labels : sequence of str, optional
        Tick labels for small matrices (see :func:`vec_labels`).
    row_name, col_name : str
        What the rows and columns are the ``vec`` of, for the axis labels
        ``vec(y)`` and ``vec(x)``: give ``col_name="K"`` for a kernel Jacobian,
        ``"W"`` for a dense weight, ``"b"`` for a bias.
    **kwargs
        Passed to ``Axes.spy`` (e.g. ``color``).

    Returns
    -------
    matplotlib Axes
    """
    J = _check_matrix(J)
    ax = _axes(ax)
    n_rows, n_cols = J.shape
    if aspect is None:
        aspect = "equal" if 1 / 3 <= max(n_rows, 1) / max(n_cols, 1) <= 3 else "auto"
    if markersize is None:
        box = ax.get_position()
        fig_w, fig_h = ax.figure.get_size_inches()
        cell = min(box.width * fig_w * 72 / max(n_cols, 1), box.height * fig_h * 72 / max(n_rows, 1))
        markersize = float(np.clip(cell, 0.5, 12))
    style = {"color": "black", "markeredgewidth": 0, **kwargs}
    ax.spy(J if sp.issparse(J) else sp.coo_array(J), precision="present", markersize=markersize,
           marker="s", aspect=aspect, **style)
    ax.set_xlim(-0.5, n_cols - 0.5)
    ax.set_ylim(n_rows - 0.5, -0.5)
    _draw_blocks(ax, n_rows, n_cols, _blocks(row_shape, row_blocks, n_rows),
                 _blocks(col_shape, col_blocks, n_cols))
    _ticks(ax, row_labels, col_labels)
    nnz = J.nnz if sp.issparse(J) else int(np.count_nonzero(J))
    ax.set_xlabel(f"vec({col_name}): {n_cols} columns")
    ax.set_ylabel(f"vec({row_name}): {n_rows} rows")
    ax.xaxis.set_label_position("bottom")
    ax.set_title(title if title is not None else f"{n_rows} x {n_cols}, {nnz} stored entries",
                 fontsize="medium")
    return ax


def heatmap(J, *, row_shape=None, col_shape=None, row_blocks=None, col_blocks=None, ax=None,
            title=None, annotate=False, fmt="{:.3g}", cmap="RdBu_r", vmax=None, colorbar=True,
            row_labels=None, col_labels=None, row_name="y", col_name="x"):
    """Draw the values of a Jacobian, zero-centred; entries a sparse ``J`` does not store stay blank.

    Parameters
    ----------
    J : scipy sparse array or array_like
        ``(y.size, x.size)``, at most ``MAX_HEATMAP_ENTRIES`` entries (it is drawn dense).
    row_shape, col_shape, row_blocks, col_blocks, row_labels, col_labels, row_name, col_name
        As in :func:`spy`.
    ax : matplotlib Axes, optional
    title : str, optional
    annotate : bool
        Write every stored value into its cell (for small matrices).
    fmt : str
        Format of the annotations.
    cmap : str
        A diverging colormap; the colour scale is symmetric around 0.
    vmax : float, optional
        The colour scale runs from ``-vmax`` to ``vmax``; default ``max |J|``. Give
        several heat maps the same ``vmax`` to compare them.
    colorbar : bool

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    ValueError
        If ``J`` has more than ``MAX_HEATMAP_ENTRIES`` entries.
    """
    J = _check_matrix(J)
    n_rows, n_cols = J.shape
    if n_rows * n_cols > MAX_HEATMAP_ENTRIES:
        raise InvalidValueError(
            f"heatmap draws J dense; {n_rows} x {n_cols} = {n_rows * n_cols} entries is more "
            f"than {MAX_HEATMAP_ENTRIES}: use spy() or a slice of J")
    ax = _axes(ax)
    if sp.issparse(J):
        coo = sp.coo_array(J)
        values = np.zeros(J.shape)
        stored = np.zeros(J.shape, dtype=bool)
        np.add.at(values, (coo.row, coo.col), coo.data)
        stored[coo.row, coo.col] = True
    else:
        values = np.asarray(J, dtype=np.float64)
        stored = np.ones(J.shape, dtype=bool)
    scale = float(vmax) if vmax is not None else float(np.max(np.abs(values), initial=0.0)) or 1.0
    image = ax.imshow(np.ma.masked_array(values, ~stored), cmap=cmap, vmin=-scale, vmax=scale,
                      interpolation="nearest", aspect="equal")
    if annotate:
        for i, j in zip(*np.nonzero(stored), strict=True):
            dark = abs(values[i, j]) > 0.6 * scale
            ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center", fontsize="small",
                    color="white" if dark else "black")
    _draw_blocks(ax, n_rows, n_cols, _blocks(row_shape, row_blocks, n_rows),
                 _blocks(col_shape, col_blocks, n_cols))
    _ticks(ax, row_labels, col_labels)
    ax.set_xlabel(f"vec({col_name}): {n_cols} columns")
    ax.set_ylabel(f"vec({row_name}): {n_rows} rows")
    if title is not None:
        ax.set_title(title, fontsize="medium")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, shrink=0.8)
    return ax


def plot_history(history, *, axes=None, chance=0.1):
    """Loss and accuracy curves of a :class:`jacobian_cnn.training.History`.

    Left: the loss of every mini-batch and, at each epoch's end, the loss on the
    whole training and test sets. Right: training and test accuracy per epoch
    (epoch 0 is before training) against chance.

    Parameters
    ----------
    history : jacobian_cnn.training.History
    axes : (Axes, Axes), optional
    chance : float
        Accuracy of guessing, drawn as a dashed line.

    Returns
    -------
    matplotlib Figure
    """
    plt = _pyplot()
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    loss_ax, acc_ax = axes
    steps = np.arange(1, len(history.step_loss) + 1)
    loss_ax.plot(steps, history.step_loss, color="0.7", linewidth=0.8, label="mini-batch")
    at = [record.epoch * history.steps_per_epoch for record in history.epochs]
    epochs = [record.epoch for record in history.epochs]
    loss_ax.plot(at, [r.train_loss for r in history.epochs], "o-", label="train set")
    loss_ax.plot(at, [r.test_loss for r in history.epochs], "s--", label="test set")
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("softmax cross-entropy")
    loss_ax.legend()
    acc_ax.plot(epochs, [r.train_accuracy for r in history.epochs], "o-", label="train")
    acc_ax.plot(epochs, [r.test_accuracy for r in history.epochs], "s--", label="test")
    acc_ax.axhline(chance, color="0.5", linestyle=":", label="chance")
    acc_ax.set_ylim(0, 1)
    acc_ax.set_xlabel("epoch")
    acc_ax.set_ylabel("accuracy")
    acc_ax.legend(loc="lower right")
    fig = loss_ax.figure
    fig.tight_layout()
    return fig
