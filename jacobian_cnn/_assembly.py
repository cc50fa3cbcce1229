"""Fast assembly of the window layers' Jacobians (convolution, average pooling).

The builders here return the same ``csr_array`` as the plain index-arithmetic
builders next to each forward pass (``_jacobian_by_index`` in :mod:`jacobian_cnn.conv`
and :mod:`jacobian_cnn.pooling`), bit for bit: same ``indptr``, ``indices`` and ``data``
(``tests/test_fast_paths.py`` checks this over many geometries). They serve zero padding
(the copying padding modes, whose repeated taps must be summed, keep the plain builder)
and differ only in how the arrays are written, which decides the speed of a memory-bound
job:

* **Tiles instead of a gather.** With zero padding, whether tap ``(r, s)`` of output
  ``(p, q)`` lies inside the input depends on ``p`` alone for ``r`` and on ``q`` alone
  for ``s``. Consecutive outputs with the same in-input tap range along an axis form a
  *run*; a row run times a column run is a *tile*: a grid of CSR rows of equal length
  whose columns differ by a per-row offset and whose convolution values (the kernel
  taps of the output channel) are the same in every row. Interior windows form one
  tile, the borders a few more. Each tile is written with one broadcast per array,
  straight into the final arrays: no gather over the nonzeros, no COO intermediate, no
  sort, no 64-bit temporary.
* **One block, then copies.** Only one (sample, channel) block of the pattern is
  computed; the other blocks are copies of it, shifted where their columns move.
* **Cached layout.** The runs depend only on the geometry and are cached per geometry,
  so a new kernel or input only rewrites values.
* **32-bit indices** whenever they fit (scipy copies 64-bit indices it can shrink).

The result costs ``nnz * (value + index bytes)`` plus its row pointers, and nothing
larger is allocated on the way. Index conventions: :mod:`jacobian_cnn.vec`; geometry:
:mod:`jacobian_cnn.geometry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

__all__ = ["Tile", "BlockLayout", "block_layout", "block_nnz", "index_dtype",
           "conv_input_jacobian", "conv_kernel_jacobian", "avgpool_jacobian"]


def index_dtype(n_rows, n_cols, nnz):
    """``int32`` when every index and row pointer fits, else ``int64``."""
    return np.dtype(np.int32 if max(n_rows, n_cols, nnz) < 2**31 else np.int64)


@dataclass(frozen=True, eq=False)
class Tile:
    """A grid of ``n_q x n_p`` CSR rows of one block that share their in-input taps.

    Row ``(p0 + b, q0 + a)`` starts at entry ``offset + a*q_stride + b*row_len`` of the
    block and holds, channel by channel, the taps ``r`` in ``[r_lo, r_hi)`` (fastest)
    and ``s`` in ``[s_lo, s_hi)``. Its input-vec columns are
    ``input_base[a, b] + input_pattern``, its kernel-vec columns ``kernel_pattern``
    (for output channel 0); ``x_start`` is the input-vec index of its first tap.
    """

    p0: int
    n_p: int
    r_lo: int
    r_hi: int
    q0: int
    n_q: int
    s_lo: int
    s_hi: int
    offset: int
    q_stride: int
    row_len: int
    input_base: np.ndarray
    input_pattern: np.ndarray
    kernel_pattern: np.ndarray
    x_start: int


@dataclass(frozen=True, eq=False)
class BlockLayout:
    """The CSR pattern of one (sample, channel) block: ``n_out`` rows, ``nnz`` entries."""

    tiles: tuple
    nnz: int
    indptr: np.ndarray


def _axis_runs(n_out, size, taps, stride, before, dilation):
    """``(first, runs, counts)`` along one axis.

    ``first[o]`` is the input index of tap 0 of output ``o``; ``counts[o]`` the number of
    its taps inside the input; each run ``(start, count, lo, hi)`` covers consecutive
    outputs whose in-input taps are ``lo .. hi-1`` (``lo == hi``: all padding).
    """
    first = np.arange(n_out) * stride - before
    lo = np.clip(-(first // dilation), 0, taps)                # first tap at index >= 0
    hi = np.clip((size - 1 - first) // dilation + 1, 0, taps)  # one past the last < size
    hi = np.maximum(hi, lo)
    change = np.flatnonzero((np.diff(lo) != 0) | (np.diff(hi) != 0)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [n_out]])
    runs = tuple((int(a), int(b - a), int(lo[a]), int(hi[a])) for a, b in zip(starts, ends, strict=True))
    return first, runs, hi - lo


@lru_cache(maxsize=64)
def _taps_per_axis(geo):
    """Total number of in-input taps over the output rows and over the output columns."""
    (h, w), (kh, kw), (sh, sw) = geo.in_size, geo.window, geo.stride
    (top, _), (left, _) = geo.padding
    rows = _axis_runs(geo.out_size[0], h, kh, sh, top, geo.dilation[0])[2]
    cols = _axis_runs(geo.out_size[1], w, kw, sw, left, geo.dilation[1])[2]
    return int(rows.sum()), int(cols.sum())


def block_nnz(geo, channels):
    """Entries of one (sample, channel) block over ``channels`` input planes."""
    rows, cols = _taps_per_axis(geo)
    return channels * rows * cols


def _frozen(a):
    a.flags.writeable = False
    return a


@lru_cache(maxsize=64)
def block_layout(geo, channels, index):
    """The cached :class:`BlockLayout` of a zero-padded geometry over ``channels`` input planes.

    ``index`` is the index dtype of the arrays it holds.

    Rows are the outputs ``o = p + q*Ho``; row ``o`` holds ``channels * |R_p| * |S_q|``
    entries, ``R_p``/``S_q`` being the in-input taps along each axis. The cache holds
    ``O(n_out + channels * n_taps)`` numbers per geometry, never a whole block.
    """
    (h, w), (kh, kw), (sh, sw) = geo.in_size, geo.window, geo.stride
    (top, _), (left, _) = geo.padding
    dh, dw = geo.dilation
    ho, wo = geo.out_size
    row_first, row_runs, row_taps = _axis_runs(ho, h, kh, sh, top, dh)
    col_first, col_runs, col_taps = _axis_runs(wo, w, kw, sw, left, dw)
    rows_total = int(row_taps.sum())
    row_before = np.concatenate([[0], np.cumsum(row_taps)])
    col_before = np.concatenate([[0], np.cumsum(col_taps)])
    channel = np.arange(channels)[:, None, None]
    tiles = []
    for q0, n_q, s_lo, s_hi in col_runs:
        for p0, n_p, r_lo, r_hi in row_runs:
            n_s, n_r = s_hi - s_lo, r_hi - r_lo
            if not (n_s and n_r):
                continue
            r = np.arange(r_lo, r_hi)[None, None, :]
            s = np.arange(s_lo, s_hi)[None, :, None]
            base = row_first[p0:p0 + n_p][None, :] + col_first[q0:q0 + n_q][:, None] * h
            tiles.append(Tile(
                p0, n_p, r_lo, r_hi, q0, n_q, s_lo, s_hi,
                offset=channels * (rows_total * int(col_before[q0]) + n_s * int(row_before[p0])),
                q_stride=channels * rows_total * n_s,
                row_len=channels * n_s * n_r,
                input_base=_frozen(base[:, :, None].astype(index)),
                input_pattern=_frozen((channel * (h * w) + s * (dw * h) + r * dh)
                                      .astype(index).ravel()),
                kernel_pattern=_frozen((channel * (kh * kw) + s * kh + r).astype(index).ravel()),
                x_start=int(row_first[p0] + r_lo * dh + (col_first[q0] + s_lo * dw) * h),
            ))
    lengths = channels * np.outer(row_taps, col_taps).ravel(order="F")
    indptr = _frozen(np.concatenate([[0], np.cumsum(lengths)]).astype(index))
    return BlockLayout(tuple(tiles), int(indptr[-1]), indptr)


def _view(a, offset, shape, strides):
    """View of the 1-D array ``a`` from entry ``offset`` with ``strides`` counted in entries."""
    size = a.itemsize
    return np.ndarray(shape, a.dtype, a, offset * size, tuple(s * size for s in strides))


def _rows_view(a, tile, n_blocks=1, block_stride=0):
    """``(n_blocks, n_q, n_p, row_len)`` view of a tile's entries in ``a``."""
    return _view(a, tile.offset, (n_blocks, tile.n_q, tile.n_p, tile.row_len),
                 (block_stride, tile.q_stride, tile.row_len, 1))


