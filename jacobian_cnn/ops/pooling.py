"""Average pooling and max pooling with switches, each with its Jacobian.

Both act on every channel and sample independently and share the window geometry
of :mod:`jacobian_cnn.ops.geometry` with convolution. Index conventions:
:mod:`jacobian_cnn.vec`.

Average pooling is a convolution with a constant kernel applied per channel: row
``(o, c, n)`` of ``d vec(y) / d vec(x)`` holds ``1 / divisor[o]`` at every in-input
tap of window ``o``. Where windows overlap, one input column has entries in several
rows, and ``g @ J`` adds them (seed 000).

Max pooling keeps, for every output, the *switch*: the vec index into ``x`` of the
entry that won. Its Jacobian has a single 1 per row, at the switch, and is built
from the switches recorded by the forward pass, never by recomputing it.

Only the batch may be empty, as in PyTorch: ``(H, W, C, 0)`` pools to
``(Ho, Wo, C, 0)`` with a ``(0, 0)`` Jacobian (and empty switches); an input without
channels is refused.

``ceil_mode=True`` is PyTorch's: the output size rounds up, so the last window may
hang past the padding (those taps do not exist: they never win and are never
counted), except that a last window starting in the bottom/right padding is dropped.
"""

from __future__ import annotations

import numbers

import numpy as np

from jacobian_cnn._arguments import check_size, is_int, padding_pairs, pair
from jacobian_cnn._sparse.assembly import avgpool_jacobian
from jacobian_cnn._sparse.csr import empty
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.ops.geometry import WindowGeometry, check_bool
from jacobian_cnn.ops.layer import Definition, Layer, as_maps, describe, maps_like, numeric_terms
from jacobian_cnn.ops.switches import checked_switches, switches_entries, switches_jacobian, switches_parts
from jacobian_cnn.ops.window import SlidingWindow, WindowSetting

__all__ = ["AvgPool2D", "MaxPool2D", "switches_jacobian", "avgpool_entries"]


def avgpool_entries(geo, divisors, n_planes):
    """The entries ``(row, column, term)`` of average pooling's ``d vec(y) / d vec(x)``.

    ``y[o, plane] = sum_t x[taps[o, t], plane] / divisor[o]`` over the taps ``t`` of
    window ``o`` that read the input, so row ``(o, plane)`` holds ``1 / divisor[o]`` at
    each of them. ``geo`` is the :class:`~jacobian_cnn.ops.geometry.WindowGeometry`
    (moved windows, in the symbolic mistake catalogue, keep the true ``divisors``);
    ``n_planes`` is ``C * N``.
    """
    taps = geo.taps.tolist()
    for plane in range(n_planes):
        for o in range(geo.n_out):
            for t in range(geo.n_taps):
                if taps[o][t] >= 0:  # the tap reads the input, not padding
                    yield (o + geo.n_out * plane, taps[o][t] + geo.n_in * plane,
                           ("divisor", int(divisors[o])))


def _pool_stride(stride, window):
    """PyTorch's rule: an omitted stride, ``None`` or an empty tuple/list, is the window."""
    empty = isinstance(stride, (tuple, list)) and not stride
    return window if stride is None or empty else pair(stride, "stride", minimum=1)


class _Pool2D(Layer):
    """Geometry handling shared by the pooling layers."""

    window = WindowSetting(lambda layer, v: pair(v, "window", minimum=1))
    stride = WindowSetting(lambda layer, v: _pool_stride(v, layer.window))
    padding = WindowSetting(lambda layer, v: padding_pairs(v))
    dilation = WindowSetting(lambda layer, v: pair(v, "dilation", minimum=1))
    ceil_mode = WindowSetting(lambda layer, v: check_bool(v, "ceil_mode"))

    def __init__(self, window, stride, padding, dilation, ceil_mode):
        self.window = window
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.ceil_mode = ceil_mode
        self._window = self._make_window()  # validated once, here (again only if changed)

    def _make_window(self):
        return SlidingWindow(self.window, self.stride, self.padding, self.dilation, self.ceil_mode)

    def geometry(self, in_size):
        """The :class:`WindowGeometry` of this layer on an ``(H, W)`` input."""
        return WindowSetting.window_of(self).on(in_size)

    def _prepare(self, x):
        x4, ndim = as_maps(x)
        if x4.shape[2] == 0:
            raise InvalidValueError(
                f"x must have at least one channel (only the batch axis N of (H, W, C, N) may be "
                f"0, as in PyTorch's pooling), got shape {np.shape(x)}"
            )
        return x4, ndim, self.geometry(x4.shape[:2])

    def _geometry_repr(self):
        kh, kw = self.window
        rest = describe(self.stride, self.padding, self.dilation, default_stride=self.window)
        if self.ceil_mode:
            rest = ", ".join(p for p in (rest, "ceil_mode=True") if p)
        return f"{kh}x{kw}" + (f", {rest}" if rest else "")


