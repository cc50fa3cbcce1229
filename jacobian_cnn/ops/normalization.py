"""Batch normalization (training and eval mode) and layer normalization.

Both normalize groups of entries: ``xhat_p = (x_p - mu_g) / sigma_g`` with the mean ``mu_g``
and the biased variance ``sigma_g^2 - eps`` of the ``m`` entries of ``p``'s group ``g``, then
``y_p = gamma_p xhat_p + beta_p``. The groups are the channels across the batch for
:class:`BatchNorm2D` in training mode (``m = H W N``) and the samples for :class:`LayerNorm`
(``m = H W C``). The classic derivation (``derivations/batch_norm.md``) gives, inside a group,

    d y_p / d x_q = (gamma_p / sigma_g) (delta_pq - 1/m - xhat_p xhat_q / m),

a dense block per group and 0 across groups; ``d y_p / d gamma = xhat_p`` and
``d y_p / d beta = 1`` at the parameter entry ``p`` uses. In eval mode batch norm uses its
running statistics, constants: ``d y_p / d x_p = gamma_c / sqrt(running_var_c + eps)``, a
diagonal. Index conventions: :mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._arguments import cast, check_size, float_array, frozen_copy, index_dtype
from jacobian_cnn._sparse.csr import CSRParts, csr_from_rows, diagonal
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.ops.layer import Definition, Layer, Parameter, numeric_terms

__all__ = ["BatchNorm2D", "LayerNorm", "normalization_entries"]


def normalization_entries(group, members, param_index, wrt):
    """The entries of ``d vec(y) / d vec(wrt)`` of a normalization.

    ``group[p]`` is the group of ``vec(x)[p]``, ``members[g]`` the sorted positions of group
    ``g`` (``None`` in eval mode: no statistics depend on ``x``), ``param_index[p]`` the entry
    of ``gamma`` and ``beta`` that ``p`` uses.
    """
    for p in range(len(group)):
        if wrt == "input" and members is None:
            yield p, p, ("scale", p)
        elif wrt == "input":
            for q in members[group[p]]:
                yield p, q, ("normalized", p, q)
        else:
            yield p, param_index[p], ("xhat", p) if wrt == "gamma" else ("one",)


class _Normalization(Layer):
    """What batch and layer normalization share: statistics, forward, Jacobians."""

    param_names = ("gamma", "beta")
    gamma = Parameter("The scale, a read-only copy (``None``: 1, no parameter).")
    beta = Parameter("The shift, a read-only copy (``None``: 0, no parameter).")

    def _checked_gamma(self, value):
        return self._checked_affine(value, "gamma")

    def _checked_beta(self, value):
        return self._checked_affine(value, "beta")

    def _checked_affine(self, value, name):
        if value is None:
            return None
        value = frozen_copy(value, name)
        if value.shape != self._param_shape:
            raise InvalidValueError(f"{name} must be None or have shape {self._param_shape}; "
                                    f"got {value.shape}")
        return value

    def _statistics(self, x):
        """``(x, xhat, scale, group, members, param_index)`` over ``vec(x)``.

        ``scale[p] = gamma_p / sigma_g``; ``members`` is ``None`` when the statistics are
        constants (eval mode).
        """
        x = self._check(x)
        group, param_index, running = self._groups(x)
        flat = np.ravel(x, order="F")
        dtype, n_groups = flat.dtype.type, int(group.max(initial=-1)) + 1
        if running is None:
            count = np.bincount(group, minlength=n_groups).astype(flat.dtype)
            mean = np.bincount(group, flat, minlength=n_groups).astype(flat.dtype) / count
            centred = flat - mean[group]
            var = np.bincount(group, centred * centred, minlength=n_groups).astype(flat.dtype) / count
            order = np.argsort(group, kind="stable")
            members = order.reshape(n_groups, -1) if n_groups else order.reshape(0, 0)
        else:
            mean, var = (cast(r, flat.dtype, "running statistics") for r in running)
            centred, members = flat - mean[group], None
        sigma = np.sqrt(var + dtype(self.eps))
        xhat = centred / sigma[group]
        gamma = (np.ones(1, flat.dtype)[np.zeros_like(param_index)] if self.gamma is None
                 else np.ravel(cast(self.gamma, flat.dtype, "gamma"), order="F")[param_index])
        return x, xhat, gamma / sigma[group], group, members, param_index

    def statistics(self, x):
        """``(x, xhat, scale, group, members, param_index)`` over ``vec(x)``: the normalized
        entries, ``scale[p] = gamma_p / sigma_g``, each entry's group, the ``(groups, m)``
        sorted positions of each group (``None`` in eval mode: constant statistics) and the
        entry of ``gamma``/``beta`` each entry uses (for the second-order terms,
        :mod:`jacobian_cnn.second_order.normalization`)."""
        return self._statistics(x)

    def forward(self, x):
        """``gamma xhat + beta`` in ``x``'s shape."""
        x, xhat, _, _, _, param_index = self._statistics(x)
        y = xhat if self.gamma is None else xhat * np.ravel(
            cast(self.gamma, x.dtype, "gamma"), order="F")[param_index]
        if self.beta is not None:
            y = y + np.ravel(cast(self.beta, x.dtype, "beta"), order="F")[param_index]
        return y.reshape(x.shape, order="F")

    def _definition(self, x, wrt, cache):
        x, xhat, scale, group, members, param_index = self._statistics(x)
        inv_m = x.dtype.type(1) / (x.dtype.type(members.shape[1]) if members is not None else 1)
        values = numeric_terms(x.dtype, xhat=xhat, scale=scale)
        values["normalized"] = lambda p, q: scale[p] * (
            (x.dtype.type(p == q) - inv_m) - xhat[p] * xhat[q] * inv_m)
        n_cols = x.size if wrt == "input" else int(np.prod(self._param_shape))
        return Definition(normalization_entries(group, None if members is None else members.tolist(),
                                                param_index, wrt), (x.size, n_cols), values, x.dtype)

    def _jacobian_parts(self, x, wrt="input", *, cache=None, max_bytes=None):
        """A dense block per group (a diagonal in eval mode) wrt the input; one entry per row
        wrt ``gamma`` and ``beta``. As :class:`~jacobian_cnn._sparse.csr.CSRParts`."""
        self._check_wrt(wrt)
        x = self._check(x)
        what = f"{type(self).__name__} {wrt} Jacobian"
        if wrt != "input":
            check_size(x.size, x.size, x.dtype.itemsize, max_bytes, what)
        else:  # refused before any array of x's size is made
            check_size(x.size, x.size * self._block_size(x), x.dtype.itemsize, max_bytes, what)
        constant = self._constant_scale(x) if wrt == "input" else None
        if constant is not None:  # eval mode: the diagonal, without the per-entry statistics
            return diagonal(constant, max_bytes=max_bytes, what=what)
        x, xhat, scale, group, members, param_index = self._statistics(x)
        n = x.size
        if wrt == "input" and members is None:
            return diagonal(scale, max_bytes=max_bytes, what=what)
        if wrt == "input":
            return _dense_blocks(xhat, scale, members)
        vals = xhat if wrt == "gamma" else np.ones(n, x.dtype)
        n_cols = int(np.prod(self._param_shape))
        return csr_from_rows(np.ones(n, np.int64), param_index[:, None], vals[:, None], (n, n_cols))


    def _constant_scale(self, x):
        """``scale`` over ``vec(x)`` when it does not depend on ``x`` (eval mode), else ``None``."""
        return None


