"""The classical pooling gradients: scatter-add at the switches, spread-and-add over windows.

Conventions: :mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._arguments import float_array, pair, shape_tuple
from jacobian_cnn.classical._shapes import cotangent_4d, in_shape_4d
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.ops.geometry import WindowGeometry, check_bool
from jacobian_cnn.vec import unvec, vec

__all__ = ["max_unpool", "avg_pool_upsample"]


def max_unpool(g, switches, in_shape):
    """Gradient wrt the input of max pooling: *scatter-add* ``g`` at the switches.

    Parameters
    ----------
    g : array_like
        ``dL/dy``, shaped like the pooled output.
    switches : array_like of int
        ``MaxPool2D.switches(x)``: vec index into ``x`` of each window's winner,
        ``-1`` where padding won (that output depends on no input).
    in_shape : tuple of int
        Shape of ``x``.

    Returns
    -------
    numpy.ndarray
        ``dL/dx`` of shape ``in_shape``. An input that wins several overlapping
        windows receives the *sum* of their gradients; writing instead of adding
        (seed 001's "insert", ``torch.nn.functional.max_unpool2d``) keeps only one.

    Examples
    --------
    The 9 at the centre wins all four 3x3 windows (stride 1): it gets 1+2+3+4.

    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> from jacobian_cnn.classical import max_unpool
    >>> x = np.zeros((4, 4)); x[1, 1] = 9.
    >>> pool = jc.MaxPool2D(3, stride=1)
    >>> max_unpool([[1., 2.], [3., 4.]], pool.switches(x), x.shape)[1, 1]
    np.float64(10.0)
    """
    g = float_array(g, "g")
    switches = np.asarray(switches)
    if not np.issubdtype(switches.dtype, np.integer):
        raise InvalidTypeError(f"switches must be integers, got dtype {switches.dtype}")
    if switches.shape != g.shape:
        raise InvalidValueError(f"switches shape {switches.shape} differs from g shape {g.shape}")
    in_shape = shape_tuple(in_shape, "in_shape")
    size = int(np.prod(in_shape))
    s, gv = vec(switches), vec(g)
    if s.size and (s.min() < -1 or s.max() >= size):
        raise InvalidValueError(f"switches must lie in [-1, {size}) for input shape {in_shape}; "
                         f"got range [{s.min()}, {s.max()}]")
    won = s >= 0
    return unvec(np.bincount(s[won], weights=gv[won], minlength=size).astype(g.dtype), in_shape)


def avg_pool_upsample(g, in_shape, window, *, stride=None, padding=0, dilation=1,
                      count_include_pad=True):
    """Gradient wrt the input of :class:`~jacobian_cnn.AvgPool2D`: spread and add.

    Every output's gradient is divided by its window's divisor and added to each
    in-input tap of its window; where windows overlap the shares *add* (seed 000;
    seed 001's overlap rule; seed 002's ``+=`` loop). Implemented as one strided,
    vectorized addition per window tap.

    Parameters
    ----------
    g : array_like
        ``dL/dy``, shaped like the pooled output.
    in_shape : tuple of int
        Shape of ``x``.
    window, stride, padding, dilation, count_include_pad
        As for :class:`~jacobian_cnn.AvgPool2D` (``stride=None`` or ``()`` means the window).

    Returns
    -------
    numpy.ndarray
        ``dL/dx`` of shape ``in_shape``.

    Raises
    ------
    ValueError
        With ``count_include_pad=False``, where a window lies entirely in padding (its
        average would be 0/0).

    Examples
    --------
    Seed 000: the 2x2/stride-1 pool of a 3x3 map; ``a22`` is in all four windows.

    >>> import numpy as np
    >>> from jacobian_cnn.classical import avg_pool_upsample
    >>> avg_pool_upsample([[1., 2.], [3., 4.]], (3, 3), 2, stride=1)
    array([[0.25, 0.75, 0.5 ],
           [1.  , 2.5 , 1.5 ],
           [0.75, 1.75, 1.  ]])
    """
    window = pair(window, "window", minimum=1)
    stride = window if stride is None or (isinstance(stride, (tuple, list)) and not stride) else stride
    count_include_pad = check_bool(count_include_pad, "count_include_pad")
    in_shape, (h, w, c, n) = in_shape_4d(in_shape)
    geo = WindowGeometry.from_args((h, w), window, stride=stride, padding=padding,
                                   dilation=dilation)
    g4 = cotangent_4d(g, geo.out_size + (c, n), "pooling")
    (ho, wo), (kh, kw) = geo.out_size, geo.window
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    ((top, bottom), (left, right)) = geo.padding
    if count_include_pad:
        divisor = np.full((ho, wo), kh * kw)
    else:
        # Separable count of in-input taps: rows inside times columns inside.
        rows = np.arange(ho)[:, None] * sh - top + np.arange(kh)[None, :] * dh
        cols = np.arange(wo)[:, None] * sw - left + np.arange(kw)[None, :] * dw
        divisor = np.outer(((rows >= 0) & (rows < h)).sum(1), ((cols >= 0) & (cols < w)).sum(1))
        if np.any(divisor == 0):
            raise InvalidValueError("a window lies entirely in padding; with count_include_pad=False "
                             "its average is 0/0")
    share = g4 / divisor[:, :, None, None]
    spread = np.zeros((h + top + bottom, w + left + right, c, n), g4.dtype)
    for r in range(kh):
        for s in range(kw):
            spread[r * dh: r * dh + (ho - 1) * sh + 1: sh,
                   s * dw: s * dw + (wo - 1) * sw + 1: sw] += share
    return spread[top: top + h, left: left + w].reshape(in_shape)
