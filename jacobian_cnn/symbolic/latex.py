"""Named symbols, a restricted LaTeX/plain-text parser, and LaTeX/plain-text rendering.

Everything here works on SymPy objects (the optional ``symbolic`` extra,
imported lazily). Index conventions: :mod:`jacobian_cnn.vec`; the math labels
are 1-based like the seed documents (``a_{11}`` is ``x[0, 0]``).

Symbol names
    An entry symbol is named ``base[^{[tag]}][_{sub}]``: ``a_{11}``, ``beta_{21}``,
    ``k^{[2]}_{12}``. Indices are 1-based and written without a separator while
    all are below 10 (``a_{112}`` is row 1, column 1, channel 2) and with commas
    otherwise (``a_{10,2}``); :func:`format_indices` is the rule. A derivative of
    one symbol by another is the single symbol ``∂J/∂p_{11}`` (incoming
    gradients, or the labels ``∂p_{11}/∂a_{21}`` of a Jacobian's entries), and a
    lone differential ``∂a_{11}`` names a header cell.

Parsing
    :func:`parse_expression` and :func:`parse_matrix` read the way the seeds write
    matrices (``bmatrix``/``pmatrix``/``matrix``/``array``, ``\\frac``,
    ``\\partial``, ``\\mathrm{d}``, subscripts, ``\\biggl(``/``\\biggr)``, implicit
    products) and the plain text :func:`to_text` prints (``1/4 (∂J/∂p_{11} +
    ∂J/∂p_{21})``). A hand-written recursive-descent parser builds the SymPy objects
    directly: no ``eval``, no ``sympify`` of the input, no ``parse_latex``. Errors
    are :class:`LatexParseError` (a ``ValueError``) naming the line and column.
    Two readings differ from TeX on purpose: a digit run after ``_`` is the whole
    subscript (``a_11`` is ``a_{11}``, never ``a_1 1``), and ``\\sigma(x)`` is the
    logistic function applied to ``x``.

Numbers
    A number is digits with an optional fraction (``2``, ``2.5``, ``.5``), then
    optionally ``e`` or ``E``, an optional sign and digits, with no space anywhere:
    ``2.5e-1``, ``1e3`` and ``-3.0E+2`` are numbers (``-`` being the usual minus).
    Anything else keeps ``e`` a symbol: ``2e`` is ``2 e``, ``2 e-1`` and ``2e - 1``
    are ``2 e - 1``, ``e^{2}`` is the symbol ``e`` squared (never Euler's number).
    Right after ``_``, ``^`` or ``\\frac`` a digit run takes no exponent part
    (``a_2e3`` is ``a_{2} e 3``, an error). ``2.5 \\times 10^{-1}`` and
    ``2.5 \\cdot 10^{-1}`` are products of exact numbers. Every number is an exact
    rational. A division by zero in any spelling (``1/0``, ``\\frac{1}{1-1}``,
    ``0^{-1}``) is an error, never SymPy's ``zoo``.

Limits
    The reader refuses input that would make it (or the comparison after it) hang:
    :data:`MAX_INPUT_CHARS`, :data:`MAX_DEPTH`, :data:`MAX_EXPONENT`,
    :data:`MAX_NUMBER_DIGITS`, :data:`MAX_MATRIX_ENTRIES` and
    :data:`MAX_EXPANDED_TERMS`, each read when a call starts (assign a new value to
    the module attribute to change it). A refusal is a :class:`LatexSizeError`, both
    a :class:`LatexParseError` (line and column) and a
    :class:`~jacobian_cnn.errors.SizeLimitError`, and names the limit.

Rendering
    :func:`to_latex` and :func:`to_text` print sums in ``vec`` order of their
    symbols, exact rationals (``\\frac{1}{4}``, ``1/4``) and a common rational
    factor pulled out of a sum (``\\frac{1}{4} \\left(... + ...\\right)``).
"""

from __future__ import annotations

import importlib
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

from jacobian_cnn.errors import InvalidTypeError, InvalidValueError, SizeLimitError

__all__ = [
    "LatexParseError", "require_sympy", "format_indices", "entry_symbol", "derivative_symbol",
    "differential_symbol", "symbol_parts", "normalize_base", "render_name", "to_latex", "to_text",
    "matrix_to_latex", "matrix_to_text", "parse_expression", "find_matrices", "parse_matrix",
    "MatrixSource", "LatexSizeError", "expansion_size", "MAX_INPUT_CHARS", "MAX_DEPTH",
    "MAX_EXPONENT", "MAX_NUMBER_DIGITS", "MAX_MATRIX_ENTRIES", "MAX_EXPANDED_TERMS",
]

MAX_INPUT_CHARS = 200_000
"""Longest text the reader accepts (characters): a 100x100 matrix of ``\\frac{1}{4}``
is about 140,000."""

MAX_DEPTH = 50
"""Deepest nesting of groups, parentheses, fractions and exponents in one entry."""

MAX_EXPONENT = 100
"""Largest numerator or denominator of a numeric exponent (``a^{100}``, ``a^{1/100}``)."""

MAX_NUMBER_DIGITS = 100
"""Most decimal digits of any exact number the reader writes or builds (numerator or
denominator: a literal, ``1e100``, ``10^{100}``, a product of such numbers)."""

MAX_MATRIX_ENTRIES = 40_000
"""Most entries (rows times columns) of one matrix, counted before any entry is read."""

MAX_EXPANDED_TERMS = 5_000
"""Most terms that expanding an entry's products and powers may create
(:func:`expansion_size`), for one :func:`parse_expression` or all entries of one
:func:`parse_matrix` together: ``(a+b+c+d)^{10}`` creates 286, ``(a+b+c+d)^{90}``
129,766."""

GREEK = (
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
    "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau",
    "upsilon", "phi", "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda",
    "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega",
)
_UNICODE_GREEK = dict(zip("αβγδεζηθικλμνξπρστυφχψωΓΔΘΛΞΠΣΥΦΨΩ", (
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
    "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi",
    "Omega"), strict=True))
_GREEK_UNICODE = {name: char for char, name in _UNICODE_GREEK.items()}
_GREEK_UNICODE.update(varepsilon="ε", vartheta="θ", varphi="φ")
_FUNCTION_WORDS = {"tanh": "tanh", "exp": "exp", "sigmoid": "sigma"}
_MATRIX_ENVS = ("bmatrix", "pmatrix", "matrix", "Bmatrix", "vmatrix", "Vmatrix", "smallmatrix",
                "array")
_SIZE_MACROS = {"left", "right", "middle", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl",
                "Bigr", "biggl", "biggr", "Biggl", "Biggr"}
_IGNORED_MACROS = {"quad", "qquad", "displaystyle", "textstyle", "hline", "nonumber", "notag",
                   ",", ";", ":", "!", " ", "limits"}
_OPEN_CLOSE = {"(": ")", "[": "]", "\\{": "\\}", "{": "}"}
_CLOSERS = frozenset(_OPEN_CLOSE.values())


class LatexParseError(InvalidValueError):
    """Malformed or unsupported input; the message names the line and column.

    Attributes
    ----------
    reason : str
        The message without the location.
    position : int
        Offset of the offending character in the parsed text.
    line, column : int
        1-based position of that character.
    """

    def __init__(self, message, text="", position=0):
        self.reason = message
        self.position = int(position)
        self.line = text.count("\n", 0, position) + 1
        start = text.rfind("\n", 0, position) + 1
        self.column = position - start + 1
        end = text.find("\n", position)
        end = len(text) if end < 0 else end
        lo, hi = max(start, position - 40), min(end, position + 40)
        excerpt = ("..." if lo > start else "") + text[lo:hi] + ("..." if hi < end else "")
        caret = " " * (position - lo + (3 if lo > start else 0)) + "^"
        super().__init__(f"{message} at line {self.line}, column {self.column}:\n"
                         f"    {excerpt}\n    {caret}")


class LatexSizeError(LatexParseError, SizeLimitError):
    """Input over one of the reader's limits (``MAX_...``); names the limit and where it is hit."""


def _limit_name(name):
    return f"jacobian_cnn.symbolic.latex.{name}"


def require_sympy():
    """Import SymPy, or raise ``ImportError`` saying how to install the ``symbolic`` extra.

    Examples
    --------
    >>> from jacobian_cnn.symbolic.latex import require_sympy
    >>> require_sympy().__name__
    'sympy'
    """
    try:
        return importlib.import_module("sympy")
    except ImportError as exc:
        raise ImportError(
            "symbolic Jacobians, LaTeX parsing and the hand-derivation checker need SymPy: "
            "pip install 'jacobian_cnn[symbolic]' (or pip install sympy)"
        ) from exc


