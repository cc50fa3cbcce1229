"""``rows @ J`` for the window layers' Jacobians, read block by block from their tiles.

A convolution or average-pooling Jacobian with zero padding is written tile by tile
(:mod:`jacobian_cnn._sparse.assembly`) and remembers that layout: a :class:`WindowJacobian` is
its values plus the :class:`~jacobian_cnn._sparse.tiles.BlockLayout` they were written in (its
column indices and row pointers follow from the layout and are written on demand).
The chain's product ``rows @ J`` with a few dense rows reads it the same way. Every
stored entry takes part exactly once, but the entries of one tile form dense arrays,
so the sums become small matrix products (BLAS) instead of scipy's one-entry-at-a-time
sparse kernel:

* **input Jacobian.** The rows of one block group ``(sample, group)`` that share an
  output position ``o`` hold the same columns in every output channel ``c`` of the
  group: ``T[e] = sum_c rows[c, o(e)] * J[c, e]`` is, per row of a tile, a
  ``(k x C) @ (C x L)`` product (with ``C = 1``, pooling and depthwise convolution, a
  plain product per entry). The sums ``T`` land on their input columns through a
  cached 0/1 matrix (one entry per stored position of a block), itself a sparse
  product but ``C`` times smaller than the Jacobian; where no two entries of a block
  share a column (windows that do not overlap) they are simply assigned.
* **kernel Jacobian.** Every row of a tile holds the same kernel columns, so a tile
  contributes ``rows[c, tile rows] @ J[c, tile rows, :]`` to output channel ``c``'s
  kernel gradient: one matrix product per channel, summed over the tile's rows.

The rows go through in chunks so that the working array stays below
:data:`WORKING_ENTRIES`. The per-layout helpers (block columns, the 0/1 matrix; entry
rows in :mod:`jacobian_cnn._sparse.tiles`) are cached like the layouts themselves (64 entries
each). Index conventions:
:mod:`jacobian_cnn.vec`; the layout: :mod:`jacobian_cnn._sparse.tiles`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from jacobian_cnn._sparse.csr import CSRParts
from jacobian_cnn._sparse.tiles import entry_rows, input_columns, rows_view, view

__all__ = ["WindowJacobian", "StridedBlocks", "RowTaps", "WORKING_ENTRIES", "block_columns"]

SMALL_OUTPUT = 2**16
"""Index arrays below this many entries are written without broadcasting (no ufunc buffers)."""

WORKING_ENTRIES = 2**22
"""Largest working array of the input product, in entries (16 MiB in float32)."""


class WindowJacobian(CSRParts):
    """A window layer's Jacobian: its values and the block layout they were written in.

    Rows are ``o + n_out * (c + n_summed * g)``: output position ``o``, then channel
    ``c`` of ``n_summed`` within block group ``g`` of ``n_groups``. Each ``(g, c)`` is
    one block of ``layout.nnz`` entries of ``data``, all with the layout's pattern:

    * ``kind="input"``: block group ``g`` writes to input columns
      ``g * width + pattern`` (``width = shape[1] / n_groups``): convolution groups
      ``(sample, group)`` with ``n_summed`` output channels per group; pooling planes
      with ``n_summed = 1``.
    * ``kind="kernel"``: ``g`` is the sample, ``c`` the output channel; block ``(g, c)``
      writes to kernel columns ``c * width + kernel pattern``, ``width = shape[1] / n_summed``.

    The column indices and row pointers are a function of the layout alone (the
    known technique: cache the layout per geometry, refresh only the values). They
    are written when first asked for, by :meth:`tocsr` (``layer.jacobian``), and the
    product :meth:`rows_times` never needs them. So are the values of blocks that
    repeat: :attr:`values` holds the distinct ones (:class:`StridedBlocks`, or a
    convolution's kernel taps per tile, :class:`RowTaps`), the product reads them in
    place (stride 0 along a repeated axis: the same matrix products on the same
    numbers as over the written-out blocks), and :attr:`data` writes every copy out
    on first read.
    """

    __slots__ = ("layout", "kind", "n_groups", "n_summed", "out_size", "values", "_data")

    def __init__(self, data, shape, *, layout, kind, n_groups, n_summed, out_size, values=None):
        self.shape, self.form = (int(shape[0]), int(shape[1])), "window"
        self.layout, self.kind = layout, kind
        self.n_groups, self.n_summed, self.out_size = n_groups, n_summed, out_size
        self._indices = self._indptr = None
        # data: every block written out, block (g, c) at (g * n_summed + c) * layout.nnz;
        # values: how the products read them (the written-out blocks, or only the distinct ones)
        self._data = data
        self.values = StridedBlocks(data, (n_summed, 1)) if values is None else values

    @property
    def data(self):
        """The values, every block written out (from :attr:`values` on first use)."""
        if self._data is None:
            self._data = self.values.written_out(self)
        return self._data

    @property
    def nnz(self):
        return self.n_groups * self.n_summed * self.layout.nnz

    @property
    def dtype(self):
        return self.values.dtype

    def _write_indptr(self):
        """Row pointers: the layout's, repeated block after block."""
        layout, n_blocks = self.layout, self.n_groups * self.n_summed
        n_out = layout.indptr.size - 1
        index = layout.indptr.dtype
        indptr = np.empty(n_blocks * n_out + 1, index)
        indptr[0] = 0
        starts = np.arange(n_blocks, dtype=index) * index.type(layout.nnz)
        _shifted_copies(indptr[1:].reshape(n_blocks, n_out), layout.indptr[1:], starts)
        return indptr

    def _write_indices(self):
        """Block ``(0, 0)``'s columns from the tiles, then every other block: a shifted copy."""
        layout, block = self.layout, self.layout.nnz
        indices = np.empty(self.nnz, layout.indptr.dtype)
        if self.kind == "input":
            input_columns(indices, layout)
        else:
            for t in layout.tiles:
                rows_view(indices, t)[...] = t.kernel_pattern
        if not block:
            return indices
        blocks = indices.reshape(self.n_groups, self.n_summed, block)
        if self.kind == "input":
            # Every channel of a group reads the same input columns; group g's are
            # group 0's moved by g * width.
            blocks[0, 1:] = blocks[0, 0]
            shifts = np.arange(1, self.n_groups, dtype=indices.dtype) * (self.shape[1] // self.n_groups)
            _shifted_copies(blocks[1:], blocks[0], shifts)
        else:
            # Output channel c's kernel columns are channel 0's moved by c * width; every
            # sample has the same columns.
            shifts = np.arange(1, self.n_summed, dtype=indices.dtype) * (self.shape[1] // self.n_summed)
            _shifted_copies(blocks[0, 1:], blocks[0, 0], shifts)
            blocks[1:] = blocks[0]
        return indices

    def rows_times(self, rows):
        """``rows @ J`` for a dense ``(k, m)`` block of rows, block by block (see the module)."""
        dtype = np.result_type(rows.dtype, self.dtype)
        if rows.shape[0] == 0:
            return np.zeros((0, self.shape[1]), dtype)
        data = self.values.astype(dtype)
        product = _input_product if self.kind == "input" else _kernel_product
        # The input product keeps one sum per (block entry, group, row): take the rows in
        # chunks so that this working array stays under WORKING_ENTRIES.
        chunk = max(1, WORKING_ENTRIES // max(1, self.layout.nnz * self.n_groups))
        parts = [product(self, np.ascontiguousarray(rows[i:i + chunk], dtype=dtype), data)
                 for i in range(0, rows.shape[0], chunk)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class StridedBlocks:
    """Blocks stored in one buffer: block ``(g, c)`` starts at entry
    ``(g * strides[0] + c * strides[1]) * layout.nnz``; a stride of 0 keeps a block that
    repeats along that axis once (a kernel Jacobian's output channels, an input
    Jacobian's samples). ``strides = (n_summed, 1)``: every block written out."""

    def __init__(self, buffer, strides):
        self.buffer, self.strides = buffer, strides

    @property
    def dtype(self):
        return self.buffer.dtype

    def astype(self, dtype):
        return StridedBlocks(self.buffer.astype(dtype, copy=False), self.strides)

    def tile(self, J, i, t):
        """``(n_groups, n_summed, n_q, n_p, L)`` view of tile ``t``'s entries in every block."""
        block = J.layout.nnz
        return view(self.buffer, t.offset, (J.n_groups, J.n_summed, t.n_q, t.n_p, t.row_len),
                    (self.strides[0] * block, self.strides[1] * block, t.q_stride, t.row_len, 1))

    def written_out(self, J):
        """Every block written out: one copy per block. A full-size buffer holding its
        distinct blocks in channel 0 (``strides == (n_summed, 0)``) is completed in place."""
        block = J.layout.nnz
        if self.buffer.size == J.nnz and self.strides == (J.n_summed, 0):
            full = self.buffer.reshape(J.n_groups, J.n_summed, block)
            full[:, 1:] = full[:, :1]
            return self.buffer
        data = np.empty(J.nnz, self.dtype)
        data.reshape(J.n_groups, J.n_summed, block)[...] = view(
            self.buffer, 0, (J.n_groups, J.n_summed, block), (*(s * block for s in self.strides), 1))
        return data

    def blocks(self, J):
        """``(n_groups, layout.nnz)`` view of the blocks (one channel per group: pooling)."""
        return view(self.buffer, 0, (J.n_groups, J.layout.nnz), (self.strides[0] * J.layout.nnz, 1))


class RowTaps:
    """A convolution input Jacobian's values: every row of a tile holds the same kernel
    taps, kept once per tile as ``(C_out, L)``; block group ``g`` (one per sample without
    groups, one per group for one sample) reads channels from ``g * group_stride``."""

    def __init__(self, taps, group_stride, dtype):
        self.taps, self.group_stride, self.dtype = taps, group_stride, np.dtype(dtype)

    def astype(self, dtype):
        return RowTaps([t.astype(dtype, copy=False) for t in self.taps], self.group_stride, dtype)

    def written_out(self, J):
        """The distinct blocks written tile by tile (one broadcast per tile), then copied
        to the samples that repeat them."""
        data = np.empty(J.nnz, self.dtype)
        block, first = J.layout.nnz, J.n_summed * (J.n_groups if self.group_stride else 1)
        for t, taps in zip(J.layout.tiles, self.taps, strict=True):
            rows_view(data, t, first, block)[...] = taps[:, None, None, :]
        if data.size and J.n_groups * J.n_summed > first:  # the samples after the first
            copies = data.reshape(-1, first * block)
            copies[1:] = copies[0]
        return data

    def tile(self, J, i, t):
        taps = self.taps[i]
        return view(taps.reshape(-1), 0, (J.n_groups, J.n_summed, t.n_q, t.n_p, t.row_len),
                    (self.group_stride * t.row_len, t.row_len, 0, 0, 1))


def _tile_data(J, data, i, t):
    """``(n_groups, n_summed, n_q, n_p, L)`` view of tile ``t`` (the ``i``-th) in every block."""
    return data.tile(J, i, t)


def _shifted_copies(out, first, shifts):
    """``out[i] = first + shifts[i]``. A small ``out`` is written one row at a time: a
    broadcasting ufunc allocates numpy's iteration buffers (up to 64 KB), which would
    dominate the peak memory of building a small Jacobian."""
    if out.size < SMALL_OUTPUT:
        for row, shift in zip(out, shifts, strict=True):
            np.add(first, shift, out=row)
    else:
        np.add(first, shifts.reshape((-1,) + (1,) * first.ndim), out=out)


def _tile_rows(J, rows, t):
    """``(k, n_groups, n_summed, n_q, n_p)`` view of the rows over tile ``t``'s outputs."""
    ho, wo = J.out_size
    grid = rows.reshape(rows.shape[0], J.n_groups, J.n_summed, wo, ho)
    return grid[:, :, :, t.q0:t.q0 + t.n_q, t.p0:t.p0 + t.n_p]


def _input_product(J, rows, data):
    k, layout = rows.shape[0], J.layout
    n_vectors = J.n_groups * k
    width = J.shape[1] // J.n_groups
    columns, distinct = block_columns(layout)
    if J.n_summed == 1:  # pooling: nothing to sum, one product per entry
        blocks = data.blocks(J)
        sums = rows.reshape(k, J.n_groups, -1)[:, :, entry_rows(layout)] * blocks
        if distinct:  # windows that do not overlap: every input column gets one entry at most
            out = np.zeros((k, J.n_groups, width), rows.dtype)
            out[:, :, columns] = sums
            return out.reshape(k, J.shape[1])
        summed = _scatter_matrix(layout, width, rows.dtype) @ sums.reshape(n_vectors, layout.nnz).T
        return summed.reshape(width, k, J.n_groups).transpose(1, 2, 0).reshape(k, J.shape[1])
    # sums[e, g, kk] = sum_c rows[kk, g, c, o(e)] * J[(g, c), e]: one column per (group, row).
    sums = np.empty((layout.nnz, J.n_groups, k), rows.dtype)
    flat = sums.reshape(-1)
    for i, t in enumerate(layout.tiles):
        # (G, nq, np, L, C) @ (G, nq, np, C, k), written straight into its place in sums
        target = view(flat, t.offset * n_vectors, (J.n_groups, t.n_q, t.n_p, t.row_len, k),
                      (k, t.q_stride * n_vectors, t.row_len * n_vectors, n_vectors, 1))
        np.matmul(_tile_data(J, data, i, t).transpose(0, 2, 3, 4, 1),
                  _tile_rows(J, rows, t).transpose(1, 3, 4, 2, 0), out=target)
    if distinct:
        summed = np.zeros((width, n_vectors), rows.dtype)
        summed[columns] = sums.reshape(layout.nnz, n_vectors)
    else:
        summed = _scatter_matrix(layout, width, rows.dtype) @ sums.reshape(layout.nnz, n_vectors)
    return summed.reshape(width, J.n_groups, k).transpose(2, 1, 0).reshape(k, J.shape[1])


def _kernel_product(J, rows, data):
    k = rows.shape[0]
    width = J.shape[1] // J.n_summed
    out = np.zeros((J.n_summed, k, width), rows.dtype)
    for i, t in enumerate(J.layout.tiles):
        r, d = _tile_rows(J, rows, t), _tile_data(J, data, i, t)
        # (C, samples, nq, k, np) @ (C, samples, nq, np, L), summed over samples and nq
        part = np.matmul(r.transpose(2, 1, 3, 0, 4), d.transpose(1, 0, 2, 3, 4))
        out[:, :, t.kernel_pattern] += part.sum(axis=(1, 2))
    return out.transpose(1, 0, 2).reshape(k, J.shape[1])


@lru_cache(maxsize=64)
def block_columns(layout):
    """``(columns, distinct)``: block entry ``e``'s input column, and whether no two share one."""
    columns = np.empty(layout.nnz, layout.indptr.dtype)
    input_columns(columns, layout)
    columns.flags.writeable = False
    return columns, bool(np.unique(columns).size == columns.size)


@lru_cache(maxsize=64)
def _scatter_matrix(layout, width, dtype):
    """``(width, layout.nnz)`` CSR 0/1 matrix: column ``e`` has its 1 at block entry ``e``'s input column.

    Cached with the layout (it depends on the geometry only); one entry per stored
    position of a block, ``C`` times fewer than the Jacobian it serves.
    """
    n = layout.nnz
    columns = block_columns(layout)[0]
    ones = np.ones(n, dtype)
    by_entry = sp.csr_array((ones, columns, np.arange(n + 1, dtype=columns.dtype)), shape=(n, width))
    return by_entry.T.tocsr()
