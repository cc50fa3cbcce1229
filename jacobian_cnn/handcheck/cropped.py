"""A forgotten stride that keeps the declared output shape: the windows slid by one, but only as
many outputs were kept as the strided layer has (the first ``oh x ow`` windows of a stride-1
pass, in reading order of their top-left corners).

Those windows are the windows of the same layer with stride 1 on the input's top-left corner,
``H' = oh + (kh - 1) dh + 1 - 1 - pad_top`` rows (and as many columns), so the mistake is
checked as that smaller problem: the written matrix restricted to the corner's entries (every
entry outside it must be 0).

Examples
--------
>>> import jacobian_cnn as jc
>>> from jacobian_cnn.handcheck.cropped import cropped_stride
>>> layer, corner = cropped_stride(jc.AvgPool2D(2), (4, 4))
>>> layer, corner
(AvgPool2D(2x2, stride=1), (3, 3))
"""

from __future__ import annotations

import copy

import numpy as np

from jacobian_cnn.errors import JacobianCNNError


def cropped_stride(layer, x_shape):
    """``(layer with stride 1, (H', W'))`` whose output on the input's top-left ``H' x W'``
    corner is the first windows of a stride-1 pass, as many as ``layer`` has; ``None`` when
    the stride is 1 or the corner needs padding the layer does not have."""
    if tuple(layer.stride) == (1, 1) or len(x_shape) < 2:
        return None
    try:
        out = np.shape(layer.forward(np.zeros(x_shape)))
    except JacobianCNNError:
        return None
    size = layer.window if hasattr(layer, "window") else np.shape(layer.kernel)[:2]
    corner, padding = [], []
    for axis in (0, 1):
        (lo, hi), reach = layer.padding[axis], (size[axis] - 1) * layer.dilation[axis] + 1
        rows = out[axis] + reach - 1 - lo  # rows of the input the kept windows cover
        below = max(0, rows - x_shape[axis])
        if below > hi:
            return None
        corner.append(min(rows, x_shape[axis]))
        padding.append((lo, below))
    stride_one = copy.copy(layer)
    stride_one.stride, stride_one.padding = (1, 1), tuple(padding)
    return stride_one, tuple(corner)


def corner_input(x, corner):
    """The input's top-left corner: a shape tuple, or the numeric values' corner."""
    if isinstance(x, tuple):
        return (*corner, *x[2:])
    return np.asarray(x)[:corner[0], :corner[1]]


def corner_written(W, x_shape, corner, n_out, wrt):
    """The written entries that belong to the corner (a forward result or a quantity with
    respect to a parameter is kept whole; one with respect to the input is restricted to the
    corner's columns or block), or ``None`` when an entry outside the corner is not 0."""
    x_shape = tuple(x_shape)
    if wrt != "input":
        return W
    n_in = int(np.prod(x_shape))
    inside = np.zeros(x_shape, dtype=bool)
    inside[:corner[0], :corner[1]] = True
    keep = np.flatnonzero(inside.ravel(order="F"))
    if W.shape == (n_out, n_in) or W.shape == (1, n_in):       # Jacobian, gradient row
        rest, part = np.delete(W, keep, axis=1), W[:, keep]
    elif len(x_shape) == 2 and W.shape == x_shape:             # gradient in the input's shape
        rest = W[~inside]
        part = W[:corner[0], :corner[1]]
    else:
        return W
    return part if all(v == 0 for v in np.ravel(rest)) else None
