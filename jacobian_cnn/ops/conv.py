"""2-D convolution (cross-correlation) and its Jacobians wrt input, kernel and bias.

``y[p, q, co, n] = b[co] + sum_{r, s, ci} K[r, s, ci, co] * xpad[p*sh + r*dh, q*sw + s*dw, ci, n]``
with ``K`` of shape ``(kh, kw, C_in, C_out)`` (seed 004's ``Z_j = sum_i A_i * K_ji + b_j``).
No kernel flip: this is what every deep-learning library calls convolution.
Index conventions: :mod:`jacobian_cnn.vec`; window geometry: :mod:`jacobian_cnn.ops.geometry`.

With ``groups=g`` (PyTorch's ``groups``, JAX's ``feature_group_count``) the channels
split into ``g`` groups; ``K`` is ``(kh, kw, C_in / g, C_out)`` and output channel
``co`` reads only input channels ``G*C_in/g ... (G+1)*C_in/g - 1`` of its group
``G = co // (C_out / g)`` (depthwise: ``g = C_in``).

Structure of ``d vec(y) / d vec(x)``: row ``(o, co, n)`` holds, for every input
channel ``ci`` of ``co``'s group and every tap ``t`` of window ``o`` that reads the
input, the value ``K[t, ci, co]`` at column ``taps[o, t] + ci*H*W + n*H*W*C_in``.
Zero padding stores nothing. A copying ``padding_mode`` makes one input entry feed
several taps; their kernel values are summed into one entry.
``d vec(y) / d vec(K)`` has the same pattern with the input values at columns
``t + ci*kh*kw + co*kh*kw*C_in/g``.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._arguments import (
    bias_copy,
    cast,
    check_size,
    frozen_copy,
    index_dtype,
    is_int,
    padding_pairs,
    pair,
)
from jacobian_cnn._sparse.assembly import conv_input_jacobian, conv_kernel_jacobian
from jacobian_cnn._sparse.csr import CSRParts, csr_from_rows, csr_summing_duplicates, empty
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.ops.geometry import check_padding_mode
from jacobian_cnn.ops.layer import Definition, Layer, Parameter, as_maps, describe, maps_like, numeric_terms
from jacobian_cnn.ops.window import SlidingWindow, WindowSetting

__all__ = ["Conv2D", "conv_entries"]


def conv_entries(geo, kernel_shape, groups, n_samples, wrt, kernel_tap=None):
    """The entries ``(row, column, term)`` of ``d vec(y) / d vec(wrt)``, read off the forward pass.

    ``y[o, co, n] = b[co] + sum_{ci, t} K[t, ci, co] * x[taps[o, t], G*C_in/g + ci, n]``
    (``G`` the group of ``co``, ``t`` the taps of window ``o`` that read the input), so
    ``dy[o, co, n] / dx[taps[o, t], ...]`` is ``K[t, ci, co]``, ``dy / dK[t, ci, co]`` is
    that input value and ``dy / db[co]`` is 1. ``geo`` is the
    :class:`~jacobian_cnn.ops.geometry.WindowGeometry`; ``kernel_tap[t]`` (default ``t``)
    is the kernel tap that multiplies window tap ``t`` (a flipped kernel, in the
    symbolic mistake catalogue). A copying padding mode lets several taps of a window
    read one input entry: their entries repeat and are summed, in tap order.
    """
    kh, kw, ci_group, c_out = kernel_shape
    n_taps, plane, c_in = kh * kw, geo.n_in, ci_group * groups
    kernel_tap = list(range(n_taps)) if kernel_tap is None else [int(k) for k in kernel_tap]
    taps = geo.taps.tolist()
    for n in range(n_samples):
        for co in range(c_out):
            first_channel = (co // (c_out // groups)) * ci_group  # of co's group
            for o in range(geo.n_out):
                row = o + geo.n_out * (co + c_out * n)
                if wrt == "bias":
                    yield row, co, ("one",)
                    continue
                for ci in range(ci_group):
                    for t in range(n_taps):
                        if taps[o][t] < 0:  # the tap reads zero padding (or hangs past it)
                            continue
                        k = kernel_tap[t] + n_taps * (ci + ci_group * co)  # vec(K) index
                        i = taps[o][t] + plane * (first_channel + ci + c_in * n)  # vec(x) index
                        yield (row, i, ("kernel", k)) if wrt == "input" else (row, k, ("input", i))


class Conv2D(Layer):
    """2-D cross-correlation layer with explicit sparse Jacobians.

    Parameters
    ----------
    kernel : array_like
        ``(kh, kw, C_in / groups, C_out)``; a 2-D ``(kh, kw)`` kernel means one input
        and one output channel, ``(kh, kw, C_in)`` one output channel. Every axis must
        be at least 1: PyTorch refuses ``kh``, ``kw`` or ``C_out`` of 0, and with
        ``C_in = 0`` PyTorch (0 output channels) and JAX (``C_out``) disagree.
    bias : array_like, optional
        ``(C_out,)``. ``None`` means no bias (and no "bias" parameter).
    stride, dilation : int or (int, int)
        Positive.
    padding : int, (int, int), ((top, bottom), (left, right)), "same" or "valid"
        Non-negative. ``"valid"`` is 0; ``"same"`` (stride 1 only, as in PyTorch)
        pads ``dilation * (k - 1)`` in total per axis, the odd one at the bottom/right
        (PyTorch and JAX).
    groups : int
        Channel groups; must divide ``C_out`` (and ``C_in = kernel.shape[2] * groups``).
    padding_mode : {"zeros", "reflect", "replicate", "circular"}
        PyTorch's ``padding_mode``: what the padding holds. The copying modes make
        an input entry feed several taps; its Jacobian entry is their sum (which
        :meth:`reference_jacobian` adds in tap order and :meth:`jacobian` in another,
        so the two may differ in the last bit there).

    Notes
    -----
    An empty batch ``(H, W, C_in, 0)`` is accepted, as in PyTorch: the output is
    ``(Ho, Wo, C_out, 0)`` and the Jacobians are ``(0, 0)``, ``(0, kernel.size)`` and
    ``(0, C_out)``, built without touching the tiled assembly.

    Examples
    --------
    Seed 004 appendix A: a 3x4 input, a 2x2 kernel, padding (1, 1), stride (1, 2).
    ``z11 = a11 * beta22``, so row 0 of the input Jacobian has ``beta22`` in column 0.

    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> beta = np.array([[1., 2.], [3., 4.]])
    >>> conv = jc.Conv2D(beta, stride=(1, 2), padding=1)
    >>> a = np.arange(1., 13.).reshape(3, 4)
    >>> conv.forward(a).shape
    (4, 3)
    >>> J = conv.jacobian(a)
    >>> J.shape, J.nnz
    ((12, 12), 24)
    >>> J.toarray()[0]
    array([4., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0.])

    With ``padding_mode="replicate"`` the four taps of ``z11`` all read ``a11``
    (three of them through the padding), so ``d z11 / d a11`` is the kernel's sum:

    >>> conv = jc.Conv2D(beta, stride=(1, 2), padding=1, padding_mode="replicate")
    >>> conv.jacobian(a).toarray()[0]
    array([10.,  0.,  0.,  0.,  0.,  0.,  0.,  0.,  0.,  0.,  0.,  0.])
    """

    param_names = ("kernel", "bias")

    def __init__(self, kernel, bias=None, *, stride=1, padding=0, dilation=1, groups=1,
                 padding_mode="zeros"):
        self.kernel = kernel
        self.bias = bias
        self.stride = stride
        self.dilation = dilation
        if not is_int(groups):
            raise InvalidTypeError(f"groups must be an int (a positive divisor of C_out), got {groups!r}")
        if groups < 1 or self.kernel.shape[3] % groups:
            raise InvalidValueError(
                f"groups={groups} must be positive and divide C_out={self.kernel.shape[3]} "
                f"(kernel shape {self.kernel.shape})"
            )
        self.groups = int(groups)
        self.padding_mode = padding_mode
        self.padding = padding
        self._window = self._make_window()  # validated once, here (again only if changed)

    stride = WindowSetting(lambda layer, v: pair(v, "stride", minimum=1))
    dilation = WindowSetting(lambda layer, v: pair(v, "dilation", minimum=1))
    padding_mode = WindowSetting(lambda layer, v: check_padding_mode(v))
    padding = WindowSetting(lambda layer, v: layer._padding(v))

    def _make_window(self):
        return SlidingWindow(self.kernel.shape[:2], self.stride, self.padding, self.dilation,
                             padding_mode=self.padding_mode, name="kernel")

    kernel = Parameter("``(kh, kw, C_in / groups, C_out)``, a read-only copy; assign a new array of "
                       "that shape.")
    bias = Parameter("``(C_out,)`` or ``None``, a read-only copy; assign an array (or ``None``) to "
                     "change it.")

    def _checked_kernel(self, kernel):
        """A read-only 4-D float copy of ``kernel`` (of the layer's shape once it has one)."""
        shape = self.kernel.shape if "kernel" in self.__dict__ else None
        kernel = frozen_copy(kernel, "kernel")
        if kernel.ndim not in (2, 3, 4):
            raise InvalidValueError(
                f"kernel must be (kh, kw, C_in, C_out) (or (kh, kw) / (kh, kw, C_in)); "
                f"got shape {kernel.shape}"
            )
        kernel = kernel.reshape(kernel.shape + (1,) * (4 - kernel.ndim))
        if shape is not None and kernel.shape != shape:
            raise InvalidValueError(f"kernel must keep the layer's shape {shape}; got {kernel.shape} "
                                    "(make a new Conv2D for another shape)")
        _check_kernel_not_empty(kernel.shape)
        return kernel

    def _checked_bias(self, bias):
        return bias_copy(bias, self.kernel.shape[3], "C_out")

    def _padding(self, padding):
        """Explicit ``((top, bottom), (left, right))`` of an int, pair or "same"/"valid"
        (remembered as :attr:`padding_name`, for the repr)."""
        self.padding_name = padding if isinstance(padding, str) else None
        if not isinstance(padding, str):
            return padding_pairs(padding)
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding != "same":
            raise InvalidValueError(f"padding must be a number, a pair, 'same' or 'valid'; got {padding!r}")
        if self.stride != (1, 1):
            raise InvalidValueError(
                f"padding='same' needs stride 1, got stride={self.stride} (PyTorch refuses "
                "it too; give the padding explicitly)"
            )
        total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel.shape[:2], strict=True)]
        return tuple((t // 2, t - t // 2) for t in total)

    def __repr__(self):
        kh, kw, ci, co = self.kernel.shape
        geometry = describe(self.stride, self.padding, self.dilation)
        if self.padding_name is not None:
            rest = describe(self.stride, ((0, 0), (0, 0)), self.dilation)
            geometry = ", ".join(p for p in (rest, f"padding={self.padding_name!r}") if p)
        parts = [f"{kh}x{kw}", f"{ci * self.groups}->{co}", geometry,
                 f"groups={self.groups}" if self.groups > 1 else "",
                 f"padding_mode={self.padding_mode!r}" if self.padding_mode != "zeros" else "",
                 "bias" if self.bias is not None else "no bias"]
        return f"Conv2D({', '.join(p for p in parts if p)})"

    def geometry(self, in_size):
        """The :class:`~jacobian_cnn.ops.geometry.WindowGeometry` of this layer on an ``(H, W)`` input."""
        return WindowSetting.window_of(self).on(in_size)

    def _prepare(self, x):
        x4, ndim = as_maps(x)
        if x4.shape[2] != self.kernel.shape[2] * self.groups:
            raise InvalidValueError(
                f"x has {x4.shape[2]} channels but the kernel expects C_in = kernel.shape[2] * "
                f"groups = {self.kernel.shape[2]} * {self.groups} = {self.kernel.shape[2] * self.groups} "
                f"(kernel shape {self.kernel.shape}, x shape {np.shape(x)})"
            )
        return x4, ndim, self.geometry(x4.shape[:2])

    def _kernel_by_tap(self, dtype):
        """Kernel as ``(C_out, C_in / groups, n_taps)`` with tap index ``t = r + s*kh``."""
        kh, kw, ci, co = self.kernel.shape
        return cast(self.kernel, dtype, "kernel").reshape(kh * kw, ci, co, order="F").transpose(2, 1, 0)

    def forward(self, x, *, max_bytes=None):
        """Cross-correlate ``x`` (``(H, W)``, ``(H, W, C_in)`` or ``(H, W, C_in, N)``) with the kernel.

        ``max_bytes`` (default 2 GiB) limits the window tables and gathered patches
        (:meth:`~jacobian_cnn.ops.geometry.WindowGeometry.check_tables`).
        """
        x4, ndim, geo = self._prepare(x)
        dtype = x4.dtype  # computed in the input's precision
        h, w, ci, n = x4.shape
        # The patches (n_out, n_taps, C_in, N) are gathered, then copied once by the transpose.
        geo.check_tables(max_bytes, what=f"Conv2D forward pass on x of shape {x4.shape}",
                         bytes_per_tap=2 * ci * n * dtype.itemsize)
        planes = np.concatenate(
            [x4.astype(dtype, copy=False).reshape(h * w, ci, n, order="F"),
             np.zeros((1, ci, n), dtype)]
        )
        # (n_out, n_taps, C_in, N); index -1 reads the zero row (np.take is planes[geo.taps]).
        patches = np.take(planes, geo.taps, axis=0)
        g, cig, co = self.groups, self.kernel.shape[2], self.kernel.shape[3]
        # One matrix product per group: (N*n_out, n_taps*C_in/g) @ (n_taps*C_in/g, C_out/g).
        patches = patches.reshape(geo.n_out, geo.n_taps, g, cig, n).transpose(2, 4, 0, 1, 3)
        patches = patches.reshape(g, n * geo.n_out, geo.n_taps * cig)
        kernel = self._kernel_by_tap(dtype).reshape(g, co // g, cig, geo.n_taps)
        kernel = kernel.transpose(0, 3, 2, 1).reshape(g, geo.n_taps * cig, co // g)
        y = (patches @ kernel).reshape(g, n, geo.n_out, co // g)
        y = y.transpose(2, 0, 3, 1).reshape(geo.n_out, co, n)
        if self.bias is not None:
            y += cast(self.bias, dtype, "bias")[None, :, None]
        y4 = y.reshape(geo.out_size + (self.kernel.shape[3], n), order="F")
        return maps_like(y4, ndim)

    def _jacobian_parts(self, x, wrt="input", *, cache=None, max_bytes=None):
        """``d vec(y) / d vec(x)``, ``/ d vec(kernel)`` or ``/ d bias`` as
        :class:`~jacobian_cnn._sparse.csr.CSRParts`.

        Parameters
        ----------
        x : array_like
            The input at which to differentiate (only its shape matters for
            ``wrt="input"`` and ``"bias"``).
        wrt : {"input", "kernel", "bias"}
        cache : ignored
            Accepted for the common layer protocol.
        max_bytes : int, optional
            Refuse (``JacobianTooLargeError``) a Jacobian estimated larger than this.
        """
        self._check_wrt(wrt)
        x4, _, geo = self._prepare(x)
        ci, co = self.kernel.shape[2:]  # ci: input channels per group
        n = x4.shape[3]
        dtype = x4.dtype  # computed in the input's precision
        n_rows = geo.n_out * co * n
        if n_rows == 0:  # an empty batch (N = 0, as PyTorch allows): nothing to build
            return empty((0, {"input": x4.size, "kernel": self.kernel.size, "bias": co}[wrt]), dtype)
        if wrt == "bias":
            check_size(n_rows, n_rows, np.dtype(dtype).itemsize, max_bytes, "Conv2D bias Jacobian")
            # One 1 per row, row (o, co, n) at column co. One sample: rows o + n_out*c
            # store column c alone (column blocks), which fixes indices and indptr.
            if n == 1:
                return CSRParts(np.ones(n_rows, dtype), None, None, (n_rows, co), "column_blocks")
            index = index_dtype(n_rows, co)
            indices = np.empty((n, co, geo.n_out), index)
            indices[...] = np.arange(co, dtype=index)[None, :, None]
            return CSRParts(np.ones(n_rows, dtype), indices.reshape(-1),
                            np.arange(n_rows + 1, dtype=index), (n_rows, co))
        nnz = geo.jacobian_nnz(ci, co * n)  # no table is built before the checks
        what = f"Conv2D {wrt} Jacobian ({n_rows} x {x4.size if wrt == 'input' else self.kernel.size})"
        check_size(n_rows, nnz, np.dtype(dtype).itemsize, max_bytes, what)
        geo.check_tables(max_bytes, what=what)
        if geo.taps_may_repeat:
            return self._jacobian_by_index(x4, geo, wrt)
        # Zero padding: the same matrix as _jacobian_by_index, written tile by tile.
        if wrt == "input":
            return conv_input_jacobian(geo, cast(self.kernel, dtype, "kernel"), n, self.groups)
        return conv_kernel_jacobian(geo, x4, co, self.groups)

    def _definition(self, x, wrt, cache):
        x4, _, geo = self._prepare(x)
        dtype = x4.dtype
        entries = conv_entries(geo, self.kernel.shape, self.groups, x4.shape[3], wrt)
        n_cols = {"input": x4.size, "kernel": self.kernel.size, "bias": self.kernel.shape[3]}[wrt]
        return Definition(entries, (geo.n_out * self.kernel.shape[3] * x4.shape[3], n_cols),
                          numeric_terms(dtype, kernel=cast(self.kernel, dtype, "kernel"), input=x4),
                          dtype)

    def _jacobian_by_index(self, x4, geo, wrt):
        """The input or kernel Jacobian from plain index arithmetic over every nonzero: the
        builder for copying padding modes, whose repeated taps are summed (the tiled
        builders of :mod:`jacobian_cnn._sparse.assembly` serve zero padding). The caller
        has checked the size.
        """
        h, w, c_in, n = x4.shape
        ci, co = self.kernel.shape[2:]  # ci: input channels per group
        group = np.arange(co) // (co // self.groups)  # the group of each output channel
        dtype = x4.dtype
        n_rows = geo.n_out * co * n
        # Entries of one (sample, output channel) block, ordered by (o, ci, t): sorted columns.
        row_len = geo.valid_counts * ci
        o_idx, c_idx, t_idx = np.nonzero(np.broadcast_to(geo.valid[:, None, :],
                                                         (geo.n_out, ci, geo.n_taps)))
        if wrt == "input":
            base = geo.taps[o_idx, t_idx].astype(np.int64) + c_idx * (h * w)
            cols = (base[None, None, :] + (np.arange(n) * (h * w * c_in))[:, None, None]
                    + (group * (ci * h * w))[None, :, None])
            vals = self._kernel_by_tap(dtype)[:, c_idx, t_idx]  # (C_out, block nnz)
            vals = np.broadcast_to(vals[None], (n, co, base.size))
            n_cols = x4.size
        else:  # kernel
            taps_per_c = geo.n_taps
            base = t_idx + c_idx * taps_per_c
            cols = base[None, None, :] + (np.arange(co) * (taps_per_c * ci))[None, :, None]
            cols = np.broadcast_to(cols, (n, co, base.size))
            planes = x4.astype(dtype, copy=False).reshape(h * w, c_in, n, order="F")
            channels = np.arange(self.groups)[:, None] * ci + c_idx[None, :]
            vals = planes[geo.taps[o_idx, t_idx][None, :], channels, :]  # (groups, block nnz, N)
            vals = vals.transpose(2, 0, 1)[:, group, :]  # (N, C_out, block nnz)
            n_cols = self.kernel.size
        lengths = np.broadcast_to(row_len[None, None, :], (n, co, geo.n_out))
        cols = np.ascontiguousarray(cols)
        vals = np.ascontiguousarray(vals)
        if wrt == "input":  # repeated taps of a window read one input entry: summed
            return csr_summing_duplicates(lengths, cols, vals, (n_rows, n_cols))
        return csr_from_rows(lengths, cols, vals, (n_rows, n_cols))


def _check_kernel_not_empty(shape):
    """Refuse a ``(kh, kw, C_in / groups, C_out)`` kernel with an axis of size 0.

    PyTorch refuses ``kh``, ``kw`` or ``C_out`` of 0. With no input channels it
    returns an output with 0 channels where JAX returns ``C_out`` channels of bias:
    the libraries disagree, and neither is a layer anyone means to build.
    """
    names = ("kh (kernel height)", "kw (kernel width)", "C_in / groups (input channels)",
             "C_out (output channels)")
    for size, name in zip(shape, names, strict=True):
        if size == 0:
            raise InvalidValueError(
                f"kernel must have every axis of (kh, kw, C_in / groups, C_out) at least 1, "
                f"got shape {shape} with {name} = 0"
            )
