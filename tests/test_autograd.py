"""jacobian_cnn.compare.jacobians: every case, chains and parameters against torch.func and jax.jacrev.

Locally a missing torch or JAX skips these tests; in CI (env var CI set) it fails them.
"""

import importlib
import subprocess
import sys

import numpy as np
import pytest
from cases import ALL_CASES, OPS

import jacobian_cnn as jc
from jacobian_cnn import examples
from jacobian_cnn.compare import jacobians


def _differs_by_tie_rule(case):
    """Max pooling with the column-major tie rule on random ties: torch and JAX differ.

    (On all-zero input both rules pick each window's top-left entry and agree.)
    """
    return (case.op == "maxpool" and case.x_kind == "ties"
            and case.options.get("tie", "column_major") == "column_major")


ALL = [pytest.param(case, wrt, id=f"{case.id}-{wrt}") for case in ALL_CASES
       for wrt in OPS[case.op].wrts if wrt == "input" or wrt in case.params()]
AGREE = [p for p in ALL if not _differs_by_tie_rule(p.values[0])]


def _layer_and_x(case):
    return OPS[case.op].make(case.params(), case.options), case.x()


@pytest.mark.parametrize("case, wrt", AGREE)
def test_every_case_agrees_with_torch(case, wrt, torch_ref):
    layer, x = _layer_and_x(case)
    result = jacobians.compare(layer, x, wrt, backend="torch")
    assert result.ok, str(result)
    assert result.forward_error < (1e-5 if case.x_kind == "float32" else 1e-12)
    assert result.shape == layer.jacobian(x, wrt=wrt).shape


@pytest.mark.parametrize("case, wrt", [p for p in AGREE if p.values[0].torch])
def test_user_facing_reference_equals_the_test_reference(case, wrt, torch_ref):
    """Two independent torch translations (compare/torch_layers.py and tests/torch_reference.py) agree."""
    layer, x = _layer_and_x(case)
    x64 = np.asarray(x, np.float64)
    expected = OPS[case.op].torch(torch_ref, x64, case.params(), case.options)[wrt]
    np.testing.assert_allclose(jacobians.jacobian(layer, x64, wrt, backend="torch"), expected,
                               rtol=1e-12, atol=1e-12)


JAX_CASES = [p for p in AGREE if p.values[0].jax]  # the table's `jax` field


@pytest.mark.parametrize("case, wrt", JAX_CASES)
def test_cases_agree_with_jax(case, wrt, jax_module):
    layer, x = _layer_and_x(case)
    result = jacobians.compare(layer, x, wrt, backend="jax")
    assert result.ok, str(result)


@pytest.mark.parametrize("case", [p.values[0] for p in ALL if _differs_by_tie_rule(p.values[0])],
                         ids=lambda c: c.id)
def test_column_major_ties_differ_from_torch_and_the_report_says_why(case, torch_ref):
    layer, x = _layer_and_x(case)
    result = jacobians.compare(layer, x, backend="torch")
    assert not result.ok and result.report.structural_mismatches > 0
    assert "tie='row_major'" in result.note
    label, got, want = result.report.worst[0]
    assert label.startswith("d y[") and " / d x[" in label and {got, want} == {0.0, 1.0}
    # the same layer with PyTorch's tie rule agrees exactly
    row_major = jc.MaxPool2D(layer.window, stride=layer.stride, padding=layer.padding,
                             dilation=layer.dilation, tie="row_major")
    assert jacobians.compare(row_major, x, backend="torch").ok


