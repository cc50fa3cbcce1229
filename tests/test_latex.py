"""The restricted LaTeX/plain-text parser and the renderers of ``jacobian_cnn.symbolic.latex``.

Expected values come from the seed documents (copied here as literals) or are
written out by hand; the parser must read the seeds' own LaTeX.
"""

import builtins
import sys

import pytest
from seed_latex import SEED000_EQ3, SEED000_ROW, SEED004_REP2

sympy = pytest.importorskip("sympy")

from jacobian_cnn.symbolic import latex  # noqa: E402
from jacobian_cnn.symbolic.latex import (  # noqa: E402
    LatexParseError,
    LatexSizeError,
    derivative_symbol,
    differential_symbol,
    entry_symbol,
    find_matrices,
    format_indices,
    matrix_to_latex,
    matrix_to_text,
    normalize_base,
    parse_expression,
    parse_matrix,
    require_sympy,
    to_latex,
    to_text,
)

Q = sympy.Rational(1, 4)


def a(i, j):
    return entry_symbol("a", (i, j))


def beta(i, j):
    return entry_symbol("beta", (i, j))


def dJ(i, j):
    return derivative_symbol(entry_symbol("J"), entry_symbol("p", (i, j)))


# ----------------------------------------------------------------------------- parsing seeds

def test_seed000_eq3_parses_to_the_4x9_quarter_pattern():
    # Hand-written from seed 000's text: p_mn averages a 2x2 window; vec order a11, a21, a31, a12, ...
    pattern = ["110110000", "011011000", "000110110", "000011011"]
    expected = sympy.Matrix([[Q if c == "1" else 0 for c in row] for row in pattern])
    assert parse_matrix(SEED000_EQ3) == expected


def test_seed000_eq3_label_matrix_reads_as_derivative_symbols():
    labels = parse_matrix(SEED000_EQ3, which=2)
    assert labels.shape == (4, 9)
    p = entry_symbol("p", (2, 1))
    assert labels[1, 3] == derivative_symbol(p, a(1, 2))       # row p21, column a12


def test_seed000_operator_row_is_rejected_with_a_position():
    with pytest.raises(LatexParseError, match="nothing to differentiate") as info:
        parse_matrix(SEED000_EQ3, which=0)
    assert SEED000_EQ3[info.value.position:].startswith(r"\partial}")


def test_find_matrices_of_the_eq3_block():
    found = find_matrices(SEED000_EQ3)
    assert [m.env for m in found] == ["bmatrix"] * 4
    assert not any(m.transposed for m in found)


def test_seed000_row_is_transposed_by_intercal():
    found = find_matrices(SEED000_ROW)
    assert [m.transposed for m in found] == [False, True]
    row = parse_matrix(SEED000_ROW)
    assert row.shape == (1, 9)
    # the seed's second entry carries a stray 1/4: (dJ/dp11 + dJ/dp21/4)/4
    assert sympy.expand(row[0, 1] - (dJ(1, 1) / 4 + dJ(2, 1) / 16)) == 0
    assert sympy.expand(row[0, 4] - (dJ(1, 1) + dJ(2, 1) + dJ(1, 2) + dJ(2, 2)) / 4) == 0


def test_seed004_rep2_parses_products_without_spaces():
    M = parse_matrix(SEED004_REP2)
    assert M.shape == (4, 3)
    assert M[0, 0] == a(1, 1) * beta(2, 2)
    assert sympy.expand(M[1, 1] - (a(1, 2) * beta(1, 1) + a(1, 3) * beta(1, 2)
                                   + a(2, 2) * beta(2, 1) + a(2, 3) * beta(2, 2))) == 0


# ----------------------------------------------------------------------------- expression forms

@pytest.mark.parametrize("text", [
    r"\frac{\mathrm{d}J}{\mathrm{d}p_{11}}",
    r"\frac{\partial J}{\partial p_{11}}",
    r"\dfrac{dJ}{dp_{11}}",
    r"\frac{\partial J}{\partial p_{1,1}}",
    "dJ/dp_11",
    "∂J/∂p_{11}",
    r"\partial J / \partial p_{11}",
])
def test_derivative_spellings_are_one_symbol(text):
    assert parse_expression(text) == dJ(1, 1)


@pytest.mark.parametrize("text, value", [
    (r"\frac{1}{4}", Q), (r"\frac14", Q), ("1/4", Q), ("0.25", Q), (r"\tfrac{2}{8}", Q),
    (r"-\frac{3}{4}", sympy.Rational(-3, 4)), ("2 \\cdot 3", 6), (r"2 \times 3", 6),
    (r"\left(1 + 1\right)^{2}", 4), (r"\biggl(\frac{1}{2}\biggr)^2", Q),
])
def test_numbers_are_exact(text, value):
    result = parse_expression(text)
    assert result == value and result.is_Rational


