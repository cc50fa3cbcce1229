"""The input Hessian composed forwards, from the input's side.

:func:`~jacobian_cnn.second_order.hessian.network_hessian` pushes every layer's term back
from the output. For the Hessian over the input alone the same sum

    H = sum_l M_{l-1}^T T_l M_{l-1},    M_l = d vec(h_l) / d vec(x) = J_l M_{l-1}

can be grouped from the input's side: ``M_l`` has one column per input entry (1,024 for
LeNet-5) and, below the first dense layer, few stored entries per row (a conv output sees a
window of the image), so it is accumulated forwards once and every term ``T_l`` (with the
gradient row arriving at its layer, from one backward pass) is multiplied by it:

* a diagonal ``T_l = diag(d)`` (tanh, sigmoid) and a sparse ``M``: the rows of ``M``
  that share one column set (the channels at one position of a conv output) form a dense
  block ``B`` and add ``B^T diag(d_B) B`` on that set (:func:`grouped_gram`), so no
  product over zeros is formed;
* any other term, or a dense ``M`` (above the flatten): the signed square-root rows of
  ``T_l`` (:func:`~jacobian_cnn.second_order.roots.signed_roots`) times ``M``, collected
  and summed by one Gram product at the end.

Index conventions: :mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg.blas as blas
import scipy.sparse as sp

from jacobian_cnn._sparse.products import times
from jacobian_cnn._sparse.tiles import view
from jacobian_cnn.chain import _layer_jacobian
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.second_order.assembly import symmetrized
from jacobian_cnn.second_order.backward import (
    HessianStep,
    HessianTrace,
    guard,
    scalar_output,
)
from jacobian_cnn.second_order.hessian import Hessian
from jacobian_cnn.second_order.roots import _input_term, as_csr, signed_roots
from jacobian_cnn.second_order.terms import hessian_term

__all__ = ["input_hessian", "grouped_gram"]

DENSE_FROM = 0.25
"""``M`` is kept dense once more than this fraction of its entries is stored."""

SMALL_BLOCK = 64
"""Groups with fewer columns are summed into the Hessian by one ``bincount``, larger ones
one block at a time (a strided view where the columns form an image window)."""

MERGE_GROWTH = 1.5
"""Neighbouring large groups are merged while their joint columns are at most this many
times one group's (:func:`_merged`)."""


def _window(support):
    """``(first, runs, length, stride)`` when ``support`` (sorted indices) is ``runs`` runs
    of ``length`` consecutive indices, ``stride`` apart (a rectangle of an image under
    ``vec``); ``None`` otherwise."""
    breaks = np.flatnonzero(np.diff(support) != 1) + 1
    length = int(breaks[0]) if breaks.size else support.size
    if support.size % length:
        return None
    grid = support.reshape(-1, length)
    starts = grid[:, 0]
    stride = int(starts[1] - starts[0]) if starts.size > 1 else 0
    if not (np.array_equal(grid - starts[:, None], np.broadcast_to(np.arange(length), grid.shape))
            and np.all(np.diff(starts) == stride)):
        return None
    return int(starts[0]), starts.size, length, stride


def _add_block(H, support, block):
    """``H[support, support] += block``: one strided view when the support is a window."""
    window = _window(support)
    if window is None:
        flat = (support[:, None] * H.shape[1] + support[None, :]).ravel()
        H.reshape(-1)[flat] += block.ravel()
        return
    first, runs, length, stride = window
    n = H.shape[1]  # H is C-contiguous: the view is checked to lie inside it (tiles.view)
    window_view = view(H.reshape(-1), first * n + first, (runs, length, runs, length),
                       (stride * n, n, stride, 1))
    window_view += block.reshape(runs, length, runs, length)


def _groups(columns):
    """``(supports, order, bounds)``: the distinct rows of the integer array ``columns``,
    and the rows ``order[bounds[j]:bounds[j + 1]]`` equal to ``supports[j]``. Rows are
    sorted by a random linear hash, then checked equal to their group's first row
    (``numpy.unique`` over whole rows when two differ: a hash collision)."""
    weights = np.random.default_rng(0).integers(1, 2**31, size=columns.shape[1])
    keys = columns.astype(np.int64) @ weights
    order = np.argsort(keys, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(keys[order]) != 0])
    bounds = np.r_[starts, keys.size]
    supports = columns[order[starts]]
    if not np.array_equal(columns[order], np.repeat(supports, np.diff(bounds), axis=0)):
        supports, group = np.unique(columns, axis=0, return_inverse=True)
        order = np.argsort(group.ravel(), kind="stable")
        bounds = np.searchsorted(group.ravel()[order], np.arange(len(supports) + 1))
    return supports, order, bounds


