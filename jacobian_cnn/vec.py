"""Conventions shared by the whole package, stated once.

Every other docstring in :mod:`jacobian_cnn` refers here instead of restating them.

vec
    ``vec(A)`` stacks the columns of ``A``: ``A.ravel(order="F")``. The first
    index runs fastest. For a 2-D matrix this is the textbook ``vec``; for a
    feature map ``(H, W, C)`` it stacks ``vec`` of each channel, and for a batch
    ``(H, W, C, N)`` it stacks the samples. Trailing singleton axes do not change
    ``vec``, so a single-channel map may be written ``(H, W)`` or ``(H, W, 1)``.
    :func:`unvec` is the inverse: ``unvec(vec(A), A.shape) == A``.

Numerator layout
    The Jacobian of ``y = f(x)`` is ``J = d vec(y) / d vec(x)`` with
    ``J.shape == (y.size, x.size)`` and ``J[i, j] = d vec(y)[i] / d vec(x)[j]``.
    Jacobians are returned as scipy sparse *arrays* (``csr_array``). Every layer
    computes in the precision of its input: float32 input gives float32 outputs
    and Jacobians (parameters are cast), anything else float64 (integer input is
    promoted).

Row-vector gradients
    A gradient travels as a row: ``g_x = g_y @ J`` (the chain rule read left to
    right). A batch of ``k`` cotangents is a ``(k, y.size)`` array; each row is
    pushed independently. The gradient of a scalar ``L`` with respect to a
    parameter ``P`` *in P's own shape* is the transposed Jacobian row reshaped
    column-major: ``unvec(dL_dvecP, P.shape)`` (:func:`as_parameter_shape`).

Batches
    A batch has the sample axis last (``(H, W, C, N)`` for maps, ``(n, N)`` for
    vectors), MatConvNet's layout. Samples do not interact, so a Jacobian with
    respect to the input is block diagonal with one block per sample, and a
    Jacobian with respect to a shared parameter stacks one block per sample
    vertically.

Indices
    Two rules, one per audience. Numeric results, messages and reports (the
    checkers, ``compare``, every error) use 0-based NumPy indices of the array in
    its own shape: ``d y[2, 1, 0] / d x[3, 1, 0]``. Named entries written for
    people (:mod:`jacobian_cnn.symbolic`, the LaTeX, the hand-checker's labels and
    the command line's ``--winners`` and ``--which``) are 1-based like the seed
    derivations: ``a_{11}`` is ``x[0, 0]``, and two digits run together below 10.

Size limits
    Everything that builds a matrix (every Jacobian builder, the products and
    identity rows of :class:`~jacobian_cnn.Chain`, the comparisons, the permutation
    matrices) takes ``max_bytes``: a positive int of bytes (a float holding one,
    such as ``1e8``, is accepted), by default :data:`jacobian_cnn.DEFAULT_MAX_BYTES`
    (2 GiB). The estimated size is checked before anything large is allocated,
    and a refusal is a :class:`~jacobian_cnn.errors.JacobianTooLargeError` naming
    the estimate, the limit and the step.

This module imports nothing from the package but its errors
(:mod:`jacobian_cnn.errors`): the conventions sit below everything else.
"""

from __future__ import annotations

import numbers

import numpy as np

from jacobian_cnn.errors import InvalidTypeError, InvalidValueError

__all__ = ["vec", "unvec", "as_parameter_shape", "vec_index"]


def vec(a):
    """Stack the columns of ``a`` into a 1-D array (column-major ravel).

    Parameters
    ----------
    a : array_like
        Any array.

    Returns
    -------
    numpy.ndarray
        ``np.asarray(a).ravel(order="F")``.

    Examples
    --------
    >>> import numpy as np
    >>> from jacobian_cnn import vec
    >>> vec(np.array([[1, 2, 3], [4, 5, 6]]))
    array([1, 4, 2, 5, 3, 6])
    """
    return np.asarray(a).ravel(order="F")


