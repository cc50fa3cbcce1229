"""Three architectures with the N-D and transposed layers, written in PyTorch and imported with
``jc.from_torch`` (no rebuilding by hand):

* a 1-D CNN for sequences: Conv1d - ReLU - MaxPool1d - Conv1d (dilated, grouped) - Tanh -
  AvgPool1d - ConvTranspose1d - Flatten - Linear, on ``(N, C, L)``;
* a small U-Net (an ``nn.Module`` that ``torch.fx`` traces): an encoder step (Conv2d - ReLU -
  MaxPool2d), a second one down to a bottleneck (AvgPool2d - Conv2d - Tanh), a decoder that
  goes up with ``ConvTranspose2d`` and with ``nn.Upsample`` (nearest), each followed by its
  skip connection ``torch.cat([up, skip], dim=1)``, and a head that up-samples bilinearly
  (``align_corners`` both ways);
* a 3-D network on ``(N, C, D, H, W)``: Conv3d - ReLU - MaxPool3d - Conv3d - AvgPool3d -
  ConvTranspose3d - Sigmoid.

In float64 each network's forward pass equals the model's, its full input Jacobian
(``Chain.jacobian``) equals ``torch.func.jacrev``'s and every parameter gradient of
``Chain.backward`` equals torch's ``backward`` (paired through ``net.torch_names``), within
1e-10. The expected values come from torch; the layout moves are written out here.
"""

import re

import numpy as np
import pytest

import jacobian_cnn as jc

torch = pytest.importorskip("torch")
nn = torch.nn

TOL = 1e-10


def _ours(a):
    """PyTorch's ``(N, C, *S)`` -> ours ``(*S, C, N)``; ``(N, n)`` -> ``(n, N)``."""
    return a.T if a.ndim == 2 else a.transpose(tuple(range(2, a.ndim)) + (1, 0))


def _vec_order(shape):
    """The row-major (PyTorch) flat index of each entry of ours, in ``vec`` order."""
    return jc.vec(_ours(np.arange(int(np.prod(shape))).reshape(shape)))


def _torch_layout(grad, module):
    """Our gradient of ``module``'s weight (or layer-norm bias) in PyTorch's layout."""
    d = grad.ndim - 2
    if isinstance(module, nn.Linear):
        return grad.T                                                        # (in, out) -> (out, in)
    if isinstance(module, nn.LayerNorm):
        return grad.transpose(2, 0, 1) if grad.ndim == 3 else grad           # (H, W, C) -> (C, H, W)
    if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        return grad.transpose((d, d + 1) + tuple(range(d)))   # (k..., C_in, C_out/g) -> (C_in, C_out/g, k...)
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return grad.transpose((d + 1, d) + tuple(range(d)))   # (k..., C_in/g, C_out) -> (C_out, C_in/g, k...)
    return grad                                               # batch norm: (C,)


def check_against_torch(model, input_shape, seed=0):
    """Import ``model`` and compare forward, input Jacobian and every parameter gradient."""
    torch.manual_seed(seed)
    model = model.double()
    net = jc.from_torch(model, input_shape)
    x_t = torch.randn(*input_shape, dtype=torch.float64)
    x = _ours(x_t.numpy())

    y_t = model(x_t)
    np.testing.assert_allclose(net.forward(x), _ours(y_t.detach().numpy()), rtol=0, atol=1e-12)

    J_t = torch.func.jacrev(model)(x_t).detach().numpy().reshape(y_t.numel(), x_t.numel())
    J_t = J_t[_vec_order(y_t.shape)][:, _vec_order(x_t.shape)]
    J = net.jacobian(x)
    assert J.shape == J_t.shape
    np.testing.assert_allclose(J.toarray(), J_t, rtol=0, atol=TOL)

    params = dict(model.named_parameters())
    assert sorted(net.torch_names.values()) == sorted(params)  # every parameter, once
    if not params:
        return net
    g_t = torch.randn(y_t.shape, dtype=torch.float64)
    model.zero_grad()
    (y_t * g_t).sum().backward()
    grads = net.backward(x, jc.vec(_ours(g_t.numpy()))[None, :])
    for (i, name), source in net.torch_names.items():
        shape = params[source].shape
        ours = jc.as_parameter_shape(grads.params[i][name], np.shape(net[i].params[name]))[0]
        module = model.get_submodule(source.rsplit(".", 1)[0])
        if source.endswith("weight") or isinstance(module, nn.LayerNorm):
            ours = _torch_layout(ours, module)
        assert ours.shape == shape, source
        np.testing.assert_allclose(ours, params[source].grad.numpy(), rtol=0, atol=TOL, err_msg=source)
    return net


