"""The second-order terms of the branch layers :class:`~jacobian_cnn.Add`,
:class:`~jacobian_cnn.Residual` and :class:`~jacobian_cnn.Concat`.

A branch layer is ``y = join(f_1(x), ..., f_B(x))`` with each path ``f_b`` a chain. For a
cotangent row ``g`` over ``vec(y)`` the term is the Hessian of the scalar ``g . vec(y)``
with respect to the input and the paths' parameters; the join is linear, so

    g . vec(y) = sum_b g_b . vec(f_b(x)),

with ``g_b = g`` for a sum and ``g_b`` the entries of ``g`` at path ``b``'s outputs for a
concatenation. Each path's part is the Hessian of the chain ``f_b`` followed by the linear
"loss" ``h -> g_b . vec(h)`` (:class:`Contraction`), computed by the network machinery itself
(:func:`~jacobian_cnn.second_order.hessian.network_hessian`, recursively through nested
branches). The input-input term sums the paths' input blocks; the blocks between the input
and a path's parameters, and between two parameters of one path, are that path's blocks;
parameters of different paths have no cross term (each enters only its own path).
An identity path (``None``) is linear: no term.

The loop definition (:func:`reference_branch_term`) accumulates the same Hessian forward
and densely, ``H = sum_l P_l^T T_l P_l`` with ``P_l = d (h_{l-1}, theta_l) / d (variables)``
grown layer by layer from the inner layers' *loop* terms and readable Jacobians.
Index conventions: :mod:`jacobian_cnn.vec`.

Examples
--------
``y = x + (x * x)`` is not a layer here, but ``y = x + tanh(x)`` is a residual block:
its term is the diagonal ``g_k tanh''(x_k)``.

>>> import numpy as np
>>> import jacobian_cnn as jc
>>> from jacobian_cnn.second_order import hessian_term
>>> block = jc.Residual([jc.Tanh()])
>>> x, g = np.array([0.5, -1.0]), np.array([1.0, 2.0])
>>> T = hessian_term(block, x, g).toarray()
>>> bool(np.allclose(np.diag(T), g * -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)))
True
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jacobian_cnn.chain import Chain
from jacobian_cnn.ops.branches import Concat
from jacobian_cnn.ops.layer import Layer
from jacobian_cnn.vec import vec

__all__ = ["Contraction", "branch_term", "reference_branch_term"]


class Contraction(Layer):
    """The linear scalar ``y = g . vec(x)``: Jacobian the row ``g``, no second-order term.

    Examples
    --------
    >>> import numpy as np
    >>> c = Contraction([1.0, 10.0])
    >>> float(c.forward(np.array([2.0, 3.0]))), c.jacobian(np.zeros(2)).toarray()
    (32.0, array([[ 1., 10.]]))
    """

    def __init__(self, g):
        self.g = np.asarray(g, dtype=np.result_type(np.asarray(g).dtype, np.float32)).reshape(-1)

    def __repr__(self):
        return f"Contraction(g of {self.g.size})"

    def forward(self, x):
        return np.asarray(vec(np.asarray(x)) @ self.g)

    def jacobian(self, x, wrt="input", *, cache=None, max_bytes=None):
        self._check_wrt(wrt)
        return sp.csr_array(self.g[None, :])

    reference_jacobian = jacobian


def _path_cotangents(layer, x, g):
    """``[(path index, path, g_b)]`` for every non-identity path: ``g`` for a sum; for a
    concatenation the entries of ``g`` at the path's outputs, found by concatenating
    (``Concat.forward``) outputs that hold their own positions in the paths' joint vec."""
    outputs = [np.asarray(x) if p is None else np.asarray(p.forward(x)) for p in layer.paths]
    parts = [g] * len(outputs)
    if isinstance(layer, Concat):
        bounds = np.cumsum([0] + [o.size for o in outputs])
        labels = [np.arange(lo, hi).reshape(o.shape, order="F")
                  for lo, hi, o in zip(bounds[:-1], bounds[1:], outputs, strict=True)]
        by_label = np.empty_like(g)
        by_label[vec(Concat(*(_Fixed(a) for a in labels)).forward(x)).astype(np.int64)] = g
        parts = [by_label[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    return [(k, path, parts[k]) for k, path in enumerate(layer.paths) if path is not None]


class _Fixed(Layer):
    """A layer whose output is a fixed array (only its ``forward`` is used)."""

    def __init__(self, value):
        self.value = value

    def forward(self, x):
        return self.value


def _names(layer, k, path):
    """``{(layer index, name) in the path: the branch's parameter name}``."""
    prefix = layer.path_names[k]
    return {(i, p): f"{prefix}.{i}.{p}" for i, inner in enumerate(path.layers) for p in inner.params}


def _blocks(layer, x, g, hessian_of, wanted):
    """``{(a, b): block}`` over the branch's variables in ``wanted``, summed over the paths."""
    blocks = {}
    for k, path, g_k in _path_cotangents(layer, x, g):
        names = {key: name for key, name in _names(layer, k, path).items() if name in wanted}
        H, keys = hessian_of(Chain([*path.layers, Contraction(g_k)]), x, ["input", *names])
        rename = {"input": "input", **names}
        for a in keys:
            for b in keys:
                pair = (rename[a], rename[b])
                part = sp.csr_array(H(a, b))
                blocks[pair] = part if pair not in blocks else sp.csr_array(blocks[pair] + part)
    return blocks


_LAST = {}
"""One remembered result per route (fast, loop): the backward walk asks for each pair of one
layer's variables in turn, and every pair comes out of the same path Hessians. The walk asks
for ``(input, input)`` first: the fast route then computes the input block alone (an input
Hessian needs no parameter blocks), and everything at the first question about a parameter."""


def _fingerprint(layer, x, g):
    """Everything the term depends on: the layer's whole state (its paths' parameters,
    modes, statistics, ...), ``x`` and ``g``."""
    return (id(layer), _state(layer), np.shape(x), np.asarray(x).tobytes(), g.tobytes())


def _state(value):
    """A comparable snapshot of a layer, a chain or a value inside one, recursively."""
    if isinstance(value, np.ndarray):
        return (value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, (list, tuple)):
        return tuple(_state(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _state(v)) for k, v in value.items())
    if hasattr(value, "__dict__"):
        return (type(value).__name__, _state(vars(value)))
    return repr(value)


def branch_term(layer, x, g, a, b, *, max_bytes=None):
    """The ``(a, b)`` term of a branch layer (``a``, ``b`` checked names), fast."""
    from jacobian_cnn.second_order.hessian import network_hessian  # recursive: imported on use

    def hessian_of(chain, h, keys):
        result = network_hessian(chain, h, keys, max_bytes=max_bytes)
        return result.block, result.variables
    return _picked(layer, x, g, a, b, hessian_of, ("fast", max_bytes))


def reference_branch_term(layer, x, g, a, b):
    """The ``(a, b)`` term from the forward, dense accumulation of the loop terms."""
    return _picked(layer, x, g, a, b, _forward_hessian, ("loop",))


def _picked(layer, x, g, a, b, hessian_of, how):
    """Block ``(a, b)`` of the remembered blocks, computed first if ``layer, x, g`` are new."""
    key = _fingerprint(layer, x, g)
    fresh = how not in _LAST or _LAST[how][0] != key
    if fresh or not {a, b} <= _LAST[how][3]:
        wanted = ({"input"} if fresh and a == b == "input" and how[0] == "fast"
                  else {"input", *layer.params})
        # the layer is kept so that its id is not reused while remembered
        _LAST[how] = (key, layer, _blocks(layer, x, g, hessian_of, wanted), wanted)
    blocks = _LAST[how][2]
    if (a, b) in blocks:
        return sp.csr_array(blocks[a, b])
    sizes = {"input": np.size(x), **{name: np.size(p) for name, p in layer.params.items()}}
    return sp.csr_array((sizes[a], sizes[b]), dtype=g.dtype)


def _forward_hessian(chain, x, keys):
    """``H = sum_l P_l^T T_l P_l`` accumulated forwards with dense ``P``: the readable route."""
    from jacobian_cnn.second_order.terms import reference_hessian_term

    sizes = {k: np.size(x) if k == "input" else np.size(chain[k[0]].params[k[1]]) for k in keys}
    offsets = dict(zip(keys, np.cumsum([0] + [sizes[k] for k in keys]).tolist(), strict=False))
    total = sum(sizes.values())
    inputs = [np.asarray(x)]
    for layer in chain.layers:
        inputs.append(np.asarray(layer.forward(inputs[-1])))
    rows = [np.ones((1, 1))]             # g_l, from the scalar output back
    for layer, h in zip(reversed(chain.layers), reversed(inputs[:-1]), strict=True):
        rows.insert(0, rows[0] @ _dense_jacobian(layer, h, "input"))
    P = np.eye(np.size(x), total)        # d vec(h_0) / d (variables)
    H = np.zeros((total, total))
    for i, layer in enumerate(chain.layers):
        h, g = inputs[i], rows[i + 1][0]
        moving = {"input": P}
        for name in layer.params:        # d vec(theta) / d (variables): a selection
            moving[name] = np.zeros((sizes[i, name], total))
            moving[name][:, offsets[i, name]:offsets[i, name] + sizes[i, name]] = np.eye(sizes[i, name])
        for p in moving:
            for q in moving:
                T = reference_hessian_term(layer, h, g, wrt=(p, q)).toarray()
                H += moving[p].T @ T @ moving[q]
        P = sum(_dense_jacobian(layer, h, w) @ moving[w] for w in moving)

    def block(a, b):
        return H[offsets[a]:offsets[a] + sizes[a], offsets[b]:offsets[b] + sizes[b]]
    return block, keys


def _dense_jacobian(layer, h, wrt):
    return getattr(layer, "reference_jacobian", layer.jacobian)(h, wrt).toarray()
