"""Fast assembly of the N-dimensional window layers' Jacobians from their tap table.

The layers over ``(L, C[, N])``, ``(D, H, W, C[, N])`` and the transposed convolutions
(:mod:`jacobian_cnn.ops.window_nd`) build every Jacobian from one *block pattern*: the
CSR pattern of one (output channel, sample) block, computed once from the tap table
``taps`` (``(n_out, n_taps)``, input vec index or ``-1``). Every block has that pattern,
its columns moved by a per-block shift, so the arrays are written with one broadcast
each (:func:`repeated_blocks`): no sort, no COO intermediate, 32-bit indices whenever
they fit. The results equal the readable definitions next to each forward pass bit for
bit (``tests/test_nd.py``). Index conventions: :mod:`jacobian_cnn.vec`.

A transposed convolution reads the same table the other way round
(:func:`inverse_pattern`): its output ``u`` collects every ``(o, t)`` with
``taps[o, t] == u``, which is why its input Jacobian is the transpose of the matching
convolution's.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from jacobian_cnn._sparse.csr import CSRParts, index_dtype

__all__ = ["BlockPattern", "MAX_PERIOD", "MIN_RUN", "block_pattern", "by_channel", "by_group",
           "by_kernel_columns", "inverse_pattern", "repeated_blocks"]


class BlockPattern(NamedTuple):
    """One block's entries in row order (read-only arrays, cached per geometry).

    ``lengths`` (entries per row); per entry: ``o`` (the window, or for a transposed
    convolution the input position), ``c`` (the channel within the group), ``t`` (the
    tap); ``input_columns`` (the input-vec column within the group's channels) and
    ``kernel_columns`` (``t + n_taps * c``). ``runs`` are the stretches of equal rows
    (:func:`_runs`), ``scattered`` the entries outside them.
    """

    lengths: np.ndarray
    o: np.ndarray
    c: np.ndarray
    t: np.ndarray
    input_columns: np.ndarray
    kernel_columns: np.ndarray
    runs: tuple
    scattered: np.ndarray


MIN_RUN = 4
"""Fewest rows of a stretch of equal-length rows written as repeated rows rather than gathered."""

MAX_PERIOD = 4
"""Longest row period looked for in a stretch (2 for a stride-2 transposed convolution)."""


def _runs(lengths, kernel_columns):
    """``(runs, scattered)`` of :class:`BlockPattern`.

    A run is a stretch of at least :data:`MIN_RUN` consecutive rows of one length whose
    kernel columns repeat every ``period`` rows (1: interior windows of a convolution;
    2: a stride-2 transposed convolution, whose outputs alternate between two tap sets):
    ``(first entry, rows, row length, period)``.
    """
    starts = np.concatenate([[0], np.cumsum(lengths)])
    change = np.flatnonzero(np.diff(lengths)) + 1
    firsts, lasts = np.concatenate([[0], change]), np.concatenate([change, [lengths.size]])
    runs, covered = [], np.zeros(int(starts[-1]), bool)
    for first, stop in zip(firsts, lasts, strict=True):
        n_rows, length = int(stop - first), int(lengths[first])
        if n_rows < MIN_RUN or not length:
            continue
        rows = kernel_columns[starts[first]:starts[stop]].reshape(n_rows, length)
        period = next((p for p in range(1, MAX_PERIOD + 1) if p < n_rows
                       and np.array_equal(rows[p:], rows[:-p])), None)
        if period is not None:
            runs.append((int(starts[first]), n_rows, length, period))
            covered[starts[first]:starts[stop]] = True
    return tuple(runs), np.flatnonzero(~covered)


def _pattern(lengths, o, c, t, input_columns, n_taps):
    kernel_columns = t + n_taps * c
    arrays = (lengths, o, c, t, input_columns, kernel_columns)
    runs, scattered = _runs(lengths, kernel_columns)
    for a in (*arrays, scattered):
        a.flags.writeable = False
    return BlockPattern(*arrays, runs, scattered)


@lru_cache(maxsize=32)
def block_pattern(geo, channels):
    """One convolution / pooling block of ``geo`` (a window geometry with ``taps``, ``n_in``).

    Row ``o`` holds, channel ``c`` by channel, the taps ``t`` of window ``o`` that read the
    input: ordered ``(o, c, t)``, which is the sorted column order of every block
    (input columns ``taps[o, t] + n_in * c``).
    """
    taps = geo.taps
    valid = taps >= 0
    o, c, t = np.nonzero(np.broadcast_to(valid[:, None, :], (taps.shape[0], channels, taps.shape[1])))
    return _pattern(valid.sum(axis=1) * channels, o, c, t, taps[o, t] + geo.n_in * c, taps.shape[1])


@lru_cache(maxsize=32)
def inverse_pattern(geo, n_positions, channels, key):
    """A transposed convolution's block: rows ``u`` (its outputs, ``n_positions`` of them).

    Row ``u`` holds, channel ``c`` by channel, every ``(o, t)`` with ``geo.taps[o, t] == u``,
    sorted by ``key`` (``"o"``: input columns ``o + n_o * c``, ``"t"``: kernel columns)
    within the channel; ``n_o = geo.n_out`` input positions.
    """
    taps = geo.taps
    o_all, t_all = np.nonzero(taps >= 0)
    u_all = taps[o_all, t_all].astype(np.int64)
    order = np.lexsort((o_all if key == "o" else t_all, u_all))
    o_all, t_all, u_all = o_all[order], t_all[order], u_all[order]
    counts = np.bincount(u_all, minlength=n_positions)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    lengths = counts * channels
    u = np.repeat(np.arange(n_positions), lengths)
    within = np.arange(u.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    c, j = np.divmod(within, np.maximum(counts[u], 1))
    o, t = o_all[first[u] + j], t_all[first[u] + j]
    return _pattern(lengths, o, c, t, o + taps.shape[0] * c, taps.shape[1])


def repeated_blocks(lengths, columns, shifts, n_cols, dtype, fill):
    """:class:`CSRParts` of blocks ``b`` stacked by rows, each with the pattern ``columns``.

    Parameters
    ----------
    lengths : (n_rows_per_block,) ints
        Entries of each row of a block.
    columns : (block_nnz,) ints
        The pattern's columns, row by row (sorted within each row).
    shifts : (n_blocks,) ints
        How far block ``b``'s columns move.
    n_cols : int
    dtype : numpy.dtype
        The values' type.
    fill : callable
        ``fill(data)`` writes the values into ``data``, ``(n_blocks, block_nnz)``.
    """
    n_blocks, per_block = len(shifts), len(lengths)
    shape = (n_blocks * per_block, int(n_cols))
    index = index_dtype(shape[0], shape[1], n_blocks * columns.size)
    indptr = np.empty(shape[0] + 1, index)
    indptr[0] = 0
    np.cumsum(np.broadcast_to(lengths, (n_blocks, per_block)).ravel(), out=indptr[1:])
    indices = np.empty((n_blocks, columns.size), index)
    np.add(columns.astype(index)[None, :], np.asarray(shifts, index)[:, None], out=indices)
    data = np.empty((n_blocks, columns.size), dtype)
    fill(data)
    return CSRParts(data.reshape(-1), indices.reshape(-1), indptr, shape)


def by_channel(table, index):
    """A ``fill`` for blocks ``(sample, channel)``: block ``(n, ch)`` holds ``table[ch, index]``.

    ``table`` is ``(n_channels, m)``; one gather writes the first sample's blocks, the other
    samples are copies of them."""
    def fill(data):
        blocks = data.reshape(data.shape[0] // table.shape[0], table.shape[0], index.size)
        if blocks.shape[0]:
            for channel, row in enumerate(table):  # a gather per channel: faster than one 2-D take
                np.take(row, index, out=blocks[0, channel])
            blocks[1:] = blocks[0]
    return fill


def by_kernel_columns(table, pattern):
    """:func:`by_channel` with ``index = pattern.kernel_columns``, written run by run: a stretch
    of equal rows is its first row's values repeated (a broadcast copy), and only the
    entries outside the runs are gathered."""
    if 2 * pattern.scattered.size > pattern.kernel_columns.size:  # mostly short runs: gather all
        return by_channel(table, pattern.kernel_columns)

    def fill(data):
        blocks = data.reshape(data.shape[0] // table.shape[0], table.shape[0], pattern.kernel_columns.size)
        if not blocks.shape[0]:
            return
        first = blocks[0]
        columns = pattern.kernel_columns
        for start, n_rows, length, period in pattern.runs:
            # one period of rows, repeated in a single pass; then the rows left over
            whole, width = n_rows // period * period, period * length
            grid = first[:, start:start + whole * length].reshape(-1, whole // period, width)
            grid[...] = table[:, columns[start:start + width]][:, None, :]
            rest = (n_rows - whole) * length
            first[:, start + whole * length:start + n_rows * length] = table[:, columns[start:start + rest]]
        if pattern.scattered.size:
            first[:, pattern.scattered] = table[:, pattern.kernel_columns[pattern.scattered]]
        blocks[1:] = first
    return fill


def by_group(source, index, offsets, per_group):
    """A ``fill`` for blocks ``(sample, group, channel in group)``: every channel of group
    ``G`` of sample ``n`` holds ``source[offsets[n, G] + index]`` (one gather per group)."""
    def fill(data):
        blocks = data.reshape(offsets.shape + (per_group, index.size))
        for n, group in np.ndindex(*offsets.shape):
            np.take(source[offsets[n, group]:], index, out=blocks[n, group, 0])
        blocks[:, :, 1:] = blocks[:, :, :1]
    return fill
