"""Permutation matrices over ``vec``: the commutation matrix, and the builder every one uses.

A permutation matrix ``P`` here has one 1 per row, at ``(i, columns[i])``, so that
``(P @ v)[i] == v[columns[i]]``. :func:`commutation_matrix` is the one of a transpose;
:func:`jacobian_cnn.compare.layout.permutation_matrix` the one between this package's
flattening and PyTorch's or JAX's. Conventions: :mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._arguments import check_size, int_value
from jacobian_cnn._sparse.csr import permutation_rows

__all__ = ["commutation_matrix", "permutation_csr"]


def permutation_csr(size, columns, what, max_bytes=None):
    """The ``(size, size)`` permutation matrix with a 1 at ``(i, columns()[i])``, as CSR.

    Parameters
    ----------
    size : int
        Rows and columns.
    columns : callable
        ``columns()`` returns the ``size`` column indices; it is called only after the
        matrix's estimated size has been checked, so a huge request allocates nothing.
    what : str
        Names the matrix in the refusal.
    max_bytes : int, optional
        The size limit, checked before ``columns`` is called (:mod:`jacobian_cnn.vec`,
        "Size limits").

    Examples
    --------
    >>> import numpy as np
    >>> from jacobian_cnn.permutations import permutation_csr
    >>> permutation_csr(3, lambda: np.array([2, 0, 1]), "P").toarray()
    array([[0., 0., 1.],
           [1., 0., 0.],
           [0., 1., 0.]])
    """
    check_size(size, size, 8, max_bytes, what)
    return permutation_rows(columns(), size).tocsr()


def commutation_matrix(m, n, *, max_bytes=None):
    """The commutation matrix ``K(m, n)``: ``K @ vec(A) == vec(A.T)`` for ``A`` of shape (m, n).

    It is the permutation matrix of the row-major/column-major mix-up that hand
    derivations most often make.

    Parameters
    ----------
    m, n : int
        Shape of ``A``, positive.
    max_bytes : int, optional
        The size limit, checked before allocating (:mod:`jacobian_cnn.vec`, "Size limits").

    Returns
    -------
    scipy.sparse.csr_array
        Shape ``(m*n, m*n)``, one 1 per row.

    Examples
    --------
    >>> import numpy as np
    >>> from jacobian_cnn import commutation_matrix, vec
    >>> A = np.array([[1, 2, 3], [4, 5, 6]])
    >>> K = commutation_matrix(2, 3)
    >>> K @ vec(A)
    array([1., 2., 3., 4., 5., 6.])
    >>> bool(np.array_equal(K @ vec(A), vec(A.T)))
    True
    """
    m = int_value(m, "commutation_matrix: m", minimum=1)
    n = int_value(n, "commutation_matrix: n", minimum=1)

    def columns():
        # Row i = a + b*n of K picks vec(A.T)[i] = A.T[a, b] = A[b, a], at vec(A) index b + a*m.
        i = np.arange(m * n)
        return i // n + (i % n) * m
    return permutation_csr(m * n, columns, f"commutation_matrix({m}, {n})", max_bytes)
