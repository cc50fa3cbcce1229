"""Linear maps of each ``(H, W)`` map, one operator per axis: ``Y = A_h X A_w^T``.

Padding (:mod:`jacobian_cnn.ops.padding`), upsampling and adaptive average pooling
(:mod:`jacobian_cnn.ops.resample`) move or mix the entries of each channel of each
sample with the same small matrices: ``A_h`` (``Ho x H``) over the rows and ``A_w``
(``Wo x W``) over the columns, so ``y[io, jo] = sum_i sum_j A_h[io, i] A_w[jo, j] x[i, j]``
and, in column-major ``vec`` (:mod:`jacobian_cnn.vec`),

    d vec(Y_c) / d vec(X_c) = A_w kron A_h,

one such block per channel and sample on the diagonal. A layer says what its axis
matrices are (``_axis_matrix``); the forward pass, the readable definition
(:func:`separable_entries`) and the fast Jacobian all follow from them. The structural
nonzeros are the nonzero entries of the axis matrices.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jacobian_cnn._arguments import check_size, pair
from jacobian_cnn._sparse.csr import repeated_block_diagonal
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops.layer import Definition, Layer, as_maps, maps_like

__all__ = ["SeparableMap", "separable_entries", "output_size", "refuse_empty"]


def separable_entries(taps_h, taps_w, in_size, n_maps):
    """The entries of ``d vec(Y) / d vec(X)`` for ``n_maps`` maps (channels times samples).

    ``taps_h[io]`` lists the input rows ``i`` with ``A_h[io, i] != 0``, ``taps_w[jo]`` the
    input columns ``j`` with ``A_w[jo, j] != 0``; output ``(io, jo)`` of map ``m`` reads
    input ``(i, j)`` of the same map with weight ``A_h[io, i] * A_w[jo, j]``.
    """
    h, w = in_size
    ho, wo = len(taps_h), len(taps_w)
    for m in range(n_maps):
        for jo in range(wo):
            for io in range(ho):
                for j in taps_w[jo]:
                    for i in taps_h[io]:
                        yield io + ho * (jo + wo * m), i + h * (j + w * m), ("tap", io, i, jo, j)


class SeparableMap(Layer):
    """Base of the layers ``Y = A_h X A_w^T`` applied to every channel of every sample.

    Subclasses define ``_axis_matrix(axis, n_in)``: the ``(n_out, n_in)`` float64 matrix
    of axis 0 (rows, ``A_h``) or 1 (columns, ``A_w``), and may define
    ``_offset(h, w)``: an ``(Ho, Wo)`` array added to every map (constant padding).
    Inputs are ``(H, W)``, ``(H, W, C)`` or a batch ``(H, W, C, N)``.
    """

    def _offset(self, h, w):
        return None

    def _matrices(self, x4):
        """``(A_h, A_w)`` in ``x``'s precision."""
        h, w = x4.shape[:2]
        return (self._axis_matrix(0, h).astype(x4.dtype), self._axis_matrix(1, w).astype(x4.dtype))

    def forward(self, x):
        """``A_h X A_w^T`` for every map (plus the layer's constant, if any)."""
        x4, ndim = as_maps(x)
        h, w, c, n = x4.shape
        a_h, a_w = self._matrices(x4)
        y = _apply_axes(a_h, a_w, x4.reshape(h, w, c * n))
        offset = self._offset(h, w)
        if offset is not None:
            y += offset.astype(x4.dtype)[:, :, None]
        return maps_like(y.reshape(a_h.shape[0], a_w.shape[0], c, n), ndim)

    def _definition(self, x, wrt, cache):
        x4, _ = as_maps(x)
        h, w, c, n = x4.shape
        a_h, a_w = self._matrices(x4)
        taps_h = [np.flatnonzero(row).tolist() for row in a_h]
        taps_w = [np.flatnonzero(row).tolist() for row in a_w]
        n_out = a_h.shape[0] * a_w.shape[0] * c * n
        return Definition(separable_entries(taps_h, taps_w, (h, w), c * n), (n_out, x4.size),
                          {"tap": lambda io, i, jo, j: a_h[io, i] * a_w[jo, j]}, x4.dtype)

    def _jacobian_parts(self, x, wrt="input", *, cache=None, max_bytes=None):
        """One block ``A_w kron A_h`` per channel and sample, as
        :class:`~jacobian_cnn._sparse.csr.CSRParts`."""
        self._check_wrt(wrt)
        x4, _ = as_maps(x)
        h, w, c, n = x4.shape
        a_h, a_w = self._matrices(x4)
        per_map = np.count_nonzero(a_h, axis=1).sum() * np.count_nonzero(a_w, axis=1).sum()
        check_size(a_h.shape[0] * a_w.shape[0] * c * n, per_map * c * n, x4.dtype.itemsize,
                   max_bytes, f"{type(self).__name__} Jacobian")
        block = sp.csr_array(sp.kron(sp.csr_array(a_w), sp.csr_array(a_h), format="csr"))
        block.sort_indices()
        return repeated_block_diagonal(block, c * n)


def _apply_axes(a_h, a_w, x3):
    """``A_h X_m A_w^T`` for every map ``m`` of ``x3`` ``(H, W, M)``: two sparse products.

    The axis matrices are mostly zeros (one or two entries per row), so each axis costs
    its nonzeros times the other axes, not ``Ho x H`` times them as a dense product would.
    """
    h, w, m = x3.shape
    ho, wo = a_h.shape[0], a_w.shape[0]
    rows = sp.csr_array(a_h) @ x3.reshape(h, w * m)                    # (Ho, W M)
    cols = np.ascontiguousarray(rows.reshape(ho, w, m).transpose(1, 0, 2)).reshape(w, ho * m)
    y = sp.csr_array(a_w) @ cols                                        # (Wo, Ho M)
    return np.ascontiguousarray(y.reshape(wo, ho, m).transpose(1, 0, 2))


def output_size(value, name):
    """An output size ``(Ho, Wo)`` of positive ints (an int is square)."""
    return pair(value, name, minimum=1)


def refuse_empty(n_in, what):
    """Refuse an axis of size 0: there is nothing to read from."""
    if n_in == 0:
        raise InvalidValueError(f"{what} needs maps of at least one row and one column; "
                                "got an axis of size 0")
