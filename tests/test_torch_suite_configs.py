"""PyTorch's own convolution, transposed-convolution and pooling test configurations agree.

Every row of ``torch_suite_configs.py`` (transcribed from PyTorch's test suite, cited
there) is built twice: as the ``torch.nn`` module with random float64 weights, and as this
package's layer with the same weights moved to its layouts. One backward call in torch
gives ``G . dy/dx`` and ``G . dy/dtheta`` for a random cotangent ``G``; they must equal
``vec(G) @ J`` for each of our Jacobians (input, kernel, bias), within 1e-10, and the
forward results must agree too. Shapes are PyTorch's small ones: the file runs in seconds.
"""

import numpy as np
import pytest
from torch_suite_configs import CONV, POOL

import jacobian_cnn as jc

torch = pytest.importorskip("torch")

OURS = {"Conv1d": jc.Conv1D, "Conv2d": jc.Conv2D, "Conv3d": jc.Conv3D,
        "ConvTranspose1d": jc.ConvTranspose1D, "ConvTranspose2d": jc.ConvTranspose2D,
        "ConvTranspose3d": jc.ConvTranspose3D,
        "AvgPool1d": jc.AvgPool1D, "AvgPool2d": jc.AvgPool2D, "AvgPool3d": jc.AvgPool3D,
        "MaxPool1d": jc.MaxPool1D, "MaxPool2d": jc.MaxPool2D, "MaxPool3d": jc.MaxPool3D}


def _ours(t, d):
    """A torch map ``(N, C, *S)`` (or unbatched ``(C, *S)``) in our layout ``(*S, C[, N])``."""
    a = t.detach().numpy()
    batched = a.ndim == d + 2
    return a.transpose(tuple(range(a.ndim - d, a.ndim)) + ((1, 0) if batched else (0,)))


def _kernel_in_our_layout(kind, w, d):
    """torch ``(C_out, C_in/g, k...)`` -> ``(k..., C_in/g, C_out)``; transposed ``(C_in, C_out/g, k...)``
    -> ``(k..., C_in, C_out/g)``: the window axes first, the channel axes after them."""
    return w.transpose(tuple(range(2, 2 + d)) + ((0, 1) if kind.startswith("ConvTranspose") else (1, 0)))


def _layer(kind, module, kw, d):
    if kind.startswith("Conv"):
        kernel = _kernel_in_our_layout(kind, module.weight.detach().numpy(), d)
        bias = None if module.bias is None else module.bias.detach().numpy()
        options = {k: v for k, v in kw.items() if k in ("stride", "padding", "dilation", "groups",
                                                        "output_padding")}
        return OURS[kind](kernel, bias, **options)
    options = {k: v for k, v in kw.items() if k != "kernel_size"}
    return OURS[kind](kw["kernel_size"], **options)


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's performance hint
@pytest.mark.parametrize("name, kind, kw, shape", CONV + POOL, ids=[row[0] for row in CONV + POOL])
def test_pytorch_test_suite_configuration_agrees(name, kind, kw, shape):
    d = int(kind[-2])
    torch.manual_seed(sum(map(ord, name)))
    module = getattr(torch.nn, kind)(**kw).double()
    x_t = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    y_t = module(x_t)
    g_t = torch.randn(y_t.shape, dtype=torch.float64)
    params = [p for p in (getattr(module, "weight", None), getattr(module, "bias", None)) if p is not None]
    grads = torch.autograd.grad(y_t, [x_t, *params], g_t, allow_unused=True) if y_t.numel() else None

    layer, x = _layer(kind, module, kw, d), _ours(x_t, d)
    y = layer.forward(x)
    assert y.shape == _ours(y_t, d).shape
    np.testing.assert_allclose(y, _ours(y_t, d), rtol=0, atol=1e-10)
    g = jc.vec(_ours(g_t, d))
    if grads is None:  # an empty batch: empty Jacobians
        assert all(layer.jacobian(x, wrt).shape[0] == 0 for wrt in ("input", *layer.params))
        return
    np.testing.assert_allclose(g @ layer.jacobian(x), jc.vec(_ours(grads[0], d)), rtol=0, atol=1e-10)
    for (wrt, value), grad in zip(layer.params.items(), grads[1:], strict=True):
        expected = grad.numpy() if wrt == "bias" else _kernel_in_our_layout(kind, grad.numpy(), d)
        assert expected.shape == value.shape
        np.testing.assert_allclose(g @ layer.jacobian(x, wrt), jc.vec(expected), rtol=0, atol=1e-10)