def _parity_chain(rng, n=2):
    """Every new hyperparameter in one network: groups, reflect padding, ceil mode, ties rule."""
    return jc.Chain([
        jc.Conv2D(rng.normal(0, 0.5, (3, 3, 1, 4)), rng.normal(0, 0.1, 4), groups=2, padding=1,
                  padding_mode="reflect"),
        jc.Tanh(),
        jc.AvgPool2D(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        jc.Conv2D(rng.normal(0, 0.5, (2, 2, 4, 3)), padding="same", padding_mode="circular"),
        jc.ReLU(),
        jc.MaxPool2D(2, ceil_mode=True, tie="row_major"),
        jc.Flatten("torch"),
        jc.Dense(rng.normal(0, 0.5, (12, 5)), rng.normal(0, 0.1, 5)),
        jc.Sigmoid(),
        jc.MSELoss(rng.normal(size=(5, n))),
    ])


def _chain_wrts(net):
    return ["input"] + [(i, name) for i, layer in enumerate(net.layers) for name in layer.params]


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_end_to_end_chains_and_their_parameters(backend, request):
    request.getfixturevalue("torch_ref" if backend == "torch" else "jax_module")
    rng = np.random.default_rng(0)
    seed = examples.seed_cnn(rng, size=8, channels=(2, 3, 2))
    seed = jc.Chain([*seed.layers, jc.SoftmaxCrossEntropy(np.array([0, 3]))])
    parity = _parity_chain(rng)
    for net, x in [(parity, rng.normal(size=(7, 6, 2, 2))), (seed, rng.normal(size=(8, 8, 2, 2)))]:
        if backend == "jax" and net is seed:  # each JAX comparison compiles (~1 s): input only
            results = [jacobians.compare(net, x, backend=backend)]
        else:
            results = jacobians.compare_all(net, x, backends=[backend])
            assert [r.wrt for r in results] == [w if w == "input" else f"layers[{w[0]}].{w[1]}"
                                                for w in _chain_wrts(net)]
        for result in results:
            assert result.ok, str(result)


def test_a_chain_without_a_loss_compares_its_full_jacobian(torch_ref):
    rng = np.random.default_rng(1)
    net = jc.Chain([jc.Conv2D(rng.normal(size=(2, 2, 1, 2)), padding=((1, 0), (0, 1))),
                    jc.MaxPool2D(2, stride=1, pad_value=0.0), jc.Flatten("C"), jc.Softmax()])
    x = rng.normal(size=(4, 4, 1, 3))
    result = jacobians.compare(net, x, backend="torch")
    assert result.ok and result.shape == (net.forward(x).size, x.size), str(result)
    kernel = jacobians.compare(net, x, (0, "kernel"), backend="torch")
    assert kernel.ok and kernel.wrt == "layers[0].kernel", str(kernel)


def test_float32_layers_are_compared_with_float32_tolerances(torch_ref):
    x = np.random.default_rng(2).normal(size=(5, 5, 2)).astype(np.float32)
    conv = jc.Conv2D(np.random.default_rng(3).normal(size=(3, 3, 1, 4)), groups=2, padding=1)
    result = jacobians.compare(conv, x, backend="torch")     # float32 kernel values vs float64
    assert result.ok and 0 < result.report.max_abs_error < 1e-6, str(result)


def test_jax_has_no_derivative_of_dilated_max_pooling(jax_module):
    pool = jc.MaxPool2D(2, dilation=2)
    with pytest.raises(NotImplementedError, match="window dilation"):
        jacobians.compare(pool, np.zeros((5, 5)), backend="jax")


def test_bad_arguments_name_the_problem(torch_ref):
    conv = jc.Conv2D(np.ones((2, 2)))
    with pytest.raises(ValueError, match="backend must be one of"):
        jacobians.compare(conv, np.zeros((3, 3)), backend="tensorflow")
    with pytest.raises(ValueError, match="not 'weight'"):
        jacobians.compare(conv, np.zeros((3, 3)), "weight")
    with pytest.raises(ValueError, match=r"\(layer_index, name\)"):
        jacobians.compare(jc.Chain([conv]), np.zeros((3, 3)), "kernel")

    class Doubler(jc.ReLU):
        pass
    with pytest.raises(TypeError, match="no torch equivalent"):
        jacobians.compare(jc.Chain([conv, Doubler()]), np.zeros((3, 3)))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_a_missing_backend_says_what_to_install(backend, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == backend
                        else real(name, *a))
    assert backend not in jacobians.available_backends()
    with pytest.raises(ImportError, match=f"pip install {backend}"):
        jacobians.compare(jc.ReLU(), np.ones(3), backend=backend)


def test_importing_the_package_imports_neither_torch_nor_jax():
    code = "import sys, jacobian_cnn; print('torch' in sys.modules, 'jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --- jacobian-cnn verify ---------------------------------------------------------------

def test_verify_builtin_sweep_passes_with_torch_and_finite_differences(capsys, torch_ref):
    from jacobian_cnn.cli import main
    from jacobian_cnn.cli.verify import BUILTIN

    assert main(["verify", "--backends", "torch"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:5] == ["op", "wrt", "configuration", "J", "shape"]
    assert header[-3:] == ["torch", "fd", "result"]
    rows = [line for line in out.splitlines() if line.endswith("  ok")]
    assert len(rows) >= len(BUILTIN) and "MISMATCH" not in out
    assert f"{len(rows)} of {len(rows)} Jacobians agree" in out
    assert any("padding_mode=circular" in r for r in rows) and any("ceil_mode=True" in r for r in rows)


def test_verify_user_configuration_with_jax(capsys, torch_ref, jax_module):
    from jacobian_cnn.cli import main

    code = main(["verify", "--no-builtin", "-c", "conv", "x=4x4x2", "kernel=3x3x1x2", "groups=2",
                 "padding=same", "padding_mode=reflect", "bias=false",
                 "-c", "max", "x=5x4x2", "window=2", "dilation=2", "input=ties", "tie=row_major"])
    out = capsys.readouterr().out
    assert code == 0, out
    conv_row, kernel_row, max_row = [line for line in out.splitlines() if line.endswith("  ok")]
    assert conv_row.split()[:2] == ["conv", "input"] and kernel_row.split()[1] == "kernel"
    assert max_row.split()[-4:] == ["0.0e+00", "n/a", "n/a", "ok"]   # JAX: no dilated max VJP; fd: ties


def test_verify_exits_1_on_a_mismatch_and_explains_it(capsys, torch_ref):
    from jacobian_cnn.cli import main

    code = main(["verify", "--no-builtin", "--backends", "torch", "-c", "max", "x=6x6x2", "window=3",
                 "stride=1", "input=ties"])
    out = capsys.readouterr().out
    assert code == 1 and "MISMATCH" in out and "d y[" in out and "tie='row_major' matches" in out


@pytest.mark.parametrize("argv, message", [
    (["-c", "conv", "x=4x4x2", "kernel=3x3x2x2", "groups=3"], "groups=3 must be positive and divide"),
    (["-c", "conv", "x=4x4x2", "kernel=3x3x2x2", "stride=2", "padding=same"], "needs stride 1"),
    (["-c", "pool", "x=4x4"], "operation must be one of"),
    (["-c", "avg", "window=2"], "give the input shape"),
    (["-c", "avg", "x=4x4", "window"], "expected KEY=VALUE"),
    (["-c", "avg", "x=4x4", "window=2", "input=ones"], "input must be one of"),
    (["-c", "relu", "x=4x4", "--backends", "tensorflow"], "--backends must be a subset"),
    ([], "nothing to verify"),
])
def test_verify_errors_are_one_line_with_exit_code_2(argv, message, capsys):
    from jacobian_cnn.cli import main

    assert main(["verify", "--no-builtin", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_verify_without_backends_reports_them_missing_and_checks_finite_differences(capsys, monkeypatch):
    from jacobian_cnn.cli import main

    monkeypatch.setattr(jacobians, "available_backends", lambda: ())
    assert main(["verify", "--no-builtin", "-c", "avg", "x=5x5x2", "window=3", "stride=2",
                 "padding=1", "ceil_mode=true", "count_include_pad=false"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("avg"))
    assert row.split()[-4:-2] == ["missing", "missing"] and row.endswith("  ok")
    assert "torch is not installed" in out and "jax is not installed" in out
