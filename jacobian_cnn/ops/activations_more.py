"""More elementwise layers (LeakyReLU, ELU, GELU, Softplus, Identity, Dropout) and LogSoftmax.

The elementwise ones have diagonal Jacobians ``diag(f'(vec(x)))``, built like those of
:mod:`jacobian_cnn.ops.activations` (same readable definition,
:func:`~jacobian_cnn.ops.activations.elementwise_entries`). Where PyTorch picks a value at a
kink, the same one is picked here (said in each class). LogSoftmax acts on axis 0 like
:class:`~jacobian_cnn.Softmax`; each sample's block is ``I - 1 s^T``. Index conventions:
:mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import math

import numpy as np

from jacobian_cnn._arguments import check_size, float_array
from jacobian_cnn._sparse.csr import block_diagonal
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.ops.activations import Softmax, _Elementwise, softmax, softmax_entries
from jacobian_cnn.ops.layer import Definition, Layer

__all__ = ["LeakyReLU", "ELU", "GELU", "Softplus", "Identity", "Dropout", "LogSoftmax",
           "GELU_APPROXIMATIONS"]

GELU_APPROXIMATIONS = ("none", "tanh")


def _real(value, name, *, positive=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise InvalidTypeError(f"{name} must be a real number, got {value!r}")
    if not np.isfinite(value) or (positive and value <= 0):
        word = "a positive finite number" if positive else "a finite number"
        raise InvalidValueError(f"{name} must be {word}, got {value!r}")
    return float(value)


def _choice(value, name, allowed):
    if not isinstance(value, str) or value not in allowed:
        raise InvalidValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


class _Configured(_Elementwise):
    """An elementwise layer with options, shown by ``repr``."""

    _options = ()

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self._options)})"


class LeakyReLU(_Configured):
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise; derivative ``negative_slope`` at 0
    (PyTorch's choice). With ``negative_slope == 0`` only active units are stored, as for ReLU.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> layer = jc.LeakyReLU(0.1)
    >>> layer.forward(np.array([-1., 2.]))
    array([-0.1,  2. ])
    >>> layer.jacobian(np.array([-1., 2.])).toarray()
    array([[0.1, 0. ],
           [0. , 1. ]])
    """

    @property
    def _rows_may_be_empty(self):  # a zero slope stores active units only, as ReLU
        return self.negative_slope == 0

    _options = ("negative_slope",)

    def __init__(self, negative_slope=0.01):
        self.negative_slope = _real(negative_slope, "negative_slope")

    def _f(self, x):
        return np.where(x > 0, x, x * x.dtype.type(self.negative_slope))

    def _derivative(self, x):
        d = np.where(x > 0, x.dtype.type(1), x.dtype.type(self.negative_slope))
        return d, (x > 0 if self.negative_slope == 0 else None)


class ELU(_Configured):
    """``x`` for ``x > 0``, ``alpha (exp(x) - 1)`` otherwise; derivative ``alpha exp(x)`` for
    ``x <= 0`` (PyTorch's value at 0).

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> jc.ELU(alpha=2.0).jacobian(np.array([0.])).toarray()      # alpha exp(0)
    array([[2.]])
    """

    _options = ("alpha",)

    def __init__(self, alpha=1.0):
        self.alpha = _real(alpha, "alpha")

    def _f(self, x):
        return np.where(x > 0, x, x.dtype.type(self.alpha) * np.expm1(np.minimum(x, 0)))

    def _derivative(self, x):
        return np.where(x > 0, x.dtype.type(1), x.dtype.type(self.alpha) * np.exp(np.minimum(x, 0))), None


class GELU(_Configured):
    """``x Phi(x)`` (``approximate="none"``) or ``x (1 + tanh(u)) / 2`` with
    ``u = sqrt(2 / pi) (x + 0.044715 x^3)`` (``approximate="tanh"``), as ``nn.GELU``.

    Derivatives: ``Phi(x) + x phi(x)``, and
    ``(1 + t) / 2 + x (1 - t^2) sqrt(2 / pi) (1 + 3 * 0.044715 x^2) / 2`` with ``t = tanh(u)``.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> jc.GELU().jacobian(np.zeros(1)).toarray()
    array([[0.5]])
    """

    _options = ("approximate",)

    def __init__(self, approximate="none"):
        self.approximate = _choice(approximate, "approximate", GELU_APPROXIMATIONS)

    @staticmethod
    def _u(x):
        return math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)

    def _f(self, x):
        if self.approximate == "tanh":
            return 0.5 * x * (1 + np.tanh(self._u(x)))
        from scipy.special import erf  # imported on first use: it costs a tenth of a second

        return 0.5 * x * (1 + erf(x / math.sqrt(2)))

    def _derivative(self, x):
        if self.approximate == "tanh":
            t = np.tanh(self._u(x))
            du = math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x ** 2)
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du, None
        from scipy.special import erf

        cdf = 0.5 * (1 + erf(x / math.sqrt(2)))
        return cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi), None


