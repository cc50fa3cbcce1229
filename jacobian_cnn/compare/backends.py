"""The backends' side of a comparison: which are installed, and their autograd Jacobian in vec order.

:func:`backend_jacobian` translates a layer or chain with
:mod:`~jacobian_cnn.compare.torch_layers` or :mod:`~jacobian_cnn.compare.jax_layers`,
differentiates it with ``torch.func.jacrev`` / ``jax.jacrev`` in float64 and maps the
result into vec order (``P_y @ J_theirs @ P_x.T``, :mod:`jacobian_cnn.compare.layout`).
PyTorch and JAX are optional: they are imported only when a Jacobian is asked for, and a
missing one raises ``ImportError`` saying what to install.
"""

from __future__ import annotations

import contextlib
import importlib.util
import warnings

import numpy as np

from jacobian_cnn._arguments import byte_limit
from jacobian_cnn.chain import Chain
from jacobian_cnn.compare.jax_layers import jax_layer
from jacobian_cnn.compare.layout import jacobian_to_vec, permutation_matrix, to_layout
from jacobian_cnn.compare.torch_layers import torch_layer
from jacobian_cnn.compare.translation import BACKEND_LAYOUTS, param_layout, translate_layers
from jacobian_cnn.errors import InvalidValueError, JacobianTooLargeError

__all__ = ["BACKENDS", "INSTALL", "available_backends", "import_backend", "chain_target",
           "backend_jacobian"]

BACKENDS = ("torch", "jax")

INSTALL = {
    "torch": "pip install torch==2.13.0 (the CPU build; or the 'torch' extra of jacobian_cnn)",
    "jax": "pip install jax (or the 'jax' extra of jacobian_cnn)",
}
"""Backend -> how to install it (said by the ``ImportError`` of a missing one)."""


def available_backends():
    """The installed backends among ``("torch", "jax")``, without importing them.

    Examples
    --------
    >>> from jacobian_cnn.compare.jacobians import available_backends
    >>> set(available_backends()) <= {"torch", "jax"}
    True
    """
    return tuple(b for b in BACKENDS if importlib.util.find_spec(b) is not None)


def import_backend(backend):
    """The module ``torch`` or ``jax``; ``ImportError`` saying what to install if it is missing."""
    if backend not in BACKENDS:
        raise InvalidValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if importlib.util.find_spec(backend) is None:
        raise ImportError(f"comparing with {backend} needs {backend}, which is not installed: "
                          f"{INSTALL[backend]}")
    return importlib.import_module(backend)


def chain_target(chain, wrt):
    """``(layer_index, name)`` from a chain's ``wrt``, checked against the chain's layers."""
    try:
        i, name = wrt
        params = chain.layers[i].params
    except (TypeError, ValueError, IndexError):
        raise InvalidValueError(
            f"wrt for a Chain must be 'input' or (layer_index, name), got {wrt!r}") from None
    if name not in params:
        raise InvalidValueError(f"layers[{i}] ({chain.layers[i]!r}) has parameters {list(params)}, "
                                f"not {name!r}")
    return i, name


def _check_dense_size(layer, x, wrt, target, max_bytes):
    """Refuse a dense ``(y.size, wrt.size)`` float64 Jacobian over ``max_bytes``, from
    this package's forward pass alone (before the backend is imported or called)."""
    limit = byte_limit(max_bytes)
    y_size = int(np.size(layer.forward(x)))
    layers = layer.layers if isinstance(layer, Chain) else [layer]
    n_wrt = x.size if target is None else int(np.size(layers[target[0]].params[target[1]]))
    estimate = y_size * n_wrt * 8
    if estimate > limit:
        raise JacobianTooLargeError(
            f"the autograd Jacobian of {layer!r} wrt {wrt!r} is dense: {y_size:,} x {n_wrt:,} "
            f"float64 entries, about {estimate:,} bytes, over max_bytes={limit:,}; pass a "
            "larger max_bytes or a smaller input")


def backend_jacobian(layer, x, wrt, backend, max_bytes=None):
    """``(J in vec order, vec(y), description)`` from the backend's autograd.

    The arguments are those of :func:`jacobian_cnn.compare.jacobians.jacobian`; the
    description is the chain of backend calls that was differentiated.
    """
    x = np.asarray(x, dtype=np.float64)
    layers = layer.layers if isinstance(layer, Chain) else [layer]
    if isinstance(layer, Chain):
        target = None if wrt == "input" else chain_target(layer, wrt)
    else:
        if wrt != "input" and wrt not in layer.params:
            raise InvalidValueError(f"{layer!r} has parameters {list(layer.params)}, not {wrt!r}")
        target = None if wrt == "input" else (0, wrt)
    _check_dense_size(layer, x, wrt, target, max_bytes)
    import_backend(backend)
    translate = torch_layer if backend == "torch" else jax_layer
    layouts = BACKEND_LAYOUTS[backend]

    x_kind, ops, y_kind, y = translate_layers(layers, x, translate)
    y_shape = y.shape
    params = {(i, name): to_layout(value, param_layout(sub, name, backend))
              for i, sub in enumerate(layers) for name, value in sub.params.items()}

    def run(arg):
        values = dict(params)
        if target is not None:
            values[target] = arg
        h = arg if target is None else x_native
        for i, (fn, _) in enumerate(ops):
            h = fn(h, {name: v for (j, name), v in values.items() if j == i})
        return h

    y_layout = layouts.get(y_kind)
    if target is None:
        arg_shape, arg_layout = x.shape, layouts[x_kind]
    else:
        arg_shape = np.shape(layers[target[0]].params[target[1]])
        arg_layout = param_layout(layers[target[0]], target[1], backend)
    if backend == "torch":
        import torch
        from torch.func import jacrev

        x_native = torch.tensor(to_layout(x, layouts[x_kind]), dtype=torch.float64)
        params = {k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()}
        arg = x_native if target is None else params[target]
        with warnings.catch_warnings():  # torch's performance hint about padding='same'
            warnings.filterwarnings("ignore", message="Using padding='same'")
            y_native = run(arg).detach().numpy()
            # An empty output (N = 0) has an empty Jacobian; torch's jacrev fails on it
            # for some operations (a convolution's kernel).
            J = (jacrev(run)(arg).detach().numpy() if y_native.size
                 else np.zeros(y_native.shape + tuple(arg.shape)))
    else:
        import jax

        with _jax_x64(jax):
            x_native = jax.numpy.asarray(to_layout(x, layouts[x_kind]))
            params = {k: jax.numpy.asarray(v) for k, v in params.items()}
            arg = x_native if target is None else params[target]
            y_native = np.asarray(run(arg))
            J = np.asarray(jax.jit(jax.jacrev(run))(arg))
    J = jacobian_to_vec(J, y_shape if y_layout else (), y_layout, arg_shape, arg_layout)
    y_vec = (permutation_matrix(y_shape, y_layout) @ y_native.ravel() if y_layout
             else y_native.ravel())
    return J, y_vec, " -> ".join(text for _, text in ops)


def _jax_x64(jax):
    """JAX's float64 mode for the duration of a comparison, without touching the global flag."""
    enable = getattr(jax, "enable_x64", None)
    if enable is None:  # older JAX
        from jax.experimental import enable_x64 as enable
    return enable(True) if enable is not None else contextlib.nullcontext()
