"""The LaTeX reader and ``jacobian-cnn check``: inputs that hung it, divisions by zero, numbers.

Expected values are written by hand (``2.5e-1`` is 1/4; ``(a+b+c+d)^{10}`` has
C(13, 3) = 286 monomials). Refusals must name the limit (the ``MAX_...`` constant or the
option) and, for text, the line and column.
"""

import os
import tempfile

import numpy as np
import sympy
from seed_latex import SEED000_EQ3_VALUES

import jacobian_cnn as jc
from bad_input.harness import Bad, CLIFailed, cli
from jacobian_cnn.errors import SizeLimitError
from jacobian_cnn.handcheck import as_written_matrix, check_derivation
from jacobian_cnn.symbolic.latex import LatexParseError, LatexSizeError, parse_expression, parse_matrix

AVG3 = ("--op", "avgpool", "--input", "3x3", "--window", "2", "--stride", "1")
a, b, e = sympy.symbols("a b e")


def check_file(text, *argv):
    """A call that writes ``text`` to a file and runs ``jacobian-cnn check FILE ARGV``."""

    def run():
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "answer.tex")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            return cli("check", path, *argv)()

    return run


def parse(text):
    return lambda: parse_expression(text)


def equals(expected):
    def check(result):
        assert result == expected, f"{result!r} != {expected!r}"
    return check


def says(*fragments):
    def check(result):
        for fragment in fragments:
            assert fragment in result.stdout, f"{fragment!r} not in {result.stdout!r}"
    return check


def tanh_nested(depth, x):
    def check(result):
        expected = x
        for _ in range(depth):
            expected = sympy.tanh(expected, evaluate=False)
        assert result == expected, result
    return check


def monomials(count):
    def check(result):
        assert len(sympy.Add.make_args(sympy.expand(result))) == count, result
    return check


def matrix_of(entries, rows=1):
    """``\\begin{bmatrix}`` with ``entries`` in ``rows`` rows."""
    per_row = len(entries) // rows
    body = " \\\\ ".join(" & ".join(entries[r * per_row:(r + 1) * per_row]) for r in range(rows))
    return f"\\begin{{bmatrix}} {body} \\end{{bmatrix}}"


MILLION_ROWS = r"\begin{bmatrix}" + "1 \\\\ " * 10**6 + r"\end{bmatrix}"
WIDE = r"\begin{bmatrix}" + "&".join(["1"] * 60_000) + r"\end{bmatrix}"
EQ3_SCIENTIFIC = SEED000_EQ3_VALUES.replace(r"\frac{1}{4}", "2.5e-1")
EQ3_TIMES = SEED000_EQ3_VALUES.replace(r"\frac{1}{4}", r"2.5\times 10^{-1}")
EQ3_CDOT = SEED000_EQ3_VALUES.replace(r"\frac{1}{4}", r"2.5 \cdot 10^{-1}")