# --------------------------------------------------------------------------------------
# symbol names

def normalize_base(name, what="name"):
    """Validate a symbol base: one ASCII letter or a Greek letter name (``"beta"``/``"\\\\beta"``).

    Examples
    --------
    >>> from jacobian_cnn.symbolic.latex import normalize_base
    >>> normalize_base("\\\\beta"), normalize_base("k"), normalize_base("β")
    ('beta', 'k', 'beta')
    """
    if not isinstance(name, str):
        raise InvalidTypeError(f"{what} must be a string, got {name!r}")
    base = name[1:] if name.startswith("\\") else name
    base = _UNICODE_GREEK.get(base, base)
    if not (re.fullmatch(r"[A-Za-z]", base) or base in GREEK):
        raise InvalidValueError(f"{what} must be one letter or a Greek letter name like 'beta', got {name!r}")
    if base == "d":
        raise InvalidValueError(f"{what} 'd' is reserved for differentials (dJ/dp); choose another letter")
    return base


def format_indices(indices):
    """Subscript text of 1-based indices: digits run together below 10, commas otherwise.

    Examples
    --------
    >>> from jacobian_cnn.symbolic.latex import format_indices
    >>> format_indices((1, 2)), format_indices((1, 1, 2)), format_indices((10, 2))
    ('12', '112', '10,2')
    """
    indices = tuple(int(i) for i in indices)
    if all(0 <= i <= 9 for i in indices):
        return "".join(str(i) for i in indices)
    return ",".join(str(i) for i in indices)


def _canonical_subscript(raw):
    """``'1,1'`` -> ``'11'``; ``'10,2'`` stays; letters stay (spaces removed)."""
    raw = raw.replace(" ", "")
    if re.fullmatch(r"\d+(,\d+)+", raw):
        return format_indices(int(p) for p in raw.split(","))
    return raw


def _subscript_indices(sub):
    """1-based index tuple of a numeric subscript, or ``None``."""
    if re.fullmatch(r"\d+", sub):
        return tuple(int(c) for c in sub)
    if re.fullmatch(r"\d+(,\d+)+", sub):
        return tuple(int(p) for p in sub.split(","))
    return None


def _plain_name(base, sub=None, tag=None):
    return base + (f"^{{[{tag}]}}" if tag else "") + (f"_{{{sub}}}" if sub else "")


def entry_symbol(base, indices=(), tag=None):
    """The SymPy symbol of one named entry, e.g. ``a_{21}`` for ``base="a", indices=(2, 1)``.

    Parameters
    ----------
    base : str
        One letter or a Greek letter name (see :func:`normalize_base`).
    indices : tuple of int
        1-based indices (empty: no subscript).
    tag : str, optional
        Layer tag written as a superscript, ``k^{[2]}_{11}``.

    Examples
    --------
    >>> from jacobian_cnn.symbolic.latex import entry_symbol
    >>> entry_symbol("a", (2, 1)), entry_symbol("\\\\beta", (1, 2)), entry_symbol("a", (10, 2))
    (a_{21}, beta_{12}, a_{10,2})
    """
    sympy = require_sympy()
    base = normalize_base(base)
    return sympy.Symbol(_plain_name(base, format_indices(indices) if len(indices) else None, tag))


def derivative_symbol(numerator, denominator):
    """The single symbol ``∂N/∂D`` for two entry symbols (an incoming gradient or a label).

    Examples
    --------
    >>> from jacobian_cnn.symbolic.latex import derivative_symbol, entry_symbol
    >>> derivative_symbol(entry_symbol("J"), entry_symbol("p", (1, 1)))
    ∂J/∂p_{11}
    """
    sympy = require_sympy()
    return sympy.Symbol(f"∂{numerator.name}/∂{denominator.name}")


def differential_symbol(symbol):
    """The header symbol ``∂a_{11}`` of an entry symbol."""
    sympy = require_sympy()
    return sympy.Symbol(f"∂{symbol.name}")


_NAME_RE = re.compile(r"(?P<base>[A-Za-z]+)(?:\^\{\[(?P<tag>[^\]]*)\]\})?(?:_\{(?P<sub>[^{}]*)\})?")


def symbol_parts(symbol):
    """Decompose a symbol name made by this module.

    Returns ``("entry", base, tag, sub)``, ``("derivative", numerator_name,
    denominator_name)``, ``("differential", name)`` or ``("other", name)``.

    Examples
    --------
    >>> from jacobian_cnn.symbolic.latex import symbol_parts, entry_symbol
    >>> symbol_parts(entry_symbol("k", (1, 2), tag="2"))
    ('entry', 'k', '2', '12')
    """
    name = symbol.name if hasattr(symbol, "name") else str(symbol)
    if name.startswith("∂"):
        if "/∂" in name:
            num, den = name[1:].split("/∂", 1)
            return ("derivative", num, den)
        return ("differential", name[1:])
    m = _NAME_RE.fullmatch(name)
    if m:
        return ("entry", m["base"], m["tag"], m["sub"])
    return ("other", name)


def _name_key(name):
    """Sort key putting entry names in vec order (last index slowest)."""
    m = _NAME_RE.fullmatch(name)
    if not m:
        return (name, "", (), "")
    sub = m["sub"] or ""
    idx = _subscript_indices(sub)
    return (m["base"], m["tag"] or "", tuple(reversed(idx)) if idx else (), "" if idx else sub)


def _symbol_key(symbol):
    parts = symbol_parts(symbol)
    if parts[0] == "derivative":
        return (0, _name_key(parts[2]), _name_key(parts[1]))
    if parts[0] == "differential":
        return (2, _name_key(parts[1]), ())
    return (1, _name_key(symbol.name), ())


# --------------------------------------------------------------------------------------
# rendering

def _entry_text(name, style):
    m = _NAME_RE.fullmatch(name)
    if not m:
        return name
    base = m["base"]
    if base in GREEK:
        base = "\\" + base if style == "latex" else _GREEK_UNICODE[base]
    return base + (f"^{{[{m['tag']}]}}" if m["tag"] else "") + (f"_{{{m['sub']}}}" if m["sub"] else "")


def render_name(name, style="latex"):
    """LaTeX (``style="latex"``) or plain text (``"text"``) of an entry name; needs no SymPy.

    Examples
    --------
    >>> from jacobian_cnn.symbolic.latex import render_name
    >>> print(render_name("beta_{12}"), render_name("beta_{12}", "text"))
    \\beta_{12} β_{12}
    """
    if style not in ("latex", "text"):
        raise InvalidValueError(f"style must be 'latex' or 'text', got {style!r}")
    return _entry_text(name, style)


def _symbol_text(symbol, style):
    parts = symbol_parts(symbol)
    if parts[0] == "derivative":
        num, den = _entry_text(parts[1], style), _entry_text(parts[2], style)
        if style == "latex":
            return f"\\frac{{\\partial {num}}}{{\\partial {den}}}"
        return f"∂{num}/∂{den}"
    if parts[0] == "differential":
        inner = _entry_text(parts[1], style)
        return f"\\partial {inner}" if style == "latex" else f"∂{inner}"
    return _entry_text(symbol.name, style)


