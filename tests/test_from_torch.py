"""PyTorch models imported with ``jc.from_torch``: forward, input Jacobian and every parameter
gradient equal PyTorch's (float64, within 1e-10), up to layout.

The architectures are written in PyTorch here: a ResNet basic block (identity and 1x1-conv
down-sampling shortcuts, traced by torch.fx) and LeNet-5 with batch norm and dropout (eval mode,
and train mode with an explicit dropout mask). Expected values come from torch autograd.
"""

import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import jacobian_cnn as jc  # noqa: E402
from jacobian_cnn.compare.layout import from_layout, jacobian_to_vec, to_layout  # noqa: E402

TOL = 1e-10


class BasicBlock(nn.Module):
    """torchvision's ResNet basic block (conv-BN-ReLU-conv-BN, shortcut, add, ReLU)."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                            nn.BatchNorm2d(c_out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


def lenet5(p=0.3):
    """LeNet-5 on 1x28x28 (padding 2 on the first conv) with batch norm and dropout."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Dropout(p),
        nn.Linear(120, 84), nn.ReLU(), nn.Dropout(p),
        nn.Linear(84, 10),
    )


def _randomized(model, seed):
    """float64, with random weights and running statistics (not the default 0 / 1)."""
    torch.manual_seed(seed)
    model = model.double()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_()
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
    return model


def _layout(ndim):
    return "NCHW" if ndim == 4 else "NC"


def _check_against_torch(model, net, x_torch, g_seed=0):
    """Forward, the input Jacobian and the gradients of ``sum(g * y)`` of every parameter."""
    x = torch.tensor(x_torch, requires_grad=True)
    y = model(x)
    ours_x = from_layout(x_torch, _layout(x_torch.ndim))
    ours_y = net.forward(ours_x)
    np.testing.assert_allclose(to_layout(ours_y, _layout(y.ndim)), y.detach().numpy(), rtol=0, atol=TOL)

    J_torch = torch.autograd.functional.jacobian(model, x.detach()).numpy()
    J_torch = jacobian_to_vec(J_torch, ours_y.shape, _layout(y.ndim), ours_x.shape, _layout(x.ndim))
    J = net.jacobian(ours_x)
    assert np.all(np.isfinite(J.data))
    np.testing.assert_allclose(J.toarray(), J_torch, rtol=0, atol=TOL)

    g = np.random.default_rng(g_seed).normal(size=y.shape)
    (y * torch.tensor(g)).sum().backward()
    grads = net.backward(ours_x, jc.vec(from_layout(g, _layout(y.ndim))))
    np.testing.assert_allclose(jc.unvec(grads.input[0], ours_x.shape),
                               from_layout(x.grad.numpy(), _layout(x.ndim)), rtol=0, atol=TOL)
    return grads


def _parameter_gradients(net, grads):
    """Our gradient of each parameter, by layer index and name, in the parameter's shape."""
    return {(i, name): jc.as_parameter_shape(rows[0], net[i].params[name].shape)
            for i, d in enumerate(grads.params) for name, rows in d.items()}


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("c_in, c_out, stride", [(3, 3, 1), (2, 4, 2)], ids=["identity", "downsample"])
def test_resnet_basic_block(c_in, c_out, stride, training):
    model = _randomized(BasicBlock(c_in, c_out, stride), seed=1).train(training)
    net = jc.from_torch(model, (2, c_in, 6, 6))
    assert isinstance(net[0], jc.Residual)
    assert (net[0].paths[1] is None) == (stride == 1 and c_in == c_out)
    norms = [layer for layer in net[0].paths[0].layers if isinstance(layer, jc.BatchNorm2D)]
    assert [layer.training for layer in norms] == [training] * 2
    x = np.random.default_rng(2).normal(size=(2, c_in, 6, 6))
    grads = _check_against_torch(model, net, x)
    ours = _parameter_gradients(net, grads)
    expected = {
        "body.0.kernel": model.conv1.weight, "body.1.gamma": model.bn1.weight, "body.1.beta": model.bn1.bias,
        "body.3.kernel": model.conv2.weight, "body.4.gamma": model.bn2.weight, "body.4.beta": model.bn2.bias,
    }
    if model.downsample is not None:
        expected |= {"shortcut.0.kernel": model.downsample[0].weight,
                     "shortcut.1.gamma": model.downsample[1].weight,
                     "shortcut.1.beta": model.downsample[1].bias}
    assert set(net[0].params) == set(expected)
    assert {name: net.torch_names[(0, name)] for name in expected} == {
        name: next(n for n, p in model.named_parameters() if p is param) for name, param in expected.items()}
    for name, param in expected.items():
        grad = param.grad.numpy()
        mine = ours[(0, name)]
        mine = mine.transpose(3, 2, 0, 1) if mine.ndim == 4 else mine  # (kh, kw, C_in, C_out) -> OIHW
        np.testing.assert_allclose(mine, grad, rtol=0, atol=TOL, err_msg=name)


