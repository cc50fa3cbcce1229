"""Flatten and the permutation matrices of reshapes.

A reshape moves entries without changing them, so its Jacobian is a permutation
matrix: row ``i`` has a single 1 in the column of the ``vec(x)`` entry that lands in
``vec(y)[i]``. Column-major flatten *is* ``vec`` and has the identity Jacobian (seed
004 section 3.1.2); the flatten orders of other libraries are permutations of it.
Index conventions: :mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._arguments import check_size, float_array
from jacobian_cnn._sparse.csr import permutation_rows
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops.layer import Definition, Layer, numeric_terms
from jacobian_cnn.vec import vec

__all__ = ["Flatten", "FLATTEN_ORDERS", "flatten_entries"]

FLATTEN_ORDERS = {
    "F": "column-major over (H, W, C): vec, as in seed 004 and MatConvNet",
    "C": "row-major over (H, W, C): NumPy's ravel() and Keras' channels-last Flatten",
    "torch": "row-major over (C, H, W): PyTorch's flatten of an NCHW tensor",
}


def flatten_entries(shape, order):
    """The entries ``(row, column, term)`` of the permutation ``d vec(y) / d vec(x)``.

    Entry ``x[i, j, c, n]`` (``shape`` is ``(H, W, C, N)``) lands in sample ``n``'s
    vector at its position in the flatten order; that row holds a 1 at its ``vec(x)``
    column.
    """
    h, w, c, n_samples = shape
    for n in range(n_samples):
        for c_ in range(c):
            for j in range(w):
                for i in range(h):
                    position = {"F": i + h * (j + w * c_),       # column-major (H, W, C)
                                "C": c_ + c * (j + w * i),       # row-major (H, W, C)
                                "torch": j + w * (i + h * c_)}[order]  # row-major (C, H, W)
                    yield position + h * w * c * n, i + h * (j + w * (c_ + c * n)), ("one",)


class Flatten(Layer):
    """Flatten each sample's ``(H, W, C)`` map into a vector.

    A 2-D or 3-D input is one sample and becomes a 1-D vector; a 4-D input
    ``(H, W, C, N)`` is a batch and becomes ``(H*W*C, N)``, one column per sample
    (the batch axis stays last, :mod:`jacobian_cnn.vec`). Sizes of 0 are allowed:
    an empty batch ``(H, W, C, 0)`` becomes ``(H*W*C, 0)`` in every order, which is
    PyTorch's ``nn.Flatten()`` of an empty ``(0, C, H, W)`` batch, ``(0, C*H*W)``,
    with the batch axis last; its Jacobian is ``(0, 0)``.

    Parameters
    ----------
    order : {"F", "C", "torch"}
        See ``FLATTEN_ORDERS``. ``"F"`` (default) is ``vec`` and its Jacobian is the
        identity.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> x = np.arange(4.).reshape(2, 2)      # vec(x) = [0, 2, 1, 3]
    >>> jc.Flatten("C").forward(x)
    array([0., 1., 2., 3.])
    >>> jc.Flatten("C").jacobian(x).toarray()
    array([[1., 0., 0., 0.],
           [0., 0., 1., 0.],
           [0., 1., 0., 0.],
           [0., 0., 0., 1.]])
    """

    def __init__(self, order="F"):
        if not isinstance(order, str) or order not in FLATTEN_ORDERS:
            raise InvalidValueError(f"order must be one of {sorted(FLATTEN_ORDERS)}, got {order!r}")
        self.order = order

    def __repr__(self):
        return f"Flatten(order={self.order!r})"

    @staticmethod
    def _check(x):
        if x.ndim not in (2, 3, 4):
            raise InvalidValueError(
                f"x must be (H, W), (H, W, C) or a batch (H, W, C, N); got shape {x.shape}"
            )

    def _flatten(self, x):
        batch = x.ndim == 4
        x4 = x.reshape(x.shape + (1,) * (4 - x.ndim))
        h, w, c, n = x4.shape
        # Sizes written out: reshape(n, -1) is ambiguous when n == 0.
        if self.order == "F":
            out = x4.reshape(h * w * c, n, order="F")
        elif self.order == "C":
            out = x4.transpose(3, 0, 1, 2).reshape(n, h * w * c).T
        else:
            out = x4.transpose(3, 2, 0, 1).reshape(n, h * w * c).T
        return out if batch else out[:, 0]

    def forward(self, x):
        """Flatten ``x``; see the class docstring for shapes."""
        x = float_array(x, "x")
        self._check(x)
        return self._flatten(x)

    def _definition(self, x, wrt, cache):
        x = float_array(x, "x")
        self._check(x)
        shape = x.shape + (1,) * (4 - x.ndim)
        return Definition(flatten_entries(shape, self.order), (x.size, x.size),
                          numeric_terms(x.dtype), x.dtype)

    def _jacobian_parts(self, x, wrt="input", *, cache=None, max_bytes=None):
        """The permutation matrix ``d vec(y) / d vec(x)`` (identity for ``order="F"``), as
        :class:`~jacobian_cnn._sparse.csr.CSRParts`."""
        self._check_wrt(wrt)
        x = float_array(x, "x")
        self._check(x)
        check_size(x.size, x.size, x.dtype.itemsize, max_bytes, "Flatten Jacobian")
        # Flatten the positions themselves: entry i of vec(y) came from vec(x)[source[i]].
        if self.order == "F":
            source = np.arange(x.size)  # vec itself: the identity
        else:
            source = vec(self._flatten(np.arange(x.size).reshape(x.shape, order="F")))
        return permutation_rows(source, x.size, dtype=x.dtype)
