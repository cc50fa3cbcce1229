"""Symbolic rules of the layers of issue 14: normalizations, LogSoftmax, bilinear upsampling,
adaptive pooling, 1-D / 3-D / transposed window layers and branches.

For each layer, at a tiny size, the symbolic Jacobian (parameters as exact values, the inputs
and the auxiliary symbols mu, sigma, s substituted) must equal the package's numeric
``layer.jacobian(x)`` and central finite differences of the numeric forward pass (an
independent route: it never sees a Jacobian builder); the symbolic forward must equal the
numeric forward. Hand-derived entries check the readable forms.
"""

import numpy as np
import pytest

sympy = pytest.importorskip("sympy")

import jacobian_cnn as jc  # noqa: E402
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError  # noqa: E402
from jacobian_cnn.symbolic import SymbolicProblem, as_rational, symbolic_jacobian  # noqa: E402
from jacobian_cnn.symbolic.hessian import symbolic_hessian_term  # noqa: E402
from jacobian_cnn.symbolic.latex import entry_symbol  # noqa: E402
from jacobian_cnn.symbolic.rules import RULES, SUPPORTED_LAYERS  # noqa: E402

RNG = np.random.default_rng(14)


def _r(*shape):
    return RNG.normal(size=shape)


def _numbers(problem, expressions):
    """Float values of SymPy expressions after substituting the numeric input."""
    x = np.asarray(problem._given_x, dtype=np.float64)
    subs = dict(zip(np.ravel(problem.input_symbols, order="F"), np.ravel(x, order="F"), strict=True))
    t = sympy.Dummy("t")
    sigmoid = sympy.Lambda(t, 1 / (1 + sympy.exp(-t)))  # the Sigmoid rule's sigma(v), made numeric
    flat = [sympy.sympify(problem.expand(sympy.sympify(e))).replace(sympy.Function("sigma"), sigmoid)
            .xreplace(subs) for e in expressions]
    return np.array([complex(sympy.N(e, 30)).real for e in flat])


def _dense(problem, wrt="input"):
    J = problem.jacobian(wrt).matrix
    return _numbers(problem, list(J)).reshape(J.shape)


def _finite_differences(f, x, h=1e-6):
    x = np.asarray(x, dtype=np.float64)
    flat = np.ravel(x, order="F")
    cols = []
    for k in range(flat.size):
        step = np.zeros_like(flat)
        step[k] = h
        plus, minus = (f((flat + s).reshape(x.shape, order="F")) for s in (step, -step))
        cols.append(np.ravel(plus - minus, order="F") / (2 * h))
    return np.stack(cols, axis=1)


def _param_fd(layer, name, x):
    """Finite differences wrt a parameter: a name, a branch's nested ``"body.0.kernel"`` or a
    chain's ``(layer index, name)``."""
    owner, attr = layer, name
    if isinstance(name, tuple):
        owner, attr = layer.layers[name[0]], name[1]
    while "." in attr:  # through nested branches
        path, index, attr = attr.split(".", 2)
        owner = owner.paths[owner.path_names.index(path)].layers[int(index)]
    base = np.array(getattr(owner, attr), dtype=np.float64)

    def f(p):
        setattr(owner, attr, p)
        return layer.forward(x)

    try:
        return _finite_differences(f, base)
    finally:
        setattr(owner, attr, base)


