"""The reader's errors and its limits: the exceptions, the snapshot of the ``MAX_...`` limits a
call works with, and the checks against them (text length, digits of exact numbers, expansion).

The limits themselves are attributes of :mod:`jacobian_cnn.symbolic.latex` (assign a new value
there to change one); each public reader call takes a :class:`Limits` snapshot when it starts and
passes it down.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from jacobian_cnn.errors import InvalidValueError, SizeLimitError


class Limits(NamedTuple):
    """The ``MAX_...`` values of :mod:`jacobian_cnn.symbolic.latex` when a reader call starts."""

    input_chars: int
    depth: int
    exponent: int
    number_digits: int
    matrix_entries: int
    expanded_terms: int


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


def _check_length(text, limits):
    """Refuse a text longer than :data:`MAX_INPUT_CHARS`."""
    if len(text) > limits.input_chars:
        raise LatexSizeError(
            f"the text has {len(text):,} characters, over the limit of {limits.input_chars:,} "
            f"({_limit_name('MAX_INPUT_CHARS')})", text, limits.input_chars)


def _largest(rational):
    """The larger of a SymPy rational's numerator (absolute value) and denominator."""
    return max(abs(int(rational.p)), int(rational.q))


def _over_digits(n, max_digits):
    """Whether the int ``n >= 0`` has more than ``max_digits`` (:data:`MAX_NUMBER_DIGITS`) decimal digits."""
    bits = n.bit_length()
    if bits * _LOG10_2 < max_digits - 1:
        return False
    return bits * _LOG10_2 > max_digits + 1 or n >= 10**max_digits


def _digits(n):
    """Decimal digits of the int ``n >= 0`` (estimated from its bits when large)."""
    return len(str(n)) if n.bit_length() < 3000 else int(n.bit_length() * _LOG10_2) + 1


_LOG10_2 = 0.30102999566398120


def _short(value, width=24):
    text = str(value)
    return text if len(text) <= width else text[:width] + "..."


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


def _check_expansion(value, spent, text, pos, limits):
    """``spent`` plus the expansion of ``value``, refused over :data:`MAX_EXPANDED_TERMS`."""
    total = spent + expansion_size(value)
    if total > limits.expanded_terms:
        raise LatexSizeError(
            f"expanding the products and powers would create about {total:,} terms, over the "
            f"limit of {limits.expanded_terms:,} ({_limit_name('MAX_EXPANDED_TERMS')})", text, pos)
    return total


