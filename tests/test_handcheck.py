"""The hand-derivation checker (``jacobian_cnn.handcheck``).

The written matrices are the seeds' own (copied here as literals), or hand-made
mistakes of the kinds the checker must name; every expected diagnosis and value is
worked out by hand in the comments.
"""

import time

import numpy as np
import pytest
from seed_latex import SEED000_EQ3, SEED000_FINAL, SEED000_ROW, SEED000_ZHANG, SEED004_REP2

sympy = pytest.importorskip("sympy")

import jacobian_cnn as jc  # noqa: E402
from jacobian_cnn.handcheck import as_written_matrix, check_derivation  # noqa: E402
from jacobian_cnn.symbolic import Names, SymbolicProblem  # noqa: E402
from jacobian_cnn.symbolic.latex import LatexParseError, derivative_symbol, entry_symbol  # noqa: E402

# Seed 000's final answer dJ/dA^{[l]}, copied verbatim. It is wrong twice: the vec-order
# row was reshaped row by row (the matrix is the transpose of unvec's), and two entries
# carry a stray factor 1/4 (dJ/da21 and dJ/da12 should be (dJ/dp11 + dJ/dp21)/4 and

POOL = jc.AvgPool2D(2, stride=1)
Q = sympy.Rational(1, 4)
# eq. 3 by hand: p_mn averages its 2x2 window; columns a11, a21, a31, a12, a22, a32, a13, ...
EQ3 = [[Q if c == "1" else 0 for c in row]
       for row in ["110110000", "011011000", "000110110", "000011011"]]


def dJ(m, n):
    return derivative_symbol(entry_symbol("J"), entry_symbol("p", (m, n)))


# ----------------------------------------------------------------------------- acceptance

def test_seed000_final_answer_reshape_error_and_stray_quarters():
    report = check_derivation(SEED000_FINAL, POOL, (3, 3))
    assert not report.ok
    assert report.quantity == "gradient"
    assert report.kinds == {"row_major_reshape", "stray_factor"}
    assert [d.label for d in report.diffs] == ["∂J/∂a_{21}", "∂J/∂a_{12}"]
    assert [d.position for d in report.diffs] == [(1, 2), (2, 1)]   # where the seed put them
    first, second = report.diffs
    assert sympy.expand(first.correct - (dJ(1, 1) + dJ(2, 1)) / 4) == 0
    assert sympy.expand(first.written - (dJ(1, 1) / 4 + dJ(2, 1) / 16)) == 0
    assert sympy.expand(second.correct - (dJ(1, 1) + dJ(1, 2)) / 4) == 0
    assert "stray factor 1/4" in first.note
    text = str(report)
    assert "reshaped row-major" in text
    assert "your entry (1, 2) is ∂J/∂a_{21}, where ∂J/∂a_{12} belongs" in text
    assert "stray factor 1/4 on 2 terms" in text
    assert report.n_matching == 7


def test_seed000_eq3_jacobian_is_confirmed():
    report = check_derivation(SEED000_EQ3, POOL, (3, 3))
    assert report.ok and report.quantity == "jacobian"
    assert report.n_entries == report.n_matching == 36
    assert str(report).endswith("Correct: all 36 entries match.")
    assert "matrix 4 of 4" in str(report)


# ----------------------------------------------------------------------------- more seed material

def test_seed000_eq3_labels_are_in_vec_order():
    report = check_derivation(SEED000_EQ3, POOL, (3, 3), which=2)
    assert report.ok and report.quantity == "jacobian_labels"


def test_seed000_row_has_only_the_stray_factors():
    report = check_derivation(SEED000_ROW, POOL, (3, 3))
    assert report.quantity == "gradient_row"
    assert report.kinds == {"stray_factor"}
    assert [(d.label, d.position) for d in report.diffs] == [("∂J/∂a_{21}", (1, 2)),
                                                             ("∂J/∂a_{12}", (1, 4))]


def test_seed000_zhang_overlap_not_summed():
    report = check_derivation(SEED000_ZHANG, POOL, (3, 3))
    assert report.kinds == {"overlap_not_summed", "wrong_entries"}
    # a12, a21, a22, a23, a32 keep one window's term only; a33 has dJ/dp12 for dJ/dp22
    summed = [d.label for d in report.diffs if "missing_terms" in d.kinds]
    assert summed == ["∂J/∂a_{12}", "∂J/∂a_{21}", "∂J/∂a_{22}", "∂J/∂a_{23}", "∂J/∂a_{32}"]
    a33 = [d for d in report.diffs if d.label == "∂J/∂a_{33}"][0]
    assert a33.written == dJ(1, 2) / 4 and a33.correct == dJ(2, 2) / 4
    assert "overlapping windows not summed in 5 entries" in str(report)


