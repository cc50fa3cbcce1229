"""The tiled block layout of the window layers' Jacobians, cached per geometry.

Convolution and average pooling Jacobians with zero padding are written
(:mod:`jacobian_cnn._sparse.assembly`) and multiplied (:mod:`jacobian_cnn._sparse.blocked`) tile by
tile. With zero padding, whether tap ``(r, s)`` of output ``(p, q)`` lies inside the
input depends on ``p`` alone for ``r`` and on ``q`` alone for ``s``. Consecutive
outputs with the same in-input tap range along an axis form a *run*; a row run times a
column run is a *tile*: a grid of CSR rows of equal length whose columns differ by a
per-row offset. Interior windows form one tile, the borders a few more.

A *block* is the CSR pattern of one (sample, output channel) of a convolution, or one
(sample, channel) plane of a pooling: rows ``o = p + q*Ho``, each holding its window's
in-input taps over the input channels, in the order ``(channel, s, r)`` (``r``
fastest), which is the sorted column order. Every block of a Jacobian has this
pattern; only its values and a column shift differ. Index conventions:
:mod:`jacobian_cnn.vec`; geometry: :mod:`jacobian_cnn.ops.geometry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["Tile", "BlockLayout", "block_layout", "entry_rows", "view", "rows_view",
           "input_columns", "ViewOutOfBounds"]


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


class ViewOutOfBounds(AssertionError):
    """A raw view would reach outside its buffer: a bug in the caller, never a user error."""


def view(a, offset, shape, strides):
    """View of the 1-D array ``a`` from entry ``offset`` with ``strides`` counted in entries.

    The one place the package makes a view over a raw buffer. numpy does not
    bounds-check such a view when the buffer holds 0 bytes (it then assumes the
    buffer is as large as the view), so this checks, before making it, that every
    entry the view can reach lies in ``a``: a non-empty view must start and end
    within ``a`` (any stride sign), an empty one may start at most one past its end.
    Raises :class:`ViewOutOfBounds` otherwise; valid input never gets there.
    """
    # One plain loop: this runs a few times per tile on the chain's hot path.
    low = high = offset
    empty = negative = False
    for n, s in zip(shape, strides, strict=False):  # the lengths are checked below
        if n < 1:
            empty, negative = True, negative or n < 0
        elif s > 0:
            high += (n - 1) * s
        else:
            low += (n - 1) * s
    if a.ndim != 1 or len(shape) != len(strides) or negative or not a.flags.c_contiguous:
        raise ViewOutOfBounds(
            f"view needs a contiguous 1-D buffer and one stride per axis with sizes >= 0; got a "
            f"buffer of shape {a.shape} (contiguous: {a.flags.c_contiguous}), shape {shape}, "
            f"strides {strides}"
        )
    # An empty view reaches nothing, but its start must still lie in (or just past) the buffer.
    if not (0 <= offset <= a.size if empty else 0 <= low and high < a.size):
        reach = "no entry" if empty else f"entries {low}..{high}"
        raise ViewOutOfBounds(
            f"a view of shape {tuple(shape)}, strides {tuple(strides)} (in entries) from entry "
            f"{offset} reaches {reach} of a buffer of {a.size} entries"
        )
    size = a.itemsize
    return np.ndarray(shape, a.dtype, a, offset * size, tuple(s * size for s in strides))


def rows_view(a, tile, n_blocks=1, block_stride=0):
    """``(n_blocks, n_q, n_p, row_len)`` view of a tile's entries in ``a``."""
    return view(a, tile.offset, (n_blocks, tile.n_q, tile.n_p, tile.row_len),
                 (block_stride, tile.q_stride, tile.row_len, 1))


def input_columns(indices, layout):
    """Write the input-vec columns of the first block (``taps[o, t] + c*H*W``, row by row)."""
    for t in layout.tiles:
        np.add(t.input_base, t.input_pattern, out=rows_view(indices, t)[0])


@lru_cache(maxsize=64)
def entry_rows(layout):
    """The row ``o(e)`` of every entry ``e`` of a block (cached with the layout)."""
    rows = np.repeat(np.arange(layout.indptr.size - 1), np.diff(layout.indptr))
    rows.flags.writeable = False
    return rows
