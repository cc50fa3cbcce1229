"""Scalar losses as layers with a ``(1, n)`` Jacobian: the row ``dL / d vec(y)``.

A loss ends a :class:`~jacobian_cnn.Chain`: its output is a 0-d array, its Jacobian
is the single row that starts the backward pass. Index conventions:
:mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._arguments import byte_limit, cast, float_array, frozen_copy, short_repr
from jacobian_cnn._sparse.csr import dense_to_csr
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.ops.activations import softmax
from jacobian_cnn.ops.layer import Definition, Layer, Parameter
from jacobian_cnn.vec import vec

__all__ = ["MSELoss", "SoftmaxCrossEntropy", "loss_entries"]


def loss_entries(n):
    """The entries of a scalar loss's ``(1, n)`` Jacobian: ``dL / d vec(y)[i]`` in column ``i``.

    Every entry is listed; the fast path stores none that is exactly 0.
    """
    for i in range(n):
        yield 0, i, ("gradient", i)


class _Loss(Layer):
    def gradient(self, y):
        """The dense row ``dL / d vec(y)``, shape ``(1, y.size)``."""
        return self.jacobian(y).toarray()

    def _jacobian_parts(self, x, wrt="input", *, cache=None, max_bytes=None):
        """``dL / d vec(y)`` as a ``(1, y.size)`` row (dense: every entry counts).

        As :class:`~jacobian_cnn._sparse.csr.CSRParts`.
        """
        self._check_wrt(wrt)
        byte_limit(max_bytes)  # one row of y.size entries: validated, never the limit
        return dense_to_csr(vec(self._gradient(x))[None, :])

    def _definition(self, x, wrt, cache):
        entry, n, dtype = self._gradient_entry(x)
        return Definition(loss_entries(n), (1, n), {"gradient": entry}, dtype)


class MSELoss(_Loss):
    """Mean squared error ``L = mean((y - target)**2)`` over every entry.

    ``dL / d vec(y) = 2 vec(y - target)^T / y.size``.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> loss = jc.MSELoss(np.array([1., 2.]))
    >>> float(loss.forward(np.array([2., 4.])))
    2.5
    >>> loss.gradient(np.array([2., 4.]))
    array([[1., 2.]])
    """

    target = Parameter("The target, a read-only float copy; assign an array to change it.")

    def __init__(self, target):
        self.target = target

    def _checked_target(self, value):
        target = frozen_copy(value, "target")
        if target.size == 0:
            raise InvalidValueError(
                f"target must hold at least one entry (the mean over no entries is undefined), "
                f"got shape {target.shape}"
            )
        return target

    def __repr__(self):
        return f"MSELoss(target shape {self.target.shape})"

    def _check(self, y):
        y = float_array(y, "y")
        if y.shape != self.target.shape:
            raise InvalidValueError(f"y has shape {y.shape} but target has shape {self.target.shape}")
        return y

    def forward(self, x):
        y = self._check(x)
        return cast(np.asarray(np.mean((y - self.target) ** 2)), y.dtype, "the loss")

    def _gradient(self, x):
        y = self._check(x)
        return (2.0 / y.size) * cast(y - self.target, y.dtype, "y - target")

    def _gradient_entry(self, x):
        """``dL / d vec(y)[i] = 2 (y_i - target_i) / n``, entry by entry."""
        y = vec(self._check(x))
        target = vec(self.target)
        return lambda i: (2.0 / y.size) * y.dtype.type(y[i] - target[i]), y.size, y.dtype


class SoftmaxCrossEntropy(_Loss):
    """Softmax followed by cross-entropy on integer labels, averaged over samples.

    ``L = mean_n -log softmax(z[:, n])[labels[n]]`` for logits ``z`` of shape
    ``(n_classes,)`` or ``(n_classes, N)``; ``dL / dz = (softmax(z) - onehot) / N``.

    Parameters
    ----------
    labels : int or array_like of int
        One label per sample, each in ``[0, n_classes)``.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> loss = jc.SoftmaxCrossEntropy(1)
    >>> round(float(loss.forward(np.zeros(4))), 6)      # log(4)
    1.386294
    >>> loss.gradient(np.zeros(4))
    array([[ 0.25, -0.75,  0.25,  0.25]])
    """

    labels = Parameter("The labels, a read-only int64 copy; assign new labels to change them.")

    def __init__(self, labels):
        self.labels = labels

    def _checked_labels(self, value):
        allowed = "an int or a 1-D array of ints (class indices)"
        try:
            labels = np.asarray(value)
        except ValueError:  # ragged nested lists
            labels = np.asarray(None)
        if labels.dtype.kind == "f" and labels.size == 0:
            labels = labels.astype(np.int64)  # [] holds no label, whatever its dtype
        if labels.dtype.kind not in "iu":
            raise InvalidTypeError(f"labels must be {allowed}, got {short_repr(value)} "
                                   f"(dtype {labels.dtype})")
        if labels.ndim > 1:
            raise InvalidValueError(f"labels must be {allowed}, got shape {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() > np.iinfo(np.int64).max):
            raise InvalidValueError(f"labels must be {allowed}, non-negative, got {short_repr(value)}")
        if labels.size == 0:
            raise InvalidValueError(
                f"labels must hold at least one label (the mean over no samples is undefined), "
                f"got shape {labels.shape}"
            )
        labels = labels.astype(np.int64)
        labels.flags.writeable = False
        return labels

    def __repr__(self):
        return f"SoftmaxCrossEntropy({self.labels.size} label(s))"

    def _check(self, z):
        z = float_array(z, "z")
        if z.ndim not in (1, 2):
            raise InvalidValueError(f"z must be (n_classes,) or (n_classes, N); got shape {z.shape}")
        if z.shape[0] == 0:
            raise InvalidValueError(f"z must have at least one class (axis 0), got shape {z.shape}")
        z2 = z.reshape(z.shape[0], -1)
        if self.labels.size != z2.shape[1] or (z.ndim == 1) != (self.labels.ndim == 0):
            raise InvalidValueError(
                f"labels shape {self.labels.shape} does not match z shape {z.shape}: "
                "give one int for (n_classes,) logits, N labels for (n_classes, N)"
            )
        if self.labels.min() < 0 or self.labels.max() >= z.shape[0]:
            raise InvalidValueError(
                f"labels must lie in [0, {z.shape[0]}) for {z.shape[0]} classes; "
                f"got {self.labels.min()}..{self.labels.max()}"
            )
        return z, z2

    def _log_probs(self, z2):
        shifted = z2 - z2.max(axis=0, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))

    def forward(self, x):
        z, z2 = self._check(x)
        logp = self._log_probs(z2)
        picked = logp[self.labels.ravel(), np.arange(z2.shape[1])]
        return np.asarray(-picked.mean(), dtype=z.dtype)

    def _gradient_entry(self, x):
        """``dL / dz[c, n] = (softmax(z[:, n])[c] - [c == labels[n]]) / N``, entry by entry."""
        z, z2 = self._check(x)
        s, labels = softmax(z2), self.labels.ravel()

        def entry(i):
            c, n = i % z2.shape[0], i // z2.shape[0]
            return (s[c, n] - 1 if c == labels[n] else s[c, n]) / z2.shape[1]
        return entry, z.size, z.dtype

    def _gradient(self, x):
        z, z2 = self._check(x)
        g = softmax(z2)
        g[self.labels.ravel(), np.arange(z2.shape[1])] -= 1
        return (g / z2.shape[1]).astype(z.dtype).reshape(z.shape)