class _Printer:
    def __init__(self, style):
        self.style = style
        self.sympy = require_sympy()

    def paren(self, body):
        return f"\\left({body}\\right)" if self.style == "latex" else f"({body})"

    def rational(self, p, q):
        if q == 1:
            return str(p)
        sign = "-" if p < 0 else ""
        return f"{sign}\\frac{{{abs(p)}}}{{{q}}}" if self.style == "latex" else f"{p}/{q}"

    def key(self, expr):
        """Order of terms and factors: vec order of the symbols they contain."""
        if expr.is_Number:
            return ((-1,),)
        if expr.is_Symbol:
            return (_symbol_key(expr),)
        if expr.is_Mul:
            return tuple(k for f in sorted(self.sympy.Mul.make_args(expr), key=self.key)
                         for k in self.key(f) if k != (-1,))
        if expr.is_Pow:
            return self.key(expr.base) + ((3, expr.exp.is_negative),)
        if expr.is_Add:  # a parenthesized sum comes after the plain factors
            return ((5,),) + tuple(k for a in expr.args for k in self.key(a))
        args = getattr(expr, "args", ())
        return tuple(k for a in args for k in self.key(a)) + ((4, type(expr).__name__),)

    def render(self, expr):
        s = self.sympy
        if expr.is_Integer:
            return str(int(expr))
        if expr.is_Rational:
            return self.rational(int(expr.p), int(expr.q))
        if expr.is_Symbol:
            return _symbol_text(expr, self.style)
        if expr.is_Add:
            return self.add(expr)
        if expr.is_Mul:
            return self.mul(expr)
        if expr.is_Pow:
            return self.power(expr)
        name = type(expr).__name__
        if isinstance(expr, s.core.function.AppliedUndef) or name in ("tanh", "exp"):
            arg = ", ".join(self.render(a) for a in expr.args)
            head = type(expr).__name__
            if self.style == "latex":
                head = "\\" + head if head in GREEK or head in ("tanh", "exp") else \
                    f"\\operatorname{{{head}}}"
            elif head in GREEK:
                head = _GREEK_UNICODE[head]
            return head + self.paren(arg)
        return s.latex(expr) if self.style == "latex" else str(expr)

    def add(self, expr):
        terms = sorted(self.sympy.Add.make_args(expr), key=self.key)
        coeffs = [t.as_coeff_Mul()[0] for t in terms]
        common = coeffs[0]
        if (len(terms) > 1 and all(c == common for c in coeffs) and common.is_Rational
                and common not in (1, -1) and not any(t.is_Number for t in terms)):
            inner = self.add(self.sympy.Add(*[t / common for t in terms], evaluate=False))
            return f"{self.coefficient(common)} {self.paren(inner)}"
        out = ""
        for i, term in enumerate(terms):
            negative = term.as_coeff_Mul()[0] < 0
            body = self.render(-term if negative else term)
            out += (("-" if negative else "") + body) if i == 0 else \
                ((" - " if negative else " + ") + body)
        return out

    def coefficient(self, c):
        return self.rational(int(c.p), int(c.q))

    def factor(self, f):
        body = self.render(f)
        return self.paren(body) if f.is_Add else body

    def mul(self, expr):
        s = self.sympy
        coeff, rest = expr.as_coeff_Mul()
        factors = sorted(s.Mul.make_args(rest), key=self.key)
        num = [f for f in factors if not (f.is_Pow and f.exp.is_negative)]
        den = [s.Pow(f.base, -f.exp) for f in factors if f.is_Pow and f.exp.is_negative]
        sign = "-" if coeff < 0 else ""
        coeff = abs(coeff)
        num_text = " ".join(self.factor(f) for f in num if f != 1)
        if den:
            p, q = int(coeff.p), int(coeff.q)
            if self.style == "latex" and len(num) == 1 and p == 1:
                num_text = self.render(num[0])  # \frac's braces already group it
            top = " ".join(x for x in (str(p) if p != 1 or not num_text else "", num_text) if x)
            den_text = self.render(den[0]) if len(den) == 1 else \
                " ".join(self.factor(f) for f in den)
            bottom = " ".join(x for x in (str(q) if q != 1 else "", den_text) if x)
            if self.style == "latex":
                return f"{sign}\\frac{{{top}}}{{{bottom}}}"
            simple = re.compile(r"[^ +-]+|[^ +-]*\([^()]*\)")  # one token or one call
            top = top if simple.fullmatch(top) else self.paren(top)
            bottom = bottom if simple.fullmatch(bottom) else self.paren(bottom)
            return f"{sign}{top}/{bottom}"
        if coeff == 1:
            return sign + num_text
        return f"{sign}{self.coefficient(coeff)} {num_text}"

    def power(self, expr):
        if expr.exp.is_negative:
            return self.mul(expr)
        base = self.render(expr.base)
        if expr.base.is_Add or expr.base.is_Mul or (expr.base.is_Rational and not expr.base.is_Integer):
            base = self.paren(base)
        exponent = self.render(expr.exp)
        return f"{base}^{{{exponent}}}" if self.style == "latex" else f"{base}^{exponent}"


def to_latex(expr):
    """LaTeX of a SymPy expression built from this module's symbols.

    Examples
    --------
    >>> import sympy
    >>> from jacobian_cnn.symbolic.latex import to_latex, derivative_symbol, entry_symbol
    >>> J, p11, p21 = entry_symbol("J"), entry_symbol("p", (1, 1)), entry_symbol("p", (2, 1))
    >>> print(to_latex((derivative_symbol(J, p11) + derivative_symbol(J, p21)) / 4))
    \\frac{1}{4} \\left(\\frac{\\partial J}{\\partial p_{11}} + \\frac{\\partial J}{\\partial p_{21}}\\right)
    >>> print(to_latex(sympy.Rational(1, 4)))
    \\frac{1}{4}
    """
    return _Printer("latex").render(_as_expr(expr))


def to_text(expr):
    """Readable plain text of a SymPy expression (the parser reads it back).

    Examples
    --------
    >>> from jacobian_cnn.symbolic.latex import to_text, entry_symbol
    >>> a11, a21, b22 = entry_symbol("a", (1, 1)), entry_symbol("a", (2, 1)), entry_symbol("beta", (2, 2))
    >>> to_text(a21 * b22 + a11 / 4)
    '1/4 a_{11} + a_{21} β_{22}'
    """
    return _Printer("text").render(_as_expr(expr))


def _as_expr(value):
    sympy = require_sympy()
    if isinstance(value, sympy.Basic):
        return value
    if isinstance(value, (int, Fraction)):
        f = Fraction(value)
        return sympy.Rational(f.numerator, f.denominator)
    raise InvalidTypeError(f"expected a SymPy expression, got {type(value).__name__}")


def _cells(matrix, render):
    """Rendered cells of a SymPy matrix / 2-D array of expressions, one render per distinct entry."""
    cache = {}
    rows = []
    if isinstance(matrix, (list, tuple)):
        if len({len(row) for row in matrix}) > 1:
            raise InvalidValueError("rows of the matrix have different lengths")
        matrix = [list(row) for row in matrix]
    shape = _shape_of(matrix)
    dok = matrix.todok() if hasattr(matrix, "todok") else None
    for i in range(shape[0]):
        row = []
        for j in range(shape[1]):
            value = dok.get((i, j), 0) if dok is not None else matrix[i][j] if isinstance(
                matrix, list) else matrix[i, j]
            if isinstance(value, str):
                row.append(value)
                continue
            text = cache.get(value)
            if text is None:
                text = cache[value] = render(_as_expr(value))
            row.append(text)
        rows.append(row)
    return rows


def _shape_of(matrix):
    if isinstance(matrix, list):
        return (len(matrix), len(matrix[0]) if matrix else 0)
    return tuple(matrix.shape)


def _grid_latex(cells, env, row_labels, col_labels):
    n_cols = len(cells[0]) if cells else 0
    lines = []
    if row_labels is not None or col_labels is not None:
        row_labels = row_labels or [""] * len(cells)
        spec = ("r|" if row_labels else "") + "c" * n_cols
        lines.append(f"\\begin{{array}}{{{spec}}}")
        lines.append(" & ".join([""] + list(col_labels or [""] * n_cols)) + " \\\\")
        lines.append("\\hline")
        body = [" & ".join([lab] + row) for lab, row in zip(row_labels, cells, strict=True)]
        lines += [b + " \\\\" for b in body[:-1]] + body[-1:]
        lines.append("\\end{array}")
        return "\n".join(lines)
    if n_cols > 10 and env != "array":
        lines.append(f"% amsmath shows at most 10 columns: \\setcounter{{MaxMatrixCols}}{{{n_cols}}}")
    lines.append(f"\\begin{{{env}}}")
    body = [" & ".join(row) for row in cells]
    lines += [b + " \\\\" for b in body[:-1]] + body[-1:]
    lines.append(f"\\end{{{env}}}")
    return "\n".join(lines)


def _grid_text(cells, row_labels, col_labels):
    table = [list(row) for row in cells]
    numeric = all(re.fullmatch(r"-?[\d.]+(/\d+)?(e-?\d+)?", c) for row in table for c in row)
    if col_labels is not None:
        table.insert(0, list(col_labels))
    if row_labels is not None:
        side = ([""] if col_labels is not None else []) + list(row_labels)
        table = [[label] + row for label, row in zip(side, table, strict=True)]
    if not table:
        return ""
    widths = [max(len(row[j]) for row in table) for j in range(len(table[0]))]
    lines = []
    for row in table:
        texts = [cell.rjust(w) if numeric else cell.ljust(w) for cell, w in zip(row, widths, strict=True)]
        if row_labels is not None:
            line = row[0].ljust(widths[0]) + " | " + "  ".join(texts[1:])
        else:
            line = "  ".join(texts)
        lines.append(line.rstrip())
    if col_labels is not None:
        lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def matrix_to_latex(matrix, *, env="bmatrix", row_labels=None, col_labels=None):
    """LaTeX of a matrix of expressions (or pre-rendered strings).

    Parameters
    ----------
    matrix : sympy matrix, 2-D array or list of lists
    env : str
        ``"bmatrix"`` (default), ``"pmatrix"`` or ``"matrix"``.
    row_labels, col_labels : sequence of SymPy symbols or str, optional
        Headers; given either, the result is an ``array`` with a header row and
        column (``\\partial p_{11}`` down the side, ``\\partial a_{21}`` along the
        top, so each entry reads as ``\\partial p_{11} / \\partial a_{21}``).

    Examples
    --------
    >>> import sympy
    >>> from jacobian_cnn.symbolic.latex import matrix_to_latex
    >>> print(matrix_to_latex(sympy.Matrix([[sympy.Rational(1, 4), 0]])))
    \\begin{bmatrix}
    \\frac{1}{4} & 0
    \\end{bmatrix}
    """
    if env not in _MATRIX_ENVS:
        raise InvalidValueError(f"env must be one of {_MATRIX_ENVS}, got {env!r}")
    cells = _cells(matrix, to_latex)
    return _grid_latex(cells, env, _labels(row_labels, to_latex), _labels(col_labels, to_latex))


