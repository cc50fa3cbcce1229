"""Symbolic rules of the simple layers of imported PyTorch models.

The separable maps ``Y = A_h X A_w^T`` (padding, nearest and bilinear upsampling, adaptive
and global average pooling): every entry of the readable definition,
:func:`~jacobian_cnn.ops.separable.separable_entries`, is ``A_h[io, i] A_w[jo, j]``, the
product of the layer's own axis weights as exact rationals (1 for selections, ``1/4``,
``3/4`` for bilinear weights, ``1/3`` for an adaptive window of three). The identity,
dropout with its mask, and the elementwise LeakyReLU, ELU, GELU and Softplus (their
derivatives written with SymPy; the piecewise ones pick their branch from the numeric
input, as ReLU's rule does). Options (slopes, ``p``) become exact rationals. Batch and
layer normalization and LogSoftmax: :mod:`~jacobian_cnn.symbolic.rules_norm`; branches:
:mod:`~jacobian_cnn.symbolic.rules_branches`; 1-D, 3-D and transposed window layers:
:mod:`~jacobian_cnn.symbolic.rules_nd`. Not done: the losses.

Examples
--------
>>> import numpy as np
>>> import jacobian_cnn as jc
>>> from jacobian_cnn.symbolic import SymbolicProblem
>>> up = jc.Upsample(size=(1, 4), mode="bilinear")
>>> SymbolicProblem(up, (1, 2)).forward().array
array([[a_{11}, 3*a_{11}/4 + a_{12}/4, a_{11}/4 + 3*a_{12}/4, a_{12}]],
      dtype=object)
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops.activations import elementwise_entries
from jacobian_cnn.ops.activations_more import ELU, GELU, Dropout, Identity, LeakyReLU, Softplus
from jacobian_cnn.ops.padding import ConstantPad2D, ReflectionPad2D, ReplicationPad2D, ZeroPad2D
from jacobian_cnn.ops.resample import AdaptiveAvgPool2D, GlobalAvgPool2D, Upsample
from jacobian_cnn.ops.separable import separable_entries
from jacobian_cnn.symbolic.latex import require_sympy
from jacobian_cnn.symbolic.names import as_rational, unvec_list, value_array, vec_list
from jacobian_cnn.symbolic.sparse import from_definition

__all__ = ["MODEL_RULES"]


def _maps(shape):
    if len(shape) not in (2, 3):
        raise InvalidValueError(f"symbolic padding, resampling and adaptive pooling take one sample "
                                f"(H, W) or (H, W, C); got shape {shape}")
    return (*shape, 1) if len(shape) == 2 else shape


class _SeparableRule:
    """``Y = A_h X A_w^T`` per map with the axis weights as exact rationals (constant padding
    adds its value)."""

    linear = True

    def __init__(self, layer, in_shape, out_shape, **_):
        self.layer, self.in_shape, self.out_shape, self.params = layer, in_shape, out_shape, {}
        self.h, self.w, self.c = _maps(in_shape)
        self.axes = [value_array(layer._axis_matrix(axis, n)) for axis, n in enumerate((self.h, self.w))]
        self.taps = [[[j for j, v in enumerate(row) if v != 0] for row in a] for a in self.axes]
        self.offset = layer._offset(self.h, self.w)

    def jacobian(self, x, wrt):
        a_h, a_w = self.axes
        n_out = len(self.taps[0]) * len(self.taps[1]) * self.c
        return from_definition(separable_entries(*self.taps, (self.h, self.w), self.c),
                               (n_out, self.h * self.w * self.c),
                               {"tap": lambda io, i, jo, j: a_h[io, i] * a_w[jo, j]})

    def forward(self, x):
        y = self.jacobian(x, "input").apply(vec_list(x))
        if self.offset is not None:
            constant = np.tile(np.ravel(self.offset, order="F"), self.c)
            y = [v + as_rational(k) if k else v for v, k in zip(y, constant, strict=True)]
        return unvec_list(y, self.out_shape)


class _ElementwiseMoreRule:
    """``y_k = f(x_k)`` with ``f'`` written in SymPy; a branch picked from the numeric input."""

    linear = False

    def __init__(self, layer, in_shape, out_shape, *, x_numeric, **_):
        self.layer, self.in_shape, self.out_shape, self.params = layer, in_shape, out_shape, {}
        self.active = None
        if isinstance(layer, (LeakyReLU, ELU, Softplus)):
            if x_numeric is None:
                raise InvalidValueError(f"{layer!r}'s Jacobian depends on each input's branch: pass a "
                                        "numeric input x (not just its shape)")
            x = np.ravel(np.asarray(x_numeric, dtype=np.float64), order="F")
            self.branch = (x * layer.beta > layer.threshold) if isinstance(layer, Softplus) else x > 0
        if isinstance(layer, Dropout):
            self.active = vec_list(layer.mask != 0)
            self.linear = True
        if isinstance(layer, Identity):
            self.linear = True

    def _pair(self, v, k):
        """``(f(v), f'(v))`` for entry ``k``."""
        sympy = require_sympy()
        layer = self.layer
        if isinstance(layer, Identity):
            return v, sympy.Integer(1)
        if isinstance(layer, Dropout):
            scale = 1 / (1 - as_rational(layer.p)) if self.active[k] else sympy.Integer(0)
            return v * scale, scale
        if isinstance(layer, LeakyReLU):
            slope = as_rational(layer.negative_slope)
            return (v, sympy.Integer(1)) if self.branch[k] else (slope * v, slope)
        t = sympy.Dummy("t")  # f written in t, differentiated in t, then evaluated at v
        if isinstance(layer, ELU):
            f = t if self.branch[k] else as_rational(layer.alpha) * (sympy.exp(t) - 1)
        elif isinstance(layer, Softplus):
            beta = as_rational(layer.beta)
            f = t if self.branch[k] else sympy.log(1 + sympy.exp(beta * t)) / beta
        elif layer.approximate == "tanh":
            f = t * (1 + sympy.tanh(sympy.sqrt(2 / sympy.pi) * (t + as_rational(0.044715) * t ** 3))) / 2
        else:
            f = t * (1 + sympy.erf(t / sympy.sqrt(2))) / 2
        return f.subs(t, v), sympy.diff(f, t).subs(t, v)

    def forward(self, x):
        return unvec_list([self._pair(v, k)[0] for k, v in enumerate(vec_list(x))], self.out_shape)

    def jacobian(self, x, wrt):
        xv = vec_list(x)
        return from_definition(elementwise_entries(len(xv), self.active), (len(xv), len(xv)),
                               {"derivative": lambda k: self._pair(xv[k], k)[1]})


MODEL_RULES = {**{cls: _SeparableRule for cls in (ConstantPad2D, ZeroPad2D, ReflectionPad2D,
                                                  ReplicationPad2D, Upsample, AdaptiveAvgPool2D,
                                                  GlobalAvgPool2D)},
               **{cls: _ElementwiseMoreRule for cls in (Identity, Dropout, LeakyReLU, ELU, GELU,
                                                        Softplus)}}
"""The rule class of each layer of imported models that has one."""
