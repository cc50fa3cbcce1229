"""Symbolic Jacobians, forward results and row-vector gradients at teaching sizes.

The same matrices as the numeric layers (conventions: :mod:`jacobian_cnn.vec`),
with named SymPy entries instead of numbers: inputs ``a_{ij}`` (``a_{ijc}`` with
a channel), kernel entries ``k_{rs}`` (``k_{rs c_in c_out}`` with channels; the
letter is configurable, seed 004 uses ``\\beta``), dense weights ``w_{ij}``,
biases ``b_{j}``, constants as exact rationals (``1/4``), and incoming gradients
``∂J/∂p_{mn}``. Subscripts are 1-based (``a_{11}`` is ``x[0, 0]``); see
:mod:`jacobian_cnn.symbolic.latex` for the naming rule and the renderers.

Every matrix is assembled from the sparse structure, never by differentiating a
SymPy expression: window layers read :attr:`WindowGeometry.taps
<jacobian_cnn.ops.geometry.WindowGeometry.taps>` (tap ``t`` of output ``o`` reads input
``taps[o, t]`` with kernel entry ``t``), max pooling reads its switches, flatten
reads the numeric permutation. A chain multiplies the layers' sparse symbolic
Jacobians left to right, exactly as the numeric chain does.

SymPy is the optional ``symbolic`` extra (``pip install 'jacobian_cnn[symbolic]'``);
it is imported when a function here is called.

Examples
--------
Seed 000: a 3x3 input average-pooled by 2x2 windows with stride 1.

>>> import jacobian_cnn as jc
>>> from jacobian_cnn.symbolic import symbolic_jacobian, symbolic_gradient
>>> from jacobian_cnn.symbolic.latex import to_text
>>> J = symbolic_jacobian(jc.AvgPool2D(2, stride=1), (3, 3))
>>> J.matrix[0, :]
Matrix([[1/4, 1/4, 0, 1/4, 1/4, 0, 0, 0, 0]])
>>> g = symbolic_gradient(jc.AvgPool2D(2, stride=1), (3, 3))    # dJ/dA, seed 000's question
>>> print(g.to_text().splitlines()[0])
1/4 ∂J/∂p_{11}                 1/4 (∂J/∂p_{11} + ∂J/∂p_{12})                            1/4 ∂J/∂p_{12}
>>> print(to_text(g.array[1, 1]))                        # a22 lies in all four windows
1/4 (∂J/∂p_{11} + ∂J/∂p_{21} + ∂J/∂p_{12} + ∂J/∂p_{22})
"""

from __future__ import annotations

import dataclasses
import numbers
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from jacobian_cnn.chain import Chain
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError, SizeLimitError
from jacobian_cnn.ops.activations import ReLU, Sigmoid, Softmax, Tanh
from jacobian_cnn.ops.conv import Conv2D
from jacobian_cnn.ops.dense import Dense
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D
from jacobian_cnn.ops.reshape import Flatten
from jacobian_cnn.symbolic.latex import (
    derivative_symbol,
    differential_symbol,
    entry_symbol,
    format_indices,
    matrix_to_latex,
    matrix_to_text,
    normalize_base,
    require_sympy,
    to_text,
)

__all__ = ["Names", "SymbolicProblem", "SymbolicJacobian", "SymbolicArray", "SymbolicGradient",
           "symbolic_jacobian", "symbolic_forward", "symbolic_gradient", "SUPPORTED_LAYERS",
           "as_rational", "entry_names"]

SUPPORTED_LAYERS = (Conv2D, AvgPool2D, MaxPool2D, Dense, Flatten, ReLU, Sigmoid, Tanh, Softmax)
"""Layer types with symbolic rules (and :class:`~jacobian_cnn.Chain` s of them)."""

MAX_SYMBOLIC_SIZE = 20_000
"""Largest input or output (entries) accepted: symbolic matrices are for teaching sizes."""

MAX_SYMBOLIC_ENTRIES = 20_000
"""Default ``max_entries`` of :class:`SymbolicProblem`: the most SymPy entries (named
symbols plus Jacobian nonzeros, an upper bound computed from the shapes) a problem may
build; SymPy takes roughly 50-100 microseconds per entry."""

_DEFAULT_OUTPUT = {Conv2D: "z", Dense: "z", AvgPool2D: "p", MaxPool2D: "p", Flatten: "f",
                   Softmax: "s"}


