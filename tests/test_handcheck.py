"""The hand-derivation checker (``jacobian_cnn.handcheck``).

The mistakes the checker must name are a table (``handcheck_cases.CASES``: the seeds' own
matrices and hand-made ones, every expected diagnosis worked out by hand), checked by one
generic test; the tests below it are about input forms, errors and speed.
"""

import time

import numpy as np
import pytest

sympy = pytest.importorskip("sympy")

from handcheck_cases import CASES  # noqa: E402

import jacobian_cnn as jc  # noqa: E402
from jacobian_cnn.handcheck import as_written_matrix, check_derivation  # noqa: E402
from jacobian_cnn.symbolic import SymbolicProblem  # noqa: E402
from jacobian_cnn.symbolic.latex import (  # noqa: E402
    LatexParseError,
    LatexSizeError,
    derivative_symbol,
    entry_symbol,
    parse_expression,
)

POOL = jc.AvgPool2D(2, stride=1)
Q = sympy.Rational(1, 4)
# eq. 3 by hand: p_mn averages its 2x2 window; columns a11, a21, a31, a12, a22, a32, a13, ...
EQ3 = [[Q if c == "1" else 0 for c in row]
       for row in ["110110000", "011011000", "000110110", "000011011"]]


def dJ(m, n):
    return derivative_symbol(entry_symbol("J"), entry_symbol("p", (m, n)))


# ----------------------------------------------------------------------------- the mistake catalogue

@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_mistake_catalogue(case):
    report = check_derivation(case.written, case.layer, case.x, **case.options)
    assert report.ok == case.correct
    assert report.detected == tuple(case.detected)
    if case.detected:
        assert report.verdict == "right_under_other_conventions" and not report.diffs
        assert report.n_matching == report.n_entries
    assert report.kinds == set(case.kinds)
    if case.quantity is not None:
        assert report.quantity == case.quantity
    if case.n_diffs is None:
        assert [(d.label, d.position) for d in report.diffs] == list(case.diffs)
    else:
        assert len(report.diffs) == case.n_diffs
    by_label = {d.label: d for d in report.diffs}
    for label, written, correct in case.values:
        assert sympy.expand(by_label[label].written - parse_expression(written)) == 0
        assert sympy.expand(by_label[label].correct - parse_expression(correct)) == 0
    for label, note in case.notes:
        assert note in by_label[label].note
    if case.missing_terms is not None:
        assert [d.label for d in report.diffs if "missing_terms" in d.kinds] == list(case.missing_terms)
    if case.n_matching is not None:
        assert report.n_matching == case.n_matching
    text = str(report)
    for fragment in case.fragments:
        assert fragment in text
    if case.correct:
        assert report.n_matching == report.n_entries
        assert text.endswith(f"Correct: all {report.n_entries} entries match.")


def test_the_catalogue_has_every_mistake_kind():
    # the kinds the checker names (its documentation): each has at least one row
    named = set().union(*(case.kinds for case in CASES))
    assert named == {"row_major_reshape", "row_major_order", "denominator_layout", "transposed",
                     "kernel_flip", "window_shift", "overlap_not_summed", "stray_factor",
                     "wrong_entries", "uniform_factor", "rows_permuted", "wrong_stride",
                     "wrong_padding", "wrt_confused", "bias_not_summed", "tie_rule",
                     "weight_orientation", "flatten_order", "count_include_pad"}


def test_the_catalogue_has_at_least_24_mistakes_across_ops_and_quantities():
    mistakes = [case for case in CASES if not case.correct and not case.detected]
    assert len(mistakes) >= 24  # besides the rows right under another convention
    assert {type(case.layer).__name__ for case in mistakes} >= {
        "AvgPool2D", "MaxPool2D", "Conv2D", "Dense", "Softmax", "ReLU"}
    assert {case.options.get("wrt", "input") for case in mistakes} >= {"input", "kernel", "weight", "bias"}
    assert {case.quantity for case in mistakes} >= {"jacobian", "gradient", "gradient_row", "forward"}


# ----------------------------------------------------------------------------- input forms

def test_input_forms_agree():
    as_lists = [["1/4" if v else "0" for v in row] for row in EQ3]
    for written in (sympy.Matrix(EQ3), np.array(EQ3, dtype=float), as_lists,
                    [[0.25 if v else 0 for v in row] for row in EQ3]):
        assert check_derivation(written, POOL, (3, 3)).ok


