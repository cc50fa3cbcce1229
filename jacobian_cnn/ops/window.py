"""A layer's sliding window: its arguments normalized and validated once, then placed on inputs.

A window layer (convolution, pooling) makes its :class:`SlidingWindow` in its
constructor, where every argument is checked; :meth:`SlidingWindow.on` then derives the
:class:`~jacobian_cnn.ops.geometry.WindowGeometry` of each input size, checking only
what depends on that size.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from jacobian_cnn._arguments import padding_pairs, pair
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops.geometry import WindowGeometry, check_bool, check_padding_mode

__all__ = ["SlidingWindow", "WindowSetting"]


class WindowSetting:
    """A layer attribute its sliding window is made from (stride, padding, ...).

    Normalized when set, by ``normalize(layer, value)``. Setting one after construction
    drops the layer's window, which :meth:`window_of` makes (and validates) again on its
    next use, so a changed stride can never leave a stale geometry behind.
    """

    def __init__(self, normalize):
        self.normalize = normalize

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, layer, owner=None):
        return self if layer is None else layer.__dict__[self.name]

    def __set__(self, layer, value):
        layer.__dict__[self.name] = self.normalize(layer, value)
        layer.__dict__.pop("_window", None)

    @staticmethod
    def window_of(layer):
        """``layer``'s :class:`SlidingWindow`, made by its ``_make_window`` when missing."""
        if "_window" not in layer.__dict__:
            layer.__dict__["_window"] = layer._make_window()
        return layer.__dict__["_window"]


@dataclass(frozen=True)
class SlidingWindow:
    """A layer's sliding window, every argument explicit and validated: made once, by the
    layer's constructor (or :meth:`from_args`), then placed on each input size by :meth:`on`.

    Attributes
    ----------
    size, stride, dilation : (int, int)
        Positive.
    padding : ((int, int), (int, int))
        ``((top, bottom), (left, right))``, non-negative.
    ceil_mode : bool
    padding_mode : {"zeros", "reflect", "replicate", "circular"}
    name : str
        What the window is called in messages (``"kernel"`` for convolution).
    """

    size: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    ceil_mode: bool = False
    padding_mode: str = "zeros"
    name: str = "window"

    @classmethod
    def from_args(cls, window, *, stride=None, padding=0, dilation=1, ceil_mode=False,
                  padding_mode="zeros", window_name="window"):
        """Normalize the loose forms users write (``stride=None`` is stride 1)."""
        return cls(pair(window, window_name, minimum=1),
                   (1, 1) if stride is None else pair(stride, "stride", minimum=1),
                   padding_pairs(padding), pair(dilation, "dilation", minimum=1),
                   check_bool(ceil_mode, "ceil_mode"), check_padding_mode(padding_mode), window_name)

    def on(self, in_size):
        """The :class:`WindowGeometry` on an ``(H, W)`` input (positive ints).

        Checks only what depends on the input size: that the window fits the padded
        input and that a copying padding is not larger than the input allows. Equal
        windows on equal sizes return the same instance (a small cache of recent
        geometries): a geometry is immutable, so its index tables are computed once
        and every forward pass and Jacobian of a layer on one input size shares them.
        """
        return _geometry_on(self, tuple(in_size))


@lru_cache(maxsize=64)
def _geometry_on(window, in_size):
    """:meth:`SlidingWindow.on`: validate the input size, size the output."""
    in_size = pair(in_size, "input spatial size", minimum=1)
    size, stride, padding, dilation = window.size, window.stride, window.padding, window.dilation
    out = []
    for axis, name in enumerate(("height", "width")):
        n, (lo, hi) = in_size[axis], padding[axis]
        if window.padding_mode == "reflect" and max(lo, hi) >= n:
            raise InvalidValueError(
                f"padding {padding} with padding_mode='reflect' must be smaller than the "
                f"input {name} {n} (input {in_size}): reflection does not repeat the edge"
            )
        if window.padding_mode == "circular" and max(lo, hi) > n:
            raise InvalidValueError(
                f"padding {padding} with padding_mode='circular' must be at most the input "
                f"{name} {n} (input {in_size}): it would wrap around more than once"
            )
        span = dilation[axis] * (size[axis] - 1) + 1
        padded = n + lo + hi
        if span > padded:
            raise InvalidValueError(
                f"{window.name} {size} with dilation {dilation} spans {span} in {name} "
                f"but the padded input has {name} {padded} (input {in_size}, padding "
                f"{padding}); the output would be empty"
            )
        if window.ceil_mode:
            n_out = -(-(padded - span) // stride[axis]) + 1
            if (n_out - 1) * stride[axis] >= n + lo:  # the last window starts in the padding
                n_out -= 1
        else:
            n_out = (padded - span) // stride[axis] + 1
        out.append(n_out)
    return WindowGeometry(in_size, size, stride, padding, dilation, tuple(out), window.ceil_mode,
                          window.padding_mode)
