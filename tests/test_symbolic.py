"""Symbolic Jacobians, forward results and gradients (``jacobian_cnn.symbolic``).

Expected values: the seeds' own matrices (copied as literals), hand-derived
entries, and, for every configuration, the package's numeric Jacobian after
substituting numbers for the symbols (an independent code path: the numeric
layers never see SymPy).
"""

import time

import numpy as np
import pytest
from seed_latex import SEED000_EQ3_VALUES, SEED004_REP2

sympy = pytest.importorskip("sympy")

import jacobian_cnn as jc  # noqa: E402
from jacobian_cnn.cases import ALL_CASES  # noqa: E402
from jacobian_cnn.ops.by_name import GRID_OP_NAMES  # noqa: E402
from jacobian_cnn.symbolic import (  # noqa: E402
    Names,
    SymbolicProblem,
    as_rational,
    entry_names,
    symbolic_forward,
    symbolic_gradient,
    symbolic_jacobian,
)
from jacobian_cnn.symbolic.latex import (  # noqa: E402
    derivative_symbol,
    entry_symbol,
    parse_expression,
    parse_matrix,
)
from jacobian_cnn.symbolic.rules import RULES  # noqa: E402

# Seed 000's question, answered by the chain rule by hand: dJ/da_ij = sum over the windows
# containing a_ij of (1/4) dJ/dp_mn (e.g. a12 is in p11 and p12, a22 in all four).
SEED000_ANSWER = [
    ["1/4 dJ/dp_11", "1/4 (dJ/dp_11 + dJ/dp_12)", "1/4 dJ/dp_12"],
    ["1/4 (dJ/dp_11 + dJ/dp_21)", "1/4 (dJ/dp_11 + dJ/dp_21 + dJ/dp_12 + dJ/dp_22)",
     "1/4 (dJ/dp_12 + dJ/dp_22)"],
    ["1/4 dJ/dp_21", "1/4 (dJ/dp_21 + dJ/dp_22)", "1/4 dJ/dp_22"],
]

SEED004_CONV = jc.Conv2D(np.ones((2, 2)), stride=(1, 2), padding=1)
BETA = Names(kernel="beta")


def _same(M, N):
    return sympy.expand(sympy.Matrix(M) - sympy.Matrix(N)) == sympy.zeros(*sympy.Matrix(M).shape)


# ----------------------------------------------------------------------------- seed 000

def test_seed000_eq3_is_the_average_pool_jacobian():
    J = symbolic_jacobian(jc.AvgPool2D(2, stride=1), (3, 3))
    assert J.matrix == parse_matrix(SEED000_EQ3_VALUES)
    assert all(v == sympy.Rational(1, 4) and v.is_Rational for v in J.matrix.todok().values())
    assert [s.name for s in J.output_symbols] == ["p_{11}", "p_{21}", "p_{12}", "p_{22}"]
    assert [s.name for s in J.wrt_symbols][:4] == ["a_{11}", "a_{21}", "a_{31}", "a_{12}"]
    assert J.nnz == 16


def test_seed000_answer_derived():
    g = symbolic_gradient(jc.AvgPool2D(2, stride=1), (3, 3))
    expected = [[parse_expression(t) for t in row] for row in SEED000_ANSWER]
    assert _same(g.matrix(), expected)
    # the row is the same entries in vec order (column by column)
    assert _same(g.row, [[expected[i][j] for j in range(3) for i in range(3)]])
    assert "1/4 (∂J/∂p_{11} + ∂J/∂p_{21} + ∂J/∂p_{12} + ∂J/∂p_{22})" in g.to_text()
    latex = g.to_latex()
    assert parse_matrix(latex) == g.matrix()
    assert parse_matrix(g.to_latex(form="row")) == g.row


def test_jacobian_latex_with_headers_labels_vec_order():
    J = symbolic_jacobian(jc.AvgPool2D(2, stride=1), (3, 3))
    text = J.to_latex(headers=True)
    header = text.splitlines()[1]
    assert header.index(r"\partial a_{21}") < header.index(r"\partial a_{31}") < header.index(
        r"\partial a_{12}")
    assert text.splitlines()[3].startswith(r"\partial p_{11} & \frac{1}{4}")
    assert parse_matrix(text) == parse_matrix(SEED000_EQ3_VALUES)
    assert J.labels()[2, 3] == derivative_symbol(entry_symbol("p", (1, 2)), entry_symbol("a", (1, 2)))


# ----------------------------------------------------------------------------- seed 004

