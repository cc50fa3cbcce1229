"""Square-root rows pushed back: diagonal Hessian blocks and GGN rows without the cross blocks.

A symmetric term ``T`` is written as signed square-root rows, ``T = R^T diag(s) R`` with
``s = +-1`` (:func:`signed_roots`). Pushed back through the Jacobians below it, a term of
layer ``l`` over its input ``h_{l-1}`` adds ``(R P)^T diag(s) (R P)`` to the Hessian block of
every variable, ``P = d vec(h_{l-1}) / d vec(theta)``. For the *diagonal* block of a
parameter ``theta`` of layer ``i`` only the input-input terms of the layers above ``i``
reach it (a parameter of a higher layer does not depend on ``theta``), plus layer ``i``'s
own ``(theta, theta)`` term:

    H_theta,theta = sum_{l > i} (R_l P_l)^T diag(s_l) (R_l P_l) + T_i^{theta theta}

so :func:`hessian_blocks` walks the chain once from the output, carrying every term's
rows (as :meth:`Chain.backward` carries cotangent rows, with the same kernels) and forms
each block as a Gram matrix of its rows: the cross blocks are never formed. The GGN is the
same walk with the loss's rows only (:func:`pushed_rows`). Index conventions:
:mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jacobian_cnn._arguments import check_size
from jacobian_cnn._sparse.products import times
from jacobian_cnn.chain import _layer_jacobian
from jacobian_cnn.second_order.assembly import symmetrized
from jacobian_cnn.second_order.backward import scalar_output
from jacobian_cnn.second_order.terms import _LINEAR, _bilinear_parameter, hessian_term
from jacobian_cnn.second_order.variables import variables

__all__ = ["hessian_blocks", "pushed_rows", "signed_roots"]


def signed_roots(T):
    """``(R, s)`` with ``T = R^T diag(s) R`` and ``s = +-1``, dropping zero directions.

    A diagonal ``T = diag(d)`` gives the unit rows scaled by ``sqrt(|d_i|)`` (``s_i =
    sign(d_i)``); any other symmetric ``T = V diag(w) V^T`` (a loss's or softmax's block)
    the rows ``sqrt(|w|) V^T``.

    Examples
    --------
    >>> import numpy as np
    >>> R, s = signed_roots(np.array([[2., 1.], [1., 2.]]))
    >>> bool(np.allclose(R.T @ (s[:, None] * R), [[2, 1], [1, 2]]))
    True
    """
    T = T if isinstance(T, sp.csr_array) else sp.csr_array(T)
    n = T.shape[0]
    if T.nnz == n and np.array_equal(T.indices, np.arange(n)):
        d = T.data
        keep = np.flatnonzero(d)
        rows = np.zeros((keep.size, n), d.dtype)
        rows[np.arange(keep.size), keep] = np.sqrt(np.abs(d[keep]))
        return rows, np.sign(d[keep])
    weights, vectors = np.linalg.eigh(T.toarray())
    keep = weights != 0
    return np.sqrt(np.abs(weights[keep]))[:, None] * vectors.T[keep], np.sign(weights[keep])


def _input_term(layer):
    """Whether ``layer`` can have an input-input term (smooth layers and losses)."""
    return not isinstance(layer, _LINEAR) and _bilinear_parameter(layer) is None


def _own_term(layer, params):
    """Whether ``layer`` (with these ``params``) can have a parameter-parameter term: none
    of this package's layers has one (linear and bilinear layers have none; smooth layers
    have no parameters)."""
    return bool(params) and _input_term(layer)


def _gram(G, signs):
    """``G^T diag(signs) G`` as a dense array."""
    G = G.toarray() if sp.issparse(G) else np.asarray(G)
    return G.T @ (signs[:, None] * G)


def as_csr(block, *, symmetrize=True):
    """A dense symmetric block as a ``csr_array`` (its nonzeros, row by row), made exactly
    symmetric unless ``symmetrize=False`` says it is; the arrays are written directly
    (scipy's own conversion goes through COO)."""
    block = symmetrized(block) if symmetrize else block
    (m, n), mask = block.shape, block != 0
    index = np.int32 if block.size < 2**31 else np.int64
    if mask.all():  # every entry stored (a dense Hessian)
        indices = np.tile(np.arange(n, dtype=index), m)
        return sp.csr_array((block.ravel(), indices, np.arange(0, m * n + 1, n, dtype=index)),
                            shape=block.shape)
    indptr = np.zeros(m + 1, index)
    np.cumsum(np.count_nonzero(mask, axis=1), out=indptr[1:])
    indices = np.nonzero(mask)[1].astype(index, copy=False)
    return sp.csr_array((block[mask], indices, indptr), shape=block.shape)


def pushed_rows(layers, records, rows, keys, first, *, max_bytes=None):
    """``{key: rows @ d vec(output) / d key}``: dense ``rows`` over the output of
    ``layers`` pushed back with each layer's explicit Jacobian (the kernels of
    :meth:`Chain.backward`), for the keys ``(first + i, name)`` and ``"input"``; no
    trace, and no product below the lowest key."""
    out = {}
    lowest = min((0 if key == "input" else key[0] - first for key in keys), default=0)
    for i in reversed(range(lowest, len(layers))):
        layer, (x_in, cache) = layers[i], records[i]
        for name in layer.params:
            if (first + i, name) in keys:
                J = _layer_jacobian(layer, x_in, name, cache, max_bytes)
                out[first + i, name] = np.asarray(times(rows, J))
        if i > 0 or "input" in keys:
            check_size(rows.shape[0], rows.shape[0] * np.size(x_in), 8, max_bytes, f"rows at layer {i}")
            rows = np.asarray(times(rows, _layer_jacobian(layer, x_in, "input", cache, max_bytes)))
    if "input" in keys:
        out["input"] = rows
    return out


def hessian_blocks(chain, x, wrt="params", *, max_bytes=None):
    """The diagonal blocks of the exact Hessian, ``{variable: csr_array}``, from one walk
    carrying every layer's square-root rows (see the module docstring).

    Equal to ``network_hessian(chain, x, wrt).block(key)`` for each key, without the
    cross blocks between variables.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> from jacobian_cnn.second_order import network_hessian
    >>> net = jc.Chain([jc.Dense(np.eye(2), [0., 0.]), jc.Tanh(), jc.MSELoss(np.zeros(2))])
    >>> x = np.array([0.5, -1.0])
    >>> blocks = hessian_blocks(net, x)
    >>> full = network_hessian(net, x, "params")
    >>> bool(np.allclose(blocks[(0, "weight")].toarray(), full.block((0, "weight")).toarray()))
    True
    """
    keys = variables(chain, wrt)
    records, y = chain.activations(x)
    scalar_output(y)
    dtype = np.result_type(y.dtype, np.float32)
    g = np.ones((1, 1), dtype)
    rows, signs = np.zeros((0, 1), dtype), np.zeros(0, dtype)
    blocks = {}
    lowest = min(0 if key == "input" else key[0] for key in keys)
    for i in reversed(range(lowest, len(chain.layers))):
        layer, (x_in, cache) = chain.layers[i], records[i]
        params = layer.params  # (a new dict on each access)
        for name, value in params.items():
            if (i, name) in keys:
                G = (times(rows, _layer_jacobian(layer, x_in, name, cache, max_bytes)) if len(rows)
                     else np.zeros((0, np.size(value)), dtype))
                block = _gram(G, signs)
                if _own_term(layer, params):
                    block = block + hessian_term(layer, x_in, g[0], wrt=(name, name),
                                                 max_bytes=max_bytes).toarray()
                blocks[i, name] = as_csr(block)
        if i == lowest and "input" not in keys:
            break
        J = _layer_jacobian(layer, x_in, "input", cache, max_bytes)
        check_size(rows.shape[0] + 1, (rows.shape[0] + 1) * np.size(x_in), 8, max_bytes,
                   f"rows at layer {i}")
        both = np.asarray(times(np.vstack([rows, g]), J))  # the rows and the gradient row at once
        T = hessian_term(layer, x_in, g[0], max_bytes=max_bytes) if _input_term(layer) else None
        rows, g = both[:-1], both[-1:]
        if T is not None and T.nnz:
            R, s = signed_roots(T)
            rows, signs = np.vstack([rows, R.astype(dtype, copy=False)]), np.concatenate([signs, s])
    if "input" in keys:
        blocks["input"] = as_csr(_gram(rows, signs))
    return {key: blocks[key] for key in keys}
