"""One N-dimensional sliding window: the geometry of the 1-D, 3-D and transposed layers.

The 2-D layers keep their own tuned geometry (:mod:`jacobian_cnn.ops.geometry`, with
copying padding modes and the tiled fast path); the layers over ``(L, C[, N])`` and
``(D, H, W, C[, N])`` and the transposed convolutions use this one, written once for any
number of spatial axes. The conventions are the 2-D ones, axis by axis (see
:mod:`jacobian_cnn.vec`): output position ``(p_0, p_1, ...)`` has vec index
``o = p_0 + O_0 * (p_1 + O_1 * ...)`` (first axis fastest), window tap
``(r_0, r_1, ...)`` has index ``t = r_0 + k_0 * (r_1 + ...)``, and tap ``r_a`` of output
``p_a`` reads input index ``p_a * stride_a - lo_a + r_a * dilation_a`` along axis ``a``.
Padding holds zeros (a tap there reads nothing, index ``-1``); ``ceil_mode`` follows
PyTorch (the last window may hang past the padding, and one starting in the trailing
padding is dropped).

Examples
--------
A 1-D input of length 5, windows of 3 with stride 2 and one zero on each side:

>>> from jacobian_cnn.ops.window_nd import GridWindow
>>> g = GridWindow.from_args(1, 3, stride=2, padding=1).on((5,))
>>> g.out_size, g.taps.tolist()
((3,), [[-1, 0, 1], [1, 2, 3], [3, 4, -1]])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from jacobian_cnn._arguments import byte_limit, index_dtype, is_int
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError, SizeLimitError
from jacobian_cnn.ops.geometry import check_bool
from jacobian_cnn.ops.window import SlidingWindow

__all__ = ["GridWindow", "GridGeometry", "axis_tuple", "axis_padding", "AXIS_NAMES"]

AXIS_NAMES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}
"""What each spatial axis is called in messages, by the number of spatial axes."""


def axis_tuple(value, name, ndim, *, minimum):
    """An int, ``(a,)`` (broadcast, as in PyTorch) or ``ndim`` ints, as a tuple of ``ndim`` ints."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    items = items * ndim if len(items) == 1 else items
    word = "positive" if minimum == 1 else "non-negative"
    if len(items) != ndim or not all(is_int(v) for v in items):
        raise InvalidTypeError(f"{name} must be a {word} int or {ndim} {word} ints, got {value!r}")
    if min(items) < minimum:
        raise InvalidValueError(f"{name} must be a {word} int or {ndim} {word} ints, got {value!r}")
    return tuple(int(v) for v in items)


def axis_padding(value, ndim, name="padding"):
    """``((lo, hi), ...)`` per axis from an int, ``ndim`` ints or ``ndim`` ``(lo, hi)`` pairs."""
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, (tuple, list)) for v in value):
        if len(value) != ndim:
            raise InvalidValueError(f"{name} must give one (lo, hi) pair per axis ({ndim}), "
                                    f"got {value!r}")
        return tuple(axis_tuple(v, f"{name}[{a}]", 2, minimum=0) for a, v in enumerate(value))
    return tuple((p, p) for p in axis_tuple(value, name, ndim, minimum=0))


class GridWindow(SlidingWindow):
    """A layer's window over ``ndim`` spatial axes, every argument explicit and validated.

    The attributes of :class:`~jacobian_cnn.ops.window.SlidingWindow`, one entry per axis
    (``size``, ``stride``, ``dilation``: positive ints; ``padding``: ``(lo, hi)`` zeros per
    axis; ``padding_mode`` is always ``"zeros"``), placed on inputs by :meth:`on`.
    """

    @classmethod
    def from_args(cls, ndim, window, *, stride=None, padding=0, dilation=1, ceil_mode=False,
                  window_name="window"):
        """Normalize the loose forms users write (``stride=None`` is stride 1)."""
        return cls(axis_tuple(window, window_name, ndim, minimum=1),
                   (1,) * ndim if stride is None else axis_tuple(stride, "stride", ndim, minimum=1),
                   axis_padding(padding, ndim), axis_tuple(dilation, "dilation", ndim, minimum=1),
                   check_bool(ceil_mode, "ceil_mode"), name=window_name)

    def on(self, in_size, out_size=None):
        """The :class:`GridGeometry` on an input of spatial size ``in_size``.

        ``out_size`` (optional) keeps only the first windows along each axis: a transposed
        convolution's matching convolution has exactly as many outputs as its input.
        Equal windows on equal sizes share one (cached, immutable) geometry.
        """
        return _geometry_on(self, tuple(in_size), None if out_size is None else tuple(out_size))


