"""A dense layer's Jacobians of a batch: one block per sample, all from one small array.

For a batch of ``N`` samples, ``z[:, s] = W.T @ x[:, s] + b`` gives (rows ``j + n_out*s``):

* ``d vec(z) / d vec(x)``: block-diagonal, the same block ``W.T`` for every sample;
* ``d vec(z) / d vec(W)``: sample ``s``'s rows are ``I_{n_out} kron x[:, s].T``;
* ``d vec(z) / d b``: sample ``s``'s rows are ``I_{n_out}``.

A :class:`SampleStack` holds that small array (``W.T``, ``x.T``, nothing) instead of
its ``N`` copies. The CSR arrays, exactly those the builder wrote before (the same code,
:func:`stack_arrays`), are written on first use (``layer.jacobian``); the chain's
product ``rows @ J`` is one dense (BLAS) product over the small array. Every stored
entry takes part once; only the order of the sums differs from the sparse product.
Index conventions: :mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._arguments import index_dtype
from jacobian_cnn._sparse.csr import CSRParts

__all__ = ["SampleStack", "stack_arrays"]

KINDS = ("input", "weight", "bias")


class SampleStack(CSRParts):
    """A dense layer's batch Jacobian (``kind`` one of :data:`KINDS`), kept as ``values``.

    ``values`` is ``W.T`` ``(n_out, n_in)`` for ``"input"``, ``x.T`` ``(N, n_in)`` for
    ``"weight"`` and ``None`` for ``"bias"`` (with ``dtype`` given).

    Examples
    --------
    >>> import numpy as np
    >>> from jacobian_cnn._sparse.stacked import SampleStack
    >>> J = SampleStack("weight", np.array([[1., 2.], [3., 4.]]), n_out=1, dtype=np.float64)
    >>> J.tocsr().toarray()      # samples (1, 2) and (3, 4), one output each
    array([[1., 2.],
           [3., 4.]])
    >>> J.rows_times(np.array([[1., 1.]]))
    array([[4., 6.]])
    """

    __slots__ = ("kind", "values", "n_samples", "n_out", "n_in", "per_row", "_dtype", "_data")

    def __init__(self, kind, values, *, n_out, dtype, n_samples=None, n_in=None):
        self.kind, self.values, self.n_out, self._dtype = kind, values, n_out, np.dtype(dtype)
        self.n_samples = values.shape[0] if kind == "weight" else n_samples
        self.n_in = values.shape[1] if kind != "bias" else n_in
        n, m = self.n_samples, n_out
        self.per_row = 1 if kind == "bias" else self.n_in
        n_cols = {"input": n * self.n_in, "weight": m * self.n_in, "bias": m}[kind]
        self.shape, self.form = (n * m, n_cols), "stacked"
        self._data = self._indices = self._indptr = None

    @property
    def dtype(self):
        return self._dtype

    @property
    def nnz(self):
        return self.shape[0] * self.per_row

    def _write(self):
        self._data, self._indices, self._indptr = stack_arrays(self)

    @property
    def data(self):
        """The values of every stored entry, written on first use."""
        if self._data is None:
            self._write()
        return self._data

    def _write_indices(self):
        self._write()
        return self._indices

    def _write_indptr(self):
        self._write()
        return self._indptr

    def rows_times(self, rows):
        """``rows @ J`` for a dense ``(k, N * n_out)`` block: one dense product."""
        k, n, m = rows.shape[0], self.n_samples, self.n_out
        dtype = np.result_type(rows.dtype, self._dtype)
        by_sample = rows.astype(dtype, copy=False).reshape(k, n, m)
        if self.kind == "bias":
            return by_sample.sum(axis=1)
        values = self.values.astype(dtype, copy=False)
        if self.kind == "input":  # every sample's rows times W.T
            return (by_sample.reshape(k * n, m) @ values).reshape(k, n * self.n_in)
        # out[j, i] = sum_s rows[s, j] x[i, s]: (n_out, N) @ (N, n_in) per row of rows
        return (by_sample.transpose(0, 2, 1) @ values).reshape(k, m * self.n_in)


def stack_arrays(J):
    """``(data, indices, indptr)`` of a :class:`SampleStack`: rows ``(sample, output unit)``,
    ``per_row`` entries each, written by broadcasting straight into the CSR arrays."""
    n, n_out, n_in, per_row = J.n_samples, J.n_out, J.n_in, J.per_row
    n_rows, n_cols = J.shape
    data = np.empty((n, n_out, per_row), J.dtype)
    if J.kind == "bias":
        data.fill(1)
    else:  # W.T for every sample; x[:, s] in every row of sample s
        data[...] = J.values[None] if J.kind == "input" else J.values[:, None, :]
    index = index_dtype(n_rows, n_cols, n_rows * per_row)
    indptr = np.arange(n_rows + 1, dtype=index)
    indptr *= per_row  # every row holds per_row entries: the row pointers are a ramp
    indices = np.empty((n, n_out, per_row), index)
    if J.kind == "input":
        indices[...] = (np.arange(n_in, dtype=index)[None, None, :]
                        + (n_in * np.arange(n, dtype=index))[:, None, None])
    elif J.kind == "weight":
        indices[...] = (np.arange(n_in, dtype=index)[None, :]
                        + (n_in * np.arange(n_out, dtype=index))[:, None])[None]
    else:
        indices[...] = np.arange(n_out, dtype=index)[None, :, None]
    return data.reshape(-1), indices.reshape(-1), indptr
