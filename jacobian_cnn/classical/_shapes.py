"""The shape checks the classical algorithms share: an input shape, and a cotangent that fits it."""

from __future__ import annotations

from jacobian_cnn._arguments import float_array, shape_tuple
from jacobian_cnn.errors import InvalidValueError


def in_shape_4d(shape):
    """``(in_shape, (H, W, C, N))``: a map's shape checked, and padded with trailing 1s."""
    shape = shape_tuple(shape, "in_shape", minimum=1)
    if len(shape) not in (2, 3, 4):
        raise InvalidValueError(f"input shape must be (H, W), (H, W, C) or (H, W, C, N); got {shape}")
    return shape, shape + (1,) * (4 - len(shape))


def cotangent_4d(g, expected4, what):
    """``g`` as ``(Ho, Wo, C, N)``; any shape equal to ``expected4`` up to trailing 1s."""
    g = float_array(g, "g")
    if g.ndim > 4 or g.reshape(g.shape + (1,) * (4 - g.ndim)).shape != tuple(expected4):
        raise InvalidValueError(
            f"g must have the shape of the {what} output, {tuple(expected4)} "
            f"(trailing 1s may be dropped); got {g.shape}"
        )
    return g.reshape(expected4)