def test_plain_names_in_a_sympy_matrix_are_recognised():
    J, p = sympy.Symbol("dJ/dp_11"), sympy.Symbol("a_11")
    W, _ = as_written_matrix(sympy.Matrix([[J / 4, p]]))
    assert W[0, 0] == dJ(1, 1) / 4 and W[0, 1] == entry_symbol("a", (1, 1))


def test_one_dimensional_input_is_a_row():
    row = ["1/4 dJ/dp_11", "1/4 (dJ/dp_11 + dJ/dp_21)", "1/4 dJ/dp_21",
           "1/4 (dJ/dp_11 + dJ/dp_12)", "1/4 (dJ/dp_11 + dJ/dp_21 + dJ/dp_12 + dJ/dp_22)",
           "1/4 (dJ/dp_21 + dJ/dp_22)", "1/4 dJ/dp_12", "1/4 (dJ/dp_12 + dJ/dp_22)", "1/4 dJ/dp_22"]
    report = check_derivation(row, POOL, (3, 3))
    assert report.ok and report.quantity == "gradient_row"
    column = check_derivation([[v] for v in row], POOL, (3, 3))
    assert column.kinds == {"denominator_layout"}


# ----------------------------------------------------------------------------- errors

def test_shape_mismatch_lists_the_expected_shapes():
    with pytest.raises(ValueError, match=r"a 5x5 matrix fits none.*jacobian: 4x9.*forward: 2x2"):
        check_derivation(np.zeros((5, 5)), POOL, (3, 3))


def test_malformed_latex_points_at_the_position():
    with pytest.raises(LatexParseError, match="line 1, column") as info:
        check_derivation(r"\begin{bmatrix} \frac{1}{4} & \oops \end{bmatrix}", POOL, (3, 3))
    assert "unknown macro \\oops" in str(info.value)
    with pytest.raises(LatexParseError, match=r"in entry \(1, 2\)"):
        check_derivation([["1/4", "1/4 +"]], POOL, (3, 3))


def test_bad_arguments():
    with pytest.raises(TypeError):
        check_derivation({"a": 1}, POOL, (3, 3))
    with pytest.raises(TypeError, match="needs x"):
        check_derivation(EQ3, POOL)
    with pytest.raises(ValueError, match="quantity"):
        check_derivation(EQ3, POOL, (3, 3), quantity="hessian")
    with pytest.raises(ValueError, match="different lengths"):
        check_derivation([[1, 2], [3]], POOL, (3, 3))
    with pytest.raises(TypeError, match="bool"):
        check_derivation([[True]], POOL, (3, 3))
    problem = SymbolicProblem(POOL, (3, 3))
    assert check_derivation(EQ3, problem).ok
    with pytest.raises(TypeError):
        check_derivation(EQ3, problem, (3, 3))


def test_a_36x64_conv_jacobian_is_checked_quickly():
    conv = jc.Conv2D(np.ones((3, 3)))
    written = SymbolicProblem(conv, (8, 8)).jacobian().matrix.as_mutable()
    written[5, 7] = entry_symbol("k", (1, 1))
    start = time.perf_counter()
    report = check_derivation(written, conv, (8, 8))
    elapsed = time.perf_counter() - start
    assert report.kinds == {"wrong_entries"} and len(report.diffs) == 1
    assert report.diffs[0].label == "∂z_{61}/∂a_{81}"      # vec row 5 is z_61, vec column 7 a_81
    assert elapsed < 10


# ----------------------------------------------------------------------------- no error hidden

def test_an_entry_over_a_reader_limit_is_a_size_error_naming_the_entry():
    with pytest.raises(LatexSizeError, match=r"in entry \(1, 2\).*200 digits.*MAX_NUMBER_DIGITS") as info:
        check_derivation([["1/4", "7" * 200]], POOL, (3, 3))
    assert isinstance(info.value, jc.SizeLimitError) and isinstance(info.value, LatexParseError)


def test_an_error_building_a_mistaken_variant_is_not_taken_for_a_verdict(monkeypatch):
    # a mistaken variant that fails with anything but the package's refusal is a bug: it
    # propagates instead of silently dropping the window-shift and kernel-flip readings
    def broken(self, **changes):
        raise ValueError("a bug in variant")

    monkeypatch.setattr(SymbolicProblem, "variant", broken)
    with pytest.raises(ValueError, match="a bug in variant"):
        check_derivation(EQ3, POOL, (3, 3))


