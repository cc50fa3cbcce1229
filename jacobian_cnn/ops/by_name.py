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
from jacobian_cnn.ops.activations_more import ELU, GELU, Dropout, Identity, LeakyReLU, LogSoftmax, Softplus
from jacobian_cnn.ops.conv import Conv2D
from jacobian_cnn.ops.conv_nd import Conv1D, Conv3D
from jacobian_cnn.ops.conv_transpose import ConvTranspose1D, ConvTranspose2D, ConvTranspose3D
from jacobian_cnn.ops.dense import Dense
from jacobian_cnn.ops.losses import MSELoss, SoftmaxCrossEntropy
from jacobian_cnn.ops.normalization import BatchNorm2D, LayerNorm
from jacobian_cnn.ops.padding import ConstantPad2D, ReflectionPad2D, ReplicationPad2D, ZeroPad2D
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D
from jacobian_cnn.ops.pooling_nd import AvgPool1D, AvgPool3D, MaxPool1D, MaxPool3D
from jacobian_cnn.ops.resample import AdaptiveAvgPool2D, GlobalAvgPool2D, Upsample
from jacobian_cnn.ops.reshape import Flatten

__all__ = ["GRID_OP_NAMES", "LAYER_CLASSES", "MODEL_OP_NAMES", "OP_NAMES", "PARAMETERS", "SHORT_NAMES",
           "make_layer", "op_name"]

OP_NAMES = ("conv", "avgpool", "maxpool", "flatten", "dense", "relu", "sigmoid", "tanh",
            "softmax", "mse", "xent")
"""The operations of the seeds and the command line (``show``, ``check``), in the order the
documentation lists them."""

# --- the layers of imported PyTorch models (issue 14 part A); their parameters and options
# are passed by keyword ---
MODEL_OP_NAMES = ("batchnorm", "layernorm", "dropout", "identity", "constantpad", "zeropad",
                  "reflectionpad", "replicationpad", "upsample", "adaptiveavgpool", "globalavgpool",
                  "leakyrelu", "elu", "gelu", "softplus", "logsoftmax")
"""The layers added for imported PyTorch models (:func:`jacobian_cnn.from_torch`)."""

PARAMETERS = {"conv": ("kernel", "bias"), "dense": ("weight", "bias"), "mse": ("target",),
              "xent": ("labels",), "batchnorm": ("gamma", "beta"), "layernorm": ("gamma", "beta"),
              "dropout": ("mask",)}
"""The arrays each operation takes (the others take none); ``bias`` may be left out."""

SHORT_NAMES = {"avg": "avgpool", "max": "maxpool"}
"""The short forms accepted where users type an operation name."""

LAYER_CLASSES = {"conv": Conv2D, "avgpool": AvgPool2D, "maxpool": MaxPool2D, "flatten": Flatten,
                 "dense": Dense, "relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "softmax": Softmax,
                 "mse": MSELoss, "xent": SoftmaxCrossEntropy,
                 "batchnorm": BatchNorm2D, "layernorm": LayerNorm, "dropout": Dropout,
                 "identity": Identity, "constantpad": ConstantPad2D, "zeropad": ZeroPad2D,
                 "reflectionpad": ReflectionPad2D, "replicationpad": ReplicationPad2D,
                 "upsample": Upsample, "adaptiveavgpool": AdaptiveAvgPool2D,
                 "globalavgpool": GlobalAvgPool2D, "leakyrelu": LeakyReLU, "elu": ELU, "gelu": GELU,
                 "softplus": Softplus, "logsoftmax": LogSoftmax}
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
    if isinstance(name, str) and name in OP_NAMES + GRID_OP_NAMES + MODEL_OP_NAMES:
        return name
    raise InvalidValueError(f"op must be one of {', '.join(OP_NAMES + MODEL_OP_NAMES)} (avg and max "
                            f"are short for avgpool and maxpool), got {name!r}")


def make_layer(op, params, options):
    """Build the layer of operation ``op``.

    Parameters
    ----------
    op : str
        An operation name (:func:`op_name`).
    params : dict
        The arrays the operation takes (:data:`PARAMETERS`): ``kernel`` and ``bias`` for
        ``conv``, ``weight`` and ``bias`` for ``dense``, ``target`` for ``mse``,
        ``labels`` for ``xent``, ``gamma`` and ``beta`` for ``batchnorm`` and ``layernorm``,
        ``mask`` for ``dropout``; a missing ``bias`` (``beta``) means none.
    options : dict
        The layer's keyword options (``stride``, ``padding``, ...); pooling takes its
        ``window`` here too.

    Returns
    -------
    Layer
    """
    op = op_name(op)
    options = dict(options)
    if op in MODEL_OP_NAMES:
        arrays = {name: params[name] for name in PARAMETERS.get(op, ()) if params.get(name) is not None}
        return LAYER_CLASSES[op](**arrays, **options)
    arrays = [params.get(name) for name in PARAMETERS.get(op, ())]  # bias may be missing: None
    if "pool" in op:
        arrays = [options.pop("window")]
    return LAYER_CLASSES[op](*arrays, **options)
