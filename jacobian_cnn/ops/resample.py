"""Upsampling (nearest, bilinear) and adaptive / global average pooling.

Each is a separable linear map of every ``(H, W)`` map (:mod:`jacobian_cnn.ops.separable`),
with PyTorch's index rules per axis (input size ``n``, output size ``m``,
``scale = n / m``, or ``1 / scale_factor`` when a scale factor is given):

``nearest``
    output ``o`` copies input ``min(floor(o * scale), n - 1)`` (``scale`` in float32, as
    PyTorch's CPU kernel computes it).
``bilinear``
    source ``s = o * (n - 1) / (m - 1)`` with ``align_corners=True`` (0 when ``m == 1``),
    ``s = max(scale * (o + 0.5) - 0.5, 0)`` otherwise; ``i0 = floor(s)``,
    ``i1 = min(i0 + 1, n - 1)``, weights ``1 - (s - i0)`` and ``s - i0``.
adaptive average
    output ``o`` averages inputs ``floor(o n / m) <= i < ceil((o + 1) n / m)``.

A Jacobian entry is the product of the two axes' weights. Index conventions:
:mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import math

import numpy as np

from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.ops.separable import SeparableMap, refuse_empty
from jacobian_cnn.ops.separable import output_size as size_pair

__all__ = ["Upsample", "AdaptiveAvgPool2D", "GlobalAvgPool2D", "UPSAMPLE_MODES"]

UPSAMPLE_MODES = ("nearest", "bilinear")


def _scale_factor(value):
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    ok = len(items) == 2 and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                                 and np.isfinite(v) and v > 0 for v in items)
    if not ok:
        raise InvalidValueError(f"scale_factor must be a positive number or a pair of them, got {value!r}")
    return (float(items[0]), float(items[1]))


class Upsample(SeparableMap):
    """Nearest or bilinear upsampling of every map (PyTorch's ``nn.Upsample``).

    Parameters
    ----------
    size : int or (int, int), optional
        The output ``(Ho, Wo)``; give this or ``scale_factor``.
    scale_factor : float or (float, float), optional
        ``Ho = floor(H * scale_factor)``.
    mode : {"nearest", "bilinear"}
    align_corners : bool, optional
        Bilinear only (default ``False``): whether the corner entries of input and output
        are aligned.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> up = jc.Upsample(scale_factor=2)
    >>> up.forward(np.array([[1., 2.]]))
    array([[1., 1., 2., 2.],
           [1., 1., 2., 2.]])
    >>> jc.Upsample(size=(1, 3), mode="bilinear", align_corners=True).jacobian(
    ...     np.array([[1., 2.]])).toarray()
    array([[1. , 0. ],
           [0.5, 0.5],
           [0. , 1. ]])
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None):
        if (size is None) == (scale_factor is None):
            raise InvalidValueError("Upsample needs exactly one of size and scale_factor, got "
                                    f"size={size!r}, scale_factor={scale_factor!r}")
        self.size = None if size is None else size_pair(size, "size")
        self.scale_factor = None if scale_factor is None else _scale_factor(scale_factor)
        if not isinstance(mode, str) or mode not in UPSAMPLE_MODES:
            raise InvalidValueError(f"mode must be one of {UPSAMPLE_MODES}, got {mode!r}")
        if align_corners is not None and mode == "nearest":
            raise InvalidValueError("align_corners applies to mode='bilinear' only (as in "
                                    f"PyTorch), got align_corners={align_corners!r}")
        if align_corners is not None and not isinstance(align_corners, bool):
            raise InvalidTypeError(f"align_corners must be None, True or False, got {align_corners!r}")
        self.mode, self.align_corners = mode, bool(align_corners)

    def __repr__(self):
        what = f"size={self.size}" if self.size else f"scale_factor={self.scale_factor}"
        corners = f", align_corners={self.align_corners}" if self.mode == "bilinear" else ""
        return f"Upsample({what}, mode={self.mode!r}{corners})"

    def _axis_matrix(self, axis, n_in):
        refuse_empty(n_in, repr(self))
        if self.size:
            m, scale = self.size[axis], n_in / self.size[axis]
        else:
            m, scale = math.floor(n_in * self.scale_factor[axis]), 1 / self.scale_factor[axis]
            if m < 1:
                raise InvalidValueError(f"{self!r} gives an output of size {m} on an axis of "
                                        f"size {n_in}; it must be at least 1")
        a = np.zeros((m, n_in))
        for o in range(m):
            if self.mode == "nearest":
                a[o, min(_nearest(o, n_in, m, scale), n_in - 1)] = 1
                continue
            if self.align_corners:
                s = o * ((n_in - 1) / (m - 1)) if m > 1 else 0.0
            else:
                s = max(scale * (o + 0.5) - 0.5, 0.0)
            i0 = int(s)
            i1 = i0 + (1 if i0 < n_in - 1 else 0)
            weight1 = s - i0
            a[o, i0] += 1 - weight1
            a[o, i1] += weight1
        return a


def _nearest(o, n_in, m, scale):
    """PyTorch's nearest source index (its CPU rule: identity, halving, else float32 floor)."""
    if m == n_in:
        return o
    if m == 2 * n_in:
        return o >> 1
    return int(np.floor(np.float32(o) * np.float32(scale)))


class AdaptiveAvgPool2D(SeparableMap):
    """Average pooling to a fixed output size (PyTorch's ``nn.AdaptiveAvgPool2d``).

    Output ``(io, jo)`` averages the input rows ``floor(io H / Ho) <= i < ceil((io + 1) H / Ho)``
    and the columns likewise; windows may overlap and differ in size. An entry of the
    Jacobian is ``1 / (rows in the window) * 1 / (columns in the window)``.

    Parameters
    ----------
    output_size : int or (int, int)

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> pool = jc.AdaptiveAvgPool2D((1, 2))
    >>> pool.forward(np.array([[1., 2., 4.]]))
    array([[1.5, 3. ]])
    >>> pool.jacobian(np.zeros((1, 3))).toarray()
    array([[0.5, 0.5, 0. ],
           [0. , 0.5, 0.5]])
    """

    def __init__(self, output_size):
        self.output_size = size_pair(output_size, "output_size")

    def __repr__(self):
        return f"{type(self).__name__}({self.output_size})"

    def _axis_matrix(self, axis, n_in):
        refuse_empty(n_in, repr(self))
        m = self.output_size[axis]
        a = np.zeros((m, n_in))
        for o in range(m):
            start, end = (o * n_in) // m, -((-(o + 1) * n_in) // m)
            a[o, start:end] = 1 / (end - start)
        return a


class GlobalAvgPool2D(AdaptiveAvgPool2D):
    """The mean of every map: ``(H, W, C[, N]) -> (1, 1, C[, N])`` (``nn.AdaptiveAvgPool2d(1)``).

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> jc.GlobalAvgPool2D().jacobian(np.zeros((2, 2))).toarray()
    array([[0.25, 0.25, 0.25, 0.25]])
    """

    def __init__(self):
        super().__init__(1)

    def __repr__(self):
        return "GlobalAvgPool2D()"

