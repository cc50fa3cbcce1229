"""Argument normalization and validation shared by every layer.

Each public entry point turns loose arguments into explicit tuples here, once, and
raises an :class:`~jacobian_cnn.errors.InvalidTypeError` /
:class:`~jacobian_cnn.errors.InvalidValueError` that names the offending argument.
"""

from __future__ import annotations

import numbers

import numpy as np

from jacobian_cnn.errors import InvalidTypeError, InvalidValueError, JacobianTooLargeError

DEFAULT_MAX_BYTES = 2 * 1024**3
"""Largest Jacobian (estimated bytes) built unless ``max_bytes`` says otherwise."""


def is_int(value):
    """Whether ``value`` is an integer (Python or NumPy), not a bool."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def _allowed(minimum):
    return {0: "non-negative", 1: "positive"}.get(minimum, f">= {minimum}")


def pair(value, name, *, minimum):
    """Normalize an int, ``(a,)`` or ``(a, b)`` to a tuple ``(a, b)`` with both ``>= minimum``.

    A one-element tuple or list broadcasts to both axes, as in PyTorch.
    """
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(items) == 1:
        items = items * 2
    word = _allowed(minimum)
    if len(items) != 2 or not all(is_int(v) for v in items):
        raise InvalidTypeError(f"{name} must be a {word} int or a pair of {word} ints, got {value!r}")
    out = (int(items[0]), int(items[1]))
    if min(out) < minimum:
        raise InvalidValueError(f"{name} must be a {word} int or a pair of {word} ints, got {value!r}")
    return out


def padding_pairs(value, name="padding"):
    """Normalize padding to ``((top, bottom), (left, right))``.

    Accepts an int (all sides), a pair ``(ph, pw)`` (symmetric per axis; ``(p,)``
    broadcasts, as in PyTorch) or a pair of pairs ``((top, bottom), (left, right))``.
    """
    allowed = ("a non-negative int, a pair (ph, pw) or ((top, bottom), (left, right)) of "
               "non-negative ints")
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, (tuple, list)) for v in value
    ):
        try:
            return (pair(value[0], f"{name}[0]", minimum=0), pair(value[1], f"{name}[1]", minimum=0))
        except InvalidValueError:
            raise InvalidValueError(f"{name} must be {allowed}, got {value!r}") from None
        except InvalidTypeError:
            raise InvalidTypeError(f"{name} must be {allowed}, got {value!r}") from None
    try:
        ph, pw = pair(value, name, minimum=0)
    except InvalidValueError:
        raise InvalidValueError(f"{name} must be {allowed}, got {value!r}") from None
    except InvalidTypeError:
        raise InvalidTypeError(f"{name} must be {allowed}, got {value!r}") from None
    return ((ph, ph), (pw, pw))


def int_value(value, name, *, minimum=None):
    """``value`` as a Python int (bools and floats refused), ``>= minimum`` if given."""
    if not is_int(value):
        word = "an int" if minimum is None else f"a {_allowed(minimum)} int"
        raise InvalidTypeError(f"{name} must be {word}, got {value!r}")
    if minimum is not None and value < minimum:
        raise InvalidValueError(f"{name} must be a {_allowed(minimum)} int, got {value!r}")
    return int(value)


def shape_tuple(shape, name, *, minimum=0):
    """A shape as a tuple of ints ``>= minimum``; a single int is a 1-D shape."""
    items = (shape,) if is_int(shape) else shape
    if isinstance(items, np.ndarray) and items.ndim == 1:
        items = tuple(items.tolist())
    word = _allowed(minimum)
    if not isinstance(items, (tuple, list)) or not all(is_int(s) for s in items):
        raise InvalidTypeError(f"{name} must be a tuple of {word} ints, got {shape!r}")
    out = tuple(int(s) for s in items)
    if any(s < minimum for s in out):
        raise InvalidValueError(f"{name} must be a tuple of {word} ints, got {shape!r}")
    return out


def as_array(value, name, allowed):
    """``np.asarray(value)``, or an :class:`InvalidTypeError` naming ``name`` when numpy cannot
    make an array of it (ragged nested lists and the like); ``allowed`` says what is."""
    try:
        return np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise InvalidTypeError(
            f"{name} must be {allowed}, got {type(value).__name__}: {exc}") from None


_FLOAT_TYPES = (np.float32, np.float64)


def cast(a, dtype, name):
    """``a`` in ``dtype`` (no copy if it already is); refuse finite values that overflow it.

    NumPy turns ``1e300`` cast to float32 into ``inf`` with only a warning: a layer
    would then compute with an infinity nobody passed in.
    """
    if a.dtype == dtype:
        return a
    with np.errstate(over="raise"):
        try:
            return a.astype(dtype)
        except FloatingPointError:
            pass
    big = np.abs(a.astype(np.float64)) if a.dtype.kind in "iub" else np.abs(a)
    limit = np.finfo(dtype).max
    worst = np.argwhere(big > limit)[0]
    raise InvalidValueError(
        f"{name} holds {a[tuple(worst)]} at index {tuple(int(i) for i in worst)}, which "
        f"overflows {np.dtype(dtype).name} (largest {limit:.3g}); allowed are values of "
        f"magnitude at most {limit:.3g}: rescale {name} or compute in float64"
    )


def float_array(x, name, *, dtype=None):
    """Return ``x`` as a float array (float32 stays float32, ints become float64).

    Rejects non-numeric input with ``InvalidTypeError``, and NaN/inf (or finite
    values that overflow ``dtype``) with ``InvalidValueError``.
    """
    if dtype is None and type(x) is np.ndarray and x.dtype.type in _FLOAT_TYPES:
        # The common case (every layer output inside a Chain): already a float array,
        # returned as is (``np.asarray`` would too); only finiteness needs checking.
        if np.isfinite(x).all():
            return x
    arr = as_array(x, name, "a numeric array")
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
    ):
        raise InvalidTypeError(
            f"{name} must be a numeric array (real numbers), got dtype {arr.dtype}: {short_repr(x)}"
        )
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise InvalidTypeError(f"{name} must be real, got dtype {arr.dtype}")
    if dtype is None:
        dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        _refuse_nonfinite(arr, name)
    # Finite floats and any integers stay finite through a cast that refuses overflow.
    return cast(arr, np.dtype(dtype), name)


def _refuse_nonfinite(arr, name):
    bad = np.argwhere(~np.isfinite(arr))[0]
    raise InvalidValueError(
        f"{name} contains NaN or inf (first at index {tuple(int(i) for i in bad)}); "
        "derivatives there are undefined"
    )


def short_repr(x, limit=60):
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def frozen_copy(x, name):
    """A read-only float copy of ``x`` (see :func:`float_array`): the caller keeps its array."""
    arr = np.array(float_array(x, name), copy=True)
    arr.flags.writeable = False
    return arr


def bias_copy(value, length, label):
    """``None``, or a read-only float copy of a bias of shape ``(length,)`` (``label`` names the axis)."""
    if value is None:
        return None
    value = frozen_copy(value, "bias")
    if value.shape != (length,):
        raise InvalidValueError(
            f"bias must be None or have shape ({label},) = ({length},); got {value.shape}")
    return value


def byte_limit(max_bytes):
    """The ``max_bytes`` argument as an int: ``None`` is :data:`DEFAULT_MAX_BYTES`.

    A positive int, or a float holding one (``1e8``); anything else is refused.
    """
    if max_bytes is None:
        return DEFAULT_MAX_BYTES
    if isinstance(max_bytes, (float, np.floating)):
        if not (np.isfinite(max_bytes) and float(max_bytes).is_integer()):
            raise InvalidValueError(
                f"max_bytes must be None or a positive int (bytes), got {max_bytes!r}")
        max_bytes = int(max_bytes)
    if not is_int(max_bytes):
        raise InvalidTypeError(
            f"max_bytes must be None or a positive int (bytes), got {max_bytes!r}")
    if max_bytes < 1:
        raise InvalidValueError(
            f"max_bytes must be None or a positive int (bytes), got {max_bytes!r}")
    return int(max_bytes)


def index_dtype(*counts):
    """``int32`` when every count (rows, columns, nonzeros, ...) fits, else ``int64``.

    The one rule for index widths: CSR indices and row pointers, window tables and
    switches are 32-bit whenever every index they can hold is below ``2**31``.

    Examples
    --------
    >>> from jacobian_cnn._arguments import index_dtype
    >>> index_dtype(10, 2**31 - 1), index_dtype(10, 2**31)
    (dtype('int32'), dtype('int64'))
    """
    return np.dtype(np.int32 if max(counts) < 2**31 else np.int64)


def check_size(n_rows, nnz, itemsize, max_bytes, what):
    """Refuse a CSR Jacobian whose estimated size exceeds ``max_bytes``.

    The estimate is ``nnz * (itemsize + index bytes) + (n_rows + 1) * index bytes``.
    """
    limit = byte_limit(max_bytes)
    index_bytes = index_dtype(nnz, n_rows).itemsize
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
    if not isinstance(wrt, str):
        raise InvalidTypeError(f"{layer}: wrt must be one of {sorted(allowed)} (a str), got {wrt!r}")
    if wrt not in allowed:
        raise InvalidValueError(f"{layer}: wrt must be one of {sorted(allowed)}, got {wrt!r}")
    return wrt
