"""Max pooling's switches: checking the ones a caller passes back, and the Jacobian they select.

The switch of an output is the ``vec`` index into ``x`` of the entry that won its
window, ``-1`` where padding won (:class:`~jacobian_cnn.MaxPool2D` records them in its
forward pass). The Jacobian has a single 1 per row, at the switch. Index conventions:
:mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._arguments import check_size, index_dtype, int_value
from jacobian_cnn._sparse.csr import CSRParts
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError

__all__ = ["switches_jacobian", "switches_entries", "checked_switches"]


def switches_entries(switches):
    """The entries of max pooling's ``d vec(y) / d vec(x)``: row ``i`` selects its switch.

    ``y_i = x[switches_i]`` (``vec`` order), so row ``i`` holds a 1 at column
    ``switches_i``, and nothing where the switch is ``-1`` (padding won).
    """
    for i, s in enumerate(np.ravel(switches, order="F").tolist()):
        if s >= 0:
            yield i, s, ("one",)


def checked_switches(cache, x_shape, ndim, geo, pad_value):
    """The switches passed as ``cache``, checked: shape, integer type, and each a tap of its window.

    ``x_shape`` is the input's ``(H, W, C, N)``, ``ndim`` its own number of axes, ``geo``
    the layer's geometry on it. Each switch must be ``-1`` (only where ``pad_value`` lets the padding of
    that window win) or the vec index of an input entry of its own window,
    channel and sample: anything else is not what the forward pass returns.
    """
    h, w, c, n = x_shape
    shape = (geo.out_size + (c, n))[:ndim]
    what = (f"cache must be the switches forward_with_cache(x) returns for x of shape "
            f"{x_shape[:ndim]}: ints of shape {shape}, each the vec index of an input of its "
            "window")
    s = np.asarray(cache)
    if s.dtype.kind not in "iu":
        raise InvalidTypeError(f"{what}; got dtype {s.dtype}")
    if s.shape != shape:
        raise InvalidValueError(f"{what}; got shape {s.shape}")
    if s.size and (s.min() < -1 or s.max() >= h * w * c * n):
        raise InvalidValueError(f"{what}; got values in [{s.min()}, {s.max()}], allowed "
                                f"[-1, {h * w * c * n})")
    # Position of each switch inside its own (channel, sample) plane, then its
    # offset (row, col) from its window's first tap: a tap iff both are multiples
    # of the dilation within the window's span. A few planes at a time, in 32-bit
    # where it fits: this runs on every cached Jacobian, and its temporaries must
    # stay small next to the matrix (which is smaller than x).
    index = index_dtype(0, h * w * c * n, 0)  # the switches are columns of x.size
    (sh, sw), (dh, dw), (kh, kw) = geo.stride, geo.dilation, geo.window
    o = np.arange(geo.n_out, dtype=index)
    first_row = ((o % geo.out_size[0]) * sh - geo.padding[0][0])[:, None]  # window's first row
    first_col = ((o // geo.out_size[0]) * sw - geo.padding[1][0])[:, None]
    has_padding = None if pad_value is None else (geo.in_padded & ~geo.valid).any(axis=1)
    for p0, s2 in plane_chunks(s, geo.n_out, c, n):
        col = s2.astype(index)
        col -= (np.arange(p0, p0 + s2.shape[1], dtype=index) * (h * w))[None, :]
        inside = col >= 0
        inside &= col < h * w
        row = col % h
        col //= h
        row -= first_row
        col -= first_col
        for d, step, k in ((row, dh, kh), (col, dw, kw)):
            inside &= d >= 0
            inside &= d <= step * (k - 1)
            if step > 1:
                inside &= d % step == 0
        if has_padding is not None:  # padding may win where the window holds some
            inside |= (s2 == -1) & has_padding[:, None]
        if not inside.all():
            bad = np.argwhere(~inside)[0]
            where = np.unravel_index(bad[0] + geo.n_out * (bad[1] + p0), shape, order="F")
            reason = ("-1 (padding won) is possible only with pad_value, in a window holding "
                      "padding") if s2[tuple(bad)] == -1 else "not an input of that window"
            raise InvalidValueError(
                f"{what}; got {int(s2[tuple(bad)])} at index {tuple(int(i) for i in where)}, "
                f"{reason}")
    return s


def switches_jacobian(switches, n_inputs, *, dtype=np.float64, max_bytes=None):
    """The 0/1 Jacobian of max pooling from its switches, a ``csr_array``.

    Row ``i`` (output ``vec(y)[i]``) has a 1 in column ``vec(switches)[i]``, or no
    entry where the switch is ``-1`` (padding won).

    Examples
    --------
    >>> import numpy as np
    >>> from jacobian_cnn.ops.pooling import switches_jacobian
    >>> switches_jacobian(np.array([[3], [-1]]), 4).toarray()
    array([[0., 0., 0., 1.],
           [0., 0., 0., 0.]])
    """
    n_inputs = int_value(n_inputs, "n_inputs", minimum=0)
    try:
        float_dtype = np.dtype(dtype)
    except TypeError:
        float_dtype = None
    if float_dtype not in (np.float32, np.float64):
        raise InvalidValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return switches_parts(switches, n_inputs, dtype=float_dtype, max_bytes=max_bytes).tocsr()


def switches_parts(switches, n_inputs, *, dtype, max_bytes):
    """:func:`switches_jacobian` as :class:`~jacobian_cnn._sparse.csr.CSRParts`."""
    s = np.asarray(switches)
    if s.dtype.kind not in "iu":
        raise InvalidTypeError(f"switches must be ints (vec indices into x, -1 where padding won), "
                               f"got dtype {s.dtype}")
    low, high = (s.min(), s.max()) if s.size else (0, -1)
    if low < -1 or high >= n_inputs:
        raise InvalidValueError(f"switches must lie in [-1, {n_inputs}); got range [{low}, {high}]")
    all_won = low >= 0
    n_won = s.size if all_won else s.size - sum(int(np.count_nonzero(chunk < 0))
                                                for _, chunk in vec_chunks(s))
    check_size(s.size, n_won, np.dtype(dtype).itemsize, max_bytes, "MaxPool2D Jacobian")
    # One entry per row that a real input won, written straight into 32-bit indices,
    # a few planes at a time (no temporary the size of the switches).
    index = index_dtype(s.size, int(n_inputs), n_won)
    indices = np.empty(n_won, index)
    if all_won:
        indptr = np.arange(s.size + 1, dtype=index)
        for start, chunk in vec_chunks(s):
            indices[start:start + chunk.size] = chunk
    else:
        indptr = np.zeros(s.size + 1, index)
        for start, chunk in vec_chunks(s):
            won = chunk >= 0
            np.cumsum(won, out=indptr[start + 1:start + 1 + chunk.size])
            indptr[start + 1:start + 1 + chunk.size] += indptr[start]
            indices[indptr[start]:indptr[start + chunk.size]] = chunk[won]
    return CSRParts(np.ones(n_won, dtype), indices, indptr, (s.size, int(n_inputs)))


def vec_chunks(s, *, parts=16, least=256):
    """``(start, chunk)``: ``vec(s)`` in consecutive pieces, ``chunk`` = ``vec(s)[start:...]``.

    Each piece is a slice along the last axis (the slowest in ``vec`` order), of about
    ``max(least, s.size / parts)`` entries: copies that small keep the temporaries of
    building the max-pool Jacobian small next to the matrix.
    """
    if s.ndim < 2:
        yield 0, s.reshape(-1)
        return
    per_slice = s.size // max(s.shape[-1], 1)
    step = max(1, max(least, s.size // parts) // max(per_slice, 1))
    for j in range(0, s.shape[-1], step):
        yield j * per_slice, s[..., j:j + step].ravel(order="F")


def plane_chunks(s, n_out, c, n, *, parts=16, least=256):
    """``(p0, chunk)``: the switches ``s`` (``(Ho, Wo, C, N)``, fewer axes for one plane
    or sample) a few planes at a time, about ``max(least, s.size / parts)`` entries each:
    ``chunk`` is ``(n_out, k)``, plane ``p0 + j`` (vec order: channel fastest, then
    sample) in column ``j``."""
    s4 = s.reshape(s.shape + (1,) * (4 - s.ndim))
    target = max(least, s.size // parts)
    if c * n_out <= target:  # whole samples at a time
        step = max(1, target // max(c * n_out, 1))
        for n0 in range(0, n, step):
            chunk = s4[:, :, :, n0:n0 + step]
            yield c * n0, chunk.reshape(n_out, chunk.shape[2] * chunk.shape[3], order="F")
        return
    step = max(1, target // max(n_out, 1))  # channels at a time, sample by sample
    for sample in range(n):
        for c0 in range(0, c, step):
            chunk = s4[:, :, c0:c0 + step, sample]
            yield c0 + c * sample, chunk.reshape(n_out, chunk.shape[2], order="F")
