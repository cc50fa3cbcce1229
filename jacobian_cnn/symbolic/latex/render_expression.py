"""Writing one SymPy expression as LaTeX or plain text: terms in ``vec`` order of their symbols,
exact rationals, a common rational factor pulled out of a sum."""

from __future__ import annotations

import re
from fractions import Fraction

from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.symbolic.latex.names import (
    _GREEK_UNICODE,
    _NAME_RE,
    GREEK,
    _symbol_key,
    require_sympy,
    symbol_parts,
)


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