@dataclass(frozen=True)
class Names:
    """Letters of the named entries (one letter or a Greek name such as ``"beta"``).

    Attributes
    ----------
    input : str
        Input entries, ``a_{ij}``.
    output : str or None
        Output entries; ``None`` picks by layer: ``z`` (conv, dense), ``p``
        (pooling), ``f`` (flatten), ``s`` (softmax), ``y`` (other activations).
    kernel, weight, bias : str
        Parameter entries ``k_{rs}``, ``w_{ij}``, ``b_{j}``.
    loss : str
        The scalar whose gradient is pushed back, ``∂J/∂p_{mn}``.

    Examples
    --------
    >>> from jacobian_cnn.symbolic import Names
    >>> Names(kernel="\\\\beta").kernel
    'beta'
    """

    input: str = "a"
    output: str | None = None
    kernel: str = "k"
    weight: str = "w"
    bias: str = "b"
    loss: str = "J"

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None and field.name == "output":
                continue
            object.__setattr__(self, field.name, normalize_base(value, f"names.{field.name}"))


# --------------------------------------------------------------------------------------
# sparse matrices of SymPy entries

class _Sparse:
    """``shape`` and ``{(row, col): expr}`` of the structural nonzeros."""

    __slots__ = ("shape", "entries")

    def __init__(self, shape, entries):
        self.shape = tuple(shape)
        self.entries = entries

    def __matmul__(self, other):
        sympy = require_sympy()
        by_row = defaultdict(list)
        for (k, j), value in other.entries.items():
            by_row[k].append((j, value))
        terms = defaultdict(list)
        for (i, k), a in self.entries.items():
            for j, b in by_row.get(k, ()):
                terms[(i, j)].append(a * b)
        entries = {}
        for key in sorted(terms):
            value = sympy.Add(*terms[key])
            if value != 0:
                entries[key] = value
        return _Sparse((self.shape[0], other.shape[1]), entries)

    def apply(self, column):
        """``self @ column`` for a list of expressions (a vec)."""
        sympy = require_sympy()
        terms = defaultdict(list)
        for (i, k), a in self.entries.items():
            terms[i].append(a * column[k])
        return [sympy.Add(*terms[i]) if i in terms else sympy.Integer(0)
                for i in range(self.shape[0])]

    def to_sympy(self):
        return require_sympy().ImmutableSparseMatrix(self.shape[0], self.shape[1], self.entries)


# --------------------------------------------------------------------------------------
# symbol arrays

def _index_dims(shape):
    """How many leading axes name an entry: trailing singleton axes beyond the second are dropped."""
    dims = len(shape)
    while dims > 2 and shape[dims - 1] == 1:
        dims -= 1
    return dims


def entry_names(base, shape):
    """Names of an array's entries in ``vec`` order (no SymPy needed), 1-based.

    Trailing singleton axes beyond the second do not get an index.

    Examples
    --------
    >>> from jacobian_cnn.symbolic import entry_names
    >>> entry_names("a", (2, 2, 1))
    ['a_{11}', 'a_{21}', 'a_{12}', 'a_{22}']
    >>> entry_names("beta", (1, 1, 2))
    ['beta_{111}', 'beta_{112}']
    """
    base = normalize_base(base)
    dims = _index_dims(shape)
    return [f"{base}_{{{format_indices(i + 1 for i in idx[:dims])}}}"
            for idx in zip(*np.unravel_index(np.arange(int(np.prod(shape))), shape, order="F"), strict=True)]


def _symbol_array(base, shape, tag=None):
    dims = _index_dims(shape)
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = entry_symbol(base, tuple(i + 1 for i in idx[:dims]), tag)
    return out


def as_rational(value):
    """Exact SymPy rational of a number: the simplest fraction within 1e-12, else the binary value.

    Examples
    --------
    >>> from jacobian_cnn.symbolic import as_rational
    >>> as_rational(0.25), as_rational(1 / 3)
    (1/4, 1/3)
    """
    sympy = require_sympy()
    f = Fraction(float(value))
    g = f.limit_denominator(10**6)
    if abs(float(g) - float(value)) <= 1e-12 * max(1.0, abs(float(value))):
        f = g
    return sympy.Rational(f.numerator, f.denominator)


def _value_array(values):
    out = np.empty(values.shape, dtype=object)
    for idx in np.ndindex(*values.shape):
        out[idx] = as_rational(values[idx])
    return out


def _vec(array):
    return list(np.asarray(array, dtype=object).ravel(order="F"))


def _unvec(values, shape):
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out.reshape(shape, order="F")


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


