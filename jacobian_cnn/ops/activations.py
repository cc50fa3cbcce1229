"""Elementwise activations (diagonal Jacobians) and softmax (block-diagonal Jacobian).

Index conventions: :mod:`jacobian_cnn.vec`. An elementwise ``y = f(x)`` has
``d vec(y) / d vec(x) = diag(f'(vec(x)))``. Softmax acts on axis 0 of a vector
``(n,)`` or a batch of columns ``(n, N)``; each sample's block is
``diag(s) - s s^T``.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._arguments import check_size, float_array
from jacobian_cnn._sparse.csr import block_diagonal, diagonal
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops.layer import Definition, Layer

__all__ = ["ReLU", "Sigmoid", "Tanh", "Softmax", "softmax", "elementwise_entries", "softmax_entries"]


def elementwise_entries(n, active=None):
    """The entries of ``d vec(y) / d vec(x) = diag(f'(vec(x)))`` for ``n`` entries.

    ``y_k = f(x_k)`` depends on ``x_k`` alone: row ``k`` holds ``f'(x_k)`` on the
    diagonal, for every ``k`` or (ReLU) only where ``active[k]`` (``vec`` order).
    """
    for k in range(n):
        if active is None or active[k]:
            yield k, k, ("derivative", k)


def softmax_entries(n_classes, n_samples):
    """The entries of softmax's ``d vec(s) / d vec(z)``: one dense block per sample.

    ``s_i = exp(z_i) / sum_j exp(z_j)`` over a sample's classes, so
    ``ds_i / dz_j = s_i (delta_ij - s_j)`` inside a sample and 0 across samples
    (``i``, ``j`` are ``vec`` indices).
    """
    for n in range(n_samples):
        for i in range(n * n_classes, (n + 1) * n_classes):
            for j in range(n * n_classes, (n + 1) * n_classes):
                yield i, j, ("softmax", i, j)


class _Elementwise(Layer):
    _rows_may_be_empty = False  # True where f' is 0 on a set (ReLU): those rows store nothing

    def __repr__(self):
        return f"{type(self).__name__}()"

    def forward(self, x):
        return self._f(float_array(x, "x"))

    def _jacobian_parts(self, x, wrt="input", *, cache=None, max_bytes=None):
        """The diagonal Jacobian ``diag(f'(vec(x)))`` as :class:`~jacobian_cnn._sparse.csr.CSRParts`."""
        self._check_wrt(wrt)
        x = float_array(x, "x")
        what = f"{type(self).__name__} Jacobian"
        # refused before the derivative values are made: at most one entry a row
        check_size(x.size, 0 if self._rows_may_be_empty else x.size, x.dtype.itemsize, max_bytes, what)
        values, keep = self._derivative(x)
        return diagonal(values, keep=keep, max_bytes=max_bytes, what=what)

    def _definition(self, x, wrt, cache):
        x = float_array(x, "x")
        values, keep = self._derivative(x)
        values = np.ravel(values, order="F")
        active = None if keep is None else np.ravel(keep, order="F").tolist()
        return Definition(elementwise_entries(x.size, active), (x.size, x.size),
                          {"derivative": lambda k: values[k]}, values.dtype)


class ReLU(_Elementwise):
    """``max(x, 0)``. The derivative at 0 is taken as 0 (PyTorch's and JAX's choice).

    Rows of inactive units (``x <= 0``) are empty: only active units are stored.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> jc.ReLU().jacobian(np.array([-1., 0., 2.])).toarray()
    array([[0., 0., 0.],
           [0., 0., 0.],
           [0., 0., 1.]])
    """

    _rows_may_be_empty = True

    @staticmethod
    def _f(x):
        return np.maximum(x, 0)

    @staticmethod
    def _derivative(x):
        return np.ones_like(x), x > 0


class Sigmoid(_Elementwise):
    """``1 / (1 + exp(-x))``, derivative ``s (1 - s)``."""

    @staticmethod
    def _f(x):
        # exp of a non-positive number only: no overflow for large |x|.
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))

    @classmethod
    def _derivative(cls, x):
        s = cls._f(x)
        return s * (1 - s), None


