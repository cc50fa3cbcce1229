"""Sliding-window geometry shared by convolution, average pooling and max pooling.

Convolution, average pooling and max pooling visit the same windows; they differ
only in the values they put into the same sparsity pattern (seed 004: average
pooling *is* a convolution with a constant kernel). :class:`WindowGeometry`
normalizes the geometry once and owns the index table that every Jacobian builder
reads.

Index conventions (see :mod:`jacobian_cnn.vec`): output position ``(p, q)`` has
vec index ``o = p + q * Ho``; window tap ``(r, s)`` has index ``t = r + s * kh``
(the seed's ``vec(Omega)`` order); input position ``(i, j)`` of one channel has
index ``i + j * H``. Tap ``(r, s)`` of output ``(p, q)`` reads padded position
``(p * sh + r * dh, q * sw + s * dw)``, i.e. input row
``i = p * sh - top + r * dh`` and column ``j = q * sw - left + s * dw``.

What a tap outside the input reads depends on the padding mode. ``"zeros"``: nothing
(index ``-1``), the padding is a constant. The copying modes of PyTorch
(``"reflect"``, ``"replicate"``, ``"circular"``) read the input entry the padding
copies, so the tap table holds that entry's index and one input entry can feed
several taps of one window: Jacobian builders must then *sum* the duplicates
(:attr:`WindowGeometry.taps_may_repeat`). With ``ceil_mode`` the last window may
also hang past the padding; such taps read nothing in every mode.

Sizes are known before any table exists: :attr:`WindowGeometry.n_valid` (the nonzeros
of one channel's Jacobian) and the per-output counts come from per-axis closed forms,
in ``O(Ho + Wo)`` work, and :meth:`WindowGeometry.check_tables` refuses
(:class:`~jacobian_cnn.errors.SizeLimitError`) a table, with whatever a caller builds
per tap, larger than ``max_bytes`` before anything of that size is allocated. The
tables themselves are built from per-axis tables, at 4 bytes per ``(output, tap)``
entry (8 for inputs of ``2**30`` entries or more) and no larger intermediate.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from jacobian_cnn._arguments import byte_limit, index_dtype, pair
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError, SizeLimitError

__all__ = ["WindowGeometry", "PADDING_MODES", "check_padding_mode", "check_bool"]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
"""What padding holds: zeros, or (PyTorch's ``padding_mode``) copies of input entries."""


@dataclass(frozen=True)
class WindowGeometry:
    """A 2-D sliding window over one ``(H, W)`` plane, with every argument explicit.

    Build it with :meth:`from_args`, which accepts the loose forms users write, or
    from a layer's :class:`~jacobian_cnn.ops.window.SlidingWindow` (``window.on((H, W))``).

    Attributes
    ----------
    in_size : (int, int)
        ``(H, W)`` of the unpadded input plane.
    window : (int, int)
        ``(kh, kw)``, the number of taps per axis.
    stride, dilation : (int, int)
    padding : ((int, int), (int, int))
        ``((top, bottom), (left, right))``.
    out_size : (int, int)
        ``(Ho, Wo)``; ``Ho = floor((H + top + bottom - dh*(kh-1) - 1) / sh) + 1``, or
        with ``ceil_mode`` the ceiling, minus one if the last window would start in
        the bottom padding (PyTorch's rule: ``(Ho - 1) * sh >= H + top`` drops it).
    ceil_mode : bool
        Whether ``out_size`` rounds up (pooling); the last window may then hang past
        the padding, and taps there read nothing.
    padding_mode : {"zeros", "reflect", "replicate", "circular"}
        What the padding holds (see the module docstring).

    Examples
    --------
    Seed 004 appendix A: a 3x4 input, a 2x2 kernel, padding (1, 1), stride (1, 2).

    >>> from jacobian_cnn.ops.geometry import WindowGeometry
    >>> g = WindowGeometry.from_args((3, 4), 2, stride=(1, 2), padding=1)
    >>> g.out_size
    (4, 3)
    >>> g.taps[0]          # z11 sees padding, padding, padding, a11 (vec index 0)
    array([-1, -1, -1,  0], dtype=int32)

    With ``padding_mode="replicate"`` the padding copies its nearest input entry, so
    all four taps of ``z11`` read ``a11``: one input, four taps.

    >>> WindowGeometry.from_args((3, 4), 2, stride=(1, 2), padding=1,
    ...                          padding_mode="replicate").taps[0]
    array([0, 0, 0, 0], dtype=int32)

    PyTorch's ``ceil_mode``: a 5-wide input, windows of 2 with stride 2 give 3
    outputs, the last one hanging past the input.

    >>> g = WindowGeometry.from_args((1, 5), (1, 2), ceil_mode=True, stride=2)
    >>> g.out_size, g.taps[-1].tolist()
    ((1, 3), [4, -1])
    """

    in_size: tuple
    window: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    out_size: tuple
    ceil_mode: bool = False
    padding_mode: str = "zeros"

    @classmethod
    def from_args(cls, in_size, window, *, stride=None, padding=0, dilation=1,
                  ceil_mode=False, padding_mode="zeros", window_name="window"):
        """Normalize loose arguments; raise ``ValueError`` on impossible geometry.

        ``stride=None`` means stride 1 (convolution); pooling passes its window.
        ``padding_mode="reflect"`` needs each padding smaller than the input along
        its axis and ``"circular"`` at most the input (PyTorch's limits). The same as
        ``SlidingWindow.from_args(window, ...).on(in_size)``; layers make their
        :class:`~jacobian_cnn.ops.window.SlidingWindow` once, in their constructor.
        """
        from jacobian_cnn.ops.window import SlidingWindow  # which imports this module

        in_size = pair(tuple(in_size), "input spatial size", minimum=1)
        return SlidingWindow.from_args(window, stride=stride, padding=padding, dilation=dilation,
                                       ceil_mode=ceil_mode, padding_mode=padding_mode,
                                       window_name=window_name).on(in_size)

    @property
    def n_out(self):
        """Number of output positions ``Ho * Wo``."""
        return self.out_size[0] * self.out_size[1]

    @property
    def n_taps(self):
        """Number of taps per window ``kh * kw``."""
        return self.window[0] * self.window[1]

    @property
    def n_in(self):
        """Number of input positions ``H * W``."""
        return self.in_size[0] * self.in_size[1]

    @cached_property
    def positions(self):
        """Input ``(rows, cols)`` of every tap, each ``(n_out, n_taps)`` (may be out of range)."""
        (ho, wo), (kh, kw) = self.out_size, self.window
        p = np.arange(ho)[:, None, None, None]
        q = np.arange(wo)[None, :, None, None]
        r = np.arange(kh)[None, None, :, None]
        s = np.arange(kw)[None, None, None, :]
        rows = p * self.stride[0] - self.padding[0][0] + r * self.dilation[0]
        cols = q * self.stride[1] - self.padding[1][0] + s * self.dilation[1]
        rows, cols = np.broadcast_arrays(rows, cols)
        # (p, q, r, s) -> (o, t) with o = p + q*Ho and t = r + s*kh: a column-major reshape.
        shape = (self.n_out, self.n_taps)
        return _frozen(rows.reshape(shape, order="F")), _frozen(cols.reshape(shape, order="F"))

    def _axis_counts(self, axis, inside_padding):
        """Per output position along ``axis``, how many of its taps read the input.

        ``inside_padding``: count taps inside the padded input instead. A closed form,
        ``O(Ho)`` or ``O(Wo)``: tap ``r`` of position ``p`` lies at
        ``p * stride - lo + r * dilation``, an arithmetic progression in ``r``.
        """
        n, (lo, hi) = self.in_size[axis], self.padding[axis]
        k, step, d = self.window[axis], self.stride[axis], self.dilation[axis]
        first, stop = (-lo, n + hi) if inside_padding else (0, n)
        base = np.arange(self.out_size[axis], dtype=np.int64) * step - lo
        r_min = np.maximum(-((base - first) // d), 0)  # ceil((first - base) / d), at least 0
        r_max = np.minimum((stop - 1 - base) // d, k - 1)
        return np.maximum(r_max - r_min + 1, 0)

    def _counts(self, inside_padding):
        rows, cols = self._axis_counts(0, inside_padding), self._axis_counts(1, inside_padding)
        return _frozen((rows[:, None] * cols[None, :]).ravel(order="F"))

    @property
    def _reads_padding(self):
        """Whether taps in the padding read an input entry (a copying mode with padding)."""
        return self.taps_may_repeat

    @cached_property
    def n_valid(self):
        """Number of ``(output, tap)`` pairs that read the input: one channel's Jacobian nonzeros.

        ``valid_counts.sum()`` without building any table (closed form, ``O(Ho + Wo)``).
        """
        inside = self._reads_padding
        return int(self._axis_counts(0, inside).sum()) * int(self._axis_counts(1, inside).sum())

    def jacobian_nnz(self, channels, blocks=1):
        """Nonzeros of a window layer's Jacobian, from :attr:`n_valid` (no table is built).

        Every ``(output, tap)`` pair that reads the input, over ``channels`` input planes
        per row, in each of ``blocks`` (output channel, sample) blocks: the exact count
        with zero padding, where the size guards and the fast builders both use it; an
        upper bound with a copying padding mode, whose repeated taps are summed.
        """
        return self.n_valid * channels * blocks

    @property
    def index_dtype(self):
        """Integer type of :attr:`taps`: int32 unless the input is too large for it."""
        h, w = self.in_size
        return index_dtype(2 * (h + 1) * (w + 1))  # the table's intermediate sums reach this

    def table_bytes(self, bytes_per_tap=0):
        """Estimated bytes of the tap tables (:attr:`taps` and :attr:`valid`), plus
        ``bytes_per_tap`` for each ``(output, tap)`` pair (what a caller gathers)."""
        return self.n_out * self.n_taps * (self.index_dtype.itemsize + 1 + int(bytes_per_tap))

    def check_tables(self, max_bytes=None, *, what, bytes_per_tap=0):
        """Refuse, before building anything, tables larger than ``max_bytes``.

        Parameters
        ----------
        max_bytes : int, optional
            The limit; default :data:`jacobian_cnn._arguments.DEFAULT_MAX_BYTES` (2 GiB).
        what : str
            What would be built, for the message (e.g. ``"AvgPool2D forward pass"``).
        bytes_per_tap : int
            What the caller builds for each ``(output, tap)`` pair besides the tables
            (a forward pass gathers ``C * N`` window values per pair).

        Raises
        ------
        SizeLimitError
            Naming the estimate, the limit and ``max_bytes``.
        """
        limit = byte_limit(max_bytes)
        estimate = self.table_bytes(bytes_per_tap)
        if estimate > limit:
            raise SizeLimitError(
                f"{what} would need about {estimate:,} bytes ({estimate / 2**20:.1f} MiB) of "
                f"window tables for {self.n_out:,} outputs x {self.n_taps:,} taps ({self!r}), "
                f"over max_bytes={limit:,}; pass a larger max_bytes or a smaller input"
            )
        return estimate

    def _axis_table(self, axis, inside_padding=False):
        """``(Ho, kh)`` (or ``(Wo, kw)``): input index along ``axis`` each tap reads, and
        whether it reads one (copying modes: the entry the padding copies), or with
        ``inside_padding`` whether it lies inside the padded input."""
        n, (lo, hi) = self.in_size[axis], self.padding[axis]
        p = np.arange(self.out_size[axis], dtype=np.int64)[:, None]
        r = np.arange(self.window[axis], dtype=np.int64)[None, :]
        index = p * self.stride[axis] - lo + r * self.dilation[axis]
        in_padded = (index >= -lo) & (index < n + hi)
        if inside_padding:
            return index, in_padded
        if self._reads_padding:
            return _copied(index, n, self.padding_mode), in_padded
        return index, (index >= 0) & (index < n)

    def _outer(self, rows, cols):
        """``(n_out, n_taps)`` table ``T[o, t] = op(rows[p, r], cols[q, s])`` for
        ``o = p + q*Ho``, ``t = r + s*kh``: built as ``(Wo, Ho, kw, kh)``, whose C order
        is that layout, so no copy is made."""
        return (cols[:, None, :, None], rows[None, :, None, :]), (self.n_out, self.n_taps)

    @cached_property
    def in_padded(self):
        """Boolean ``(n_out, n_taps)``: which taps fall inside the padded input.

        All of them unless ``ceil_mode`` lets the last window hang past the padding.
        """
        (rows, cols), shape = self._outer(self._axis_table(0, True)[1], self._axis_table(1, True)[1])
        return _frozen(np.logical_and(rows, cols).reshape(shape))

    @property
    def taps_may_repeat(self):
        """Whether one input entry can feed several taps of a window (a copying padding)."""
        return self.padding_mode != "zeros" and any(map(any, self.padding))

    @cached_property
    def taps(self):
        """``(n_out, n_taps)`` table (:attr:`index_dtype`): input vec index each tap reads, ``-1`` if none.

        With ``padding_mode="zeros"`` taps in padding read nothing; with a copying mode
        they read the input entry the padding copies (see the module docstring).
        """
        h, w = self.in_size
        dtype = self.index_dtype
        row_index, row_ok = self._axis_table(0)
        col_index, col_ok = self._axis_table(1)
        # A tap that reads nothing along either axis gets a negative sum, clipped to -1:
        # rows below -(H*W) make any column's sum negative, columns below -H any row's.
        row_index = np.where(row_ok, row_index, -(h * w) - 1).astype(dtype)
        col_index = np.where(col_ok, col_index * h, -(w + 1) * h).astype(dtype)
        (rows, cols), shape = self._outer(row_index, col_index)
        table = np.add(rows, cols, dtype=dtype)
        np.maximum(table, -1, out=table)
        return _frozen(table.reshape(shape))

    @cached_property
    def valid(self):
        """Boolean ``(n_out, n_taps)``: which taps fall inside the input."""
        mask = self.taps >= 0
        mask.flags.writeable = False
        return mask

    @cached_property
    def valid_counts(self):
        """Number of taps of each output position that read the input, ``(n_out,)``."""
        return self._counts(self._reads_padding)

    @cached_property
    def padded_counts(self):
        """Number of taps of each output position inside the padded input, ``(n_out,)``.

        PyTorch's average-pool divisor with ``count_include_pad=True``: ``kh * kw``
        except where ``ceil_mode`` lets a window hang past the padding.
        """
        if not self.ceil_mode:  # every tap lies in the padded input
            return _frozen(np.full(self.n_out, self.n_taps))
        return self._counts(True)

    def __repr__(self):
        extra = ", ceil_mode=True" if self.ceil_mode else ""
        extra += f", padding_mode={self.padding_mode!r}" if self.padding_mode != "zeros" else ""
        return (
            f"WindowGeometry(in={self.in_size}, window={self.window}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, out={self.out_size}{extra})"
        )


def _frozen(a):
    """``a`` made read-only: geometries are shared, so are their tables."""
    a.flags.writeable = False
    return a


def _copied(index, n, mode):
    """Input index that padded position ``index`` (``-pad <= index < n + pad``) copies."""
    if mode == "reflect":  # ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ...: the edge is not repeated
        index = np.abs(index)
        return np.where(index > n - 1, 2 * (n - 1) - index, index)
    if mode == "replicate":  # the edge entry repeated
        return np.clip(index, 0, n - 1)
    return np.mod(index, n)  # circular: the opposite edge wraps around


def check_padding_mode(padding_mode):
    """Validate ``padding_mode`` (one of :data:`PADDING_MODES`)."""
    if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
        raise InvalidValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    return padding_mode


def check_bool(value, name):
    """Return ``value`` as a bool; ``TypeError`` naming ``name`` unless it is one."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidTypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)