def _csr(data, indices, layout, n_blocks, shape):
    """The CSR array of ``n_blocks`` consecutive row blocks of ``layout``'s pattern."""
    n_out = layout.indptr.size - 1
    indptr = np.empty(n_blocks * n_out + 1, indices.dtype)
    indptr[0] = 0
    starts = np.arange(n_blocks, dtype=indices.dtype) * indices.dtype.type(layout.nnz)
    np.add(starts[:, None], layout.indptr[1:], out=indptr[1:].reshape(n_blocks, n_out))
    J = sp.csr_array((data, indices, indptr), shape=shape)
    J.has_sorted_indices = True
    return J


def _repeat_blocks(a, n_copies, shift=0):
    """Copy the first of ``n_copies`` equal blocks of ``a`` into the others, copy ``k`` plus ``k*shift``."""
    if n_copies < 2 or a.size == 0:
        return
    blocks = a.reshape(n_copies, -1)
    if shift:
        steps = np.arange(1, n_copies, dtype=a.dtype) * a.dtype.type(shift)
        np.add(blocks[0], steps[:, None], out=blocks[1:])
    else:
        blocks[1:] = blocks[0]


def _input_columns(indices, layout):
    """Write the input-vec columns of the first block (``taps[o, t] + c*H*W``, row by row)."""
    for t in layout.tiles:
        np.add(t.input_base, t.input_pattern, out=_rows_view(indices, t)[0])


