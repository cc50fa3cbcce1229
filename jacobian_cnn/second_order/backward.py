"""The backward walk of the second-order chain rule: one term per layer, pushed back.

Walking a chain from its scalar output to its input, :func:`backward_terms` builds at
every layer ``l`` its term ``T_l`` (:func:`~jacobian_cnn.second_order.terms.hessian_term`,
with the gradient row arriving at the layer) and multiplies the open ``P`` of every term
above by the layer's explicit Jacobians, so that at the end

    H = sum_l P_l^T T_l P_l

over the chosen variables (:mod:`jacobian_cnn.second_order.hessian`). Each step is
recorded in a :class:`HessianTrace`. Index conventions: :mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from jacobian_cnn._arguments import byte_limit, check_size
from jacobian_cnn.errors import InvalidValueError, JacobianTooLargeError
from jacobian_cnn.second_order.terms import hessian_term

__all__ = ["HessianStep", "HessianTrace", "backward_terms", "guard"]


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
    """``P @ J`` (``P is None`` stands for the identity), size-checked first; a diagonal
    ``J`` (an elementwise layer) scales ``P``'s columns."""
    if P is None:
        return _compact(J)
    check_size(P.shape[0], P.shape[0] * J.shape[1], 8, limit, what)
    if J.shape[0] == J.shape[1] and J.nnz == J.shape[0] and np.array_equal(
            J.indices, np.arange(J.shape[0])):
        if sp.issparse(P):
            P = sp.csr_array(P, copy=True)
            P.data *= J.data[P.indices]
            return _compact(P)
        return _compact(P * J.data[None, :])
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
    records, y = chain.activations(x)
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