def test_seed004_rep2_forward():
    z = symbolic_forward(SEED004_CONV, (3, 4), names=BETA)
    assert _same(z.matrix(), parse_matrix(SEED004_REP2))


def test_seed004_appendix_a_entries():
    JA = symbolic_jacobian(SEED004_CONV, (3, 4), names=BETA)
    z32, a23 = JA.output_symbols.index(entry_symbol("z", (3, 2))), JA.wrt_symbols.index(
        entry_symbol("a", (2, 3)))
    assert JA.matrix[z32, a23] == entry_symbol("beta", (1, 2))            # eq. a2-2
    assert JA.matrix[0, 0] == entry_symbol("beta", (2, 2))                # z11 = a11 beta22
    JK = symbolic_jacobian(SEED004_CONV, (3, 4), wrt="kernel", names=BETA)
    b21 = JK.wrt_symbols.index(entry_symbol("beta", (2, 1)))
    assert JK.matrix[z32, b21] == entry_symbol("a", (3, 2))               # eq. a1-2
    assert JK.shape == (12, 4) and JA.shape == (12, 12)


# ----------------------------------------------------------------------------- max pooling

def test_seed003_max_unpooling_from_declared_winners():
    # Seed 003: winners a21, a14 (top windows), a31, a43 (bottom windows).
    g = symbolic_gradient(jc.MaxPool2D(2), (4, 4), winners=[[(2, 1), (1, 4)], [(3, 1), (4, 3)]])
    p = {(m, n): derivative_symbol(entry_symbol("J"), entry_symbol("p", (m, n)))
         for m in (1, 2) for n in (1, 2)}
    expected = sympy.zeros(4, 4)
    expected[1, 0], expected[0, 3], expected[2, 0], expected[3, 2] = p[1, 1], p[1, 2], p[2, 1], p[2, 2]
    assert g.matrix() == expected


def test_max_pool_switches_of_a_numeric_input():
    x = np.array([[1., 5., 2.], [4., 3., 0.], [9., 1., 1.]])
    J = symbolic_jacobian(jc.MaxPool2D(2, stride=1), x)
    # windows: p11 {1,4,5,3} -> a12=5; p21 {4,9,3,1} -> a31=9; p12 {5,3,2,0} -> a12; p22 {3,1,0,1} -> a22
    winners = [J.wrt_symbols[j].name for (i, j) in sorted(J.matrix.todok())]
    assert winners == ["a_{12}", "a_{31}", "a_{12}", "a_{22}"]
    assert set(J.matrix.todok().values()) == {1}
    y = symbolic_forward(jc.MaxPool2D(2, stride=1), x).matrix()
    assert y == sympy.Matrix([[entry_symbol("a", (1, 2)), entry_symbol("a", (1, 2))],
                              [entry_symbol("a", (3, 1)), entry_symbol("a", (2, 2))]])


def test_max_pool_needs_values_and_checks_winners():
    with pytest.raises(ValueError, match="numeric input"):
        symbolic_jacobian(jc.MaxPool2D(2), (4, 4))
    with pytest.raises(ValueError, match="not in that window"):
        symbolic_jacobian(jc.MaxPool2D(2), (4, 4), winners=[[(3, 3), (1, 4)], [(3, 1), (4, 3)]])
    with pytest.raises(ValueError, match="pair per output"):
        symbolic_jacobian(jc.MaxPool2D(2), (4, 4), winners=[[1, 2, 3], [3, 4, 5]])
    with pytest.raises(ValueError, match="one per window"):
        symbolic_jacobian(jc.MaxPool2D(2), (4, 4), winners=[[1, 2], [3, 4]])


# ----------------------------------------------------------------------------- dense, chain

def test_dense_jacobians_are_kronecker_patterns():
    layer = jc.Dense(np.ones((3, 2)), bias=np.zeros(2))
    JW = symbolic_jacobian(layer, (3,), wrt="weight")
    a1, a2, a3 = (entry_symbol("a", (i,)) for i in (1, 2, 3))
    # dz/dvec(W) = I_2 kron x^T (seed 004 section 3.1.1), hand-written
    assert JW.matrix == sympy.Matrix([[a1, a2, a3, 0, 0, 0], [0, 0, 0, a1, a2, a3]])
    JX = symbolic_jacobian(layer, (3,))
    assert JX.matrix[1, 2] == entry_symbol("w", (3, 2))                  # dz_2/da_3 = w_32
    z = symbolic_forward(layer, (3,)).array
    assert sympy.expand(z[0] - (entry_symbol("w", (1, 1)) * a1 + entry_symbol("w", (2, 1)) * a2
                               + entry_symbol("w", (3, 1)) * a3 + entry_symbol("b", (1,)))) == 0


