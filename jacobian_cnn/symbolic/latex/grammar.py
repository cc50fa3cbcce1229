"""The recursive-descent grammar of one entry: sums, products, powers, parentheses and entry
symbols with subscripts and layer tags (:class:`_Parser`, built on the cursor and on the
derivative and function-call forms)."""

from __future__ import annotations

from jacobian_cnn.symbolic.latex.cursor import _Cursor
from jacobian_cnn.symbolic.latex.derivatives import _CallsAndDerivatives
from jacobian_cnn.symbolic.latex.names import _canonical_subscript, _plain_name
from jacobian_cnn.symbolic.latex.tokens import _OPEN_CLOSE


def _undefined(sympy):
    return sympy.zoo, sympy.nan, sympy.oo, -sympy.oo


class _Parser(_CallsAndDerivatives, _Cursor):
    """Recursive descent over ``tokens[lo:hi]`` of ``text``."""

    def entry(self, what="entry"):
        """A whole entry: an expression up to ``hi``, defined (no ``zoo``, ``nan``, ``oo``)."""
        first = self.peek()
        value = self.expression()
        self.expect_end(what)
        if value.has(*_undefined(self.sympy)):
            self.error("the value is undefined (a division by zero)", first)
        return value

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


    def script_argument(self):
        """The argument of ``^``: a braced group, one number, or one symbol."""
        s = self.sympy
        tok = self.peek()
        if tok is None:
            self.error("missing argument")
        if tok.kind == "op" and tok.value == "{":
            close = self.matching(self.i)
            value = self.group(self.i + 1, close, tok, "empty group {}", "group")
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
        value = self.group(self.i, end, opener, "empty parentheses", "parenthesized expression")
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
