"""Symbolic second-order terms, ``show --what hessian`` and the hand checker's
``quantity="hessian"``, against the numeric terms."""

import numpy as np
import pytest

import jacobian_cnn as jc
from jacobian_cnn.cli import main
from jacobian_cnn.second_order import hessian_term

sympy = pytest.importorskip("sympy")

from jacobian_cnn.handcheck import check_derivation  # noqa: E402
from jacobian_cnn.symbolic.hessian import symbolic_hessian_term  # noqa: E402
from jacobian_cnn.symbolic.jacobians import SymbolicProblem  # noqa: E402
from jacobian_cnn.symbolic.latex import parse_matrix  # noqa: E402


def _numeric(layer, x, g, wrt):
    """The symbolic term with every name given its number (sigma as the logistic function)."""
    T = symbolic_hessian_term(layer, x.shape, wrt=wrt)
    problem = SymbolicProblem(layer, x.shape)
    values = dict(zip(problem.input_symbols.ravel(order="F"), x.ravel(order="F"), strict=True))
    values.update(zip(problem.incoming().ravel(order="F"), g, strict=True))
    for name, p in layer.params.items():
        values.update(zip(problem.wrt_symbols(name).ravel(order="F"), p.ravel(order="F"), strict=True))
    if isinstance(layer, jc.Softmax):
        values.update(zip(problem.rules[0].s, jc.Softmax().forward(x), strict=True))
    sigma = sympy.Function("sigma")
    M = T.matrix.xreplace(values).replace(sigma, lambda t: 1 / (1 + sympy.exp(-t)))
    return np.array(M.evalf(), dtype=float)


LAYERS = [
    (lambda r: jc.Conv2D(r.normal(size=(2, 2)), padding=1, stride=(1, 2)), (3, 4), ("input", "kernel")),
    (lambda r: jc.Conv2D(r.normal(size=(2, 2)), padding=1, stride=(1, 2)), (3, 4), ("kernel", "input")),
    (lambda r: jc.Conv2D(r.normal(size=(2, 2))), (3, 3), ("input", "input")),
    (lambda r: jc.Dense(r.normal(size=(3, 2))), (3,), ("input", "weight")),
    (lambda r: jc.Sigmoid(), (2, 2), ("input", "input")),
    (lambda r: jc.Tanh(), (3,), ("input", "input")),
    (lambda r: jc.Softmax(), (3,), ("input", "input")),
]


@pytest.mark.parametrize("make, shape, wrt", LAYERS)
def test_symbolic_term_equals_numeric_term(make, shape, wrt):
    rng = np.random.default_rng(3)
    layer = make(rng)
    x = rng.normal(size=shape)
    g = rng.normal(size=np.size(layer.forward(x)))
    expected = hessian_term(layer, x, g, wrt=wrt).toarray()
    np.testing.assert_allclose(_numeric(layer, x, g, wrt), expected, rtol=1e-12, atol=1e-14)


def test_symbolic_term_of_a_chain_has_the_bilinear_and_curvature_parts():
    chain = jc.Chain([jc.Dense(np.ones((2, 2))), jc.Tanh()])
    T = symbolic_hessian_term(chain, (2,))
    a1 = sympy.Symbol("a_{1}")
    assert T.shape == (2, 2)
    assert T.matrix[0, 1] == T.matrix[1, 0] and T.matrix[0, 0].has(sympy.tanh)
    assert sympy.diff(T.matrix[0, 0], a1) != 0


def test_show_hessian_symbolic_latex(capsys):
    code = main(["show", "conv", "--input", "1x3", "--kernel", "1x2", "--what", "hessian",
                 "--wrt", "input", "--wrt2", "kernel", "--symbolic", "--latex"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("% sum_k dJ/dz_k d2 vec(z)_k / d vec(a) d vec(k)^T of Conv2D(1x2")
    g11, g12 = (sympy.Symbol(f"∂J/∂z_{{1{j}}}") for j in (1, 2))
    assert parse_matrix(out) == sympy.Matrix([[g11, 0], [g12, g11], [0, g12]])


def test_show_hessian_numeric(capsys):
    code = main(["show", "tanh", "--input", "2", "--values", "0.5 -1", "--what", "hessian",
                 "--grad-values", "1 2"])
    out = capsys.readouterr().out.splitlines()
    t = np.tanh(0.5)
    assert code == 0 and "(2x2)" in out[0]
    assert f"{-2 * t * (1 - t * t):.6g}" in out[3]


@pytest.mark.parametrize("argv, message", [
    (["--what", "gradient", "--wrt2", "input"], "--wrt2 is only for --what hessian"),
    (["--what", "hessian", "--wrt2", "weight"], "--wrt2 must be input or one of"),
    (["--what", "hessian"], "numeric --what hessian needs --grad-values"),
])
def test_show_hessian_refusals(capsys, argv, message):
    code = main(["show", "conv", "--input", "1x3", "--kernel", "1x2", "--kernel-values", "1 1",
                 "--values", "1 2 3", *argv])
    assert code != 0 and message in capsys.readouterr().err


WRITTEN = r"""\begin{bmatrix}
\frac{\partial J}{\partial z_{11}} & 0 \\
\frac{\partial J}{\partial z_{12}} & \frac{\partial J}{\partial z_{11}} \\
0 & \frac{\partial J}{\partial z_{12}}
\end{bmatrix}"""


def test_handcheck_accepts_a_right_hessian_and_names_a_wrong_entry():
    conv = jc.Conv2D(np.ones((1, 2)))
    report = check_derivation(WRITTEN, conv, (1, 3), wrt=("input", "kernel"), quantity="hessian")
    assert report.verdict == "correct" and report.n_entries == 6
    wrong = WRITTEN.replace(r"0 & \frac{\partial J}{\partial z_{12}}",
                            r"0 & \frac{\partial J}{\partial z_{11}}")
    report = check_derivation(wrong, conv, (1, 3), wrt=("input", "kernel"), quantity="hessian")
    assert report.verdict == "wrong" and len(report.diffs) == 1
    assert str(report.diffs[0]).startswith("T(a_{13}, k_{12}): you wrote ∂J/∂z_{11}, correct is ∂J/∂z_{12}")


def test_handcheck_numeric_hessian():
    x = np.array([0.5, -1.0])
    t = np.tanh(x)
    values = 2 * np.array([1.0, 2.0]) * -t * (1 - t ** 2)
    written = [[f"{values[0]:.10f}", "0"], ["0", f"{values[1]:.10f}"]]
    report = check_derivation(written, jc.Tanh(), x, quantity="hessian", grad_values=[1.0, 2.0])
    assert report.verdict == "correct", str(report)
    written[1][1] = "0.5"
    assert check_derivation(written, jc.Tanh(), x, quantity="hessian",
                            grad_values=[1.0, 2.0]).verdict == "wrong"


def test_handcheck_hessian_refusals():
    with pytest.raises(jc.errors.InvalidValueError, match="quantity must be 'auto' or one of"):
        check_derivation([["1"]], jc.Tanh(), (2,), quantity="hessians")
    with pytest.raises(jc.errors.InvalidValueError, match="does not fit"):
        check_derivation([["1"]], jc.Tanh(), (2,), quantity="hessian")
    with pytest.raises(jc.errors.InvalidValueError, match="conventions"):
        check_derivation([["1", "0"], ["0", "1"]], jc.Tanh(), (2,), quantity="hessian", index_base=0)
