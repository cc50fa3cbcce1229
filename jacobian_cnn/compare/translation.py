"""What the PyTorch and JAX translations of the layers share.

:data:`BACKEND_LAYOUTS` says in which layout (:mod:`jacobian_cnn.compare.layout`) each
backend holds each kind of array; :func:`input_kind` decides whether an input is read as
feature maps or vectors; :func:`translate_layers` walks a chain through a translation;
:func:`ceil_overhang` is the extent ``ceil_mode`` windows reach
past the padding; :func:`no_equivalent` is the error for a layer neither backend knows.
The translations themselves are :mod:`jacobian_cnn.compare.torch_layers` and
:mod:`jacobian_cnn.compare.jax_layers`. Nothing here imports torch or JAX.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn.errors import InvalidTypeError
from jacobian_cnn.ops.activations import Softmax
from jacobian_cnn.ops.activations_more import LogSoftmax
from jacobian_cnn.ops.conv import Conv2D
from jacobian_cnn.ops.dense import Dense
from jacobian_cnn.ops.losses import SoftmaxCrossEntropy
from jacobian_cnn.ops.normalization import BatchNorm2D, LayerNorm
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D
from jacobian_cnn.ops.reshape import Flatten
from jacobian_cnn.ops.separable import SeparableMap

__all__ = ["BACKEND_LAYOUTS", "param_layout", "input_kind", "translate_layers", "ceil_overhang",
           "NoEquivalentError", "no_equivalent"]

BACKEND_LAYOUTS = {
    "torch": {"maps": "NCHW", "vectors": "NC", "kernel": "OIHW", "weight": "NC", "bias": "C",
              "gamma": "CHW", "beta": "CHW"},
    "jax": {"maps": "NHWC", "vectors": "NC", "kernel": "HWIO", "weight": "IO", "bias": "C"},
}
"""Backend -> kind of array (``"maps"``, ``"vectors"`` or a parameter name) -> layout name."""


def param_layout(layouts, name):
    """The layout of parameter ``name`` in ``layouts`` (one backend's :data:`BACKEND_LAYOUTS`);
    a nested name ``"body.0.kernel"`` (a branch layer's) is laid out as its last part."""
    return layouts[name.rsplit(".", 1)[-1]]


def _kind_of(layer):
    """``"maps"``, ``"vectors"`` or ``None``: what ``layer`` reads, if it cares."""
    if isinstance(layer, (Conv2D, AvgPool2D, MaxPool2D, Flatten, BatchNorm2D, SeparableMap)):
        return "maps"
    if isinstance(layer, (Dense, Softmax, SoftmaxCrossEntropy, LogSoftmax)):
        return "vectors"
    if isinstance(layer, LayerNorm):
        return "maps" if len(layer._param_shape) == 3 else "vectors"
    for path in getattr(layer, "paths", ()):  # a branch layer: its paths' first layer that cares
        for sub in () if path is None else path.layers:
            if _kind_of(sub) is not None:
                return _kind_of(sub)
    return None


def input_kind(layers, x):
    """Whether ``x`` is read as ``"maps"`` or ``"vectors"``: the first layer that cares decides.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> from jacobian_cnn.compare.translation import input_kind
    >>> input_kind([jc.ReLU(), jc.Dense(np.ones((3, 2)))], np.zeros(3))
    'vectors'
    """
    for layer in layers:
        if _kind_of(layer) is not None:
            return _kind_of(layer)
    return "vectors" if np.ndim(x) == 1 else "maps"  # elementwise all the way


def translate_layers(layers, x, translate):
    """Translate ``layers`` one by one, with this package's forward pass walking alongside.

    The forward pass checks ``x`` and the geometry with this package's messages, and gives
    each layer the shape and kind (``"maps"``, ``"vectors"``) of its input.

    Parameters
    ----------
    layers : sequence of layers
    x : numpy.ndarray
        The input, in this package's layout.
    translate : callable
        ``translate(layer, kind, shape) -> (fn, out_kind, text)``:
        :func:`~jacobian_cnn.compare.torch_layers.torch_layer` or
        :func:`~jacobian_cnn.compare.jax_layers.jax_layer`.

    Returns
    -------
    (str, list, str, numpy.ndarray)
        ``(x_kind, steps, y_kind, y)``: the input's kind, ``(fn, text)`` per layer, the
        output's kind (``"scalar"`` after a loss) and this package's output.
    """
    kind = x_kind = input_kind(layers, x)
    h, steps = x, []
    for layer in layers:
        fn, out_kind, text = translate(layer, kind, np.shape(h))
        steps.append((fn, text))
        h = np.asarray(layer.forward(h))
        kind = kind if out_kind == "same" else out_kind
    return x_kind, steps, kind, h


def ceil_overhang(layer, shape):
    """Extra bottom/right extent of a pooling layer's ``ceil_mode`` windows past the padding.

    Parameters
    ----------
    layer : AvgPool2D or MaxPool2D
    shape : tuple of int
        The layer's input shape, ``(H, W, ...)``.

    Returns
    -------
    (int, int)
        Rows and columns past the bottom/right padding (0 without ``ceil_mode``).

    Examples
    --------
    >>> import jacobian_cnn as jc
    >>> from jacobian_cnn.compare.translation import ceil_overhang
    >>> ceil_overhang(jc.AvgPool2D(2, ceil_mode=True), (5, 4))
    (1, 0)
    """
    geo = layer.geometry(shape[:2])
    out = []
    for axis in range(2):
        span = geo.dilation[axis] * (geo.window[axis] - 1) + 1
        end = (geo.out_size[axis] - 1) * geo.stride[axis] + span
        out.append(max(0, end - (geo.in_size[axis] + sum(geo.padding[axis]))))
    return tuple(out)


class NoEquivalentError(InvalidTypeError, NotImplementedError):
    """A layer type with no translation to the backend.

    It is both errors the callers document: a ``TypeError`` from
    :func:`jacobian_cnn.compare.jacobians.compare` and
    :func:`~jacobian_cnn.compare.jacobians.jacobian`, a ``NotImplementedError`` from
    :func:`jacobian_cnn.training.torch_gradients`.
    """


def no_equivalent(layer, backend):
    """The :class:`NoEquivalentError` for ``layer`` in ``backend``, naming what is supported."""
    more = ("; in torch also BatchNorm2D, LayerNorm, Dropout, Identity, the padding layers, Upsample, "
            "AdaptiveAvgPool2D, GlobalAvgPool2D, LeakyReLU, ELU, GELU, Softplus, LogSoftmax and the "
            "branch layers Add, Residual, Concat") if backend == "torch" else ""
    return NoEquivalentError(
        f"no {backend} equivalent is known for {layer!r} ({type(layer).__name__}); "
        "supported: Conv2D, AvgPool2D, MaxPool2D, Flatten, Dense, ReLU, Sigmoid, "
        f"Tanh, Softmax, MSELoss, SoftmaxCrossEntropy and Chains of them{more}")