class Tanh(_Elementwise):
    """``tanh(x)``, derivative ``1 - tanh(x)**2``."""

    @staticmethod
    def _f(x):
        return np.tanh(x)

    @staticmethod
    def _derivative(x):
        return 1 - np.tanh(x) ** 2, None


def softmax(z):
    """Softmax over axis 0 (classes), stable for large logits.

    Examples
    --------
    >>> import numpy as np
    >>> from jacobian_cnn.ops.activations import softmax
    >>> softmax(np.array([0., np.log(3.)]))
    array([0.25, 0.75])
    """
    z = np.asarray(z)
    if z.ndim == 0 or z.shape[0] == 0:
        raise InvalidValueError(
            f"softmax needs at least one class along axis 0 of z, got shape {z.shape}"
        )
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


class Softmax(Layer):
    """Softmax over the classes of ``(n,)`` or a batch ``(n, N)``.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> jc.Softmax().jacobian(np.zeros(2)).toarray()       # diag(s) - s s^T, s = (1/2, 1/2)
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """

    def __repr__(self):
        return "Softmax()"

    @staticmethod
    def _check(z):
        z = float_array(z, "x")
        if z.ndim not in (1, 2):
            raise InvalidValueError(f"x must be (n,) or a batch (n, N); got shape {z.shape}")
        if z.shape[0] == 0:
            raise InvalidValueError(
                f"x must have at least one class (n >= 1 in (n,) or (n, N); only the batch N "
                f"may be 0), got shape {z.shape}"
            )
        return z

    @staticmethod
    def _checked_cache(cache, z):
        """The probabilities passed as ``cache``, checked against ``z`` (shape, range, sums)."""
        what = (f"cache must be softmax(x) as forward_with_cache(x) returns it: probabilities "
                f"of x's shape {z.shape} whose columns sum to 1")
        s = float_array(cache, "cache", dtype=z.dtype)
        if s.shape != z.shape:
            raise InvalidValueError(f"{what}; got shape {s.shape}")
        if s.size and (s.min() < 0 or s.max() > 1):
            raise InvalidValueError(f"{what}; got values in [{s.min()}, {s.max()}]")
        sums = s.sum(axis=0)
        error = np.abs(sums - 1)
        if error.size and not error.max() <= np.sqrt(np.finfo(z.dtype).eps):
            raise InvalidValueError(f"{what}; got a column summing to {sums.flat[error.argmax()]}")
        return s

    def forward(self, x):
        return softmax(self._check(x))

    def forward_with_cache(self, x):
        y = self.forward(x)
        return y, y

    def _definition(self, x, wrt, cache):
        z = self._check(x)
        s = softmax(z) if cache is None else self._checked_cache(cache, z)
        s = np.ravel(s, order="F")

        def value(i, j):  # s_i (delta_ij - s_j), as -s_i s_j (+ s_i on the diagonal)
            return -s[i] * s[j] + s[i] if i == j else -s[i] * s[j]

        n = z.shape[0]
        return Definition(softmax_entries(n, z.size // n), (z.size, z.size), {"softmax": value},
                          s.dtype)

    def _jacobian_parts(self, x, wrt="input", *, cache=None, max_bytes=None):
        """Block-diagonal ``diag(s) - s s^T``, one dense block per sample, as
        :class:`~jacobian_cnn._sparse.csr.CSRParts`."""
        self._check_wrt(wrt)
        z = self._check(x)
        s = softmax(z) if cache is None else self._checked_cache(cache, z)
        s = s.reshape(s.shape[0], -1).T  # (N, n)
        blocks = -s[:, :, None] * s[:, None, :]
        idx = np.arange(s.shape[1])
        blocks[:, idx, idx] += s
        return block_diagonal(blocks, max_bytes=max_bytes, what="Softmax Jacobian")
