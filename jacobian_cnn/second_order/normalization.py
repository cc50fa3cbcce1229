"""The second-order terms of batch normalization (training and eval) and layer normalization.

Within a group of ``m`` entries (a channel over the batch for :class:`~jacobian_cnn.BatchNorm2D`
in training mode, a sample for :class:`~jacobian_cnn.LayerNorm`),
``y_p = gamma_p xhat_p + beta_p`` with ``xhat_p = (x_p - mu) / sigma``. Writing

    D_pq = delta_pq - 1/m - xhat_p xhat_q / m,    d xhat_p / d x_q = D_pq / sigma,

and ``d sigma / d x_j = xhat_j / m``, the second derivative is, inside the group,

    d^2 xhat_p / d x_i d x_j = -(xhat_j D_pi + xhat_i D_pj + xhat_p D_ij) / (m sigma^2).

So with ``w_p = g_p gamma_p``, ``W = sum_p w_p xhat_p`` and ``u_i = sum_p w_p D_pi``:

* input-input: ``T_ij = -(xhat_j u_i + xhat_i u_j + W D_ij) / (m sigma^2)``, a dense block
  per group (the input Jacobian's structure);
* input-gamma: ``T[q, c] = sum over p of the group with gamma entry c of g_p D_pq / sigma``:
  one column per row for batch norm (``(g_q - mean g - xhat_q mean(g xhat)) / sigma``), a
  dense block per sample for layer norm;
* gamma-gamma and everything with beta: 0 (``y`` is linear in ``gamma`` and in ``beta``).

In eval mode (running statistics) ``y`` is linear in ``x`` given ``gamma``: no input-input
term, and the input-gamma term is the diagonal-like ``T[p, c_p] = g_p / sigma_c``.

Each fast term (``fast_*``) has its loop from the formulas above next to it (``loop_*``).
Index conventions: :mod:`jacobian_cnn.vec`.

Examples
--------
Two entries ``x = (1, 3)``, ``eps = 0``: ``xhat = (-1, 1)``, ``sigma = 1``, ``m = 2``, so
``D = [[0, 0], [0, 0]]`` and, with ``g = (1, 0)``, ``u = 0`` and ``W = -1``: the input-input
term is 0; the input-gamma term is ``g_p D_pq / sigma = 0`` too. With ``g = (1, 1)``, ``W = 0``.

>>> import numpy as np
>>> import jacobian_cnn as jc
>>> from jacobian_cnn.second_order import hessian_term
>>> ln = jc.LayerNorm((3,), gamma=np.ones(3), eps=0.0)
>>> x = np.array([0., 1., 5.])
>>> T = hessian_term(ln, x, np.array([1., 0., 0.]))
>>> T.shape, T.nnz
((3, 3), 9)
>>> bool(np.allclose(T.toarray(), T.toarray().T))
True
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jacobian_cnn._arguments import check_size
from jacobian_cnn._sparse.csr import csr_from_rows

__all__ = ["normalization_term"]


class _Stats:
    """What the terms need over ``vec(x)``: ``xhat``, ``1 / sigma`` and ``gamma`` per entry,
    the groups, their sorted members (``None`` in eval mode), and each entry's ``gamma`` index."""

    def __init__(self, layer, x):
        x, self.xhat, _, self.group, self.members, self.param_index = layer.statistics(x)
        flat, dtype = np.ravel(x, order="F"), x.dtype
        if self.members is None:
            var = np.asarray(layer.running_var, dtype)[self.group]
            self.m = 1
        else:
            self.m = self.members.shape[1]
            values = flat[self.members]
            centred = values - values.mean(axis=1, keepdims=True)
            var = np.mean(centred * centred, axis=1)[self.group]
        self.inv_sigma = 1 / np.sqrt(var + dtype.type(layer.eps))
        self.gamma = (np.ones(flat.size, dtype) if layer.gamma is None
                      else np.ravel(np.asarray(layer.gamma, dtype), order="F")[self.param_index])
        self.n_params = 0 if layer.gamma is None else int(np.size(layer.gamma))
        self.size, self.dtype = flat.size, dtype

    def D(self, p, q):
        """``delta_pq - 1/m - xhat_p xhat_q / m`` (numbers or arrays of positions)."""
        return (p == q) - 1 / self.m - self.xhat[p] * self.xhat[q] / self.m


# ---------------------------------------------------------------- input, input

def fast_input_input(s, g):
    """The dense block per group, from ``u`` and ``W`` (module docstring)."""
    n, m, group = s.size, s.m, s.group
    w = g * s.gamma
    n_groups = s.members.shape[0]
    sum_w = np.bincount(group, w, minlength=n_groups)[group]
    big_w = np.bincount(group, w * s.xhat, minlength=n_groups)[group]
    u = w - sum_w / m - s.xhat * big_w / m
    cols = s.members[group]                                       # (n, m)
    rows = np.arange(n)[:, None]
    vals = -(s.inv_sigma ** 2 / m)[:, None] * (s.xhat[cols] * u[:, None] + s.xhat[:, None] * u[cols]
                                               + big_w[:, None] * s.D(rows, cols))
    return csr_from_rows(np.full(n, m), cols, vals.astype(s.dtype, copy=False), (n, n)).tocsr()