def conv_input_jacobian(geo, kernel, n_samples, groups=1):
    """``d vec(y) / d vec(x)`` of a zero-padded convolution, ``kernel`` ``(kh, kw, C_in/groups, C_out)``.

    ``kernel`` is in the output precision. Rows ``(o, co, n)``, columns ``(i, j, ci, n)``
    (see :mod:`jacobian_cnn.conv`).
    """
    kh, kw, ci, co = kernel.shape  # ci: input channels per group
    n = n_samples
    shape = (geo.n_out * co * n, geo.n_in * ci * groups * n)
    idx = index_dtype(*shape, block_nnz(geo, ci) * co * n)
    layout = block_layout(geo, ci, idx)
    block = layout.nnz
    data = np.empty(block * co * n, kernel.dtype)
    indices = np.empty(block * co * n, idx)
    # Every row of a tile holds the same kernel taps: one broadcast per tile, all channels.
    by_channel = kernel.transpose(3, 2, 1, 0)  # (co, ci, s, r): a row's entry order
    for t in layout.tiles:
        taps = by_channel[:, :, t.s_lo:t.s_hi, t.r_lo:t.r_hi].reshape(co, 1, 1, t.row_len)
        _rows_view(data, t, co, block)[...] = taps
    _repeat_blocks(data, n)
    # Each output channel has the columns of channel 0, moved to its group's input planes;
    # each sample moves by one input.
    _input_columns(indices, layout)
    channel_blocks = indices[:block * co].reshape(co, block)
    if groups == 1:
        _repeat_blocks(channel_blocks, co)
    elif co > 1 and block:
        shifts = (np.arange(1, co) // (co // groups) * (ci * geo.n_in)).astype(idx)
        np.add(channel_blocks[0], shifts[:, None], out=channel_blocks[1:])
    _repeat_blocks(indices, n, shift=geo.n_in * ci * groups)
    return _csr(data, indices, layout, co * n, shape)


def conv_kernel_jacobian(geo, x4, n_out_channels, groups=1):
    """``d vec(y) / d vec(kernel)`` of a zero-padded convolution at ``x4`` ``(H, W, C_in, N)``.

    ``x4`` is in the output precision. Rows ``(o, co, n)``, columns ``vec(kernel)``:
    ``r + s*kh + ci*kh*kw + co*kh*kw*C_in/groups``.
    """
    h, w, c_in, n = x4.shape
    ci = c_in // groups
    kh, kw = geo.window
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    co = n_out_channels
    per_group = co // groups
    shape = (geo.n_out * co * n, kh * kw * ci * co)
    idx = index_dtype(*shape, block_nnz(geo, ci) * co * n)
    layout = block_layout(geo, ci, idx)
    block = layout.nnz
    data = np.empty(block * co * n, x4.dtype)
    indices = np.empty(block * co * n, idx)
    x = np.ravel(x4, order="F")
    plane = h * w
    for t in layout.tiles:
        # The input windows of the tile, written once per (sample, group) into the block
        # of the group's first output channel.
        n_s, n_r = t.s_hi - t.s_lo, t.r_hi - t.r_lo
        dims = (n, groups, t.n_q, t.n_p, ci, n_s, n_r)
        windows = _view(x, t.x_start, dims, (plane * c_in, plane * ci, sw * h, sh, plane, dw * h, dh))
        _view(data, t.offset, dims, (block * co, block * per_group, t.q_stride, t.row_len,
                                     n_s * n_r, n_r, 1))[...] = windows
        _rows_view(indices, t)[...] = t.kernel_pattern
    # The other output channels of a group see the same input values; the kernel
    # columns of output channel co start at co*kh*kw*ci.
    data_blocks = data.reshape(n, groups, per_group, block)
    data_blocks[:, :, 1:] = data_blocks[:, :, :1]
    _repeat_blocks(indices[:block * co], co, shift=kh * kw * ci)
    _repeat_blocks(indices, n)
    return _csr(data, indices, layout, co * n, shape)


def avgpool_jacobian(geo, x_shape, dtype, divisors):
    """``d vec(y) / d vec(x)`` of zero-padded average pooling over ``x_shape`` ``(H, W, C, N)``.

    ``divisors`` holds the divisor of every output position, ``(n_out,)``.
    """
    h, w, c, n = x_shape
    planes = c * n
    shape = (geo.n_out * planes, geo.n_in * planes)
    idx = index_dtype(*shape, block_nnz(geo, 1) * planes)
    layout = block_layout(geo, 1, idx)
    block = layout.nnz
    data = np.empty(block * planes, dtype)
    indices = np.empty(block * planes, idx)
    values = (1.0 / np.asarray(divisors)).astype(dtype)
    if values.size and np.all(values == values[0]):
        data.fill(values[0])
    else:
        data[:block] = np.repeat(values, np.diff(layout.indptr))
        _repeat_blocks(data, planes)
    _input_columns(indices, layout)
    _repeat_blocks(indices, planes, shift=geo.n_in)
    return _csr(data, indices, layout, planes, shape)