class Softplus(_Configured):
    """``log(1 + exp(beta x)) / beta``, and ``x`` where ``beta x > threshold`` (``nn.Softplus``).

    Derivative ``sigmoid(beta x)``, and 1 above the threshold.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> layer = jc.Softplus()
    >>> print(layer.forward(np.zeros(1)), layer.jacobian(np.zeros(1)).toarray())   # log 2, 1/2
    [0.69314718] [[0.5]]
    """

    _options = ("beta", "threshold")

    def __init__(self, beta=1.0, threshold=20.0):
        self.beta = _real(beta, "beta", positive=True)
        self.threshold = _real(threshold, "threshold")

    def _f(self, x):
        bx = x * self.beta
        return np.where(bx > self.threshold, x, np.logaddexp(0, bx) / self.beta).astype(x.dtype)

    def _derivative(self, x):
        bx = x * self.beta
        sig = 0.5 * (1 + np.tanh(0.5 * bx))  # sigmoid, without overflow
        return np.where(bx > self.threshold, 1, sig).astype(x.dtype), None


class Identity(_Elementwise):
    """``y = x``; the Jacobian is the identity (``nn.Identity``, and eval-mode dropout).

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> jc.Identity().jacobian(np.zeros(2)).toarray()
    array([[1., 0.],
           [0., 1.]])
    """

    def _f(self, x):
        return x.copy()

    def _derivative(self, x):
        return np.ones_like(x), None


class Dropout(_Elementwise):
    """Training-mode dropout with an explicit ``mask``: ``y = x * mask / (1 - p)``.

    The mask is what PyTorch draws at random (1 keeps a unit, 0 drops it); giving it makes the
    layer a fixed function whose Jacobian is ``diag(vec(mask)) / (1 - p)``, stored where the
    mask is 1. Eval-mode dropout is :class:`Identity`.

    Parameters
    ----------
    p : float
        The drop probability, ``0 <= p < 1``.
    mask : array_like
        0s and 1s, of the input's shape (batch included).

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> jc.Dropout(0.5, mask=[1, 0]).jacobian(np.array([3., 4.])).toarray()
    array([[2., 0.],
           [0., 0.]])
    """

    _rows_may_be_empty = True

    def __init__(self, p, mask):
        p = _real(p, "p")
        if not 0 <= p < 1:
            raise InvalidValueError(f"p must be in [0, 1), got {p!r}")
        mask = float_array(mask, "mask")
        if not np.all((mask == 0) | (mask == 1)):
            raise InvalidValueError("mask must hold only 0s and 1s (1 keeps a unit); got values "
                                    f"{np.unique(mask)[:5].tolist()}")
        self.p, self.mask = p, np.array(mask, dtype=np.float64)
        self.mask.flags.writeable = False

    def __repr__(self):
        return f"Dropout(p={self.p}, mask of shape {self.mask.shape})"

    def _scale(self, x):
        if x.shape != self.mask.shape:
            raise InvalidValueError(f"x must have the mask's shape {self.mask.shape}; got {x.shape}")
        return self.mask.astype(x.dtype) * x.dtype.type(1 / (1 - self.p))

    def _f(self, x):
        return x * self._scale(x)

    def _derivative(self, x):
        return self._scale(x), self.mask != 0

    def _jacobian_parts(self, x, wrt="input", *, cache=None, max_bytes=None):
        """``diag(vec(mask)) / (1 - p)``, refused over ``max_bytes`` before its values are made."""
        self._check_wrt(wrt)
        x = float_array(x, "x")
        check_size(x.size, np.count_nonzero(self.mask), x.dtype.itemsize, max_bytes, "Dropout Jacobian")
        return super()._jacobian_parts(x, wrt, cache=cache, max_bytes=max_bytes)


class LogSoftmax(Layer):
    """``log softmax`` over the classes of ``(n,)`` or a batch ``(n, N)`` (``nn.LogSoftmax(dim=1)``).

    ``d y_i / d z_j = delta_ij - s_j`` inside a sample (``s = softmax(z)``): one dense block
    ``I - 1 s^T`` per sample.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> jc.LogSoftmax().jacobian(np.zeros(2)).toarray()
    array([[ 0.5, -0.5],
           [-0.5,  0.5]])
    """

    _check = staticmethod(Softmax._check)

    def __repr__(self):
        return "LogSoftmax()"

    def forward(self, x):
        z = self._check(x)
        shifted = z - z.max(axis=0, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))

    def _definition(self, x, wrt, cache):
        z = self._check(x)
        s = np.ravel(softmax(z), order="F")
        one = s.dtype.type(1)

        def value(i, j):  # delta_ij - s_j
            return one - s[j] if i == j else -s[j]

        n = z.shape[0]
        return Definition(softmax_entries(n, z.size // n), (z.size, z.size), {"softmax": value},
                          s.dtype)

    def _jacobian_parts(self, x, wrt="input", *, cache=None, max_bytes=None):
        """Block-diagonal ``I - 1 s^T``, one dense block per sample."""
        self._check_wrt(wrt)
        z = self._check(x)
        check_size(z.size, z.size * z.shape[0], z.dtype.itemsize, max_bytes, "LogSoftmax Jacobian")
        s = softmax(z).reshape(z.shape[0], -1).T  # (N, n)
        blocks = np.broadcast_to(-s[:, None, :], (s.shape[0], s.shape[1], s.shape[1])).copy()
        idx = np.arange(s.shape[1])
        blocks[:, idx, idx] = 1 - s
        return block_diagonal(blocks, max_bytes=max_bytes, what="LogSoftmax Jacobian")
