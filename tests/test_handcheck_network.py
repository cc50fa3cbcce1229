"""The gradient through a whole network (a seed-style CNN's ``dJ/dK1``), from the Python API and
from ``jacobian-cnn check --network NET.json``; several channels written one bmatrix each.

Numeric expectations come from the numeric chain's own backward pass (``Chain.backward``, the
sparse fast path), a different computation from the symbolic one the checker uses.
"""

import json

import numpy as np
import pytest

pytest.importorskip("sympy")

from handcheck_cases import NETWORK, NETWORK_DJ_DK1  # noqa: E402

import jacobian_cnn as jc  # noqa: E402
from jacobian_cnn.errors import InvalidValueError  # noqa: E402
from jacobian_cnn.handcheck import check_derivation  # noqa: E402
from jacobian_cnn.handcheck.network import network_from_dict  # noqa: E402
from jacobian_cnn.symbolic import SymbolicProblem  # noqa: E402

RNG = np.random.default_rng(3)
SEED_STYLE = jc.Chain([jc.Conv2D(RNG.normal(size=(2, 2)), np.array([0.1])), jc.Sigmoid(),
                       jc.AvgPool2D(2), jc.Flatten(), jc.Dense(RNG.normal(size=(1, 2)))])
X = RNG.normal(size=(3, 3))
G = np.array([0.5, -1.0])


def _dj_dk1():
    row = np.asarray(SEED_STYLE.backward(X, G).params[0]["kernel"]).ravel()
    return row.reshape(2, 2, order="F")  # the vec-order row in the kernel's shape


def test_numeric_dj_dk1_through_a_seed_style_cnn():
    K = _dj_dk1()
    assert np.all(K != 0)
    options = dict(wrt=(0, "kernel"), params="values", grad_values=G, tolerance=1e-8)
    report = check_derivation(np.round(K, 12), SEED_STYLE, X, **options)
    assert report.verdict == "correct", str(report)
    wrong = K.copy()
    wrong[1, 1] *= 2
    report = check_derivation(wrong, SEED_STYLE, X, **options)
    assert report.verdict == "wrong" and [d.label for d in report.diffs] == ["∂J/∂k_{22}"]
    assert f"correct is {K[1, 1]:.12f}"[:-3] in str(report)  # shown as a decimal, not exp(...)
    report = check_derivation(K.T, SEED_STYLE, X, **options)  # vec row filled row by row
    assert report.kinds == {"row_major_reshape"}


def test_symbolic_chain_parameter_gradient_is_the_chain_rule():
    problem = SymbolicProblem(NETWORK, (3, 3))
    g = problem.gradient((0, "kernel"))
    assert g.array.shape == (2, 2)
    assert problem.check_wrt((3, "weight")) == (3, "weight")
    with pytest.raises(InvalidValueError, match=r"the kernel of layer 1 \(wrt=\(0, 'kernel'\)\)"):
        problem.check_wrt((1, "kernel"))
    with pytest.raises(InvalidValueError, match=r"\(layer_index, name\)"):
        problem.check_wrt("kernel")
    single = SymbolicProblem(jc.Conv2D(np.ones((2, 2))), (3, 3))
    assert single.check_wrt((0, "kernel")) == "kernel"  # one layer: the same as its name


def test_a_network_as_json_data():
    spec = {"input": [3, 3], "layers": [{"op": "conv", "kernel_shape": [2, 2]}, {"op": "avgpool",
            "window": 2}, {"op": "flatten"}, {"op": "dense", "outputs": 1}]}
    net, params = network_from_dict(spec, (3, 3))
    assert params == "symbols" and [type(lay) for lay in net.layers] == [type(lay) for lay in NETWORK.layers]
    report = check_derivation(NETWORK_DJ_DK1, net, (3, 3), wrt=(0, "kernel"))
    assert report.verdict == "correct"
    bad = [({"layers": []}, "non-empty list"), ({"layers": [{"op": "conv"}]}, "exactly one of"),
           ({"layers": [{"op": "os.system"}]}, "op must be one of"),
           ({"layers": [{"op": "relu", "eval": 1}]}, "unknown keys"),
           ({"layers": [{"op": "conv", "kernel": [[1, 2], [3, 4]]}, {"op": "flatten"},
                        {"op": "dense", "outputs": 1}]}, "or of none"),
           ({"input": [4, 4], "layers": [{"op": "relu"}]}, "is for an input of shape"),
           ({"layers": [{"op": "conv", "kernel_shape": [5, 5]}]}, "does not fit")]
    for spec, message in bad:
        with pytest.raises(InvalidValueError, match=message):
            network_from_dict(spec, (3, 3))


