"""Per-layer symbolic rules: the forward pass on arrays of SymPy entries, and the Jacobian.

Every rule's Jacobian is the op module's own readable definition (entries ``(row,
column, term)``, :mod:`jacobian_cnn.ops.layer`) with SymPy values for the terms
(:func:`~jacobian_cnn.symbolic.sparse.from_definition`): kernel and input entries,
exact ``1/d``, the symbolic derivative. The hand checker's modelled mistakes are
arguments of that definition, not forks of it: moved windows (``shift``) are another
geometry, a flipped kernel another tap-to-kernel map, and max pooling's winners
are its switches.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.ops.activations import ReLU, Sigmoid, Softmax, Tanh, elementwise_entries, softmax_entries
from jacobian_cnn.ops.conv import Conv2D, conv_entries
from jacobian_cnn.ops.dense import Dense, dense_entries
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D, avgpool_entries
from jacobian_cnn.ops.resample import AdaptiveAvgPool2D, GlobalAvgPool2D
from jacobian_cnn.ops.reshape import Flatten, flatten_entries
from jacobian_cnn.ops.switches import switches_entries
from jacobian_cnn.symbolic.latex import require_sympy
from jacobian_cnn.symbolic.names import parameter_arrays, symbol_array, unvec_list, vec_list
from jacobian_cnn.symbolic.rules_branches import BRANCH_RULES
from jacobian_cnn.symbolic.rules_models import MODEL_RULES
from jacobian_cnn.symbolic.rules_nd import ND_RULES
from jacobian_cnn.symbolic.rules_norm import NORM_RULES
from jacobian_cnn.symbolic.sparse import from_definition, symbolic_terms

__all__ = ["RULES", "SUPPORTED_LAYERS"]

SUPPORTED_LAYERS = (Conv2D, AvgPool2D, MaxPool2D, Dense, Flatten, ReLU, Sigmoid, Tanh, Softmax,
                    *MODEL_RULES, *NORM_RULES, *ND_RULES, *BRANCH_RULES)
"""Layer types with symbolic rules (and :class:`~jacobian_cnn.Chain` s of them)."""

DEFAULT_OUTPUT = {Conv2D: "z", Dense: "z", AvgPool2D: "p", MaxPool2D: "p", Flatten: "f",
                  Softmax: "s", **{t: "z" if t.__name__.startswith("Conv") else "p" for t in ND_RULES},
                  AdaptiveAvgPool2D: "p", GlobalAvgPool2D: "p"}
"""The letter of each layer type's output entries (``y`` for the others)."""


def _shifted(geo, shift):
    """The geometry with every window moved by ``shift = (rows, cols)`` (same output size)."""
    if shift == (0, 0):
        return geo
    if getattr(geo, "padding_mode", "zeros") != "zeros":
        raise InvalidValueError("shifted windows are only modelled with zero padding")
    (top, bottom), (left, right) = geo.padding
    return dataclasses.replace(geo, padding=((top - shift[0], bottom + shift[0]),
                                             (left - shift[1], right + shift[1])))


def _maps(shape):
    """``(H, W, C)`` of a 2-D or 3-D single-sample map shape."""
    if len(shape) == 2:
        return shape[0], shape[1], 1
    if len(shape) == 3:
        return shape
    raise InvalidValueError(f"symbolic window layers take one sample (H, W) or (H, W, C); got shape {shape}")


class _Rule:
    """``forward(x)`` on object arrays and ``jacobian(x, wrt)`` as a ``Sparse`` matrix."""

    linear = True

    def __init__(self, layer, in_shape, out_shape, **_):
        self.layer, self.in_shape, self.out_shape = layer, in_shape, out_shape
        self.params = {}

    def forward(self, x):
        y = self.jacobian(x, "input").apply(vec_list(x))
        if "bias" in self.params:
            y = [v + b for v, b in zip(y, self.bias_vec(), strict=True)]
        return unvec_list(y, self.out_shape)

    def bias_vec(self):
        return list(self.params["bias"])


class _WindowRule(_Rule):
    def __init__(self, layer, in_shape, out_shape, shift):
        super().__init__(layer, in_shape, out_shape)
        self.h, self.w, self.c = _maps(in_shape)
        self.geo = _shifted(layer.geometry((self.h, self.w)), shift)