def _output_position(o, geo):
    """``(p, q)`` of output ``o`` (vec order), as plain ints for messages."""
    return tuple(int(i) for i in np.unravel_index(o, geo.out_size, order="F"))


def _gather(x4, geo, fill):
    """Window contents ``(n_out, n_taps, C, N)``, with ``fill`` at taps in padding."""
    h, w, c, n = x4.shape
    planes = np.concatenate([x4.reshape(h * w, c, n, order="F"),
                             np.full((1, c, n), fill, dtype=x4.dtype)])
    return np.take(planes, geo.taps, axis=0)  # planes[geo.taps]: index -1 reads the fill row


class AvgPool2D(_Pool2D):
    """Average pooling; overlapping windows are allowed.

    Parameters
    ----------
    window : int or (int, int)
    stride : int or (int, int), optional
        Defaults to the window (non-overlapping pooling).
    padding : int, (int, int) or ((top, bottom), (left, right))
        Zero padding.
    count_include_pad : bool
        ``True`` (default, PyTorch's default): divide by the number of taps inside
        the padded input (``kh*kw`` unless ``ceil_mode`` lets the window hang past the
        padding: the overhang is never counted). ``False``: divide by the number of
        taps inside the input.
    ceil_mode : bool
        PyTorch's ``ceil_mode`` (see the module docstring).
    divisor_override : int, optional
        Divide every window's sum by this nonzero number instead (PyTorch's
        ``divisor_override``; like PyTorch, a negative divisor is allowed).
    dilation : int or (int, int)
        Spacing between taps (not in PyTorch's average pooling).

    Examples
    --------
    Seed 000: a 3x3 input, 2x2 windows, stride 1 (eq. 3).

    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> J = jc.AvgPool2D(2, stride=1).jacobian(np.zeros((3, 3)))
    >>> print(J.toarray() * 4)
    [[1. 1. 0. 1. 1. 0. 0. 0. 0.]
     [0. 1. 1. 0. 1. 1. 0. 0. 0.]
     [0. 0. 0. 1. 1. 0. 1. 1. 0.]
     [0. 0. 0. 0. 1. 1. 0. 1. 1.]]

    With ``ceil_mode`` a 3x3 input pooled 2x2 has a second, overhanging window per
    axis; PyTorch divides by the taps that exist, here 2 in the border windows and
    1 in the corner (the overhang is never counted, padding or not):

    >>> pool = jc.AvgPool2D(2, ceil_mode=True)
    >>> pool.forward(np.ones((3, 3)))
    array([[1., 1.],
           [1., 1.]])
    >>> [int(d) for d in pool.divisors(pool.geometry((3, 3)))]
    [4, 2, 2, 1]
    """

    def __init__(self, window, *, stride=None, padding=0, count_include_pad=True, dilation=1,
                 ceil_mode=False, divisor_override=None):
        super().__init__(window, stride, padding, dilation, ceil_mode)
        self.count_include_pad = check_bool(count_include_pad, "count_include_pad")
        if divisor_override is not None:
            if not is_int(divisor_override):
                raise InvalidTypeError(
                    f"divisor_override must be None or a nonzero int, got {divisor_override!r}")
            if divisor_override == 0:
                raise InvalidValueError(
                    f"divisor_override must be None or a nonzero int, got {divisor_override!r}")
            divisor_override = int(divisor_override)
        self.divisor_override = divisor_override

    def __repr__(self):
        extra = "" if self.count_include_pad else ", count_include_pad=False"
        if self.divisor_override is not None:
            extra += f", divisor_override={self.divisor_override}"
        return f"AvgPool2D({self._geometry_repr()}{extra})"

    def divisors(self, geo):
        """The divisor of every output position, ``(n_out,)``, exactly as PyTorch computes it.

        ``geo`` is this layer's :meth:`geometry` on the input size.
        """
        if not isinstance(geo, WindowGeometry):
            raise InvalidTypeError(f"geo must be a WindowGeometry (pool.geometry((H, W))), got {geo!r}")
        if self.divisor_override is not None:
            return np.full(geo.n_out, self.divisor_override)
        if self.count_include_pad:
            return geo.padded_counts
        counts = geo.valid_counts
        if np.any(counts == 0):
            o = int(np.flatnonzero(counts == 0)[0])
            raise InvalidValueError(
                f"window at output {_output_position(o, geo)} lies entirely "
                f"in padding {self.padding}; with count_include_pad=False its average is 0/0"
            )
        return counts

    def forward(self, x, *, max_bytes=None):
        """Average every window of every channel.

        ``max_bytes`` (default 2 GiB) limits the window tables and gathered windows
        (:meth:`~jacobian_cnn.ops.geometry.WindowGeometry.check_tables`).
        """
        x4, ndim, geo = self._prepare(x)
        geo.check_tables(max_bytes, what=f"AvgPool2D forward pass on x of shape {x4.shape}",
                         bytes_per_tap=x4.shape[2] * x4.shape[3] * x4.dtype.itemsize)
        patches, divisors = _gather(x4, geo, 0), self.divisors(geo)
        with np.errstate(over="ignore"):  # checked below
            y = (patches.sum(axis=1) / divisors[:, None, None]).astype(x4.dtype, copy=False)
            if not np.isfinite(y).all():
                # The sum overflowed: add each tap's share instead, which stays finite
                # wherever the mean is representable (ordinary inputs never come here).
                y = (patches / divisors[:, None, None, None]).sum(axis=1).astype(x4.dtype, copy=False)
        if not np.isfinite(y).all():
            o = int(np.flatnonzero(~np.isfinite(y).all(axis=(1, 2)))[0])
            raise InvalidValueError(
                f"the average of the window at output "
                f"{_output_position(o, geo)} overflows {x4.dtype} "
                f"(divisor {divisors[o]}); allowed are inputs whose averages are finite"
            )
        return maps_like(y.reshape(geo.out_size + x4.shape[2:], order="F"), ndim)

    def _jacobian_parts(self, x, wrt="input", *, cache=None, max_bytes=None):
        """``d vec(y) / d vec(x)``; depends on ``x`` only through its shape.

        As :class:`~jacobian_cnn._sparse.csr.CSRParts`.
        """
        self._check_wrt(wrt)
        x4, _, geo = self._prepare(x)
        h, w, c, n = x4.shape
        n_rows = geo.n_out * c * n
        nnz = geo.jacobian_nnz(1, c * n)  # no table is built before the checks
        what = f"AvgPool2D Jacobian ({n_rows} x {x4.size})"
        check_size(n_rows, nnz, x4.dtype.itemsize, max_bytes, what)
        geo.check_tables(max_bytes, what=what)
        divisors = self.divisors(geo)  # refuses a 0/0 average, whatever the batch
        if n_rows == 0:  # an empty batch (N = 0, as PyTorch allows): nothing to build
            return empty((n_rows, x4.size), x4.dtype)
        # The matrix of avgpool_entries, written tile by tile.
        return avgpool_jacobian(geo, x4.shape, x4.dtype, divisors)

    def _definition(self, x, wrt, cache):
        x4, _, geo = self._prepare(x)
        planes = x4.shape[2] * x4.shape[3]
        return Definition(avgpool_entries(geo, self.divisors(geo), planes),
                          (geo.n_out * planes, x4.size), numeric_terms(x4.dtype), x4.dtype)