def _lenet_parameters(model, net):
    """(torch parameter, our (layer index, name)) pairs, matched by order."""
    torch_params = [p for m in model for p in m.parameters(recurse=False)]
    ours = [(i, name) for i, layer in enumerate(net.layers) for name in layer.params]
    assert len(torch_params) == len(ours)
    return list(zip(torch_params, ours, strict=True))


def _as_torch_shape(value, name):
    if name == "kernel":
        return value.transpose(3, 2, 0, 1)
    return value.T if name == "weight" else value


@pytest.mark.parametrize("mode", ["eval", "train-with-mask"])
def test_lenet5_with_batch_norm_and_dropout(mode):
    model = _randomized(lenet5(), seed=3).train(mode != "eval")
    masks = {}
    if mode != "eval":
        rng = np.random.default_rng(4)
        masks = {"11": (rng.random((2, 120)) >= 0.3).astype(float),
                 "14": (rng.random((2, 84)) >= 0.3).astype(float)}
        for index, mask in masks.items():  # the same masks in PyTorch: dropout replaced by them
            model[int(index)] = _FixedDropout(mask, 0.3)
        net = jc.from_torch(model_with_dropout(model, masks), (2, 1, 28, 28), dropout_masks=masks)
    else:
        net = jc.from_torch(model, (2, 1, 28, 28))
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds.count("Dropout" if mode != "eval" else "Identity") == 2
    x = np.random.default_rng(5).normal(size=(2, 1, 28, 28))
    grads = _check_against_torch(model, net, x)
    ours = _parameter_gradients(net, grads)
    for param, (i, name) in _lenet_parameters(model, net):
        np.testing.assert_allclose(_as_torch_shape(ours[(i, name)], name), param.grad.numpy(),
                                   rtol=0, atol=TOL, err_msg=f"layers[{i}].{name}")


class _FixedDropout(nn.Module):
    """PyTorch's dropout with a given mask: ``x * mask / (1 - p)``."""

    def __init__(self, mask, p):
        super().__init__()
        self.mask, self.p = torch.tensor(mask), p

    def forward(self, x):
        return x * self.mask / (1 - self.p)


def model_with_dropout(model, masks):
    """A copy of ``model`` whose fixed-mask modules are real ``nn.Dropout`` in training mode."""
    copy = nn.Sequential(*[nn.Dropout(0.3) if str(i) in masks else m for i, m in enumerate(model)])
    return copy.train()


def test_training_dropout_without_a_mask_is_refused():
    with pytest.raises(ValueError, match=r"Dropout at 1 is in training mode.*dropout_masks=\{'1': mask\}"):
        jc.from_torch(nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5)).train(), (1, 3))


def test_eval_dropout_is_the_identity_and_masks_must_name_modules():
    net = jc.from_torch(nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5)).eval(), (1, 3))
    assert isinstance(net[1], jc.Identity)
    with pytest.raises(ValueError, match=r"dropout_masks names no module of the model: \['7'\]"):
        jc.from_torch(nn.Sequential(nn.Linear(3, 2)), (1, 3), dropout_masks={"7": np.ones((1, 2))})


def test_an_unsupported_module_is_refused_with_its_path_and_what_is_supported():
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Sequential(nn.ReLU(), nn.PixelShuffle(1)))
    with pytest.raises(TypeError, match=r"cannot convert PixelShuffle at 1\.1; supported: Sequential"):
        jc.from_torch(model, (1, 1, 5, 5))


def test_an_unsupported_graph_operation_is_refused():
    class Doubling(nn.Module):
        def forward(self, x):
            return torch.mul(x, 2)

    with pytest.raises(TypeError, match=r"cannot convert the graph operation call_function mul"):
        jc.from_torch(Doubling(), (1, 3))


