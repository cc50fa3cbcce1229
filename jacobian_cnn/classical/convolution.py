"""The classical convolution gradients: a transposed convolution, a dilated correlation, a sum.

:func:`correlate2d` is the one primitive; :func:`conv2d_input_gradient` and
:func:`conv2d_kernel_gradient` rearrange ``g``, the kernel and the input and call it.
Conventions: :mod:`jacobian_cnn.vec` (maps ``(H, W, C, N)``, kernels
``(kh, kw, C_in, C_out)``, cross-correlation).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from jacobian_cnn._arguments import as_array, cast, float_array, pair, shape_tuple
from jacobian_cnn.classical._shapes import cotangent_4d, in_shape_4d
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.ops.geometry import WindowGeometry
from jacobian_cnn.ops.layer import as_maps

__all__ = ["zero_insert", "correlate2d", "conv2d_input_gradient", "conv2d_kernel_gradient",
           "conv2d_bias_gradient"]


def zero_insert(a, stride):
    """Insert ``stride - 1`` zeros between neighbouring entries along axes 0 and 1.

    An ``(h, w, ...)`` array becomes ``((h-1)*sh + 1, (w-1)*sw + 1, ...)`` with
    ``a[p, q]`` at ``(p*sh, q*sw)``: the "fractionally strided" input of a transposed
    convolution (seed 003 section 2).

    Examples
    --------
    >>> import numpy as np
    >>> from jacobian_cnn.classical import zero_insert
    >>> zero_insert(np.array([[1., 2.], [3., 4.]]), 2)
    array([[1., 0., 2.],
           [0., 0., 0.],
           [3., 0., 4.]])
    """
    a = np.asarray(a)
    if a.ndim < 2:
        raise InvalidValueError(f"zero_insert needs at least 2 axes, got shape {a.shape}")
    sh, sw = pair(stride, "stride", minimum=1)
    out = np.zeros(((a.shape[0] - 1) * sh + 1, (a.shape[1] - 1) * sw + 1) + a.shape[2:], a.dtype)
    out[::sh, ::sw] = a
    return out


def correlate2d(x, w, *, stride=1, dilation=1):
    """Valid cross-correlation of maps ``(H, W, C_in, N)`` with a kernel ``(kh, kw, C_in, C_out)``.

    ``out[p, q, co, n] = sum_{r, s, ci} w[r, s, ci, co] * x[p*sh + r*dh, q*sw + s*dw, ci, n]``,
    computed for all positions at once from a sliding-window view (no padding;
    pad the input first). The one primitive every classical formula below reuses.

    Returns
    -------
    numpy.ndarray
        ``(Ho, Wo, C_out, N)``.

    Examples
    --------
    >>> import numpy as np
    >>> from jacobian_cnn.classical import correlate2d
    >>> x = np.arange(9.).reshape(3, 3, 1, 1)
    >>> correlate2d(x, np.ones((2, 2, 1, 1)))[:, :, 0, 0]
    array([[ 8., 12.],
           [20., 24.]])
    """
    x, w = _numeric(x, "x"), _numeric(w, "w")
    if x.ndim != 4 or w.ndim != 4 or x.shape[2] != w.shape[2]:
        raise InvalidValueError(
            f"correlate2d needs x (H, W, C, N) and w (kh, kw, C, C_out) with the same C; "
            f"got x {x.shape}, w {w.shape}"
        )
    geo = WindowGeometry.from_args(x.shape[:2], w.shape[:2], stride=stride, dilation=dilation,
                                   window_name="kernel")
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    span = (dh * (w.shape[0] - 1) + 1, dw * (w.shape[1] - 1) + 1)
    windows = sliding_window_view(x, span, axis=(0, 1))  # (H', W', C, N, span_h, span_w)
    windows = windows[::sh, ::sw, :, :, ::dh, ::dw][: geo.out_size[0], : geo.out_size[1]]
    return np.einsum("pqcnrs,rscd->pqdn", windows, w, optimize=True)


def _numeric(a, name):
    """``a`` as a real numeric array, unconverted (``correlate2d`` keeps integer dtypes)."""
    arr = as_array(a, name, "a numeric array")
    if arr.dtype.kind not in "biuf":
        raise InvalidTypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    return arr


def _kernel4d(kernel):
    kernel = float_array(kernel, "kernel")
    if kernel.ndim not in (2, 3, 4):
        raise InvalidValueError(f"kernel must be (kh, kw[, C_in[, C_out]]); got shape {kernel.shape}")
    return kernel.reshape(kernel.shape + (1,) * (4 - kernel.ndim))


def _conv_geometry(in_size, kernel_size, stride, padding, dilation):
    return WindowGeometry.from_args(in_size, kernel_size, stride=stride, padding=padding,
                                    dilation=dilation, window_name="kernel")


def conv2d_input_gradient(g, kernel, in_shape, *, stride=1, padding=0, dilation=1):
    """Gradient wrt the input of :class:`~jacobian_cnn.Conv2D`, as a transposed convolution.

    The algorithm of seed 003 section 2 (and of seed 001, without its second flip):

    1. insert ``stride - 1`` zeros between the entries of ``g`` (:func:`zero_insert`);
    2. pad it by ``dilation * (k - 1)`` on every side (a "full" correlation);
    3. correlate with the kernel flipped in both spatial axes, input and output
       channels swapped, at stride 1 and the forward dilation;
    4. append zero rows/columns at the bottom/right for padded-input positions that
       no window reached (``output_padding``), and crop the forward padding.

    Parameters
    ----------
    g : array_like
        ``dL/dy`` in the shape of the convolution's output.
    kernel : array_like
        ``(kh, kw, C_in, C_out)`` (or ``(kh, kw)``, ``(kh, kw, C_in)``).
    in_shape : tuple of int
        Shape of the input ``x``: ``(H, W)``, ``(H, W, C_in)`` or ``(H, W, C_in, N)``.
    stride, padding, dilation
        As for :class:`~jacobian_cnn.Conv2D`.

    Returns
    -------
    numpy.ndarray
        ``dL/dx`` of shape ``in_shape``; equals ``unvec(vec(g) @ J, in_shape)``.

    Examples
    --------
    Seed 003, eq. (1): a 4x4 input, a 3x3 kernel, stride 1.

    >>> import numpy as np
    >>> from jacobian_cnn.classical import conv2d_input_gradient
    >>> k = np.arange(1., 10.).reshape(3, 3)
    >>> conv2d_input_gradient(np.ones((2, 2)), k, (4, 4))
    array([[ 1.,  3.,  5.,  3.],
           [ 5., 12., 16.,  9.],
           [11., 24., 28., 15.],
           [ 7., 15., 17.,  9.]])
    """
    kernel = _kernel4d(kernel)
    in_shape, (h, w, ci, n) = in_shape_4d(in_shape)
    if ci != kernel.shape[2]:
        raise InvalidValueError(f"in_shape has {ci} channels but the kernel expects {kernel.shape[2]}")
    geo = _conv_geometry((h, w), kernel.shape[:2], stride, padding, dilation)
    g4 = cotangent_4d(g, geo.out_size + (kernel.shape[3], n), "convolution")
    (kh, kw), (dh, dw) = geo.window, geo.dilation
    ((top, bottom), (left, right)) = geo.padding
    spread = zero_insert(g4, geo.stride)
    spread = np.pad(spread, ((dh * (kh - 1),) * 2, (dw * (kw - 1),) * 2, (0, 0), (0, 0)))
    flipped = kernel[::-1, ::-1].transpose(0, 1, 3, 2)  # (kh, kw, C_out, C_in)
    reached = correlate2d(spread, cast(flipped, g4.dtype, "kernel"), dilation=geo.dilation)
    padded_size = (h + top + bottom, w + left + right)
    extra = (padded_size[0] - reached.shape[0], padded_size[1] - reached.shape[1])
    full = np.pad(reached, ((0, extra[0]), (0, extra[1]), (0, 0), (0, 0)))
    return full[top: top + h, left: left + w].reshape(in_shape)


def conv2d_kernel_gradient(x, g, kernel_shape, *, stride=1, padding=0, dilation=1):
    """Gradient wrt the kernel of :class:`~jacobian_cnn.Conv2D`, as a dilated correlation.

    ``dL/dK[r, s, ci, co] = sum_{p, q, n} xpad[r*dh + p*sh, s*dw + q*sw, ci, n] * g[p, q, co, n]``:
    the zero-padded input correlated with ``g`` used as a kernel *dilated by the
    forward stride*, evaluated at output positions spaced by the forward dilation,
    summed over the batch (seed 003 section 3; seed 001's sum of patches times
    ``dZ``). Positions of the padded input that no window reached are cropped.

    Parameters
    ----------
    x : array_like
        The forward input ``(H, W)``, ``(H, W, C_in)`` or ``(H, W, C_in, N)``.
    g : array_like
        ``dL/dy`` in the shape of the convolution's output.
    kernel_shape : tuple of int
        ``(kh, kw)``, ``(kh, kw, C_in)`` or ``(kh, kw, C_in, C_out)``.

    Returns
    -------
    numpy.ndarray
        ``dL/dK`` of shape ``kernel_shape``.

    Examples
    --------
    Seed 003 section 3: ``dF/dk11 = sum g_{i'j'} a_{i'j'}``; with ``g`` all ones every
    entry is the sum of a 2x2 block of ``a``.

    >>> import numpy as np
    >>> from jacobian_cnn.classical import conv2d_kernel_gradient
    >>> a = np.arange(16.).reshape(4, 4)
    >>> conv2d_kernel_gradient(a, np.ones((2, 2)), (3, 3))
    array([[10., 14., 18.],
           [26., 30., 34.],
           [42., 46., 50.]])
    """
    x4, _ = as_maps(x)
    kernel_shape = shape_tuple(kernel_shape, "kernel_shape", minimum=1)
    if len(kernel_shape) not in (2, 3, 4):
        raise InvalidValueError(f"kernel_shape must be (kh, kw[, C_in[, C_out]]); got {kernel_shape}")
    kh, kw, ci, co = kernel_shape + (1,) * (4 - len(kernel_shape))
    h, w, c, n = x4.shape
    if c != ci:
        raise InvalidValueError(f"x has {c} channels but kernel_shape {kernel_shape} expects {ci}")
    geo = _conv_geometry((h, w), (kh, kw), stride, padding, dilation)
    g4 = cotangent_4d(g, geo.out_size + (co, n), "convolution")
    dtype = np.result_type(x4, g4)
    xpad = np.pad(x4.astype(dtype, copy=False), geo.padding + ((0, 0), (0, 0)))
    # The batch axis plays the role of the contracted channel axis, C_in that of the batch.
    as_kernel = g4.transpose(0, 1, 3, 2).astype(dtype, copy=False)  # (Ho, Wo, N, C_out)
    dk = correlate2d(xpad.transpose(0, 1, 3, 2), as_kernel, stride=geo.dilation,
                     dilation=geo.stride)  # (>= kh, >= kw, C_out, C_in)
    return dk[:kh, :kw].transpose(0, 1, 3, 2).reshape(kernel_shape)


def conv2d_bias_gradient(g):
    """Gradient wrt the bias: ``g`` summed over positions (and samples), one entry per channel.

    Parameters
    ----------
    g : array_like
        ``(Ho, Wo)``, ``(Ho, Wo, C_out)`` or ``(Ho, Wo, C_out, N)``.

    Examples
    --------
    >>> import numpy as np
    >>> from jacobian_cnn.classical import conv2d_bias_gradient
    >>> conv2d_bias_gradient(np.ones((2, 3, 2)))
    array([6., 6.])
    """
    g4, _ = as_maps(g, "g")
    return g4.sum(axis=(0, 1, 3))
