"""The exact Hessian of a scalar network output, composed backwards by the chain rule.

For ``L = f_L(... f_1(x))`` (a chain ending in a loss), with ``g_l = dL / d vec(h_l)``
the gradient row at the output ``h_l`` of layer ``l`` and ``J_l`` its Jacobians, the
second-order chain rule (Magnus & Neudecker, ch. 6; Dangel, Harmeling & Hennig,
AISTATS 2020, "Hessian backpropagation") reads

    H_{h_{l-1}} = J_l^T H_{h_l} J_l + sum_k (g_l)_k d^2 vec(h_l)_k / d vec(h_{l-1})^2

and likewise for the layer's parameters and their cross blocks (the bilinear terms of
:mod:`jacobian_cnn.second_order.terms`). Unrolled, the Hessian is a sum of one term per
layer, each pushed back to the variables by the Jacobians below it:

    H = sum_l P_l^T T_l P_l,    P_l = d (inputs and parameters of layer l) / d (variables)

:func:`network_hessian` computes exactly this sum: it walks the chain from the output
backwards once, builds each layer's term ``T_l`` with the gradient row arriving at it
(:func:`~jacobian_cnn.second_order.terms.hessian_term`), and multiplies every open
``P`` by each layer's explicit Jacobian, row blocks times sparse matrices, as
``Chain.jacobian`` does. It is the recursion above with the products grouped from the
rows' side (``P`` has as many rows as the layer has outputs), which is cheaper than
forming each ``H_{h_l}``. Every product is recorded in a printable trace. Index
conventions: :mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from jacobian_cnn._arguments import byte_limit, check_size
from jacobian_cnn.errors import InvalidValueError, JacobianTooLargeError
from jacobian_cnn.second_order.terms import hessian_term
from jacobian_cnn.second_order.variables import variable_sizes, variables

__all__ = ["Hessian", "HessianStep", "HessianTrace", "network_hessian", "forward_records"]


@dataclass(frozen=True)
class HessianStep:
    """One operation: a layer term built, or an open ``P`` multiplied by a Jacobian."""

    layer_index: int
    layer: str
    action: str
    term_of: int
    wrt: str
    shape: tuple
    nnz: int

    def __str__(self):
        return (f"{self.layer_index:>3}  {self.layer:<32} {self.action:<6} {self.term_of:>4}  "
                f"{self.wrt:<18} {str(self.shape):>14} {self.nnz:>9}")


class HessianTrace(list):
    """The :class:`HessianStep` list of :func:`network_hessian`; ``print`` it for a table.

    ``term`` rows: the layer's term ``T_l`` (shape and stored entries) for the pair in
    ``wrt``; ``push`` rows: the term of layer ``term_of``'s ``P`` multiplied by this layer's
    Jacobian with respect to ``wrt`` (the result's shape and stored entries).
    """

    header = (f"{'#':>3}  {'layer':<32} {'action':<6} {'term':>4}  {'wrt':<18} "
              f"{'shape':>14} {'nnz':>9}")

    def __str__(self):
        return "\n".join([self.header] + [str(step) for step in self])


@dataclass
class Hessian:
    """Result of :func:`network_hessian`.

    Attributes
    ----------
    matrix : scipy.sparse.csr_array
        Over the concatenated ``vec`` of :attr:`variables` (in that order).
    variables : list
        ``"input"`` and ``(layer index, name)`` keys.
    sizes : dict
        Each variable's size.
    trace : HessianTrace
    """

    matrix: sp.csr_array
    variables: list
    sizes: dict
    trace: HessianTrace = field(default_factory=HessianTrace)

    def block(self, a, b=None):
        """The ``(a, b)`` block (``b`` defaults to ``a``) as a ``csr_array``."""
        offsets = np.cumsum([0] + [self.sizes[k] for k in self.variables])
        where = {k: i for i, k in enumerate(self.variables)}
        b = a if b is None else b
        for key in (a, b):
            if key not in where:
                raise InvalidValueError(f"{key!r} is not a variable of this Hessian: {self.variables}")
        i, j = where[a], where[b]
        return sp.csr_array(self.matrix[offsets[i]:offsets[i + 1], offsets[j]:offsets[j + 1]])


def forward_records(chain, x):
    """``(records, y)``: each layer's ``(input, cache)`` and the output."""
    records = []
    for layer in chain.layers:
        forward = getattr(layer, "forward_with_cache", None)
        y, cache = forward(x) if forward else (layer.forward(x), None)
        records.append((x, cache))
        x = y
    return records, np.asarray(x)


def scalar_output(y):
    if np.size(y) != 1:
        raise InvalidValueError(f"a Hessian needs a scalar output (a chain ending in a loss); "
                                f"the chain's output has shape {np.shape(y)}")


def guard(total, itemsize, max_bytes, what):
    """Refuse a ``total x total`` result whose dense size exceeds the limit, up front."""
    limit = byte_limit(max_bytes)
    estimate = total * total * itemsize
    if estimate > limit:
        raise JacobianTooLargeError(
            f"{what} over {total:,} variables would need up to {estimate:,} bytes "
            f"({total:,} x {total:,} dense), over max_bytes={limit:,}; choose fewer variables "
            "(wrt=...) or pass a larger max_bytes")


def _compact(rows):
    """Rows as a dense block or as CSR, whichever takes fewer bytes."""
    k, n = rows.shape
    if sp.issparse(rows):
        return rows.toarray() if k * n * 8 <= rows.nnz * 12 else sp.csr_array(rows)
    return sp.csr_array(rows) if 2 * np.count_nonzero(rows) * 12 < k * n * 8 else rows


def _times(P, J, limit, what):
    """``P @ J`` (``P is None`` stands for the identity), size-checked first."""
    if P is None:
        return _compact(J)
    check_size(P.shape[0], P.shape[0] * J.shape[1], 8, limit, what)
    return _compact(P @ J)


def _nnz(M):
    return int(M.nnz) if sp.issparse(M) else int(np.count_nonzero(M))


class _Term:
    """A layer's term: blocks ``T[(s, t)]`` over its slots, and each slot's open ``P``."""

    def __init__(self, origin, blocks, slots):
        self.origin, self.blocks, self.slots = origin, blocks, slots


def backward_terms(chain, x, keys, *, only_loss=False, max_bytes=None, trace=None):
    """Walk the chain backwards; return the terms with their ``P`` over ``keys``."""
    limit = byte_limit(max_bytes)
    records, y = forward_records(chain, x)
    scalar_output(y)
    g = np.ones((1, 1), np.result_type(y.dtype, np.float32))
    terms = []
    last = len(chain.layers) - 1
    for i in reversed(range(len(chain.layers))):
        layer, (x_in, cache) = chain.layers[i], records[i]
        mine = [name for name in layer.params if (i, name) in keys]
        name_of = {"input": "input", **{name: (i, name) for name in mine}}
        J = {w: sp.csr_array(layer.jacobian(x_in, wrt=w, cache=cache, max_bytes=max_bytes))
             for w in name_of}
        for term in terms:  # push every open P through this layer
            for slot in term.slots.values():
                if "h" not in slot:
                    continue
                M = slot.pop("h")
                for w, key in name_of.items():
                    P = _times(M, J[w], limit, f"P of term {term.origin}")
                    slot["h" if w == "input" else key] = P
                    if trace is not None:
                        trace.append(HessianStep(i, repr(layer), "push", term.origin, w, P.shape, _nnz(P)))
        if not only_loss or i == last:
            blocks = {}
            for a in name_of:
                for b in name_of:
                    T = hessian_term(layer, x_in, g[0], wrt=(a, b), max_bytes=max_bytes)
                    if T.nnz:
                        blocks[a, b] = T
                        if trace is not None:
                            trace.append(HessianStep(i, repr(layer), "term", i, f"{a}, {b}", T.shape, T.nnz))
            if blocks:
                terms.append(_Term(i, blocks, {w: {"h" if w == "input" else key: None}
                                               for w, key in name_of.items()}))
        g = np.asarray(g @ J["input"])
    for term in terms:
        for slot in term.slots.values():
            if "h" in slot:
                M = slot.pop("h")
                if "input" in keys:
                    slot["input"] = M
    return terms, y


def _square_roots(P, T):
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


def _syrk(positive, negative, n, dtype):
    """``sum R^T R`` over ``positive`` minus over ``negative`` (BLAS ``syrk``), symmetric."""
    from scipy.linalg.blas import dsyrk, ssyrk

    syrk = ssyrk if dtype == np.float32 else dsyrk
    result = np.zeros((n, n), dtype, order="F")
    for sign, parts in ((1.0, positive), (-1.0, negative)):
        rows = np.vstack([np.zeros((0, n), dtype), *parts]).astype(dtype, copy=False)
        if rows.shape[0]:  # BLAS refuses an update by zero rows
            result = syrk(sign, rows, beta=1.0, c=result, trans=1, overwrite_c=1)
    strict_upper = np.triu(result, 1)  # syrk fills the upper triangle only
    return np.triu(result) + strict_upper.T


def _product(Pa, T, Pb):
    """``Pa^T T Pb`` with ``None`` for identities."""
    right = T if Pb is None else T @ Pb
    return right if Pa is None else Pa.T @ right


def assemble(terms, keys, sizes, dtype):
    """``sum_l P_l^T T_l P_l`` as one ``csr_array`` over the variables' concatenated vecs.

    The symmetric diagonal blocks of the terms whose ``P`` is dense (or not very sparse)
    are collected as square-root rows (:func:`_square_roots`) and summed by one BLAS
    symmetric rank-k update per variable; everything else is a sparse or dense product.
    """
    blocks, roots = {}, {key: ([], []) for key in keys}
    for term in terms:
        for (s, t), T in term.blocks.items():
            for a, Pa in term.slots[s].items():
                for b, Pb in term.slots[t].items():
                    if keys.index(a) > keys.index(b):
                        continue
                    split = _square_roots(Pa, T) if (s, a) == (t, b) else None
                    if split is not None:
                        roots[a][0].append(split[0])
                        roots[a][1].append(split[1])
                        continue
                    part = _product(Pa, T, Pb)
                    blocks[a, b] = part if (a, b) not in blocks else blocks[a, b] + part
    for key, (positive, negative) in roots.items():
        if positive or negative:
            part = _syrk(positive, negative, sizes[key], dtype)
            blocks[key, key] = part if (key, key) not in blocks else part + blocks[key, key]
    grid = [[None] * len(keys) for _ in keys]
    for (a, b), block in blocks.items():
        i, j = keys.index(a), keys.index(b)
        block = sp.csr_array(block)
        grid[i][j] = block
        if i != j:
            grid[j][i] = block.T
    for i, key in enumerate(keys):
        if grid[i][i] is None:
            grid[i][i] = sp.csr_array((sizes[key], sizes[key]), dtype=dtype)
    return sp.csr_array(sp.block_array(grid, format="csr", dtype=dtype))


def network_hessian(chain, x, wrt="input", *, max_bytes=None):
    """The exact Hessian of ``chain``'s scalar output at ``x``.

    Parameters
    ----------
    chain : Chain
        Ending in a loss (a scalar output); every layer must have a second-order term
        (:func:`~jacobian_cnn.second_order.terms.has_second_order_term`).
    x : array_like
    wrt : str, pair or list
        ``"input"``, ``"params"``, ``"all"``, ``(layer index, name)`` or a list of those
        (:func:`~jacobian_cnn.second_order.variables.variables`); the cross blocks between
        all chosen variables are included.
    max_bytes : int, optional
        The Hessian's dense size (variables squared) is checked against it before
        anything is computed; so is every layer Jacobian, term and open ``P``.

    Returns
    -------
    Hessian

    Examples
    --------
    Average pooling then MSE: ``L = mean((pool(a) - t)^2)`` is quadratic in ``a``, so its
    Hessian is ``J^T (2/4 I) J`` with the pooling Jacobian ``J``.

    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> net = jc.Chain([jc.AvgPool2D(2, stride=1), jc.Flatten(), jc.MSELoss(np.zeros(4))])
    >>> H = network_hessian(net, np.arange(9.).reshape(3, 3))
    >>> print(H.matrix.toarray()[0] * 32)
    [1. 1. 0. 1. 1. 0. 0. 0. 0.]
    """
    keys = variables(chain, wrt)
    sizes = variable_sizes(chain, x, keys)
    dtype = np.result_type(np.asarray(x).dtype, np.float32)
    guard(sum(sizes.values()), np.dtype(dtype).itemsize, max_bytes, "the Hessian")
    trace = HessianTrace()
    terms, _ = backward_terms(chain, x, keys, max_bytes=max_bytes, trace=trace)
    return Hessian(assemble(terms, keys, sizes, dtype), keys, sizes, trace)


