"""The small protocol every layer follows, and helpers for batched maps and CSR assembly.

A layer has ``forward(x)``, ``jacobian(x, wrt="input")`` and ``params`` (a dict of
its parameter arrays, in a fixed order). Layers that keep something from the
forward pass for their Jacobian (max-pool switches, softmax probabilities) return
it from ``forward_with_cache`` and accept it back as ``jacobian(..., cache=...)``.
See :mod:`jacobian_cnn.vec` for the index conventions.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._checks import check_size, float_array, wrt_name


class Layer:
    """Base class: a differentiable map ``y = f(x)`` with explicit Jacobians."""

    #: names accepted by ``jacobian(x, wrt=...)`` besides "input", in order
    param_names: tuple = ()

    @property
    def params(self):
        """Parameter arrays by name (``{}`` for layers without parameters)."""
        return {name: getattr(self, name) for name in self.param_names
                if getattr(self, name) is not None}

    def forward(self, x):
        """Compute ``y = f(x)``."""
        raise NotImplementedError

    def forward_with_cache(self, x):
        """``(y, cache)``: the output and what :meth:`jacobian` needs from the forward pass."""
        return self.forward(x), None

    def jacobian(self, x, wrt="input", *, cache=None, max_bytes=None):
        """``d vec(y) / d vec(wrt)`` as a ``csr_array`` of shape ``(y.size, wrt.size)``."""
        raise NotImplementedError

    def _check_wrt(self, wrt):
        return wrt_name(wrt, {"input", *self.params}, type(self).__name__)


def as_maps(x, name="x"):
    """View ``x`` as ``(H, W, C, N)``; return ``(x4, ndim)`` with the original ndim."""
    x = float_array(x, name)
    if x.ndim not in (2, 3, 4):
        raise ValueError(
            f"{name} must be (H, W), (H, W, C) or a batch (H, W, C, N); got shape {x.shape}"
        )
    return x.reshape(x.shape + (1,) * (4 - x.ndim)), x.ndim


def maps_like(y4, ndim):
    """Shape an ``(Ho, Wo, C, N)`` result like an input of ``ndim`` dimensions."""
    if ndim == 4:
        return y4
    if ndim == 2 and y4.shape[2] == 1:
        return y4[:, :, 0, 0]
    return y4[:, :, :, 0]


def csr_from_rows(row_lengths, cols, vals, shape):
    """Assemble a CSR array from per-row entry counts and row-ordered ``cols``/``vals``.

    ``cols`` must already be sorted within each row, without duplicates; nothing is
    summed or sorted here, which is what keeps assembly fast. ``cols`` and ``vals`` may
    be broadcast views: each is written once, straight into the final array (32-bit
    indices whenever they fit). Callers check the size with
    :func:`jacobian_cnn._checks.check_size` *before* materializing ``cols``/``vals``.
    """
    index_dtype = np.int32 if max(shape[0], shape[1], cols.size) < 2**31 else np.int64
    indptr = np.empty(shape[0] + 1, dtype=index_dtype)
    indptr[0] = 0
    np.cumsum(row_lengths, out=indptr[1:])
    indices = np.empty(cols.size, index_dtype)
    indices.reshape(cols.shape)[...] = cols
    return canonical_csr(vals.ravel(), indices, indptr, shape)


def canonical_csr(data, indices, indptr, shape):
    """``csr_array((data, indices, indptr), shape)`` for arrays known to be canonical.

    The caller guarantees columns sorted within each row without duplicates, so the
    array is marked canonical and scipy never sorts or sums it.
    """
    J = sp.csr_array((data, indices, indptr), shape=(int(shape[0]), int(shape[1])))
    J.has_canonical_format = True  # sorted, no duplicates: scipy need not check again
    return J


def dense_to_csr(rows):
    """``csr_array(rows)`` of a dense 2-D block: its nonzeros row by row, 32-bit indices.

    The same arrays scipy's dense-to-CSR conversion stores (``rows.nonzero()`` order),
    without its detour through COO.
    """
    k, n = rows.shape
    if rows.dtype.kind != "f" or max(k, n, rows.size) >= 2**31:
        return sp.csr_array(rows)
    if np.count_nonzero(rows) == rows.size:  # every entry stored (the usual end of a chain)
        indptr = np.arange(k + 1, dtype=np.int32)
        indptr *= n
        return canonical_csr(np.ascontiguousarray(rows).reshape(-1),
                             np.tile(np.arange(n, dtype=np.int32), k), indptr, (k, n))
    mask = rows != 0
    indptr = np.empty(k + 1, np.int32)
    indptr[0] = 0
    np.cumsum(mask.sum(axis=1), out=indptr[1:])
    indices = np.nonzero(mask)[1].astype(np.int32)
    return canonical_csr(rows[mask], indices, indptr, (k, n))


def block_diagonal(blocks, *, max_bytes, what):
    """Block-diagonal CSR of equal-shape dense blocks ``(N, m, n)`` (one block per sample)."""
    n_blocks, m, n = blocks.shape
    check_size(n_blocks * m, blocks.size, blocks.dtype.itemsize, max_bytes, what)
    cols = np.arange(n)[None, None, :] + n * np.arange(n_blocks)[:, None, None]
    cols = np.broadcast_to(cols, blocks.shape)
    return csr_from_rows(np.full(n_blocks * m, n), cols, blocks, (n_blocks * m, n_blocks * n))


def diagonal(values, *, keep=None, max_bytes, what):
    """Square CSR with ``values`` (over vec order) on the diagonal.

    ``keep`` (boolean, same size) selects the structural nonzeros; by default all.
    """
    values = np.asarray(values).ravel(order="F")
    n = values.size
    if keep is None:
        check_size(n, n, values.dtype.itemsize, max_bytes, what)
        index_dtype = np.int32 if n < 2**31 else np.int64
        return canonical_csr(values.copy(), np.arange(n, dtype=index_dtype),
                             np.arange(n + 1, dtype=index_dtype), (n, n))
    keep = np.asarray(keep).ravel(order="F")
    check_size(n, int(keep.sum()), values.dtype.itemsize, max_bytes, what)
    return csr_from_rows(keep, np.flatnonzero(keep), values[keep], (n, n))
