"""Summing the pushed-back terms ``P^T T P`` into Hessian blocks and diagonals.

Index conventions: :mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jacobian_cnn._sparse.csr import dense_to_csr

__all__ = ["assemble", "square_roots", "symmetric_rank_update", "product_diagonal"]


def square_roots(P, T):
    """Rows ``R+``, ``R-`` with ``P^T T P = R+^T R+ - R-^T R-``, or ``None`` where that
    does not pay: ``P`` very sparse, or ``T`` neither diagonal nor a small dense block.

    A diagonal ``T = diag(d)`` gives the rows of ``P`` scaled by ``sqrt(|d|)``; a small
    symmetric ``T = V diag(w) V^T`` (a loss's block) the rows of ``sqrt(|w|) V^T P``.
    """
    if P is None or (sp.issparse(P) and P.nnz < 0.05 * P.shape[0] * P.shape[1]):
        return None
    T = sp.csr_array(T)
    if T.nnz == T.shape[0] and np.array_equal(T.indices, np.arange(T.shape[0])):
        weights, rows = T.data, P
    elif T.shape[0] <= 256:
        weights, vectors = np.linalg.eigh(T.toarray())
        rows = vectors.T @ P
    else:
        return None
    rows = rows.toarray() if sp.issparse(rows) else np.asarray(rows)
    return [np.sqrt(sign * weights[sign * weights > 0])[:, None] * rows[sign * weights > 0]
            for sign in (1, -1)]


def symmetric_rank_update(positive, negative, n, dtype):
    """``sum R^T R`` over ``positive`` minus over ``negative``, an ``(n, n)`` dense array
    (exactly symmetric).

    One general product of all the rows with their signed copies (BLAS ``gemm``): on this
    package's machines OpenBLAS's ``gemm`` runs faster than its ``syrk``, although ``syrk``
    does half the arithmetic.
    """
    rows = np.vstack([np.zeros((0, n), dtype), *positive, *negative]).astype(dtype, copy=False)
    n_positive = sum(len(r) for r in positive)
    signed = rows.copy()
    signed[n_positive:] *= -1
    result = np.triu(rows.T @ signed)  # the upper triangle, mirrored: exactly symmetric
    result += np.triu(result, 1).T
    return result


def _product(Pa, T, Pb):
    """``Pa^T T Pb`` with ``None`` for identities."""
    right = T if Pb is None else T @ Pb
    return right if Pa is None else Pa.T @ right


def assemble(terms, keys, sizes, dtype):
    """``sum_l P_l^T T_l P_l`` as one ``csr_array`` over the variables' concatenated vecs.

    The symmetric diagonal blocks of the terms whose ``P`` is dense (or not very sparse)
    are collected as square-root rows (:func:`square_roots`) and summed by one BLAS
    symmetric rank-k update per variable; everything else is a sparse or dense product.
    """
    blocks, roots = {}, {key: ([], []) for key in keys}
    for term in terms:
        for (s, t), T in term.blocks.items():
            for a, Pa in term.slots[s].items():
                for b, Pb in term.slots[t].items():
                    if keys.index(a) > keys.index(b):
                        continue
                    split = square_roots(Pa, T) if (s, a) == (t, b) else None
                    if split is not None:
                        roots[a][0].append(split[0])
                        roots[a][1].append(split[1])
                        continue
                    part = _product(Pa, T, Pb)
                    blocks[a, b] = part if (a, b) not in blocks else blocks[a, b] + part
    for key, (positive, negative) in roots.items():
        if positive or negative:
            part = symmetric_rank_update(positive, negative, sizes[key], dtype)
            blocks[key, key] = part if (key, key) not in blocks else part + blocks[key, key]
    grid = [[None] * len(keys) for _ in keys]
    for (a, b), block in blocks.items():
        i, j = keys.index(a), keys.index(b)
        block = dense_to_csr(block).tocsr() if isinstance(block, np.ndarray) else sp.csr_array(block)
        grid[i][j] = block
        if i != j:
            grid[j][i] = block.T
    for i, key in enumerate(keys):
        if grid[i][i] is None:
            grid[i][i] = sp.csr_array((sizes[key], sizes[key]), dtype=dtype)
    return sp.csr_array(sp.block_array(grid, format="csr", dtype=dtype))


def product_diagonal(Pa, T, Pb):
    """The diagonal of ``Pa^T T Pb`` (``None`` for identities) without forming it:
    the column sums of ``Pa * (T Pb)``."""
    right = T if Pb is None else T @ Pb
    if Pa is None:
        return np.asarray(sp.csr_array(right).diagonal() if sp.issparse(right)
                          else np.diagonal(right)).copy()
    if sp.issparse(Pa):
        return np.asarray(Pa.multiply(right).sum(axis=0)).ravel()
    right = right.toarray() if sp.issparse(right) else right
    return np.sum(Pa * right, axis=0)
