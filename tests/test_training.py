"""jacobian_cnn.training and ``jacobian-cnn train``: the digits, the seed's update from Chain.backward
rows, the loop (better than chance), torch autograd on the same weights at every step, and the CLI.

scikit-learn and torch are required in CI (CI set) and skipped locally without them.
"""

import io
import sys
from dataclasses import dataclass

import numpy as np
import pytest
from cases import CASES, OPS, PARITY_CASES
from optional import require

import jacobian_cnn as jc
from jacobian_cnn import cli, training


@pytest.fixture(scope="module")
def digits():
    require("sklearn")
    return training.load_digits()


@pytest.fixture(scope="module")
def small(digits):
    """96 training and 48 test images: enough for the loop's mechanics."""
    return training.Digits(digits.x_train[..., :96], digits.y_train[:96], digits.x_test[..., :48],
                           digits.y_test[:48], digits.mean, digits.std)


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------

def test_digits_are_standardized_hwcn_batches_split_by_class(digits):
    assert digits.x_train.shape == (8, 8, 1, 1347) and digits.x_test.shape == (8, 8, 1, 450)
    assert digits.y_train.dtype == np.int64 and set(digits.y_test) == set(range(10))
    assert abs(digits.x_train.mean()) < 1e-12 and abs(digits.x_train.std() - 1) < 1e-12
    per_class = np.bincount(np.concatenate([digits.y_train, digits.y_test]))
    assert np.all(np.abs(np.bincount(digits.y_test) - per_class * 0.25) <= 1)   # stratified
    again = training.load_digits()
    assert np.array_equal(again.y_test, digits.y_test)                   # the seed fixes the split


def test_digit_images_keep_their_orientation(digits):
    from sklearn.datasets import load_digits

    originals = {image.astype(int).tobytes() for image in load_digits().images}
    pixels = np.rint((digits.x_train * digits.std + digits.mean) * 16).astype(int)
    assert all(pixels[:, :, 0, n].tobytes() in originals for n in range(50))   # (H, W) = image rows, columns


def test_load_digits_rejects_a_bad_test_fraction():
    with pytest.raises(ValueError, match=r"test_fraction must lie in \(0, 1\)"):
        training.load_digits(test_fraction=1.0)