def loop_input_input(s, g):
    """``T_ij = sum_p g_p gamma_p d^2 xhat_p / dx_i dx_j`` inside each group, one by one."""
    sums = {}
    for members in s.members.tolist():
        for i in members:
            for j in members:
                total = 0.0
                for p in members:
                    second = -(s.xhat[j] * s.D(p, i) + s.xhat[i] * s.D(p, j) + s.xhat[p] * s.D(i, j))
                    total += g[p] * s.gamma[p] * second * s.inv_sigma[p] ** 2 / s.m
                sums[i, j] = total
    return _from_sums(sums, (s.size, s.size), s.dtype)


# ---------------------------------------------------------------- input, gamma

def fast_input_gamma(s, g):
    """``T[q, c] = (1/sigma)(delta(c_q = c) g_q - S_g[c] / m - xhat_q S_gx[c] / m)`` with the
    sums ``S`` of ``g`` and ``g xhat`` over the group's entries using ``gamma`` entry ``c``."""
    n = s.size
    if s.members is None:
        cols, vals = s.param_index[:, None], (g * s.inv_sigma)[:, None]
        return csr_from_rows(np.ones(n, np.int64), cols, vals.astype(s.dtype, copy=False),
                             (n, s.n_params)).tocsr()
    keys, inverse = np.unique(s.group * s.n_params + s.param_index, return_inverse=True)
    per_group = keys.size // s.members.shape[0]     # the same for every group
    sum_g = np.bincount(inverse, g, minlength=keys.size).reshape(-1, per_group)
    sum_gx = np.bincount(inverse, g * s.xhat, minlength=keys.size).reshape(-1, per_group)
    cols = (keys % s.n_params).reshape(-1, per_group)[s.group]                    # (n, k), sorted
    vals = s.inv_sigma[:, None] * ((cols == s.param_index[:, None]) * g[:, None]
                                   - sum_g[s.group] / s.m - s.xhat[:, None] * sum_gx[s.group] / s.m)
    return csr_from_rows(np.full(n, per_group), cols, vals.astype(s.dtype, copy=False),
                         (n, s.n_params)).tocsr()


def loop_input_gamma(s, g):
    """``T[q, c_p] += g_p d xhat_p / d x_q`` over every ``p`` of ``q``'s group (``p = q``
    alone, ``d xhat_q / d x_q = 1 / sigma``, in eval mode)."""
    sums = {}
    for q in range(s.size):
        members = [q] if s.members is None else s.members[s.group[q]].tolist()
        for p in members:
            derivative = s.inv_sigma[p] * (1.0 if s.members is None else s.D(p, q))
            key = (q, int(s.param_index[p]))
            sums[key] = sums.get(key, 0.0) + g[p] * derivative
    return _from_sums(sums, (s.size, s.n_params), s.dtype)


def _from_sums(sums, shape, dtype):
    keys = sorted(sums)
    rows, cols = (np.array([k[i] for k in keys], np.int64) for i in (0, 1))
    return sp.coo_array((np.array([sums[k] for k in keys], dtype), (rows, cols)), shape=shape).tocsr()


# ---------------------------------------------------------------- dispatch

def normalization_term(layer, x, g, a, b, *, max_bytes=None, fast=True):
    """The ``(a, b)`` term of a batch or layer normalization (``a``, ``b`` checked names)."""
    pair = {a, b}
    if pair not in ({"input"}, {"input", "gamma"}) or (pair == {"input"} and not _curved(layer)):
        sizes = {"input": np.size(x), **{name: np.size(p) for name, p in layer.params.items()}}
        return sp.csr_array((sizes[a], sizes[b]), dtype=g.dtype)
    s = _Stats(layer, x)
    if pair == {"input"}:
        check_size(s.size, s.size * s.m, s.dtype.itemsize, max_bytes,
                   f"{type(layer).__name__} second-order term")
        return sp.csr_array((fast_input_input if fast else loop_input_input)(s, g))
    per_row = 1 if s.members is None else np.unique(s.param_index[s.members[0]]).size
    check_size(s.size, s.size * per_row, s.dtype.itemsize, max_bytes,
               f"{type(layer).__name__} input-gamma term")
    block = (fast_input_gamma if fast else loop_input_gamma)(s, g)
    return sp.csr_array(block if a == "input" else block.T.tocsr())


def _curved(layer):
    """Whether ``y`` is curved in ``x``: the statistics come from ``x`` (not eval-mode batch norm)."""
    return getattr(layer, "training", True)