def test_chain_conv_then_average_pool_by_hand():
    # 3x3 input, 2x2 kernel (2x2 output), then one 2x2 average: p = 1/4 sum_pq z_pq.
    net = jc.Chain([jc.Conv2D(np.ones((2, 2))), jc.AvgPool2D(2)])
    J = symbolic_jacobian(net, (3, 3))
    k = {(r, s): entry_symbol("k", (r, s)) for r in (1, 2) for s in (1, 2)}
    assert J.shape == (1, 9)
    assert J.matrix[0, 0] == k[1, 1] / 4                                  # a11 only meets k11
    assert sympy.expand(J.matrix[0, 4] - sum(k.values()) / 4) == 0        # a22 meets every tap
    assert sympy.expand(J.matrix[0, 1] - (k[1, 1] + k[2, 1]) / 4) == 0    # a21: k21 (z11), k11 (z21)


def test_chain_tags_shared_parameter_letters():
    net = jc.Chain([jc.Conv2D(np.ones((2, 2))), jc.Conv2D(np.ones((2, 2)))])
    J = symbolic_jacobian(net, (3, 3))
    names = {s.name for s in J.matrix[0, 0].free_symbols}
    assert names == {"k^{[1]}_{11}", "k^{[2]}_{11}"}
    with pytest.raises(ValueError, match="wrt"):
        symbolic_jacobian(net, (3, 3), wrt="kernel")


# ----------------------------------------------------------------------------- against numbers

def _one_sample(case):
    """Symbolic matrices take one sample: a map (H, W[, C]) or a vector (n,)."""
    return len(case.x_shape) < (2 if case.op in ("dense", "softmax") else 4)


# Layers whose rules tests/test_symbolic_new_layers.py checks at smaller sizes (SymPy is slow on
# the table's normalization and N-D cases).
SEPARATE = ("batchnorm", "layernorm", "logsoftmax", *GRID_OP_NAMES)

# Every case of the package's table that the symbolic module expresses: one float64 sample of
# a supported layer (softmax's entries are written in its outputs s_i, checked by name above;
# of the layers of imported models, those with a symbolic rule).
SYMBOLIC_CASES = [pytest.param(case.layer(), case.x(), id=case.id) for case in ALL_CASES
                  if case.op not in ("mse", "xent", "softmax", *SEPARATE) and case.x_kind != "float32"
                  and _one_sample(case) and type(case.layer()) in RULES]
CHAIN = jc.Chain([jc.Conv2D(np.random.default_rng(5).normal(size=(2, 2))), jc.ReLU(),
                  jc.AvgPool2D(2, stride=1), jc.Flatten(),
                  jc.Dense(np.random.default_rng(6).normal(size=(4, 2)))])


def _numbers(problem, layer, x):
    values = dict(zip(np.asarray(problem.input_symbols).ravel(), np.asarray(x).ravel(), strict=True))
    layers = layer.layers if isinstance(layer, jc.Chain) else [layer]
    for lay, rule in zip(layers, problem.rules, strict=True):
        for name, symbols in rule.params.items():
            values.update(zip(symbols.ravel(), getattr(lay, name).ravel(), strict=True))
    return values


def _evaluate(expr_matrix, values, problem):
    """Numbers for the symbols (and the logistic function for sigma), nonzeros only; the
    auxiliary symbols (batch norm's mu and sigma) replaced by what they stand for first."""
    sigma = sympy.Function("sigma")
    values = {k: sympy.Float(v) for k, v in values.items()}
    M = sympy.SparseMatrix(sympy.Matrix(expr_matrix))
    out = np.zeros(M.shape)
    for (i, j), v in M.todok().items():
        v = problem.expand(v).replace(sigma, lambda u: 1 / (1 + sympy.exp(-u)))
        out[i, j] = float(v.xreplace(values))
    return out


@pytest.mark.parametrize("layer, x", [*SYMBOLIC_CASES, pytest.param(
    CHAIN, np.random.default_rng(0).normal(size=(4, 4)), id="chain")])
def test_symbolic_entries_evaluate_to_the_numeric_jacobian(layer, x):
    """Each case's own input (drawn from its seed, whatever ran before)."""
    problem = SymbolicProblem(layer, x)
    values = _numbers(problem, layer, x)
    wrts = ["input"] + ([] if isinstance(layer, jc.Chain) else list(layer.params))
    for wrt in wrts:
        J = problem.jacobian(wrt)
        numeric = (layer.jacobian(x) if isinstance(layer, jc.Chain) else
                   layer.jacobian(x, wrt=wrt)).toarray()
        np.testing.assert_allclose(_evaluate(J.matrix, values, problem), numeric, atol=1e-12)
    y = _evaluate(problem.forward().array.reshape(-1, 1, order="F"), values, problem)
    np.testing.assert_allclose(y.ravel(), jc.vec(layer.forward(x)), atol=1e-12)