def test_without_scikit_learn_the_error_says_how_to_install_it(monkeypatch):
    for name in ("sklearn", "sklearn.datasets", "sklearn.model_selection"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install scikit-learn"):
        training.load_digits()


# ---------------------------------------------------------------------------
# one step
# ---------------------------------------------------------------------------

def test_minibatches_cover_every_index_once():
    batches = training.minibatches(50, 16, 3)
    assert [b.size for b in batches] == [16, 16, 16, 2]
    assert sorted(np.concatenate(batches)) == list(range(50))
    with pytest.raises(ValueError, match="batch_size"):
        training.minibatches(5, 0, 0)


def test_apply_gradients_is_the_seeds_update_in_each_parameters_shape():
    net = training.digits_cnn(1, channels=(2, 3))
    x = np.random.default_rng(0).normal(size=(8, 8, 1, 3))
    grads = training.loss_gradients(net, x, [1, 5, 9])
    before = [{name: value.copy() for name, value in layer.params.items()} for layer in net.layers]
    training.apply_gradients(net, grads, 0.5)
    for layer, old, rows in zip(net.layers, before, grads.params, strict=False):
        for name, value in old.items():
            step = jc.unvec(rows[name][0], value.shape)                    # column-major reshape
            assert np.allclose(getattr(layer, name), value - 0.5 * step)


def test_loss_gradients_match_finite_differences():
    net = training.digits_cnn(2, channels=(2, 2))
    rng = np.random.default_rng(1)
    x, labels = rng.normal(size=(8, 8, 1, 2)), np.array([3, 7])
    grads = training.loss_gradients(net, x, labels)
    loss = lambda: float(jc.SoftmaxCrossEntropy(labels).forward(net.forward(x)))
    for i, name in [(0, "kernel"), (3, "bias"), (7, "weight")]:
        layer, value = net[i], getattr(net[i], name).copy()

        def at(v, layer=layer, name=name):
            setattr(layer, name, v)
            return loss()

        numeric = jc.numerical_jacobian(at, value)
        setattr(layer, name, value)
        assert np.allclose(grads.params[i][name], numeric, atol=1e-7), (i, name)


def test_digits_cnn_is_the_seed_architecture_starting_near_log_10():
    net = training.digits_cnn(0)
    assert [type(layer).__name__ for layer in net.layers] == [
        "Conv2D", "Sigmoid", "AvgPool2D", "Conv2D", "ReLU", "MaxPool2D", "Flatten", "Dense"]
    x = np.random.default_rng(0).normal(size=(8, 8, 1, 64))
    first_loss = float(jc.SoftmaxCrossEntropy(np.arange(64) % 10).forward(net.forward(x)))
    assert abs(first_loss - np.log(10)) < 0.5
    with pytest.raises(ValueError, match="channels must be positive"):
        training.digits_cnn(0, channels=(0, 3))


# ---------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------

def test_training_reaches_clearly_better_than_chance(digits):
    history = training.train(training.digits_cnn(0), digits, epochs=2, seed=0)
    assert history.final.test_accuracy > 0.6                               # 10 classes: chance is 0.1
    assert history.epochs[0].epoch == 0 and history.epochs[0].test_accuracy < 0.3
    assert history.steps_per_epoch == 85 and len(history.step_loss) == 170
    assert history.final.train_loss < history.epochs[0].train_loss


def test_on_step_sees_the_weights_the_gradients_were_taken_at(small):
    seen = []

    def on_step(net, batch):
        again = training.loss_gradients(net, batch.x, batch.labels)
        seen.append(max(np.abs(again.params[i][k] - batch.grads.params[i][k]).max()
                        for i in (0, 3, 7) for k in batch.grads.params[i]))
        assert batch.x.shape[:3] == (8, 8, 1) and batch.x.shape[3] == batch.labels.size

    epochs = []
    training.train(training.digits_cnn(0), small, epochs=2, batch_size=32, on_step=on_step,
                   on_epoch=lambda net, record: epochs.append(record.epoch))
    assert len(seen) == 6 and max(seen) == 0.0
    assert epochs == [0, 1, 2]


@pytest.mark.parametrize("settings, message", [
    ({"epochs": 0}, "epochs must be positive"),
    ({"learning_rate": -0.1}, "learning_rate must be a positive number"),
    ({"learning_rate": float("nan")}, "learning_rate must be a positive number"),
    ({"batch_size": 0}, "batch_size must be positive"),
    ({"decay": -1.0}, "decay must be a non-negative number"),
])
def test_train_rejects_bad_settings(small, settings, message):
    with pytest.raises(ValueError, match=message):
        training.train(training.digits_cnn(0), small, **settings)


def test_divergence_is_one_clear_error(small):
    with pytest.raises(ValueError, match=r"training diverged at epoch 1, step \d+.*lower the learning rate"):
        training.train(training.digits_cnn(0), small, epochs=1, learning_rate=1e300)


# ---------------------------------------------------------------------------
# torch
# ---------------------------------------------------------------------------

def test_gradients_match_torch_at_every_step(small, torch_ref):
    deviations = []

    def on_step(net, batch):
        deviations.append(training.gradient_deviation(
            batch.grads, training.torch_gradients(net, batch.x, batch.labels)))

    training.train(training.digits_cnn(3), small, epochs=2, batch_size=16, on_step=on_step)
    assert len(deviations) == 12
    assert max(deviations) < 1e-12


@dataclass(frozen=True)
class TorchCase:
    """A chain whose every layer has a torch translation; checked against finite differences."""

    id: str
    layers: tuple
    x_shape: tuple
    labels: object


def _torch_cases():
    rng = np.random.default_rng(5)
    k = lambda *shape: rng.normal(0, 0.5, shape)
    return [
        TorchCase("seed-cnn-single-sample", tuple(training.digits_cnn(4, channels=(2, 2)).layers),
                  (8, 8, 1), 3),
        TorchCase("strides-asymmetric-padding-dilation", (
            jc.Conv2D(k(3, 2, 2, 3), k(3), stride=(2, 1), padding=((1, 0), (2, 1)), dilation=(1, 2)),
            jc.Tanh(),
            jc.AvgPool2D(2, stride=1, padding=((0, 1), (1, 0))),
            jc.MaxPool2D((2, 3), stride=(1, 2), padding=1, pad_value=0.0),
            jc.Flatten("C"), jc.Dense(k(48, 4), k(4))), (7, 7, 2, 2), [0, 3]),
        TorchCase("no-pad-count-maxpool-dilation-torch-flatten", (
            jc.Conv2D(k(2, 2, 1, 2)), jc.ReLU(),
            jc.AvgPool2D(3, stride=2, padding=1, count_include_pad=False),
            jc.MaxPool2D(2, stride=1, dilation=(1, 1)), jc.Sigmoid(),
            jc.Flatten("torch"), jc.Dense(k(8, 3))), (6, 6, 1, 3), [2, 0, 1]),
    ]


@pytest.mark.parametrize("case", _torch_cases(), ids=lambda c: c.id)
def test_torch_translation_matches_finite_differences(case, torch_ref):
    net = jc.Chain(case.layers)
    x = np.random.default_rng(6).normal(size=case.x_shape)
    reference = training.torch_gradients(net, x, case.labels)
    loss = jc.SoftmaxCrossEntropy(case.labels)
    assert abs(reference.loss - float(loss.forward(net.forward(x)))) < 1e-12
    numeric = jc.numerical_jacobian(lambda v: loss.forward(net.forward(v)), x)
    assert np.allclose(jc.vec(reference.input), numeric[0], atol=1e-7)
    for layer, grads in zip(net.layers, reference.params, strict=True):
        for name, value in grads.items():
            saved = getattr(layer, name)

            def at(v, layer=layer, name=name):
                setattr(layer, name, v)
                return loss.forward(net.forward(x))

            numeric = jc.numerical_jacobian(at, saved)
            setattr(layer, name, saved)
            assert np.allclose(jc.vec(value), numeric[0], atol=1e-7), (layer, name)
    ours = jc.Chain([*case.layers, loss]).backward(x)
    assert training.gradient_deviation(ours, reference) < 1e-12


# Every configuration of the case table, as the first layer of a small classifier: torch
# (through autograd's translation) and Chain.backward must agree on the input and every
# parameter. The losses of the table cannot sit inside a classifier: they are refused.
TORCH_LAYER_OPS = ("conv", "avgpool", "maxpool", "flatten", "dense", "relu", "sigmoid", "tanh", "softmax")
TABLE = CASES + PARITY_CASES
N_CLASSES = 3


def _classifier(case):
    """``(net, x, labels)``: the case's layer, Flatten (after maps), Dense to 3 classes."""
    layer = OPS[case.op].make(case.params(), case.options)
    x = np.asarray(case.x(), dtype=np.float64)
    y = np.asarray(layer.forward(x))
    maps_in = case.op not in ("dense", "softmax")
    batched = x.ndim == (4 if maps_in else 2)
    n = y.shape[-1] if batched else 1
    rng = np.random.default_rng(case.seed + 2000)
    layers = [layer, *([jc.Flatten()] if maps_in and case.op != "flatten" else []),
              jc.Dense(rng.normal(size=(y.size // n, N_CLASSES)), rng.normal(size=N_CLASSES))]
    labels = rng.integers(0, N_CLASSES, size=n) if batched else int(rng.integers(0, N_CLASSES))
    return jc.Chain(layers), x, labels


def _assert_same_gradient(ours, theirs, what):
    assert ours.shape == theirs.shape, what
    assert np.all(np.isfinite(ours)) and np.all(np.isfinite(theirs)), what
    scale = float(np.max(np.abs(ours), initial=0.0))
    np.testing.assert_allclose(theirs, ours, rtol=1e-10, atol=1e-12 * scale, equal_nan=False,
                               err_msg=what)


@pytest.mark.parametrize("case", TABLE, ids=lambda c: c.id)
def test_torch_gradients_equal_chain_backward_on_the_whole_case_table(case, torch_ref):
    if case.op not in TORCH_LAYER_OPS:   # a loss inside the net: no class scores at the end
        layer = OPS[case.op].make(case.params(), case.options)
        net = jc.Chain([jc.Dense(np.eye(case.x_shape[0])), layer])
        with pytest.raises(ValueError, match=r"net must end in class scores .* ends in scalar"):
            training.torch_gradients(net, case.x(), 0)
        return
    net, x, labels = _classifier(case)
    ours = training.loss_gradients(net, x, labels)
    theirs = training.torch_gradients(net, x, labels)
    assert abs(theirs.loss - float(ours.output)) <= 1e-12 * abs(float(ours.output))
    _assert_same_gradient(jc.unvec(ours.input[0], x.shape), theirs.input, "input")
    assert [list(p) for p in theirs.params] == [list(layer.params) for layer in net.layers]
    for i, (rows, grads) in enumerate(zip(ours.params, theirs.params, strict=False)):
        for name, value in grads.items():
            assert value.shape == getattr(net[i], name).shape
            _assert_same_gradient(jc.as_parameter_shape(rows[name][0], value.shape), value,
                                  f"layers[{i}].{name}")


def test_the_case_table_holds_every_option_torch_gradients_translates():
    options = {(key, value if key == "padding_mode" else None)
               for case in TABLE if case.op in TORCH_LAYER_OPS for key, value in case.options.items()}
    for key in ("groups", "dilation", "ceil_mode", "count_include_pad", "divisor_override",
                "pad_value", "tie", "order"):
        assert (key, None) in options, key
    for mode in ("reflect", "replicate", "circular"):
        assert ("padding_mode", mode) in options
    assert any(c.op == "maxpool" and c.x_kind == "ties" and "tie" not in c.options for c in TABLE)


@pytest.mark.parametrize("first, x_shape", [
    (jc.AvgPool2D(2, dilation=2), (5, 5, 1, 2)),                                  # composed in torch
    (jc.AvgPool2D(3, padding=((1, 0), (2, 1)), count_include_pad=False), (5, 6, 2)),
    # ceil_mode drops a last window that would start in the bottom/right padding
    (jc.AvgPool2D(1, stride=(2, 1), padding=((1, 1), (0, 1)), ceil_mode=True), (7, 1, 2, 2)),
    (jc.MaxPool2D(2, stride=1, padding=((1, 2), (1, 1)), ceil_mode=True, pad_value=0.0), (4, 3, 2, 2)),
    (jc.MaxPool2D((2, 3), stride=(1, 2), padding=((1, 0), (0, 2)), ceil_mode=True), (6, 7, 1)),
    # column-major ties with padding that can win, dilation and ceil_mode
    (jc.MaxPool2D((2, 3), stride=1, padding=1, dilation=(1, 2), pad_value=0.0), (5, 6, 2, 2)),
    (jc.MaxPool2D((3, 2), stride=2, padding=((0, 1), (1, 0)), ceil_mode=True), (6, 5, 2, 2)),
], ids=["avg-dilation", "avg-exclude-asymmetric", "avg-ceil-drops-window-in-padding",
        "max-ceil-drops-window-in-padding", "max-asymmetric-ceil", "max-ties-pad-value-dilation",
        "max-ties-ceil"])
def test_torch_gradients_beyond_the_case_table(first, x_shape, torch_ref):
    rng = np.random.default_rng(11)
    x = rng.integers(-2, 3, size=x_shape).astype(np.float64)   # ties in most windows
    features = np.asarray(first.forward(x)).reshape(-1, *x_shape[3:]).shape[0]
    net = jc.Chain([first, jc.Flatten(), jc.Dense(rng.normal(size=(features, 4))), jc.Softmax()])
    labels = [1, 3] if len(x_shape) == 4 else 2
    reference = training.torch_gradients(net, x, labels)
    assert training.gradient_deviation(training.loss_gradients(net, x, labels), reference) < 1e-12


class _LeakyReLU(jc.ReLU):
    """A layer type of the user's own: torch_gradients has no translation for it."""


def test_torch_translation_refuses_what_it_cannot_translate(torch_ref):
    with pytest.raises(NotImplementedError, match=r"no torch equivalent .*_LeakyReLU"):
        training.torch_gradients(jc.Chain([_LeakyReLU(), jc.Flatten()]), np.zeros((2, 2)), 0)
    with pytest.raises(ValueError, match=r"class scores .* ends in maps of shape \(2, 2, 1, 1\)"):
        training.torch_gradients(jc.Chain([jc.ReLU()]), np.zeros((2, 2, 1, 1)), [0])
    scores = jc.Chain([jc.Flatten(), jc.Dense(np.ones((4, 3)))])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\) for 3 classes; got 0..7"):
        training.torch_gradients(scores, np.zeros((2, 2, 1, 2)), [0, 7])
    with pytest.raises(ValueError, match=r"window at output .* lies entirely in padding"):
        training.torch_gradients(jc.Chain([jc.MaxPool2D(1, padding=1), jc.Flatten(),
                                           jc.Dense(np.ones((9, 3)))]), np.zeros((1, 1)), 0)


def test_gradient_deviation_is_inf_when_a_gradient_is_not_finite(torch_ref):
    net = jc.Chain([jc.Flatten(), jc.Dense(np.ones((4, 3)))])
    x = np.arange(4.0).reshape(2, 2)
    ours = training.loss_gradients(net, x, 1)
    reference = training.torch_gradients(net, x, 1)
    assert training.gradient_deviation(ours, reference) < 1e-15
    reference.params[1]["weight"][2, 1] = np.nan
    assert training.gradient_deviation(ours, reference) == np.inf
    reference.params[1]["weight"][2, 1] = 0.0
    ours.input[0, 3] = -np.inf
    assert training.gradient_deviation(ours, reference) == np.inf


# ---------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------

FAST = ["train", "--epochs", "1", "--test-fraction", "0.5"]


def test_train_help_lists_the_options_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--epochs", "--batch-size", "--learning-rate", "--check-torch", "--min-accuracy",
                   "--plot"):
        assert option in out
    assert "Exit status: 0 done, 1" in " ".join(out.split())
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "train" in capsys.readouterr().out


def test_train_prints_epochs_and_a_summary(capsys):
    require("sklearn")
    assert cli.main([*FAST, "--min-accuracy", "0.12"]) == 0
    out = capsys.readouterr().out
    assert "before training" in out and "epoch 1/1 |########################| 57/57" in out
    assert "test accuracy" in out and "done: 1 epoch, 57 gradient steps" in out
    assert "through 15 explicit sparse Jacobians per step" in out
    assert "\r" not in out                               # not a terminal: one line per epoch


def test_train_exits_1_below_min_accuracy(capsys):
    require("sklearn")
    assert cli.main([*FAST, "--min-accuracy", "0.99"]) == 1
    assert "FAILED: test accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "argument --epochs: must be a positive integer, got '0'"),
    (["--batch-size", "-2"], "argument --batch-size: must be a positive integer, got '-2'"),
    (["--learning-rate", "0"], "argument --learning-rate: must be a finite number > 0, got '0'"),
    (["--learning-rate", "nan"], "argument --learning-rate: must be a finite number > 0, got 'nan'"),
    (["--channels", "0", "4"], "argument --channels: must be a positive integer, got '0'"),
    (["--min-accuracy", "60"], "argument --min-accuracy: must be a fraction in [0, 1], got '60'"),
    (["--test-fraction", "1.5"], "argument --test-fraction: must be a fraction in (0, 1), got '1.5'"),
    (["--tolerance", "nan"], "argument --tolerance: must be a finite number >= 0, got 'nan'"),
    (["--plot", "/no/such/folder/curves.png"],
     "--plot: the folder /no/such/folder of '/no/such/folder/curves.png' does not exist"),
])
def test_train_errors_are_one_line_with_exit_code_2(capsys, argv, message):
    try:
        status = cli.main(["train", *argv])
    except SystemExit as exc:  # a usage error of the argument parser
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith(f"jacobian-cnn train: error: {message}") and err.count("\n") == 1


def test_train_without_scikit_learn_is_one_line(capsys, monkeypatch):
    for name in ("sklearn", "sklearn.datasets", "sklearn.model_selection"):
        monkeypatch.setitem(sys.modules, name, None)
    assert cli.main(FAST) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install scikit-learn" in err


def test_train_check_torch_without_torch_fails_before_training(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert cli.main([*FAST, "--check-torch"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("jacobian-cnn train: error: --check-torch needs torch: pip install torch")


def test_train_check_torch_reports_the_largest_deviation(capsys, torch_ref):
    require("sklearn")
    assert cli.main([*FAST, "--check-torch"]) == 0
    out = capsys.readouterr().out
    assert "torch autograd on the same weights, all 57 steps: largest |ours - torch| =" in out
    assert "(OK, tolerance 1e-10)" in out


def test_train_saves_the_curves(tmp_path, capsys):
    require("sklearn")
    require("matplotlib")
    path = tmp_path / "curves.png"
    assert cli.main([*FAST, "--plot", str(path)]) == 0
    assert path.stat().st_size > 1000
    assert f"saved to {path}" in capsys.readouterr().out


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_the_bar_is_redrawn_with_carriage_returns():
    require("sklearn")
    args = cli.build_parser().parse_args(FAST)
    stream = _Terminal()
    assert args.run(args, stream=stream) == 0
    text = stream.getvalue()
    live = text.split("\n")[-6]                             # the epoch line, redrawn 57 times
    assert live.count("\r") == 58                            # 57 steps and the final redraw
    assert "\x1b" not in text                                # plain text, no terminal escapes
    final = live.split("\r")[-1]
    assert final.startswith("epoch 1/1 |########################| 57/57  train loss")
    assert len(final) >= len(live.split("\r")[-2])           # covers the last live line
