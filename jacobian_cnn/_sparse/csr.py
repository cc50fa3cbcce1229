"""CSR arrays as the layers build them, and the product ``rows @ J`` that the chain needs.

Every layer writes its Jacobian's three CSR arrays (``data``, ``indices``, ``indptr``)
directly, in canonical order (columns sorted within each row, no duplicates).
:class:`CSRParts` holds them together with a note of the matrix's *form* that the
builder knows for free (a full diagonal, every entry stored, one column block per
row). ``layer.jacobian`` wraps the arrays in a ``scipy.sparse.csr_array``;
:class:`~jacobian_cnn.Chain` multiplies its cotangent rows by the arrays themselves,
with the kernel that fits the form, and so does not pay for a scipy object per layer.

Index conventions: :mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jacobian_cnn._arguments import check_size, index_dtype
from jacobian_cnn.errors import InvalidValueError

__all__ = ["CSRParts", "FORMS", "csr_from_rows", "dense_to_csr", "block_diagonal", "diagonal",
           "permutation_rows", "index_dtype", "empty", "csr_summing_duplicates"]

FORMS = ("general", "diagonal", "dense", "row_blocks", "column_blocks", "window", "stacked")
"""What a :class:`CSRParts` is known to be, beyond canonical CSR.

``"diagonal"``: square, one entry per row, on the diagonal (``indices == arange(n)``).
``"dense"``: every entry stored, row by row (``data`` *is* the dense matrix, C order).
``"row_blocks"``: row ``i`` stores exactly columns ``i*L .. (i+1)*L - 1``, ``L = n / m``.
``"column_blocks"``: rows ``j*L .. (j+1)*L - 1`` store column ``j`` and nothing else,
``L = m / n`` (the transpose of row blocks).
``"window"``: written tile by tile from a cached layout, which the product reads
(:class:`jacobian_cnn._sparse.blocked.WindowJacobian`).
``"stacked"``: a dense layer's batch Jacobian, one block per sample from one small array
(:class:`jacobian_cnn._sparse.stacked.SampleStack`).
"""


class CSRParts:
    """The canonical CSR arrays of a Jacobian, before they are wrapped in a ``csr_array``.

    Parameters
    ----------
    data, indices, indptr : numpy.ndarray
        CSR arrays, columns sorted within each row without duplicates. For the forms
        that fix them (``"diagonal"``, ``"dense"``, ``"row_blocks"``,
        ``"column_blocks"``), ``indices`` and ``indptr`` may be ``None``: they are
        then written from the form when first asked for (``tocsr``), and a product
        that only needs ``data`` never writes them.
    shape : (int, int)
    form : str
        One of :data:`FORMS`; ``"general"`` promises nothing beyond canonical CSR.

    Examples
    --------
    >>> import numpy as np
    >>> from jacobian_cnn._sparse.csr import CSRParts
    >>> J = CSRParts(np.array([2., 3.]), np.array([0, 1]), np.array([0, 1, 2]), (2, 2), "diagonal")
    >>> J.tocsr().toarray()
    array([[2., 0.],
           [0., 3.]])
    >>> J.rows_times(np.array([[1., 1.]]))      # [1, 1] @ diag(2, 3)
    array([[2., 3.]])
    """

    __slots__ = ("data", "_indices", "_indptr", "shape", "form")

    def __init__(self, data, indices, indptr, shape, form="general"):
        if form not in FORMS:
            raise InvalidValueError(f"form must be one of {FORMS}, got {form!r}")
        if (indices is None or indptr is None) and form in ("general", "window"):
            raise InvalidValueError(f"a {form!r} CSRParts needs its indices and indptr")
        self.data, self._indices, self._indptr = data, indices, indptr
        self.shape = (int(shape[0]), int(shape[1]))
        self.form = form

    @property
    def indices(self):
        """Column indices (written from the form on first use where it fixes them)."""
        if self._indices is None:
            self._indices = self._write_indices()
        return self._indices

    @property
    def indptr(self):
        """Row pointers (written from the form on first use where it fixes them)."""
        if self._indptr is None:
            self._indptr = self._write_indptr()
        return self._indptr

    def _write_indices(self):
        m, n = self.shape
        ramp = np.arange(n, dtype=index_dtype(m, n, self.nnz))
        if self.form == "dense":
            return np.tile(ramp, m)
        if self.form == "column_blocks":
            return np.repeat(ramp, m // max(n, 1))
        return ramp  # diagonal, row blocks: every column once, in order

    def _write_indptr(self):
        m, n = self.shape
        per_row = {"diagonal": 1, "dense": n, "row_blocks": n // max(m, 1), "column_blocks": 1}
        indptr = np.arange(m + 1, dtype=index_dtype(m, n, self.nnz))
        indptr *= per_row[self.form]
        return indptr

    @classmethod
    def from_csr(cls, J):
        """The arrays of a canonical scipy CSR array (``sum_duplicates`` already applied)."""
        return cls(J.data, J.indices, J.indptr, J.shape)

    @property
    def nnz(self):
        """Number of stored entries."""
        return int(self.data.size)

    @property
    def dtype(self):
        return self.data.dtype

    def tocsr(self):
        """The ``scipy.sparse.csr_array``, marked canonical (scipy never sorts or sums it)."""
        J = sp.csr_array((self.data, self.indices, self.indptr), shape=self.shape)
        J.has_canonical_format = True
        return J

    def rows_times(self, rows):
        """``rows @ J`` for a dense ``(k, m)`` block of rows; a ``(k, n)`` array.

        The kernel follows the form: a diagonal scales the columns of ``rows``; a
        matrix with every entry stored is a dense (BLAS) product; row blocks are an
        outer product per row, column blocks a dot product per column; anything
        else is scipy's sparse product, read as ``(J^T @ rows^T)^T`` because J's CSR
        arrays *are* the CSC arrays of ``J^T``.
        Every stored entry of J takes part, once.
        """
        m, n = self.shape
        if self.form == "diagonal":
            return rows * self.data
        if self.form == "dense":
            return rows @ self.data.reshape(m, n)
        if self.form == "row_blocks":
            k = rows.shape[0]
            return (rows[:, :, None] * self.data.reshape(m, n // max(m, 1))).reshape(k, n)
        if self.form == "column_blocks":
            k = rows.shape[0]
            return (rows.reshape(k, n, m // max(n, 1)) * self.data.reshape(n, -1)).sum(axis=2)
        transpose = sp.csc_array((self.data, self.indices, self.indptr), shape=(n, m))
        return (transpose @ rows.T).T


def empty(shape, dtype):
    """:class:`CSRParts` of a ``shape`` matrix without any stored entry.

    The explicit path of zero-size problems (an empty batch, N = 0):
    nothing to write, so no builder and no view over a 0-byte buffer runs.

    Examples
    --------
    >>> from jacobian_cnn._sparse.csr import empty
    >>> J = empty((0, 18), "float32").tocsr()
    >>> J.shape, J.nnz, J.dtype
    ((0, 18), 0, dtype('float32'))
    """
    n_rows, n_cols = (int(n) for n in shape)
    index = index_dtype(n_rows, n_cols, 0)
    return CSRParts(np.empty(0, dtype), np.empty(0, index), np.zeros(n_rows + 1, index),
                    (n_rows, n_cols))


def csr_from_rows(row_lengths, cols, vals, shape):
    """:class:`CSRParts` from per-row entry counts and row-ordered ``cols``/``vals``.

    ``cols`` must already be sorted within each row, without duplicates; nothing is
    summed or sorted here, which is what keeps assembly fast. ``cols`` and ``vals`` may
    be broadcast views: each is written once, straight into the final array (32-bit
    indices whenever they fit). Callers check the size with
    :func:`jacobian_cnn._arguments.check_size` *before* materializing ``cols``/``vals``.
    """
    index = index_dtype(shape[0], shape[1], cols.size)
    indptr = np.empty(shape[0] + 1, dtype=index)
    indptr[0] = 0
    np.cumsum(row_lengths, out=indptr[1:])
    indices = np.empty(cols.size, index)
    indices.reshape(cols.shape)[...] = cols
    return CSRParts(vals.ravel(), indices, indptr, shape)


def dense_to_csr(rows):
    """:class:`CSRParts` of a dense 2-D block: its nonzeros row by row, 32-bit indices.

    The same arrays scipy's dense-to-CSR conversion stores (``rows.nonzero()`` order),
    without its detour through COO. A block without zeros has the form ``"dense"``.
    """
    k, n = rows.shape
    if rows.dtype.kind != "f" or index_dtype(k, n, rows.size) != np.int32:
        return CSRParts.from_csr(sp.csr_array(rows))
    mask = rows != 0
    if np.count_nonzero(mask) == rows.size:  # every entry stored (the usual end of a chain)
        return CSRParts(np.ascontiguousarray(rows).reshape(-1), None, None, (k, n), "dense")
    indptr = np.empty(k + 1, np.int32)
    indptr[0] = 0
    np.cumsum(np.count_nonzero(mask, axis=1), out=indptr[1:])  # counts over booleans: fast
    flat = np.flatnonzero(mask)  # row-major positions: the entries row by row, columns sorted
    indices = np.empty(flat.size, np.int32)
    for i in range(k):  # a subtraction per row (k is the few rows of a chain's product)
        np.subtract(flat[indptr[i]:indptr[i + 1]], i * n, out=indices[indptr[i]:indptr[i + 1]],
                    casting="unsafe")
    return CSRParts(np.ascontiguousarray(rows).reshape(-1).take(flat), indices, indptr, (k, n))


def block_diagonal(blocks, *, max_bytes, what):
    """Block-diagonal :class:`CSRParts` of equal-shape dense blocks ``(N, m, n)`` (one per sample)."""
    n_blocks, m, n = blocks.shape
    check_size(n_blocks * m, blocks.size, blocks.dtype.itemsize, max_bytes, what)
    if n_blocks == 1:
        return CSRParts(np.ascontiguousarray(blocks).reshape(-1), None, None, (m, n), "dense")
    cols = np.arange(n)[None, None, :] + n * np.arange(n_blocks)[:, None, None]
    cols = np.broadcast_to(cols, blocks.shape)
    return csr_from_rows(np.full(n_blocks * m, n), cols, blocks, (n_blocks * m, n_blocks * n))


def diagonal(values, *, keep=None, max_bytes, what):
    """Square :class:`CSRParts` with ``values`` (over vec order) on the diagonal.

    ``keep`` (boolean, same size) selects the structural nonzeros; by default all,
    and the form is ``"diagonal"``.
    """
    values = np.asarray(values).ravel(order="F")
    n = values.size
    if keep is None:
        check_size(n, n, values.dtype.itemsize, max_bytes, what)
        return CSRParts(values.copy(), None, None, (n, n), "diagonal")
    keep = np.asarray(keep).ravel(order="F")
    check_size(n, int(keep.sum()), values.dtype.itemsize, max_bytes, what)
    return csr_from_rows(keep, np.flatnonzero(keep), values[keep], (n, n))


def permutation_rows(cols, n_cols, dtype=np.float64):
    """:class:`CSRParts` with a single 1 in each row ``i`` at column ``cols[i]``.

    One entry per row is canonical by construction; the identity has the form
    ``"diagonal"``.
    """
    n_rows = np.size(cols)
    index = index_dtype(n_rows, n_cols, n_rows)
    cols = np.ascontiguousarray(cols, dtype=index).ravel()
    indptr = np.arange(n_rows + 1, dtype=index)
    identity = n_rows == n_cols and np.array_equal(cols, indptr[:n_rows])
    return CSRParts(np.ones(n_rows, dtype=dtype), cols, indptr, (n_rows, n_cols),
                    "diagonal" if identity else "general")


def csr_summing_duplicates(row_lengths, cols, vals, shape):
    """CSR from per-row entries whose columns may repeat or be unsorted: duplicates are summed.

    The result is canonical (sorted, no repeated column), as from :func:`csr_from_rows`.
    Only copying padding modes need this slower path.
    """
    index = index_dtype(shape[0], shape[1], cols.size)
    indptr = np.zeros(shape[0] + 1, dtype=index)
    np.cumsum(np.asarray(row_lengths).ravel(), out=indptr[1:])
    # Own writable copies: sorting works in place and vals may be a broadcast view.
    J = sp.csr_array((np.array(vals).ravel(), cols.ravel().astype(index), indptr), shape=shape)
    J.sum_duplicates()  # sorts each row's columns, then adds equal neighbours (vectorized)
    return CSRParts.from_csr(J)


def repeated_block_diagonal(block, n_blocks):
    """:class:`CSRParts` with the canonical ``csr_array`` ``block`` repeated ``n_blocks`` times
    on the diagonal (one block per channel and sample of a map-by-map linear layer).

    Each of the three arrays is written once, in its final dtype: block ``b``'s column
    indices and row pointers are the block's own shifted by ``b`` blocks."""
    m, n = block.shape
    shape = (m * n_blocks, n * n_blocks)
    if n_blocks == 0 or block.nnz == 0:
        return empty(shape, block.dtype)
    nnz = block.nnz
    index = np.dtype(index_dtype(shape[0], shape[1], nnz * n_blocks)).type
    blocks = np.arange(n_blocks, dtype=index)[:, None]
    indices = np.empty((n_blocks, nnz), index)
    np.add(block.indices.astype(index), blocks * index(n), out=indices)
    indptr = np.empty(shape[0] + 1, index)
    indptr[0] = 0
    np.add(block.indptr[1:].astype(index), blocks * index(nnz), out=indptr[1:].reshape(n_blocks, m))
    data = np.empty((n_blocks, nnz), block.dtype)
    data[...] = block.data
    return CSRParts(data.reshape(-1), indices.reshape(-1), indptr, shape)
