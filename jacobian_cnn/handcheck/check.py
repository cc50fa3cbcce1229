"""Check a hand derivation entry by entry, and name the systematic mistake behind it.

A student writes a Jacobian, a forward result or a gradient (as LaTeX, a SymPy
matrix, a NumPy array or nested lists of strings). :func:`check_derivation`
computes the same quantity symbolically (:mod:`jacobian_cnn.symbolic`, conventions
in :mod:`jacobian_cnn.vec`) and compares:

1. It decides *what* was written from the symbols and the shape: a Jacobian
   (``n_out x n_in``), its entry labels (``∂p_{11}/∂a_{21}``), the gradient row
   ``dJ/d vec(a)``, the gradient in ``a``'s shape, or the forward result.
2. It tries the correct answer and the common systematic mistakes, alone and
   combined: a row-major reshape or listing instead of ``vec``'s column-major
   order, a transposed (denominator-layout) matrix, a kernel flipped when it
   should not be (or not when it should), every window shifted by one row or
   column. The reading that explains the most entries wins; the correct one wins
   ties.
3. It reports each remaining entry by meaning (``∂p_{12}/∂a_{21}: you wrote 1/4,
   correct is 0``) and names patterns across entries: overlapping windows not
   summed (an entry that keeps only some of its windows' terms) and stray factors
   (a term whose coefficient is off by the same factor, seed 000's extra 1/4).

Before anything is built, the problem's size (the entries of its Jacobian, at most
``max_entries``) and the written matrix's shape are tested from shapes alone; the
written entries are held to the LaTeX reader's limits (:mod:`jacobian_cnn.symbolic.latex`), so
no input makes the checker hang.

Examples
--------
Seed 000's eq. 3 is right:

>>> import jacobian_cnn as jc
>>> from jacobian_cnn.handcheck import check_derivation
>>> eq3 = r'''\\begin{bmatrix}
...   \\frac{1}{4} & \\frac{1}{4} & 0 & \\frac{1}{4} & \\frac{1}{4} & 0 & 0 & 0 & 0 \\\\
...   0 & \\frac{1}{4} & \\frac{1}{4} & 0 & \\frac{1}{4} & \\frac{1}{4} & 0 & 0 & 0 \\\\
...   0 & 0 & 0 & \\frac{1}{4} & \\frac{1}{4} & 0 & \\frac{1}{4} & \\frac{1}{4} & 0 \\\\
...   0 & 0 & 0 & 0 & \\frac{1}{4} & \\frac{1}{4} & 0 & \\frac{1}{4} & \\frac{1}{4}
... \\end{bmatrix}'''
>>> print(check_derivation(eq3, jc.AvgPool2D(2, stride=1), (3, 3)))
Checked: a 4x9 matrix, read as d vec(p) / d vec(a) (the Jacobian in numerator layout)
Problem: AvgPool2D(2x2, stride=1) on a 3x3 input
Correct: all 36 entries match.

One entry wrong:

>>> wrong = eq3.replace(r"0 & 0 & 0 & \\frac{1}{4} & \\frac{1}{4} & 0 & \\frac{1}{4}",
...                     r"0 & \\frac{1}{4} & 0 & \\frac{1}{4} & \\frac{1}{4} & 0 & \\frac{1}{4}")
>>> report = check_derivation(wrong, jc.AvgPool2D(2, stride=1), (3, 3))
>>> print(report.diffs[0])
∂p_{12}/∂a_{21}: you wrote 1/4, correct is 0  [row 3, column 2]
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from jacobian_cnn.errors import InvalidTypeError, InvalidValueError, JacobianCNNError, SizeLimitError
from jacobian_cnn.symbolic import latex
from jacobian_cnn.symbolic.jacobians import SymbolicProblem, as_rational
from jacobian_cnn.symbolic.latex import (
    LatexParseError,
    _read_matrix,
    derivative_symbol,
    entry_symbol,
    expansion_size,
    parse_expression,
    require_sympy,
    symbol_parts,
    to_text,
)

__all__ = ["check_derivation", "as_written_matrix", "CheckReport", "Mistake", "EntryDiff",
           "QUANTITIES", "MAX_CHECK_ENTRIES", "MAX_SIMPLIFY_OPS"]

MAX_CHECK_ENTRIES = 250_000
"""Default ``max_entries`` of :func:`check_derivation` (``--max-entries`` of ``jacobian-cnn
check``): the largest problem checked, counted as the entries of its Jacobian
``d vec(y) / d vec(wrt)`` (rows times columns), from shapes alone before anything is built.
A 2x2 window with stride 1 on a 22x22 input is 441 x 484 = 213,444."""

MAX_SIMPLIFY_OPS = 400
"""Largest difference of two non-polynomial entries (SymPy operations) that is simplified
to decide whether they are equal; a larger one is refused rather than guessed."""

QUANTITIES = {
    "jacobian": "the Jacobian in numerator layout",
    "jacobian_labels": "the entry labels of the Jacobian",
    "gradient": "the gradient reshaped into the variable's shape",
    "gradient_row": "the gradient as a row over vec order",
    "gradient_labels": "the entry labels of the gradient, in the variable's shape",
    "gradient_row_labels": "the entry labels of the gradient row",
    "forward": "the forward result",
}
"""What :func:`check_derivation` can compare, by name (``quantity=``)."""

_SHIFTS = {(1, 0): "one row down", (-1, 0): "one row up", (0, 1): "one column right",
           (0, -1): "one column left"}


@dataclass(frozen=True)
class Mistake:
    """A systematic mistake: ``kind`` (a short name) and a message for a person."""

    kind: str
    message: str

    def __str__(self):
        return self.message


@dataclass(frozen=True)
class EntryDiff:
    """One entry that differs, labelled by what it means.

    Attributes
    ----------
    position : (int, int)
        1-based row and column in the written matrix.
    label : str
        What the entry is, e.g. ``"∂p_{12}/∂a_{21}"`` or ``"∂J/∂a_{21}"`` (after
        undoing the diagnosed systematic mistakes).
    written, correct : sympy.Expr
    note : str
        How they differ (missing terms, a stray factor, ...), or ``""``.
    """

    position: tuple
    label: str
    written: object
    correct: object
    note: str = ""
    kinds: tuple = ()

    def __str__(self):
        note = f"; {self.note}" if self.note else ""
        return (f"{self.label}: you wrote {to_text(self.written)}, correct is "
                f"{to_text(self.correct)}{note}  [row {self.position[0]}, column {self.position[1]}]")


@dataclass
class CheckReport:
    """Outcome of :func:`check_derivation`; ``str()`` is the report for a person.

    Attributes
    ----------
    quantity : str
        Key of :data:`QUANTITIES` the written matrix was read as.
    title : str
        That quantity for this problem, e.g. ``"d vec(p) / d vec(a)"``.
    problem : str
        The layer and input, e.g. ``"AvgPool2D(2x2, stride=1) on a 3x3 input"``.
    shape : (int, int)
        Shape of the written matrix.
    mistakes : list of Mistake
        Systematic mistakes (empty if none).
    diffs : list of EntryDiff
        Entries that still differ once the systematic mistakes are undone.
    n_entries, n_matching : int
        Entries in total, and matching under the diagnosis.
    source : str
        Where the matrix came from (for LaTeX text with several matrices).
    """

    quantity: str
    title: str
    problem: str
    shape: tuple
    mistakes: list = field(default_factory=list)
    diffs: list = field(default_factory=list)
    n_entries: int = 0
    n_matching: int = 0
    source: str = ""

    @property
    def ok(self):
        """``True`` when the written matrix is exactly right."""
        return not self.mistakes and not self.diffs

    @property
    def kinds(self):
        """The set of mistake kinds, e.g. ``{"row_major_reshape", "stray_factor"}``."""
        return {m.kind for m in self.mistakes}

    def __str__(self):
        head = (f"Checked: a {self.shape[0]}x{self.shape[1]} matrix{self.source}, read as "
                f"{self.title} ({QUANTITIES[self.quantity]})\nProblem: {self.problem}")
        if self.ok:
            return f"{head}\nCorrect: all {self.n_entries} entries match."
        lines = [head]
        if self.mistakes:
            lines.append("Mistakes:")
            lines += [f"  - {m.message}" for m in self.mistakes]
        if self.diffs:
            undone = " once the systematic mistakes are undone" if any(
                m.kind in _STRUCTURAL for m in self.mistakes) else ""
            lines.append(f"Entries that differ{undone} ({len(self.diffs)} of {self.n_entries}):")
            lines += [f"  {d}" for d in self.diffs]
        else:
            lines.append(f"Every entry matches once the mistakes above are undone "
                         f"({self.n_entries} entries).")
        return "\n".join(lines)


_STRUCTURAL = {"row_major_reshape", "row_major_order", "denominator_layout", "transposed",
               "kernel_flip", "window_shift"}


# --------------------------------------------------------------------------------------
# reading what was written

def as_written_matrix(written, *, which=-1):
    """Turn what a person has into a 2-D object array of expanded SymPy expressions.

    Parameters
    ----------
    written : str, sympy matrix, numpy array or nested lists
        LaTeX text with a matrix environment (see :func:`jacobian_cnn.symbolic.latex.parse_matrix`);
        a SymPy matrix; a numeric array (floats become the simplest rationals
        within 1e-12); nested lists/arrays of strings (each parsed by
        :func:`jacobian_cnn.symbolic.latex.parse_expression`), numbers or SymPy
        expressions. A 1-D sequence is a row.
    which : int
        For LaTeX text with several matrices, which one (default: the last).

    Returns
    -------
    (numpy.ndarray, str)
        The entries, and a note on where they came from.

    Examples
    --------
    >>> from jacobian_cnn.handcheck import as_written_matrix
    >>> as_written_matrix([["1/4", "a_{11} k_{22}"], [0.25, 0]])[0]
    array([[1/4, a_{11}*k_{22}],
           [1/4, 0]], dtype=object)
    """
    sympy = require_sympy()
    source = ""
    if isinstance(written, str):
        matrix, n_sources = _read_matrix(written, which)
        if n_sources > 1:
            index = which % n_sources
            source = f" (matrix {index + 1} of {n_sources} in the text)"
        rows = matrix.tolist()
    elif isinstance(written, sympy.MatrixBase):
        rows = written.tolist()
    elif isinstance(written, (list, tuple, np.ndarray)):
        rows = _nested_rows(written)
    else:
        raise InvalidTypeError("written must be LaTeX text, a SymPy matrix, a NumPy array or nested "
                        f"lists; got {type(written).__name__}")
    if not rows or not rows[0]:
        raise InvalidValueError("the written matrix is empty")
    shape = (len(rows), len(rows[0]))
    if shape[0] * shape[1] > latex.MAX_MATRIX_ENTRIES:
        raise SizeLimitError(
            f"the written matrix is {shape[0]}x{shape[1]} ({shape[0] * shape[1]:,} entries), over "
            f"the limit of {latex.MAX_MATRIX_ENTRIES:,} (jacobian_cnn.symbolic.latex.MAX_MATRIX_ENTRIES)")
    entries = np.empty(shape, dtype=object)
    spent = 0
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            entries[i, j] = _entry(value, (i, j))
            spent += expansion_size(entries[i, j])
            if spent > latex.MAX_EXPANDED_TERMS:  # checked before anything is expanded
                raise SizeLimitError(
                    f"expanding the written entries up to ({i + 1}, {j + 1}) would create about "
                    f"{spent:,} terms, over the limit of {latex.MAX_EXPANDED_TERMS:,} "
                    "(jacobian_cnn.symbolic.latex.MAX_EXPANDED_TERMS)")
    out = np.empty(shape, dtype=object)
    for (i, j), value in np.ndenumerate(entries):
        out[i, j] = _canonical(value)
    return out, source


def _nested_rows(written):
    array = np.asarray(written, dtype=object) if not isinstance(written, np.ndarray) else written
    if array.dtype != object:
        if array.dtype.kind not in "iuf":
            raise InvalidTypeError(f"a numeric array must be real, got dtype {array.dtype}")
        array = array.astype(object)
    if array.ndim == 0:
        array = array.reshape(1, 1)
    if array.ndim == 1:
        if any(isinstance(v, (list, tuple, np.ndarray)) for v in array):
            lengths = sorted({len(v) for v in array if isinstance(v, (list, tuple, np.ndarray))})
            raise InvalidValueError(f"rows of the written matrix have different lengths {lengths}")
        array = array[None, :]
    if array.ndim != 2:
        raise InvalidValueError(f"the written matrix must be 2-D (or a 1-D row); got {array.ndim}-D")
    return array.tolist()


def _entry(value, where):
    sympy = require_sympy()
    if isinstance(value, str):
        try:
            return parse_expression(value)
        except LatexParseError as exc:
            raise LatexParseError(f"in entry ({where[0] + 1}, {where[1] + 1}): {exc.reason}",
                                  value, exc.position) from None
    if isinstance(value, (bool, np.bool_)):
        raise InvalidTypeError(f"entry ({where[0] + 1}, {where[1] + 1}) is a bool, not a number")
    if isinstance(value, sympy.Basic):
        if not isinstance(value, sympy.Expr):
            raise InvalidTypeError(f"entry ({where[0] + 1}, {where[1] + 1}) is a "
                                   f"{type(value).__name__}, not an expression")
        for number in value.atoms(sympy.Rational):
            _check_digits(max(abs(int(number.p)), int(number.q)), where)
        if value.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            raise InvalidValueError(f"entry ({where[0] + 1}, {where[1] + 1}) is undefined or "
                                    f"infinite: {value}")
        return value
    if isinstance(value, (numbers.Integral, np.integer)):
        _check_digits(abs(int(value)), where)
        return sympy.Integer(int(value))
    if isinstance(value, Fraction):
        _check_digits(max(abs(value.numerator), value.denominator), where)
        return sympy.Rational(value.numerator, value.denominator)
    if isinstance(value, (numbers.Real, np.floating)):
        if not np.isfinite(float(value)):
            raise InvalidValueError(f"entry ({where[0] + 1}, {where[1] + 1}) is {value}")
        return as_rational(value)
    raise InvalidTypeError(f"entry ({where[0] + 1}, {where[1] + 1}) has unsupported type "
                    f"{type(value).__name__}")


def _check_digits(n, where):
    """Refuse an exact number of more than ``MAX_NUMBER_DIGITS`` digits (as the reader does)."""
    if n.bit_length() > latex.MAX_NUMBER_DIGITS * 3.33 + 4 or n >= 10**latex.MAX_NUMBER_DIGITS:
        raise SizeLimitError(
            f"entry ({where[0] + 1}, {where[1] + 1}) holds a number of about "
            f"{int(n.bit_length() * 0.30103) + 1:,} digits, over the limit of "
            f"{latex.MAX_NUMBER_DIGITS} (jacobian_cnn.symbolic.latex.MAX_NUMBER_DIGITS)")


def _canonical(expr):
    """Symbols renamed to this package's names (``a_11`` -> ``a_{11}``), floats exact, expanded."""
    sympy = require_sympy()
    replace = {}
    for s in expr.free_symbols:
        try:
            parsed = parse_expression(s.name)
        except LatexParseError:
            continue
        if parsed.is_Symbol and parsed != s:
            replace[s] = parsed
    for f in expr.atoms(sympy.Float):
        replace[f] = as_rational(f)
    if replace:
        expr = expr.xreplace(replace)
    return sympy.expand(expr)


