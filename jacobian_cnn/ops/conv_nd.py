"""1-D and 3-D convolution (cross-correlation), from one N-dimensional definition.

``y[p, co, n] = b[co] + sum_{t, ci} K[t, ci, co] * x[taps[p, t], G*C_in/g + ci, n]`` over
the taps ``t`` of window ``p`` that read the input (:mod:`jacobian_cnn.ops.window_nd`),
``K`` of shape ``(k_1, ..., k_d, C_in / groups, C_out)`` (the 2-D convention
``(kh, kw, C_in, C_out)`` with ``d`` window axes), ``G`` the group of ``co``. Maps are
``(L, C[, N])`` (:class:`Conv1D`) or ``(D, H, W, C[, N])`` (:class:`Conv3D`); padding holds
zeros. The Jacobians are those of :class:`~jacobian_cnn.Conv2D` with ``d`` axes instead of
two, and the readable definition is the same function
(:func:`~jacobian_cnn.ops.conv.conv_entries`, the window flattened to ``n_taps``).
Index conventions: :mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._arguments import check_size
from jacobian_cnn._sparse.grid import block_pattern, by_group, by_kernel_columns, repeated_blocks
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops.conv import conv_entries
from jacobian_cnn.ops.grid_layer import GridKernelLayer
from jacobian_cnn.ops.layer import Definition, numeric_terms
from jacobian_cnn.ops.window import WindowSetting
from jacobian_cnn.ops.window_nd import GridWindow, axis_padding

__all__ = ["Conv1D", "Conv3D", "ConvND"]


class ConvND(GridKernelLayer):
    """Cross-correlation over ``spatial_ndim`` axes (use :class:`Conv1D` or :class:`Conv3D`).

    Parameters
    ----------
    kernel : array_like
        ``(k_1, ..., k_d, C_in / groups, C_out)``.
    bias : array_like, optional
        ``(C_out,)``.
    stride, dilation : int or tuple of int
        One positive int per axis (or one for all).
    padding : int, tuple, tuple of (lo, hi) pairs, "same" or "valid"
        Zeros; ``"same"`` (stride 1) pads ``dilation * (k - 1)`` per axis, the odd one at
        the end, as PyTorch.
    groups : int
        Divides ``C_out``; ``C_in = kernel.shape[-2] * groups``.
    """

    n_in_channels = property(lambda self: self.kernel.shape[-2] * self.groups)
    n_out_channels = property(lambda self: self.kernel.shape[-1])

    def __init__(self, kernel, bias=None, *, stride=1, padding=0, dilation=1, groups=1):
        self._init_kernel(kernel, bias, groups, divides=-1)
        self._set_window(stride=stride, dilation=dilation, padding=padding)  # "same" reads the others

    padding = WindowSetting(lambda layer, v: layer._padding(v))

    def _padding(self, padding):
        if padding == "valid":
            return ((0, 0),) * self.spatial_ndim
        if padding != "same":
            return axis_padding(padding, self.spatial_ndim)
        if self.stride != (1,) * self.spatial_ndim:
            raise InvalidValueError(f"padding='same' needs stride 1, got stride={self.stride} "
                                    "(PyTorch refuses it too)")
        total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel.shape, strict=False)]
        return tuple((t // 2, t - t // 2) for t in total)

    def _make_window(self):
        return GridWindow(self.kernel.shape[:self.spatial_ndim], self.stride, self.padding,
                          self.dilation, name="kernel")

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(self._repr_parts())})"

    def _checked_maps(self, x):
        full, ndim, geo = self._maps(x)
        self._check_channels(full, self.n_in_channels)
        return full, ndim, geo

    def forward(self, x, *, max_bytes=None):
        """Cross-correlate ``x`` with the kernel (``max_bytes`` limits the gathered windows)."""
        full, ndim, geo = self._checked_maps(x)
        dtype, (c_in, n) = full.dtype, full.shape[-2:]
        geo.check_tables(max_bytes, what=f"{type(self).__name__} forward pass on x of shape {full.shape}",
                         bytes_per_tap=2 * c_in * n * dtype.itemsize)
        planes = np.zeros((geo.n_in + 1, c_in, n), dtype)  # the last row: what padding reads
        planes[:-1] = full.reshape(geo.n_in, c_in, n, order="F")
        g, (cig, co) = self.groups, self.kernel.shape[-2:]
        patches = planes[geo.taps].reshape(geo.n_out, geo.n_taps, g, cig, n)
        kernel = self._kernel_taps(dtype).reshape(geo.n_taps, cig, g, co // g)
        y = np.einsum("otgcn,tcgk->ogkn", patches, kernel, optimize=True).reshape(geo.n_out, co, n)
        return self._shaped(self._add_bias(y, dtype), geo.out_size, ndim)

    def _jacobian_parts(self, x, wrt="input", *, cache=None, max_bytes=None):
        """``d vec(y) / d vec(x)``, ``/ d vec(kernel)`` or ``/ d bias`` (CSR parts)."""
        self._check_wrt(wrt)
        full, _, geo = self._checked_maps(x)
        dtype, (c_in, n) = full.dtype, full.shape[-2:]
        if wrt == "bias":
            return self._bias_parts(geo.n_out, n, dtype, max_bytes)
        g, (cig, co) = self.groups, self.kernel.shape[-2:]
        what = f"{type(self).__name__} {wrt} Jacobian"
        check_size(geo.n_out * co * n, geo.jacobian_nnz(cig, co * n), dtype.itemsize, max_bytes, what)
        geo.check_tables(max_bytes, what=what)
        block = block_pattern(geo, cig)
        group = np.arange(co) // (co // g)
        if wrt == "input":  # block (co, n): the kernel taps of co at its group's input columns
            shifts = geo.n_in * (group * cig + c_in * np.arange(n)[:, None])
            by_tap = np.ascontiguousarray(self._kernel_taps(dtype).reshape(-1, co, order="F").T)
            return repeated_blocks(block.lengths, block.input_columns, shifts.ravel(), full.size,
                                   dtype, by_kernel_columns(by_tap, block))
        # kernel: block (co, n) holds the input windows of co's group, at co's kernel columns
        offsets = geo.n_in * (cig * np.arange(g) + c_in * np.arange(n)[:, None])
        shifts = np.tile(geo.n_taps * cig * np.arange(co), n)
        return repeated_blocks(block.lengths, block.kernel_columns, shifts, self.kernel.size, dtype,
                               by_group(np.ravel(full, order="F"), block.input_columns, offsets, co // g))

    def _definition(self, x, wrt, cache):
        full, _, geo = self._checked_maps(x)
        n, dtype = full.shape[-1], full.dtype
        cig, co = self.kernel.shape[-2:]
        entries = conv_entries(geo, (geo.n_taps, 1, cig, co), self.groups, n, wrt)
        n_cols = {"input": full.size, "kernel": self.kernel.size, "bias": co}[wrt]
        return Definition(entries, (geo.n_out * co * n, n_cols),
                          numeric_terms(dtype, kernel=self._kernel_taps(dtype), input=full), dtype)


class Conv1D(ConvND):
    """1-D cross-correlation over ``(L, C_in[, N])``; kernel ``(k, C_in / groups, C_out)``.

    Its input Jacobian is a Toeplitz matrix per channel pair (``derivations/convolution_1d.md``).

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> conv = jc.Conv1D(np.array([1., 2., 3.]).reshape(3, 1, 1))
    >>> conv.jacobian(np.zeros((5, 1))).toarray()
    array([[1., 2., 3., 0., 0.],
           [0., 1., 2., 3., 0.],
           [0., 0., 1., 2., 3.]])
    """

    spatial_ndim = 1


class Conv3D(ConvND):
    """3-D cross-correlation over ``(D, H, W, C_in[, N])``; kernel ``(kd, kh, kw, C_in / groups, C_out)``.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> conv = jc.Conv3D(np.ones((2, 2, 2, 1, 3)), padding=1)
    >>> conv.forward(np.ones((3, 3, 3, 1))).shape
    (4, 4, 4, 3)
    """

    spatial_ndim = 3
