"""Padding layers: constant (zero), reflection and replication padding of each map.

Each output entry copies one input entry or is the constant: per axis, output position
``o`` reads input position ``source(o)`` (PyTorch's ``F.pad`` rules), so the Jacobian is a
selection, a single 1 in each row that reads the input and an empty row where the
output is the constant (:mod:`jacobian_cnn.ops.separable`). Index conventions:
:mod:`jacobian_cnn.vec`.

==================  ============================================================
mode                ``source(o)`` for ``p = o - before`` on an axis of size ``n``
==================  ============================================================
constant / zero     ``p`` if ``0 <= p < n``, else none (the constant)
reflection          ``-p`` if ``p < 0``, ``2 (n - 1) - p`` if ``p >= n`` (needs ``pad < n``)
replication         ``min(max(p, 0), n - 1)``
==================  ============================================================
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._arguments import padding_pairs
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.ops.separable import SeparableMap, refuse_empty

__all__ = ["ConstantPad2D", "ZeroPad2D", "ReflectionPad2D", "ReplicationPad2D", "pad_source"]

PAD_MODES = ("constant", "reflection", "replication")


def pad_source(o, before, n, mode):
    """The input position output ``o`` copies on one axis, or ``None`` (the constant)."""
    p = o - before
    if mode == "replication":
        return min(max(p, 0), n - 1)
    if mode == "reflection":
        return -p if p < 0 else (2 * (n - 1) - p if p >= n else p)
    return p if 0 <= p < n else None


class _Pad2D(SeparableMap):
    mode = "constant"

    def __init__(self, padding):
        self.padding = padding_pairs(padding)

    def _pad_repr(self):
        (top, bottom), (left, right) = self.padding
        return str(top) if top == bottom == left == right else str(self.padding)

    def __repr__(self):
        return f"{type(self).__name__}({self._pad_repr()})"

    def _axis_matrix(self, axis, n_in):
        before, after = self.padding[axis]
        refuse_empty(n_in, repr(self))
        if self.mode == "reflection" and max(before, after) >= n_in:
            raise InvalidValueError(
                f"{self!r}: reflection padding must be smaller than the input on each axis "
                f"(as in PyTorch); got padding {(before, after)} on an axis of size {n_in}")
        a = np.zeros((n_in + before + after, n_in))
        for o in range(a.shape[0]):
            source = pad_source(o, before, n_in, self.mode)
            if source is not None:
                a[o, source] = 1.0
        return a


class ConstantPad2D(_Pad2D):
    """Pad every map with a constant ``value`` (PyTorch's ``nn.ConstantPad2d``).

    The Jacobian is a selection: rows of padded outputs are empty.

    Parameters
    ----------
    padding : int, (ph, pw) or ((top, bottom), (left, right))
    value : float

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> pad = jc.ConstantPad2D(((0, 0), (1, 0)), value=5.0)
    >>> pad.forward(np.array([[1., 2.]]))
    array([[5., 1., 2.]])
    >>> pad.jacobian(np.array([[1., 2.]])).toarray()
    array([[0., 0.],
           [1., 0.],
           [0., 1.]])
    """

    def __init__(self, padding, value=0.0):
        super().__init__(padding)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            raise InvalidTypeError(f"value must be a real number, got {value!r}")
        if not np.isfinite(value):
            raise InvalidValueError(f"value must be finite, got {value!r}")
        self.value = float(value)

    def __repr__(self):
        return f"ConstantPad2D({self._pad_repr()}, value={self.value})"

    def _offset(self, h, w):
        if self.value == 0:
            return None
        inside = self._axis_matrix(0, h).sum(axis=1)[:, None] * self._axis_matrix(1, w).sum(axis=1)
        return np.where(inside == 0, self.value, 0.0)


class ZeroPad2D(ConstantPad2D):
    """Pad every map with zeros (PyTorch's ``nn.ZeroPad2d``).

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> jc.ZeroPad2D(1).forward(np.ones((1, 1)))
    array([[0., 0., 0.],
           [0., 1., 0.],
           [0., 0., 0.]])
    """

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def __repr__(self):
        return f"ZeroPad2D({self._pad_repr()})"


class ReflectionPad2D(_Pad2D):
    """Mirror each map at its edges, the edge itself not repeated (``nn.ReflectionPad2d``).

    Each output copies one input entry; an input entry may be copied to several outputs
    (its column of the Jacobian then holds several 1s). Padding must be smaller than the
    input on each axis.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> jc.ReflectionPad2D(((0, 0), (2, 1))).forward(np.array([[1., 2., 3.]]))
    array([[3., 2., 1., 2., 3., 2.]])
    """

    mode = "reflection"


class ReplicationPad2D(_Pad2D):
    """Repeat each map's edge entries outwards (``nn.ReplicationPad2d``).

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> pad = jc.ReplicationPad2D(((0, 0), (2, 1)))
    >>> pad.forward(np.array([[1., 2., 3.]]))
    array([[1., 1., 1., 2., 3., 3.]])
    >>> pad.jacobian(np.zeros((1, 3))).sum(axis=0)    # copies of each input entry
    array([3., 1., 2.])
    """

    mode = "replication"