def matrix_to_text(matrix, *, row_labels=None, col_labels=None):
    """Plain-text grid of a matrix of expressions, with optional headers.

    Examples
    --------
    >>> import sympy
    >>> from jacobian_cnn.symbolic.latex import matrix_to_text
    >>> print(matrix_to_text(sympy.Matrix([[sympy.Rational(1, 4), 0], [0, 1]]),
    ...                      row_labels=["p_{11}", "p_{21}"], col_labels=["a_{11}", "a_{21}"]))
           | a_{11}  a_{21}
    -----------------------
    p_{11} |    1/4       0
    p_{21} |      0       1
    """
    cells = _cells(matrix, to_text)
    return _grid_text(cells, _labels(row_labels, to_text), _labels(col_labels, to_text))


def _labels(labels, render):
    if labels is None:
        return None
    return [lab if isinstance(lab, str) else render(lab) for lab in labels]


# --------------------------------------------------------------------------------------
# tokens

class _Token(NamedTuple):
    kind: str   # num sym func partial op cmd size begin end rowsep other
    value: str
    pos: int
    end: int


_TOKEN_RE = re.compile(r"""
 (?P<ws>\s+)
|(?P<comment>%[^\n]*)
|(?P<begin>\\begin\s*\{(?P<bname>[A-Za-z*]+)\})
|(?P<end>\\end\s*\{(?P<ename>[A-Za-z*]+)\})
|(?P<rowsep>\\\\)
|(?P<cmd>\\[A-Za-z]+)
|(?P<cmdchar>\\[^A-Za-z])
|(?P<num>(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?)
|(?P<word>[A-Za-z]+)
|(?P<char>.)
""", re.VERBOSE | re.DOTALL)


def _check_length(text):
    if len(text) > MAX_INPUT_CHARS:
        raise LatexSizeError(
            f"the text has {len(text):,} characters, over the limit of {MAX_INPUT_CHARS:,} "
            f"({_limit_name('MAX_INPUT_CHARS')})", text, MAX_INPUT_CHARS)


_SCRIPT_OWNERS = {("op", "_"), ("op", "^"), ("cmd", "frac"), ("cmd", "dfrac"), ("cmd", "tfrac")}


def _split_exponent(tok):
    """``2e-1`` as the tokens ``2``, ``e``, ``-``, ``1`` (after ``_``, ``^``, ``\\frac``)."""
    m = re.fullmatch(r"([\d.]+)([eE])([+-]?)(\d+)", tok.value)
    if not m:
        return [tok]
    out, at = [], tok.pos
    for kind, part in (("num", m[1]), ("sym", m[2]), ("op", m[3]), ("num", m[4])):
        if part:
            out.append(_Token(kind, part, at, at + len(part)))
            at += len(part)
    return out


def _tokenize(text):
    _check_length(text)
    tokens = []
    for m in _TOKEN_RE.finditer(text):
        kind, pos, end = m.lastgroup, m.start(), m.end()
        value = m.group()
        if kind in ("ws", "comment"):
            continue
        if kind in ("bname", "ename"):  # named groups inside begin/end
            kind = "begin" if kind == "bname" else "end"
        if kind == "begin":
            tokens.append(_Token("begin", m["bname"], pos, end))
        elif kind == "end":
            tokens.append(_Token("end", m["ename"], pos, end))
        elif kind == "rowsep":
            tokens.append(_Token("rowsep", value, pos, end))
        elif kind in ("cmd", "cmdchar"):
            name = value[1:]
            if name in _IGNORED_MACROS:
                continue
            if name in GREEK:
                tokens.append(_Token("sym", name, pos, end))
            elif name == "partial":
                tokens.append(_Token("partial", name, pos, end))
            elif name in ("cdot", "times", "ast"):
                tokens.append(_Token("op", "*", pos, end))
            elif name in ("tanh", "exp"):
                tokens.append(_Token("func", name, pos, end))
            elif name in _SIZE_MACROS:
                tokens.append(_Token("size", name, pos, end))
            elif name in ("{", "}"):
                tokens.append(_Token("op", "\\" + name, pos, end))
            else:
                tokens.append(_Token("cmd", name, pos, end))
        elif kind == "num":
            tokens.append(_Token("num", value, pos, end))
        elif kind == "word":
            if value in GREEK:
                tokens.append(_Token("sym", value, pos, end))
            elif value in _FUNCTION_WORDS:
                tokens.append(_Token("func", _FUNCTION_WORDS[value], pos, end))
            else:
                tokens += [_Token("sym", c, pos + k, pos + k + 1) for k, c in enumerate(value)]
        else:
            if value in _UNICODE_GREEK:
                tokens.append(_Token("sym", _UNICODE_GREEK[value], pos, end))
            elif value == "∂":
                tokens.append(_Token("partial", value, pos, end))
            elif value in "−–":
                tokens.append(_Token("op", "-", pos, end))
            elif value in "·×⋅":
                tokens.append(_Token("op", "*", pos, end))
            elif value == "~":
                continue
            elif value in "+-*/^_{}()[]&',|=.":
                tokens.append(_Token("op", value, pos, end))
            else:
                tokens.append(_Token("other", value, pos, end))
    # After _, ^ and \frac a number takes no exponent part; \frac14 is \frac{1}{4}: split
    # a digit run right after \frac into single digits.
    out = []
    for i, tok in enumerate(tokens):
        owner = (tokens[i - 1].kind, tokens[i - 1].value) if i else None
        if tok.kind != "num" or owner not in _SCRIPT_OWNERS:
            out.append(tok)
            continue
        parts = _split_exponent(tok)
        head = parts[0]
        if owner[0] == "cmd" and head.value.isdigit():
            out += [_Token("num", c, head.pos + k, head.pos + k + 1) for k, c in enumerate(head.value)]
        else:
            out.append(head)
        out += parts[1:]
    return out


def _pairs(tokens):
    """Closing index of every ``{`` (braces only) and of every opener (any bracket kind)."""
    braces, groups, brace_stack, group_stack = {}, {}, [], []
    for j, tok in enumerate(tokens):
        if tok.kind != "op":
            continue
        if tok.value == "{":
            brace_stack.append(j)
        elif tok.value == "}" and brace_stack:
            braces[brace_stack.pop()] = j
        if tok.value in _OPEN_CLOSE:
            group_stack.append(j)
        elif tok.value in _CLOSERS and group_stack:
            groups[group_stack.pop()] = j
    return braces, groups


# --------------------------------------------------------------------------------------
# parser

def _largest(rational):
    """The larger of a SymPy rational's numerator (absolute value) and denominator."""
    return max(abs(int(rational.p)), int(rational.q))


def _over_digits(n):
    """Whether the int ``n >= 0`` has more than :data:`MAX_NUMBER_DIGITS` decimal digits."""
    bits = n.bit_length()
    if bits * _LOG10_2 < MAX_NUMBER_DIGITS - 1:
        return False
    return bits * _LOG10_2 > MAX_NUMBER_DIGITS + 1 or n >= 10**MAX_NUMBER_DIGITS


def _digits(n):
    """Decimal digits of the int ``n >= 0`` (estimated from its bits when large)."""
    return len(str(n)) if n.bit_length() < 3000 else int(n.bit_length() * _LOG10_2) + 1


_LOG10_2 = 0.30102999566398120


def _short(value, width=24):
    text = str(value)
    return text if len(text) <= width else text[:width] + "..."


def _undefined(sympy):
    return sympy.zoo, sympy.nan, sympy.oo, -sympy.oo

