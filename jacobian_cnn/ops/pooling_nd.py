"""1-D and 3-D average and max pooling, from one N-dimensional window.

The rules are the 2-D layers' (:mod:`jacobian_cnn.ops.pooling`), axis by axis, over
``(L, C[, N])`` and ``(D, H, W, C[, N])``: average pooling puts ``1 / divisor[o]`` at
every in-input tap of window ``o`` (its readable definition is the 2-D one,
:func:`~jacobian_cnn.ops.pooling.avgpool_entries`); max pooling records its switches
(the vec index into ``x`` of each window's winner) and its Jacobian has a single 1 per
row, at the switch (:func:`~jacobian_cnn.ops.switches.switches_entries`). Padding never
wins a max pool here (PyTorch's rule; the 2-D ``pad_value`` option is not offered) and
ties go to the first maximum in column-major window order, or with
``tie="row_major"`` in row-major order (PyTorch's CPU rule). Index conventions:
:mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._arguments import check_size, is_int
from jacobian_cnn._sparse.grid import block_pattern, by_channel, repeated_blocks
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.ops.geometry import check_bool
from jacobian_cnn.ops.grid_layer import GridLayer
from jacobian_cnn.ops.layer import Definition, numeric_terms
from jacobian_cnn.ops.pooling import avgpool_entries
from jacobian_cnn.ops.switches import switches_entries, switches_parts
from jacobian_cnn.ops.window import WindowSetting
from jacobian_cnn.ops.window_nd import GridWindow, axis_tuple

__all__ = ["AvgPool1D", "AvgPool3D", "MaxPool1D", "MaxPool3D", "AvgPoolND", "MaxPoolND"]


def _stride(layer, stride):
    """PyTorch's rule: an omitted stride (``None`` or an empty tuple) is the window."""
    if stride is None or (isinstance(stride, (tuple, list)) and not stride):
        return layer.window
    return axis_tuple(stride, "stride", layer.spatial_ndim, minimum=1)


class _PoolND(GridLayer):
    window = WindowSetting(lambda layer, v: axis_tuple(v, "window", layer.spatial_ndim, minimum=1))
    stride = WindowSetting(_stride)
    ceil_mode = WindowSetting(lambda layer, v: check_bool(v, "ceil_mode"))

    def __init__(self, window, stride, padding, dilation, ceil_mode):
        self._set_window(window=window, stride=stride, padding=padding, dilation=dilation,
                         ceil_mode=ceil_mode)

    def _make_window(self):
        return GridWindow(self.window, self.stride, self.padding, self.dilation, self.ceil_mode)

    def _planes(self, x, what, max_bytes):
        """``(x_full, ndim, geo, planes)``: the input as ``(n_in + 1, C * N)``, the last row ``fill``."""
        full, ndim, geo = self._maps(x)
        if full.shape[self.spatial_ndim] == 0:
            raise InvalidValueError(f"x must have at least one channel, got shape {np.shape(x)}")
        geo.check_tables(max_bytes, what=f"{type(self).__name__} {what} on x of shape {full.shape}",
                         bytes_per_tap=full.shape[-1] * full.shape[-2] * full.dtype.itemsize)
        return full, ndim, geo, full.reshape(geo.n_in, -1, order="F")

    def __repr__(self):
        window = "x".join(map(str, self.window))
        parts = [window, *self._geometry_text(self.window)] + (["ceil_mode=True"] if self.ceil_mode else [])
        return f"{type(self).__name__}({', '.join(parts + self._extra_repr())})"