class _ConvRule(_WindowRule):
    def __init__(self, layer, in_shape, out_shape, *, names, tag, params, flip, shift, **_):
        super().__init__(layer, in_shape, out_shape, shift)
        self.params = parameter_arrays(layer, names, tag, params)
        # kernel_tap[t] is the kernel index (r, s) that multiplies tap t (t = r + s*kh).
        kh, kw = layer.kernel.shape[:2]
        taps = np.arange(kh * kw)
        r, s = taps % kh, taps // kh
        if flip:  # a true convolution: the kernel rotated by 180 degrees
            r, s = kh - 1 - r, kw - 1 - s
        self.kernel_tap = r + s * kh

    def jacobian(self, x, wrt):
        kernel_shape, co = self.layer.kernel.shape, self.layer.kernel.shape[3]
        entries = conv_entries(self.geo, kernel_shape, self.layer.groups, 1, wrt, self.kernel_tap)
        n_cols = {"input": self.h * self.w * self.c, "kernel": self.layer.kernel.size, "bias": co}[wrt]
        return from_definition(entries, (self.geo.n_out * co, n_cols),
                               symbolic_terms(kernel=self.params["kernel"], input=x))

    def bias_vec(self):
        return [b for b in self.params["bias"] for _ in range(self.geo.n_out)]


class _AvgPoolRule(_WindowRule):
    def __init__(self, layer, in_shape, out_shape, *, shift, **_):
        super().__init__(layer, in_shape, out_shape, shift)
        # a shifted window (a modelled mistake) keeps the divisors of the true windows
        self.divisors = layer.divisors(layer.geometry((self.h, self.w)))

    def jacobian(self, x, wrt):
        n_out, hw = self.geo.n_out, self.h * self.w
        return from_definition(avgpool_entries(self.geo, self.divisors, self.c),
                               (n_out * self.c, hw * self.c), symbolic_terms())


class _MaxPoolRule(_WindowRule):
    def __init__(self, layer, in_shape, out_shape, *, x_numeric, switches, winners, names, **_):
        super().__init__(layer, in_shape, out_shape, (0, 0))
        if winners is not None:
            switches = self._from_winners(winners)
        if switches is None:
            if x_numeric is None:
                raise InvalidValueError(
                    "max pooling's Jacobian depends on which entry wins each window: pass a "
                    "numeric input x (not just its shape), switches= or winners="
                )
            switches = layer.switches(x_numeric)
        switches = np.asarray(switches)
        if switches.shape != tuple(out_shape) or not np.issubdtype(switches.dtype, np.integer):
            raise InvalidValueError(f"switches must be integers of the output's shape {tuple(out_shape)}; "
                                    f"got {switches.dtype} {switches.shape}")
        self.switches = switches.ravel(order="F")
        self._check_in_window(names)

    def _from_winners(self, winners):
        """``winners[p][q]`` = 1-based ``(i, j)`` of the entry that wins window ``(p, q)``."""
        w = np.asarray(winners)
        if w.dtype == object or not np.issubdtype(w.dtype, np.integer) or w.shape[-1] != 2:
            raise InvalidValueError("winners must hold a 1-based (i, j) pair per output entry, "
                                    f"e.g. [[(2, 1), (1, 4)], [(3, 1), (4, 3)]]; got shape {w.shape}")
        if w.shape[:-1] != tuple(self.out_shape)[:2]:
            raise InvalidValueError(f"winners must be {tuple(self.out_shape)[:2]} pairs (one per window); "
                                    f"got {w.shape[:-1]}")
        plane = (w[..., 0] - 1) + (w[..., 1] - 1) * self.h
        if self.c == 1:
            return plane.reshape(self.out_shape)
        return np.stack([plane + c * self.h * self.w for c in range(self.c)], axis=-1)

    def _check_in_window(self, names):
        n_out, hw = self.geo.n_out, self.h * self.w
        for i, s in enumerate(self.switches.tolist()):
            if s == -1:
                continue
            o, c = i % n_out, i // n_out
            if not (0 <= s < hw * self.c) or s // hw != c or (s % hw) not in self.geo.taps[o]:
                where = np.unravel_index(o, self.geo.out_size, order="F")
                window = [tuple(int(v) + 1 for v in np.unravel_index(t, (self.h, self.w), order="F"))
                          for t in self.geo.taps[o] if t >= 0]
                raise InvalidValueError(
                    f"the winner of window {tuple(int(v) + 1 for v in where)} (vec index {s}) is "
                    f"not in that window; its entries are {window} (1-based {names.input}_{{ij}})"
                )

    def jacobian(self, x, wrt):
        return from_definition(switches_entries(self.switches),
                               (self.switches.size, self.h * self.w * self.c), symbolic_terms())