def grouped_gram(M, d, H):
    """``H += M^T diag(d) M`` for a CSR ``M``, by groups of rows with one column set.

    Rows storing the same columns ``S`` form a dense block ``B``; the group adds
    ``B^T diag(d_B) B`` to ``H[S, S]``. The multiply-adds are those of the sparse product
    (``sum_rows nnz^2``), done as small dense products: many small blocks by one batched
    product and one ``bincount``; large ones merged with their neighbours (a little more
    arithmetic on zeros, far fewer blocks to add) and added one at a time.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> M = sp.csr_array(np.array([[1., 2., 0.], [3., 4., 0.], [0., 1., 1.]]))
    >>> H = np.zeros((3, 3))
    >>> grouped_gram(M, np.array([1., 2., 3.]), H)
    >>> bool(np.allclose(H, M.toarray().T @ np.diag([1., 2., 3.]) @ M.toarray()))
    True
    """
    M = sp.csr_array(M)
    n = M.shape[1]
    if not (isinstance(H, np.ndarray) and H.shape == (n, n) and H.flags.c_contiguous
            and H.flags.writeable and H.dtype.kind == "f"):
        raise InvalidValueError(f"H must be a writeable C-contiguous float array of shape ({n}, {n}) "
                                f"(it is added to in place); got {type(H).__name__} "
                                f"{getattr(H, 'shape', '')}")
    d = np.asarray(d)
    if d.shape != (M.shape[0],):
        raise InvalidValueError(f"d must hold one weight per row of M, shape ({M.shape[0]},); got {d.shape}")
    M.sum_duplicates()
    counts = np.diff(M.indptr)
    for k in np.unique(counts[counts > 0]):
        rows = np.flatnonzero(counts == k)
        at = M.indptr[rows][:, None] + np.arange(k)
        supports, order, bounds = _groups(M.indices[at])
        values, weights = M.data[at][order], d[rows][order]
        if k >= SMALL_BLOCK:  # few large blocks: neighbours merged, each added in place
            for support, B, w in _merged(supports, bounds, values, weights):
                _add_block(H, support, symmetrized(B.T @ (w[:, None] * B)))
            continue
        sizes = np.diff(bounds)
        if np.all(sizes == sizes[0]):  # one batched product for every group
            B = values.reshape(len(supports), sizes[0], k)
            blocks = np.swapaxes(B, 1, 2) @ (weights.reshape(len(supports), sizes[0], 1) * B)
        else:
            blocks = np.array([values[a:b].T @ (weights[a:b, None] * values[a:b])
                               for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
        blocks = 0.5 * (blocks + np.swapaxes(blocks, 1, 2))  # exactly symmetric: so is H
        flat = (supports[:, :, None] * H.shape[1] + supports[:, None, :]).ravel()
        H += np.bincount(flat, blocks.ravel(), H.size).reshape(H.shape)


def _merged(supports, bounds, values, weights):
    """``(columns, rows, weights)`` of groups merged with their neighbours: groups taken in
    the order of their first column join the previous one while the union of their columns
    stays a window (:func:`_window`) of at most :data:`MERGE_GROWTH` times one group's
    columns (fewer, larger blocks: less work in adding them to the Hessian)."""
    def merged(members, union):
        B = np.zeros((sum(bounds[j + 1] - bounds[j] for j in members), union.size), values.dtype)
        w, first = np.empty(len(B), weights.dtype), 0
        for j in members:
            a, b = bounds[j], bounds[j + 1]
            B[first:first + b - a, np.searchsorted(union, supports[j])] = values[a:b]
            w[first:first + b - a] = weights[a:b]
            first += b - a
        return union, B, w

    members, union = [], None
    for j in np.argsort(supports[:, 0], kind="stable"):
        if members:
            joined = np.union1d(union, supports[j])
            if joined.size <= MERGE_GROWTH * supports.shape[1] and _window(joined) is not None:
                members, union = members + [j], joined
                continue
            yield merged(members, union)
        members, union = [j], supports[j]
    if members:
        yield merged(members, union)


def _diagonal_entries(T):
    """``d`` when ``T`` is ``diag(d)`` (every diagonal entry stored, nothing else)."""
    T = sp.csr_array(T)
    n = T.shape[0]
    if T.nnz == n and np.array_equal(T.indices, np.arange(n)):
        return T.data
    return None


def _forward_times(J, M):
    """``J @ M`` (``M is None``: the identity), kept CSR while sparse, dense after."""
    if M is None:
        return sp.csr_array(J)
    J = sp.csr_array(J)
    n = J.shape[0]
    if J.nnz == n == J.shape[1] and np.array_equal(J.indices, np.arange(n)):  # elementwise
        if sp.issparse(M):
            M = M.copy()
            M.data *= np.repeat(J.data, np.diff(M.indptr))
            return M
        return J.data[:, None] * M
    if J.nnz > DENSE_FROM * J.shape[0] * J.shape[1]:  # a dense layer: one BLAS product
        return J.toarray() @ (M.toarray() if sp.issparse(M) else M)
    if not sp.issparse(M):
        return J @ M
    out = sp.csr_array(J @ M)
    return out.toarray() if out.nnz > DENSE_FROM * out.shape[0] * out.shape[1] else out


def input_hessian(chain, x, *, max_bytes=None):
    """The exact Hessian of ``chain``'s scalar output with respect to its input, composed
    forwards (see the module docstring); equal to ``network_hessian(chain, x, "input")``.

    The trace lists each term (``term``) and each forward product ``M_l = J_l M_{l-1}``
    (``pull``, the result's shape and stored entries).

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> from jacobian_cnn.second_order import network_hessian
    >>> net = jc.Chain([jc.Conv2D(np.ones((2, 2, 1, 2))), jc.Tanh(), jc.Flatten(),
    ...                 jc.Dense(np.ones((18, 2))), jc.SoftmaxCrossEntropy(0)])
    >>> x = np.linspace(-1, 1, 16).reshape(4, 4) / 4
    >>> H = input_hessian(net, x).matrix.toarray()
    >>> bool(np.allclose(H, network_hessian(net, x).matrix.toarray(), rtol=1e-12, atol=1e-15))
    True
    """
    records, y = chain.activations(x)
    scalar_output(y)
    dtype = np.result_type(y.dtype, np.float32)
    n = np.size(x)
    guard(n, np.dtype(dtype).itemsize, max_bytes, "the Hessian")
    jacobians = [_layer_jacobian(layer, x_in, "input", cache, max_bytes)
                 for layer, (x_in, cache) in zip(chain.layers, records, strict=True)]
    g, terms, trace = np.ones((1, 1), dtype), {}, HessianTrace()
    for i in reversed(range(len(chain.layers))):  # the gradient rows, and the terms
        layer, (x_in, _) = chain.layers[i], records[i]
        if _input_term(layer):
            T = hessian_term(layer, x_in, g[0], max_bytes=max_bytes)
            if T.nnz:
                terms[i] = T
                trace.append(HessianStep(i, repr(layer), "term", i, "input, input", T.shape, T.nnz))
        g = np.asarray(times(g, jacobians[i]))
    H = np.zeros((n, n), dtype)
    rows, signs, M = [], [], None
    for i in range(max(terms, default=-1) + 1):
        if i in terms:
            d = _diagonal_entries(terms[i])
            if M is None:
                H += symmetrized(terms[i].toarray())
            elif d is not None and sp.issparse(M):
                grouped_gram(M, d, H)
            elif d is not None:  # diag(d): the rows of M scaled by sqrt|d|
                keep = np.flatnonzero(d)
                rows.append(np.sqrt(np.abs(d[keep]))[:, None] * M[keep])
                signs.append(np.sign(d[keep]))
            else:
                R, s = signed_roots(terms[i])
                rows.append(np.asarray(R @ M, dtype))
                signs.append(s)
        if i < max(terms):
            M = _forward_times(jacobians[i].tocsr(), M)
            stored = M.nnz if sp.issparse(M) else M.size
            trace.append(HessianStep(i, repr(chain.layers[i]), "pull", i, "input", M.shape, stored))
    if rows:
        R, signs = np.vstack(rows), np.concatenate(signs)
        H += _signed_gram(R[signs > 0]) - _signed_gram(R[signs < 0])
    # every block added is exactly symmetric (and equal entries are summed in the same
    # order), so H is: no final symmetrization
    return Hessian(as_csr(H, symmetrize=False), ["input"], {"input": n}, trace)


def _signed_gram(R):
    """``R^T R`` as a full symmetric array, by BLAS ``syrk`` (half of ``gemm``'s work) on
    one triangle, mirrored."""
    if not R.size:
        return 0.0
    syrk = blas.dsyrk if R.dtype == np.float64 else blas.ssyrk
    upper = syrk(1.0, R.T, trans=0)
    return upper + np.triu(upper, 1).T
