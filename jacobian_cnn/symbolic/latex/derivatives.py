"""The parser's special forms: differentials and derivatives (``\\partial``, ``\\mathrm{d}``,
``dJ/dp_{11}``), ``\\frac`` and the functions (``\\sigma``, ``\\tanh``, ``\\exp``, with a prime)."""

from __future__ import annotations

from jacobian_cnn.symbolic.latex.names import derivative_symbol, differential_symbol


class _CallsAndDerivatives:
    """Methods of :class:`~jacobian_cnn.symbolic.latex.grammar._Parser` for function calls,
    differentials, derivatives and fractions (they call back into its grammar)."""

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