CASES = {
    "bn_train": (lambda: jc.BatchNorm2D(gamma=[1.5, -0.5], beta=[0.2, 0.1]), (2, 2, 2)),
    "bn_eval": (lambda: jc.BatchNorm2D(gamma=[1.5, -0.5], beta=[0.2, 0.1], running_mean=[0.3, -0.1],
                                       running_var=[2.0, 0.5], training=False), (2, 1, 2)),
    "layernorm": (lambda: jc.LayerNorm((2, 2, 1), gamma=_r(2, 2, 1), beta=_r(2, 2, 1), eps=1e-3),
                  (2, 2, 1)),
    "logsoftmax": (lambda: jc.LogSoftmax(), (3,)),
    "bilinear": (lambda: jc.Upsample(size=(3, 4), mode="bilinear"), (2, 2)),
    "bilinear_corners": (lambda: jc.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
                         (2, 2)),
    "adaptive": (lambda: jc.AdaptiveAvgPool2D((2, 2)), (3, 3)),
    "global": (lambda: jc.GlobalAvgPool2D(), (2, 2, 2)),
    "conv1d": (lambda: jc.Conv1D(_r(2, 2, 1), bias=_r(1), padding=1, stride=2), (4, 2)),
    "conv3d": (lambda: jc.Conv3D(_r(2, 1, 2, 1, 2), bias=_r(2)), (2, 2, 2, 1)),
    "convT1d": (lambda: jc.ConvTranspose1D(_r(2, 1, 2), bias=_r(2), stride=2), (2, 1)),
    "convT2d": (lambda: jc.ConvTranspose2D(_r(2, 2, 1, 1), bias=_r(1), stride=2, padding=1,
                                           output_padding=1), (2, 2)),
    "convT3d": (lambda: jc.ConvTranspose3D(_r(2, 1, 2, 1, 1)), (1, 2, 1, 1)),
    "avg1d": (lambda: jc.AvgPool1D(3, stride=2, padding=1, count_include_pad=False), (4, 1)),
    "avg3d": (lambda: jc.AvgPool3D(2, stride=1), (2, 3, 2, 1)),
    "max1d": (lambda: jc.MaxPool1D(2, stride=1), (4, 1)),
    "max3d": (lambda: jc.MaxPool3D((1, 2, 2)), (2, 2, 2, 1)),
    "residual": (lambda: jc.Residual([jc.Conv2D(_r(2, 2, 1, 1), bias=_r(1), padding=1),
                                      jc.Tanh(), jc.AvgPool2D(2, stride=1)]), (2, 2)),
    "residual_shortcut": (lambda: jc.Residual(jc.Dense(_r(3, 2)), shortcut=jc.Dense(_r(3, 2))),
                          (3,)),
    "nested_residual": (lambda: jc.Residual([jc.Residual(jc.Dense(_r(2, 2))), jc.Tanh()],
                                            shortcut=jc.Dense(_r(2, 2), bias=_r(2))), (2,)),
    "add": (lambda: jc.Add(None, jc.Dense(_r(2, 2), bias=_r(2)), [jc.Dense(_r(2, 2)), jc.Sigmoid()]),
            (2,)),
    "concat": (lambda: jc.Concat(None, jc.Conv2D(_r(1, 2, 1, 2), padding=((0, 0), (0, 1)))), (2, 2, 1)),
    "chain_bn": (lambda: jc.Chain([jc.Conv2D(_r(2, 1, 1, 2), padding=((0, 0), (1, 0))),
                                   jc.BatchNorm2D(gamma=[2.0, 1.0], beta=[0.0, 1.0]),
                                   jc.ReLU()]), (2, 2)),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    make, shape = CASES[request.param]
    layer = make()
    x = _r(*shape)
    return request.param, layer, x, SymbolicProblem(layer, x, params="values")


def test_forward_equals_the_numeric_forward(case):
    _, layer, x, problem = case
    y = problem.forward().array
    assert y.shape == np.shape(layer.forward(x))
    np.testing.assert_allclose(_numbers(problem, np.ravel(y, order="F")),
                               np.ravel(layer.forward(x), order="F"), rtol=1e-10, atol=1e-12)


def test_input_jacobian_equals_numeric_and_finite_differences(case):
    _, layer, x, problem = case
    J = _dense(problem)
    numeric = layer.jacobian(x).toarray()
    np.testing.assert_allclose(J, numeric, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(J, _finite_differences(layer.forward, x), rtol=1e-5, atol=1e-6)
    # the same structural nonzeros as the numeric builder (no entry made and left at 0)
    structure = {k for k, v in problem.jacobian().matrix.todok().items() if v != 0}
    assert structure <= set(zip(*layer.jacobian(x).nonzero(), strict=True))


def test_parameter_jacobians(case):
    name, layer, x, problem = case
    if isinstance(layer, jc.Chain):  # columns layer by layer, as Chain.jacobian(x, "params")
        wrts = [(i, p) for i, lay in enumerate(layer.layers) for p in lay.params]
        numeric = layer.jacobian(x, "params").toarray()
    else:
        wrts = list(layer.params)
        numeric = np.hstack([layer.jacobian(x, w).toarray() for w in wrts] or [np.zeros((0, 0))])
    if not wrts:
        return
    J = np.hstack([_dense(problem, w) for w in wrts])
    np.testing.assert_allclose(J, numeric, rtol=1e-10, atol=1e-12)
    fd = np.hstack([_param_fd(layer, w, x) for w in wrts])
    np.testing.assert_allclose(J, fd, rtol=1e-5, atol=1e-6)


def test_every_new_layer_has_a_rule():
    new = (jc.BatchNorm2D, jc.LayerNorm, jc.Upsample, jc.AdaptiveAvgPool2D, jc.GlobalAvgPool2D,
           jc.LogSoftmax, jc.Residual, jc.Add, jc.Concat, jc.Conv1D, jc.Conv3D, jc.ConvTranspose1D,
           jc.ConvTranspose2D, jc.ConvTranspose3D, jc.AvgPool1D, jc.AvgPool3D, jc.MaxPool1D,
           jc.MaxPool3D)
    assert set(new) <= set(RULES) and set(new) <= set(SUPPORTED_LAYERS)


# ----------------------------------------------------------------------- readable forms

def test_batch_norm_classic_entries():
    """gamma / (m sigma) (m delta - 1 - xhat_p xhat_q), written in mu_1, sigma_1 (m = 2)."""
    J = symbolic_jacobian(jc.BatchNorm2D(gamma=[1.0], eps=0.0), (2, 1, 1)).matrix
    g, mu, s = (entry_symbol(n, (1,)) for n in ("gamma", "mu", "sigma"))
    a1, a2 = entry_symbol("a", (1, 1)), entry_symbol("a", (2, 1))
    xh1, xh2 = (a1 - mu) / s, (a2 - mu) / s
    expected = sympy.Matrix([[2 - 1 - xh1 * xh1, -1 - xh1 * xh2], [-1 - xh2 * xh1, 2 - 1 - xh2 * xh2]])
    assert sympy.simplify(J - g / (2 * s) * expected) == sympy.zeros(2, 2)


def test_batch_norm_eval_is_diagonal_in_running_statistics():
    bn = jc.BatchNorm2D(gamma=[3.0], running_mean=[1.0], running_var=[3.0], eps=1.0, training=False)
    problem = SymbolicProblem(bn, (2, 1, 1), params="values")
    s = entry_symbol("sigma", (1,))
    assert problem.jacobian().matrix == sympy.diag(3 / s, 3 / s)
    assert problem.abbreviations() == {entry_symbol("mu", (1,)): 1, s: 2}


def test_log_softmax_is_delta_minus_s():
    s = [entry_symbol("s", (i,)) for i in (1, 2)]
    J = symbolic_jacobian(jc.LogSoftmax(), (2,)).matrix
    assert J == sympy.Matrix([[1 - s[0], -s[1]], [-s[0], 1 - s[1]]])


def test_weights_are_exact_rationals():
    J = symbolic_jacobian(jc.AdaptiveAvgPool2D((1, 2)), (1, 3)).matrix
    third = sympy.Rational(1, 2)
    assert J == sympy.Matrix([[third, third, 0], [0, third, third]])
    J = symbolic_jacobian(jc.Upsample(size=(1, 4), mode="bilinear"), (1, 2)).matrix
    q = sympy.Rational(1, 4)
    assert J == sympy.Matrix([[1, 0], [3 * q, q], [q, 3 * q], [0, 1]])
    J = symbolic_jacobian(jc.Upsample(size=(1, 4), mode="bilinear", align_corners=True), (1, 3)).matrix
    assert J.row(1) == sympy.Matrix([[sympy.Rational(1, 3), sympy.Rational(2, 3), 0]])


def test_conv1d_is_toeplitz_and_transposed_is_its_transpose_pattern():
    k = np.ones((2, 1, 1))
    J = symbolic_jacobian(jc.Conv1D(k), (3, 1)).matrix
    k1, k2 = entry_symbol("k", (1, 1)), entry_symbol("k", (2, 1))
    assert J == sympy.Matrix([[k1, k2, 0], [0, k1, k2]])
    assert symbolic_jacobian(jc.ConvTranspose1D(k), (2, 1)).matrix == J.T


def test_residual_is_shortcut_plus_body():
    W = np.ones((2, 2))
    J = symbolic_jacobian(jc.Residual(jc.Dense(W)), (2,)).matrix
    body = symbolic_jacobian(jc.Residual(jc.Dense(W), shortcut=jc.Dense(W)), (2,)).matrix
    w = [[entry_symbol("w", (i, j), "body.1") for j in (1, 2)] for i in (1, 2)]
    assert J == sympy.Matrix(w).T + sympy.eye(2)
    assert body.has(entry_symbol("w", (1, 1), "shortcut.1"))


class _Double(jc.Layer):
    """A layer of one's own: no symbolic rule."""

    def forward(self, x):
        return 2 * np.asarray(x)


def test_branch_parameter_names_and_errors():
    block = jc.Residual([jc.Conv2D(np.ones((3, 3)), bias=[0.0], padding=1)])
    problem = SymbolicProblem(block, (3, 3))
    assert problem.jacobian("body.0.bias").matrix == sympy.ones(9, 1)
    with pytest.raises(InvalidValueError, match="wrt must be one of"):
        problem.jacobian("body.0.weight")
    with pytest.raises(InvalidTypeError, match="path 'body'.*no symbolic rule"):
        SymbolicProblem(jc.Residual(_Double()), (2,))
    with pytest.raises(InvalidValueError, match="pass a numeric input"):
        SymbolicProblem(jc.MaxPool1D(2), (4, 1))


# ----------------------------------------------------------------------- second order

SECOND_ORDER = {"bn_train": (CASES["bn_train"][0], (2, 1, 2)), "logsoftmax": (jc.LogSoftmax, (3,)),
                "layernorm": (lambda: jc.LayerNorm((3,), gamma=[0.5, 2.0, -1.0], eps=1e-3), (3,))}


@pytest.mark.parametrize("name, wrt", [("bn_train", ("input", "input")), ("bn_train", ("input", "gamma")),
                                       ("layernorm", ("input", "input")),
                                       ("logsoftmax", ("input", "input"))])
def test_second_order_terms_differentiate_the_auxiliary_symbols(name, wrt):
    """``sum_k g_k d2 y_k / da db``: finite differences of the package's ``J(x)^T g``."""
    make, shape = SECOND_ORDER[name]
    layer, x = make(), _r(*shape)
    problem = SymbolicProblem(layer, x)
    T = symbolic_hessian_term(layer, x, wrt=wrt).matrix
    T = T.xreplace({s: as_rational(v) for p, symbols in problem.rules[0].params.items()
                    for s, v in zip(np.ravel(symbols, order="F"), np.ravel(getattr(layer, p), order="F"),
                                    strict=True)})
    g = _r(int(np.prod(problem.output_shape)))
    incoming = dict(zip(np.ravel(problem.incoming(), order="F"), g, strict=True))
    got = _numbers(problem, [v.xreplace(incoming) for v in T]).reshape(T.shape)

    def pulled(p, attr=wrt[1]):
        if attr == "input":
            return layer.jacobian(p).T @ g
        setattr(layer, attr, p)
        return layer.jacobian(x).T @ g

    base = x if wrt[1] == "input" else np.array(getattr(layer, wrt[1]))
    expected = _finite_differences(pulled, base)
    if wrt[1] != "input":
        setattr(layer, wrt[1], base)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_second_order_refuses_auxiliary_symbols_in_a_chain():
    with pytest.raises(InvalidValueError, match="only as a single layer"):
        symbolic_hessian_term(jc.Chain([jc.LogSoftmax(), jc.Tanh()]), (2,))


# ----------------------------------------------------------------------- jacobian-cnn show

def _show(capsys, *argv):
    from jacobian_cnn.cli import main

    code = main(["show", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_show_new_layers_symbolic(capsys):
    code, out, _ = _show(capsys, "conv1d", "--input", "4", "--kernel", "2", "--stride", "2", "--symbolic")
    assert code == 0 and "Conv1D" in out and "(2x4, 4 nonzeros)" in out
    assert out.splitlines()[3].split() == ["z_{11}", "|", "k_{11}", "k_{21}", "0", "0"]
    code, out, _ = _show(capsys, "batchnorm", "--input", "2x1x1", "--eval", "--symbolic")
    assert code == 0 and out.splitlines()[3].split() == ["y_{11}", "|", "γ_{1}/σ_{1}", "0"]
    assert out.splitlines()[-2:] == ["where μ_{1} = 0", "where σ_{1}^2 = 100001/100000"]
    code, out, _ = _show(capsys, "batchnorm", "--input", "2x1x1", "--symbolic", "--latex")
    assert r"% where \mu_{1} = \frac{1}{2} \left(a_{11} + a_{21}\right)" in out.splitlines()
    code, out, _ = _show(capsys, "upsample", "--input", "1x2", "--size", "1x4", "--mode", "bilinear",
                         "--symbolic", "--latex")
    assert code == 0 and r"\frac{3}{4} & \frac{1}{4}" in out
    code, out, _ = _show(capsys, "avgpool3d", "--input", "2x2x2", "--window", "2", "--symbolic")
    assert code == 0 and out.splitlines()[3].split()[2:] == ["1/8"] * 8
    code, out, _ = _show(capsys, "convtranspose1d", "--input", "2", "--kernel", "2", "--wrt", "kernel",
                         "--symbolic")
    assert code == 0 and out.splitlines()[4].split() == ["z_{21}", "|", "a_{21}", "a_{11}"]


def test_show_new_layers_numeric_and_errors(capsys):
    code, out, _ = _show(capsys, "adaptiveavgpool", "--input", "1x3", "--size", "1x2", "--values", "1 2 4")
    assert code == 0 and out.splitlines()[3].split() == ["p_{11}", "|", "0.5", "0.5", "0"]
    for argv, message in [
            (["maxpool1d", "--input", "4", "--window", "2", "--symbolic"], "pass --values"),
            (["conv1d", "--input", "4", "--kernel", "2"], "use --symbolic"),
            (["conv3d", "--input", "4x4", "--kernel", "2", "--symbolic"], "DxHxW or DxHxWxC"),
            (["conv1d", "--input", "4", "--kernel", "2x2", "--symbolic"], "--kernel must be N"),
            (["batchnorm", "--input", "2x2", "--symbolic"], "HxWxC"),
            (["logsoftmax", "--input", "2x2", "--symbolic"], "--input N")]:
        code, _, err = _show(capsys, *argv)
        assert code != 0 and message in err, (argv, err)


def test_size_estimates_bound_the_nonzeros():
    """The estimate checked before any SymPy object is made: exact for the window layers (the
    geometry's count), the dense bound for the others."""
    from jacobian_cnn.symbolic.sizes import jacobian_terms

    for name in ("conv1d", "conv3d", "convT2d", "avg1d", "avg3d", "bn_train", "layernorm", "residual",
                 "concat", "bilinear", "adaptive"):
        make, shape = CASES[name]
        layer, x = make(), _r(*shape)
        for wrt in ["input", *layer.params]:
            terms = jacobian_terms(layer, shape, np.shape(layer.forward(x)), wrt)
            nnz = layer.jacobian(x, wrt).nnz
            assert terms >= nnz and (terms == nnz or not name.startswith(("conv1", "conv3", "avg"))), \
                (name, wrt, terms, nnz)


def test_batch_norm_and_log_softmax_agree_with_torch_autograd():
    """A third route for the two Jacobians written in auxiliary symbols: PyTorch's autograd."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    make, shape = CASES["bn_train"]
    layer, x = make(), _r(*shape)
    # (H, W, C) -> (1, C, W, H): its row-major order is our column-major vec
    t = torch.tensor(x.transpose(2, 1, 0)[None])
    gamma, beta = torch.tensor(np.array(layer.gamma)), torch.tensor(np.array(layer.beta))
    expected = torch.autograd.functional.jacobian(
        lambda v: F.batch_norm(v, None, None, gamma, beta, training=True, eps=layer.eps), t)
    got = _dense(SymbolicProblem(layer, x, params="values"))
    np.testing.assert_allclose(got, expected.reshape(x.size, x.size).numpy(), rtol=1e-9, atol=1e-10)
    z = _r(3)
    expected = torch.autograd.functional.jacobian(lambda v: torch.log_softmax(v, 0), torch.tensor(z))
    np.testing.assert_allclose(_dense(SymbolicProblem(jc.LogSoftmax(), z)), expected.numpy(),
                               rtol=1e-10, atol=1e-12)
