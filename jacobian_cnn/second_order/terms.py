"""Each layer's second-order term: ``sum_k g_k d^2 vec(y)_k / d vec(a) d vec(b)^T``.

For a layer ``y = f(x, theta)`` and a cotangent row ``g`` over ``vec(y)`` (the gradient
of a scalar ``L`` with respect to ``vec(y)``), the term of the variables ``a`` and ``b``
(``"input"`` or parameter names) is the ``(a.size, b.size)`` matrix

    T_ab[i, j] = sum_k g_k d^2 vec(y)_k / d vec(a)_i d vec(b)_j,

the part of ``d^2 L / d vec(a) d vec(b)^T`` that the layer adds to ``J_a^T H_y J_b``
(:mod:`jacobian_cnn.second_order.hessian`). Index conventions: :mod:`jacobian_cnn.vec`.

What each layer contributes:

* linear maps in one variable (pooling, flatten, biases, a kernel or a weight alone),
  ReLU and max pooling (piecewise linear, second derivative 0 wherever it exists):
  an empty matrix;
* sigmoid and tanh: the diagonal ``g_k f''(x_k)``;
* convolution and dense layers (bilinear in input and kernel/weight): the cross block
  ``T[i, j] = sum of g_k over the outputs k where x_i multiplies K_j``; the transposed
  block for ``(kernel, input)``;
* softmax: one dense block per sample,
  ``delta_ij s_i (g_i - gbar) - s_i s_j (g_i + g_j - 2 gbar)`` with ``gbar = g . s``;
* softmax cross-entropy: ``g_0 (diag(s) - s s^T) / N`` per sample; MSE: ``g_0 (2/n) I``.

Each fast term (``_fast_*``) has a readable loop definition next to it (``_loop_*``),
straight from the derivative's definition; :func:`reference_hessian_term` evaluates
those, and the tests hold the fast terms to them.

Examples
--------
>>> import numpy as np
>>> import jacobian_cnn as jc
>>> from jacobian_cnn.second_order import hessian_term
>>> conv = jc.Conv2D(np.ones((1, 2)))                 # y = x[:, :-1] + x[:, 1:]
>>> x = np.arange(3.).reshape(1, 3)
>>> hessian_term(conv, x, np.array([1., 10.]), wrt=("input", "kernel")).toarray()
array([[ 1.,  0.],
       [10.,  1.],
       [ 0., 10.]])
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jacobian_cnn._arguments import check_size, float_array
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops.activations import ReLU, Sigmoid, Softmax, Tanh, softmax
from jacobian_cnn.ops.conv import Conv2D
from jacobian_cnn.ops.dense import Dense
from jacobian_cnn.ops.losses import MSELoss, SoftmaxCrossEntropy
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D
from jacobian_cnn.ops.reshape import Flatten
from jacobian_cnn.vec import vec

__all__ = ["hessian_term", "reference_hessian_term", "has_second_order_term"]

_LINEAR = (AvgPool2D, MaxPool2D, Flatten, ReLU)
_BILINEAR = {Conv2D: "kernel", Dense: "weight"}  # the parameter multiplying the input


def _sizes(layer, x):
    return {"input": np.size(x), **{name: np.size(p) for name, p in layer.params.items()}}


def _checked(layer, x, g, wrt):
    """``(x, g, (a, b), sizes)`` after checking ``wrt`` and ``g`` against the layer."""
    if not isinstance(wrt, tuple) or len(wrt) != 2:
        raise InvalidValueError(f"wrt must be a pair of variable names (a, b), got {wrt!r}")
    x = float_array(x, "x")
    a, b = (layer._check_wrt(name) for name in wrt)
    y = np.asarray(layer.forward(x))
    g = float_array(g, "g").astype(np.result_type(x.dtype, np.float32), copy=False)
    if g.size != y.size or g.ndim > 2 or (g.ndim == 2 and g.shape[0] != 1):
        raise InvalidValueError(f"g must be one row over vec(y), (y.size,) = ({y.size},) or "
                                f"(1, {y.size}); got shape {g.shape}")
    if not np.all(np.isfinite(g)):
        raise InvalidValueError("g contains NaN or inf; g must be finite")
    return x, g.reshape(-1), (a, b), _sizes(layer, x)


def has_second_order_term(layer):
    """Whether :func:`hessian_term` knows ``layer`` (else it raises ``NotImplementedError``)."""
    return isinstance(layer, (*_LINEAR, *_BILINEAR, Sigmoid, Tanh, Softmax, MSELoss,
                              SoftmaxCrossEntropy))


def hessian_term(layer, x, g, wrt=("input", "input"), *, max_bytes=None):
    """``sum_k g_k d^2 vec(y)_k / d vec(a) d vec(b)^T`` as a ``csr_array`` (fast path).

    Parameters
    ----------
    layer : Layer
        One of this package's layers or losses.
    x : array_like
        The layer's input.
    g : array_like
        One row over ``vec(y)`` (``(y.size,)`` or ``(1, y.size)``), real and finite.
    wrt : (str, str)
        ``"input"`` or parameter names of ``layer``.
    max_bytes : int, optional
        Size limit (:mod:`jacobian_cnn.vec`), checked before the term is built.

    Returns
    -------
    scipy.sparse.csr_array
        Shape ``(a.size, b.size)``; canonical, with every structural nonzero stored
        (also where ``g`` makes it 0).
    """
    return _term(layer, x, g, wrt, max_bytes, fast=True)


def reference_hessian_term(layer, x, g, wrt=("input", "input")):
    """:func:`hessian_term` from the readable loop definitions (slow; for tests and reading)."""
    return _term(layer, x, g, wrt, None, fast=False)


def _term(layer, x, g, wrt, max_bytes, *, fast):
    if not has_second_order_term(layer):
        raise NotImplementedError(f"no second-order term for {layer!r} yet")
    x, g, (a, b), sizes = _checked(layer, x, g, wrt)
    shape, dtype = (sizes[a], sizes[b]), g.dtype
    pair = {a, b}
    if type(layer) in _BILINEAR and pair == {"input", _BILINEAR[type(layer)]}:
        check_size(sizes["input"], _bilinear_nnz(layer, x), dtype.itemsize, max_bytes,
                   f"{type(layer).__name__} cross term")
        block = (_fast_bilinear if fast else _loop_bilinear)(layer, x, g)  # (input, param)
        return sp.csr_array(block if a == "input" else block.T)
    if a != "input" or b != "input" or isinstance(layer, _LINEAR) or type(layer) in _BILINEAR:
        return sp.csr_array(shape, dtype=dtype)
    n = sizes["input"]
    per_row = x.shape[0] if isinstance(layer, (Softmax, SoftmaxCrossEntropy)) else 1
    check_size(n, n * per_row, dtype.itemsize, max_bytes,
               f"{type(layer).__name__} second-order term")
    kind = "fast" if fast else "loop"
    for cls, name in ((Sigmoid, "sigmoid"), (Tanh, "tanh"), (Softmax, "softmax"),
                      (SoftmaxCrossEntropy, "cross_entropy"), (MSELoss, "mse")):
        if isinstance(layer, cls):
            return sp.csr_array(globals()[f"_{kind}_{name}"](layer, x, g).astype(dtype))
    raise AssertionError(layer)  # pragma: no cover (has_second_order_term covers the rest)


# ---------------------------------------------------------------- bilinear: conv, dense

def _bilinear_nnz(layer, x):
    """Stored entries of the parameter Jacobian: an upper bound of the cross term's."""
    return layer._jacobian_parts(x, _BILINEAR[type(layer)]).data.size