def _run(capsys, tmp_path, text, *argv):
    from jacobian_cnn.cli import main

    path = tmp_path / "answer.tex"
    path.write_text(text, encoding="utf-8")
    code = main(["check", str(path), *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _entry(v):
    return repr(float(v)) if isinstance(v, (float, np.floating)) else str(v)


def _bmatrix(rows):
    return r"\begin{bmatrix}" + r" \\ ".join(" & ".join(map(_entry, r)) for r in rows) + r"\end{bmatrix}"


def test_cli_network_dj_dk1_numeric(capsys, tmp_path):
    conv, dense = SEED_STYLE.layers[0], SEED_STYLE.layers[-1]
    spec = {"layers": [{"op": "conv", "kernel": conv.kernel.reshape(2, 2).tolist(), "bias": [0.1]},
                       {"op": "sigmoid"}, {"op": "avgpool", "window": 2}, {"op": "flatten"},
                       {"op": "dense", "weight": dense.weight.tolist()}]}
    net = tmp_path / "net.json"
    net.write_text(json.dumps(spec))
    values = "; ".join(" ".join(repr(float(v)) for v in row) for row in X)
    grads = " ".join(repr(float(v)) for v in G)
    argv = ["--network", str(net), "--input", "3x3", "--values", values, "--grad-values", grads,
            "--wrt", "kernel", "--layer", "1", "--tolerance", "1e-8"]
    K = _dj_dk1()
    code, out = _run(capsys, tmp_path, _bmatrix(np.round(K, 12)), *argv)
    assert code == 0 and "Correct: all 4 entries match." in out, out
    code, out = _run(capsys, tmp_path, _bmatrix(np.round(2 * K, 12)), *argv)
    assert code == 1 and "Entries that differ (4 of 4)" in out, out
    code, out = _run(capsys, tmp_path, _bmatrix(K), *argv[:-6], "--op", "conv")
    assert code == 2 and "--op describe one operation" in out
    code, out = _run(capsys, tmp_path, _bmatrix(K), "--input", "3x3", "--layer", "1", "--op", "relu")
    assert code == 2 and "--layer is for --network" in out


def test_cli_symbolic_network_and_a_python_file_is_not_run(capsys, tmp_path):
    net = tmp_path / "net.json"
    net.write_text(json.dumps({"layers": [{"op": "conv", "kernel_shape": [2, 2]},
                                          {"op": "avgpool", "window": 2}, {"op": "flatten"},
                                          {"op": "dense", "outputs": 1}]}))
    from handcheck_cases import NETWORK_DJ_DK1 as written

    text = _bmatrix([[e.replace("∂J/∂z_{1}", r"\frac{\partial J}{\partial z_{1}}") for e in row]
                     for row in written])
    code, out = _run(capsys, tmp_path, text, "--network", str(net), "--input", "3x3", "--wrt", "kernel")
    assert code == 0, out
    script = tmp_path / "net.py"
    script.write_text("raise SystemExit('ran')\n")
    code, out = _run(capsys, tmp_path, text, "--network", str(script), "--input", "3x3")
    assert code == 2 and "is not valid JSON" in out


def test_cli_channels_one_bmatrix_each(capsys, tmp_path):
    # channel 1 [[1, 5], [3, 2]] peaks at a_{121}, channel 2 [[7, 0], [0, 1]] at a_{112}
    x = tmp_path / "x.tex"
    x.write_text(_bmatrix([[1, 5], [3, 2]]) + "\n" + _bmatrix([[7, 0], [0, 1]]))
    op = ["--op", "maxpool", "--input", "2x2x2", "--window", "2", "--values-file", str(x)]
    forward = _bmatrix([[5]]) + _bmatrix([[7]])
    code, out = _run(capsys, tmp_path, forward, *op, "--which", "channels")
    assert code == 0 and "2 matrices, one per channel, side by side" in out, out
    code, out = _run(capsys, tmp_path, _bmatrix([[7]]) + _bmatrix([[5]]), *op, "--which", "channels")
    assert code == 1 and "p_{111}: you wrote 7, correct is 5" in out, out
    gradient = _bmatrix([[0, 1], [0, 0]]) + _bmatrix([[2, 0], [0, 0]])
    code, out = _run(capsys, tmp_path, gradient, *op, "--which", "channels", "--grad-values", "1 2")
    assert code == 0, out
    with pytest.raises(SystemExit) as exit_:  # argparse refuses it before the run
        _run(capsys, tmp_path, forward, *op, "--which", "first")
    assert exit_.value.code == 2
    assert "must be a matrix number or 'channels'" in capsys.readouterr().err
    x.write_text(_bmatrix([[1, 5], [3, 2]]) + _bmatrix([[7, 0, 1], [0, 1, 1]]))
    code, out = _run(capsys, tmp_path, forward, *op, "--which", "channels")
    assert code == 2 and "must have one shape" in out


def test_a_single_layers_parameter_by_index_is_its_parameter_by_name():
    from handcheck_cases import CASES

    case = next(c for c in CASES if c.id == "input gradient where the kernel gradient was asked")
    options = {k: v for k, v in case.options.items() if k != "wrt"}
    by_name = check_derivation(case.written, case.layer, case.x, wrt="kernel", **options)
    by_index = check_derivation(case.written, case.layer, case.x, wrt=(0, "kernel"), **options)
    assert by_index.kinds == by_name.kinds == {"wrt_confused"}
    assert str(by_index) == str(by_name)