class _Parser:
    """Recursive descent over ``tokens[lo:hi]`` of ``text``."""

    def __init__(self, text, tokens, lo=0, hi=None, *, pairs=None, depth=0):
        self.sympy = require_sympy()
        self.text, self.tokens = text, tokens
        self.i, self.hi = lo, len(tokens) if hi is None else hi
        self.pairs = _pairs(tokens) if pairs is None else pairs
        self.depth = depth

    # -- helpers
    def error(self, message, tok=None):
        pos = (tok.pos if tok is not None else
               self.tokens[self.i].pos if self.i < self.hi else
               self.tokens[self.hi - 1].end if self.hi > 0 and self.tokens else len(self.text))
        raise LatexParseError(message, self.text, pos)

    def peek(self, k=0):
        j = self.i + k
        return self.tokens[j] if j < self.hi else None

    def at(self, kind, value=None, k=0):
        tok = self.peek(k)
        return tok is not None and tok.kind == kind and (value is None or tok.value == value)

    def next(self):
        tok = self.peek()
        if tok is None:
            self.error("unexpected end of input")
        self.i += 1
        return tok

    def expect_end(self, what="entry"):
        tok = self.peek()
        if tok is not None and tok.kind == "op" and tok.value in (")", "]", "}", "\\}"):
            self.error(f"unbalanced '{tok.value}': nothing to close", tok)
        if tok is not None and tok.kind == "other":
            self.error(f"unexpected character {tok.value!r}", tok)
        if tok is not None:
            hint = " (a missing '&' between entries, or a missing operator?)" \
                if tok.kind in ("num", "sym") else ""
            self.error(f"unexpected {self.describe(tok)} after the end of the {what}{hint}", tok)

    @staticmethod
    def describe(tok):
        if tok.kind == "cmd":
            return f"macro \\{tok.value}"
        if tok.kind in ("begin", "end"):
            return f"\\{tok.kind}{{{tok.value}}}"
        if tok.kind == "rowsep":
            return "row separator \\\\"
        return f"'{tok.value}'" if tok.kind != "sym" else f"symbol '{tok.value}'"

    def matching(self, open_index):
        """Index of the ``}`` closing the ``{`` at ``open_index`` (within ``hi``)."""
        j = self.pairs[0].get(open_index, self.hi)
        if j >= self.hi:
            self.error("unbalanced '{': no matching '}'", self.tokens[open_index])
        return j

    def child(self, lo, hi):
        """A parser of ``tokens[lo:hi]``, one nesting level deeper (at most :data:`MAX_DEPTH`)."""
        if self.depth + 1 > MAX_DEPTH:
            tok = self.tokens[lo - 1] if lo > 0 else self.tokens[lo]
            raise LatexSizeError(f"groups nested more than {MAX_DEPTH} deep "
                                 f"({_limit_name('MAX_DEPTH')})", self.text, tok.pos)
        return _Parser(self.text, self.tokens, lo, hi, pairs=self.pairs, depth=self.depth + 1)

    # -- exact numbers, checked against the limits before and after SymPy builds them
    def too_large(self, digits, tok, what="a number"):
        raise LatexSizeError(
            f"{what} would have about {digits:,} digits, over the limit of {MAX_NUMBER_DIGITS} "
            f"digits ({_limit_name('MAX_NUMBER_DIGITS')})", self.text, tok.pos)

    def check_number(self, number, tok):
        if number.is_Rational and _over_digits(_largest(number)):
            self.too_large(_digits(_largest(number)), tok)
        return number

    def checked(self, value, tok):
        """``value``, after checking its rational coefficient against :data:`MAX_NUMBER_DIGITS`."""
        self.check_number(value.as_coeff_Add()[0] if value.is_Add else value.as_coeff_Mul()[0], tok)
        return value

    def entry(self, what="entry"):
        """A whole entry: an expression up to ``hi``, defined (no ``zoo``, ``nan``, ``oo``)."""
        first = self.peek()
        value = self.expression()
        self.expect_end(what)
        if value.has(*_undefined(self.sympy)):
            self.error("the value is undefined (a division by zero)", first)
        return value

    # -- grammar
    def expression(self):
        s = self.sympy
        groups = {}  # like terms: rest -> coefficient, summed here so that every sum is checked
        first = self.peek()
        sign = 1
        if self.at("op", "+") or self.at("op", "-"):
            sign = -1 if self.next().value == "-" else 1
        while True:
            tok = self.peek()
            value = self.term()
            if not groups and sign == 1 and not (self.at("op", "+") or self.at("op", "-")):
                return value  # one term: nothing to collect
            for part in s.Add.make_args(value):
                coeff, rest = part.as_coeff_Mul()
                groups[rest] = self.check_number(groups.get(rest, s.Integer(0)) + sign * coeff, tok)
            if not (self.at("op", "+") or self.at("op", "-")):
                break
            sign = -1 if self.next().value == "-" else 1
        return self.checked(s.Add(*[c * r for r, c in groups.items()]), first)

    def starts_factor(self, tok):
        if tok is None:
            return False
        if tok.kind in ("num", "sym", "func", "partial", "size"):
            return True
        if tok.kind == "op":
            return tok.value in ("(", "[", "{", "\\{")
        return tok.kind in ("cmd", "begin")  # unknown macros fail in primary() with their name

    def continues_term(self):
        tok = self.peek()
        return tok is not None and (tok.kind == "op" and tok.value in ("*", "/")
                                    or self.starts_factor(tok))

    def term(self):
        s = self.sympy
        first = self.peek()
        coeff, rest = s.Integer(1), []  # one Mul at the end: linear in the number of factors

        def times(value, tok):
            nonlocal coeff
            c, r = value.as_coeff_Mul()
            coeff = self.checked(coeff * c, tok)
            if r != 1:
                rest.append(r)

        value = self.factor()
        if not self.continues_term():
            return value  # one factor: nothing to multiply
        times(value, first)
        while True:
            tok = self.peek()
            if tok is not None and tok.kind == "op" and tok.value == "*":
                self.next()
                times(self.factor(), tok)
            elif tok is not None and tok.kind == "op" and tok.value == "/":
                self.next()
                den_tok = self.peek()
                den = self.factor()
                if den == 0:
                    self.error("division by zero", den_tok)
                times(1 / den, den_tok)
            elif self.starts_factor(tok):
                if tok.kind == "num":
                    self.error("a number cannot follow a factor without an operator "
                               "(a missing '&' between entries?)", tok)
                times(self.factor(), tok)
            else:
                return self.checked(s.Mul(coeff, *rest), first)

    def factor(self):
        base = self.primary()
        while self.at("op", "^"):
            caret = self.next()
            tok = self.peek()
            if tok is None:
                self.error("'^' needs an exponent", caret)
            if (tok.kind == "cmd" and tok.value in ("intercal", "top", "prime")) or (
                    tok.kind == "sym" and tok.value == "T"):
                self.error("a transpose applies to a whole matrix, not to an entry", tok)
            exp_tok = self.peek()
            base = self.power(base, self.script_argument(), caret, exp_tok)
            if self.at("op", "^"):
                self.error("double superscript: write a^{b^{c}} or {a^{b}}^{c}", self.peek())
        return base

    def power(self, base, exponent, caret, exp_tok):
        """``base ** exponent``, refusing huge exponents and results, and ``0`` to a negative power."""
        s = self.sympy
        if exponent.is_number:
            if not exponent.is_Rational:
                self.error("a numeric exponent must be a rational number", exp_tok)
            p, q = abs(int(exponent.p)), int(exponent.q)
            if max(p, q) > MAX_EXPONENT:
                raise LatexSizeError(
                    f"exponent {_short(exponent)} is over the limit: numerator and denominator "
                    f"at most {MAX_EXPONENT} ({_limit_name('MAX_EXPONENT')})", self.text,
                    exp_tok.pos)
            if base == 0 and exponent.is_negative:
                self.error("division by zero: 0 to a negative power", caret)
            for number in s.Mul.make_args(base):
                if number.is_Rational and number != 0:
                    digits = math.log10(_largest(number)) * p / q
                    if digits > MAX_NUMBER_DIGITS + 1:  # near the limit: build, then check
                        self.too_large(int(digits) + 1, caret, "the power")
        elif base == 0 and not exponent.is_nonnegative:
            self.error("0 to a power that may be negative is undefined; write the power out", caret)
        return self.checked(s.Pow(base, exponent), caret)

    def script_argument(self):
        """The argument of ``^``: a braced group, one number, or one symbol."""
        s = self.sympy
        tok = self.peek()
        if tok is None:
            self.error("missing argument")
        if tok.kind == "op" and tok.value == "{":
            close = self.matching(self.i)
            sub = self.child(self.i + 1, close)
            if sub.peek() is None:
                self.error("empty group {}", tok)
            value = sub.expression()
            sub.expect_end("group")
            self.i = close + 1
            return value
        if tok.kind == "num":
            self.next()
            return self.number(tok)
        if tok.kind == "sym":
            return self.symbol()
        if tok.kind == "op" and tok.value == "-" and self.at("num", k=1):
            self.next()
            return -self.number(self.next())
        self.error(f"unsupported exponent {self.describe(tok)}", tok)
        return s.Integer(1)

    def number(self, tok):
        mantissa, _, exponent = tok.value.lower().partition("e")
        digits = len(mantissa.replace(".", "")) + (abs(int(exponent or 0)) if len(exponent) <= 7
                                                  else 10**6)
        if digits > MAX_NUMBER_DIGITS:
            self.too_large(digits, tok, f"the number {_short(tok.value)}")
        if tok.value.isdigit():
            return self.sympy.Integer(int(tok.value))
        f = Fraction(tok.value)
        return self.sympy.Rational(f.numerator, f.denominator)

    def primary(self):
        s = self.sympy
        tok = self.peek()
        if tok is None:
            self.error("expected an expression, found the end of the entry")
        kind, value = tok.kind, tok.value
        if kind == "num":
            self.next()
            return self.number(tok)
        if kind == "partial" or (kind == "cmd" and value in ("mathrm", "operatorname")):
            return self.differential_expression()
        if kind == "sym":
            if value == "d" and self.inline_derivative_ahead():
                return self.differential_expression()
            if value == "sigma" and self.call_ahead(1):
                self.next()
                return self.call("sigma", tok)
            return self.symbol()
        if kind == "func":
            self.next()
            return self.call(value, tok)
        if kind == "cmd" and value in ("frac", "dfrac", "tfrac", "cfrac"):
            self.next()
            return self.fraction(tok)
        if kind in ("size",) or (kind == "op" and value in _OPEN_CLOSE):
            return self.parenthesized()
        if kind == "cmd" and value in ("dots", "vdots", "cdots", "ddots", "ldots"):
            self.error(f"\\{value}: an ellipsis cannot be checked; write out every entry", tok)
        if kind == "cmd":
            self.error(f"unknown macro \\{value}", tok)
        if kind == "begin":
            self.error(f"a nested \\begin{{{value}}} inside an entry is not supported", tok)
        if kind == "end":
            self.error(f"\\end{{{value}}} without a matching \\begin", tok)
        if kind == "op" and value == "&":
            self.error("empty entry before '&'", tok)
        if kind == "rowsep":
            self.error("empty entry before '\\\\'", tok)
        if kind == "op" and value in (")", "]", "}", "\\}"):
            self.error(f"unbalanced '{value}': nothing to close", tok)
        if kind == "other":
            self.error(f"unexpected character {value!r}", tok)
        self.error(f"unexpected {self.describe(tok)}", tok)
        return s.Integer(0)

    def call_ahead(self, k):
        """Is there an opening parenthesis (maybe sized, maybe after a prime) at offset k?"""
        if self.at("op", "'", k=k):
            k += 1
        if self.at("size", k=k):
            k += 1
        return self.at("op", "(", k=k) or self.at("op", "[", k=k)

    def call(self, name, tok):
        s = self.sympy
        prime = False
        if self.at("op", "'"):
            self.next()
            prime = True
        if not (self.at("size") or self.at("op", "(") or self.at("op", "[")):
            self.error(f"{name} must be applied to a parenthesized argument", tok)
        arg = self.parenthesized()
        if name == "sigma":
            sigma = s.Function("sigma")(arg)
            return sigma * (1 - sigma) if prime else sigma
        if name == "tanh":
            value = self.apply(s.tanh, arg)
            return 1 - value**2 if prime else value
        return self.apply(s.exp, arg)  # exp' = exp

    def apply(self, function, arg):
        """``function(arg)`` (tanh or exp), evaluated by SymPy only for a number: its
        evaluation of a symbolic argument asks assumptions whose cost grows exponentially
        with nesting (``\\tanh`` 8 deep took 4 s, 10 deep 47 s)."""
        if arg.is_Number:
            return function(arg)
        if function is self.sympy.tanh and arg.could_extract_minus_sign():
            return -function(-arg, evaluate=False)  # what that evaluation does: tanh is odd
        return function(arg, evaluate=False)

    def parenthesized(self):
        tok = self.peek()
        if tok.kind == "size":
            self.next()
            tok = self.peek()
            if tok is None or tok.kind != "op" or tok.value not in _OPEN_CLOSE or tok.value == "{":
                self.error("a sizing macro (\\left, \\biggl, ...) must be followed by (, [ or \\{",
                           tok)
        opener = self.next()
        closer = _OPEN_CLOSE[opener.value]
        j = self.pairs[1].get(self.i - 1, self.hi)  # the closer at the same nesting depth
        if j >= self.hi:
            self.error(f"unbalanced '{opener.value}': no matching '{closer}'", opener)
        if self.tokens[j].value != closer:
            self.error(f"'{self.tokens[j].value}' closes '{opener.value}' (expected '{closer}')",
                       self.tokens[j])
        end = j
        if end > self.i and self.tokens[end - 1].kind == "size":
            end -= 1  # \right) / \biggr)
        inner = self.child(self.i, end)
        if inner.peek() is None:
            self.error("empty parentheses", opener)
        value = inner.expression()
        inner.expect_end("parenthesized expression")
        self.i = j + 1
        return value

    def symbol(self):
        """An entry symbol: a letter or Greek name with optional subscript and ``^{[tag]}``."""
        tok = self.next()
        if tok.kind != "sym":
            self.error(f"expected a symbol, found {self.describe(tok)}", tok)
        base, sub, tag = tok.value, None, None
        while True:
            if self.at("op", "_"):
                under = self.next()
                if sub is not None:
                    self.error("double subscript", under)
                sub = self.subscript(under)
            elif self.at("op", "^") and self.at("op", "{", k=1) and self.at("op", "[", k=2):
                caret = self.next()
                close = self.matching(self.i)
                inner = self.text[self.tokens[self.i + 1].end:self.tokens[close].pos].strip()
                if not inner.endswith("]"):
                    self.error("a layer tag is written ^{[l]}", caret)
                tag = inner[:-1].strip()
                self.i = close + 1
            else:
                break
        return self.sympy.Symbol(_plain_name(base, sub, tag))

    def subscript(self, under):
        tok = self.peek()
        if tok is None:
            self.error("'_' needs a subscript", under)
        if tok.kind == "num":
            self.next()
            return tok.value
        if tok.kind == "sym" and len(tok.value) == 1:
            self.next()
            return tok.value
        if tok.kind == "op" and tok.value == "{":
            close = self.matching(self.i)
            parts = []
            for t in self.tokens[self.i + 1:close]:
                if t.kind == "num" and t.value.isdigit() or t.kind == "sym" and len(t.value) == 1:
                    parts.append(t.value)
                elif t.kind == "op" and t.value == ",":
                    parts.append(",")
                else:
                    self.error(f"unsupported {self.describe(t)} in a subscript "
                               "(use digits, letters and commas)", t)
            if not parts:
                self.error("empty subscript", tok)
            self.i = close + 1
            return _canonical_subscript("".join(parts))
        self.error(f"unsupported subscript {self.describe(tok)}", tok)
        return ""

    # -- derivatives
    def marker_ahead(self, k=0):
        """Length (in tokens) of a differential marker at offset k, else 0."""
        tok = self.peek(k)
        if tok is None:
            return 0
        if tok.kind == "partial":
            return 1
        if tok.kind == "cmd" and tok.value in ("mathrm", "operatorname"):
            if (self.at("op", "{", k=k + 1) and self.at("sym", "d", k=k + 2)
                    and self.at("op", "}", k=k + 3)):
                return 4
            return 0
        if tok.kind == "sym" and tok.value == "d" and self.at("sym", k=k + 1):
            return 1
        return 0

    def inline_derivative_ahead(self):
        """``d`` followed by a symbol and ``/ d symbol``: the plain form ``dJ/dp_{11}``."""
        j = self.i + 1
        if not self.at("sym", k=1) or self.peek(1).value == "d":
            return False
        j += 1
        while j < self.hi and self.tokens[j].kind == "op" and self.tokens[j].value in ("_", "^"):
            j += 1
            if j < self.hi and self.tokens[j].kind == "op" and self.tokens[j].value == "{":
                depth = 0
                while j < self.hi:
                    t = self.tokens[j]
                    depth += (t.kind == "op" and t.value == "{") - (t.kind == "op" and t.value == "}")
                    j += 1
                    if depth == 0:
                        break
            else:
                j += 1
        return (j + 2 < self.hi and self.tokens[j].kind == "op" and self.tokens[j].value == "/"
                and self.tokens[j + 1].kind == "sym" and self.tokens[j + 1].value == "d"
                and self.tokens[j + 2].kind == "sym")

    def consume_marker(self):
        n = self.marker_ahead()
        if not n:
            self.error("expected a differential (\\partial, \\mathrm{d} or d)")
        self.i += n

    def differential_expression(self):
        """``∂J/∂p_{11}`` (inline derivative) or a lone differential ``∂a_{11}`` (a header)."""
        start = self.peek()
        if start.kind == "cmd" and not self.marker_ahead():
            self.error(f"\\{start.value}{{...}} is only supported as the differential \\mathrm{{d}}",
                       start)
        self.consume_marker()
        if not self.at("sym"):
            self.error("a differential must be followed by a symbol (\\partial a_{11})", start)
        num = self.symbol()
        if self.at("op", "/") and self.marker_ahead(1):
            self.next()
            self.consume_marker()
            if not self.at("sym"):
                self.error("expected the symbol to differentiate by", start)
            return derivative_symbol(num, self.symbol())
        return differential_symbol(num)

    def argument_span(self, cmd_tok):
        """Token range ``(lo, hi, next_index)`` of one ``\\frac`` argument."""
        tok = self.peek()
        if tok is None:
            self.error(f"\\{cmd_tok.value} needs two arguments", cmd_tok)
        if tok.kind == "op" and tok.value == "{":
            close = self.matching(self.i)
            return self.i + 1, close, close + 1
        if tok.kind in ("num", "sym"):
            return self.i, self.i + 1, self.i + 1
        self.error(f"\\{cmd_tok.value} argument must be a {{group}}, a digit or a letter", tok)
        return 0, 0, 0

    def fraction(self, cmd_tok):
        lo1, hi1, nxt = self.argument_span(cmd_tok)
        self.i = nxt
        lo2, hi2, nxt = self.argument_span(cmd_tok)
        self.i = nxt
        num, den = self.child(lo1, hi1), self.child(lo2, hi2)
        if num.marker_ahead() and den.marker_ahead():
            num.consume_marker()
            if num.peek() is None:
                self.error("a derivative operator (\\frac{\\partial}{\\partial x}) has nothing to "
                           "differentiate; write the function in the numerator",
                           self.tokens[lo1])
            f = num.symbol()
            num.expect_end("numerator of the derivative")
            den.consume_marker()
            if den.peek() is None:
                self.error("missing the symbol to differentiate by", self.tokens[lo2 - 1])
            x = den.symbol()
            den.expect_end("denominator of the derivative")
            return derivative_symbol(f, x)
        if num.peek() is None or den.peek() is None:
            self.error(f"empty argument of \\{cmd_tok.value}", cmd_tok)
        top = num.expression()
        num.expect_end("numerator")
        den_tok = den.peek()
        bottom = den.expression()
        den.expect_end("denominator")
        if bottom == 0:
            self.error("division by zero", den_tok)
        return self.checked(top / bottom, cmd_tok)