def test_subscripts_tags_and_functions():
    assert parse_expression("a_{10,2}") == entry_symbol("a", (10, 2))
    assert parse_expression("a_{1,1,2}") == entry_symbol("a", (1, 1, 2)) == parse_expression("a_{112}")
    assert parse_expression("k^{[2]}_{11}") == entry_symbol("k", (1, 1), tag="2")
    assert parse_expression(r"\beta_{12}") == parse_expression("β_{12}") == beta(1, 2)
    x = a(1, 1)
    sigma = sympy.Function("sigma")(x)
    assert parse_expression(r"\sigma\left(a_{11}\right)") == sigma
    assert sympy.expand(parse_expression(r"\sigma'(a_{11})") - sigma * (1 - sigma)) == 0
    assert parse_expression(r"\tanh(a_{11})") == sympy.tanh(x)
    assert parse_expression(r"\exp(a_{11})") == sympy.exp(x)
    assert parse_expression(r"\partial a_{21}") == differential_symbol(a(2, 1))


def test_implicit_products_and_fractions_of_symbols():
    assert parse_expression(r"\frac{1}{4}\frac{\partial J}{\partial p_{11}} a_{11}") == dJ(1, 1) * a(1, 1) / 4
    assert parse_expression(r"\frac{a_{11}}{a_{21} + 1}") == a(1, 1) / (a(2, 1) + 1)
    assert parse_expression("1/4 (a_{11} + a_{21})") == (a(1, 1) + a(2, 1)) / 4


def test_comments_spacing_and_row_spacing_are_ignored():
    text = "% a comment\n\\begin{pmatrix} 1 \\, & \\quad 2 \\\\[2pt] 3 & 4 % tail\n\\end{pmatrix}"
    assert parse_matrix(text) == sympy.Matrix([[1, 2], [3, 4]])


def test_headers_round_trip():
    M = sympy.Matrix([[Q, 0], [0, a(1, 1)]])
    text = matrix_to_latex(M, row_labels=[differential_symbol(entry_symbol("p", (1, 1))),
                                          differential_symbol(entry_symbol("p", (2, 1)))],
                           col_labels=[differential_symbol(a(1, 1)), differential_symbol(a(2, 1))])
    assert text.startswith("\\begin{array}{r|cc}")
    assert parse_matrix(text) == M


# ----------------------------------------------------------------------------- errors

def _error(text, matrix=False):
    with pytest.raises(LatexParseError) as info:
        parse_matrix(text) if matrix else parse_expression(text)
    return info.value


def test_unknown_macro_points_at_it():
    err = _error(r"a_{11} + \foo{2}")
    assert "unknown macro \\foo" in str(err)
    assert (err.line, err.column) == (1, 10)


def test_unbalanced_braces_point_at_the_open_brace():
    err = _error("\\begin{bmatrix}\n 1 & \\frac{1}{4 \\\\ 0 & 0\n\\end{bmatrix}", matrix=True)
    assert "unbalanced '{'" in str(err)
    assert (err.line, err.column) == (2, 14)     # the second brace of \\frac{1}{4
    assert "line 2, column 14" in str(err)


def test_unbalanced_parenthesis_and_stray_closer():
    assert "no matching ')'" in str(_error(r"\biggl( a_{11} + 1"))
    assert "nothing to close" in str(_error("a_{11} )"))


def test_matrix_shape_errors():
    err = _error(r"\begin{bmatrix} 1 & 2 \\ 3 \end{bmatrix}", matrix=True)
    assert "row 2 has 1 entries but row 1 has 2" in str(err) and err.column == 26
    assert "empty entry (row 1, column 2)" in str(_error(r"\begin{bmatrix} 1 & & 3 \end{bmatrix}", True))
    assert "closes \\begin{bmatrix}" in str(_error(r"\begin{bmatrix} 1 \end{pmatrix}", True))
    assert "never closed" in str(_error(r"x = \begin{bmatrix} 1 & 2", True))
    assert "no \\begin{bmatrix}" in str(_error("just text", True))
    assert "nested" in str(_error(r"\begin{bmatrix} \begin{bmatrix} 1 \end{bmatrix} \end{bmatrix}", True))
    assert "ellipsis" in str(_error(r"\begin{bmatrix} 1 & \cdots \end{bmatrix}", True))
    assert "missing '&'" in str(_error(r"\begin{bmatrix} 1 2 \end{bmatrix}", True))


def test_other_malformed_input():
    assert "division by zero" in str(_error(r"\frac{1}{0}"))
    assert "transpose" in str(_error(r"a_{11}^\top"))
    assert "double subscript" in str(_error("a_{1}_{2}"))
    assert "unexpected character" in str(_error("a_{11} # 2"))
    with pytest.raises(ValueError, match="which=5"):
        parse_matrix(SEED000_EQ3, which=5)
    with pytest.raises(TypeError):
        parse_expression(3)