def sequence_cnn():
    return nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(4, 6, 3, dilation=2, groups=2), nn.Tanh(),
        nn.AvgPool1d(2, stride=1, padding=1, count_include_pad=False),
        nn.ConvTranspose1d(6, 4, 3, stride=2, padding=1, output_padding=1, groups=2),
        nn.Flatten(), nn.Linear(4 * 10, 3))


class TinyUNet(nn.Module):
    """Two encoder steps, a bottleneck, two decoder steps with skips, an up-sampling head."""

    def __init__(self, align_corners):
        super().__init__()
        self.enc1 = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU())
        self.enc2 = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.bottleneck = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(4, 6, 3, padding=1), nn.Tanh())
        self.up2 = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1)
        self.dec2 = nn.Sequential(nn.Conv2d(8, 4, 3, padding=1), nn.ReLU())
        self.up1 = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec1 = nn.Conv2d(7, 2, 3, padding=1)
        self.head = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=align_corners),
            nn.Conv2d(2, 1, 1))

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        d2 = self.dec2(torch.cat([self.up2(self.bottleneck(e2)), e2], dim=1))
        d1 = torch.relu(self.dec1(torch.cat([self.up1(d2), e1], dim=1)))
        return self.head(d1)


def volume_cnn():
    return nn.Sequential(
        nn.Conv3d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool3d(2),
        nn.Conv3d(2, 2, (1, 3, 3), padding=(0, 1, 1)),
        nn.AvgPool3d(2, stride=1, padding=1, count_include_pad=False),
        nn.ConvTranspose3d(2, 1, 2, stride=2), nn.Sigmoid())


def test_sequence_cnn_equals_pytorch():
    net = check_against_torch(sequence_cnn(), (2, 2, 16))
    assert [type(layer).__name__ for layer in net.layers] == [
        "Conv1D", "ReLU", "MaxPool1D", "Conv1D", "Tanh", "AvgPool1D", "ConvTranspose1D", "Flatten",
        "Dense"]


@pytest.mark.parametrize("align_corners", [False, True])
def test_unet_with_skips_equals_pytorch(align_corners):
    net = check_against_torch(TinyUNet(align_corners), (2, 2, 4, 4), seed=1)
    concat = net.layers[2]  # enc1 (conv, relu), then the outer skip
    assert isinstance(concat, jc.Concat) and concat.paths[1] is None
    inner = [layer for layer in concat.paths[0].layers if isinstance(layer, jc.Concat)]
    assert len(inner) == 1 and any(isinstance(s, jc.ConvTranspose2D) for s in inner[0].paths[0].layers)
    ups = [layer for layer in concat.paths[0].layers + net.layers if isinstance(layer, jc.Upsample)]
    assert [(u.mode, u.align_corners) for u in ups] == [("nearest", False), ("bilinear", align_corners)]


def test_volume_cnn_equals_pytorch():
    net = check_against_torch(volume_cnn(), (1, 1, 4, 4, 4), seed=2)
    assert {"Conv3D", "MaxPool3D", "AvgPool3D", "ConvTranspose3D"} <= {type(s).__name__ for s in net.layers}


MODEL_FILE = '''
import torch.nn as nn


def sequence():
    return nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
                         nn.ConvTranspose1d(3, 2, 2, stride=2))


def volume():
    return nn.Sequential(nn.Conv3d(1, 2, 2), nn.Tanh(), nn.AvgPool3d(2, stride=1), nn.Flatten(),
                         nn.Linear(2, 3))
'''


@pytest.mark.parametrize("name, shape, rows", [
    ("sequence", "2x2x4", ["0.weight", "0.bias", "3.weight", "3.bias"]),
    ("volume", "1x1x3x3x3", ["0.weight", "0.bias", "4.weight", "4.bias"]),
])
def test_verify_takes_n_d_torch_models(tmp_path, capsys, name, shape, rows):
    from jacobian_cnn.cli import main

    (tmp_path / "model.py").write_text(MODEL_FILE)
    assert main(["verify", "--torch-model", f"{tmp_path / 'model.py'}:{name}", "--input-shape", shape]) == 0
    out = capsys.readouterr().out
    for row in ["forward", "input Jacobian", "input gradient"] + [f"{r} gradient" for r in rows]:
        assert re.search(rf"^{re.escape(row)} +\d\.\de[-+]\d\d  ok$", out, flags=re.M), row
    assert f"{len(rows) + 3} of {len(rows) + 3} agree with PyTorch's autograd" in out
