"""Two architectures with the new layers, written in PyTorch and rebuilt here layer by layer.

* a 1-D CNN for sequences: Conv1d - ReLU - MaxPool1d - Conv1d (dilated, grouped) - Tanh -
  AvgPool1d - Flatten - Linear;
* a small U-Net-style decoder: ConvTranspose2d (stride 2) - ReLU - Conv2d - ReLU -
  ConvTranspose2d (stride 2, padding, output_padding) - Conv2d 1x1 - Sigmoid. (Nearest /
  bilinear ``Upsample`` and the skip connections' ``Concat`` belong to the other half of
  issue 14 and are not on main yet: this decoder up-samples with transposed convolutions
  only.)

``jc.from_torch`` is not on main yet either, so :func:`rebuild` maps each module by hand
(weights moved to this package's layouts). In float64 the network's full input Jacobian
(``Chain.jacobian``) equals ``torch.func.jacrev``'s and every parameter gradient of
``Chain.backward`` equals torch's ``backward``, within 1e-10.
"""

import numpy as np
import pytest

import jacobian_cnn as jc

torch = pytest.importorskip("torch")
nn = torch.nn


def _kernel(module, d):
    w = module.weight.detach().numpy()
    transposed = isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d))
    return w.transpose(tuple(range(2, 2 + d)) + ((0, 1) if transposed else (1, 0)))


def rebuild(model):
    """This package's ``Chain`` of a ``nn.Sequential`` made of the modules used here."""
    layers = []
    for m in model:
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)):
            d = m.weight.ndim - 2
            name = ("ConvTranspose" if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d))
                    else "Conv") + f"{d}D"
            options = dict(stride=m.stride, padding=m.padding, dilation=m.dilation, groups=m.groups)
            if "Transpose" in name:
                options["output_padding"] = m.output_padding
            layers.append(getattr(jc, name)(_kernel(m, d), m.bias.detach().numpy(), **options))
        elif isinstance(m, nn.MaxPool1d):
            layers.append(jc.MaxPool1D(m.kernel_size, stride=m.stride, padding=m.padding))
        elif isinstance(m, nn.AvgPool1d):
            layers.append(jc.AvgPool1D(m.kernel_size, stride=m.stride, padding=m.padding))
        elif isinstance(m, nn.Linear):
            layers.append(jc.Dense(m.weight.detach().numpy().T, m.bias.detach().numpy()))
        elif isinstance(m, nn.Flatten):  # one sample (C, L): torch's row-major = our vec of (L, C)
            layers.append(jc.Flatten("F"))
        else:
            layers.append({nn.ReLU: jc.ReLU, nn.Tanh: jc.Tanh, nn.Sigmoid: jc.Sigmoid}[type(m)]())
    return jc.Chain(layers)


def _ours(a, d):
    """One sample ``(C, *S)`` -> ``(*S, C)``; vectors and parameters by their own rule."""
    return a.transpose(tuple(range(1, d + 1)) + (0,))


def sequence_cnn():
    return nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(4, 6, 3, dilation=2, groups=2), nn.Tanh(), nn.AvgPool1d(2, stride=1, padding=1),
        nn.Flatten(0), nn.Linear(6 * 5, 3))


def unet_decoder():
    return nn.Sequential(
        nn.ConvTranspose2d(6, 4, 2, stride=2), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1), nn.Conv2d(2, 1, 1),
        nn.Sigmoid())


@pytest.mark.parametrize("build, x_shape", [(sequence_cnn, (2, 16)), (unet_decoder, (6, 3, 3))],
                         ids=["1d-cnn", "unet-decoder"])
def test_architecture_equals_pytorch(build, x_shape):
    torch.manual_seed(0)
    model = build().double()
    d = len(x_shape) - 1
    x_t = torch.randn(*x_shape, dtype=torch.float64)
    net, x = rebuild(model), _ours(x_t.numpy(), d)

    y_t = model(x_t)
    y = net.forward(x)
    y_vec = y_t.detach().numpy() if y_t.ndim == 1 else jc.vec(_ours(y_t.detach().numpy(), d))
    np.testing.assert_allclose(jc.vec(y), y_vec, rtol=0, atol=1e-12)

    # The full input Jacobian, torch's mapped into vec order over (S, C) maps.
    J_t = torch.func.jacrev(model)(x_t).detach().numpy().reshape(y_t.numel(), *x_shape)
    J_t = J_t.transpose((0,) + tuple(range(2, d + 2)) + (1,)).reshape(y_t.numel(), -1, order="F")
    if y_t.ndim > 1:  # output maps: rows in vec order too
        J_t = J_t.reshape(y_t.shape + (-1,)).transpose(tuple(range(1, d + 1)) + (0, d + 1))
        J_t = J_t.reshape(-1, J_t.shape[-1], order="F")
    J = net.jacobian(x)
    assert J.shape == J_t.shape
    np.testing.assert_allclose(J.toarray() if hasattr(J, "toarray") else J, J_t, rtol=0, atol=1e-10)

    # Every parameter gradient of <g, y> for one random cotangent g.
    g_t = torch.randn(y_t.shape, dtype=torch.float64)
    model.zero_grad()
    (y_t * g_t).sum().backward()
    g = g_t.numpy() if y_t.ndim == 1 else jc.vec(_ours(g_t.numpy(), d))
    grads = net.backward(x, g[None, :])
    torch_layers = [m for m in model if list(m.parameters())]
    ours = [i for i, layer in enumerate(net.layers) if layer.params]
    assert len(torch_layers) == len(ours)
    for m, i in zip(torch_layers, ours, strict=True):
        layer = net.layers[i]
        for name, value in layer.params.items():
            t_grad = (m.weight if name in ("kernel", "weight") else m.bias).grad.numpy()
            if name == "kernel":
                t_grad = t_grad.transpose(tuple(range(2, t_grad.ndim)) + (
                    (0, 1) if "Transpose" in type(layer).__name__ else (1, 0)))
            elif name == "weight":
                t_grad = t_grad.T
            ours_grad = jc.as_parameter_shape(grads.params[i][name], value.shape)[0]
            np.testing.assert_allclose(ours_grad, t_grad, rtol=0, atol=1e-10, err_msg=f"{i} {name}")
