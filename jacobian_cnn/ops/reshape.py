"""Flatten and the permutation matrices of reshapes.

A reshape moves entries without changing them, so its Jacobian is a permutation
matrix: row ``i`` has a single 1 in the column of the ``vec(x)`` entry that lands in
``vec(y)[i]``. Column-major flatten *is* ``vec`` and has the identity Jacobian (seed
004 section 3.1.2); the flatten orders of other libraries are permutations of it.
Index conventions: :mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import itertools

import numpy as np

from jacobian_cnn._arguments import check_size, float_array, is_int
from jacobian_cnn._sparse.csr import permutation_rows
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
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

    ``shape`` is ``(*S, C, N)`` (``(H, W, C, N)`` for 2-D maps): entry ``x[s, c, n]`` lands
    in sample ``n``'s vector at its position in the flatten order; that row holds a 1 at
    its ``vec(x)`` column.
    """
    *spatial, c, n_samples = shape
    m = int(np.prod(spatial, dtype=np.int64))  # positions per map
    for n in range(n_samples):
        for c_ in range(c):
            for s in itertools.product(*(range(v) for v in spatial)):
                col_major = int(np.ravel_multi_index(s, spatial, order="F")) if spatial else 0
                row_major = int(np.ravel_multi_index(s, spatial, order="C")) if spatial else 0
                position = {"F": col_major + m * c_,       # column-major (*S, C)
                            "C": c_ + c * row_major,       # row-major (*S, C)
                            "torch": row_major + m * c_}[order]  # row-major (C, *S)
                yield position + m * c * n, col_major + m * (c_ + c * n), ("one",)


class Flatten(Layer):
    """Flatten each sample's ``(H, W, C)`` map into a vector.

    A 2-D or 3-D input is one sample and becomes a 1-D vector; a 4-D input
    ``(H, W, C, N)`` is a batch and becomes ``(H*W*C, N)``, one column per sample
    (the batch axis stays last, :mod:`jacobian_cnn.vec`). Sizes of 0 are allowed:
    an empty batch ``(H, W, C, 0)`` becomes ``(H*W*C, 0)`` in every order, which is
    PyTorch's ``nn.Flatten()`` of an empty ``(0, C, H, W)`` batch, ``(0, C*H*W)``,
    with the batch axis last; its Jacobian is ``(0, 0)``.

    Maps with one or three spatial axes, ``(L, C[, N])`` or ``(D, H, W, C[, N])``, are
    flattened the same way with ``spatial_ndim=1`` or ``3`` (the orders over ``(*S, C)``
    and ``(C, *S)``).

    Parameters
    ----------
    order : {"F", "C", "torch"}
        See ``FLATTEN_ORDERS``. ``"F"`` (default) is ``vec`` and its Jacobian is the
        identity.
    spatial_ndim : {1, 2, 3}
        The spatial axes of a map (default 2).

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

    A batch of two 1-D maps ``(L, C, N) = (2, 2, 2)`` in PyTorch's order (channel by channel):

    >>> jc.Flatten("torch", spatial_ndim=1).forward(np.arange(8.).reshape(2, 2, 2)).T
    array([[0., 4., 2., 6.],
           [1., 5., 3., 7.]])
    """

    def __init__(self, order="F", *, spatial_ndim=2):
        if not isinstance(order, str) or order not in FLATTEN_ORDERS:
            raise InvalidValueError(f"order must be one of {sorted(FLATTEN_ORDERS)}, got {order!r}")
        if not is_int(spatial_ndim) or spatial_ndim not in (1, 2, 3):
            raise (InvalidValueError if is_int(spatial_ndim) else InvalidTypeError)(
                f"spatial_ndim must be 1, 2 or 3 (an int), got {spatial_ndim!r}")
        self.order, self.spatial_ndim = order, int(spatial_ndim)

    def __repr__(self):
        extra = "" if self.spatial_ndim == 2 else f", spatial_ndim={self.spatial_ndim}"
        return f"Flatten(order={self.order!r}{extra})"

    def _check(self, x):
        d = self.spatial_ndim
        if d == 2 and x.ndim not in (2, 3, 4):
            raise InvalidValueError(
                f"x must be (H, W), (H, W, C) or a batch (H, W, C, N); got shape {x.shape}"
            )
        if d != 2 and x.ndim not in (d + 1, d + 2):
            axes = "L" if d == 1 else "D, H, W"
            raise InvalidValueError(f"x must be ({axes}, C) or a batch ({axes}, C, N) "
                                    f"(spatial_ndim={d}); got shape {x.shape}")

    def _full_shape(self, shape):
        """``(*S, C, N)`` of an input of shape ``shape``."""
        return tuple(shape) + (1,) * (self.spatial_ndim + 2 - len(shape))

    def _flatten(self, x):
        batch = x.ndim == self.spatial_ndim + 2
        full = x.reshape(self._full_shape(x.shape))
        d, n = self.spatial_ndim, full.shape[-1]
        size = int(np.prod(full.shape[:-1], dtype=np.int64))
        # Sizes written out: reshape(n, -1) is ambiguous when n == 0.
        if self.order == "F":
            out = full.reshape(size, n, order="F")
        elif self.order == "C":
            out = full.transpose((d + 1,) + tuple(range(d + 1))).reshape(n, size).T
        else:
            out = full.transpose((d + 1, d) + tuple(range(d))).reshape(n, size).T
        return out if batch else out[:, 0]

    def forward(self, x):
        """Flatten ``x``; see the class docstring for shapes."""
        x = float_array(x, "x")
        self._check(x)
        return self._flatten(x)

    def _definition(self, x, wrt, cache):
        x = float_array(x, "x")
        self._check(x)
        shape = self._full_shape(x.shape)
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