def parse_expression(text):
    """Parse one entry (LaTeX or the plain text of :func:`to_text`) into a SymPy expression.

    Raises
    ------
    LatexParseError
        On anything outside the restricted grammar, naming line and column; a
        :class:`LatexSizeError` (also a ``SizeLimitError``) over one of the limits
        (``MAX_INPUT_CHARS``, ``MAX_DEPTH``, ``MAX_EXPONENT``, ``MAX_NUMBER_DIGITS``,
        ``MAX_EXPANDED_TERMS``).

    Examples
    --------
    >>> from jacobian_cnn.symbolic.latex import parse_expression
    >>> parse_expression(r"\\frac{1}{4}\\biggl(\\frac{\\mathrm{d}J}{\\mathrm{d}p_{11}}"
    ...                  r" + \\frac{1}{4}\\frac{\\mathrm{d}J}{\\mathrm{d}p_{21}}\\biggr)")
    ∂J/∂p_{11}/4 + ∂J/∂p_{21}/16
    >>> parse_expression("a_{12}\\\\beta_{21} + a_{13}\\\\beta_{22}")
    a_{12}*beta_{21} + a_{13}*beta_{22}
    >>> parse_expression("1/4 (∂J/∂p_{11} + ∂J/∂p_{1,2})")
    ∂J/∂p_{11}/4 + ∂J/∂p_{12}/4
    """
    if not isinstance(text, str):
        raise InvalidTypeError(f"text must be a str, got {type(text).__name__}")
    tokens = _tokenize(text)
    parser = _Parser(text, tokens)
    if not tokens:
        raise LatexParseError("empty expression", text, 0)
    for tok in tokens:
        if tok.kind in ("op",) and tok.value in ("&",) or tok.kind == "rowsep":
            raise LatexParseError("'&' and '\\\\' separate matrix entries; use parse_matrix",
                                  text, tok.pos)
    value = parser.entry("expression")
    _check_expansion(value, 0, text, tokens[0].pos)
    return value


