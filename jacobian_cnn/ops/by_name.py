"""Operations by name: the one spelling of each op name, and the one factory.

The command line (``show``, ``check``, ``verify``), the case table
(:mod:`jacobian_cnn.cases`), the tests and the benchmarks all name operations with
:data:`OP_NAMES` and build layers with :func:`make_layer`. ``avg`` and ``max`` are
accepted as the short forms of ``avgpool`` and ``maxpool`` (:func:`op_name`), and
nowhere else.

Examples
--------
>>> import numpy as np
>>> from jacobian_cnn.ops.by_name import make_layer, op_name
>>> op_name("avg")
'avgpool'
>>> make_layer("avgpool", {}, {"window": 2, "stride": 1})
AvgPool2D(2x2, stride=1)
>>> make_layer("dense", {"weight": np.ones((3, 2))}, {}).weight.shape
(3, 2)
"""

from __future__ import annotations

from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops.activations import ReLU, Sigmoid, Softmax, Tanh
from jacobian_cnn.ops.conv import Conv2D
from jacobian_cnn.ops.conv_nd import Conv1D, Conv3D
from jacobian_cnn.ops.conv_transpose import ConvTranspose1D, ConvTranspose2D, ConvTranspose3D
from jacobian_cnn.ops.dense import Dense
from jacobian_cnn.ops.losses import MSELoss, SoftmaxCrossEntropy
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D
from jacobian_cnn.ops.pooling_nd import AvgPool1D, AvgPool3D, MaxPool1D, MaxPool3D
from jacobian_cnn.ops.reshape import Flatten

__all__ = ["GRID_OP_NAMES", "LAYER_CLASSES", "OP_NAMES", "PARAMETERS", "SHORT_NAMES", "make_layer",
           "op_name"]

OP_NAMES = ("conv", "avgpool", "maxpool", "flatten", "dense", "relu", "sigmoid", "tanh",
            "softmax", "mse", "xent")
"""Every operation's one name, in the order the documentation lists them."""

PARAMETERS = {"conv": ("kernel", "bias"), "dense": ("weight", "bias"), "mse": ("target",),
              "xent": ("labels",)}
"""The arrays each operation takes (the others take none); ``bias`` may be left out."""

SHORT_NAMES = {"avg": "avgpool", "max": "maxpool"}
"""The short forms accepted where users type an operation name."""

LAYER_CLASSES = {"conv": Conv2D, "avgpool": AvgPool2D, "maxpool": MaxPool2D, "flatten": Flatten,
                 "dense": Dense, "relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "softmax": Softmax,
                 "mse": MSELoss, "xent": SoftmaxCrossEntropy}
"""Each operation's layer class."""

# 1-D, 3-D and transposed window layers (issue 14, part B). Accepted by op_name and
# make_layer (the case table, verify's table rows); not yet offered by show/check/explore.
GRID_OP_NAMES = ("conv1d", "conv3d", "convtranspose1d", "convtranspose2d", "convtranspose3d",
                 "avgpool1d", "avgpool3d", "maxpool1d", "maxpool3d")
"""The N-dimensional window layers' names (:mod:`jacobian_cnn.ops.window_nd`)."""
PARAMETERS.update({name: ("kernel", "bias") for name in GRID_OP_NAMES if name.startswith("conv")})
LAYER_CLASSES.update(zip(GRID_OP_NAMES, (Conv1D, Conv3D, ConvTranspose1D, ConvTranspose2D,
                                         ConvTranspose3D, AvgPool1D, AvgPool3D, MaxPool1D, MaxPool3D),
                         strict=True))


def op_name(name):
    """The one spelling of an operation name (``avg`` -> ``avgpool``, ``max`` -> ``maxpool``).

    Raises
    ------
    InvalidValueError
        ``name`` is not an operation.
    """
    if isinstance(name, str) and name in SHORT_NAMES:
        return SHORT_NAMES[name]
    if isinstance(name, str) and name in OP_NAMES + GRID_OP_NAMES:
        return name
    raise InvalidValueError(f"op must be one of {', '.join(OP_NAMES)} (avg and max are short for "
                            f"avgpool and maxpool), got {name!r}")


def make_layer(op, params, options):
    """Build the layer of operation ``op``.

    Parameters
    ----------
    op : str
        An operation name (:func:`op_name`).
    params : dict
        The arrays the operation takes (:data:`PARAMETERS`): ``kernel`` and ``bias`` for
        ``conv``, ``weight`` and ``bias`` for ``dense``, ``target`` for ``mse``,
        ``labels`` for ``xent``; a missing ``bias`` means none.
    options : dict
        The layer's keyword options (``stride``, ``padding``, ...); pooling takes its
        ``window`` here too.

    Returns
    -------
    Layer
    """
    op = op_name(op)
    options = dict(options)
    arrays = [params.get(name) for name in PARAMETERS.get(op, ())]  # bias may be missing: None
    if "pool" in op:
        arrays = [options.pop("window")]
    return LAYER_CLASSES[op](*arrays, **options)