class AvgPoolND(_PoolND):
    """Average pooling over ``spatial_ndim`` axes (use :class:`AvgPool1D` or :class:`AvgPool3D`).

    Parameters are :class:`~jacobian_cnn.AvgPool2D`'s, one value per axis (no dilation,
    as in PyTorch).
    """

    def __init__(self, window, *, stride=None, padding=0, count_include_pad=True, ceil_mode=False,
                 divisor_override=None):
        super().__init__(window, stride, padding, 1, ceil_mode)
        self.count_include_pad = check_bool(count_include_pad, "count_include_pad")
        if divisor_override is not None and (not is_int(divisor_override) or divisor_override == 0):
            raise (InvalidValueError if is_int(divisor_override) else InvalidTypeError)(
                f"divisor_override must be None or a nonzero int, got {divisor_override!r}")
        self.divisor_override = None if divisor_override is None else int(divisor_override)

    def _extra_repr(self):
        extra = [] if self.count_include_pad else ["count_include_pad=False"]
        override = self.divisor_override
        return extra + ([] if override is None else [f"divisor_override={override}"])

    def divisors(self, geo):
        """The divisor of every output position, ``(n_out,)``, as PyTorch computes it."""
        if self.divisor_override is not None:
            return np.full(geo.n_out, self.divisor_override)
        counts = geo.padded_counts if self.count_include_pad else geo.valid_counts
        if np.any(counts == 0):
            raise InvalidValueError(f"a window of {self!r} lies entirely in the padding; with "
                                    "count_include_pad=False its average is 0/0")
        return counts

    def forward(self, x, *, max_bytes=None):
        """Average every window of every channel."""
        full, ndim, geo, planes = self._planes(x, "forward pass", max_bytes)
        padded = np.concatenate([planes, np.zeros((1, planes.shape[1]), planes.dtype)])
        sums = padded[geo.taps].sum(axis=1)
        y = (sums / self.divisors(geo)[:, None]).astype(full.dtype, copy=False)
        return self._shaped(y.reshape((geo.n_out, *full.shape[-2:]), order="F"), geo.out_size, ndim)

    def _jacobian_parts(self, x, wrt="input", *, cache=None, max_bytes=None):
        """``d vec(y) / d vec(x)`` (CSR parts); depends on ``x`` only through its shape."""
        self._check_wrt(wrt)
        full, _, geo = self._maps(x)
        n_planes = full.shape[-1] * full.shape[-2]
        what = f"{type(self).__name__} Jacobian"
        check_size(geo.n_out * n_planes, geo.jacobian_nnz(1, n_planes), full.dtype.itemsize, max_bytes, what)
        geo.check_tables(max_bytes, what=what)
        values = (1.0 / np.asarray(self.divisors(geo))).astype(full.dtype)
        block = block_pattern(geo, 1)
        return repeated_blocks(block.lengths, block.input_columns, geo.n_in * np.arange(n_planes),
                               full.size, full.dtype, by_channel(values[None, :], block.o))

    def _definition(self, x, wrt, cache):
        full, _, geo = self._maps(x)
        n_planes = full.shape[-1] * full.shape[-2]
        return Definition(avgpool_entries(geo, self.divisors(geo), n_planes),
                          (geo.n_out * n_planes, full.size), numeric_terms(full.dtype), full.dtype)


