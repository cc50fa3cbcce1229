"""Summing the pushed-back terms ``P^T T P`` into Hessian blocks and diagonals.

Index conventions: :mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jacobian_cnn._sparse.csr import dense_to_csr

__all__ = ["assemble", "square_roots", "symmetric_rank_update", "symmetrized", "product_diagonal"]


DENSE_SPEEDUP = 30
"""How many times more multiply-adds a dense BLAS product may do than the sparse product
it replaces and still be chosen (measured here: dense ``gemm`` at about 20 GFlop/s, scipy's
sparse products at well under 1)."""


def _sparse_pays(P):
    """Whether ``P^T T P`` is cheaper sparse: the sparse product's multiply-adds (the
    squared stored entries of each row) times :data:`DENSE_SPEEDUP` below the dense ones."""
    if not sp.issparse(P):
        return False
    per_row = np.diff(sp.csr_array(P).indptr).astype(np.float64)
    return DENSE_SPEEDUP * float(per_row @ per_row) < P.shape[0] * float(P.shape[1]) ** 2


def square_roots(P, T):
    """Rows ``R+``, ``R-`` with ``P^T T P = R+^T R+ - R-^T R-``, or ``None`` where that
    does not pay: a sparse product is cheaper (:func:`_sparse_pays`), or ``T`` is neither
    diagonal nor a small dense block.

    A diagonal ``T = diag(d)`` gives the rows of ``P`` scaled by ``sqrt(|d|)``; a small
    symmetric ``T = V diag(w) V^T`` (a loss's block) the rows of ``sqrt(|w|) V^T P``.
    """
    if P is None or _sparse_pays(P):
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
    (symmetric up to rounding).

    One general product of all the rows with their signed copies (BLAS ``gemm``): on this
    package's machines OpenBLAS's ``gemm`` runs faster than its ``syrk``, although ``syrk``
    does half the arithmetic.
    """
    rows = np.vstack([np.zeros((0, n), dtype), *positive, *negative]).astype(dtype, copy=False)
    n_positive = sum(len(r) for r in positive)
    signed = rows.copy()
    signed[n_positive:] *= -1
    return rows.T @ signed


def symmetrized(M):
    """``(M + M^T) / 2``: exactly symmetric, for a matrix symmetric up to rounding."""
    return 0.5 * (M + M.T)


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
    return _joined(blocks, keys, sizes, dtype)


def _joined(blocks, keys, sizes, dtype):
    """The blocks ``{(a, b): block}`` (upper triangle by variable order) as one exactly
    symmetric ``csr_array``: through a dense array when they fill over a quarter of it (scipy's
    ``block_array`` goes through COO and is slow on full blocks), else block by block."""
    for key in keys:  # a diagonal block summed from several products: exactly symmetric
        if (key, key) in blocks:
            blocks[key, key] = symmetrized(blocks[key, key])
    offsets = dict(zip(keys, np.cumsum([0] + [sizes[k] for k in keys])[:-1].tolist(), strict=True))
    total = sum(sizes.values())
    stored = sum(b.size if isinstance(b, np.ndarray) else b.nnz for b in blocks.values())
    if 4 * 2 * stored > total * total:
        full = np.zeros((total, total), dtype)
        for (a, b), block in blocks.items():
            block = block if isinstance(block, np.ndarray) else block.toarray()
            rows, cols = slice(offsets[a], offsets[a] + sizes[a]), slice(offsets[b], offsets[b] + sizes[b])
            full[rows, cols] = block
            full[cols, rows] = block.T
        return dense_to_csr(full).tocsr()
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