def test_params_as_values_are_exact_rationals():
    conv = jc.Conv2D(np.array([[0.25, 0.5], [1.0, -0.75]]))
    J = symbolic_jacobian(conv, (2, 2), params="values")
    assert J.matrix.tolist() == [[sympy.Rational(1, 4), sympy.Rational(1), sympy.Rational(1, 2),
                                  sympy.Rational(-3, 4)]]
    assert as_rational(0.1) == sympy.Rational(1, 10) and as_rational(1 / 3) == sympy.Rational(1, 3)


# ----------------------------------------------------------------------------- naming

def test_channel_and_large_index_names():
    J = symbolic_jacobian(jc.Conv2D(np.ones((1, 1, 2, 1))), (1, 1, 2))
    assert [s.name for s in J.wrt_symbols] == ["a_{112}", "a_{111}"][::-1]
    assert J.matrix.tolist() == [[entry_symbol("k", (1, 1, 1)), entry_symbol("k", (1, 1, 2))]]
    # the separator is per symbol: only a symbol with an index above 9 needs commas
    assert entry_names("a", (10, 2))[9] == "a_{10,1}"
    assert entry_names("a", (10, 2))[10] == "a_{12}"
    y = symbolic_forward(jc.AvgPool2D(1), (10, 2)).array
    assert y[9, 1] == entry_symbol("a", (10, 2))


def test_custom_names():
    g = symbolic_gradient(jc.AvgPool2D(2), (2, 2), names=Names(input="x", output="q", loss="L"))
    assert g.array[0, 0] == derivative_symbol(entry_symbol("L"), entry_symbol("q", (1, 1))) / 4
    with pytest.raises(ValueError, match="both use the letter"):
        SymbolicProblem(jc.AvgPool2D(2), (2, 2), names=Names(output="a"))
    with pytest.raises(ValueError):
        Names(kernel="kk")


def test_bad_arguments():
    with pytest.raises(TypeError, match="no symbolic rule"):
        SymbolicProblem(jc.MSELoss(np.zeros(4)), (4,))
    with pytest.raises(ValueError, match="wrt"):
        symbolic_jacobian(jc.AvgPool2D(2), (2, 2), wrt="kernel")
    with pytest.raises(ValueError, match="params"):
        SymbolicProblem(jc.AvgPool2D(2), (2, 2), params="numbers")
    with pytest.raises(ValueError, match="ReLU"):
        symbolic_jacobian(jc.ReLU(), (2, 2))
    with pytest.raises(ValueError, match="teaching sizes"):
        symbolic_jacobian(jc.AvgPool2D(2), (200, 200))
    with pytest.raises(ValueError, match="one sample"):
        symbolic_jacobian(jc.AvgPool2D(2), (2, 2, 1, 3))
    with pytest.raises(ValueError, match="channels"):
        symbolic_jacobian(jc.Conv2D(np.ones((2, 2))), (3, 3, 2))


def test_36x64_conv_jacobian_renders_well_under_a_second():
    conv = jc.Conv2D(np.ones((3, 3)))
    start = time.perf_counter()
    J = symbolic_jacobian(conv, (8, 8))
    latex = J.to_latex(headers=True)
    text = J.to_text()
    elapsed = time.perf_counter() - start
    assert J.shape == (36, 64) and J.nnz == 36 * 9
    assert latex.count("\\\\") == 36 and len(text.splitlines()) == 38  # header + 35 row ends
    assert elapsed < 1.0, f"took {elapsed:.2f} s"


def test_results_render_as_latex_in_jupyter():
    pool = jc.AvgPool2D(2, stride=1)
    J = symbolic_jacobian(pool, (3, 3))
    shown = J._repr_latex_()
    assert shown.startswith("$\\text{d vec(p) / d vec(a) of AvgPool2D") and shown.endswith("$")
    assert J.to_latex() in shown and r"\frac{1}{4}" in shown
    forward = symbolic_forward(pool, (3, 3))._repr_latex_()
    assert r"a_{11} + a_{21} + a_{12} + a_{22}" in forward
    assert symbolic_gradient(pool, (3, 3))._repr_latex_().startswith("$\\text{")