def _loop_bilinear(layer, x, g):
    """``T[i, j] = sum_k g_k d^2 y_k / dx_i dP_j``: the input Jacobian's definition lists
    an entry ``(k, i, (P, j))`` for every product ``P_j x_i`` in ``y_k``, so each adds ``g_k``."""
    definition = layer._definition(x, "input", None)
    sums = {}
    for row, col, (kind, *index) in definition.entries:
        if kind != _BILINEAR[type(layer)]:
            continue
        key = (int(col), int(index[0]))
        sums[key] = sums.get(key, 0.0) + g[row]
    keys = sorted(sums)
    shape = (np.size(x), np.size(layer.params[_BILINEAR[type(layer)]]))
    return sp.coo_array(([sums[k] for k in keys], ([k[0] for k in keys], [k[1] for k in keys])),
                        shape=shape, dtype=g.dtype).tocsr()


def _fast_bilinear(layer, x, g):
    """The parameter Jacobian at ``x = 1, 2, ..., n`` stores, in each entry ``(k, j)``,
    ``1 +`` the vec index ``i`` of the input that ``P_j`` multiplies in ``y_k``."""
    positions = np.arange(1, x.size + 1, dtype=np.float64).reshape(x.shape, order="F")
    J = layer._jacobian_parts(positions, _BILINEAR[type(layer)]).tocsr().tocoo()
    inputs = J.data.astype(np.int64) - 1
    shape = (x.size, J.shape[1])
    return sp.coo_array((g[J.row], (inputs, J.col)), shape=shape).tocsr()


# ---------------------------------------------------------------- elementwise

def _second_derivative(layer, x):
    if isinstance(layer, Sigmoid):
        s = layer.forward(x)
        return s * (1 - s) * (1 - 2 * s)
    t = np.tanh(x)
    return -2 * t * (1 - t * t)


