"""The parser's base: a cursor over a token range (look ahead, errors naming line and column,
nesting depth) and exact numbers checked against the limits before and after SymPy builds them."""

from __future__ import annotations

import math
from fractions import Fraction

from jacobian_cnn.symbolic.latex.limits import (
    LatexParseError,
    LatexSizeError,
    _digits,
    _largest,
    _limit_name,
    _over_digits,
    _short,
)
from jacobian_cnn.symbolic.latex.names import require_sympy
from jacobian_cnn.symbolic.latex.tokens import _pairs


class _Cursor:
    """A position in ``tokens[lo:hi]`` of ``text``, read under ``limits``
    (a :class:`~jacobian_cnn.symbolic.latex.limits.Limits`)."""

    def __init__(self, text, tokens, limits, lo=0, hi=None, *, pairs=None, depth=0):
        self.sympy = require_sympy()
        self.text, self.tokens, self.limits = text, tokens, limits
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
        if self.depth + 1 > self.limits.depth:
            tok = self.tokens[lo - 1] if lo > 0 else self.tokens[lo]
            raise LatexSizeError(f"groups nested more than {self.limits.depth} deep "
                                 f"({_limit_name('MAX_DEPTH')})", self.text, tok.pos)
        return type(self)(self.text, self.tokens, self.limits, lo, hi, pairs=self.pairs,
                          depth=self.depth + 1)

    def group(self, lo, hi, opener, empty, what):
        """The expression filling ``tokens[lo:hi]``, read one level deeper (:meth:`child`).

        ``empty`` is the error for an empty range (at ``opener``), ``what`` names the range in
        the error for text left after the expression.
        """
        inner = self.child(lo, hi)
        if inner.peek() is None:
            self.error(empty, opener)
        value = inner.expression()
        inner.expect_end(what)
        return value

    # -- exact numbers, checked against the limits before and after SymPy builds them
    def too_large(self, digits, tok, what="a number"):
        raise LatexSizeError(
            f"{what} would have about {digits:,} digits, over the limit of "
            f"{self.limits.number_digits} digits ({_limit_name('MAX_NUMBER_DIGITS')})", self.text,
            tok.pos)

    def check_number(self, number, tok):
        if number.is_Rational and _over_digits(_largest(number), self.limits.number_digits):
            self.too_large(_digits(_largest(number)), tok)
        return number

    def checked(self, value, tok):
        """``value``, after checking its rational coefficient against :data:`MAX_NUMBER_DIGITS`."""
        self.check_number(value.as_coeff_Add()[0] if value.is_Add else value.as_coeff_Mul()[0], tok)
        return value


    def power(self, base, exponent, caret, exp_tok):
        """``base ** exponent``, refusing huge exponents and results, and ``0`` to a negative power."""
        s = self.sympy
        if exponent.is_number:
            if not exponent.is_Rational:
                self.error("a numeric exponent must be a rational number", exp_tok)
            p, q = abs(int(exponent.p)), int(exponent.q)
            if max(p, q) > self.limits.exponent:
                raise LatexSizeError(
                    f"exponent {_short(exponent)} is over the limit: numerator and denominator "
                    f"at most {self.limits.exponent} ({_limit_name('MAX_EXPONENT')})", self.text,
                    exp_tok.pos)
            if base == 0 and exponent.is_negative:
                self.error("division by zero: 0 to a negative power", caret)
            for number in s.Mul.make_args(base):
                if number.is_Rational and number != 0:
                    digits = math.log10(_largest(number)) * p / q
                    if digits > self.limits.number_digits + 1:  # near the limit: build, then check
                        self.too_large(int(digits) + 1, caret, "the power")
        elif base == 0 and not exponent.is_nonnegative:
            self.error("0 to a power that may be negative is undefined; write the power out", caret)
        return self.checked(s.Pow(base, exponent), caret)

    def number(self, tok):
        mantissa, _, exponent = tok.value.lower().partition("e")
        digits = len(mantissa.replace(".", "")) + (abs(int(exponent or 0)) if len(exponent) <= 7
                                                  else 10**6)
        if digits > self.limits.number_digits:
            self.too_large(digits, tok, f"the number {_short(tok.value)}")
        if tok.value.isdigit():
            return self.sympy.Integer(int(tok.value))
        f = Fraction(tok.value)
        return self.sympy.Rational(f.numerator, f.denominator)

