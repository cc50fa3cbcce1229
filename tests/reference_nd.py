"""Naive loop references for the N-dimensional layers: 1-D / 3-D convolution and pooling, and
transposed convolution in 1, 2 and 3 dimensions.

Written from PyTorch's documented definitions with explicit loops over samples, channels,
output positions and window taps; nothing here imports ``jacobian_cnn``. The transposed
convolution is written as PyTorch documents it (every input position scatters its kernel
onto the outputs), not through a matching convolution as the package does.

Conventions: maps ``(S_1, ..., S_d, C, N)`` (missing trailing axes are 1), convolution
kernels ``(k_1, ..., k_d, C_in / groups, C_out)``, transposed-convolution kernels
``(k_1, ..., k_d, C_in, C_out / groups)``, ``vec = ravel(order="F")``, numerator layout.
Each function returns ``(y, {wrt: dense float64 Jacobian})``: the Jacobians of the linear
maps are accumulated entry by entry by the same loop that computes ``y``.
"""

import itertools
import math

import numpy as np

__all__ = ["conv_nd", "conv_transpose_nd", "avgpool_nd", "maxpool_nd"]


def _per_axis(v, d):
    v = (v,) if np.isscalar(v) else tuple(v)
    return tuple(int(a) for a in (v * d if len(v) == 1 else v))


def _pads(p, d):
    """``((lo, hi), ...)`` from an int, d ints or d pairs."""
    if not np.isscalar(p) and len(p) and not np.isscalar(p[0]):
        return tuple((int(a), int(b)) for a, b in p)
    return tuple((a, a) for a in _per_axis(p, d))


def _out_len(n, lo, hi, k, stride, dil, ceil_mode=False):
    room = n + lo + hi - (dil * (k - 1) + 1)
    assert room >= 0, "window larger than the padded input"
    if not ceil_mode:
        return room // stride + 1
    m = math.ceil(room / stride) + 1
    return m - 1 if (m - 1) * stride >= n + lo else m


def _maps(x, d):
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(x.shape + (1,) * (d + 2 - x.ndim))


def _vi(idx, shape):
    return int(np.ravel_multi_index(tuple(idx), shape, order="F"))


def _inside(i, size):
    return all(0 <= a < n for a, n in zip(i, size, strict=True))


