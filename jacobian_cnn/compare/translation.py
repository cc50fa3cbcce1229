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
from jacobian_cnn.ops.conv_transpose import ConvTransposeND
from jacobian_cnn.ops.dense import Dense
from jacobian_cnn.ops.grid_layer import GridLayer
from jacobian_cnn.ops.losses import SoftmaxCrossEntropy
from jacobian_cnn.ops.normalization import BatchNorm2D, LayerNorm
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D
from jacobian_cnn.ops.reshape import Flatten
from jacobian_cnn.ops.separable import SeparableMap

__all__ = ["BACKEND_LAYOUTS", "GRID_KERNEL_LAYOUTS", "MAPS_KINDS", "param_layout", "input_kind",
           "translate_layers", "ceil_overhang", "NoEquivalentError", "no_equivalent"]

BACKEND_LAYOUTS = {
    "torch": {"maps": "NCHW", "vectors": "NC", "kernel": "OIHW", "weight": "NC", "bias": "C",
              "maps1d": "NCL", "maps3d": "NCDHW", "gamma": "CHW", "beta": "CHW"},
    "jax": {"maps": "NHWC", "vectors": "NC", "kernel": "HWIO", "weight": "IO", "bias": "C",
            "maps1d": "NLC", "maps3d": "NDHWC", "gamma": "HWC", "beta": "HWC"},
}
"""Backend -> kind of array (``"maps"``, ``"vectors"`` or a parameter name) -> layout name."""

GRID_KERNEL_LAYOUTS = {
    "torch": {"conv": {1: "OIL", 2: "OIHW", 3: "OIDHW"}, "transposed": {1: "IOL", 2: "IOHW", 3: "IODHW"}},
    "jax": {"conv": {1: "LIO", 2: "HWIO", 3: "DHWIO"}, "transposed": {1: "LIO", 2: "HWIO", 3: "DHWIO"}},
}
"""Backend -> N-D kernel kind -> spatial axes -> layout of the kernels of
:mod:`jacobian_cnn.ops.conv_nd` and :mod:`jacobian_cnn.ops.conv_transpose`."""

MAPS_KINDS = {1: "maps1d", 2: "maps", 3: "maps3d"}
"""The kind of the maps of a layer with this many spatial axes."""


def param_layout(layer, name, backend):
    """The layout ``backend`` holds ``layer``'s parameter ``name`` in.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> from jacobian_cnn.compare.translation import param_layout
    >>> param_layout(jc.ConvTranspose2D(np.ones((2, 2, 1, 1))), "kernel", "torch")
    'IOHW'

    A branch layer's nested parameter (``"body.0.kernel"``) is laid out as in its own layer.
    """
    if "." in name and hasattr(layer, "paths"):
        path, index, rest = name.split(".", 2)
        return param_layout(layer.paths[layer.path_names.index(path)].layers[int(index)], rest, backend)
    if name != "kernel" or not isinstance(layer, GridLayer):
        return BACKEND_LAYOUTS[backend][name]
    kind = "transposed" if isinstance(layer, ConvTransposeND) else "conv"
    layouts = GRID_KERNEL_LAYOUTS[backend].get(kind)
    if layouts is None:
        raise no_equivalent(layer, backend)
    return layouts[layer.spatial_ndim]


def _kind_of(layer):
    """``"maps"`` (``"maps1d"``, ``"maps3d"``), ``"vectors"`` or ``None``: what ``layer`` reads,
    if it cares."""
    if isinstance(layer, (GridLayer, Flatten)):
        return MAPS_KINDS[layer.spatial_ndim]
    if isinstance(layer, (Conv2D, AvgPool2D, MaxPool2D, BatchNorm2D, SeparableMap)):
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
    more = " and the branch layers Add, Residual, Concat (torch only)" if backend == "torch" else ""
    return NoEquivalentError(
        f"no {backend} equivalent is known for {layer!r} ({type(layer).__name__}); "
        "supported: Conv2D, AvgPool2D, MaxPool2D, Flatten, Dense, ReLU, Sigmoid, "
        "Tanh, Softmax, MSELoss, SoftmaxCrossEntropy, Conv1D, Conv3D, AvgPool1D/3D, MaxPool1D/3D, "
        "ConvTranspose1D/2D/3D, BatchNorm2D, LayerNorm, Dropout, Identity, the padding layers, Upsample, "
        "AdaptiveAvgPool2D, GlobalAvgPool2D, LeakyReLU, ELU, GELU, Softplus, LogSoftmax, "
        f"and Chains of them{more}")
