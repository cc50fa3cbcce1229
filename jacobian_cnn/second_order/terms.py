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
* softmax cross-entropy: ``g_0 (diag(s) - s s^T) / N`` per sample; MSE: ``g_0 (2/n) I``;
* batch/layer normalization and the branch layers: see below.

Each fast term has a readable loop definition next to it, straight from the derivative's
definition (``_fast_bilinear``/``_loop_bilinear`` here, ``fast_*``/``loop_*`` in
:mod:`~jacobian_cnn.second_order.smooth`); :func:`reference_hessian_term` evaluates the
loops, and the tests hold the fast terms to them. The N-D and transposed convolutions are
bilinear like ``Conv2D``; the 1-D/3-D pools, paddings, upsampling, adaptive pooling,
identity, dropout (a fixed mask) and leaky ReLU are (piecewise) linear; ELU, GELU and
softplus are smooth elementwise maps; log-softmax has ``-(sum_k g_k)(diag(s) - s s^T)``.
Batch normalization (training and eval) and layer normalization have an input-input block per
group and an input-gamma cross block (:mod:`~jacobian_cnn.second_order.normalization`); the
branch layers (``Residual``, ``Add``, ``Concat``) have the Hessian of ``g . vec(y)`` over the
input and their paths' parameters (:mod:`~jacobian_cnn.second_order.branches`). A layer of
another kind raises ``NotImplementedError``.

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

from jacobian_cnn._arguments import check_size, float_array, wrt_name
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops.activations import ReLU, Sigmoid, Softmax, Tanh
from jacobian_cnn.ops.activations_more import ELU, GELU, Dropout, Identity, LeakyReLU, LogSoftmax, Softplus
from jacobian_cnn.ops.branches import Add, Concat
from jacobian_cnn.ops.conv import Conv2D
from jacobian_cnn.ops.conv_nd import ConvND
from jacobian_cnn.ops.conv_transpose import ConvTransposeND
from jacobian_cnn.ops.dense import Dense
from jacobian_cnn.ops.losses import MSELoss, SoftmaxCrossEntropy
from jacobian_cnn.ops.normalization import BatchNorm2D, LayerNorm
from jacobian_cnn.ops.padding import ConstantPad2D, ReflectionPad2D, ReplicationPad2D
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D
from jacobian_cnn.ops.pooling_nd import AvgPoolND, MaxPoolND
from jacobian_cnn.ops.resample import AdaptiveAvgPool2D, Upsample
from jacobian_cnn.ops.reshape import Flatten
from jacobian_cnn.second_order.branches import Contraction, branch_term, reference_branch_term
from jacobian_cnn.second_order.normalization import normalization_term
from jacobian_cnn.second_order.smooth import SMOOTH_TERMS

__all__ = ["hessian_term", "reference_hessian_term", "has_second_order_term"]

_LINEAR = (AvgPool2D, MaxPool2D, AvgPoolND, MaxPoolND, Flatten, ReLU, LeakyReLU, Identity, Dropout,
           ConstantPad2D, ReflectionPad2D, ReplicationPad2D, Upsample, AdaptiveAvgPool2D, Contraction)
"""Linear, or piecewise linear, in the input: no second-order term."""

_BILINEAR = ((Conv2D, "kernel"), (ConvND, "kernel"), (ConvTransposeND, "kernel"), (Dense, "weight"))
"""Bilinear in the input and this parameter (the one multiplying it)."""

_SMOOTH = ((Sigmoid, "sigmoid"), (Tanh, "tanh"), (ELU, "elu"), (Softplus, "softplus"), (GELU, "gelu"),
           (Softmax, "softmax"), (LogSoftmax, "log_softmax"), (SoftmaxCrossEntropy, "cross_entropy"),
           (MSELoss, "mse"))
"""Layers with a term in the input alone, by name in
:data:`~jacobian_cnn.second_order.smooth.SMOOTH_TERMS`."""


def _bilinear_parameter(layer):
    return next((name for cls, name in _BILINEAR if isinstance(layer, cls)), None)


def _sizes(layer, x):
    return {"input": np.size(x), **{name: np.size(p) for name, p in layer.params.items()}}