# --------------------------------------------------------------------------------------
# per-layer rules: forward(x) on object arrays and jacobian(x, wrt) as _Sparse

class _Rule:
    linear = True

    def __init__(self, layer, in_shape, out_shape):
        self.layer, self.in_shape, self.out_shape = layer, in_shape, out_shape
        self.params = {}

    def forward(self, x):
        J = self.jacobian(x, "input")
        y = J.apply(_vec(x))
        bias = self.bias_vec()
        if bias is not None:
            y = [v + b for v, b in zip(y, bias, strict=True)]
        return _unvec(y, self.out_shape)

    def bias_vec(self):
        return None


class _WindowRule(_Rule):
    def __init__(self, layer, in_shape, out_shape, shift):
        super().__init__(layer, in_shape, out_shape)
        self.h, self.w, self.c = _maps(in_shape)
        self.geo = _shifted(layer.geometry((self.h, self.w)), shift)

    def valid_taps(self):
        o_idx, t_idx = np.nonzero(self.geo.valid)
        return zip(o_idx.tolist(), t_idx.tolist(), self.geo.taps[o_idx, t_idx].tolist(), strict=True)


class _ConvRule(_WindowRule):
    def __init__(self, layer, in_shape, out_shape, *, names, tag, params, flip, shift, **_):
        super().__init__(layer, in_shape, out_shape, shift)
        kh, kw, ci, co = layer.kernel.shape
        if params == "symbols":
            kernel = _symbol_array(names.kernel, layer.kernel.shape, tag)
            bias = None if layer.bias is None else _symbol_array(names.bias, layer.bias.shape, tag)
        else:
            kernel = _value_array(layer.kernel)
            bias = None if layer.bias is None else _value_array(layer.bias)
        self.params = {"kernel": kernel} if bias is None else {"kernel": kernel, "bias": bias}
        self.kh, self.kw, self.ci, self.co = kh, kw, ci, co
        # kernel_tap[t] is the kernel index (r, s) that multiplies tap t (t = r + s*kh).
        taps = np.arange(kh * kw)
        r, s = taps % kh, taps // kh
        if flip:  # a true convolution: the kernel rotated by 180 degrees
            r, s = kh - 1 - r, kw - 1 - s
        self.kernel_tap = r + s * kh

    def jacobian(self, x, wrt):
        sympy = require_sympy()
        n_out, hw, t_all = self.geo.n_out, self.h * self.w, self.kh * self.kw
        kernel = self.params["kernel"].reshape(t_all, self.ci, self.co, order="F")
        if wrt == "bias":
            entries = {(o + co * n_out, co): sympy.Integer(1)
                       for co in range(self.co) for o in range(n_out)}
            return _Sparse((n_out * self.co, self.co), entries)
        # groups: output channel co reads input channels group*ci ... (group+1)*ci - 1
        group = np.arange(self.co) // (self.co // getattr(self.layer, "groups", 1))
        xv = _vec(x)
        terms = defaultdict(list)  # a copying padding_mode lets several taps read one entry
        for o, t, src in self.valid_taps():
            k = int(self.kernel_tap[t])
            for co in range(self.co):
                for ci in range(self.ci):
                    channel = int(group[co]) * self.ci + ci
                    if wrt == "input":
                        terms[(o + co * n_out, src + channel * hw)].append(kernel[k, ci, co])
                    else:
                        terms[(o + co * n_out, k + ci * t_all + co * t_all * self.ci)].append(
                            xv[src + channel * hw])
        entries = {key: sympy.Add(*values) for key, values in sorted(terms.items())}
        n_cols = hw * self.c if wrt == "input" else self.layer.kernel.size
        return _Sparse((n_out * self.co, n_cols), entries)

    def bias_vec(self):
        if "bias" not in self.params:
            return None
        return [b for b in self.params["bias"] for _ in range(self.geo.n_out)]


class _AvgPoolRule(_WindowRule):
    def __init__(self, layer, in_shape, out_shape, *, shift, **_):
        super().__init__(layer, in_shape, out_shape, shift)
        # a shifted window (a modelled mistake) keeps the divisors of the true windows
        self.divisors = layer.divisors(layer.geometry((self.h, self.w)))

    def jacobian(self, x, wrt):
        sympy = require_sympy()
        n_out, hw = self.geo.n_out, self.h * self.w
        entries = {}
        for o, _, src in self.valid_taps():
            for c in range(self.c):
                entries[(o + c * n_out, src + c * hw)] = sympy.Rational(1, int(self.divisors[o]))
        return _Sparse((n_out * self.c, hw * self.c), dict(sorted(entries.items())))


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
        sympy = require_sympy()
        entries = {(i, int(s)): sympy.Integer(1) for i, s in enumerate(self.switches.tolist())
                   if s >= 0}
        return _Sparse((self.switches.size, self.h * self.w * self.c), entries)


