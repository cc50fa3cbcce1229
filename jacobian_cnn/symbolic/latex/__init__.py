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

from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.symbolic.latex.grammar import _Parser
from jacobian_cnn.symbolic.latex.limits import (
    LatexParseError,
    LatexSizeError,
    Limits,
    _check_expansion,
    _check_length,
    expansion_size,
)
from jacobian_cnn.symbolic.latex.matrix import (
    MatrixSource,
    _count_entries_roughly,
    _find_matrices,
    _parse_body,
)
from jacobian_cnn.symbolic.latex.names import (
    derivative_symbol,
    differential_symbol,
    entry_symbol,
    format_indices,
    normalize_base,
    require_sympy,
    symbol_parts,
)
from jacobian_cnn.symbolic.latex.render_expression import render_name, to_latex, to_text
from jacobian_cnn.symbolic.latex.render_matrix import matrix_to_latex, matrix_to_text
from jacobian_cnn.symbolic.latex.tokens import _tokenize

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

def _limits():
    """The limits as they are now (the module attributes above), for one call."""
    return Limits(MAX_INPUT_CHARS, MAX_DEPTH, MAX_EXPONENT, MAX_NUMBER_DIGITS, MAX_MATRIX_ENTRIES,
                  MAX_EXPANDED_TERMS)


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
    limits = _limits()
    tokens = _tokenize(text, limits)
    parser = _Parser(text, tokens, limits)
    if not tokens:
        raise LatexParseError("empty expression", text, 0)
    for tok in tokens:
        if tok.kind in ("op",) and tok.value in ("&",) or tok.kind == "rowsep":
            raise LatexParseError("'&' and '\\\\' separate matrix entries; use parse_matrix",
                                  text, tok.pos)
    value = parser.entry("expression")
    _check_expansion(value, 0, text, tokens[0].pos, limits)
    return value



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
    return _find_matrices(text, _tokenize(text, _limits()))



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
    limits = _limits()
    _check_length(text, limits)
    _count_entries_roughly(text, limits)
    tokens = _tokenize(text, limits)
    sources = _find_matrices(text, tokens)
    if not sources:
        raise LatexParseError("no \\begin{bmatrix}/\\begin{pmatrix}/\\begin{matrix} environment "
                              "found", text, 0)
    if not isinstance(which, int) or isinstance(which, bool):
        raise InvalidTypeError(f"which must be an int, got {which!r}")
    if not -len(sources) <= which < len(sources):
        raise InvalidValueError(f"which={which} but the text has {len(sources)} matrices")
    source = sources[which]
    rows = _parse_body(text, tokens, source, limits)
    matrix = sympy.ImmutableMatrix(rows)
    return (matrix.T if source.transposed else matrix), len(sources)


