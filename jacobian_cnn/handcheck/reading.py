"""Reading the written matrix: LaTeX text, a SymPy matrix, a NumPy array or nested lists, into
an array of expanded SymPy expressions held to the LaTeX reader's limits."""

from __future__ import annotations

import numbers
from fractions import Fraction

import numpy as np

from jacobian_cnn.errors import InvalidTypeError, InvalidValueError, SizeLimitError
from jacobian_cnn.symbolic import latex
from jacobian_cnn.symbolic.jacobians import as_rational
from jacobian_cnn.symbolic.latex import (
    LatexParseError,
    _read_matrix,
    expansion_size,
    parse_expression,
    require_sympy,
)


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
    which : int or "channels"
        For LaTeX text with several matrices, which one (default: the last). ``"channels"``:
        every matrix of the text is one channel (all of one shape ``H x W``), read side by
        side as one ``H x (W C)`` matrix, the form a multi-channel array ``(H, W, C)`` takes
        here (``reshape(H, W * C, order="F")``).

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
    if isinstance(written, str) and which == "channels":
        rows, n_sources = _channels(written)
        source = f" ({n_sources} matrices, one per channel, side by side)" if n_sources > 1 else ""
    elif isinstance(written, str):
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


def _channels(text):
    """The rows of every matrix of ``text`` side by side, and how many there are."""
    first, n_sources = _read_matrix(text, 0)
    blocks = [first] + [_read_matrix(text, k)[0] for k in range(1, n_sources)]
    shapes = {block.shape for block in blocks}
    if len(shapes) > 1:
        raise InvalidValueError(f"the {n_sources} matrices read as channels must have one shape, "
                                f"got {' and '.join(f'{m}x{n}' for m, n in sorted(shapes))}")
    return [sum((block.row(i).tolist()[0] for block in blocks), []) for i in range(first.rows)], \
        n_sources


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
        except LatexParseError as exc:  # the reader's refusal, said again with the entry's place;
            raise type(exc)(f"in entry ({where[0] + 1}, {where[1] + 1}): {exc.reason}", value,
                            exc.position) from None  # a LatexSizeError stays a SizeLimitError
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
        except LatexParseError:  # not a name the reader knows (a LaTeX fragment, 'x__1', too
            continue  # long): the symbol stays as written, and differs from every expected one
        if parsed.is_Symbol and parsed != s:
            replace[s] = parsed
    for f in expr.atoms(sympy.Float):
        replace[f] = as_rational(f)
    if replace:
        expr = expr.xreplace(replace)
    return sympy.expand(expr)
