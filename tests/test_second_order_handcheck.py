"""The hand checker's ``quantity="hessian"`` on full Hessians: every block, the cross blocks
included, from the Python API and from ``jacobian-cnn check --quantity hessian --wrt a,b``.

The expected numbers are worked out by hand below, not taken from the package."""

import numpy as np
import pytest

import jacobian_cnn as jc
from jacobian_cnn.cli import main

pytest.importorskip("sympy")

from jacobian_cnn.handcheck import check_derivation  # noqa: E402

# Conv with the 1x2 kernel k = (k1, k2) = (1, -1) on the 1x3 input x = (1, 2, 3), then MSE
# against t = 0: y1 = x1 k1 + x2 k2 = -1, y2 = x2 k1 + x3 k2 = -1, L = (y1^2 + y2^2) / 2,
# so dL/dy = g = (y1, y2) = (-1, -1) and d2L/dy2 = I.
# H = J^T J + sum_m g_m d2 y_m over the variables (x1, x2, x3, k1, k2), with
#   J_x = [[k1, k2, 0], [0, k1, k2]] = [[1, -1, 0], [0, 1, -1]],
#   J_k = [[x1, x2], [x2, x3]]       = [[1, 2], [2, 3]]:
# H_xx = J_x^T J_x = [[1, -1, 0], [-1, 2, -1], [0, -1, 1]]      (y is linear in x)
# H_kk = J_k^T J_k = [[5, 8], [8, 13]]                            (y is linear in k)
# H_xk = J_x^T J_k + T_xk, J_x^T J_k = [[1, 2], [1, 1], [-2, -3]], and T_xk[i, j] = sum of g_m
#   over the products x_i k_j in y_m: (x1 k1), (x2 k2) in y1, (x2 k1), (x3 k2) in y2:
#   T_xk = [[g1, 0], [g2, g1], [0, g2]] = [[-1, 0], [-1, -1], [0, -1]]
#   H_xk = [[0, 2], [0, 0], [-2, -4]]
CONV_MSE = [[1, -1, 0, 0, 2],
            [-1, 2, -1, 0, 0],
            [0, -1, 1, -2, -4],
            [0, 0, -2, 5, 8],
            [2, 0, -4, 8, 13]]


def _conv_mse():
    return jc.Chain([jc.Conv2D(np.array([[1.0, -1.0]])), jc.Flatten(), jc.MSELoss(np.zeros(2))])


X = np.array([[1.0, 2.0, 3.0]])


def test_a_right_full_hessian_with_cross_blocks_is_accepted():
    report = check_derivation(CONV_MSE, _conv_mse(), X, wrt=["input", (0, "kernel")], quantity="hessian")
    assert report.verdict == "correct" and report.n_entries == 25, str(report)
    block = [row[3:] for row in CONV_MSE[:3]]                      # the cross block alone
    assert check_derivation(block, _conv_mse(), X, wrt=("input", (0, "kernel")),
                            quantity="hessian").verdict == "correct"


def test_a_wrong_cross_entry_is_named_by_block_and_place():
    wrong = [list(row) for row in CONV_MSE]
    wrong[0][4] = 1                  # H(x1, k2): J_x^T J_k gives 2, and x1 k2 is in no y_m
    report = check_derivation(wrong, _conv_mse(), X, wrt=["input", (0, "kernel")], quantity="hessian")
    assert report.verdict == "wrong" and len(report.diffs) == 1
    assert str(report.diffs[0]) == ("H(x_1, kernel1_2) in block (input, layer 1 kernel): you wrote 1, "
                                    "correct is 2  [row 1, column 5]")
    assert "H(x_1, kernel1_2)" in str(report)


def test_loss_hessians_need_numbers():
    with pytest.raises(jc.errors.InvalidValueError, match="give x as numbers"):
        check_derivation(CONV_MSE, _conv_mse(), (1, 3), wrt=["input", (0, "kernel")], quantity="hessian")
    with pytest.raises(jc.errors.InvalidValueError, match="does not fit the 5x5 Hessian"):
        check_derivation([[1]], _conv_mse(), X, wrt=["input", (0, "kernel")], quantity="hessian")


# The second-order term of the conv alone over (input, kernel): zero diagonal blocks (the conv
# is linear in each) and the cross blocks T_ak = [[dJ/dz11, 0], [dJ/dz12, dJ/dz11], [0, dJ/dz12]]
# (a_i k_j appears in z_m: a11 k11, a12 k12 in z11; a12 k11, a13 k12 in z12) and its transpose.
G1, G2 = r"\frac{\partial J}{\partial z_{11}}", r"\frac{\partial J}{\partial z_{12}}"
CONV_TERM = [["0", "0", "0", G1, "0"],
             ["0", "0", "0", G2, G1],
             ["0", "0", "0", "0", G2],
             [G1, G2, "0", "0", "0"],
             ["0", G1, G2, "0", "0"]]


def _latex(rows):
    return r"\begin{bmatrix}" + r" \\ ".join(" & ".join(row) for row in rows) + r"\end{bmatrix}"


def test_cli_checks_a_full_symbolic_term_and_names_the_wrong_block(tmp_path, capsys):
    answer = tmp_path / "answer.tex"
    answer.write_text(_latex(CONV_TERM))
    argv = ["check", str(answer), "--op", "conv", "--input", "1x3", "--kernel", "1x2",
            "--quantity", "hessian", "--wrt", "input,kernel"]
    assert main(argv) == 0, capsys.readouterr().out
    wrong = [list(row) for row in CONV_TERM]
    wrong[4][1] = G2                                              # T(k12, a12) is dJ/dz11
    answer.write_text(_latex(wrong))
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "T(k_{12}, a_{12}) in block (k, a): you wrote ∂J/∂z_{12}, correct is ∂J/∂z_{11}" in out
    assert main(argv[:-2] + ["--quantity", "jacobian", "--wrt", "input,kernel"]) == 2
    assert "only for --quantity hessian" in capsys.readouterr().err


def test_cli_full_term_of_a_network_layer(tmp_path, capsys):
    network = tmp_path / "net.json"
    network.write_text('{"layers": [{"op": "conv", "kernel_shape": [1, 2]}]}')
    answer = tmp_path / "answer.tex"
    answer.write_text(_latex(CONV_TERM))
    argv = ["check", str(answer), "--network", str(network), "--input", "1x3", "--quantity", "hessian",
            "--layer", "1", "--wrt"]
    assert main(argv + ["input,kernel"]) == 0, capsys.readouterr().out
    assert main(argv + ["input,weight"]) == 2
    assert "--wrt must list names of input and kernel, got 'weight'" in capsys.readouterr().err
