"""jacobian_cnn: exact sparse Jacobians of CNN layers, in numerator layout over column-major vec.

The conventions are stated once, in :mod:`jacobian_cnn.vec`.
"""

from . import autograd, layout
from ._checks import DEFAULT_MAX_BYTES
from .activations import ReLU, Sigmoid, Softmax, Tanh
from .chain import Chain, Gradients, Step, Trace
from .checking import (
    JacobianReport,
    assert_jacobian_close,
    compare_jacobians,
    numerical_jacobian,
)
from .conv import Conv2D
from .dense import Dense
from .errors import (
    InvalidTypeError,
    InvalidValueError,
    JacobianCNNError,
    JacobianTooLargeError,
    SizeLimitError,
)
from .geometry import WindowGeometry
from .losses import MSELoss, SoftmaxCrossEntropy
from .pooling import AvgPool2D, MaxPool2D, switches_jacobian
from .reshape import FLATTEN_ORDERS, Flatten
from .vec import as_parameter_shape, commutation_matrix, unvec, vec, vec_index

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MAX_BYTES", "JacobianCNNError", "InvalidValueError", "InvalidTypeError",
    "SizeLimitError", "JacobianTooLargeError",
    "ReLU", "Sigmoid", "Softmax", "Tanh",
    "Chain", "Gradients", "Step", "Trace",
    "JacobianReport", "assert_jacobian_close", "compare_jacobians", "numerical_jacobian",
    "Conv2D", "Dense", "WindowGeometry", "MSELoss", "SoftmaxCrossEntropy",
    "AvgPool2D", "MaxPool2D", "switches_jacobian", "FLATTEN_ORDERS", "Flatten",
    "as_parameter_shape", "commutation_matrix", "unvec", "vec", "vec_index",
    "autograd", "layout",
]