class _FlattenRule(_Rule):
    def __init__(self, layer, in_shape, out_shape, **_):
        super().__init__(layer, in_shape, out_shape)
        self.permutation = layer.jacobian(np.zeros(in_shape)).tocoo()

    def jacobian(self, x, wrt):
        sympy = require_sympy()
        P = self.permutation
        ones = {(int(i), int(j)): sympy.Integer(1) for i, j in zip(P.row, P.col, strict=True)}
        return _Sparse(P.shape, ones)


class _DenseRule(_Rule):
    def __init__(self, layer, in_shape, out_shape, *, names, tag, params, **_):
        super().__init__(layer, in_shape, out_shape)
        if len(in_shape) != 1:
            raise InvalidValueError(
                f"symbolic Dense takes one sample, a vector (n_in,); got shape {in_shape}")
        if params == "symbols":
            weight = _symbol_array(names.weight, layer.weight.shape, tag)
            bias = None if layer.bias is None else _symbol_array(names.bias, layer.bias.shape, tag)
        else:
            weight = _value_array(layer.weight)
            bias = None if layer.bias is None else _value_array(layer.bias)
        self.params = {"weight": weight} if bias is None else {"weight": weight, "bias": bias}

    def jacobian(self, x, wrt):
        sympy = require_sympy()
        weight = self.params["weight"]
        n_in, n_out = weight.shape
        if wrt == "input":
            entries = {(j, i): weight[i, j] for j in range(n_out) for i in range(n_in)}
            return _Sparse((n_out, n_in), entries)
        if wrt == "weight":
            xv = _vec(x)
            entries = {(j, i + j * n_in): xv[i] for j in range(n_out) for i in range(n_in)}
            return _Sparse((n_out, n_in * n_out), entries)
        return _Sparse((n_out, n_out), {(j, j): sympy.Integer(1) for j in range(n_out)})

    def bias_vec(self):
        return list(self.params["bias"]) if "bias" in self.params else None


class _ElementwiseRule(_Rule):
    linear = False

    def __init__(self, layer, in_shape, out_shape, *, x_numeric, **_):
        super().__init__(layer, in_shape, out_shape)
        self.mask = None
        if isinstance(layer, ReLU):
            if x_numeric is None:
                raise InvalidValueError("ReLU's Jacobian depends on the sign of each input: pass a numeric "
                                 "input x (not just its shape)")
            self.mask = _vec(np.asarray(x_numeric) > 0)
            self.linear = True

    def value(self, v, k):
        sympy = require_sympy()
        if isinstance(self.layer, ReLU):
            return v if self.mask[k] else sympy.Integer(0)
        if isinstance(self.layer, Sigmoid):
            return sympy.Function("sigma")(v)
        return sympy.tanh(v)

    def derivative(self, v, k):
        sympy = require_sympy()
        if isinstance(self.layer, ReLU):
            return sympy.Integer(1) if self.mask[k] else sympy.Integer(0)
        if isinstance(self.layer, Sigmoid):
            s = sympy.Function("sigma")(v)
            return s * (1 - s)
        return 1 - sympy.tanh(v) ** 2

    def forward(self, x):
        return _unvec([self.value(v, k) for k, v in enumerate(_vec(x))], self.out_shape)

    def jacobian(self, x, wrt):
        xv = _vec(x)
        entries = {}
        for k, v in enumerate(xv):
            d = self.derivative(v, k)
            if d != 0:
                entries[(k, k)] = d
        return _Sparse((len(xv), len(xv)), entries)


class _SoftmaxRule(_Rule):
    """Softmax over a vector; its Jacobian is written in its outputs ``s_i``: ``s_i (δ_ij - s_j)``."""

    linear = False

    def __init__(self, layer, in_shape, out_shape, *, output_base, **_):
        super().__init__(layer, in_shape, out_shape)
        if len(in_shape) != 1:
            raise InvalidValueError(f"symbolic Softmax takes one vector (n,); got shape {in_shape}")
        self.s = _symbol_array(output_base, in_shape)

    def forward(self, x):
        sympy = require_sympy()
        e = [sympy.exp(v) for v in x]
        total = sympy.Add(*e)
        return _unvec([v / total for v in e], self.out_shape)

    def jacobian(self, x, wrt):
        s = list(self.s)
        n = len(s)
        entries = {(i, j): (s[i] - s[i] * s[j]) if i == j else -s[i] * s[j]
                   for i in range(n) for j in range(n)}
        return _Sparse((n, n), entries)


