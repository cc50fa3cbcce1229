"""The page's controls: a small grid of precomputed geometries around a window layer's own.

For a :class:`~jacobian_cnn.Conv2D`, :class:`~jacobian_cnn.AvgPool2D` or
:class:`~jacobian_cnn.MaxPool2D`, each control offers the layer's own value and two
standard ones: window (or kernel) size 2 and 3, stride 1 and 2, padding 0 and 1,
dilation 1 and 2. Every combination (at most :data:`MAX_VARIANTS` = 3**4 = 81) is
computed here, on the same input, and embedded in the page as a panel; a combination
the layer refuses (padding over half the window, a window larger than the padded
input) or one over ``max_entries`` is left out, and the page says so when it is
chosen. Every other option of the layer is kept (bias, groups, padding mode, divisor,
ties). A convolution whose kernel size changes gets the kernel ``1, 2, 3, ...`` in
column-major order (its values are for reading, not for training).

Examples
--------
>>> import numpy as np
>>> import jacobian_cnn as jc
>>> from jacobian_cnn.explorer.variants import geometry_variants
>>> grid = geometry_variants(jc.AvgPool2D(2, stride=1), np.ones((4, 4)), symbolic=False)
>>> [(c["name"], c["values"]) for c in grid["controls"]]
[('window', ['2', '3']), ('stride', ['1', '2']), ('padding', ['0', '1']), ('dilation', ['1', '2'])]
>>> grid["initial"], len(grid["variants"]) + grid["left_out"]
('2|1|0|1', 16)
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn.errors import InvalidValueError, SizeLimitError
from jacobian_cnn.explorer.data import MAX_EXPLORE_ENTRIES, layer_panel
from jacobian_cnn.ops.conv import Conv2D
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D

__all__ = ["MAX_VARIANTS", "WINDOW_LAYERS", "geometry_variants", "setting_label"]

MAX_VARIANTS = 81
"""The most settings a page embeds: three values for each of four controls."""

WINDOW_LAYERS = (Conv2D, AvgPool2D, MaxPool2D)
"""Layers whose page has geometry controls."""

_STANDARD = {"window": [(2, 2), (3, 3)], "stride": [(1, 1), (2, 2)],
             "padding": [((0, 0), (0, 0)), ((1, 1), (1, 1))], "dilation": [(1, 1), (2, 2)]}


def setting_label(value):
    """``(2, 2)`` -> ``"2"``, ``(1, 2)`` -> ``"1x2"``; padding ``((1, 1), (0, 0))`` -> ``"1x0"``.

    Examples
    --------
    >>> setting_label((2, 3)), setting_label(((1, 1), (1, 1))), setting_label(((0, 1), (1, 1)))
    ('2x3', '1', '0,1x1,1')
    """
    if isinstance(value[0], tuple):
        (top, bottom), (left, right) = value
        if top == bottom and left == right:
            return setting_label((top, left))
        return f"{top},{bottom}x{left},{right}"
    return str(value[0]) if value[0] == value[1] else f"{value[0]}x{value[1]}"


def _own_setting(layer):
    window = layer.kernel.shape[:2] if isinstance(layer, Conv2D) else layer.window
    return {"window": tuple(int(v) for v in window), "stride": tuple(layer.stride),
            "padding": tuple(tuple(p) for p in layer.padding), "dilation": tuple(layer.dilation)}


def _with_setting(layer, setting):
    """A layer like ``layer`` with the window, stride, padding and dilation of ``setting``."""
    geometry = {"stride": setting["stride"], "padding": setting["padding"],
                "dilation": setting["dilation"]}
    if isinstance(layer, Conv2D):
        kernel = layer.kernel
        if tuple(kernel.shape[:2]) != setting["window"]:
            shape = (*setting["window"], *kernel.shape[2:])
            kernel = np.arange(1, np.prod(shape) + 1, dtype=kernel.dtype).reshape(shape, order="F")
        return Conv2D(kernel, layer.bias, groups=layer.groups, padding_mode=layer.padding_mode,
                      **geometry)
    if isinstance(layer, AvgPool2D):
        return AvgPool2D(setting["window"], count_include_pad=layer.count_include_pad,
                         ceil_mode=layer.ceil_mode, divisor_override=layer.divisor_override, **geometry)
    return MaxPool2D(setting["window"], pad_value=layer.pad_value, tie=layer.tie,
                     ceil_mode=layer.ceil_mode, **geometry)


def geometry_variants(layer, x, *, symbolic=None, max_entries=MAX_EXPLORE_ENTRIES):
    """The controls and one panel per setting of ``layer`` (a window layer) on ``x``.

    Returns
    -------
    dict
        ``controls`` (``[{"name", "values"}]``, values as labels), ``variants`` (panels
        keyed by the labels joined with ``|``, in the controls' order), ``initial``
        (the key of the layer's own setting) and ``left_out`` (settings refused).
    """
    own = _own_setting(layer)
    options = {name: sorted({own[name], *_STANDARD[name]}) for name in own}
    names = list(own)
    initial = "|".join(setting_label(own[name]) for name in names)
    variants = {initial: layer_panel(layer, x, symbolic=symbolic, max_entries=max_entries)}
    left_out = 0
    for combo in np.ndindex(*(len(options[name]) for name in names)):
        setting = {name: options[name][k] for name, k in zip(names, combo, strict=True)}
        key = "|".join(setting_label(setting[name]) for name in names)
        if key in variants:
            continue
        try:
            variants[key] = layer_panel(_with_setting(layer, setting), x, symbolic=symbolic,
                                        max_entries=max_entries)
        except (InvalidValueError, SizeLimitError):  # a geometry the layer refuses: left out
            left_out += 1
    label = "kernel" if isinstance(layer, Conv2D) else "window"
    controls = [{"name": label if name == "window" else name,
                 "values": [setting_label(v) for v in options[name]]} for name in names]
    return {"controls": controls, "variants": variants, "initial": initial, "left_out": left_out}
