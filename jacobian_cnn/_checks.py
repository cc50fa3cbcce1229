"""Argument normalization and validation shared by every layer.

Each public entry point turns loose arguments into explicit tuples here, once, and
raises an :class:`~jacobian_cnn.errors.InvalidTypeError` /
:class:`~jacobian_cnn.errors.InvalidValueError` that names the offending argument.
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import InvalidTypeError, InvalidValueError, JacobianTooLargeError

DEFAULT_MAX_BYTES = 2 * 1024**3
"""Largest Jacobian (estimated bytes) built unless ``max_bytes`` says otherwise."""


def pair(value, name, *, minimum):
    """Normalize an int or a pair of ints to a tuple ``(a, b)`` with both ``>= minimum``."""
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool):
        out = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool) for v in value
    ):
        out = (int(value[0]), int(value[1]))
    else:
        raise InvalidTypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(out) < minimum:
        word = "positive" if minimum == 1 else f">= {minimum}"
        raise InvalidValueError(f"{name} must be {word}, got {value!r}")
    return out


def padding_pairs(value, name="padding"):
    """Normalize padding to ``((top, bottom), (left, right))``.

    Accepts an int (all sides), a pair ``(ph, pw)`` (symmetric per axis) or a pair of
    pairs ``((top, bottom), (left, right))``.
    """
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, (tuple, list)) for v in value
    ):
        rows = pair(tuple(value[0]), f"{name}[0]", minimum=0)
        cols = pair(tuple(value[1]), f"{name}[1]", minimum=0)
        return (rows, cols)
    try:
        ph, pw = pair(value, name, minimum=0)
    except TypeError:
        raise InvalidTypeError(
            f"{name} must be an int, a pair (ph, pw) or ((top, bottom), (left, right)), "
            f"got {value!r}"
        ) from None
    return ((ph, ph), (pw, pw))


_FLOAT_TYPES = (np.float32, np.float64)

def float_array(x, name, *, dtype=None):
    """Return ``x`` as a float array (float32 stays float32, ints become float64).

    Rejects non-numeric input with ``TypeError`` and NaN/inf with ``ValueError``.
    """
    if dtype is None and type(x) is np.ndarray and x.dtype.type in _FLOAT_TYPES:
        # The common case (every layer output inside a Chain): already a float array,
        # returned as is (``np.asarray`` would too); only finiteness needs checking.
        if np.isfinite(x).all():
            return x
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise InvalidTypeError(f"{name} must be a numeric array: {exc}") from None
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
    ):
        raise InvalidTypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise InvalidTypeError(f"{name} must be real, got dtype {arr.dtype}")
    if dtype is None:
        dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    arr = np.asarray(arr, dtype=dtype)
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InvalidValueError(
            f"{name} contains NaN or inf (first at index {tuple(int(i) for i in bad)}); "
            "derivatives there are undefined"
        )
    return arr


def byte_limit(max_bytes, name="max_bytes"):
    """``max_bytes`` validated (a positive int or finite float), or the default if None."""
    if max_bytes is None:
        return DEFAULT_MAX_BYTES
    if isinstance(max_bytes, (bool, np.bool_)) or not isinstance(max_bytes, (numbers.Real, np.number)):
        raise InvalidTypeError(f"{name} must be None or a positive number of bytes, got {max_bytes!r}")
    if not (np.isfinite(max_bytes) and max_bytes > 0):
        raise InvalidValueError(f"{name} must be None or a positive number of bytes, got {max_bytes!r}")
    return max_bytes


def check_size(n_rows, nnz, itemsize, max_bytes, what):
    """Refuse a CSR Jacobian whose estimated size exceeds ``max_bytes``.

    The estimate is ``nnz * (itemsize + index bytes) + (n_rows + 1) * index bytes``.
    """
    limit = byte_limit(max_bytes)
    index_bytes = 4 if max(nnz, n_rows) < 2**31 else 8
    estimate = int(nnz) * (itemsize + index_bytes) + (int(n_rows) + 1) * index_bytes
    if estimate > limit:
        raise JacobianTooLargeError(
            f"{what} would need about {estimate:,} bytes ({estimate / 2**20:.1f} MiB, "
            f"{int(nnz):,} nonzeros), over max_bytes={limit:,}; pass a larger max_bytes "
            "or a smaller input"
        )
    return index_bytes


def wrt_name(wrt, allowed, layer):
    """Validate the ``wrt`` argument of ``layer.jacobian``."""
    if wrt not in allowed:
        raise InvalidValueError(f"{layer}: wrt must be one of {sorted(allowed)}, got {wrt!r}")
    return wrt