class MaxPoolND(_PoolND):
    """Max pooling over ``spatial_ndim`` axes, recording its switches (use :class:`MaxPool1D` or
    :class:`MaxPool3D`); parameters are :class:`~jacobian_cnn.MaxPool2D`'s without ``pad_value``."""

    def __init__(self, window, *, stride=None, padding=0, dilation=1, ceil_mode=False,
                 tie="column_major"):
        super().__init__(window, stride, padding, dilation, ceil_mode)
        if not isinstance(tie, str) or tie not in ("column_major", "row_major"):
            raise InvalidValueError(f"tie must be 'column_major' or 'row_major', got {tie!r}")
        self.tie = tie

    def _extra_repr(self):
        return [] if self.tie == "column_major" else [f"tie={self.tie!r}"]

    def forward_with_cache(self, x, *, max_bytes=None):
        """``(y, switches)``: the pooled maps and the vec index into ``x`` of each winner."""
        full, ndim, geo, planes = self._planes(x, "forward pass", max_bytes)
        if np.any(geo.valid_counts == 0):
            raise InvalidValueError(f"a window of {self!r} on x of shape {full.shape} lies entirely "
                                    "in the padding: it has no maximum")
        padded = np.concatenate([planes, np.full((1, planes.shape[1]), -np.inf, planes.dtype)])
        order = np.arange(geo.n_taps)
        if self.tie == "row_major":
            order = order.reshape(self.window, order="F").ravel(order="C")
        windows = padded[geo.taps[:, order]]  # (n_out, n_taps, C*N), in visiting order
        winner = order[np.argmax(windows, axis=1)]  # the first maximum in visiting order
        y = windows.max(axis=1)  # the winner's value
        switches = geo.taps[np.arange(geo.n_out)[:, None], winner] + geo.n_in * np.arange(planes.shape[1])
        shape = (geo.n_out,) + full.shape[-2:]
        return (self._shaped(y.reshape(shape, order="F"), geo.out_size, ndim),
                self._shaped(switches.reshape(shape, order="F"), geo.out_size, ndim))

    def forward(self, x, *, max_bytes=None):
        """The maximum of every window of every channel."""
        return self.forward_with_cache(x, max_bytes=max_bytes)[0]

    def switches(self, x, *, max_bytes=None):
        """Int array of ``y``'s shape: vec index into ``x`` of each window's winner."""
        return self.forward_with_cache(x, max_bytes=max_bytes)[1]

    def _checked_switches(self, cache, full, ndim, geo):
        """The switches a caller passes back: ``y``'s shape, ints, each an input of its window."""
        s = np.asarray(cache)
        shape = self._shaped(np.zeros((geo.n_out,) + full.shape[-2:]), geo.out_size, ndim).shape
        if s.dtype.kind not in "iu" or s.shape != shape:
            raise InvalidValueError(f"cache must be the switches forward_with_cache(x) returns: ints "
                                    f"of shape {shape}; got {s.dtype} of shape {s.shape}")
        local = s.reshape(geo.n_out, -1, order="F") - geo.n_in * np.arange(full.size // geo.n_in)
        if not geo.reads(local).all():
            raise InvalidValueError("cache must be the switches forward_with_cache(x) returns: each "
                                    "the vec index of an input of its own window, channel and sample")
        return s

    def _switches(self, x, cache, max_bytes=None):
        full, ndim, geo = self._maps(x)
        if cache is None:
            return full, self.switches(x, max_bytes=max_bytes)
        return full, self._checked_switches(cache, full, ndim, geo)

    def _jacobian_parts(self, x, wrt="input", *, cache=None, max_bytes=None):
        """``d vec(y) / d vec(x)`` from the switches (pass them as ``cache`` to skip the forward)."""
        self._check_wrt(wrt)
        full, switches = self._switches(x, cache, max_bytes)
        return switches_parts(switches, full.size, dtype=full.dtype, max_bytes=max_bytes)

    def _definition(self, x, wrt, cache):
        full, switches = self._switches(x, cache)
        return Definition(switches_entries(switches), (switches.size, full.size),
                          numeric_terms(full.dtype), full.dtype)


class AvgPool1D(AvgPoolND):
    """Average pooling over ``(L, C[, N])``.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> print(jc.AvgPool1D(2, stride=1).jacobian(np.zeros((3, 1))).toarray())
    [[0.5 0.5 0. ]
     [0.  0.5 0.5]]
    """

    spatial_ndim = 1


class AvgPool3D(AvgPoolND):
    """Average pooling over ``(D, H, W, C[, N])``."""

    spatial_ndim = 3


class MaxPool1D(MaxPoolND):
    """Max pooling over ``(L, C[, N])``.

    Examples
    --------
    The winners of ``[3, 1 | 2, 5]`` are entries 0 and 3; each row of the Jacobian selects one:

    >>> from jacobian_cnn import MaxPool1D
    >>> MaxPool1D(2).switches([[3.], [1.], [2.], [5.]]).ravel().tolist()
    [0, 3]
    """

    spatial_ndim = 1


class MaxPool3D(MaxPoolND):
    """Max pooling over ``(D, H, W, C[, N])``."""

    spatial_ndim = 3