def expansion_size(expr):
    """Upper bound on the terms that expanding ``expr`` creates (``sympy.expand``).

    Counts the monomials made by multiplying out products and integer powers of sums,
    inside function arguments too; an already expanded expression costs nothing.
    Compared with :data:`MAX_EXPANDED_TERMS` before anything is expanded.

    Examples
    --------
    >>> from jacobian_cnn.symbolic.latex import expansion_size, parse_expression
    >>> expansion_size(parse_expression("a + 2 b c")), expansion_size(parse_expression("(a+b)(c+d)"))
    (0, 4)
    >>> expansion_size(parse_expression("(a+b+c+d)^{10}"))
    286
    """
    cap = 10**12
    terms, work = {}, [0]

    def count(e):
        if e in terms:
            return terms[e]
        if e.is_Atom:
            n = 1
        elif e.is_Add:
            n = min(cap, sum(count(a) for a in e.args))
        elif e.is_Mul:
            n, spread = 1, False
            for a in e.args:
                k = count(a)
                n, spread = min(cap, n * k), spread or k > 1
            if spread:
                work[0] += n
        elif e.is_Pow:
            base, exponent = e.args
            k = count(base)
            count(exponent)
            n = 1
            if k > 1 and exponent.is_Integer and exponent != 0:
                m = min(abs(int(exponent)), cap)
                n = math.comb(min(k, cap) + m - 1, m) if m < 10_000 else cap
                n = min(n, cap)
                work[0] += n
        else:  # a function: its arguments are expanded, it stays one factor
            for a in e.args:
                count(a)
            n = 1
        terms[e] = n
        return n

    try:
        count(expr)
    except RecursionError:
        return cap
    return min(work[0], cap)


def _check_expansion(value, spent, text, pos):
    """``spent`` plus the expansion of ``value``, refused over :data:`MAX_EXPANDED_TERMS`."""
    total = spent + expansion_size(value)
    if total > MAX_EXPANDED_TERMS:
        raise LatexSizeError(
            f"expanding the products and powers would create about {total:,} terms, over the "
            f"limit of {MAX_EXPANDED_TERMS:,} ({_limit_name('MAX_EXPANDED_TERMS')})", text, pos)
    return total


@dataclass(frozen=True)
class MatrixSource:
    """Where a top-level matrix environment sits in a text.

    Attributes
    ----------
    env : str
        ``"bmatrix"``, ``"pmatrix"``, ...
    start, end : int
        Offsets of ``\\begin{env}`` and just after ``\\end{env}`` (and its transpose mark).
    transposed : bool
        The matrix is followed by ``^\\intercal``, ``^\\top`` or ``^T``.
    """

    env: str
    start: int
    end: int
    transposed: bool
    body: tuple  # token index range (lo, hi) of the body, private


def find_matrices(text):
    """The top-level matrix environments of ``text``, in order.

    Environments nested inside a matrix are part of their parent (and rejected
    when it is parsed); other environments (``align``, ...) are transparent.

    Examples
    --------
    >>> from jacobian_cnn.symbolic.latex import find_matrices
    >>> text = r"A = \\begin{bmatrix} 1 \\end{bmatrix}, v = \\begin{pmatrix} 2 \\end{pmatrix}^\\top"
    >>> [m.env for m in find_matrices(text)]
    ['bmatrix', 'pmatrix']
    >>> find_matrices(r"v = \\begin{pmatrix} 2 \\end{pmatrix}^\\top")[0].transposed
    True
    """
    if not isinstance(text, str):
        raise InvalidTypeError(f"text must be a str, got {type(text).__name__}")
    return _find_matrices(text, _tokenize(text))