_RULES = {Conv2D: _ConvRule, AvgPool2D: _AvgPoolRule, MaxPool2D: _MaxPoolRule, Flatten: _FlattenRule,
          Dense: _DenseRule, ReLU: _ElementwiseRule, Sigmoid: _ElementwiseRule,
          Tanh: _ElementwiseRule, Softmax: _SoftmaxRule}


# --------------------------------------------------------------------------------------
# results

def _as_2d(array):
    """A 1-D array as a column, a 2-D one as is (for display)."""
    sympy = require_sympy()
    array = np.asarray(array, dtype=object)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise InvalidValueError(f"a {array.ndim}-D array has no single matrix form; use channel=")
    return sympy.ImmutableMatrix(array.tolist())


def _channels(array):
    array = np.asarray(array, dtype=object)
    if array.ndim <= 2:
        return [array]
    return [array[:, :, c] for c in range(array.shape[2])]


@dataclass(frozen=True)
class SymbolicJacobian:
    """A numerator-layout Jacobian with named entries.

    Attributes
    ----------
    matrix : sympy.ImmutableSparseMatrix
        ``(len(output_symbols), len(wrt_symbols))``; entry ``(i, j)`` is
        ``∂ output_symbols[i] / ∂ wrt_symbols[j]``.
    output_symbols, wrt_symbols : tuple of sympy.Symbol
        The entries of ``y`` and of the differentiation variable, in ``vec`` order.
    output_shape, wrt_shape : tuple of int
    description : str
        What was differentiated, e.g. ``"d vec(p) / d vec(a) of AvgPool2D(2x2, stride=1) on a
        3x3 input"``.
    """

    matrix: object
    output_symbols: tuple
    wrt_symbols: tuple
    output_shape: tuple
    wrt_shape: tuple
    description: str

    @property
    def shape(self):
        return tuple(self.matrix.shape)

    @property
    def nnz(self):
        """Number of structural nonzeros."""
        return len(self.matrix.todok())

    def labels(self):
        """The matrix of entry labels ``∂p_{11}/∂a_{21}`` (what each entry *means*)."""
        sympy = require_sympy()
        return sympy.ImmutableMatrix([[derivative_symbol(y, x) for x in self.wrt_symbols]
                                      for y in self.output_symbols])

    def to_latex(self, *, headers=False, env="bmatrix"):
        """LaTeX ``bmatrix`` (or, with ``headers=True``, an ``array`` with ``\\partial`` headers).

        Examples
        --------
        >>> import jacobian_cnn as jc
        >>> from jacobian_cnn.symbolic import symbolic_jacobian
        >>> J = symbolic_jacobian(jc.AvgPool2D(2), (2, 2))
        >>> print(J.to_latex(headers=True))
        \\begin{array}{r|cccc}
         & \\partial a_{11} & \\partial a_{21} & \\partial a_{12} & \\partial a_{22} \\\\
        \\hline
        \\partial p_{11} & \\frac{1}{4} & \\frac{1}{4} & \\frac{1}{4} & \\frac{1}{4}
        \\end{array}
        """
        rows = [differential_symbol(s) for s in self.output_symbols] if headers else None
        cols = [differential_symbol(s) for s in self.wrt_symbols] if headers else None
        return matrix_to_latex(self.matrix, env=env, row_labels=rows, col_labels=cols)

    def to_text(self, *, headers=True):
        """Plain-text grid; rows are labelled by the outputs, columns by the variables."""
        rows = list(self.output_symbols) if headers else None
        cols = list(self.wrt_symbols) if headers else None
        return matrix_to_text(self.matrix, row_labels=rows, col_labels=cols)

    def __str__(self):
        return f"{self.description}  ({self.shape[0]}x{self.shape[1]}, {self.nnz} nonzeros)\n" \
               + self.to_text()


def _shaped_matrix(array, channel=None):
    """An entry array in a variable's shape (or one channel of it) as a SymPy matrix."""
    array = np.asarray(array, dtype=object)
    if channel is not None:
        array = array[:, :, channel]
    return _as_2d(array)