def unvec(v, shape):
    """Inverse of :func:`vec`: fill an array of ``shape`` column by column.

    Parameters
    ----------
    v : array_like
        A vector with ``prod(shape)`` entries (any shape with that many entries).
    shape : tuple of int
        Target shape.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    ValueError
        If ``v`` does not have exactly ``prod(shape)`` entries.

    Examples
    --------
    >>> from jacobian_cnn import unvec
    >>> unvec([1, 4, 2, 5, 3, 6], (2, 3))
    array([[1, 2, 3],
           [4, 5, 6]])
    """
    v = _array(v, "unvec: v")
    shape = _shape(shape, "unvec: shape")
    size = int(np.prod(shape, dtype=object))
    if v.size != size:
        raise InvalidValueError(
            f"unvec: v has {v.size} entries but shape {shape} needs {size}"
        )
    return v.reshape(-1, order="F").reshape(shape, order="F")


def vec_index(index, shape):
    """Position in ``vec`` of the array entry ``index`` (0-based).

    Examples
    --------
    >>> from jacobian_cnn import vec_index
    >>> vec_index((1, 2), (3, 4))    # a[1, 2] is the 8th entry of vec(a)
    7
    """
    shape = _shape(shape, "vec_index: shape")
    items = (index,) if isinstance(index, (numbers.Integral, np.integer)) else index
    if isinstance(items, np.ndarray) and items.ndim == 1:
        items = tuple(items.tolist())
    if not isinstance(items, (tuple, list)) or len(items) != len(shape):
        raise InvalidTypeError(
            f"vec_index: index must be a tuple of {len(shape)} ints for shape {shape}, got {index!r}")
    position, stride = 0, 1
    for axis, (i, n) in enumerate(zip(items, shape, strict=True)):
        if not _is_int(i):
            raise InvalidTypeError(f"vec_index: index[{axis}] must be an int, got {i!r}")
        if not 0 <= i < n:
            raise InvalidValueError(
                f"vec_index: index[{axis}] must lie in [0, {n}) for shape {shape}, got {index!r}")
        position += i * stride
        stride *= n
    return position


def as_parameter_shape(rows, shape):
    """Turn Jacobian/gradient rows over ``vec(P)`` into gradients in ``P``'s shape.

    This is seed 004 section 3.2 ("Jacobian or gradient?"): the gradient is the
    transposed Jacobian row, reshaped column-major.

    Parameters
    ----------
    rows : array_like
        Shape ``(P.size,)`` or ``(k, P.size)``.
    shape : tuple of int
        Shape of the parameter ``P``.

    Returns
    -------
    numpy.ndarray
        ``shape`` for a single row, ``(k,) + shape`` for ``k`` rows.

    Examples
    --------
    >>> from jacobian_cnn import as_parameter_shape
    >>> as_parameter_shape([[1., 2., 3., 4.]], (2, 2))
    array([[[1., 3.],
            [2., 4.]]])
    """
    rows = _array(rows, "rows")
    shape = _shape(shape, "shape")
    size = int(np.prod(shape, dtype=object))
    if rows.ndim not in (1, 2) or rows.shape[-1] != size:
        raise InvalidValueError(
            f"rows must be (P.size,) or (k, P.size) with P.size = {size} for shape {shape}; "
            f"got shape {rows.shape}")
    if rows.ndim == 1:
        return unvec(rows, shape)
    if not rows.shape[0]:
        return np.empty((0,) + shape, rows.dtype)
    return np.stack([unvec(r, shape) for r in rows])


# The argument checks of this module, written here so that it imports nothing but the errors.

def _is_int(value):
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def _shape(shape, name):
    """``shape`` as a tuple of non-negative ints; a single int is a 1-D shape."""
    items = (shape,) if _is_int(shape) else shape
    items = tuple(items.tolist()) if isinstance(items, np.ndarray) and items.ndim == 1 else items
    ints = isinstance(items, (tuple, list)) and all(_is_int(s) for s in items)
    if not ints or min(items, default=0) < 0:
        error = InvalidValueError if ints else InvalidTypeError
        raise error(f"{name} must be a tuple of non-negative ints, got {shape!r}")
    return tuple(int(s) for s in items)


def _array(value, name):
    """``np.asarray(value)``; what numpy cannot make an array of (ragged lists) is refused."""
    try:
        return np.asarray(value)
    except Exception as exc:  # ragged lists, objects whose __array__ fails
        raise InvalidTypeError(f"{name} must be an array, got {type(value).__name__}: {exc}") from None