@lru_cache(maxsize=64)
def _geometry_on(window, in_size, out_size):
    ndim = len(window.size)
    in_size = axis_tuple(in_size, "input spatial size", ndim, minimum=1)
    counts = []
    for axis, name in enumerate(AXIS_NAMES.get(ndim, [f"axis {a}" for a in range(ndim)])):
        n, (lo, hi), step = in_size[axis], window.padding[axis], window.stride[axis]
        span = window.dilation[axis] * (window.size[axis] - 1) + 1
        padded = n + lo + hi
        if span > padded:
            raise InvalidValueError(
                f"{window.name} {window.size} with dilation {window.dilation} spans {span} in "
                f"{name} but the padded input has {name} {padded} (input {in_size}, padding "
                f"{window.padding}); the output would be empty")
        count = (padded - span) // step + 1
        if window.ceil_mode:
            count = -(-(padded - span) // step) + 1
            count -= (count - 1) * step >= n + lo  # the last window starts in the padding
        counts.append(count if out_size is None else min(count, out_size[axis]))
    return GridGeometry(window, in_size, tuple(counts))


@dataclass(frozen=True)
class GridGeometry:
    """A :class:`GridWindow` placed on one input size (see the module docstring).

    Attributes
    ----------
    sliding : GridWindow
        The window; its settings are read through as ``window`` (its size), ``stride``,
        ``padding``, ``dilation`` and ``ceil_mode``.
    in_size, out_size : tuple of int
        Input and output positions per axis.
    """

    sliding: GridWindow
    in_size: tuple
    out_size: tuple

    window = property(lambda self: self.sliding.size, doc="Taps per axis.")
    stride = property(lambda self: self.sliding.stride)
    padding = property(lambda self: self.sliding.padding, doc="``(lo, hi)`` per axis.")
    dilation = property(lambda self: self.sliding.dilation)
    ceil_mode = property(lambda self: self.sliding.ceil_mode)

    n_in = property(lambda self: math.prod(self.in_size), doc="Input positions per plane.")
    n_out = property(lambda self: math.prod(self.out_size), doc="Output positions per plane.")
    n_taps = property(lambda self: math.prod(self.window), doc="Taps per window.")

    def _axis_index(self, axis):
        """``(O_a, k_a)`` input index along ``axis`` of each tap of each output position."""
        p = np.arange(self.out_size[axis], dtype=np.int64)[:, None]
        r = np.arange(self.window[axis], dtype=np.int64)[None, :]
        return p * self.stride[axis] - self.padding[axis][0] + r * self.dilation[axis]

    def _combine(self, per_axis, op, start):
        """``(n_out, n_taps)`` table ``op``-combined over the axes' ``(O_a, k_a)`` tables.

        Built in the shape ``(O_last, ..., O_0, k_last, ..., k_0)``, whose C order is
        the column-major order of outputs and of taps."""
        d = len(per_axis)
        table = start
        for axis, values in enumerate(per_axis):
            shape = [1] * (2 * d)
            shape[d - 1 - axis], shape[2 * d - 1 - axis] = values.shape
            table = op(table, values.reshape(shape))
        return np.broadcast_to(table, self.out_size[::-1] + self.window[::-1]).reshape(
            self.n_out, self.n_taps)

    def _counts(self, inside_padding):
        """Taps of each output that read the input (or lie in the padded input), ``(n_out,)``."""
        per_axis = []
        for axis, n in enumerate(self.in_size):
            index, (lo, hi) = self._axis_index(axis), self.padding[axis]
            first, stop = (-lo, n + hi) if inside_padding else (0, n)
            per_axis.append(((index >= first) & (index < stop)).sum(axis=1))
        counts = np.ones(1, np.int64)
        for c in per_axis:  # column-major: the first axis fastest
            counts = (c[:, None] * counts[None, :]).ravel()
        return _frozen(counts)

    @property
    def index_dtype(self):
        """Integer type of :attr:`taps`."""
        return index_dtype(2 * self.n_in + 2)

    @cached_property
    def taps(self):
        """``(n_out, n_taps)`` table: input vec index each tap reads, ``-1`` in padding."""
        strides = np.cumprod((1,) + self.in_size[:-1])
        index = [self._axis_index(a) for a in range(len(self.in_size))]
        inside = self._combine([(i >= 0) & (i < n) for i, n in zip(index, self.in_size, strict=True)],
                               np.logical_and, True)
        flat = self._combine([i * s for i, s in zip(index, strides, strict=True)], np.add, 0)
        return _frozen(np.where(inside, flat, -1).astype(self.index_dtype))

    @cached_property
    def valid(self):
        """Boolean ``(n_out, n_taps)``: which taps read the input."""
        return _frozen(self.taps >= 0)

    @cached_property
    def valid_counts(self):
        """Taps of each output position that read the input, ``(n_out,)``."""
        return self._counts(False)

    @cached_property
    def padded_counts(self):
        """Taps of each output position inside the padded input (PyTorch's average-pool
        divisor with ``count_include_pad``), ``(n_out,)``."""
        return self._counts(True)

    def jacobian_nnz(self, channels, blocks=1):
        """Nonzeros of a window layer's Jacobian: every tap that reads the input, over
        ``channels`` input planes per row, in each of ``blocks`` blocks (no table built).

        The valid taps are a product over the axes, so their number is the product of each
        axis's count, and an axis's count is, per tap ``r``, the outputs ``p`` with
        ``0 <= p stride - lo + r dilation < n``: O(taps) work, no array of the outputs."""
        total = 1
        for n, o, k, s, d, (lo, _) in zip(self.in_size, self.out_size, self.window, self.stride,
                                          self.dilation, self.padding, strict=True):
            total *= sum(max(0, min(o - 1, (n - 1 + lo - r * d) // s) - max(0, -((r * d - lo) // s)) + 1)
                         for r in range(k))
        return total * channels * blocks

    def reads(self, local):
        """Whether each ``local[o, j]`` (an input vec index of one plane) is a tap of output
        ``o``'s window that reads the input: per axis, its coordinate minus the window's start
        is a multiple of the dilation below ``dilation x window``. No ``(n_out, n_taps)`` table."""
        local = np.asarray(local)
        ok = (local >= 0) & (local < self.n_in)
        rest, out = np.where(ok, local, 0), np.arange(self.n_out)
        for n, o, k, s, d, (lo, _) in zip(self.in_size, self.out_size, self.window, self.stride,
                                          self.dilation, self.padding, strict=True):
            offset = rest % n - (out % o * s - lo).reshape((-1,) + (1,) * (local.ndim - 1))
            ok &= (offset >= 0) & (offset % d == 0) & (offset < k * d)
            rest, out = rest // n, out // o
        return ok

    def check_tables(self, max_bytes=None, *, what, bytes_per_tap=0):
        """Refuse (:class:`SizeLimitError`), before building anything, tables over ``max_bytes``."""
        limit = byte_limit(max_bytes)
        estimate = self.n_out * self.n_taps * (8 + 1 + int(bytes_per_tap))
        if estimate > limit:
            raise SizeLimitError(
                f"{what} would need about {estimate:,} bytes ({estimate / 2**20:.1f} MiB) of "
                f"window tables for {self.n_out:,} outputs x {self.n_taps:,} taps ({self!r}), "
                f"over max_bytes={limit:,}; pass a larger max_bytes or a smaller input")
        return estimate

    def __repr__(self):
        extra = ", ceil_mode=True" if self.ceil_mode else ""
        return (f"GridGeometry(in={self.in_size}, window={self.window}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, out={self.out_size}{extra})")


def _frozen(a):
    a.flags.writeable = False
    return a