def test_a_bug_in_a_layers_forward_pass_propagates(monkeypatch):
    def broken(self, x):
        raise TypeError("a bug in forward")

    monkeypatch.setattr(jc.AvgPool2D, "forward", broken)
    with pytest.raises(TypeError, match="a bug in forward"):
        check_derivation(EQ3, jc.AvgPool2D(2, stride=1), (3, 3))


# ----------------------------------------------------------------------------- conventions, names, numbers

def test_conventions_are_validated_and_may_be_a_dict():
    from jacobian_cnn.handcheck import Conventions

    with pytest.raises(ValueError, match="vec_order must be one of 'F', 'C', got 'K'"):
        Conventions(vec_order="K")
    with pytest.raises(ValueError, match=r"unknown convention\(s\) \['order'\]"):
        check_derivation(EQ3, POOL, (3, 3), conventions={"order": "C"})
    assert check_derivation(EQ3, POOL, (3, 3), conventions={"vec_order": "F"}).ok
    with pytest.raises(ValueError, match="contradicts"):
        check_derivation(EQ3, jc.Conv2D(np.ones((2, 2))), (3, 3), flip_kernel=True,
                         convolution="cross")


def test_bold_names_and_other_letters_are_read():
    conv = jc.Conv2D(np.ones((2, 2)))
    # z_11 of a 2x2 kernel on a 2x2 input, by hand, written with a bold kernel W and input x
    text = (r"\begin{bmatrix} \mathbf{x}_{11} \boldsymbol{W}_{11} + \bm{x}_{12} W_{12} + "
            r"x_{21} W_{21} + x_{22} W_{22} \end{bmatrix}")
    report = check_derivation(text, conv, (2, 2))
    assert report.ok and report.renamed == {"W": ("kernel", "k"), "x": ("input", "a")}
    assert "Names: W read as the kernel k (--kernel-name W declares it)" in str(report)


def test_two_letters_for_one_role_are_ambiguous():
    conv = jc.Conv2D(np.ones((2, 2)))
    text = [["a_{11} W_{11} + a_{12} K_{12} + a_{21} W_{21} + a_{22} W_{22}"]]
    with pytest.raises(ValueError, match="uses W and K, and either may be the kernel; say which "
                                         "with --kernel-name"):
        check_derivation(text, conv, (2, 2))


def test_numbers_in_any_notation_within_the_stated_tolerance():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    # the mean of 1, 2, 3, 4 is 2.5, written four ways
    for written in ("2.5", r"\frac{5}{2}", "25e-1", "2.5000"):
        assert check_derivation([[written]], jc.AvgPool2D(2), x).ok
    assert not check_derivation([["2.5001"]], jc.AvgPool2D(2), x).ok
    assert check_derivation([["2.5001"]], jc.AvgPool2D(2), x, tolerance=1e-4).ok
    with pytest.raises(ValueError, match="tolerance must be a finite number >= 0"):
        check_derivation([["2.5"]], jc.AvgPool2D(2), x, tolerance=float("nan"))


def test_numbers_without_the_values_they_need_are_refused():
    with pytest.raises(ValueError, match="holds numbers, but the correct entries still hold names "
                                         r"without values \(a_\{11\}"):
        check_derivation([["2.5"]], jc.AvgPool2D(2), (2, 2))
    with pytest.raises(ValueError, match="grad_values has 2 entries, but the output p has 1"):
        check_derivation([["1"]], jc.AvgPool2D(2), (2, 2), grad_values=[1, 2])


def test_a_uniform_factor_in_rounded_decimals_is_one_summary_line():
    """Hand-rounded decimals (8 digits) of twice sigma'(a): one 'factor 2' line, not one per entry."""
    layer, x = jc.Sigmoid(), np.array([[0.3, -1.2], [0.7, 2.1]])
    s = 1 / (1 + np.exp(-x.ravel(order="F")))
    written = np.diag(2 * s * (1 - s))  # sigma' by hand, doubled
    report = check_derivation([[f"{v:.8f}" for v in row] for row in written], layer, x, quantity="jacobian")
    assert not report.ok
    assert [m.kind for m in report.mistakes] == ["uniform_factor"]
    assert "every nonzero entry is 2 times the correct one" in str(report)