def _checked(layer, x, g, wrt):
    """``(x, g, (a, b), sizes)`` after checking ``wrt`` and ``g`` against the layer."""
    if not isinstance(wrt, tuple) or len(wrt) != 2:
        raise InvalidValueError(f"wrt must be a pair of variable names (a, b), got {wrt!r}")
    x = float_array(x, "x")
    a, b = (wrt_name(name, {"input", *layer.params}, type(layer).__name__) for name in wrt)
    y = np.asarray(layer.forward(x))
    g = float_array(g, "g").astype(np.result_type(x.dtype, np.float32), copy=False)
    if g.size != y.size or g.ndim > 2 or (g.ndim == 2 and g.shape[0] != 1):
        raise InvalidValueError(f"g must be one row over vec(y), (y.size,) = ({y.size},) or "
                                f"(1, {y.size}); got shape {g.shape}")
    if not np.all(np.isfinite(g)):
        raise InvalidValueError("g contains NaN or inf; g must be finite")
    return x, g.reshape(-1), (a, b), _sizes(layer, x)


def has_second_order_term(layer):
    """Whether :func:`hessian_term` knows ``layer`` (else it raises ``NotImplementedError``);
    a branch layer when every layer of its paths does."""
    if isinstance(layer, (Add, Concat)):
        return all(has_second_order_term(inner) for path in layer.paths if path is not None
                   for inner in path.layers)
    return isinstance(layer, (*_LINEAR, BatchNorm2D, LayerNorm, *(cls for cls, _ in _BILINEAR),
                              *(cls for cls, _ in _SMOOTH)))


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
    if isinstance(layer, (BatchNorm2D, LayerNorm)):
        return normalization_term(layer, x, g, a, b, max_bytes=max_bytes, fast=fast)
    if isinstance(layer, (Add, Concat)):
        return branch_term(layer, x, g, a, b, max_bytes=max_bytes) if fast else \
            reference_branch_term(layer, x, g, a, b)
    parameter = _bilinear_parameter(layer)
    if parameter is not None and {a, b} == {"input", parameter}:
        check_size(sizes["input"], _bilinear_nnz(layer, x), dtype.itemsize, max_bytes,
                   f"{type(layer).__name__} cross term")
        block = (_fast_bilinear if fast else _loop_bilinear)(layer, x, g)  # (input, param)
        return sp.csr_array(block if a == "input" else block.T)
    if a != "input" or b != "input" or isinstance(layer, _LINEAR) or parameter is not None:
        return sp.csr_array(shape, dtype=dtype)
    n = sizes["input"]
    per_row = x.shape[0] if isinstance(layer, (Softmax, LogSoftmax, SoftmaxCrossEntropy)) else 1
    check_size(n, n * per_row, dtype.itemsize, max_bytes,
               f"{type(layer).__name__} second-order term")
    name = next(name for cls, name in _SMOOTH if isinstance(layer, cls))
    fast_term, loop_term = SMOOTH_TERMS[name]
    return sp.csr_array((fast_term if fast else loop_term)(layer, x, g).astype(dtype))


# ---------------------------------------------------------------- bilinear: conv, dense

def _bilinear_nnz(layer, x):
    """Stored entries of the parameter Jacobian: an upper bound of the cross term's."""
    return layer.jacobian(x, _bilinear_parameter(layer)).nnz


def _loop_bilinear(layer, x, g):
    """``T[i, j] = sum_k g_k d^2 y_k / dx_i dP_j``: the input Jacobian's definition lists
    an entry ``(k, i, (P, j))`` for every product ``P_j x_i`` in ``y_k``, so each adds ``g_k``."""
    definition = layer.definition(x, "input")
    sums = {}
    for row, col, (kind, *index) in definition.entries:
        if kind != _bilinear_parameter(layer):
            continue
        key = (int(col), int(index[0]))
        sums[key] = sums.get(key, 0.0) + g[row]
    keys = sorted(sums)
    shape = (np.size(x), np.size(layer.params[_bilinear_parameter(layer)]))
    return sp.coo_array(([sums[k] for k in keys], ([k[0] for k in keys], [k[1] for k in keys])),
                        shape=shape, dtype=g.dtype).tocsr()


def _fast_bilinear(layer, x, g):
    """The parameter Jacobian at ``x = 1, 2, ..., n`` stores, in each entry ``(k, j)``,
    ``1 +`` the vec index ``i`` of the input that ``P_j`` multiplies in ``y_k``."""
    positions = np.arange(1, x.size + 1, dtype=np.float64).reshape(x.shape, order="F")
    J = layer.jacobian(positions, _bilinear_parameter(layer)).tocoo()
    inputs = J.data.astype(np.int64) - 1
    shape = (x.size, J.shape[1])
    return sp.coo_array((g[J.row], (inputs, J.col)), shape=shape).tocsr()