def _dense_blocks(xhat, scale, members):
    """The input Jacobian's dense group blocks, written group by group into the CSR arrays.

    Row ``p`` of group ``g`` holds ``scale[p] ((delta_pq - 1/m) - xhat[p] xhat[q] / m)`` at the
    group's columns ``q = members[g]`` (sorted): the same operations on the same numbers as
    the definition, a few thousand rows at a time (no ``(n, m)`` temporaries)."""
    n_groups, m = members.shape
    n, dtype = xhat.size, xhat.dtype
    index = index_dtype(n, n, n * m)
    inv_m = dtype.type(1) / dtype.type(m)
    vals, cols = np.empty((n, m), dtype), np.empty((n, m), index)
    step = max(1, 2**20 // max(m, 1))
    for g in range(n_groups):
        q = members[g]
        xq = xhat[q]
        for start in range(0, m, step):
            p = q[start:start + step]
            delta = (p[:, None] == q[None, :]).astype(dtype)
            vals[p] = scale[p][:, None] * ((delta - inv_m) - xhat[p][:, None] * xq[None, :] * inv_m)
            cols[p] = q
    indptr = np.arange(0, n * m + 1, max(m, 1), dtype=index)[:n + 1]
    return CSRParts(vals.reshape(-1), cols.reshape(-1), indptr, (n, n))


class BatchNorm2D(_Normalization):
    """Batch normalization of maps ``(H, W, C)`` or a batch ``(H, W, C, N)`` (``nn.BatchNorm2d``).

    In training mode (``training=True``) each channel is normalized with its mean and biased
    variance over ``H``, ``W`` and the batch, and the Jacobian wrt the input has one dense
    ``H W N x H W N`` block per channel. In eval mode the running statistics are used and it
    is diagonal. The running statistics are never updated by ``forward`` or ``jacobian``:
    call :meth:`update_running_statistics` (PyTorch's update, with ``momentum``) to do so.

    Parameters
    ----------
    gamma : array_like
        ``(C,)`` scale.
    beta : array_like, optional
        ``(C,)`` shift.
    running_mean, running_var : array_like, optional
        ``(C,)``; default 0 and 1.
    eps : float
    momentum : float
        Only for :meth:`update_running_statistics`.
    training : bool

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> bn = jc.BatchNorm2D(gamma=[1.0], beta=[0.0], eps=0.0)
    >>> x = np.array([1., 3.]).reshape(2, 1, 1)   # a 2 x 1 map, one channel: xhat = -1, 1
    >>> bn.forward(x).ravel()
    array([-1.,  1.])
    >>> bn.jacobian(x).toarray()    # (1 / sigma)(delta - 1/2 - xhat_p xhat_q / 2): two entries
    array([[0., 0.],
           [0., 0.]])
    >>> bn.jacobian(x, wrt="gamma").toarray()     # always normalize to -1, 1; wrt gamma: xhat
    array([[-1.],
           [ 1.]])
    """

    def __init__(self, gamma, beta=None, *, running_mean=None, running_var=None, eps=1e-5,
                 momentum=0.1, training=True):
        gamma_shape = np.shape(gamma)
        if len(gamma_shape) != 1 or gamma_shape[0] < 1:
            raise InvalidValueError(f"gamma must be (C,) with C >= 1; got shape {gamma_shape}")
        self._param_shape = gamma_shape
        self.gamma, self.beta = gamma, beta
        c = gamma_shape[0]
        self.running_mean = self._running(running_mean, 0.0, c, "running_mean")
        self.running_var = self._running(running_var, 1.0, c, "running_var")
        if np.any(self.running_var < 0):
            raise InvalidValueError("running_var must be >= 0")
        self.eps = _non_negative(eps, "eps")
        self.momentum = _non_negative(momentum, "momentum")
        if not isinstance(training, bool):
            raise InvalidTypeError(f"training must be True or False, got {training!r}")
        self.training = training

    @staticmethod
    def _running(value, default, c, name):
        value = frozen_copy(np.full(c, default) if value is None else value, name)
        if value.shape != (c,):
            raise InvalidValueError(f"{name} must have shape (C,) = ({c},); got {value.shape}")
        return value

    def __repr__(self):
        mode = "training" if self.training else "eval"
        return f"BatchNorm2D({self._param_shape[0]}, {mode}, eps={self.eps})"

    def _check(self, x):
        x = float_array(x, "x")
        c = self._param_shape[0]
        if x.ndim not in (3, 4) or x.shape[2] != c:
            raise InvalidValueError(f"x must be (H, W, C) or a batch (H, W, C, N) with C={c}; "
                                    f"got shape {x.shape}")
        if self.training and x.size == 0:
            raise InvalidValueError(f"training-mode batch norm needs at least one entry per "
                                    f"channel; got shape {x.shape}")
        return x

    def _block_size(self, x):
        """Entries per row of the input Jacobian: a channel's entries (training), else 1."""
        return x.size // x.shape[2] if self.training and x.size else 1

    def _constant_scale(self, x):
        if self.training:
            return None
        dtype = x.dtype
        sigma = np.sqrt(cast(self.running_var, dtype, "running statistics") + dtype.type(self.eps))
        gamma = np.ones(1, dtype) if self.gamma is None else cast(self.gamma, dtype, "gamma")
        h, w, c = x.shape[:3]
        per_channel = (gamma / sigma)[None, :, None]  # the same division as per entry
        return np.broadcast_to(per_channel, (h * w, c, x.size // max(h * w * c, 1))).ravel(order="F")

    def _groups(self, x):
        h, w, c = x.shape[:3]
        channel = np.broadcast_to(np.arange(c)[None, None, :, None], (h, w, c, x.size // max(h * w * c, 1)))
        channel = np.ravel(channel, order="F")
        running = None if self.training else (self.running_mean, self.running_var)
        return channel, channel, running

    def update_running_statistics(self, x):
        """PyTorch's training-mode update: ``running = (1 - momentum) running + momentum batch``
        (the batch variance unbiased). Returns ``self``."""
        x = self._check(x)
        axes = (0, 1) + ((3,) if x.ndim == 4 else ())
        m = x.size // x.shape[2]
        mean, var = x.mean(axis=axes), x.var(axis=axes) * (m / max(m - 1, 1))
        keep = 1 - self.momentum
        self.running_mean = frozen_copy(keep * self.running_mean + self.momentum * mean, "mean")
        self.running_var = frozen_copy(keep * self.running_var + self.momentum * var, "var")
        return self


class LayerNorm(_Normalization):
    """Layer normalization of each sample over all its entries (``nn.LayerNorm``).

    Parameters
    ----------
    normalized_shape : tuple of int
        One sample's shape in this package's layout: ``(H, W, C)`` for maps (PyTorch's
        ``(C, H, W)``), ``(n,)`` for vectors. The input is one sample of this shape or a
        batch with one more, last, axis.
    gamma, beta : array_like, optional
        Of ``normalized_shape`` (``None``: no parameter).
    eps : float

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> ln = jc.LayerNorm((2,), eps=0.0)
    >>> ln.forward(np.array([1., 3.]))
    array([-1.,  1.])
    """

    def __init__(self, normalized_shape, gamma=None, beta=None, *, eps=1e-5):
        shape = tuple(np.atleast_1d(np.asarray(normalized_shape, dtype=np.int64)).tolist())
        if not shape or min(shape) < 1:
            raise InvalidValueError(f"normalized_shape must be a tuple of positive ints, got "
                                    f"{normalized_shape!r}")
        self._param_shape = shape
        self.gamma, self.beta = gamma, beta
        self.eps = _non_negative(eps, "eps")

    def __repr__(self):
        return f"LayerNorm({self._param_shape}, eps={self.eps})"

    def _check(self, x):
        x = float_array(x, "x")
        d = len(self._param_shape)
        if x.shape[:d] != self._param_shape or x.ndim not in (d, d + 1):
            raise InvalidValueError(f"x must be {self._param_shape} or a batch {self._param_shape + ('N',)}; "
                                    f"got shape {x.shape}")
        return x

    def _block_size(self, x):
        """Entries per row of the input Jacobian: one sample's."""
        return int(np.prod(self._param_shape))

    def _groups(self, x):
        size = int(np.prod(self._param_shape))
        position = np.arange(x.size)
        return position // size, position % size, None


def _non_negative(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise InvalidTypeError(f"{name} must be a non-negative number, got {value!r}")
    if not (np.isfinite(value) and value >= 0):
        raise InvalidValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)
