"""What the N-dimensional window layers share: their input maps, geometry and kernels.

A layer with ``spatial_ndim = d`` reads maps ``(S_1, ..., S_d, C)`` or a batch
``(S_1, ..., S_d, C, N)`` (and, for ``d = 2`` as everywhere in the package, a one-channel
``(H, W)``): ``(L, C[, N])`` in 1-D, ``(D, H, W, C[, N])`` in 3-D. Its sliding window is a
:class:`~jacobian_cnn.ops.window_nd.GridWindow`, made in the constructor and again only
when a window setting changes (:class:`~jacobian_cnn.ops.window.WindowSetting`).
Kernels are ``(k_1, ..., k_d, C_in, C_out)``-shaped, the 2-D convention
``(kh, kw, C_in, C_out)`` with more (or fewer) window axes. Index conventions:
:mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._arguments import bias_copy, cast, check_size, float_array, frozen_copy, is_int
from jacobian_cnn._sparse.csr import csr_from_rows
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.ops.layer import Layer, Parameter
from jacobian_cnn.ops.window import WindowSetting
from jacobian_cnn.ops.window_nd import axis_padding, axis_tuple

__all__ = ["GridLayer", "GridKernelLayer", "grid_maps"]


def grid_maps(x, ndim, name="x"):
    """``(x_full, original_ndim)``: ``x`` as ``(S_1, ..., S_d, C, N)``."""
    x = float_array(x, name)
    allowed = (ndim + 1, ndim + 2) + ((ndim,) if ndim == 2 else ())
    if x.ndim not in allowed:
        axes = {1: "(L, C)", 2: "(H, W, C)", 3: "(D, H, W, C)"}.get(ndim, f"{ndim} spatial axes and C")
        raise InvalidValueError(f"{name} must be {axes} or a batch {axes[:-1]}, N); got shape {x.shape}")
    return x.reshape(x.shape + (1,) * (ndim + 2 - x.ndim)), x.ndim


def _setting(name, minimum):
    return WindowSetting(lambda layer, v: axis_tuple(v, name, layer.spatial_ndim, minimum=minimum))


class GridLayer(Layer):
    """A window layer over ``spatial_ndim`` axes: input handling and geometry."""

    spatial_ndim = 1
    stride = _setting("stride", 1)
    dilation = _setting("dilation", 1)
    padding = WindowSetting(lambda layer, v: axis_padding(v, layer.spatial_ndim))

    def _set_window(self, **settings):
        """Set the window settings in order, then make (and so validate) the window once."""
        for name, value in settings.items():
            setattr(self, name, value)
        self._window = self._make_window()

    def geometry(self, in_size):
        """The :class:`~jacobian_cnn.ops.window_nd.GridGeometry` on an input of spatial size ``in_size``."""
        return WindowSetting.window_of(self).on(in_size)

    def _maps(self, x):
        """``(x_full, ndim, geometry)`` of an input."""
        full, ndim = grid_maps(x, self.spatial_ndim)
        return full, ndim, self.geometry(full.shape[:self.spatial_ndim])

    def _shaped(self, y, out_size, ndim):
        """``y`` ``(n_out, C, N)`` as maps ``out_size + (C, N)``, with as many axes as the input."""
        full = y.reshape(tuple(out_size) + y.shape[1:], order="F")
        if ndim == self.spatial_ndim + 2:
            return full
        # a one-channel (H, W) map stays one when its output has one channel (as Conv2D)
        return full[..., 0, 0] if ndim == self.spatial_ndim and full.shape[-2] == 1 else full[..., 0]

    def _geometry_text(self, default_stride):
        """Non-default window settings, for reprs."""
        parts = [] if self.stride == default_stride else [f"stride={_short(self.stride)}"]
        if any(map(any, self.padding)):
            sym = all(lo == hi for lo, hi in self.padding)
            parts.append(f"padding={_short(tuple(lo for lo, _ in self.padding)) if sym else self.padding}")
        if self.dilation != (1,) * self.spatial_ndim:
            parts.append(f"dilation={_short(self.dilation)}")
        return parts


def _short(values):
    return values[0] if len(set(values)) == 1 else values


class GridKernelLayer(GridLayer):
    """A convolution-like layer over ``spatial_ndim`` axes: kernel, bias and groups.

    ``kernel_channels`` names the kernel's last two axes for messages; ``bias_size`` is
    the number of output channels given the kernel and groups.
    """

    param_names = ("kernel", "bias")
    kernel_axes = "C_in / groups, C_out"

    kernel = Parameter("The kernel, a read-only copy; assign a new array of the same shape.")
    bias = Parameter("``(C_out,)`` or ``None``, a read-only copy.")

    def _init_kernel(self, kernel, bias, groups, divides):
        """Set kernel, groups and bias; ``divides`` is the kernel axis ``groups`` must divide."""
        self.kernel = kernel
        if not is_int(groups) or isinstance(groups, bool):
            raise InvalidTypeError(f"groups must be a positive int, got {groups!r}")
        if groups < 1 or self.kernel.shape[divides] % groups:
            raise InvalidValueError(f"groups={groups} must be positive and divide kernel axis "
                                    f"{divides} (kernel shape {self.kernel.shape})")
        self.groups = int(groups)
        self.bias = bias

    def _checked_kernel(self, kernel):
        d = self.spatial_ndim
        kernel = frozen_copy(kernel, "kernel")
        letters = ", ".join(f"k{a + 1}" for a in range(d))
        if kernel.ndim != d + 2 or 0 in kernel.shape:
            raise InvalidValueError(f"kernel must be ({letters}, {self.kernel_axes}), every axis at "
                                    f"least 1; got shape {kernel.shape}")
        if "kernel" in self.__dict__ and kernel.shape != self.kernel.shape:
            raise InvalidValueError(f"kernel must keep the layer's shape {self.kernel.shape}; got "
                                    f"{kernel.shape} (make a new {type(self).__name__} for another shape)")
        return kernel

    def _checked_bias(self, bias):
        return bias_copy(bias, self.n_out_channels, "C_out")

    def _kernel_taps(self, dtype):
        """The kernel as ``(n_taps, A, B)`` in ``dtype``: its window axes flattened column-major."""
        k = self.kernel
        return cast(k, dtype, "kernel").reshape((-1,) + k.shape[-2:], order="F")

    def _add_bias(self, y, dtype):
        if self.bias is not None:
            y += cast(self.bias, dtype, "bias")[None, :, None]
        return y

    def _check_channels(self, x_full, expected):
        if x_full.shape[self.spatial_ndim] != expected:
            raise InvalidValueError(
                f"x has {x_full.shape[self.spatial_ndim]} channels but {self!r} expects {expected} "
                f"(kernel shape {self.kernel.shape}, groups={self.groups})")

    def _bias_parts(self, n_out, n_samples, dtype, max_bytes):
        """``d vec(y) / d bias``: row ``(o, co, n)`` holds a 1 at column ``co``."""
        co = self.n_out_channels
        n_rows = n_out * co * n_samples
        check_size(n_rows, n_rows, np.dtype(dtype).itemsize, max_bytes,
                   f"{type(self).__name__} bias Jacobian")
        columns = (np.arange(n_rows) // max(n_out, 1)) % co
        return csr_from_rows(np.ones(n_rows, np.int64), columns, np.ones(n_rows, dtype), (n_rows, co))

    def _bias_definition(self, n_out, n_samples):
        """The entries of ``d vec(y) / d bias``: ``y[o, co, n] = ... + b[co]``."""
        for n in range(n_samples):
            for co in range(self.n_out_channels):
                for o in range(n_out):
                    yield o + n_out * (co + self.n_out_channels * n), co, ("one",)

    def _repr_parts(self):
        window = "x".join(str(k) for k in self.kernel.shape[:self.spatial_ndim])
        parts = [window, f"{self.n_in_channels}->{self.n_out_channels}",
                 *self._geometry_text((1,) * self.spatial_ndim)]
        parts += [f"groups={self.groups}"] if self.groups > 1 else []
        return parts + ["bias" if self.bias is not None else "no bias"]