def test_input_is_never_executed(monkeypatch, tmp_path):
    target = tmp_path / "pwned"

    def forbidden(*args, **kwargs):
        raise AssertionError("the parser must not evaluate its input")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(sympy, "sympify", forbidden)
    monkeypatch.setattr(sympy, "parse_expr", forbidden, raising=False)
    for attack in [f"__import__('os').system('touch {target}')", f"open('{target}', 'w')",
                   r"\input{/etc/passwd}", "lambda: 1"]:
        with pytest.raises(LatexParseError):
            parse_expression(attack)
    assert not target.exists()
    assert parse_matrix(SEED000_EQ3)[0, 0] == Q    # still works without eval/sympify


# ----------------------------------------------------------------------------- rendering

def test_rendering_of_seed000_answer_entry():
    value = (dJ(1, 1) + dJ(2, 1)) / 4
    assert to_latex(value) == (r"\frac{1}{4} \left(\frac{\partial J}{\partial p_{11}} + "
                               r"\frac{\partial J}{\partial p_{21}}\right)")
    assert to_text(value) == "1/4 (∂J/∂p_{11} + ∂J/∂p_{21})"
    # terms in vec order (p11, p21, p12, p22), as seed 000 writes them
    total = (dJ(2, 2) + dJ(1, 2) + dJ(2, 1) + dJ(1, 1)) / 4
    assert to_text(total) == "1/4 (∂J/∂p_{11} + ∂J/∂p_{21} + ∂J/∂p_{12} + ∂J/∂p_{22})"


def test_rendering_of_products_rationals_and_signs():
    assert to_latex(a(1, 1) * beta(2, 2)) == r"a_{11} \beta_{22}"
    assert to_text(Q) == "1/4" and to_latex(Q) == r"\frac{1}{4}"
    assert to_text(a(1, 1) - Q * a(2, 1)) == "a_{11} - 1/4 a_{21}"
    assert to_latex(-Q * a(1, 1)) == r"-\frac{1}{4} a_{11}"


@pytest.mark.parametrize("expr", [
    (a(1, 1) + a(2, 1)) / 4 - a(1, 2) * beta(1, 1), a(1, 1) ** 2 / (3 * a(2, 2) + 1),
    sympy.exp(a(1, 1)) / (sympy.exp(a(1, 1)) + sympy.exp(a(2, 1))), -dJ(1, 1) * beta(2, 1) / 8,
    sympy.Function("sigma")(a(1, 1)) * (1 - sympy.Function("sigma")(a(1, 1))),
    1 - sympy.tanh(a(1, 2)) ** 2, entry_symbol("a", (10, 2)) + entry_symbol("k", (1, 1), tag="3"),
])
def test_latex_and_text_round_trip(expr):
    assert sympy.expand(parse_expression(to_latex(expr)) - expr) == 0
    assert sympy.expand(parse_expression(to_text(expr)) - expr) == 0


def test_matrix_to_text_with_headers():
    text = matrix_to_text(sympy.Matrix([[Q, 0]]), row_labels=[entry_symbol("p", (1, 1))],
                          col_labels=[a(1, 1), a(2, 1)])
    assert text.splitlines() == ["       | a_{11}  a_{21}", "-----------------------",
                                 "p_{11} |    1/4       0"]


def test_wide_bmatrix_notes_maxmatrixcols():
    text = matrix_to_latex(sympy.zeros(1, 12))
    assert text.startswith("% amsmath") and "{12}" in text.splitlines()[0]
    assert parse_matrix(text) == sympy.zeros(1, 12)


# ----------------------------------------------------------------------------- names

def test_index_format_rule():
    assert format_indices((1, 1)) == "11"
    assert format_indices((1, 1, 2)) == "112"
    assert format_indices((10, 2)) == "10,2"
    assert entry_symbol("a", (10, 2)).name == "a_{10,2}"


def test_base_names_are_validated():
    assert normalize_base(r"\beta") == "beta"
    for bad in ["ab", "", "1", "d", r"\foo"]:
        with pytest.raises(ValueError):
            normalize_base(bad)
    with pytest.raises(TypeError):
        normalize_base(3)


def test_missing_sympy_gives_a_clear_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "sympy", None)
    with pytest.raises(ImportError, match=r"jacobian_cnn\[symbolic\]"):
        require_sympy()
    with pytest.raises(ImportError, match="pip install"):
        parse_expression("a_{11}")


def test_limits_are_read_from_the_module_when_a_call_starts():
    # the documented way to change a limit: assign the attribute of jacobian_cnn.symbolic.latex
    old_depth, old_chars = latex.MAX_DEPTH, latex.MAX_INPUT_CHARS
    try:
        latex.MAX_DEPTH = 2
        with pytest.raises(LatexSizeError, match="nested more than 2 deep"):
            parse_expression("((((a))))")
        latex.MAX_DEPTH = old_depth
        assert parse_expression("((((a))))") == entry_symbol("a")
        latex.MAX_INPUT_CHARS = 5
        with pytest.raises(LatexSizeError, match="29 characters, over the limit of 5"):
            parse_matrix(r"\begin{bmatrix}1\end{bmatrix}")
    finally:
        latex.MAX_DEPTH, latex.MAX_INPUT_CHARS = old_depth, old_chars
