"""The chain's products ``rows @ J``, by the form of ``J``, and their size checks.

:class:`~jacobian_cnn.Chain` pushes blocks of cotangent rows (dense, or CSR when that is
smaller) through each layer's explicit Jacobian; this module picks the kernel for each
product (see the :mod:`jacobian_cnn.chain` docstring for the list) and refuses a product
whose upper-bound size is over the limit before it is formed.
Index conventions: :mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jacobian_cnn._sparse.csr import CSRParts, dense_to_csr, index_dtype
from jacobian_cnn.errors import JacobianTooLargeError

__all__ = ["as_rows", "check_product", "smaller_form", "times"]


def nnz_per_row(J):
    """Largest number of stored entries in one row of ``J`` (cheap for every form)."""
    m, n = J.shape
    if isinstance(J, CSRParts):
        if J.form in ("diagonal", "column_blocks"):
            return 1 if m else 0
        if J.form == "dense":
            return n
        if J.form == "row_blocks":
            return n // max(m, 1)
        if J.form == "stacked":
            return J.per_row
        indptr = J.indptr
    else:
        J = J if sp.issparse(J) and J.format == "csr" else sp.csr_array(J)
        indptr = J.indptr
    return int(np.diff(indptr).max(initial=0))


def check_product(rows, J, limit, i, layer, wrt):
    """Refuse ``rows @ J`` when an upper bound of its size exceeds ``limit``.

    Dense rows give a dense ``(k, n)`` block; CSR rows a CSR product with at most
    ``min(k * n, nnz(rows) * max row nnz of J)`` entries.
    """
    k, n = rows.shape[0], J.shape[1]
    value = np.result_type(rows.dtype, J.dtype).itemsize
    if not isinstance(rows, np.ndarray):  # CSR rows (sp.issparse, but without its lookups)
        nnz = min(k * n, int(rows.nnz) * nnz_per_row(J))
        index = index_dtype(k, n, nnz).itemsize
        estimate, form = nnz * (value + index) + (k + 1) * index, f"{nnz:,} nonzeros at most"
    else:
        estimate, form = k * n * value, "dense"
    if estimate > limit:
        raise JacobianTooLargeError(
            f"step layers[{i}] = {layer!r} (wrt {wrt!r}): the product of {k:,} rows with its "
            f"{J.shape[0]:,} x {n:,} Jacobian would need about {estimate:,} bytes ({form}), "
            f"over max_bytes={limit:,}; pass a larger max_bytes or fewer rows"
        )


def as_rows(J):
    """The first block of rows, ``J`` itself: dense if every entry is stored, else CSR."""
    if isinstance(J, CSRParts):
        return J.data.reshape(J.shape) if J.form == "dense" else J.tocsr()
    return sp.csr_array(J)


def times(rows, J):
    """``rows @ J``: rows (dense or CSR) times a layer's explicit Jacobian.

    Dense rows times :class:`~jacobian_cnn._sparse.csr.CSRParts` use the kernel that fits
    ``J``'s form (:meth:`~jacobian_cnn._sparse.csr.CSRParts.rows_times`), except that a
    general ``J`` whose dense form takes no more bytes than its CSR form (a small,
    nearly full block) is multiplied as a dense block (BLAS). Anything else is
    scipy's sparse product.
    """
    if isinstance(J, CSRParts):
        if not isinstance(rows, np.ndarray):
            return rows @ J.tocsr()
        m, n = J.shape
        value = J.dtype.itemsize
        if J.form == "general" and m * n * value <= J.nnz * (value + J.indices.itemsize):
            return rows @ J.tocsr().toarray()
        return J.rows_times(rows)
    return rows @ J


def smaller_form(rows):
    """``rows`` as a dense block or as CSR, whichever takes fewer bytes.

    CSR stores ``nnz * (value + index)`` bytes, a dense block ``k * n * value`` bytes;
    a dense block is turned back into CSR only once it is under half its dense
    size, so the form does not flip back and forth.
    """
    k, n = rows.shape
    value = rows.dtype.itemsize
    if sp.issparse(rows):
        if k * n * value <= rows.nnz * (value + 4):
            return rows.toarray()
        return rows
    if 2 * np.count_nonzero(rows) * (value + 4) < k * n * value:
        return dense_to_csr(rows).tocsr()
    return rows