class _TwoOutputs(nn.Module):
    def forward(self, x):
        return x.relu(), x


class _PlusOne(nn.Module):
    def forward(self, x):
        return x + 1


class _ScaledAdd(nn.Module):
    def forward(self, x):
        return torch.add(x.relu(), x, alpha=2)


@pytest.mark.parametrize("model, message", [
    (_TwoOutputs(), "cannot convert _TwoOutputs at <model>: its forward must return one tensor"),
    (_PlusOne(), r"cannot convert call_function .*add.* with \(x, 1\) .*no constants"),
    (_ScaledAdd(), r"with \(relu, x\) \{'alpha': 2\} .*no alpha"),
])
def test_graphs_that_are_not_plain_sums_or_stacks_are_refused(model, message):
    with pytest.raises(TypeError, match=message):
        jc.from_torch(model, (1, 3))


def test_concat_of_two_paths_from_a_traced_graph():
    class Inception(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(2, 3, 1)
            self.b = nn.Sequential(nn.Conv2d(2, 1, 3, padding=1), nn.ReLU())

        def forward(self, x):
            return torch.relu(torch.cat([self.a(x), self.b(x), x], dim=1))

    model = _randomized(Inception(), seed=6)
    net = jc.from_torch(model, (2, 2, 4, 4))
    assert [type(layer).__name__ for layer in net.layers] == ["Concat", "ReLU"]
    grads = _check_against_torch(model, net, np.random.default_rng(7).normal(size=(2, 2, 4, 4)))
    ours = _parameter_gradients(net, grads)
    np.testing.assert_allclose(ours[(0, "1.0.kernel")].transpose(3, 2, 0, 1), model.b[0].weight.grad.numpy(),
                               rtol=0, atol=TOL)


def test_to_torch_runs_the_same_network_with_parameters_in_torchs_layouts():
    rng = np.random.default_rng(8)
    net = jc.Chain([jc.Conv2D(rng.normal(size=(3, 3, 2, 3)), rng.normal(size=3), padding=1),
                    jc.BatchNorm2D(rng.normal(size=3), rng.normal(size=3)),
                    jc.Residual([jc.ReLU(), jc.Conv2D(rng.normal(size=(1, 1, 3, 3)))]),
                    jc.GlobalAvgPool2D(), jc.Flatten("torch"), jc.Dense(rng.normal(size=(3, 2)))])
    model = jc.to_torch(net, (2, 2, 5, 5))
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert shapes["0.weight"] == (3, 2, 3, 3) and shapes["5.weight"] == (2, 3)  # nn.Conv2d, nn.Linear
    assert shapes["2.paths.0.1.weight"] == (3, 3, 1, 1)  # the residual's body, an nn.Sequential
    grads = _check_against_torch(model, net, rng.normal(size=(2, 2, 5, 5)))
    assert grads.params[2]["body.1.kernel"].shape == (1, 9)


MODEL_FILE = '''
import torch.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)

    def forward(self, x):
        return (self.bn(self.conv(x)) + x).relu()
'''


def test_verify_compares_an_imported_model_file_with_autograd(tmp_path, capsys):
    from jacobian_cnn.cli import main

    (tmp_path / "model.py").write_text(MODEL_FILE)
    spec = f"{tmp_path / 'model.py'}:Block"
    assert main(["verify", "--torch-model", spec, "--input-shape", "2x2x4x4"]) == 0
    out = capsys.readouterr().out
    for row in ("forward", "input Jacobian", "input gradient", "conv.weight gradient",
                "conv.bias gradient", "bn.weight gradient", "bn.bias gradient"):
        assert re.search(rf"^{re.escape(row)} +\d\.\de[-+]\d\d  ok$", out, flags=re.M), row
    assert "7 of 7 agree with PyTorch's autograd" in out


@pytest.mark.parametrize("argv, message", [
    (["--torch-model", "model.py"], "--torch-model and --input-shape go together"),
    (["--torch-model", "model.py", "--input-shape", "2x2x4x4"], "--torch-model must be FILE.py:NAME"),
    (["--torch-model", "MISSING.py:Block", "--input-shape", "2x2x4x4"], "no file"),
    (["--torch-model", "FILE:Nope", "--input-shape", "2x2x4x4"], "defines no 'Nope'"),
    (["--torch-model", "FILE:Block", "--input-shape", "2x2x4x4x4x4"], "--input-shape must be Nxn, NxCxL"),
    (["--torch-model", "FILE:Block", "--input-shape", "2x0x4"], "--input-shape must be Nxn, NxCxL"),
])
def test_verify_torch_model_errors_are_one_line(tmp_path, capsys, argv, message):
    from jacobian_cnn.cli import main

    (tmp_path / "model.py").write_text(MODEL_FILE)
    argv = [a.replace("FILE", str(tmp_path / "model.py")) for a in argv]
    assert main(["verify", *argv]) == 2
    assert message in capsys.readouterr().err


def test_every_supported_module_in_nested_sequentials():
    """Each supported module kind once, nested, against autograd (forward, Jacobian, gradients)."""
    maps = nn.Sequential(
        nn.Sequential(nn.ReflectionPad2d((1, 0, 2, 1)),
                      nn.Conv2d(2, 3, 3, padding=1, padding_mode="replicate"),
                      nn.BatchNorm2d(3).eval(), nn.LeakyReLU(0.1)),
        nn.ZeroPad2d(1), nn.ConstantPad2d((0, 1, 1, 0), 0.5), nn.ReplicationPad2d(1),
        nn.MaxPool2d(2, ceil_mode=True), nn.ELU(0.5),
        nn.Upsample(scale_factor=2), nn.Upsample(size=(5, 4), mode="bilinear", align_corners=False),
        nn.AdaptiveAvgPool2d((3, 2)), nn.GELU(approximate="tanh"), nn.LayerNorm([3, 3, 2]),
        nn.Conv2d(3, 2, 1, groups=1), nn.Softplus(beta=2.0), nn.Identity(), nn.Dropout(0.5).eval(),
        nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=False), nn.Sigmoid(),
    )
    model = _randomized(nn.Sequential(maps, nn.Flatten(), nn.Linear(2 * 4 * 3, 5), nn.Tanh(),
                                      nn.Linear(5, 4), nn.LogSoftmax(dim=1)), seed=9)
    with torch.no_grad():
        model[0][10].weight.uniform_(0.5, 1.5)
        model[0][10].bias.normal_()
    net = jc.from_torch(model, (2, 2, 5, 4))
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds[:4] == ["ReflectionPad2D", "Conv2D", "BatchNorm2D", "LeakyReLU"]
    assert {"LayerNorm", "Upsample", "AdaptiveAvgPool2D", "Identity", "LogSoftmax"} <= set(kinds)
    grads = _check_against_torch(model, net, np.random.default_rng(10).normal(size=(2, 2, 5, 4)))
    params = dict(model.named_parameters())
    for (i, name), source in net.torch_names.items():
        ours = jc.as_parameter_shape(grads.params[i][name][0], net[i].params[name].shape)
        if name == "kernel" or isinstance(net[i], jc.LayerNorm):  # (kh, kw, I, O) -> OIHW; HWC -> CHW
            ours = ours.transpose(3, 2, 0, 1) if name == "kernel" else ours.transpose(2, 0, 1)
        ours = ours.T if name == "weight" else ours
        np.testing.assert_allclose(ours, params[source].grad.numpy(), rtol=0, atol=TOL, err_msg=source)
    assert len(net.torch_names) == len(params)


def test_verify_takes_the_model_layers_with_c(capsys):
    from jacobian_cnn.cli import main

    assert main(["verify", "--no-builtin", "--backends", "torch", "-c", "batchnorm", "x=3x3x2x2",
                 "-c", "layernorm", "x=4x3", "normalized_shape=4", "bias=false",
                 "-c", "dropout", "x=2x3x2", "p=0.25", "-c", "upsample", "x=3x3x1", "size=5x4",
                 "mode=bilinear"]) == 0
    out = capsys.readouterr().out
    rows = [line.split()[:2] for line in out.splitlines() if line.endswith("  ok")]
    assert rows == [["batchnorm", "input"], ["batchnorm", "gamma"], ["batchnorm", "beta"],
                    ["layernorm", "input"], ["layernorm", "gamma"], ["dropout", "input"],
                    ["upsample", "input"]]
    assert main(["verify", "--no-builtin", "-c", "dropout", "x=2x2"]) == 2
    assert "-c dropout: missing p=..." in capsys.readouterr().err