def _shaped_latex(array, env):
    """One ``env`` matrix per channel, side by side, separated by ``\\quad``."""
    return " \\quad\n".join(matrix_to_latex(_as_2d(a), env=env) for a in _channels(array))


def _shaped_text(array):
    """Plain-text grid, one per channel."""
    parts = _channels(array)
    if len(parts) == 1:
        return matrix_to_text(_as_2d(parts[0]))
    return "\n\n".join(f"channel {c + 1}:\n" + matrix_to_text(_as_2d(a))
                       for c, a in enumerate(parts))


@dataclass(frozen=True)
class SymbolicArray:
    """A forward result with named entries (seed 004's rep.2).

    Attributes
    ----------
    array : numpy.ndarray of object
        The output in its own shape, one SymPy expression per entry.
    symbols : numpy.ndarray of object
        The output's entry names (``z_{pq}``), same shape.
    description : str
    """

    array: object
    symbols: object
    description: str

    def matrix(self, channel=None):
        """The output (or one channel of it) as a SymPy matrix; a vector is a column."""
        return _shaped_matrix(self.array, channel)

    def to_latex(self, *, env="bmatrix"):
        """One ``bmatrix`` (a vector is a column); channels side by side, separated by ``\\quad``."""
        return _shaped_latex(self.array, env)

    def to_text(self):
        """Plain-text grid (one per channel)."""
        return _shaped_text(self.array)

    def __str__(self):
        return f"{self.description}\n{self.to_text()}"


@dataclass(frozen=True)
class SymbolicGradient:
    """``dJ/d vec(x)`` as a row and reshaped into ``x``'s shape (seed 000's answer).

    Attributes
    ----------
    row : sympy.ImmutableMatrix
        ``1 x n``: ``[∂J/∂p] @ J`` in ``vec`` order of the variable.
    array : numpy.ndarray of object
        The same entries unvec'd (column-major) into the variable's shape.
    wrt_symbols : tuple
        The variable's entries in ``vec`` order (the row's labels).
    description : str
    """

    row: object
    array: object
    wrt_symbols: tuple
    description: str

    def matrix(self, channel=None):
        """The gradient in the variable's shape as a SymPy matrix (a vector is a column)."""
        return _shaped_matrix(self.array, channel)

    def to_latex(self, *, form="shaped", env="bmatrix"):
        """``form="shaped"``: in the variable's shape; ``"row"``: the ``vec``-order row."""
        if form == "row":
            return matrix_to_latex(self.row, env=env)
        if form != "shaped":
            raise InvalidValueError(f"form must be 'shaped' or 'row', got {form!r}")
        return _shaped_latex(self.array, env)

    def to_text(self, *, form="shaped"):
        """Plain text; ``form="row"`` lists ``∂J/∂a_{ij} = ...`` in vec order."""
        if form == "row":
            return "\n".join(f"{to_text(x)}: {to_text(v)}" for x, v in zip(
                self.wrt_symbols, list(self.row), strict=True))
        if form != "shaped":
            raise InvalidValueError(f"form must be 'shaped' or 'row', got {form!r}")
        return _shaped_text(self.array)

    def __str__(self):
        return f"{self.description}\n{self.to_text()}"


# --------------------------------------------------------------------------------------
# the problem: a layer or chain at an input, with named symbols

def _shape_text(shape):
    """``"3x4"`` for a map, ``"length-3"`` for a vector."""
    return f"length-{shape[0]}" if len(shape) == 1 else "x".join(str(s) for s in shape)


