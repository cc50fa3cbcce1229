"""``jacobian-cnn verify --torch-model FILE.py:NAME --input-shape NxCxHxW``.

Imports the user's file (it is run, as ``python FILE.py`` would run it, so only use files you
trust), takes ``NAME`` from it (an ``nn.Module``, or a class or function that returns one
when called without arguments), converts it with :func:`jacobian_cnn.from_torch` in float64
and compares, on a random input: the forward pass, the input Jacobian and the gradient of
``sum(g * y)`` (``g`` random) of every parameter with PyTorch's autograd. Exits 1 on a
mismatch.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re
import sys

import numpy as np

from jacobian_cnn.checking import compare_jacobians
from jacobian_cnn.errors import InvalidValueError

__all__ = ["load_model", "verify_model"]


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


def verify_model(spec, input_shape, seed, tolerance=1e-9):
    """Print one row per compared quantity; return the exit status (0 ok, 1 mismatch)."""
    import torch

    from jacobian_cnn.compare.from_torch import from_torch, our_shape
    from jacobian_cnn.compare.layout import from_layout, jacobian_to_vec, to_layout
    from jacobian_cnn.compare.translation import BACKEND_LAYOUTS, param_layout
    from jacobian_cnn.vec import unvec, vec

    text = input_shape
    if not re.fullmatch(r"[1-9]\d*(x[1-9]\d*){1,3}", text) or text.count("x") == 2:
        raise InvalidValueError(f"--input-shape must be NxCxHxW or Nxn (positive sizes), got {text!r}")
    input_shape = tuple(int(v) for v in text.split("x"))
    model = load_model(spec)
    net = from_torch(model, input_shape)
    rng = np.random.default_rng(seed)
    x_torch = torch.tensor(rng.normal(size=tuple(input_shape)), requires_grad=True)
    y = model(x_torch)
    layouts = {4: "NCHW", 2: "NC"}
    if y.ndim not in layouts:
        raise InvalidValueError(f"--torch-model: the model's output must be (N, C, H, W) or (N, n), "
                                f"got shape {tuple(y.shape)}")
    x = from_layout(x_torch.detach().numpy(), layouts[x_torch.ndim])
    ours_y = net.forward(x)
    rows = [("forward", compare_jacobians(vec(ours_y)[None], vec(from_layout(
        y.detach().numpy(), layouts[y.ndim]))[None], atol=tolerance, rtol=0))]
    J = torch.autograd.functional.jacobian(model, x_torch.detach()).numpy()
    J = jacobian_to_vec(J, ours_y.shape, layouts[y.ndim], x.shape, layouts[x_torch.ndim])
    rows.append(("input Jacobian", compare_jacobians(net.jacobian(x), J, atol=tolerance, rtol=0)))
    g = rng.normal(size=tuple(y.shape))
    (y * torch.tensor(g)).sum().backward()
    grads = net.backward(x, vec(from_layout(g, layouts[y.ndim])))
    rows.append(("input gradient", compare_jacobians(
        grads.input, vec(from_layout(x_torch.grad.numpy(), layouts[x_torch.ndim]))[None],
        atol=tolerance, rtol=0)))
    params = dict(model.named_parameters())
    for (i, name), torch_name in net.torch_names.items():
        ours = unvec(grads.params[i][name][0], np.shape(net[i].params[name]))
        ours = to_layout(ours, param_layout(BACKEND_LAYOUTS["torch"], name)).reshape(
            params[torch_name].shape)
        rows.append((f"{torch_name} gradient", compare_jacobians(
            ours.reshape(1, -1), params[torch_name].grad.numpy().reshape(1, -1),
            atol=tolerance, rtol=0)))
    print(f"{spec}: {len(net)} layers, input {tuple(input_shape)} (ours {our_shape(input_shape)})")
    width = max(len(what) for what, _ in rows) + 2
    for what, report in rows:
        print(f"{what:<{width}}{report.max_abs_error:>10.1e}  {'ok' if report.ok else 'MISMATCH'}")
    failures = sum(not report.ok for _, report in rows)
    print(f"\n{len(rows) - failures} of {len(rows)} agree with PyTorch's autograd (max |ours - "
          f"theirs|, tolerance {tolerance:g})" + (f"; {failures} MISMATCH" if failures else ""))
    return 1 if failures else 0