def _find_matrices(text, tokens):
    found, stack = [], []
    for i, tok in enumerate(tokens):
        if tok.kind == "begin" and tok.value in _MATRIX_ENVS:
            stack.append((i, tok))
        elif tok.kind == "end" and tok.value in _MATRIX_ENVS:
            if not stack:
                raise LatexParseError(f"\\end{{{tok.value}}} without a matching \\begin", text,
                                      tok.pos)
            j, opener = stack.pop()
            if opener.value != tok.value:
                raise LatexParseError(
                    f"\\end{{{tok.value}}} closes \\begin{{{opener.value}}} (opened at offset "
                    f"{opener.pos})", text, tok.pos)
            if stack:
                continue
            transposed, end, k = False, tok.end, i + 1
            if k < len(tokens) and tokens[k].kind == "op" and tokens[k].value == "^":
                mark = tokens[k + 1:k + 4]
                if mark and (_is_transpose(mark[0])):
                    transposed, end = True, mark[0].end
                elif (len(mark) >= 3 and mark[0].value == "{" and _is_transpose(mark[1])
                      and mark[2].value == "}"):
                    transposed, end = True, mark[2].end
            found.append(MatrixSource(opener.value, opener.pos, end, transposed, (j + 1, i)))
    if stack:
        j, opener = stack[-1]
        raise LatexParseError(f"\\begin{{{opener.value}}} is never closed", text, opener.pos)
    return found


def _is_transpose(tok):
    return (tok.kind == "cmd" and tok.value in ("intercal", "top")) or (
        tok.kind == "sym" and tok.value == "T")


def parse_matrix(text, which=-1):
    """Parse one matrix environment of ``text`` into a SymPy ``ImmutableMatrix``.

    Parameters
    ----------
    text : str
        LaTeX containing ``\\begin{bmatrix}`` (or ``pmatrix``, ``matrix``,
        ``array``) ... ``\\end{...}``; text around it (``$$``, a left-hand side,
        ``\\quad``) is ignored. A transpose mark after the environment
        (``^\\intercal``) is applied. An ``array`` whose first row and column are
        differentials (``\\partial a_{11}``; the headers of
        :func:`matrix_to_latex`) has them stripped.
    which : int
        Index into :func:`find_matrices` (default ``-1``: the last one, the
        result of a chain of equalities).

    Raises
    ------
    LatexParseError
        On malformed input (line and column); a :class:`LatexSizeError` over one of
        the limits, ``MAX_MATRIX_ENTRIES`` and ``MAX_EXPANDED_TERMS`` counting all the
        entries of the matrix.

    Examples
    --------
    >>> from jacobian_cnn.symbolic.latex import parse_matrix
    >>> parse_matrix(r"$$P = \\begin{bmatrix} \\frac{1}{4} & 0 \\\\ 0 & \\frac14 \\\\ \\end{bmatrix}$$")
    Matrix([
    [1/4,   0],
    [  0, 1/4]])
    """
    return _read_matrix(text, which)[0]


def _read_matrix(text, which):
    """:func:`parse_matrix`, and how many matrices the text holds (one tokenization)."""
    sympy = require_sympy()
    if not isinstance(text, str):
        raise InvalidTypeError(f"text must be a str, got {type(text).__name__}")
    _check_length(text)
    _count_entries_roughly(text)
    tokens = _tokenize(text)
    sources = _find_matrices(text, tokens)
    if not sources:
        raise LatexParseError("no \\begin{bmatrix}/\\begin{pmatrix}/\\begin{matrix} environment "
                              "found", text, 0)
    if not isinstance(which, int) or isinstance(which, bool):
        raise InvalidTypeError(f"which must be an int, got {which!r}")
    if not -len(sources) <= which < len(sources):
        raise InvalidValueError(f"which={which} but the text has {len(sources)} matrices")
    source = sources[which]
    rows = _parse_body(text, tokens, source)
    matrix = sympy.ImmutableMatrix(rows)
    return (matrix.T if source.transposed else matrix), len(sources)


_ENV_RE = re.compile(r"\\begin\s*\{(" + "|".join(_MATRIX_ENVS) + r")\}")


def _count_entries_roughly(text):
    """Refuse a matrix over :data:`MAX_MATRIX_ENTRIES` from its raw text, before tokenizing.

    Counts the ``&`` and ``\\\\`` between each ``\\begin{env}`` and the next ``\\end{env}``
    (fast, at C speed); tokenizing a huge matrix first would take seconds. An escaped
    ``\\&`` or one in a comment is counted too, so this is an upper bound, exact for
    ordinary matrices; :func:`_parse_body` counts exactly.
    """
    end = 0
    for m in _ENV_RE.finditer(text):
        if m.start() < end:
            continue  # inside the previous matrix: spans stay disjoint, the scan linear
        end = text.find(f"\\end{{{m[1]}}}", m.end())
        end = len(text) if end < 0 else end
        n = text.count("&", m.end(), end) + text.count("\\\\", m.end(), end) + 1
        if n > MAX_MATRIX_ENTRIES:
            raise LatexSizeError(
                f"the matrix has about {n:,} entries (counting its '&' and '\\\\'), over the "
                f"limit of {MAX_MATRIX_ENTRIES:,} ({_limit_name('MAX_MATRIX_ENTRIES')})", text,
                m.start())


def _parse_body(text, tokens, source):
    lo, hi = source.body
    if source.env == "array" and lo < hi and tokens[lo].kind == "op" and tokens[lo].value == "{":
        lo = _Parser(text, tokens, lo, hi).matching(lo) + 1  # column spec
    for tok in tokens[lo:hi]:
        if tok.kind == "begin":
            raise LatexParseError(f"a nested \\begin{{{tok.value}}} inside a matrix is not "
                                  "supported; write each entry as an expression", text, tok.pos)
    cells, row, start, j = [], [], lo, lo
    while j <= hi:
        tok = tokens[j] if j < hi else None
        if tok is None or tok.kind == "rowsep" or (tok.kind == "op" and tok.value == "&"):
            row.append((start, j))
            start = j + 1
            if tok is None or tok.kind == "rowsep":
                cells.append(row)
                row = []
                spacing = tok is not None and re.match(
                    r"\s*\[\s*-?[\d.]+\s*(pt|em|ex|mm|cm|in|mu)\s*\]", text[tok.end:])
                if spacing:  # \\[2pt]
                    end = tok.end + spacing.end()
                    while start < hi and tokens[start].pos < end:
                        start += 1
                    j = start
                    continue
        j += 1
    # a trailing \\ before \end leaves one empty row
    if len(cells) > 1 and cells[-1] == [(hi, hi)]:
        cells.pop()
    if cells == [[(lo, hi)]] and lo == hi:
        raise LatexParseError(f"empty \\begin{{{source.env}}}", text, source.start)
    n_entries = sum(len(r) for r in cells)
    if n_entries > MAX_MATRIX_ENTRIES:
        raise LatexSizeError(
            f"the matrix has {n_entries:,} entries ({len(cells):,} rows), over the limit of "
            f"{MAX_MATRIX_ENTRIES:,} ({_limit_name('MAX_MATRIX_ENTRIES')})", text, source.start)
    parsed, pairs, spent = [], _pairs(tokens), 0
    for cell_row in cells:
        out = []
        for a, b in cell_row:
            if a == b:
                out.append(None)
                continue
            value = _Parser(text, tokens, a, b, pairs=pairs).entry()
            spent = _check_expansion(value, spent, text, tokens[a].pos)
            out.append(value)
        parsed.append(out)
    headers = _strip_headers(parsed)
    if headers is not parsed:
        parsed, cells = headers, [r[1:] for r in cells[1:]]
    width = len(parsed[0])
    for r, (cell_row, values) in enumerate(zip(cells, parsed, strict=True)):
        if len(values) != width:
            raise LatexParseError(f"row {r + 1} has {len(values)} entries but row 1 has {width} "
                                  "(rows of a matrix must have equal length)",
                                  text, tokens[cell_row[0][0]].pos)
        for c, value in enumerate(values):
            if value is None:
                raise LatexParseError(f"empty entry (row {r + 1}, column {c + 1})", text,
                                      tokens[cell_row[c][0]].pos)
    return parsed


def _strip_headers(rows):
    """Drop a header row and column of differentials (the layout of :func:`matrix_to_latex`)."""
    if len(rows) < 2 or len(rows[0]) < 2 or rows[0][0] is not None:
        return rows

    def is_differential(v):
        return v is not None and v.is_Symbol and symbol_parts(v)[0] == "differential"

    if all(is_differential(v) for v in rows[0][1:]) and all(
            len(r) and is_differential(r[0]) for r in rows[1:]):
        return [r[1:] for r in rows[1:]]
    return rows
