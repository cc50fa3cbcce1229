"""An imported PyTorch model against PyTorch's autograd (``jacobian-cnn verify --torch-model``).

:func:`load_model` imports a user's file (runs it) and takes a model from it;
:func:`check_torch_model` converts the model with :func:`~jacobian_cnn.from_torch` and compares,
on a random input, the forward pass, the input Jacobian and the gradient of ``sum(g * y)``
(``g`` random) of the input and of every parameter with autograd's.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import numpy as np

from jacobian_cnn.checking import compare_jacobians
from jacobian_cnn.compare.from_torch import from_torch
from jacobian_cnn.compare.layout import from_layout, jacobian_to_vec, to_layout
from jacobian_cnn.compare.translation import param_layout
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.vec import unvec, vec

__all__ = ["load_model", "check_torch_model"]

_LAYOUTS = {2: "NC", 3: "NCL", 4: "NCHW", 5: "NCDHW"}


def load_model(spec):
    """The ``nn.Module`` named by ``FILE.py:NAME`` (the file is imported, i.e. run)."""
    import torch

    path, sep, name = spec.rpartition(":")
    if not sep or not path.endswith(".py") or not name:
        raise InvalidValueError(f"--torch-model must be FILE.py:NAME, got {spec!r}")
    file = pathlib.Path(path)
    if not file.is_file():
        raise InvalidValueError(f"--torch-model: no file {path!r}")
    module_spec = importlib.util.spec_from_file_location(f"_jacobian_cnn_user_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, str(file.parent.resolve()))  # the file may import its neighbours
    try:
        module_spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    if not hasattr(module, name):
        raise InvalidValueError(f"--torch-model: {path} defines no {name!r}")
    model = getattr(module, name)
    model = model if isinstance(model, torch.nn.Module) else model()
    if not isinstance(model, torch.nn.Module):
        raise InvalidValueError(f"--torch-model: {name} in {path} is not a torch.nn.Module, nor "
                                f"returns one when called (got {type(model).__name__})")
    return model.double()


def check_torch_model(model, input_shape, seed, tolerance=1e-9):
    """``([(what, JacobianReport), ...], number of layers)`` for ``model`` on a random input.

    ``what`` is ``"forward"``, ``"input Jacobian"``, ``"input gradient"`` or
    ``"<parameter> gradient"`` (PyTorch's parameter names).
    """
    import torch

    net = from_torch(model, input_shape)
    rng = np.random.default_rng(seed)
    x_torch = torch.tensor(rng.normal(size=tuple(input_shape)), requires_grad=True)
    y = model(x_torch)
    if y.ndim not in _LAYOUTS:
        raise InvalidValueError(f"--torch-model: the model's output must be (N, n), (N, C, L), "
                                f"(N, C, H, W) or (N, C, D, H, W), got shape {tuple(y.shape)}")
    x = from_layout(x_torch.detach().numpy(), _LAYOUTS[x_torch.ndim])
    ours_y = net.forward(x)
    rows = [("forward", compare_jacobians(vec(ours_y)[None], vec(from_layout(
        y.detach().numpy(), _LAYOUTS[y.ndim]))[None], atol=tolerance, rtol=0))]
    J = torch.autograd.functional.jacobian(model, x_torch.detach()).numpy()
    J = jacobian_to_vec(J, ours_y.shape, _LAYOUTS[y.ndim], x.shape, _LAYOUTS[x_torch.ndim])
    rows.append(("input Jacobian", compare_jacobians(net.jacobian(x), J, atol=tolerance, rtol=0)))
    g = rng.normal(size=tuple(y.shape))
    (y * torch.tensor(g)).sum().backward()
    grads = net.backward(x, vec(from_layout(g, _LAYOUTS[y.ndim])))
    rows.append(("input gradient", compare_jacobians(
        grads.input, vec(from_layout(x_torch.grad.numpy(), _LAYOUTS[x_torch.ndim]))[None],
        atol=tolerance, rtol=0)))
    params = dict(model.named_parameters())
    for (i, name), torch_name in net.torch_names.items():
        ours = unvec(grads.params[i][name][0], np.shape(net[i].params[name]))
        ours = to_layout(ours, param_layout(net[i], name, "torch")).reshape(
            params[torch_name].shape)
        rows.append((f"{torch_name} gradient", compare_jacobians(
            ours.reshape(1, -1), params[torch_name].grad.numpy().reshape(1, -1),
            atol=tolerance, rtol=0)))
    return rows, len(net)