class _FlattenRule(_Rule):
    def jacobian(self, x, wrt):
        shape = self.layer._full_shape(self.in_shape)  # (*S, C, N)
        n = int(np.prod(shape))
        return from_definition(flatten_entries(shape, self.layer.order), (n, n), symbolic_terms())


class _DenseRule(_Rule):
    def __init__(self, layer, in_shape, out_shape, *, names, tag, params, **_):
        super().__init__(layer, in_shape, out_shape)
        if len(in_shape) != 1:
            raise InvalidValueError(
                f"symbolic Dense takes one sample, a vector (n_in,); got shape {in_shape}")
        self.params = parameter_arrays(layer, names, tag, params)

    def jacobian(self, x, wrt):
        n_in, n_out = self.layer.weight.shape
        n_cols = {"input": n_in, "weight": n_in * n_out, "bias": n_out}[wrt]
        return from_definition(dense_entries(n_in, n_out, 1, wrt), (n_out, n_cols),
                               symbolic_terms(weight=self.params["weight"], input=x))


class _ElementwiseRule(_Rule):
    linear = False

    def __init__(self, layer, in_shape, out_shape, *, x_numeric, **_):
        super().__init__(layer, in_shape, out_shape)
        self.mask = None
        if isinstance(layer, ReLU):
            if x_numeric is None:
                raise InvalidValueError("ReLU's Jacobian depends on the sign of each input: pass a numeric "
                                        "input x (not just its shape)")
            self.mask = vec_list(np.asarray(x_numeric) > 0)
            self.linear = True

    def value(self, v, k):
        sympy = require_sympy()
        if isinstance(self.layer, ReLU):
            return v if self.mask[k] else sympy.Integer(0)
        if isinstance(self.layer, Sigmoid):
            return sympy.Function("sigma")(v)
        return sympy.tanh(v)

    def derivative(self, v):
        sympy = require_sympy()
        if isinstance(self.layer, ReLU):  # only active units have an entry
            return sympy.Integer(1)
        if isinstance(self.layer, Sigmoid):
            s = sympy.Function("sigma")(v)
            return s * (1 - s)
        return 1 - sympy.tanh(v) ** 2

    def forward(self, x):
        return unvec_list([self.value(v, k) for k, v in enumerate(vec_list(x))], self.out_shape)

    def jacobian(self, x, wrt):
        xv = vec_list(x)
        return from_definition(elementwise_entries(len(xv), self.mask), (len(xv), len(xv)),
                               {"derivative": lambda k: self.derivative(xv[k])})


class _SoftmaxRule(_Rule):
    """Softmax over a vector; its Jacobian is written in its outputs ``s_i``: ``s_i (δ_ij - s_j)``."""

    linear = False

    def __init__(self, layer, in_shape, out_shape, *, output_base, **_):
        super().__init__(layer, in_shape, out_shape)
        if len(in_shape) != 1:
            raise InvalidValueError(f"symbolic Softmax takes one vector (n,); got shape {in_shape}")
        self.s = symbol_array(output_base, in_shape)

    def forward(self, x):
        sympy = require_sympy()
        e = [sympy.exp(v) for v in x]
        total = sympy.Add(*e)
        return unvec_list([v / total for v in e], self.out_shape)

    def jacobian(self, x, wrt):
        s = list(self.s)

        def value(i, j):
            return s[i] - s[i] * s[j] if i == j else -s[i] * s[j]

        return from_definition(softmax_entries(len(s), 1), (len(s), len(s)), {"softmax": value})


RULES = {Conv2D: _ConvRule, AvgPool2D: _AvgPoolRule, MaxPool2D: _MaxPoolRule, Flatten: _FlattenRule,
         Dense: _DenseRule, ReLU: _ElementwiseRule, Sigmoid: _ElementwiseRule,
         Tanh: _ElementwiseRule, Softmax: _SoftmaxRule, **MODEL_RULES, **NORM_RULES, **ND_RULES,
         **BRANCH_RULES}
"""The rule class of each supported layer type (:mod:`~jacobian_cnn.symbolic.rules_models`: the
simple layers of imported models; :mod:`~jacobian_cnn.symbolic.rules_norm`: normalizations;
:mod:`~jacobian_cnn.symbolic.rules_nd`: 1-D, 3-D and transposed window layers;
:mod:`~jacobian_cnn.symbolic.rules_branches`: residual blocks, sums and concatenations)."""


def unsupported(where, layer):
    """The error for a layer without a rule, naming where it is and what is supported."""
    supported = ", ".join(t.__name__ for t in SUPPORTED_LAYERS)
    return InvalidTypeError(f"{where} ({layer!r}) has no symbolic rule; supported: {supported} "
                            "and Chains of them")