# --------------------------------------------------------------------------------------
# what the correct answer (and each mistaken variant of it) looks like

@dataclass
class _Arrangement:
    """A way the right entries may have been laid out: ``written[p] = expected.flat[src[p]]``."""

    kinds: tuple
    src: np.ndarray
    describe: object = None  # callable(report context) -> message, per kind


def _c_order(shape):
    """vec index of the k-th entry when entries are listed row-major (C order)."""
    n = int(np.prod(shape))
    return np.ravel_multi_index(np.unravel_index(np.arange(n), shape, order="C"), shape, order="F")


def _family(quantity):
    if quantity in ("jacobian", "jacobian_labels"):
        return "jacobian"
    if quantity in ("gradient_row", "gradient_row_labels"):
        return "row"
    if quantity in ("gradient", "gradient_labels"):
        return "shaped"
    return "forward"


def _arrangements(quantity, expected_shape, var_shape, out_shape):
    """Candidate layouts: correct first, then the systematic mistakes and their combinations."""
    family = _family(quantity)
    m, n = expected_shape
    base = np.arange(m * n).reshape(m, n)
    out = []
    if family == "jacobian":
        row_c, col_c = _c_order(out_shape), _c_order(var_shape)
        row_opts = [False] + ([True] if not np.array_equal(row_c, np.arange(m)) else [])
        col_opts = [False] + ([True] if not np.array_equal(col_c, np.arange(n)) else [])
        for rows in row_opts:
            for cols in col_opts:
                for transposed in (False, True):
                    rp = row_c if rows else np.arange(m)
                    cp = col_c if cols else np.arange(n)
                    src = rp[:, None] * n + cp[None, :]
                    kinds = (("row_major_order:rows",) if rows else ()) + \
                        (("row_major_order:cols",) if cols else ()) + \
                        (("denominator_layout",) if transposed else ())
                    out.append(_Arrangement(kinds, src.T if transposed else src))
    elif family == "row":
        order = _c_order(var_shape)
        opts = [False] + ([True] if not np.array_equal(order, np.arange(n)) else [])
        for listed_c in opts:
            src = (order if listed_c else np.arange(n))[None, :]
            for column in (False, True):
                kinds = (("row_major_order:entries",) if listed_c else ()) + \
                    (("denominator_layout",) if column else ())
                out.append(_Arrangement(kinds, src.T if column else src))
    elif family == "shaped":
        out.append(_Arrangement((), base))
        if m > 1 and n > 1:
            k = np.arange(m * n).reshape(m, n)  # row-major fill of the vec-order row
            out.append(_Arrangement(("row_major_reshape",), (k % m) * n + k // m))
        if n != 1 or m != 1:
            out.append(_Arrangement(("transposed",) if n > 1 else (), base.T))
    else:
        out.append(_Arrangement((), base))
        if m > 1 or n > 1:
            out.append(_Arrangement(("transposed",) if n > 1 else (), base.T))
        if m > 1 and n > 1:  # vec(z) written as a column: fine; listed row-major: not
            k = np.arange(m * n)
            out.append(_Arrangement((), ((k % m) * n + k // m)[:, None]))
            out.append(_Arrangement(("row_major_order:entries",), k[:, None]))
    return out


class _Expected:
    """The expected matrix of one quantity for one (possibly mistaken) problem variant."""

    def __init__(self, problem, quantity, wrt):
        sympy = require_sympy()
        self.quantity = quantity
        loss = entry_symbol(problem.names.loss)
        var = problem.wrt_symbols(wrt)
        self.var_shape, self.out_shape = np.shape(var), problem.output_shape
        while len(self.var_shape) > 2 and self.var_shape[-1] == 1:  # a (kh, kw, 1, 1) kernel
            self.var_shape = self.var_shape[:-1]
        var_vec = list(np.asarray(var, dtype=object).ravel(order="F"))
        out_vec = list(np.asarray(problem.output_symbols, dtype=object).ravel(order="F"))
        family = _family(quantity)
        if family == "jacobian":
            self.labels = lambda i, j: to_text(derivative_symbol(out_vec[i], var_vec[j]))
            if quantity == "jacobian":
                J = problem.jacobian(wrt).matrix
                values = np.full(J.shape, sympy.Integer(0), dtype=object)
                for (i, j), v in J.todok().items():
                    values[i, j] = v
            else:
                values = np.array([[derivative_symbol(y, x) for x in var_vec] for y in out_vec],
                                  dtype=object)
        elif family in ("row", "shaped"):
            if quantity.endswith("labels"):
                row = [derivative_symbol(loss, x) for x in var_vec]
            else:
                row = list(problem.gradient(wrt).row)
            if family == "row":
                values = np.empty((1, len(row)), dtype=object)
                values[0, :] = row
                self.labels = lambda i, j: to_text(derivative_symbol(loss, var_vec[j]))
            else:
                if len(self.var_shape) > 2:
                    raise InvalidValueError("a multi-channel gradient has no single matrix form")
                shape = self.var_shape if len(self.var_shape) == 2 else (len(row), 1)
                values = np.empty(len(row), dtype=object)
                values[:] = row
                values = values.reshape(shape, order="F")
                self.labels = lambda i, j: to_text(derivative_symbol(
                    loss, var_vec[i + j * shape[0]]))
        else:
            y = np.asarray(problem.forward().array, dtype=object)
            if y.ndim > 2:
                raise InvalidValueError("a multi-channel output has no single matrix form")
            shape = y.shape if y.ndim == 2 else (y.size, 1)
            values = y.reshape(shape, order="F")
            self.labels = lambda i, j: to_text(out_vec[i + j * shape[0]])
        cache = {}
        flat = values.ravel()
        for k, v in enumerate(flat):
            if v not in cache:
                cache[v] = sympy.expand(v)
            flat[k] = cache[v]
        self.values = flat.reshape(values.shape)

    def label(self, flat_index):
        i, j = divmod(int(flat_index), self.values.shape[1])
        return self.labels(i, j)


def _quantities_for(written, problem, wrt):
    """Quantities worth trying, from the kinds of symbols the written matrix contains."""
    loss = entry_symbol(problem.names.loss).name
    out_letter = problem.names.output
    derivatives = set()
    for value in written.ravel():
        for s in value.free_symbols:
            parts = symbol_parts(s)
            if parts[0] == "derivative":
                num, den = symbol_parts(parts[1]), symbol_parts(parts[2])
                derivatives.add((parts[1] == loss, den[1] if den[0] == "entry" else "",
                                 num[1] if num[0] == "entry" else ""))
    if not derivatives:
        return ["jacobian", "forward"]
    if any(is_loss for is_loss, _, _ in derivatives):
        if all(den == out_letter for is_loss, den, _ in derivatives if is_loss):
            return ["gradient", "gradient_row"]
        return ["gradient_labels", "gradient_row_labels", "gradient", "gradient_row"]
    return ["jacobian_labels"]


def _shape_text(shape):
    return "x".join(str(s) for s in shape)


# --------------------------------------------------------------------------------------
# the check

def check_derivation(written, layer, x=None, *, wrt="input", quantity="auto", which=-1,
                     max_entries=MAX_CHECK_ENTRIES, **options):
    """Compare a hand-derived matrix with the package's result for a layer and input.

    Parameters
    ----------
    written : str, sympy matrix, numpy array or nested lists
        See :func:`as_written_matrix`.
    layer : layer, Chain or SymbolicProblem
        What was differentiated. With a :class:`~jacobian_cnn.symbolic.jacobians.SymbolicProblem`,
        ``x`` and ``options`` must be omitted.
    x : tuple of int or array_like
        The input shape, or a numeric input (needed for max pooling and ReLU).
    wrt : str
        ``"input"`` or a parameter name (``"kernel"``, ``"weight"``, ``"bias"``).
    quantity : str
        ``"auto"`` (default: decided from the symbols and the shape) or a key of
        :data:`QUANTITIES`.
    which : int
        For LaTeX text with several matrices, which one (default: the last).
    max_entries : int
        Largest problem checked: the entries of its Jacobian ``d vec(y) / d vec(wrt)``
        (default :data:`MAX_CHECK_ENTRIES`), tested from shapes before anything is built.
    **options
        Passed to :class:`~jacobian_cnn.symbolic.jacobians.SymbolicProblem` (``names=``,
        ``params=``, ``switches=``, ``winners=``, ``flip_kernel=``).

    Returns
    -------
    CheckReport

    Raises
    ------
    ValueError
        If the written matrix's shape fits none of the quantities (the message
        lists the shapes that would; tested before any expected matrix is built), or
        on malformed LaTeX (:class:`~jacobian_cnn.symbolic.latex.LatexParseError`, with line
        and column).
    SizeLimitError
        If the problem is over ``max_entries``, or the written matrix over a limit of
        the reader (:mod:`jacobian_cnn.symbolic.latex`: ``MAX_INPUT_CHARS``, ...).
    """
    _check_max_entries(max_entries)
    if isinstance(layer, SymbolicProblem):
        if x is not None or options:
            raise InvalidTypeError("with a SymbolicProblem, pass neither x nor problem options")
        problem = layer
    else:
        if x is None:
            raise InvalidTypeError("check_derivation needs x: the input shape or a numeric input")
        _check_size_from_shapes(layer, x, wrt, max_entries)
        options.setdefault("max_entries", max_entries)  # one limit for the whole check
        problem = SymbolicProblem(layer, x, **options)
    if quantity != "auto" and quantity not in QUANTITIES:
        raise InvalidValueError(f"quantity must be 'auto' or one of {sorted(QUANTITIES)}, got {quantity!r}")
    problem.check_wrt(wrt)
    _check_problem_size(problem, wrt, max_entries)
    W, source = as_written_matrix(written, which=which)
    candidates = [quantity] if quantity != "auto" else _quantities_for(W, problem, wrt)
    shapes = {q: _layout_shapes(q, problem, wrt) for q in candidates}
    if not any(W.shape == shape for q in candidates for shape, _ in shapes[q]):
        fitting = ", ".join(f"{q}: {_shape_text(shape)}" for q, shape in dict.fromkeys(
            (q, shape) for q in candidates for shape, correct in shapes[q] if correct))
        raise InvalidValueError(f"a {_shape_text(W.shape)} matrix fits none of the quantities of "
                                f"{problem!r}; expected shapes are {fitting}")
    candidates = [q for q in candidates if any(W.shape == shape for shape, _ in shapes[q])]
    variants = _variants(problem)
    expected_cache = {}

    def expected(q, v):
        key = (q, v[0])
        if key not in expected_cache:
            try:
                expected_cache[key] = _Expected(v[1](), q, wrt)
            except ValueError:
                expected_cache[key] = None
        return expected_cache[key]

    best, fitting_shapes = None, []
    order = 0
    for q in candidates:
        base = expected(q, variants[0])
        if base is None:
            continue
        arrangements = _arrangements(q, base.values.shape, base.var_shape, base.out_shape)
        fitting_shapes += [(q, a.src.shape) for a in arrangements if not a.kinds]
        for v in variants if not q.endswith("labels") else variants[:1]:
            E = expected(q, v)
            if E is None or E.values.shape != base.values.shape:
                continue
            flat = E.values.ravel()
            for a in arrangements:
                if a.src.shape != W.shape:
                    continue
                arranged = flat[a.src]
                score = int(np.count_nonzero(arranged == W))
                n_kinds = len(a.kinds) + len(v[0])
                key = (score, -n_kinds, -order)
                order += 1
                if best is None or key > best[0]:
                    best = (key, q, v, a, E, arranged)
    if best is None:
        shapes = ", ".join(f"{q}: {_shape_text(s)}" for q, s in dict.fromkeys(fitting_shapes))
        raise InvalidValueError(f"a {_shape_text(W.shape)} matrix fits none of the quantities of "
                         f"{problem!r}; expected shapes are {shapes}")
    _, q, v, a, E, arranged = best
    return _report(W, problem, wrt, q, v, a, E, arranged, expected(q, variants[0]), source)


def _check_max_entries(max_entries):
    if isinstance(max_entries, bool) or not isinstance(max_entries, numbers.Integral) \
            or max_entries < 1:
        raise InvalidValueError(f"max_entries must be a positive int, got {max_entries!r}")


def _refuse_size(what, n_out, n_var, max_entries):
    if n_out * n_var > max_entries:
        raise SizeLimitError(
            f"{what} has a {n_out}x{n_var} Jacobian ({n_out * n_var:,} entries), over the limit "
            f"of {int(max_entries):,} entries for a check (raise it with max_entries=, or "
            "jacobian-cnn check --max-entries)")


def _check_size_from_shapes(layer, x, wrt, max_entries):
    """Refuse an oversized problem before its symbols are made (a numeric forward of zeros).

    Inputs this cannot size (a bad shape, an unknown ``wrt``) are left to
    :class:`~jacobian_cnn.symbolic.jacobians.SymbolicProblem`, which reports them.
    """
    from jacobian_cnn.symbolic import jacobians as symbolic

    if isinstance(x, tuple):
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0
                   for v in x) or not 1 <= len(x) <= 3:
            return
        shape = tuple(int(v) for v in x)
    else:
        shape = np.shape(x)
    n_in = int(np.prod(shape, dtype=object))
    if n_in > symbolic.MAX_SYMBOLIC_SIZE:
        raise SizeLimitError(f"the input has {n_in:,} entries; symbolic matrices are for teaching "
                             f"sizes (limit {symbolic.MAX_SYMBOLIC_SIZE:,} entries, "
                             "jacobian_cnn.symbolic.jacobians.MAX_SYMBOLIC_SIZE)")
    params = getattr(layer, "params", {}) if wrt != "input" else {}
    if wrt != "input" and wrt not in params:
        return
    try:
        y = layer.forward(np.zeros(shape) if isinstance(x, tuple) else np.asarray(x, dtype=float))
    except (JacobianCNNError, TypeError, ValueError):
        return  # SymbolicProblem reports it
    n_var = n_in if wrt == "input" else int(np.size(params[wrt]))
    _refuse_size(f"{layer!r} on a {'x'.join(map(str, shape))} input", int(np.size(y)), n_var,
                 max_entries)


def _check_problem_size(problem, wrt, max_entries):
    """Refuse a problem whose Jacobian has more than ``max_entries`` entries (from shapes)."""
    n_out = int(np.prod(problem.output_shape))
    n_var = int(np.prod(np.shape(problem.wrt_symbols(wrt))))
    _refuse_size(repr(problem), n_out, n_var, max_entries)


def _layout_shapes(quantity, problem, wrt):
    """``(shape, correct)`` of every layout :func:`_arrangements` tries, from shapes alone.

    ``correct`` marks the layouts without a mistake (the shapes an error message lists).
    A quantity with no matrix form (a multi-channel gradient or output) has none.
    """
    var_shape = np.shape(problem.wrt_symbols(wrt))
    while len(var_shape) > 2 and var_shape[-1] == 1:  # a (kh, kw, 1, 1) kernel, as _Expected
        var_shape = var_shape[:-1]
    n_var, out_shape = int(np.prod(var_shape)), tuple(problem.output_shape)
    family = _family(quantity)
    if family == "jacobian":
        m, n = int(np.prod(out_shape)), n_var
        return [((m, n), True), ((n, m), False)]
    if family == "row":
        return [((1, n_var), True), ((n_var, 1), False)]
    shape = var_shape if family == "shaped" else out_shape
    if len(shape) > 2:
        return []
    m, n = shape if len(shape) == 2 else (int(shape[0]), 1)
    out = [((m, n), True)]
    if n != 1 or m != 1:
        out.append(((n, m), n == 1))
    if family == "forward" and m > 1 and n > 1:
        out.append(((m * n, 1), True))
    return out


def _variants(problem):
    """``(kinds, make_problem)`` pairs: the correct problem first, then mistaken versions."""
    out = [((), lambda: problem)]
    flips = [False] + ([True] if problem.has_kernel else [])
    shifts = [(0, 0)] + (list(_SHIFTS) if problem.has_windows else [])
    for flip in flips:
        for shift in shifts:
            if not flip and shift == (0, 0):
                continue
            kinds = (("kernel_flip",) if flip else ()) + ((f"window_shift:{shift[0]},{shift[1]}",)
                                                            if shift != (0, 0) else ())
            total = (problem.shift[0] + shift[0], problem.shift[1] + shift[1])
            out.append((kinds, lambda flip=flip, total=total: problem.variant(
                flip_kernel=problem.flip_kernel ^ flip, shift=total)))
    return out


def _same(a, b, where=None):
    """Equal as expressions (both are expanded; only non-polynomials need ``simplify``)."""
    sympy = require_sympy()
    if a == b:
        return True
    difference = sympy.expand(a - b)
    if difference == 0:
        return True
    if difference.is_polynomial():
        return False
    ops = sympy.count_ops(difference)
    if ops > MAX_SIMPLIFY_OPS:
        at = f" at row {where[0]}, column {where[1]}" if where else ""
        raise SizeLimitError(
            f"the written entry{at} differs from the correct one by an expression of {ops} "
            f"operations; deciding whether it is zero needs simplify, which is limited to "
            f"{MAX_SIMPLIFY_OPS} (jacobian_cnn.handcheck.check.MAX_SIMPLIFY_OPS)")
    # No exception is caught here: the reader builds only rationals, symbols and a few
    # elementary functions, so a failure of simplify is a bug to see, not a verdict.
    return sympy.simplify(difference) == 0


def _report(W, problem, wrt, quantity, variant, arrangement, E, arranged, E0, source):
    sympy = require_sympy()
    letters = {"input": problem.names.input, "kernel": problem.names.kernel,
               "weight": problem.names.weight, "bias": problem.names.bias}
    var, out, loss = letters[wrt], problem.names.output, problem.names.loss
    titles = {"jacobian": f"d vec({out}) / d vec({var})",
              "jacobian_labels": f"the labels of d vec({out}) / d vec({var})",
              "gradient": f"d{loss}/d{var} in {var}'s shape",
              "gradient_row": f"d{loss} / d vec({var})",
              "gradient_labels": f"the labels of d{loss}/d{var}",
              "gradient_row_labels": f"the labels of d{loss} / d vec({var})",
              "forward": f"{out} = f({var})"}
    report = CheckReport(quantity, titles[quantity], repr(problem), W.shape, n_entries=W.size,
                         source=source)
    src = arrangement.src
    diffs = []
    for (i, j), w in np.ndenumerate(W):
        c = arranged[i, j]
        if w == c or _same(w, c, (i + 1, j + 1)):
            continue
        note, kinds = _explain(w, c, quantity)
        diffs.append(EntryDiff((i + 1, j + 1), E.label(src[i, j]), w, c, note, kinds))
    report.diffs = diffs
    report.n_matching = W.size - len(diffs)

    mistakes = []
    for kind in arrangement.kinds:
        mistakes.append(_arrangement_mistake(kind, W, src, E0, problem, quantity, var, out))
    for kind in variant[0]:
        mistakes.append(_variant_mistake(kind, W, E0, arrangement, arranged, problem, quantity))
    mistakes = _merge_order_mistakes(mistakes)

    not_summed = [d for d in diffs if "missing_terms" in d.kinds and quantity.startswith("gradient")
                  and len(sympy.Add.make_args(d.correct)) > 1]
    if not_summed:
        example = not_summed[0]
        mistakes.append(Mistake(
            "overlap_not_summed",
            f"overlapping windows not summed in {len(not_summed)} "
            f"entr{'y' if len(not_summed) == 1 else 'ies'}: an entry that lies in several windows "
            f"collects a term from every one of them (chain rule: ∂J/∂a_ij = Σ_mn ∂J/∂p_mn "
            f"∂p_mn/∂a_ij, seed 000); e.g. {example.label} = {to_text(example.correct)}, you "
            f"wrote {to_text(example.written)}"))
    stray = {}
    for d in diffs:
        for kind in d.kinds:
            if isinstance(kind, tuple) and kind[0] == "stray_factor":
                stray.setdefault(kind[1], []).append((d, kind[2]))
    for ratio, items in stray.items():
        where = ", ".join(f"{to_text(term)} in {d.label}" for d, term in items)
        mistakes.append(Mistake(
            "stray_factor",
            f"stray factor {to_text(ratio)} on {len(items)} term{'s' if len(items) > 1 else ''}: "
            f"{where}"))
    explained = {id(d) for d in not_summed} | {id(d) for items in stray.values() for d, _ in items}
    others = [d for d in diffs if id(d) not in explained]
    if others:
        mistakes.append(Mistake("wrong_entries",
                                f"{len(others)} other entr{'y differs' if len(others) == 1 else 'ies differ'}"
                                " (listed below)"))
    report.mistakes = mistakes
    return report


def _explain(w, c, quantity):
    """A note on how ``w`` differs from ``c``, and the kinds of difference found."""
    sympy = require_sympy()
    if w.is_Number and c.is_Number:
        return "", ()
    dw = {k: v for k, v in w.as_coefficients_dict().items() if v != 0}
    dc = {k: v for k, v in c.as_coefficients_dict().items() if v != 0}
    if w == 0:
        return "", ()

    def terms(monomials, coeffs):
        return to_text(sympy.Add(*[coeffs[k] * k for k in monomials]))

    missing = [k for k in dc if k not in dw]
    extra = [k for k in dw if k not in dc]
    changed = [k for k in dc if k in dw and dw[k] != dc[k]]
    notes, kinds = [], []
    if missing:
        notes.append("missing " + terms(missing, dc))
        if not extra and not changed:
            kinds.append("missing_terms")
    for k in changed:
        ratio = dw[k] / dc[k]  # coefficients of as_coefficients_dict are numbers
        what = "the constant term" if k == 1 else f"the coefficient of {to_text(k)}"
        note = f"{what} is {to_text(dw[k])}, correct is {to_text(dc[k])}"
        if ratio.is_Rational and ratio == -1:
            note += " (wrong sign)"
        elif ratio.is_Rational and ratio != 1:
            note += f" (a stray factor {to_text(ratio)})"
            kinds.append(("stray_factor", ratio, k))
        notes.append(note)
    if extra:
        notes.append("extra " + terms(extra, dw))
    return "; ".join(notes), tuple(kinds)


def _first_moved(src, E0):
    """First written position whose source differs from the identity layout, or None."""
    identity = np.arange(E0.values.size).reshape(E0.values.shape)
    if src.shape != identity.shape:
        return None
    moved = np.argwhere(src != identity)
    return None if not len(moved) else tuple(int(v) for v in moved[0])


def _arrangement_mistake(kind, W, src, E0, problem, quantity, var, out):
    m, n = E0.values.shape
    pos = _first_moved(src, E0)
    example = ""
    if pos is not None:
        example = (f": your entry ({pos[0] + 1}, {pos[1] + 1}) is {E0.label(src[pos])}, where "
                   f"{E0.label(pos[0] * n + pos[1])} belongs")
    if kind == "row_major_reshape":
        return Mistake("row_major_reshape",
                       f"reshaped row-major: the vec-order row d{problem.names.loss}/d vec({var}) was "
                       f"filled into {var}'s {m}x{n} shape row by row, but vec stacks columns, so "
                       f"unvec fills column by column{example}"
                       + (" (for a square matrix this is a transpose)" if m == n else ""))
    if kind.startswith("row_major_order"):
        part = kind.split(":")[1]
        what, letter = {"rows": (f"rows (the outputs {out})", out),
                        "cols": (f"columns (the variables {var})", var),
                        "entries": ("entries", out if quantity == "forward" else var)}[part]
        return Mistake(f"row_major_order:{part}",
                       f"{what} listed in row-major order, but vec lists them column by column "
                       f"({letter}_{{11}}, {letter}_{{21}}, ...){example}")
    if kind == "denominator_layout":
        if _family(quantity) == "row":
            text = (f"a column: that is denominator layout; in numerator layout "
                    f"d{problem.names.loss} / d vec({var}) is a 1x{n} row")
        else:
            text = (f"transposed ({n}x{m}): that is denominator layout; numerator layout has one "
                    f"row per output entry and one column per variable ({m}x{n})")
        return Mistake("denominator_layout", text)
    if kind == "transposed":
        return Mistake("transposed", f"transposed: you wrote {n}x{m}, the shape is {m}x{n}")
    raise AssertionError(kind)


def _merge_order_mistakes(mistakes):
    """One ``row_major_order`` mistake for rows and columns together."""
    order = [m for m in mistakes if m.kind.startswith("row_major_order")]
    rest = [m for m in mistakes if not m.kind.startswith("row_major_order")]
    if not order:
        return mistakes
    message = "; ".join(m.message for m in order)
    return [Mistake("row_major_order", message)] + rest


def _variant_mistake(kind, W, E0, arrangement, arranged, problem, quantity):
    """A kernel flip or window shift, with an entry that shows it."""
    base = E0.values.ravel()[arrangement.src]
    differs = np.argwhere((base != arranged) & (arranged == W))
    example = ""
    if len(differs):
        i, j = (int(v) for v in differs[0])
        example = (f"; e.g. {E0.label(arrangement.src[i, j])}: you wrote {to_text(W[i, j])}, "
                   f"correct is {to_text(base[i, j])}")
    if kind == "kernel_flip":
        if problem.flip_kernel:
            text = ("kernel not flipped: this operation is a true convolution, which uses the "
                    "kernel rotated by 180 degrees")
        else:
            text = ("kernel flipped (rotated by 180 degrees) where it should not be: Conv2D is a "
                    "cross-correlation, z_pq = Σ_rs k_rs a_(p+r-1)(q+s-1)")
            if quantity.startswith("gradient"):
                text += (" (the input gradient is a full convolution of ∂J/∂z with the rotated "
                         "kernel, but written out entry by entry the rotation is already in the "
                         "indices: ∂J/∂a_ij = Σ_pq ∂J/∂z_pq k_(i-p+1)(j-q+1))")
        return Mistake("kernel_flip", text + example)
    shift = tuple(int(v) for v in kind.split(":")[1].split(","))
    return Mistake("window_shift", f"every window shifted by {_SHIFTS[shift]}{example}")
