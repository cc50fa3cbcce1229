"""Hessian-vector products by the chain rule, without forming the Hessian.

For a direction ``v`` over the chosen variables, the forward pass carries the tangent
``t_l = J_l^x t_{l-1} + sum_P J_l^P v_P`` of every layer output, and the backward pass
carries, next to the gradient row ``g_l``, its derivative along ``v``:

    u_{l-1} = u_l J_l^x + (T_l^{xx} t_{l-1} + sum_P T_l^{xP} v_P)^T
    u_P     = u_l J_l^P + (T_l^{Px} t_{l-1} + sum_Q T_l^{PQ} v_Q)^T

with the layer terms ``T_l`` of :mod:`jacobian_cnn.second_order.terms` built from ``g_l``
(Pearlmutter's R-operator, written with explicit Jacobians). Then ``H v`` is ``u`` over the
chosen variables: the same numbers as ``network_hessian(...).matrix @ v`` up to the order
of the sums, with no matrix larger than a layer's Jacobian or term. Index conventions:
:mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._arguments import float_array
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.second_order.backward import scalar_output
from jacobian_cnn.second_order.terms import hessian_term
from jacobian_cnn.second_order.variables import variable_sizes, variables

__all__ = ["hessian_vector_product"]


def _split(v, keys, sizes):
    v = float_array(v, "v")
    total = sum(sizes.values())
    if v.shape != (total,):
        raise InvalidValueError(f"v must be a vector over the {total} entries of {keys}; "
                                f"got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise InvalidValueError("v contains NaN or inf; v must be finite")
    bounds = np.cumsum([0] + [sizes[k] for k in keys])
    return {k: v[bounds[i]:bounds[i + 1]] for i, k in enumerate(keys)}


def hessian_vector_product(chain, x, v, wrt="input", *, max_bytes=None):
    """``H v`` for the Hessian of ``chain``'s scalar output over the variables ``wrt``.

    Parameters
    ----------
    chain : Chain
        Ending in a loss.
    x : array_like
    v : array_like
        A vector over the concatenated ``vec`` of the variables (in the order of
        :func:`~jacobian_cnn.second_order.variables.variables`).
    wrt : str, pair or list
        As for :func:`~jacobian_cnn.second_order.hessian.network_hessian`.
    max_bytes : int, optional
        Limit on each layer Jacobian and term.

    Returns
    -------
    numpy.ndarray
        ``H v``, shaped like ``v``.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> net = jc.Chain([jc.AvgPool2D(2, stride=1), jc.Flatten(), jc.MSELoss(np.zeros(4))])
    >>> v = np.zeros(9); v[4] = 1.0              # the centre pixel feeds all four outputs
    >>> hessian_vector_product(net, np.zeros((3, 3)), v) * 32
    array([1., 2., 1., 2., 4., 2., 1., 2., 1.])
    """
    keys = variables(chain, wrt)
    sizes = variable_sizes(chain, x, keys)
    records, y = chain.activations(x)
    scalar_output(y)
    dtype = np.result_type(y.dtype, np.float32)  # the precision of the forward pass
    direction = {k: d.astype(dtype, copy=False) for k, d in _split(v, keys, sizes).items()}
    tangent = direction.get("input", np.zeros(np.size(x), dtype))
    tangents, jacobians = [], []
    for i, (layer, (x_in, cache)) in enumerate(zip(chain.layers, records, strict=True)):
        J = {w: layer.jacobian(x_in, wrt=w, cache=cache, max_bytes=max_bytes)
             for w in ["input", *layer.params] if w == "input" or (i, w) in keys}
        tangents.append(tangent)
        jacobians.append(J)
        tangent = J["input"] @ tangent + sum((J[w] @ direction[i, w] for w in J if w != "input"),
                                             np.zeros(J["input"].shape[0], dtype))
    g = np.ones(1, dtype)
    u = np.zeros(1, dtype)
    out = {}
    for i in reversed(range(len(chain.layers))):
        layer, (x_in, _), J = chain.layers[i], records[i], jacobians[i]
        moving = {"input": tangents[i], **{w: direction[i, w] for w in J if w != "input"}}
        for a in J:
            second = sum((hessian_term(layer, x_in, g, wrt=(a, b), max_bytes=max_bytes) @ moving[b]
                          for b in J), np.zeros(J[a].shape[1], dtype))
            out["input" if a == "input" else (i, a)] = u @ J[a] + second
        u, g = out.pop("input"), g @ J["input"]
    out["input"] = u
    return np.concatenate([out[k] for k in keys])
