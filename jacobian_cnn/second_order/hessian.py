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

from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.second_order.assembly import assemble, product_diagonal
from jacobian_cnn.second_order.backward import HessianTrace, backward_terms, guard
from jacobian_cnn.second_order.variables import variable_sizes, variables

__all__ = ["Hessian", "network_hessian", "hessian_diagonal"]


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


def hessian_diagonal(chain, x, wrt="params", *, max_bytes=None):
    """The diagonal of :func:`network_hessian`, ``{variable: vec of the diagonal}``, without
    forming any block: ``sum_l`` of the diagonals of ``P_l^T T_l P_l``.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> net = jc.Chain([jc.Dense(np.eye(2)), jc.Tanh(), jc.MSELoss(np.zeros(2))])
    >>> d = hessian_diagonal(net, np.array([0.5, -1.0]))
    >>> full = network_hessian(net, np.array([0.5, -1.0]), "params").matrix.diagonal()
    >>> bool(np.allclose(np.concatenate(list(d.values())), full, rtol=1e-14))
    True
    """
    keys = variables(chain, wrt)
    sizes = variable_sizes(chain, x, keys)
    terms, _ = backward_terms(chain, x, keys, max_bytes=max_bytes)
    dtype = np.result_type(np.asarray(x).dtype, np.float32)
    diagonal = {key: np.zeros(sizes[key], dtype) for key in keys}
    for term in terms:
        for (s, t), T in term.blocks.items():
            for key in keys:
                if key in term.slots[s] and key in term.slots[t]:
                    diagonal[key] += product_diagonal(term.slots[s][key], T, term.slots[t][key])
    return diagonal
