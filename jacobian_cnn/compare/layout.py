"""The layout bridge: this package's column-major arrays and PyTorch's / JAX's row-major ones.

Here (:mod:`jacobian_cnn.vec`) a feature map is ``(H, W, C, N)``, a kernel
``(kh, kw, C_in / groups, C_out)``, a dense weight ``(n_in, n_out)``, a batch of
vectors ``(n, N)``, and everything is flattened column-major (``vec``). PyTorch and
JAX flatten row-major and order the axes differently. Each of their layouts is an
axis permutation of ours, named by the letters of its axes:

``NCHW``
    ``(N, C, H, W)``: PyTorch feature maps (and JAX with those dimension numbers).
``NHWC``
    ``(N, H, W, C)``: JAX / flax feature maps (``lax.conv`` with ``"NHWC"``).
``OIHW``
    ``(C_out, C_in / groups, kh, kw)``: PyTorch ``conv2d`` weights.
``HWIO``
    ``(kh, kw, C_in / groups, C_out)``: JAX / flax kernels, the same axes as ours.
``NC``
    ``(N, n)``: batches of vectors in both; also PyTorch ``linear`` weights
    ``(n_out, n_in)`` from our ``(n_in, n_out)``.
``IO``
    ``(n_in, n_out)``: JAX / flax dense kernels, the same axes as ours.
``C``
    ``(C,)``: bias vectors, the same everywhere.
``CHW``
    ``(C, H, W)`` from our ``(H, W, C)``: layer-norm parameters of maps in PyTorch (a
    batch-norm ``(C,)`` becomes ``(1, C, 1)``, the same entries in the same order).
``HWC``
    ``(H, W, C)``, the same axes as ours: normalization parameters in JAX (a ``(C,)`` or
    ``(n,)`` one becomes ``(C, 1, 1)``, reshaped back by the translation).

:func:`to_layout` and :func:`from_layout` convert arrays. :func:`permutation_matrix`
is the sparse permutation ``P`` relating the two flattenings,
``P @ to_layout(a, layout).ravel() == vec(a)``; a Jacobian computed in another
library's layout, ``J_theirs`` of shape ``(y.size, x.size)`` over their flattenings,
is in ours ``P_y @ J_theirs @ P_x.T`` (:func:`jacobian_to_vec`). Max-pool switches
convert to and from PyTorch's ``return_indices`` with
:func:`switches_to_torch_indices` / :func:`switches_from_torch_indices`.

Nothing here imports PyTorch or JAX: arrays are NumPy arrays (wrap them with
``torch.from_numpy`` / ``jnp.asarray``).
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._arguments import as_array, int_value, shape_tuple
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.permutations import permutation_csr

__all__ = ["LAYOUTS", "to_layout", "from_layout", "permutation_matrix", "jacobian_to_vec",
           "switches_to_torch_indices", "switches_from_torch_indices"]

LAYOUTS = {
    "NCHW": (3, 2, 0, 1),
    "NHWC": (3, 0, 1, 2),
    "OIHW": (3, 2, 0, 1),
    "HWIO": (0, 1, 2, 3),
    "NC": (1, 0),
    "IO": (0, 1),
    "C": (0,),
    "CHW": (2, 0, 1),
    "HWC": (0, 1, 2),
    # 1-D and 3-D maps, their kernels, and transposed-convolution kernels (k..., C_in, C_out / g)
    "NCL": (2, 1, 0),
    "NLC": (2, 0, 1),
    "NCDHW": (4, 3, 0, 1, 2),
    "NDHWC": (4, 0, 1, 2, 3),
    "OIL": (2, 1, 0),
    "OIDHW": (4, 3, 0, 1, 2),
    "LIO": (0, 1, 2),
    "DHWIO": (0, 1, 2, 3, 4),
    "IOL": (1, 2, 0),
    "IOHW": (2, 3, 0, 1),
    "IODHW": (3, 4, 0, 1, 2),
}
"""Layout name -> ``perm`` with ``theirs = ours.transpose(perm)`` (ours padded to ``len(perm)`` axes)."""


def _perm(layout):
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise InvalidValueError(f"layout must be one of {sorted(LAYOUTS)}, got {layout!r}")
    return LAYOUTS[layout]


def _padded(shape, n_axes, what="a"):
    """``shape`` with trailing singleton axes up to ``n_axes`` (they do not change vec)."""
    shape = shape_tuple(shape, what if what.endswith("shape") else f"the shape of {what}")
    if len(shape) > n_axes:
        raise InvalidValueError(f"{what} has {len(shape)} axes, the layout has only {n_axes}: shape {shape}")
    return shape + (1,) * (n_axes - len(shape))


def to_layout(a, layout):
    """Convert an array from this package's layout to ``layout`` (a row-major copy).

    Parameters
    ----------
    a : array_like
        In this package's layout; missing trailing axes count as 1 (an ``(H, W)``
        map is one channel of one sample, an ``(n,)`` vector one sample).
    layout : str
        A key of :data:`LAYOUTS`.

    Returns
    -------
    numpy.ndarray
        C-contiguous, in ``layout``.

    Examples
    --------
    >>> import numpy as np
    >>> from jacobian_cnn.compare.layout import to_layout
    >>> x = np.arange(24.).reshape(2, 3, 4)          # (H, W, C): one sample
    >>> to_layout(x, "NCHW").shape
    (1, 4, 2, 3)
    >>> bool(np.array_equal(to_layout(x, "NCHW")[0, 1], x[:, :, 1]))
    True
    """
    perm = _perm(layout)
    a = np.asarray(a)
    return np.array(a.reshape(_padded(a.shape, len(perm))).transpose(perm), order="C")


def from_layout(t, layout, ndim=None):
    """Convert an array in ``layout`` back to this package's layout.

    Parameters
    ----------
    t : array_like
        In ``layout`` (a NumPy array, or anything ``np.asarray`` accepts: call
        ``.detach().numpy()`` on a torch tensor first).
    layout : str
        A key of :data:`LAYOUTS`.
    ndim : int, optional
        Drop trailing singleton axes down to this many (e.g. ``3`` for one sample
        ``(H, W, C)``). By default all axes are kept.

    Examples
    --------
    >>> import numpy as np
    >>> from jacobian_cnn.compare.layout import from_layout, to_layout
    >>> x = np.arange(6.).reshape(1, 2, 3)
    >>> bool(np.array_equal(from_layout(to_layout(x, "NHWC"), "NHWC", ndim=3), x))
    True
    """
    perm = _perm(layout)
    a = np.asarray(t).transpose(np.argsort(perm))
    if ndim is not None:
        ndim = int_value(ndim, "ndim", minimum=0)
        if ndim > a.ndim:
            raise InvalidValueError(f"ndim must be None or an int in [0, {a.ndim}] for a layout of "
                                    f"{a.ndim} axes, got {ndim}")
        if any(s != 1 for s in a.shape[ndim:]):
            raise InvalidValueError(f"cannot drop non-singleton axes of shape {a.shape} to ndim={ndim}")
        a = a.reshape(a.shape[:ndim])
    return a


def _vec_positions(shape, layout):
    """``positions[k]``: where ``vec(a)[k]`` sits in ``to_layout(a, layout).ravel()``."""
    perm = _perm(layout)
    shape = _padded(shape, len(perm), "shape")
    theirs = np.arange(int(np.prod(shape))).reshape(tuple(shape[p] for p in perm))
    return theirs.transpose(np.argsort(perm)).ravel(order="F")


def permutation_matrix(shape, layout, *, max_bytes=None):
    """The sparse permutation ``P`` with ``P @ to_layout(a, layout).ravel() == vec(a)``.

    Parameters
    ----------
    shape : tuple of int
        The shape of ``a`` in this package's layout.
    layout : str
        A key of :data:`LAYOUTS`.
    max_bytes : int, optional
        The size limit, checked before allocating (:mod:`jacobian_cnn.vec`, "Size limits").

    Returns
    -------
    scipy.sparse.csr_array
        ``(a.size, a.size)``, one 1 per row; ``P.T`` goes the other way.

    Examples
    --------
    A 2x2 single-channel map: ``vec`` is column-major, PyTorch's flattening row-major.

    >>> import numpy as np
    >>> from jacobian_cnn import vec
    >>> from jacobian_cnn.compare.layout import permutation_matrix, to_layout
    >>> a = np.array([[1., 2.], [3., 4.]])
    >>> P = permutation_matrix(a.shape, "NCHW")
    >>> P.toarray()
    array([[1., 0., 0., 0.],
           [0., 0., 1., 0.],
           [0., 1., 0., 0.],
           [0., 0., 0., 1.]])
    >>> bool(np.array_equal(P @ to_layout(a, "NCHW").ravel(), vec(a)))
    True
    """
    size = int(np.prod(_padded(shape, len(_perm(layout)), "shape"), dtype=object))
    return permutation_csr(size, lambda: _vec_positions(shape, layout),
                           f"permutation_matrix({tuple(shape)}, {layout!r})", max_bytes)


def jacobian_to_vec(J, y_shape, y_layout, x_shape, x_layout):
    """Reorder a Jacobian computed over another library's flattenings into vec order.

    Computes ``P_y @ J @ P_x.T`` (:func:`permutation_matrix`), as an index
    permutation.

    Parameters
    ----------
    J : array_like
        ``(y.size, x.size)``, or any shape with that many entries (e.g. the
        ``y.shape + x.shape`` that ``torch.func.jacrev`` and ``jax.jacrev`` return),
        rows over their flattening of ``y``, columns over their flattening of ``x``.
    y_shape, x_shape : tuple of int
        Shapes of ``y`` and ``x`` in this package's layout.
    y_layout, x_layout : str
        Their layouts (keys of :data:`LAYOUTS`). A scalar ``y`` has ``y_shape=()``
        and any layout.

    Returns
    -------
    numpy.ndarray
        ``d vec(y) / d vec(x)`` in numerator layout (see :mod:`jacobian_cnn.vec`).

    Examples
    --------
    ``y = x.T`` computed on a 2x3 ``x`` by a row-major library whose Jacobian is
    ``(3, 2, 2, 3)``: in vec order it is the commutation matrix ``K(2, 3)``.

    >>> import numpy as np
    >>> from jacobian_cnn import commutation_matrix
    >>> from jacobian_cnn.compare.layout import jacobian_to_vec
    >>> J_rowmajor = np.eye(6).reshape(2, 3, 2, 3).transpose(1, 0, 2, 3)
    >>> J = jacobian_to_vec(J_rowmajor, (3, 2), "IO", (2, 3), "IO")
    >>> bool(np.array_equal(J, commutation_matrix(2, 3).toarray()))
    True
    """
    y_shape, x_shape = shape_tuple(y_shape, "y_shape"), shape_tuple(x_shape, "x_shape")
    rows = _vec_positions(y_shape, y_layout) if len(y_shape) else np.zeros(1, dtype=np.int64)
    cols = _vec_positions(x_shape, x_layout) if len(x_shape) else np.zeros(1, dtype=np.int64)
    J = np.asarray(J)
    if J.size != rows.size * cols.size:
        raise InvalidValueError(f"J has {J.size} entries but y_shape {tuple(y_shape)} and x_shape "
                         f"{tuple(x_shape)} need {rows.size} x {cols.size}")
    return J.reshape(rows.size, cols.size)[np.ix_(rows, cols)]


def _int_array(a, name):
    """``a`` as an int64 array; anything but integers is refused (a float index is a bug)."""
    arr = as_array(a, name, "an array of ints")
    if arr.dtype.kind not in "iu":
        raise InvalidTypeError(f"{name} must be an array of ints, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def switches_to_torch_indices(switches, x_shape):
    """Max-pool switches (vec indices into ``x``) as PyTorch's ``return_indices``.

    PyTorch's ``max_pool2d(..., return_indices=True)`` gives, for every output in
    ``(N, C, Ho, Wo)`` layout, the row-major index ``h * W + w`` of the winner inside
    its own ``(n, c)`` input plane.

    Parameters
    ----------
    switches : array_like of int
        ``(Ho, Wo[, C[, N]])`` as from :meth:`jacobian_cnn.MaxPool2D.switches`.
    x_shape : tuple of int
        Shape of the pooled input ``x`` (this package's layout).

    Returns
    -------
    numpy.ndarray
        int64, ``(N, C, Ho, Wo)``.

    Raises
    ------
    ValueError
        If a switch is ``-1`` (padding won, possible only with ``pad_value``):
        PyTorch's padding never wins, so its indices cannot say so.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> from jacobian_cnn.compare.layout import switches_to_torch_indices
    >>> x = np.array([[1., 5.], [2., 3.]])
    >>> s = jc.MaxPool2D(2).switches(x)              # 5 is x[0, 1]: vec index 2
    >>> s, switches_to_torch_indices(s, x.shape)     # row-major: 0 * 2 + 1
    (array([[2]]), array([[[[1]]]]))
    """
    h, w, c, n = _padded(x_shape, 4, "x_shape")
    s = _int_array(switches, "switches")
    s4 = s.reshape(_padded(s.shape, 4, "switches"))
    if s4.shape[2:] != (c, n):
        raise InvalidValueError(f"switches of shape {s.shape} do not match x_shape {tuple(x_shape)}")
    if np.any(s4 < 0) or np.any(s4 >= h * w * c * n):
        raise InvalidValueError("switches must lie in [0, x.size); a switch -1 (padding won) has no "
                         "PyTorch index")
    i, j, cc, nn = np.unravel_index(s4, (h, w, c, n), order="F")
    if np.any(cc != np.arange(c)[None, None, :, None]) or np.any(nn != np.arange(n)):
        raise InvalidValueError("a switch points into another channel or sample than its output")
    return np.ascontiguousarray((i * w + j).transpose(3, 2, 0, 1))


def switches_from_torch_indices(indices, x_shape):
    """PyTorch's ``return_indices`` ``(N, C, Ho, Wo)`` as max-pool switches (vec indices into x).

    The inverse of :func:`switches_to_torch_indices`; the result can be passed to
    :meth:`jacobian_cnn.MaxPool2D.jacobian` as ``cache`` or to
    :func:`jacobian_cnn.switches_jacobian`.

    Parameters
    ----------
    indices : array_like of int
        ``(N, C, Ho, Wo)`` (a torch tensor: ``.numpy()`` first).
    x_shape : tuple of int
        Shape of the pooled input ``x`` (this package's layout).

    Returns
    -------
    numpy.ndarray
        int64 switches with as many axes as ``x_shape`` (``(Ho, Wo)``, ``(Ho, Wo, C)``
        or ``(Ho, Wo, C, N)``).

    Examples
    --------
    >>> import numpy as np
    >>> from jacobian_cnn.compare.layout import switches_from_torch_indices
    >>> switches_from_torch_indices(np.array([[[[1]]]]), (2, 2))
    array([[2]])
    """
    h, w, c, n = _padded(x_shape, 4, "x_shape")
    idx = _int_array(indices, "indices")
    if idx.ndim != 4 or idx.shape[:2] != (n, c):
        raise InvalidValueError(f"indices must be (N, C, Ho, Wo) = ({n}, {c}, Ho, Wo) for x_shape "
                         f"{tuple(x_shape)}; got shape {idx.shape}")
    if np.any(idx < 0) or np.any(idx >= h * w):
        raise InvalidValueError(f"indices must lie in [0, H*W) = [0, {h * w})")
    idx = idx.transpose(2, 3, 1, 0)  # (Ho, Wo, C, N)
    cc = np.arange(c)[None, None, :, None]
    nn = np.arange(n)[None, None, None, :]
    s4 = idx // w + h * (idx % w) + h * w * (cc + c * nn)
    ndim = max(len(tuple(x_shape)), 2)
    return s4.reshape(s4.shape[:ndim]) if ndim < 4 else s4
