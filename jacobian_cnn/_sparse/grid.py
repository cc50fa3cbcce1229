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

import numpy as np

from jacobian_cnn._sparse.csr import CSRParts, index_dtype

__all__ = ["block_pattern", "inverse_pattern", "repeated_blocks"]


def block_pattern(taps, channels):
    """One convolution / pooling block: ``(row_lengths, o, c, t)`` of its entries in row order.

    Row ``o`` holds, channel ``c`` by channel, the taps ``t`` of window ``o`` that read the
    input: ordered ``(o, c, t)``, which is the sorted column order of every block.
    """
    valid = taps >= 0
    o, c, t = np.nonzero(np.broadcast_to(valid[:, None, :], (taps.shape[0], channels, taps.shape[1])))
    return valid.sum(axis=1) * channels, o, c, t


def inverse_pattern(taps, n_positions, channels, key):
    """A transposed convolution's block: ``(row_lengths, o, c, t)`` of rows ``u`` (its outputs).

    Row ``u`` holds, channel ``c`` by channel, every ``(o, t)`` with ``taps[o, t] == u``,
    sorted by ``key`` (``"o"``: input columns, ``"t"``: kernel columns) within the channel.
    """
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
    pair = first[u] + j
    return lengths, o_all[pair], c, t_all[pair]


def repeated_blocks(lengths, columns, shifts, values, n_cols):
    """:class:`CSRParts` of blocks ``b`` stacked by rows, each with the pattern ``columns``.

    Parameters
    ----------
    lengths : (n_rows_per_block,) ints
        Entries of each row of a block.
    columns : (block_nnz,) ints
        The pattern's columns, row by row (sorted within each row).
    shifts : (n_blocks,) ints
        How far block ``b``'s columns move.
    values : array of ``n_blocks * block_nnz`` entries (a broadcast view is fine)
        Block by block; its dtype is the result's.
    n_cols : int
    """
    n_blocks, per_block = len(shifts), len(lengths)
    shape = (n_blocks * per_block, int(n_cols))
    index = index_dtype(shape[0], shape[1], n_blocks * columns.size)
    indptr = np.empty(shape[0] + 1, index)
    indptr[0] = 0
    np.cumsum(np.broadcast_to(lengths, (n_blocks, per_block)).ravel(), out=indptr[1:])
    indices = np.empty((n_blocks, columns.size), index)
    np.add(columns.astype(index)[None, :], np.asarray(shifts, index)[:, None], out=indices)
    data = np.empty(values.shape, values.dtype)
    data[...] = values
    return CSRParts(data.reshape(-1), indices.reshape(-1), indptr, shape)
