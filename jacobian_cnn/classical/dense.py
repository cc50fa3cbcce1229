"""The classical dense-layer gradients: ``W g``, ``x g^T`` and ``g``.

Conventions: :mod:`jacobian_cnn.vec` (weights ``(n_in, n_out)``, ``z = W.T @ x + b``).
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._arguments import cast, float_array
from jacobian_cnn.errors import InvalidValueError

__all__ = ["dense_gradients"]


def dense_gradients(x, weight, g):
    """Gradients of ``z = W.T @ x + b`` wrt ``x``, ``W`` and ``b``: ``W g``, ``x g^T``, ``g``.

    Seed 004 section 3.1.1 writes the Jacobians ``dJ/dB2 = (dJ/dZ3) W3^T`` and
    ``dJ/dW3 = (dJ/dZ3)^T B2^T`` (shaped like ``W3^T``); these are their transposes,
    in the shapes of ``x`` and ``W``. A batch ``(n_in, N)`` sums ``W``'s and ``b``'s
    gradients over samples.

    Parameters
    ----------
    x : array_like
        ``(n_in,)`` or ``(n_in, N)``.
    weight : array_like
        ``(n_in, n_out)``.
    g : array_like
        ``dL/dz``, ``(n_out,)`` or ``(n_out, N)``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        ``(dL/dx, dL/dW, dL/db)`` shaped like ``x``, ``weight`` and ``(n_out,)``.

    Examples
    --------
    >>> import numpy as np
    >>> from jacobian_cnn.classical import dense_gradients
    >>> W = np.array([[1., 2.], [3., 4.], [5., 6.]])
    >>> gx, gW, gb = dense_gradients(np.array([1., 2., 3.]), W, np.array([1., -1.]))
    >>> gx
    array([-1., -1., -1.])
    >>> gW
    array([[ 1., -1.],
           [ 2., -2.],
           [ 3., -3.]])
    """
    x, weight, g = float_array(x, "x"), float_array(weight, "weight"), float_array(g, "g")
    if weight.ndim != 2:
        raise InvalidValueError(f"weight must be (n_in, n_out); got shape {weight.shape}")
    n_in, n_out = weight.shape
    if x.ndim not in (1, 2) or x.shape[0] != n_in:
        raise InvalidValueError(f"x must be (n_in,) or (n_in, N) with n_in={n_in}; got {x.shape}")
    expected = (n_out,) + x.shape[1:]
    if g.shape != expected:
        raise InvalidValueError(f"g must have the shape of z, {expected}; got {g.shape}")
    dtype = np.result_type(x, g)  # float32 in, float32 out; the weight is cast
    x2, g2 = x.reshape(n_in, -1).astype(dtype), g.reshape(n_out, -1).astype(dtype)
    return (cast(weight, dtype, "weight") @ g2).reshape(x.shape), x2 @ g2.T, g2.sum(axis=1)