class MaxPool2D(_Pool2D):
    """Max pooling that records its switches.

    Parameters
    ----------
    window : int or (int, int)
    stride : int or (int, int), optional
        Defaults to the window.
    padding : int, (int, int) or ((top, bottom), (left, right))
    dilation : int or (int, int)
        Spacing between window taps (PyTorch's ``dilation``).
    pad_value : float or None
        ``None`` (default): padding never wins, as in PyTorch, JAX and MatConvNet.
        A number (seed 004 appendix B uses ``0.0``): padding taps hold that value
        and can win; the output is then ``pad_value`` and its Jacobian row is empty
        (switch ``-1``). Taps past the padding (``ceil_mode``) never win.
    tie : {"column_major", "row_major"}
        Which of several equal maxima wins. ``"column_major"`` (default): the first
        in the window's column-major order, the seed's ``vec(Omega)`` order and
        MatConvNet's. ``"row_major"``: the first in row-major order, PyTorch's CPU
        rule (and JAX's), so that even on ties the Jacobian equals theirs. Either way
        exactly one entry per window wins.
    ceil_mode : bool
        PyTorch's ``ceil_mode`` (see the module docstring).

    Notes
    -----
    NaN input is rejected with ``ValueError``: a NaN makes "the maximum" and
    hence the switch undefined (PyTorch would propagate the NaN and route the
    gradient to it).

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> x = np.array([[1., 5.], [5., 2.]])      # a tie: 5 at (1, 0) and at (0, 1)
    >>> jc.MaxPool2D(2).switches(x)              # column-major: (1, 0) comes first
    array([[1]])
    >>> jc.MaxPool2D(2, tie="row_major").switches(x)
    array([[2]])
    """

    def __init__(self, window, *, stride=None, padding=0, dilation=1, pad_value=None,
                 tie="column_major", ceil_mode=False):
        super().__init__(window, stride, padding, dilation, ceil_mode)
        if pad_value is not None and (not isinstance(pad_value, (numbers.Real, np.integer, np.floating))
                                      or isinstance(pad_value, (bool, np.bool_))):
            raise InvalidTypeError(f"pad_value must be None or a finite number, got {pad_value!r}")
        if pad_value is not None and not np.isfinite(pad_value):
            raise InvalidValueError(f"pad_value must be None or a finite number, got {pad_value!r}")
        if not isinstance(tie, str) or tie not in ("column_major", "row_major"):
            raise InvalidValueError(f"tie must be 'column_major' or 'row_major', got {tie!r}")
        self.pad_value = None if pad_value is None else float(pad_value)
        self.tie = tie

    def __repr__(self):
        extra = "" if self.pad_value is None else f", pad_value={self.pad_value}"
        extra += "" if self.tie == "column_major" else f", tie={self.tie!r}"
        return f"MaxPool2D({self._geometry_repr()}{extra})"

    def forward_with_cache(self, x, *, max_bytes=None):
        """``(y, switches)``: the pooled maps and the switches (see :meth:`switches`).

        ``max_bytes`` (default 2 GiB) limits the window tables and gathered windows
        (:meth:`~jacobian_cnn.ops.geometry.WindowGeometry.check_tables`).
        """
        x4, ndim, geo = self._prepare(x)
        h, w, c, n = x4.shape
        geo.check_tables(max_bytes, what=f"MaxPool2D forward pass on x of shape {x4.shape}",
                         bytes_per_tap=c * n * x4.dtype.itemsize)
        if self.pad_value is None and np.any(geo.valid_counts == 0):
            o = int(np.flatnonzero(geo.valid_counts == 0)[0])
            raise InvalidValueError(
                f"window at output {_output_position(o, geo)} lies entirely "
                f"in padding {self.padding}; with pad_value=None it has no maximum"
            )
        # Tap by tap over every window of every (channel, sample) plane at once:
        # windows[t] is (n_out, C*N), contiguous.
        planes = np.empty((h * w + 1, c * n), x4.dtype)
        planes[:-1] = x4.reshape(h * w, c * n, order="F")
        planes[-1] = -np.inf  # what index -1 (no input) reads
        windows = planes[geo.taps.T]
        if self.pad_value is not None:
            windows[(geo.in_padded & ~geo.valid).T] = self.pad_value  # padding, not the overhang
        order = np.arange(geo.n_taps)
        if self.tie == "row_major":
            order = order.reshape(self.window, order="F").ravel(order="C")
        # A strictly larger value takes over: the first maximum in visiting order wins.
        y = windows[order[0]].copy()
        winner = np.full(y.shape, order[0])  # tap index, (n_out, C*N)
        for t in order[1:]:
            larger = windows[t] > y
            np.copyto(y, windows[t], where=larger)
            winner[larger] = t
        tap_pos = geo.taps[np.arange(geo.n_out)[:, None], winner]
        offsets = np.arange(c * n) * (h * w)  # plane c + C*n starts at (c + C*n)*H*W
        switches = np.where(tap_pos >= 0, tap_pos + offsets, -1)
        shape = geo.out_size + (c, n)  # (o, plane) column-major is vec order
        return (maps_like(y.reshape(shape, order="F"), ndim),
                maps_like(switches.reshape(shape, order="F"), ndim))

    def forward(self, x, *, max_bytes=None):
        """Take the maximum of every window of every channel (``max_bytes``: see
        :meth:`forward_with_cache`)."""
        return self.forward_with_cache(x, max_bytes=max_bytes)[0]

    def switches(self, x, *, max_bytes=None):
        """Int array of ``y``'s shape: vec index into ``x`` of each winner, ``-1`` if padding won."""
        return self.forward_with_cache(x, max_bytes=max_bytes)[1]

    def _jacobian_parts(self, x, wrt="input", *, cache=None, max_bytes=None):
        """``d vec(y) / d vec(x)`` from the switches (pass them as ``cache`` to skip the forward),
        as :class:`~jacobian_cnn._sparse.csr.CSRParts`."""
        self._check_wrt(wrt)
        x4, ndim, geo = self._prepare(x)
        if cache is None:
            # At most one nonzero per output: refuse before the forward pass gathers windows.
            n_rows = geo.n_out * x4.shape[2] * x4.shape[3]
            check_size(n_rows, n_rows, x4.dtype.itemsize, max_bytes,
                       f"MaxPool2D Jacobian ({n_rows} x {x4.size})")
            switches = self.switches(x, max_bytes=max_bytes)
        else:
            switches = checked_switches(cache, x4.shape, ndim, geo, self.pad_value)
        return switches_parts(switches, x4.size, dtype=x4.dtype, max_bytes=max_bytes)

    def _definition(self, x, wrt, cache):
        x4, ndim, geo = self._prepare(x)
        switches = self.switches(x) if cache is None else self._checked_switches(cache, x4.shape,
                                                                                 ndim, geo)
        return Definition(switches_entries(switches), (np.size(switches), x4.size),
                          numeric_terms(x4.dtype), x4.dtype)