class SymbolicProblem:
    """A layer (or :class:`~jacobian_cnn.Chain`) at an input, with symbolic entries.

    Parameters
    ----------
    layer : layer or Chain
        One of :data:`SUPPORTED_LAYERS`, or a chain of them.
    x : tuple of int or array_like
        A tuple is the input *shape* (one sample: ``(H, W)``, ``(H, W, C)`` or
        ``(n,)``); an array is a numeric input, needed where the Jacobian depends
        on values (max-pool switches, ReLU's active set).
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
        limit = _entry_limit(max_entries)
        self.layer = layer
        self.layers = list(layer.layers) if isinstance(layer, Chain) else [layer]
        for i, lay in enumerate(self.layers):
            if type(lay) not in _RULES:
                supported = ", ".join(t.__name__ for t in SUPPORTED_LAYERS)
                raise InvalidTypeError(f"layer {i} ({lay!r}) has no symbolic rule; supported: {supported} "
                                "and Chains of them")
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
        output = names.output or _DEFAULT_OUTPUT.get(type(self.layers[-1]), "y")
        self.names = dataclasses.replace(names, output=output)
        letters = [("input", self.names.input), ("output", output), ("loss", self.names.loss)]
        letters += sorted({(name, self._letter(name)) for lay in self.layers for name in lay.params})
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
        estimate = _entry_estimate(self.layers, shapes)
        if estimate > limit:
            raise SizeLimitError(
                f"the symbolic problem {self.layer!r} on a {_shape_text(tuple(shape))} input "
                f"would build about {estimate:,} SymPy entries (named entries plus Jacobian "
                f"nonzeros), over max_entries={limit:,}; pass a larger max_entries or a "
                "smaller input")
        self.rules, x_l = [], x_numeric
        for i, (lay, (in_shape, out_shape)) in enumerate(zip(self.layers, shapes, strict=True)):
            y_l = outputs[i]
            last = i == len(self.layers) - 1
            rule = _RULES[type(lay)](
                lay, in_shape, out_shape, names=self.names, tag=tags[i], params=params,
                flip=self.flip_kernel, shift=self.shift, x_numeric=x_l, switches=switches,
                winners=winners, output_base=output if last else "s")
            self.rules.append(rule)
            x_l = None if x_l is None else y_l
        self.input_shape, self.output_shape = tuple(shape), tuple(shapes[-1][1])
        self.input_symbols = _symbol_array(self.names.input, self.input_shape)
        self.output_symbols = _symbol_array(output, self.output_shape)
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
        if len(shape) > 3:
            raise InvalidValueError(f"symbolic matrices take one sample ((n,), (H, W) or (H, W, C)); "
                             f"got shape {shape}")
        return x_numeric, shape

    def _letter(self, name):
        """Letter of the named entries of ``name`` ("input", "kernel", "weight" or "bias")."""
        return getattr(self.names, name)

    def _tags(self):
        """Layer tags ``[l]`` for parameter letters that several layers share."""
        uses = defaultdict(list)
        for i, lay in enumerate(self.layers):
            for name in lay.params:
                uses[self._letter(name)].append(i)
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
        return f"{what} on a {_shape_text(self.input_shape)} input"

    def check_wrt(self, wrt):
        """Validate ``wrt`` (``"input"``, or a parameter of a single layer) and return it."""
        allowed = {"input"} | (set(self.rules[0].params) if len(self.rules) == 1 else set())
        if wrt not in allowed:
            extra = "" if len(self.rules) == 1 else " (a chain is differentiated wrt its input)"
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
        return self.input_symbols if wrt == "input" else self.rules[0].params[wrt]

    def _sparse_jacobian(self, wrt):
        key = ("jacobian", wrt)
        if key not in self._cache:
            xs = self._inputs()
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
        return SymbolicJacobian(J.to_sympy(), tuple(_vec(self.output_symbols)), tuple(_vec(wrt_array)),
                                self.output_shape, tuple(np.shape(wrt_array)), self._title(wrt))

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
        g = _vec(self.incoming())
        terms = defaultdict(list)
        for (i, j), value in J.entries.items():
            terms[j].append(g[i] * value)
        row = [sympy.Add(*terms[j]) if j in terms else sympy.Integer(0) for j in range(J.shape[1])]
        wrt_array = self.wrt_symbols(wrt)
        loss = self.names.loss
        shape = np.shape(wrt_array)[:_index_dims(np.shape(wrt_array))]  # a 2-D kernel stays 2-D
        return SymbolicGradient(
            sympy.ImmutableMatrix([row]), _unvec(row, shape),
            tuple(_vec(wrt_array)),
            f"d{loss} / d vec({self._letter(wrt)}) = [d{loss} / d vec({self.names.output})] "
            f"@ d vec({self.names.output}) / d vec({self._letter(wrt)}) for {self!r}")


def _entry_limit(max_entries):
    if max_entries is None:
        return MAX_SYMBOLIC_ENTRIES
    if isinstance(max_entries, (bool, np.bool_)) or not isinstance(max_entries, numbers.Integral):
        raise InvalidTypeError(f"max_entries must be None or a positive int, got {max_entries!r}")
    if max_entries < 1:
        raise InvalidValueError(f"max_entries must be None or a positive int, got {max_entries!r}")
    return int(max_entries)


def _layer_counts(layer, in_shape, out_shape):
    """``(nonzeros by wrt, largest row of the input Jacobian)`` from the shapes alone."""
    n_in, n_out = int(np.prod(in_shape)), int(np.prod(out_shape))
    if isinstance(layer, (Conv2D, AvgPool2D)):
        c = in_shape[2] if len(in_shape) == 3 else 1
        geo = layer.geometry(tuple(in_shape[:2]))
        if isinstance(layer, AvgPool2D):
            return {"input": geo.n_valid * c}, geo.n_taps
        ci, co = (layer.kernel.shape + (1, 1))[2:4]
        nnz = {"input": geo.n_valid * ci * co, "kernel": geo.n_valid * ci * co}
        if layer.bias is not None:
            nnz["bias"] = geo.n_out * co
        return nnz, geo.n_taps * ci
    if isinstance(layer, Dense):
        nnz = {"input": n_in * n_out, "weight": n_in * n_out}
        if layer.bias is not None:
            nnz["bias"] = n_out
        return nnz, n_in
    if isinstance(layer, Softmax):
        return {"input": n_in * n_in}, n_in
    return {"input": n_out}, 1  # max pooling, flatten, elementwise: one entry per row at most


def _entry_estimate(layers, shapes):
    """Upper bound of the SymPy entries a problem builds: named inputs, outputs and
    parameters, plus the Jacobian's nonzeros (a chain: every layer's, and its product's,
    the last layer's nonzeros times the largest row of every earlier layer, at most
    ``n_out * n_in``)."""
    named = int(np.prod(shapes[0][0])) + int(np.prod(shapes[-1][1]))
    named += sum(int(np.size(p)) for layer in layers for p in layer.params.values())
    nnz, _ = _layer_counts(layers[-1], *shapes[-1])
    if len(layers) == 1:
        return named + max(nnz.values())
    bound = nnz["input"]
    named += sum(_layer_counts(layer, *shape)[0]["input"] for layer, shape in zip(layers, shapes,
                                                                                   strict=True))
    for layer, (in_shape, out_shape) in zip(layers[-2::-1], shapes[-2::-1], strict=True):
        bound = min(bound * _layer_counts(layer, in_shape, out_shape)[1],
                    int(np.prod(shapes[-1][1])) * int(np.prod(in_shape)))
    return named + bound


def symbolic_jacobian(layer, x, wrt="input", **options):
    """``d vec(y) / d vec(wrt)`` with named entries (see :class:`SymbolicProblem` for options).

    Examples
    --------
    Seed 004 appendix A: ``∂z_{32}/∂a_{23} = β_{12}`` (eq. a2-2) and
    ``∂z_{32}/∂β_{21} = a_{32}`` (eq. a1-2).

    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> from jacobian_cnn.symbolic import Names, symbolic_jacobian
    >>> conv = jc.Conv2D(np.ones((2, 2)), stride=(1, 2), padding=1)
    >>> JA = symbolic_jacobian(conv, (3, 4), names=Names(kernel="beta"))
    >>> JA.output_symbols[6], JA.wrt_symbols[7], JA.matrix[6, 7]
    (z_{32}, a_{23}, beta_{12})
    >>> JK = symbolic_jacobian(conv, (3, 4), wrt="kernel", names=Names(kernel="beta"))
    >>> JK.wrt_symbols[1], JK.matrix[6, 1]
    (beta_{21}, a_{32})
    """
    return SymbolicProblem(layer, x, **options).jacobian(wrt)


def symbolic_forward(layer, x, **options):
    """``y = f(x)`` with named entries, e.g. seed 004's rep.2 (see :class:`SymbolicProblem`)."""
    return SymbolicProblem(layer, x, **options).forward()


def symbolic_gradient(layer, x, wrt="input", **options):
    """``[∂J/∂y] @ d vec(y)/d vec(wrt)``, as a row and reshaped (see :class:`SymbolicProblem`).

    Examples
    --------
    Seed 003: max unpooling routes each ``∂J/∂p_{mn}`` to its window's winner.

    >>> import jacobian_cnn as jc
    >>> from jacobian_cnn.symbolic import symbolic_gradient
    >>> g = symbolic_gradient(jc.MaxPool2D(2), (4, 4), winners=[[(2, 1), (1, 4)], [(3, 1), (4, 3)]])
    >>> g.matrix()
    Matrix([
    [         0, 0,          0, ∂J/∂p_{12}],
    [∂J/∂p_{11}, 0,          0,          0],
    [∂J/∂p_{21}, 0,          0,          0],
    [         0, 0, ∂J/∂p_{22},          0]])
    """
    return SymbolicProblem(layer, x, **options).gradient(wrt)