def test_seed004_rep2_forward_is_right_and_a_flipped_kernel_is_named():
    report = check_derivation(SEED004_REP2, SEED004_CONV, (3, 4), names=Names(kernel="beta"))
    assert report.ok and report.quantity == "forward"
    # the same result with beta rotated by 180 degrees: beta11 <-> beta22, beta12 <-> beta21
    swap = {"11": "22", "22": "11", "12": "21", "21": "12"}
    flipped = SEED004_REP2
    for old, new in swap.items():
        flipped = flipped.replace(r"\beta_{" + old + "}", r"\beta_{X" + new + "}")
    flipped = flipped.replace(r"\beta_{X", r"\beta_{")
    report = check_derivation(flipped, SEED004_CONV, (3, 4), names=Names(kernel="beta"))
    assert report.kinds == {"kernel_flip"} and not report.diffs
    assert "kernel flipped" in str(report)


SEED004_CONV = jc.Conv2D(np.ones((2, 2)), stride=(1, 2), padding=1)


# ----------------------------------------------------------------------------- mistake kinds

def test_one_wrong_entry_is_labelled_by_meaning():
    written = [row[:] for row in EQ3]
    written[2][1] = Q            # row p12, column a21: a21 is not in p12's window
    report = check_derivation(written, POOL, (3, 3))
    assert report.kinds == {"wrong_entries"}
    assert [str(d) for d in report.diffs] == [
        "∂p_{12}/∂a_{21}: you wrote 1/4, correct is 0  [row 3, column 2]"]


def test_denominator_layout():
    report = check_derivation(np.array(EQ3, dtype=float).T, POOL, (3, 3))
    assert report.kinds == {"denominator_layout"} and not report.diffs
    assert "transposed (9x4)" in str(report)


def test_columns_in_row_major_order():
    # columns a11, a12, a13, a21, ... instead of vec's a11, a21, a31, a12, ...
    columns = [r + 3 * c for r in range(3) for c in range(3)]     # vec index of the C-order list
    written = [[row[j] for j in columns] for row in EQ3]
    report = check_derivation(written, POOL, (3, 3))
    assert report.kinds == {"row_major_order"} and not report.diffs


def test_windows_shifted_by_one_column():
    # By hand: every window one column to the right; p12 and p22 lose their third column.
    shifted = [[0, 0, 0, Q, Q, 0, Q, Q, 0], [0, 0, 0, 0, Q, Q, 0, Q, Q],
               [0, 0, 0, 0, 0, 0, Q, Q, 0], [0, 0, 0, 0, 0, 0, 0, Q, Q]]
    report = check_derivation(shifted, POOL, (3, 3))
    assert report.kinds == {"window_shift"} and not report.diffs
    assert "one column right" in str(report)


def test_kernel_flip_in_the_input_gradient():
    # 3x3 input, 2x2 kernel, stride 1: dJ/da11 = dJ/dz11 k11 (a11 only meets k11 in z11).
    conv = jc.Conv2D(np.ones((2, 2)))
    right = SymbolicProblem(conv, (3, 3)).gradient().matrix()
    z11 = derivative_symbol(entry_symbol("J"), entry_symbol("z", (1, 1)))
    assert right[0, 0] == z11 * entry_symbol("k", (1, 1))
    rotated = right.xreplace({entry_symbol("k", (r, s)): entry_symbol("k", (3 - r, 3 - s))
                              for r in (1, 2) for s in (1, 2)})
    report = check_derivation(rotated, conv, (3, 3))
    assert report.kinds == {"kernel_flip"}
    report = check_derivation(rotated, conv, (3, 3), flip_kernel=True)
    assert report.ok      # for a true convolution the rotated kernel is right


def test_kernel_gradient_seed003_formula():
    # Seed 003: dF/dk_ij = sum_{i',j'} dF/dh_{i'j'} a_{i+i'-1, j+j'-1} (4x4 input, 3x3 kernel).
    rows = []
    for i in (1, 2, 3):
        row = []
        for j in (1, 2, 3):
            row.append(" + ".join(f"∂F/∂h_{{{ip}{jp}}} a_{{{i + ip - 1}{j + jp - 1}}}"
                                  for ip in (1, 2) for jp in (1, 2)))
        rows.append(row)
    names = Names(output="h", loss="F")
    conv = jc.Conv2D(np.ones((3, 3)))
    assert check_derivation(rows, conv, (4, 4), wrt="kernel", names=names).ok
    rows[0][0] = rows[0][0].replace("a_{22}", "a_{23}")
    report = check_derivation(rows, conv, (4, 4), wrt="kernel", names=names)
    assert [d.label for d in report.diffs] == ["∂F/∂k_{11}"]
    assert "missing ∂F/∂h_{22} a_{22}" in report.diffs[0].note


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
