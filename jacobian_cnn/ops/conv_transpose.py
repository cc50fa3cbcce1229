"""Transposed convolution in 1, 2 and 3 dimensions, and its Jacobians wrt input, kernel and bias.

A transposed convolution is the adjoint of the *matching convolution*: the one with the
same kernel, stride, padding, dilation and groups that maps the transposed layer's
output size back to its input size. With that convolution's tap table ``taps``
(:mod:`jacobian_cnn.ops.window_nd`, placed on the output size ``U``, one window per
input position ``o``),

``y[u, co, n] = b[co] + sum_{(o, t): taps[o, t] = u} sum_{ci in G} K[t, ci, cog] * x[o, ci, n]``

for output channel ``co = G * C_out/g + cog`` of group ``G``: input position ``o`` is
spread over the outputs its window covers (PyTorch's ``conv_transpose``, the gradient of
``conv`` wrt its input). Hence ``d vec(y) / d vec(x)`` is the transpose of the matching
convolution's input Jacobian (``derivations/transposed_convolution.md``).

Kernel layout: ``(k_1, ..., k_d, C_in, C_out / groups)``. This is PyTorch's weight
``(C_in, C_out / groups, k_1, ..., k_d)`` moved by the same axis permutation as a
convolution's (``OIHW -> HWIO``: the window axes first, the two channel axes after them
in PyTorch's order), so one conversion serves both, and it is the matching convolution's
kernel ``(k..., C_out' / g, C_in')`` with its channel axes read the other way round.

Output size per axis: ``U = (S - 1) * stride - lo - hi + dilation * (k - 1)
+ output_padding + 1``, with ``output_padding < stride`` or ``< dilation`` (PyTorch's
rule); ``output_padding`` adds positions at the end that only the bias reaches when no
window does. Index conventions: :mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._arguments import check_size
from jacobian_cnn._sparse.grid import by_group, by_kernel_columns, inverse_pattern, repeated_blocks
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops.grid_layer import GridKernelLayer, grid_maps
from jacobian_cnn.ops.layer import Definition, numeric_terms
from jacobian_cnn.ops.window import WindowSetting
from jacobian_cnn.ops.window_nd import GridWindow, axis_tuple

__all__ = ["ConvTranspose1D", "ConvTranspose2D", "ConvTranspose3D", "ConvTransposeND",
           "transposed_entries"]


def transposed_entries(geo, kernel_shape, groups, n_samples, n_positions, wrt):
    """The entries ``(row, column, term)`` of a transposed convolution's Jacobian.

    Read off the definition: every tap ``t`` of every input position ``o`` adds
    ``K[t, ci, cog] * x[o, ci, n]`` to output ``u = taps[o, t]`` of channel ``co``, so
    ``dy[u, co, n] / dx[o, ci, n] = K[t, ci, cog]`` and ``dy[u, co, n] / dK[t, ci, cog]
    = x[o, ci, n]``; ``dy / db[co] = 1``. ``geo`` is the matching convolution's geometry
    (``geo.n_out`` input positions, ``n_positions`` output positions), ``kernel_shape``
    ``(n_taps, C_in, C_out / groups)``.
    """
    n_taps, c_in, cog = kernel_shape
    cig, c_out, n_in = c_in // groups, cog * groups, geo.n_out
    taps = geo.taps.tolist()
    for n in range(n_samples):
        for co in range(c_out):
            first = (co // cog) * cig  # the first input channel of co's group
            for u in range(n_positions) if wrt == "bias" else ():
                yield u + n_positions * (co + c_out * n), co, ("one",)
            for o in range(n_in) if wrt != "bias" else ():
                for t in range(n_taps):
                    if taps[o][t] < 0:  # this tap of o's window falls in the padding
                        continue
                    row = taps[o][t] + n_positions * (co + c_out * n)
                    for ci in range(first, first + cig):
                        k = t + n_taps * (ci + c_in * (co % cog))  # vec(K) index
                        i = o + n_in * (ci + c_in * n)  # vec(x) index
                        yield (row, i, ("kernel", k)) if wrt == "input" else (row, k, ("input", i))


class ConvTransposeND(GridKernelLayer):
    """Transposed convolution over ``spatial_ndim`` axes (see the module docstring).

    Parameters
    ----------
    kernel : array_like
        ``(k_1, ..., k_d, C_in, C_out / groups)``.
    bias : array_like, optional
        ``(C_out,)``.
    stride, dilation : int or tuple of int
    padding : int, tuple or tuple of (lo, hi) pairs
        Removed from the output's ends (PyTorch's ``padding``: ``dilation * (k - 1) - padding``
        zeros around the input of the equivalent direct convolution).
    output_padding : int or tuple of int
        Extra output positions at the end of each axis; each smaller than the stride or
        the dilation.
    groups : int
        Divides ``C_in``; ``C_out = kernel.shape[-1] * groups``.
    """

    kernel_axes = "C_in, C_out / groups"
    n_in_channels = property(lambda self: self.kernel.shape[-2])
    n_out_channels = property(lambda self: self.kernel.shape[-1] * self.groups)
    output_padding = WindowSetting(
        lambda layer, v: axis_tuple(v, "output_padding", layer.spatial_ndim, minimum=0))

    def __init__(self, kernel, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1,
                 groups=1):
        self._init_kernel(kernel, bias, groups, divides=-2)
        self._set_window(stride=stride, dilation=dilation, padding=padding,
                         output_padding=output_padding)

    def _make_window(self):
        for op, s, d in zip(self.output_padding, self.stride, self.dilation, strict=True):
            if op >= s and op >= d:
                raise InvalidValueError(
                    f"output_padding {self.output_padding} must be smaller than the stride "
                    f"{self.stride} or the dilation {self.dilation} along each axis (PyTorch's rule)")
        return GridWindow(self.kernel.shape[:self.spatial_ndim], self.stride, self.padding,
                          self.dilation, name="kernel")

    def output_size(self, in_size):
        """The output's spatial size on an input of spatial size ``in_size``."""
        out = []
        for a, s in enumerate(in_size):
            k, (lo, hi) = self.kernel.shape[a], self.padding[a]
            out.append((s - 1) * self.stride[a] - lo - hi + self.dilation[a] * (k - 1)
                       + self.output_padding[a] + 1)
        if min(out) < 1:
            raise InvalidValueError(f"{self!r} on an input of spatial size {tuple(in_size)} has no "
                                    f"output (size {tuple(out)}): the padding removes it all")
        return tuple(out)

    def geometry(self, in_size):
        """The matching convolution's :class:`~jacobian_cnn.ops.window_nd.GridGeometry`: on the
        output size, one window per input position."""
        window = WindowSetting.window_of(self)
        return window.on(self.output_size(in_size), out_size=tuple(in_size))

    def __repr__(self):
        parts = self._repr_parts()
        if any(self.output_padding):
            parts.insert(-1, f"output_padding={self.output_padding}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def _checked_maps(self, x):
        full, ndim = grid_maps(x, self.spatial_ndim)
        self._check_channels(full, self.n_in_channels)
        return full, ndim, self.geometry(full.shape[:self.spatial_ndim])

    def forward(self, x, *, max_bytes=None):
        """Spread every input position over the outputs its window covers, tap by tap."""
        full, ndim, geo = self._checked_maps(x)
        dtype, (c_in, n) = full.dtype, full.shape[-2:]
        geo.check_tables(max_bytes, what=f"{type(self).__name__} forward pass on x of shape {full.shape}")
        g, cog = self.groups, self.kernel.shape[-1]
        out_size = geo.in_size
        xg = full.reshape(geo.n_out, c_in, n, order="F").reshape(geo.n_out, g, c_in // g, n)
        kernel = self._kernel_taps(dtype).reshape(geo.n_taps, g, c_in // g, cog)
        y = np.zeros((geo.n_in + 1, g, cog, n), dtype)  # the last row takes the taps in padding
        for t in range(geo.n_taps):  # one tap: distinct outputs for distinct inputs
            y[geo.taps[:, t]] += np.einsum("ogcn,gck->ogkn", xg, kernel[t])
        y = y[:-1].reshape(geo.n_in, g * cog, n)
        return self._shaped(self._add_bias(y, dtype), out_size, ndim)

    def _jacobian_parts(self, x, wrt="input", *, cache=None, max_bytes=None):
        """``d vec(y) / d vec(x)``, ``/ d vec(kernel)`` or ``/ d bias`` (CSR parts)."""
        self._check_wrt(wrt)
        full, _, geo = self._checked_maps(x)
        dtype, (c_in, n) = full.dtype, full.shape[-2:]
        n_pos = geo.n_in  # output positions (the matching convolution's input)
        if wrt == "bias":
            return self._bias_parts(n_pos, n, dtype, max_bytes)
        g, cog = self.groups, self.kernel.shape[-1]
        cig, co = c_in // g, cog * g
        what = f"{type(self).__name__} {wrt} Jacobian"
        check_size(n_pos * co * n, geo.jacobian_nnz(cig, co * n), dtype.itemsize, max_bytes, what)
        geo.check_tables(max_bytes, what=what)
        group = np.arange(co) // cog
        block = inverse_pattern(geo, n_pos, cig, "o" if wrt == "input" else "t")
        if wrt == "input":  # block (co, n): kernel taps at the input columns of co's group
            # by_tap[co, t + n_taps * c] = K[t, G * cig + c, cog] for co = G * cog + cog'
            by_tap = self._kernel_taps(dtype).reshape(geo.n_taps, g, cig, cog).transpose(1, 3, 2, 0)
            shifts = geo.n_out * (group * cig + c_in * np.arange(n)[:, None])
            return repeated_blocks(block.lengths, block.input_columns, shifts.ravel(), full.size, dtype,
                                   by_kernel_columns(by_tap.reshape(co, -1), block))
        offsets = geo.n_out * (cig * np.arange(g) + c_in * np.arange(n)[:, None])
        shifts = geo.n_taps * (group * cig + c_in * (np.arange(co) % cog))
        return repeated_blocks(block.lengths, block.kernel_columns, np.tile(shifts, n), self.kernel.size,
                               dtype, by_group(np.ravel(full, order="F"), block.input_columns, offsets, cog))

    def _definition(self, x, wrt, cache):
        full, _, geo = self._checked_maps(x)
        n, dtype = full.shape[-1], full.dtype
        kernel_shape = (geo.n_taps,) + self.kernel.shape[-2:]
        entries = transposed_entries(geo, kernel_shape, self.groups, n, geo.n_in, wrt)
        n_cols = {"input": full.size, "kernel": self.kernel.size, "bias": self.n_out_channels}[wrt]
        return Definition(entries, (geo.n_in * self.n_out_channels * n, n_cols),
                          numeric_terms(dtype, kernel=self._kernel_taps(dtype), input=full), dtype)


class ConvTranspose1D(ConvTransposeND):
    """Transposed convolution over ``(L, C_in[, N])``; kernel ``(k, C_in, C_out / groups)``."""

    spatial_ndim = 1


class ConvTranspose2D(ConvTransposeND):
    """Transposed convolution over ``(H, W[, C_in[, N]])``; kernel ``(kh, kw, C_in, C_out / groups)``.

    Examples
    --------
    A 2x2 input, a 2x2 kernel, stride 2: every input entry paints its own 2x2 block.

    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> up = jc.ConvTranspose2D(np.array([[1., 2.], [3., 4.]]).reshape(2, 2, 1, 1), stride=2)
    >>> up.forward(np.array([[1., 0.], [-1., 2.]]))
    array([[ 1.,  2.,  0.,  0.],
           [ 3.,  4.,  0.,  0.],
           [-1., -2.,  2.,  4.],
           [-3., -4.,  6.,  8.]])
    >>> J = up.jacobian(np.zeros((2, 2)))
    >>> J.shape, J.nnz
    ((16, 4), 16)
    """

    spatial_ndim = 2


class ConvTranspose3D(ConvTransposeND):
    """Transposed convolution over ``(D, H, W, C_in[, N])``; kernel ``(kd, kh, kw, C_in, C_out / groups)``."""

    spatial_ndim = 3
