"""A symbolic problem: a layer or chain at an input, with named entries.

A chain multiplies the layers' sparse symbolic Jacobians left to right, exactly as
the numeric chain does; each layer's Jacobian comes from its rule
(:mod:`jacobian_cnn.symbolic.rules`).
"""

from __future__ import annotations

import dataclasses
import numbers
from collections import defaultdict

import numpy as np

from jacobian_cnn.chain import Chain
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError, SizeLimitError
from jacobian_cnn.ops.conv import Conv2D
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D
from jacobian_cnn.symbolic.latex import derivative_symbol, entry_symbol, require_sympy
from jacobian_cnn.symbolic.names import Names, index_dims, symbol_array, unvec_list, vec_list
from jacobian_cnn.symbolic.results import SymbolicArray, SymbolicGradient, SymbolicJacobian
from jacobian_cnn.symbolic.rules import DEFAULT_OUTPUT, RULES, unsupported
from jacobian_cnn.symbolic.sizes import MAX_SYMBOLIC_SIZE, entry_estimate, entry_limit, shape_text

__all__ = ["SymbolicProblem"]


class SymbolicProblem:
    """A layer (or :class:`~jacobian_cnn.Chain`) at an input, with symbolic entries.

    Parameters
    ----------
    layer : layer or Chain
        One of :data:`SUPPORTED_LAYERS`, or a chain of them.
    x : tuple of int or array_like
        A tuple is the input *shape* (one sample: ``(H, W)``, ``(H, W, C)``,
        ``(n,)``, ``(L, C)`` in 1-D or ``(D, H, W, C)`` in 3-D); an array is a
        numeric input, needed where the Jacobian depends on values (max-pool
        switches, ReLU's active set).
    names : Names, optional
    params : {"symbols", "values"}
        ``"symbols"`` (default): parameters are named entries (``k_{rs}``);
        ``"values"``: the layer's own numbers, as exact rationals.
    switches : array_like of int, optional
        Max pooling only: the switches (as :meth:`MaxPool2D.switches
        <jacobian_cnn.MaxPool2D.switches>` returns them) instead of a numeric input.
    winners : array_like, optional
        Max pooling only: a declared winner per window, 1-based ``(i, j)`` pairs in
        the output's layout (seed 003: ``[[(2, 1), (1, 4)], [(3, 1), (4, 3)]]``).
    flip_kernel : bool
        ``True``: convolutions are *true* convolutions (the kernel rotated by 180
        degrees), as some textbooks define them. Default: cross-correlation, as
        :class:`~jacobian_cnn.Conv2D` computes.
    shift : (int, int)
        Move every window by this many rows and columns (the checker models the
        "window shifted by one" mistake with it). Default ``(0, 0)``.
    max_entries : int, optional
        Refuse (:class:`~jacobian_cnn.errors.SizeLimitError`, before any SymPy object
        is made) a problem whose estimated number of entries exceeds this: the named
        inputs, outputs and parameters plus an upper bound of the Jacobian's nonzeros
        (a chain's product included). Default :data:`MAX_SYMBOLIC_ENTRIES`.

    Examples
    --------
    Seed 004 appendix A, ``z = a * beta`` with padding (1, 1) and stride (1, 2):

    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> from jacobian_cnn.symbolic import Names, SymbolicProblem
    >>> conv = jc.Conv2D(np.ones((2, 2)), stride=(1, 2), padding=1)
    >>> problem = SymbolicProblem(conv, (3, 4), names=Names(kernel="beta"))
    >>> z = problem.forward().array
    >>> z[0, 0], z[1, 1]
    (a_{11}*beta_{22}, a_{12}*beta_{11} + a_{13}*beta_{12} + a_{22}*beta_{21} + a_{23}*beta_{22})
    """

    def __init__(self, layer, x, *, names=None, params="symbols", switches=None, winners=None,
                 flip_kernel=False, shift=(0, 0), max_entries=None):
        require_sympy()
        self.options = dict(names=names, params=params, switches=switches, winners=winners,
                            flip_kernel=flip_kernel, shift=shift, max_entries=max_entries)
        limit = entry_limit(max_entries)
        self.layer = layer
        self.layers = list(layer.layers) if isinstance(layer, Chain) else [layer]
        for i, lay in enumerate(self.layers):
            if type(lay) not in RULES:
                raise unsupported(f"layer {i}", lay)
        if names is None:
            names = Names()
        if not isinstance(names, Names):
            raise InvalidTypeError(f"names must be a Names instance, got {type(names).__name__}")
        if params not in ("symbols", "values"):
            raise InvalidValueError(f"params must be 'symbols' or 'values', got {params!r}")
        if not (isinstance(shift, tuple) and len(shift) == 2
                and all(isinstance(v, numbers.Integral) for v in shift)):
            raise InvalidTypeError(f"shift must be a pair of ints, got {shift!r}")
        if (switches is not None or winners is not None) and \
                sum(isinstance(lay, MaxPool2D) for lay in self.layers) != 1:
            raise InvalidValueError("switches= and winners= need exactly one MaxPool2D layer")
        self.flip_kernel, self.shift = bool(flip_kernel), tuple(int(v) for v in shift)

        x_numeric, shape = self._input(x)
        if int(np.prod(shape)) > min(MAX_SYMBOLIC_SIZE, limit):
            raise SizeLimitError(
                f"symbolic matrices are for teaching sizes: an input of shape {shape} has "
                f"{int(np.prod(shape)):,} entries, over the limit of "
                f"{min(MAX_SYMBOLIC_SIZE, limit):,} (max_entries={limit:,}, at most "
                f"MAX_SYMBOLIC_SIZE={MAX_SYMBOLIC_SIZE:,} per input or output)")
        self._given_x = x
        output = names.output or DEFAULT_OUTPUT.get(type(self.layers[-1]), "y")
        self.names = dataclasses.replace(names, output=output)
        letters = [("input", self.names.input), ("output", output), ("loss", self.names.loss)]
        # a branch's nested parameters ("body.0.kernel") use their own name's letter
        letters += sorted({(name.rsplit(".", 1)[-1], self._letter(name)) for lay in self.layers
                           for name in lay.params})
        seen = {}
        for role, letter in letters:
            if letter in seen:
                raise InvalidValueError(f"names: {seen[letter]} and {role} both use the letter {letter!r}")
            seen[letter] = role
        tags = self._tags()
        # Shapes first (numeric forward passes, no SymPy), then the size estimate.
        shapes, outputs, x_l, in_shape = [], [], x_numeric, shape
        for i, lay in enumerate(self.layers):
            probe = np.zeros(in_shape) if x_l is None else x_l
            with np.errstate(all="ignore"):  # a zero probe may divide by 0 (batch norm, eps=0)
                y_l = np.asarray(lay.forward(probe))
            out_shape = y_l.shape
            if max(int(np.prod(out_shape)), int(np.prod(in_shape))) > MAX_SYMBOLIC_SIZE:
                raise SizeLimitError(
                    f"symbolic matrices are for teaching sizes; layer {i} maps {in_shape} to "
                    f"{out_shape}, over MAX_SYMBOLIC_SIZE={MAX_SYMBOLIC_SIZE:,} entries per "
                    "input or output")
            shapes.append((in_shape, out_shape))
            outputs.append(y_l)
            x_l = None if x_l is None else y_l
            in_shape = out_shape
        estimate = entry_estimate(self.layers, shapes)
        if estimate > limit:
            raise SizeLimitError(
                f"the symbolic problem {self.layer!r} on a {shape_text(tuple(shape))} input "
                f"would build about {estimate:,} SymPy entries (named entries plus Jacobian "
                f"nonzeros), over max_entries={limit:,}; pass a larger max_entries or a "
                "smaller input")
        self.rules, x_l = [], x_numeric
        for i, (lay, (in_shape, out_shape)) in enumerate(zip(self.layers, shapes, strict=True)):
            y_l = outputs[i]
            last = i == len(self.layers) - 1
            rule = RULES[type(lay)](
                lay, in_shape, out_shape, names=self.names, tag=tags[i], params=params,
                flip=self.flip_kernel, shift=self.shift, x_numeric=x_l, switches=switches,
                winners=winners, output_base=output if last else "s")
            self.rules.append(rule)
            x_l = None if x_l is None else y_l
        self.input_shape, self.output_shape = tuple(shape), tuple(shapes[-1][1])
        self.input_symbols = symbol_array(self.names.input, self.input_shape)
        self.output_symbols = symbol_array(output, self.output_shape)
        self._cache = {}

    @staticmethod
    def _input(x):
        if isinstance(x, tuple) and all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                        for v in x):
            shape, x_numeric = tuple(int(v) for v in x), None
            if not shape or min(shape) < 1:
                raise InvalidValueError(f"input shape must have positive sizes, got {x}")
        else:
            x_numeric = np.asarray(x, dtype=np.float64)
            if x_numeric.dtype == object or x_numeric.ndim == 0:
                raise InvalidTypeError("x must be a shape tuple or a numeric array")
            if not np.all(np.isfinite(x_numeric)):
                raise InvalidValueError("x contains NaN or inf")
            shape = x_numeric.shape
        if len(shape) > 4:
            raise InvalidValueError(f"symbolic matrices take one sample ((n,), (L, C), (H, W), "
                                    f"(H, W, C) or (D, H, W, C)); got shape {shape}")
        return x_numeric, shape

    def _letter(self, name):
        """Letter of the named entries of ``name`` ("input", "kernel", "weight", "bias",
        "gamma", "beta", a branch's nested "body.0.kernel"; or ``(layer_index, name)``,
        written with its layer as ``k[1]``)."""
        if isinstance(name, tuple):
            return f"{self._letter(name[1])}[{name[0] + 1}]"
        return getattr(self.names, name.rsplit(".", 1)[-1])  # a branch's "body.0.kernel": k

    def _tags(self):
        """Layer tags ``[l]`` for parameter letters that several layers share."""
        uses = defaultdict(list)
        for i, lay in enumerate(self.layers):
            for letter in {self._letter(name) for name in lay.params}:
                uses[letter].append(i)
        shared = {i for layers in uses.values() if len(layers) > 1 for i in layers}
        return [str(i + 1) if i in shared else None for i in range(len(self.layers))]

    def variant(self, **changes):
        """The same problem with some options changed (``flip_kernel=``, ``shift=``, ...)."""
        return SymbolicProblem(self.layer, self._given_x, **dict(self.options, **changes))

    @property
    def has_kernel(self):
        """Whether some layer is a convolution (the kernel-flip mistake applies)."""
        return any(isinstance(lay, Conv2D) for lay in self.layers)

    @property
    def has_windows(self):
        """Whether some layer has value-independent windows (conv, average pooling)."""
        return any(isinstance(lay, (Conv2D, AvgPool2D)) for lay in self.layers)

    def __repr__(self):
        what = repr(self.layer) if len(self.layers) == 1 else \
            "Chain(" + ", ".join(repr(lay) for lay in self.layers) + ")"
        return f"{what} on a {shape_text(self.input_shape)} input"

    def check_wrt(self, wrt):
        """Validate ``wrt`` and return it.

        ``"input"``; a parameter name (``"kernel"``, ``"weight"``, ``"bias"``) of a single
        layer; or ``(layer_index, name)``, a parameter of one layer of a chain (0-based: the
        first layer's kernel is ``(0, "kernel")``; on a single layer it is the same as
        ``name``).
        """
        if isinstance(wrt, tuple) and len(wrt) == 2 and isinstance(wrt[0], numbers.Integral) \
                and not isinstance(wrt[0], bool) and isinstance(wrt[1], str):
            index, name = int(wrt[0]), wrt[1]
            if 0 <= index < len(self.rules) and name in self.rules[index].params:
                return name if len(self.rules) == 1 else (index, name)
            layers = [f"the {n} of layer {i + 1} (wrt=({i}, {n!r}))"
                      for i, rule in enumerate(self.rules) for n in rule.params]
            raise InvalidValueError(f"wrt {wrt!r} names no parameter of {self!r}; its parameters "
                                    f"are {', '.join(layers) or 'none'}")
        allowed = {"input"} | (set(self.rules[0].params) if len(self.rules) == 1 else set())
        if wrt not in allowed:
            extra = "" if len(self.rules) == 1 else \
                " (a chain's parameter is named (layer_index, name), e.g. (0, 'kernel'))"
            raise InvalidValueError(f"wrt must be one of {sorted(allowed)}, got {wrt!r}{extra}")
        return wrt

    def _inputs(self):
        """Symbolic input of every layer (forward composition)."""
        if "inputs" not in self._cache:
            xs = [self.input_symbols]
            for rule in self.rules[:-1]:
                xs.append(rule.forward(xs[-1]))
            self._cache["inputs"] = xs
        return self._cache["inputs"]

    def wrt_symbols(self, wrt="input"):
        """Named entries of the differentiation variable, in its own shape."""
        wrt = self.check_wrt(wrt)
        if wrt == "input":
            return self.input_symbols
        index, name = wrt if isinstance(wrt, tuple) else (0, wrt)
        return self.rules[index].params[name]

    def _sparse_jacobian(self, wrt):
        key = ("jacobian", wrt)
        if key not in self._cache:
            xs = self._inputs()
            if isinstance(wrt, tuple):  # a chain's parameter: J_L ... J_{k+1} @ J_k^{param}
                index, name = wrt
                J = self.rules[index].jacobian(xs[index], name)
                for rule, x in zip(self.rules[index + 1:], xs[index + 1:], strict=True):
                    J = rule.jacobian(x, "input") @ J
            else:
                J = self.rules[-1].jacobian(xs[-1], wrt if len(self.rules) == 1 else "input")
                for rule, x in zip(self.rules[-2::-1], xs[-2::-1], strict=True):
                    J = J @ rule.jacobian(x, "input")
            self._cache[key] = J
        return self._cache[key]

    def _title(self, wrt):
        return f"d vec({self.names.output}) / d vec({self._letter(wrt)}) of {self!r}"

    def jacobian(self, wrt="input"):
        """The :class:`SymbolicJacobian` ``d vec(y) / d vec(wrt)``."""
        wrt = self.check_wrt(wrt)
        J = self._sparse_jacobian(wrt)
        wrt_array = self.wrt_symbols(wrt)
        return SymbolicJacobian(J.to_sympy(), tuple(vec_list(self.output_symbols)),
                                tuple(vec_list(wrt_array)), self.output_shape,
                                tuple(np.shape(wrt_array)), self._title(wrt))

    def abbreviations(self):
        """What the auxiliary symbols of the layers stand for, ``{symbol: expression}``.

        Batch and layer normalization write their entries with ``mu`` and ``sigma``,
        LogSoftmax with the softmax ``s`` (:mod:`~jacobian_cnn.symbolic.rules_norm`); the
        expressions are in the layer's input (earlier layers' symbols included) and a
        layer's ``sigma`` in its ``mu``, so substitute from the last entry back (:meth:`expand`
        does).
        """
        out = {}
        for rule, x in zip(self.rules, self._inputs(), strict=True):
            if hasattr(rule, "abbreviations"):
                out.update(rule.abbreviations(x))
        return out

    def expand(self, expr):
        """``expr`` with every auxiliary symbol replaced by what it stands for (in the inputs)."""
        for rule, x in zip(self.rules[::-1], self._inputs()[::-1], strict=True):
            if hasattr(rule, "abbreviations"):  # a layer's later symbols may use its earlier ones
                for symbol, value in reversed(rule.abbreviations(x).items()):
                    expr = expr.subs(symbol, value)
        return expr

    def forward(self):
        """The :class:`SymbolicArray` ``y = f(x)`` in terms of the named entries."""
        if "forward" not in self._cache:
            self._cache["forward"] = self.rules[-1].forward(self._inputs()[-1])
        return SymbolicArray(self._cache["forward"], self.output_symbols,
                             f"{self.names.output} = f({self.names.input}) for {self!r}")

    def incoming(self):
        """The incoming gradient symbols ``∂J/∂y`` in ``y``'s shape."""
        loss = entry_symbol(self.names.loss)
        out = np.empty(self.output_shape, dtype=object)
        for idx in np.ndindex(*self.output_shape):
            out[idx] = derivative_symbol(loss, self.output_symbols[idx])
        return out

    def gradient(self, wrt="input"):
        """The :class:`SymbolicGradient`: ``[∂J/∂y] @ J`` as a row and in the variable's shape."""
        sympy = require_sympy()
        wrt = self.check_wrt(wrt)
        J = self._sparse_jacobian(wrt)
        g = vec_list(self.incoming())
        terms = defaultdict(list)
        for (i, j), value in J.entries.items():
            terms[j].append(g[i] * value)
        row = [sympy.Add(*terms[j]) if j in terms else sympy.Integer(0) for j in range(J.shape[1])]
        wrt_array = self.wrt_symbols(wrt)
        loss = self.names.loss
        shape = np.shape(wrt_array)[:index_dims(np.shape(wrt_array))]  # a 2-D kernel stays 2-D
        return SymbolicGradient(
            sympy.ImmutableMatrix([row]), unvec_list(row, shape),
            tuple(vec_list(wrt_array)),
            f"d{loss} / d vec({self._letter(wrt)}) = [d{loss} / d vec({self.names.output})] "
            f"@ d vec({self.names.output}) / d vec({self._letter(wrt)}) for {self!r}")
