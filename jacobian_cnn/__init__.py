"""jacobian_cnn: exact sparse Jacobians of CNN layers, in numerator layout over column-major vec.

The conventions are stated once, in :mod:`jacobian_cnn.vec`.
"""

from jacobian_cnn._arguments import DEFAULT_MAX_BYTES
from jacobian_cnn.chain import Chain, Gradients, Step, Trace
from jacobian_cnn.checking import (
    JacobianReport,
    assert_jacobian_close,
    compare_jacobians,
    numerical_jacobian,
)
from jacobian_cnn.errors import (
    InvalidTypeError,
    InvalidValueError,
    JacobianCNNError,
    JacobianTooLargeError,
    SizeLimitError,
)
from jacobian_cnn.ops.activations import ReLU, Sigmoid, Softmax, Tanh
from jacobian_cnn.ops.activations_more import ELU, GELU, Dropout, Identity, LeakyReLU, LogSoftmax, Softplus
from jacobian_cnn.ops.branches import Add, Concat, Residual
from jacobian_cnn.ops.conv import Conv2D
from jacobian_cnn.ops.conv_nd import Conv1D, Conv3D
from jacobian_cnn.ops.conv_transpose import ConvTranspose1D, ConvTranspose2D, ConvTranspose3D
from jacobian_cnn.ops.dense import Dense
from jacobian_cnn.ops.geometry import PADDING_MODES, WindowGeometry
from jacobian_cnn.ops.layer import Layer
from jacobian_cnn.ops.losses import MSELoss, SoftmaxCrossEntropy
from jacobian_cnn.ops.normalization import BatchNorm2D, LayerNorm
from jacobian_cnn.ops.padding import ConstantPad2D, ReflectionPad2D, ReplicationPad2D, ZeroPad2D
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D, switches_jacobian
from jacobian_cnn.ops.pooling_nd import AvgPool1D, AvgPool3D, MaxPool1D, MaxPool3D
from jacobian_cnn.ops.resample import AdaptiveAvgPool2D, GlobalAvgPool2D, Upsample
from jacobian_cnn.ops.reshape import FLATTEN_ORDERS, Flatten
from jacobian_cnn.permutations import commutation_matrix
from jacobian_cnn.vec import as_parameter_shape, unvec, vec, vec_index

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MAX_BYTES", "JacobianCNNError", "InvalidValueError", "InvalidTypeError",
    "SizeLimitError", "JacobianTooLargeError",
    "ReLU", "Sigmoid", "Softmax", "Tanh",
    "Chain", "Gradients", "Step", "Trace",
    "JacobianReport", "assert_jacobian_close", "compare_jacobians", "numerical_jacobian",
    "Conv2D", "Dense", "Layer", "PADDING_MODES", "WindowGeometry", "MSELoss", "SoftmaxCrossEntropy",
    "AvgPool2D", "MaxPool2D", "switches_jacobian", "FLATTEN_ORDERS", "Flatten",
    "as_parameter_shape", "commutation_matrix", "unvec", "vec", "vec_index",
    # layers of imported PyTorch models (issue 14 part A)
    "BatchNorm2D", "LayerNorm", "Dropout", "Identity", "ConstantPad2D", "ZeroPad2D",
    "ReflectionPad2D", "ReplicationPad2D", "Upsample", "AdaptiveAvgPool2D", "GlobalAvgPool2D",
    "LeakyReLU", "ELU", "GELU", "Softplus", "LogSoftmax", "Add", "Residual", "Concat",
    # 1-D, 3-D and transposed window layers (issue 14, part B)
    "Conv1D", "Conv3D", "ConvTranspose1D", "ConvTranspose2D", "ConvTranspose3D",
    "AvgPool1D", "AvgPool3D", "MaxPool1D", "MaxPool3D",
]


_SUBMODULES = ("compare", "symbolic", "handcheck", "classical", "training", "plots", "examples", "ops",
               "cli", "explorer", "cases", "second_order")
"""Reached as attributes (``jc.compare``, ``jc.symbolic`` ...), imported on first use."""


_LAZY_FUNCTIONS = {"check": ("handcheck.check", "check_derivation"), "explore": ("explorer", "explore"),
                   "from_torch": ("compare.from_torch", "from_torch"),
                   "to_torch": ("compare.from_torch", "to_torch")}
"""Functions reached as attributes and imported on first use (``jc.check``: the hand checker;
``jc.explore``: the explorer page; ``jc.from_torch`` / ``jc.to_torch``: PyTorch models, in and out)."""


def __getattr__(name):
    if name in _SUBMODULES or name in _LAZY_FUNCTIONS:
        import importlib

        if name in _LAZY_FUNCTIONS:
            module, function = _LAZY_FUNCTIONS[name]
            return getattr(importlib.import_module(f"jacobian_cnn.{module}"), function)
        return importlib.import_module(f"jacobian_cnn.{name}")
    raise AttributeError(f"module 'jacobian_cnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES) | set(_LAZY_FUNCTIONS))