def conv_nd(x, K, b, d, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation: ``y[p, co, n] = b[co] + sum_{r, c} K[r, c, co] x[p*s - lo + r*dil, G*cig + c, n]``
    (``G`` the group of ``co``, ``cig`` input channels per group)."""
    x = _maps(x, d)
    K = np.asarray(K, dtype=np.float64)
    S, N, ks, (cig, c_out) = x.shape[:d], x.shape[-1], K.shape[:d], K.shape[d:]
    s, dil = _per_axis(stride, d), _per_axis(dilation, d)
    if isinstance(padding, str):  # "valid" or "same" (total dil*(k-1), the odd one at the end)
        total = [dl * (k - 1) * (padding == "same") for dl, k in zip(dil, ks, strict=True)]
        pads = tuple((t // 2, t - t // 2) for t in total)
    else:
        pads = _pads(padding, d)
    out = tuple(_out_len(S[a], *pads[a], ks[a], s[a], dil[a]) for a in range(d))
    y = np.zeros(out + (c_out, N))
    J = {"input": np.zeros((y.size, x.size)), "kernel": np.zeros((y.size, K.size)),
         "bias": np.zeros((y.size, c_out))}
    for n, co, p in itertools.product(range(N), range(c_out), np.ndindex(*out)):
        row = _vi(p + (co, n), y.shape)
        y[p + (co, n)] = 0.0 if b is None else b[co]
        J["bias"][row, co] = 1.0
        first = (co // (c_out // groups)) * cig
        for r in np.ndindex(*ks):
            i = tuple(p[a] * s[a] - pads[a][0] + r[a] * dil[a] for a in range(d))
            if not _inside(i, S):
                continue
            for c in range(cig):
                k_idx, x_idx = r + (c, co), i + (first + c, n)
                y[p + (co, n)] += K[k_idx] * x[x_idx]
                J["input"][row, _vi(x_idx, x.shape)] += K[k_idx]
                J["kernel"][row, _vi(k_idx, K.shape)] += x[x_idx]
    return y, J


def conv_transpose_nd(x, K, b, d, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """PyTorch's transposed convolution: input position ``i`` adds ``K[r, ci, k] x[i, ci, n]`` to
    output ``u = i*s - lo + r*dil`` of channel ``G * C_out/g + k``; output length
    ``(S-1)*s - lo - hi + dil*(k-1) + output_padding + 1``."""
    x = _maps(x, d)
    K = np.asarray(K, dtype=np.float64)
    S, (c_in, N), ks, cog = x.shape[:d], x.shape[d:], K.shape[:d], K.shape[-1]
    s, dil, op = _per_axis(stride, d), _per_axis(dilation, d), _per_axis(output_padding, d)
    pads = _pads(padding, d)
    out = tuple((S[a] - 1) * s[a] - sum(pads[a]) + dil[a] * (ks[a] - 1) + op[a] + 1 for a in range(d))
    c_out, cig = cog * groups, c_in // groups
    y = np.zeros(out + (c_out, N))
    if b is not None:
        y += np.asarray(b, dtype=np.float64)[:, None]
    J = {"input": np.zeros((y.size, x.size)), "kernel": np.zeros((y.size, K.size)),
         "bias": np.zeros((y.size, c_out))}
    for u, co, n in itertools.product(np.ndindex(*out), range(c_out), range(N)):
        J["bias"][_vi(u + (co, n), y.shape), co] = 1.0
    for n, ci, i in itertools.product(range(N), range(c_in), np.ndindex(*S)):
        group = ci // cig
        for r in np.ndindex(*ks):
            u = tuple(i[a] * s[a] - pads[a][0] + r[a] * dil[a] for a in range(d))
            if not _inside(u, out):
                continue
            for k in range(cog):
                y_idx, k_idx, x_idx = u + (group * cog + k, n), r + (ci, k), i + (ci, n)
                y[y_idx] += K[k_idx] * x[x_idx]
                J["input"][_vi(y_idx, y.shape), _vi(x_idx, x.shape)] += K[k_idx]
                J["kernel"][_vi(y_idx, y.shape), _vi(k_idx, K.shape)] += x[x_idx]
    return y, J


def _pool(x, d, window, stride, padding, dilation, ceil_mode, visit):
    """Loop every window of every plane; ``visit(taps_in_input, n_padded_taps) -> (value, {col: d})``."""
    x = _maps(x, d)
    S, (C, N) = x.shape[:d], x.shape[d:]
    ks = _per_axis(window, d)
    s = ks if stride is None else _per_axis(stride, d)
    dil, pads = _per_axis(dilation, d), _pads(padding, d)
    out = tuple(_out_len(S[a], *pads[a], ks[a], s[a], dil[a], ceil_mode) for a in range(d))
    y = np.zeros(out + (C, N))
    J = np.zeros((y.size, x.size))
    for n, c, p in itertools.product(range(N), range(C), np.ndindex(*out)):
        taps, n_padded = [], 0
        for r in itertools.product(*(range(k) for k in ks)):  # row-major visiting order
            i = tuple(p[a] * s[a] - pads[a][0] + r[a] * dil[a] for a in range(d))
            n_padded += all(-pads[a][0] <= i[a] < S[a] + pads[a][1] for a in range(d))
            if _inside(i, S):
                taps.append((r, x[i + (c, n)], _vi(i + (c, n), x.shape)))
        y[p + (c, n)], row = visit(taps, n_padded)
        for col, value in row.items():
            J[_vi(p + (c, n), y.shape), col] += value
    return y, {"input": J}


def avgpool_nd(x, d, window, stride=None, padding=0, count_include_pad=True, ceil_mode=False,
               divisor_override=None):
    """The mean of each window: the sum over in-input taps divided by PyTorch's divisor."""
    def visit(taps, n_padded):
        divisor = divisor_override or (n_padded if count_include_pad else len(taps))
        return sum(v for _, v, _ in taps) / divisor, {col: 1.0 / divisor for _, _, col in taps}
    return _pool(x, d, window, stride, padding, 1, ceil_mode, visit)


def maxpool_nd(x, d, window, stride=None, padding=0, dilation=1, ceil_mode=False, tie="column_major"):
    """The largest in-input value of each window; ties go to the first in ``tie`` order."""
    def visit(taps, n_padded):
        if tie == "column_major":  # first axis fastest
            taps = sorted(taps, key=lambda tap: tap[0][::-1])
        best = taps[0]
        for tap in taps[1:]:
            if tap[1] > best[1]:
                best = tap
        return best[1], {best[2]: 1.0}
    return _pool(x, d, window, stride, padding, dilation, ceil_mode, visit)