CASES = [
    # --- what hung `check` (issue 11 section 4), refused within the budget
    Bad("latex 9^{9^{9}}", parse("9^{9^{9}}"), LatexSizeError,
        ("exponent 387420489", "at most 100", "MAX_EXPONENT", "line 1, column 3")),
    Bad("latex 10^{10^{8}}", parse("10^{10^{8}}"), LatexSizeError,
        ("exponent 100000000", "MAX_EXPONENT", "line 1, column 4")),
    Bad("latex (a+b+c+d)^{90}", parse("(a+b+c+d)^{90}"), LatexSizeError,
        ("129,766 terms", "MAX_EXPANDED_TERMS", "line 1, column 1")),
    Bad("latex 5 MB of implicit products", parse("a " * 2_500_000), LatexSizeError,
        ("5,000,000 characters", "200,000", "MAX_INPUT_CHARS")),
    Bad("latex a million one-entry rows", lambda: parse_matrix(MILLION_ROWS),
        LatexSizeError, ("characters", "MAX_INPUT_CHARS")),
    Bad("latex 60,000 entries under the character limit", lambda: parse_matrix(WIDE),
        LatexSizeError, ("60,000 entries", "40,000", "MAX_MATRIX_ENTRIES", "line 1, column 1")),
    Bad("latex parentheses 1000 deep", parse("(" * 1000 + "a" + ")" * 1000), LatexSizeError,
        ("nested more than 50 deep", "MAX_DEPTH", "column 51")),
    Bad("latex braces 1000 deep in an exponent", parse("a^" + "{" * 1000 + "2" + "}" * 1000),
        LatexSizeError, ("MAX_DEPTH",)),
    Bad("latex a number of a billion digits", parse("1e999999999"), LatexSizeError,
        ("1e999999999", "1,000,001 digits", "MAX_NUMBER_DIGITS")),
    Bad("latex a 200-digit literal", parse("7" * 200), LatexSizeError, ("200 digits", "MAX_NUMBER_DIGITS")),
    Bad("latex a power past the digit limit", parse("(10^{50})^{3}"), LatexSizeError,
        ("151 digits", "MAX_NUMBER_DIGITS", "column 10")),
    Bad("latex products of big numbers", parse(r" \cdot ".join(["9" * 90] * 1500)), LatexSizeError,
        ("MAX_NUMBER_DIGITS",)),
    Bad("latex sums of fractions growing a denominator",
        parse(" + ".join(rf"\frac{{1}}{{{p}^{{30}}}} a" for p in (3, 5, 7, 11, 13, 17, 19))),
        LatexSizeError, ("MAX_NUMBER_DIGITS",)),
    Bad("latex tanh nested 40 deep", parse(r"\tanh(" * 40 + "a" + ")" * 40), None,
        check=tanh_nested(40, a)),
    Bad("latex a size error is also a parse error and a size limit",
        parse("9^{9^{9}}"), LatexParseError, ("MAX_EXPONENT",)),
    Bad("latex a size error is a SizeLimitError", parse("9^{9^{9}}"), SizeLimitError, ("MAX_EXPONENT",)),
    # --- divisions by zero in every spelling (never SymPy's zoo)
    Bad("latex 0^{-1}", parse("0^{-1}"), LatexParseError, ("division by zero", "column 2")),
    Bad("latex 0^{-2}", parse("0^{-2}"), LatexParseError, ("division by zero",)),
    Bad("latex (1-1)^{-1}", parse("(1-1)^{-1}"), LatexParseError, ("division by zero", "column 6")),
    Bad("latex frac 1 over 0", parse(r"\frac{1}{0}"), LatexParseError, ("division by zero", "column 10")),
    Bad("latex frac 1 over 1-1", parse(r"\frac{1}{1-1}"), LatexParseError, ("division by zero",)),
    Bad("latex a over (a-a)", parse("a/(a-a)"), LatexParseError, ("division by zero", "column 3")),
    Bad("latex 0^{-1/2}", parse("0^{-1/2}"), LatexParseError, ("division by zero",)),
    Bad("latex 0 to a symbolic power", parse("0^{a}"), LatexParseError, ("may be negative",)),
    Bad("latex double superscript", parse("a^b^c"), LatexParseError, ("double superscript", "column 4")),
    # --- numbers (the rule is in jacobian_cnn.symbolic.latex's docstring)
    Bad("latex 2.5e-1", parse("2.5e-1"), None, check=equals(sympy.Rational(1, 4))),
    Bad("latex 2.5 times 10^{-1}", parse(r"2.5\times 10^{-1}"), None, check=equals(sympy.Rational(1, 4))),
    Bad("latex 2.5 cdot 10^{-1}", parse(r"2.5 \cdot 10^{-1}"), None, check=equals(sympy.Rational(1, 4))),
    Bad("latex 1e3", parse("1e3"), None, check=equals(sympy.Integer(1000))),
    Bad("latex -3.0E+2", parse("-3.0E+2"), None, check=equals(sympy.Integer(-300))),
    Bad("latex 10^{-3}", parse("10^{-3}"), None, check=equals(sympy.Rational(1, 1000))),
    Bad("latex e stays a symbol with a space", parse("2 e-1"), None, check=equals(2 * e - 1)),
    Bad("latex 2e is 2 times e", parse("2e + a"), None, check=equals(2 * e + a)),
    Bad("latex no exponent part after a subscript", parse("a_2e3"), LatexParseError,
        ("a number cannot follow a factor", "column 5")),
    Bad("latex a scientific number inside frac", parse(r"\frac{1e3}{2}"), None, check=equals(sympy.Integer(500))),
    Bad("latex (a+b+c+d)^{10} is accepted", parse("(a+b+c+d)^{10}"), None, check=monomials(286)),
    # --- the hand checker: problem size and written shape before anything is built
    Bad("latex check_derivation of a 100x100 problem",
        lambda: check_derivation([[1, 0], [0, 1]], jc.AvgPool2D(2), (100, 100)), SizeLimitError,
        ("2500x10000", "25,000,000 entries", "250,000", "max_entries", "--max-entries")),
    Bad("latex check_derivation tests the written shape first",
        lambda: check_derivation([[1, 0], [0, 1]], jc.AvgPool2D(2), (100, 100), max_entries=10**8),
        ValueError, ("2x2 matrix fits none", "jacobian: 2500x10000", "forward: 50x50")),
    Bad("latex check_derivation max_entries=0", lambda: check_derivation([[1]], jc.AvgPool2D(1), (2, 2), max_entries=0),
        ValueError, ("max_entries must be a positive int", "got 0")),
    Bad("latex a written expansion past the limit (nested lists)",
        lambda: as_written_matrix([["(a+b+c+d)^{10}"] * 20]), SizeLimitError,
        ("terms", "MAX_EXPANDED_TERMS")),
    Bad("latex a written SymPy power past the limit",
        lambda: as_written_matrix(sympy.Matrix([[(a + b + sympy.Symbol("c")) ** 100]])), SizeLimitError,
        ("MAX_EXPANDED_TERMS",)),
    Bad("latex a written int of 300 digits", lambda: as_written_matrix(np.array([[10**300]], dtype=object)),
        SizeLimitError, ("entry (1, 1)", "301 digits", "MAX_NUMBER_DIGITS")),
    Bad("latex a written zoo", lambda: as_written_matrix(sympy.Matrix([[sympy.zoo]])), ValueError,
        ("entry (1, 1)", "undefined")),
    # --- the command line
    Bad("latex cli check 9^{9^{9}}", check_file(matrix_of([r"9^{9^{9}}", "1"]), *AVG3), CLIFailed,
        ("exit 2", "MAX_EXPONENT", "line 1, column 19")),
    Bad("latex cli check (a+b+c+d)^{90}", check_file(matrix_of(["(a+b+c+d)^{90}", "1"]), *AVG3), CLIFailed,
        ("exit 2", "129,766 terms", "MAX_EXPANDED_TERMS")),
    Bad("latex cli check 5 MB of implicit products", check_file("a " * 2_500_000, *AVG3), CLIFailed,
        ("exit 2", "more than 200,000 characters", "MAX_INPUT_CHARS")),
    Bad("latex cli check a million one-entry rows", check_file(MILLION_ROWS, *AVG3),
        CLIFailed, ("exit 2", "MAX_INPUT_CHARS")),
    Bad("latex cli check 0^{-1}", check_file(matrix_of(["0^{-1}", "1"]), *AVG3), CLIFailed,
        ("exit 2", "division by zero", "line 1, column 18")),
    Bad("latex cli check a 100x100 problem", check_file(matrix_of(["1", "0", "0", "1"], 2),
                                                        "--op", "avgpool", "--input", "100x100", "--window", "2"),
        CLIFailed, ("exit 2", "25,000,000 entries", "over the limit of 250,000", "--max-entries")),
    Bad("latex cli check --max-entries 0", check_file(matrix_of(["1"]), *AVG3, "--max-entries", "0"),
        CLIFailed, ("exit 2", "--max-entries", "positive integer", "'0'")),
    Bad("latex cli check a correct matrix written 2.5e-1", check_file(EQ3_SCIENTIFIC, *AVG3), None,
        check=says("Correct: all 36 entries match.")),
    Bad("latex cli check a correct matrix written 2.5 times 10^{-1}", check_file(EQ3_TIMES, *AVG3), None,
        check=says("Correct: all 36 entries match.")),
    Bad("latex cli check a correct matrix written 2.5 cdot 10^{-1}", check_file(EQ3_CDOT, *AVG3), None,
        check=says("Correct: all 36 entries match.")),
]