def _diagonal(values):
    """A diagonal ``csr_array`` storing every diagonal entry (also the zeros)."""
    index = np.arange(values.size + 1)
    return sp.csr_array((values, index[:-1], index), shape=(values.size, values.size))


def _fast_elementwise(layer, x, g):
    return _diagonal(g * vec(_second_derivative(layer, x)))


def _loop_elementwise(layer, x, g, f2):
    values = vec(x)
    diagonal = [g[k] * f2(values[k]) for k in range(values.size)]
    return _diagonal(np.array(diagonal, dtype=g.dtype))


_fast_sigmoid = _fast_tanh = _fast_elementwise


def _loop_sigmoid(layer, x, g):
    """``d^2/dx^2 sigma(x) = sigma (1 - sigma) (1 - 2 sigma)``."""
    def f2(v):
        s = 1 / (1 + np.exp(-v))
        return s * (1 - s) * (1 - 2 * s)
    return _loop_elementwise(layer, x, g, f2)


def _loop_tanh(layer, x, g):
    """``d^2/dx^2 tanh(x) = -2 tanh(x) (1 - tanh(x)^2)``."""
    return _loop_elementwise(layer, x, g, lambda v: -2 * np.tanh(v) * (1 - np.tanh(v) ** 2))


# ---------------------------------------------------------------- softmax and losses

def _sample_blocks(blocks):
    """A block-diagonal ``csr_array`` of ``(N, n, n)`` dense blocks (every entry stored)."""
    n_samples, n, _ = blocks.shape
    rows = np.repeat(np.arange(n_samples * n), n)
    cols = (np.arange(n)[None, None, :] + n * np.arange(n_samples)[:, None, None]
            + np.zeros((1, n, 1), np.int64)).reshape(-1)
    size = n_samples * n
    return sp.csr_array((blocks.reshape(-1), (rows, cols)), shape=(size, size))


def _fast_softmax(layer, x, g):
    s = softmax(layer._check(x)).reshape(x.shape[0], -1).T      # (N, n)
    g = g.reshape(s.shape)
    gbar = np.sum(g * s, axis=1, keepdims=True)
    blocks = -s[:, :, None] * s[:, None, :] * (g[:, :, None] + g[:, None, :] - 2 * gbar[:, :, None])
    idx = np.arange(s.shape[1])
    blocks[:, idx, idx] += s * (g - gbar)
    return _sample_blocks(blocks)


def _loop_softmax(layer, x, g):
    """``sum_k g_k d^2 s_k / dz_i dz_j`` with ``d^2 s_k / dz_i dz_j =
    s_k (delta_ki - s_i)(delta_kj - s_j) - s_k s_i (delta_ij - s_j)``, per sample."""
    z = layer._check(x)
    n = z.shape[0]
    s = vec(softmax(z))
    blocks = np.zeros((z.size // n, n, n), g.dtype)
    for sample, block in enumerate(blocks):
        first = sample * n
        for i in range(n):
            for j in range(n):
                for k in range(n):
                    si, sj, sk = s[first + i], s[first + j], s[first + k]
                    second = sk * ((k == i) - si) * ((k == j) - sj) - sk * si * ((i == j) - sj)
                    block[i, j] += g[first + k] * second
    return _sample_blocks(blocks)


def _fast_cross_entropy(layer, x, g):
    z, z2 = layer._check(x)
    s = softmax(z2).T                                             # (N, n)
    blocks = -s[:, :, None] * s[:, None, :]
    idx = np.arange(s.shape[1])
    blocks[:, idx, idx] += s
    return _sample_blocks(blocks * (g[0] / s.shape[0]))


def _loop_cross_entropy(layer, x, g):
    """``L = mean_n (logsumexp(z_n) - z_n[label])``: per sample ``(delta_ij s_i - s_i s_j) / N``."""
    z, z2 = layer._check(x)
    n, n_samples = z2.shape
    blocks = np.zeros((n_samples, n, n), g.dtype)
    for sample in range(n_samples):
        s = softmax(z2[:, sample])
        for i in range(n):
            for j in range(n):
                blocks[sample, i, j] = g[0] * ((i == j) * s[i] - s[i] * s[j]) / n_samples
    return _sample_blocks(blocks)


def _fast_mse(layer, x, g):
    n = np.size(x)
    return _diagonal(np.full(n, g[0] * (2.0 / n)))


def _loop_mse(layer, x, g):
    """``L = (1/n) sum_i (y_i - t_i)^2``: ``d^2 L / dy_i dy_j = 2 delta_ij / n``."""
    n = np.size(x)
    return _diagonal(np.array([g[0] * 2.0 / n for _ in range(n)], g.dtype))
