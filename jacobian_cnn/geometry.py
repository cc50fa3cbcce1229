"""Sliding-window geometry shared by convolution, average pooling and max pooling.

Convolution, average pooling and max pooling visit the same windows; they differ
only in the values they put into the same sparsity pattern (seed 004: average
pooling *is* a convolution with a constant kernel). :class:`WindowGeometry`
normalizes the geometry once and owns the index table that every Jacobian builder
reads.

Index conventions (see :mod:`jacobian_cnn.vec`): output position ``(p, q)`` has
vec index ``o = p + q * Ho``; window tap ``(r, s)`` has index ``t = r + s * kh``
(the seed's ``vec(Omega)`` order); input position ``(i, j)`` of one channel has
index ``i + j * H``. Tap ``(r, s)`` of output ``(p, q)`` reads padded position
``(p * sh + r * dh, q * sw + s * dw)``, i.e. input row
``i = p * sh - top + r * dh`` and column ``j = q * sw - left + s * dw``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ._checks import padding_pairs, pair

__all__ = ["WindowGeometry", "describe"]


@dataclass(frozen=True)
class WindowGeometry:
    """A 2-D sliding window over one ``(H, W)`` plane, with every argument explicit.

    Build it with :meth:`from_args`, which accepts the loose forms users write.

    Attributes
    ----------
    in_size : (int, int)
        ``(H, W)`` of the unpadded input plane.
    window : (int, int)
        ``(kh, kw)``, the number of taps per axis.
    stride, dilation : (int, int)
    padding : ((int, int), (int, int))
        ``((top, bottom), (left, right))``.
    out_size : (int, int)
        ``(Ho, Wo)``; ``Ho = floor((H + top + bottom - dh*(kh-1) - 1) / sh) + 1``.

    Examples
    --------
    Seed 004 appendix A: a 3x4 input, a 2x2 kernel, padding (1, 1), stride (1, 2).

    >>> from jacobian_cnn.geometry import WindowGeometry
    >>> g = WindowGeometry.from_args((3, 4), 2, stride=(1, 2), padding=1)
    >>> g.out_size
    (4, 3)
    >>> g.taps[0]          # z11 sees padding, padding, padding, a11 (vec index 0)
    array([-1, -1, -1,  0], dtype=int32)
    """

    in_size: tuple
    window: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    out_size: tuple

    @classmethod
    def from_args(cls, in_size, window, *, stride=None, padding=0, dilation=1,
                  window_name="window"):
        """Normalize loose arguments; raise ``ValueError`` on impossible geometry.

        ``stride=None`` means stride 1 (convolution); pooling passes its window.
        """
        in_size = pair(tuple(in_size), "input spatial size", minimum=1)
        window = pair(window, window_name, minimum=1)
        stride = (1, 1) if stride is None else pair(stride, "stride", minimum=1)
        dilation = pair(dilation, "dilation", minimum=1)
        padding = padding_pairs(padding)
        out = []
        for axis, name in enumerate(("height", "width")):
            span = dilation[axis] * (window[axis] - 1) + 1
            padded = in_size[axis] + sum(padding[axis])
            if span > padded:
                raise ValueError(
                    f"{window_name} {window} with dilation {dilation} spans {span} in {name} "
                    f"but the padded input has {name} {padded} (input {in_size}, padding "
                    f"{padding}); the output would be empty"
                )
            out.append((padded - span) // stride[axis] + 1)
        return cls(in_size, window, stride, padding, dilation, tuple(out))

    @property
    def n_out(self):
        """Number of output positions ``Ho * Wo``."""
        return self.out_size[0] * self.out_size[1]

    @property
    def n_taps(self):
        """Number of taps per window ``kh * kw``."""
        return self.window[0] * self.window[1]

    @property
    def n_in(self):
        """Number of input positions ``H * W``."""
        return self.in_size[0] * self.in_size[1]

    @cached_property
    def positions(self):
        """Input ``(rows, cols)`` of every tap, each ``(n_out, n_taps)`` (may be out of range)."""
        (ho, wo), (kh, kw) = self.out_size, self.window
        p = np.arange(ho)[:, None, None, None]
        q = np.arange(wo)[None, :, None, None]
        r = np.arange(kh)[None, None, :, None]
        s = np.arange(kw)[None, None, None, :]
        rows = p * self.stride[0] - self.padding[0][0] + r * self.dilation[0]
        cols = q * self.stride[1] - self.padding[1][0] + s * self.dilation[1]
        rows, cols = np.broadcast_arrays(rows, cols)
        # (p, q, r, s) -> (o, t) with o = p + q*Ho and t = r + s*kh: a column-major reshape.
        shape = (self.n_out, self.n_taps)
        return rows.reshape(shape, order="F"), cols.reshape(shape, order="F")

    @cached_property
    def taps(self):
        """``(n_out, n_taps)`` int32 table: input vec index of each tap, ``-1`` in padding."""
        rows, cols = self.positions
        inside = (rows >= 0) & (rows < self.in_size[0]) & (cols >= 0) & (cols < self.in_size[1])
        table = np.where(inside, rows + cols * self.in_size[0], -1).astype(np.int32)
        table.flags.writeable = False
        return table

    @cached_property
    def valid(self):
        """Boolean ``(n_out, n_taps)``: which taps fall inside the input."""
        mask = self.taps >= 0
        mask.flags.writeable = False
        return mask

    @cached_property
    def valid_counts(self):
        """Number of in-input taps of each output position, ``(n_out,)``."""
        return self.valid.sum(axis=1)

    def __repr__(self):
        return (
            f"WindowGeometry(in={self.in_size}, window={self.window}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, out={self.out_size})"
        )


def describe(stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), *, default_stride=(1, 1)):
    """Short text of the non-default geometry arguments, for layer reprs.

    Examples
    --------
    >>> from jacobian_cnn.geometry import describe
    >>> describe((1, 2), ((1, 1), (1, 1)), (1, 1))
    'stride=(1, 2), padding=1'
    """
    parts = []
    if stride != default_stride:
        parts.append(f"stride={stride[0] if stride[0] == stride[1] else stride}")
    (top, bottom), (left, right) = padding
    if top == bottom == left == right:
        if top:
            parts.append(f"padding={top}")
    elif top == bottom and left == right:
        parts.append(f"padding={(top, left)}")
    else:
        parts.append(f"padding={padding}")
    if dilation != (1, 1):
        parts.append(f"dilation={dilation[0] if dilation[0] == dilation[1] else dilation}")
    return ", ".join(parts)
