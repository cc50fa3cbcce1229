"""Loop references of the layers of imported PyTorch models (the ``MODEL_CASES`` of the table).

Written from the definitions, independently of the package: explicit loops over outputs,
``vec`` indices by ``np.ravel_multi_index(order="F")``, dense float64 Jacobians of shape
``(y.size, wrt.size)``. Normalization Jacobians are assembled from the derivatives of the
mean and the variance (the chain rule through ``mu`` and ``sigma^2``), not from the closed
form the package uses. Conventions as in ``reference.py``.
"""

import math

import numpy as np
from reference import _as4d, _diag_jacobian, _elementwise, _padding, _restore_ndim

__all__ = ["normalization", "normalization_jacobians", "dropout", "dropout_jacobian", "pad",
           "pad_jacobian", "upsample", "upsample_jacobian", "adaptive_avg", "adaptive_avg_jacobian",
           "ELEMENTWISE", "elementwise_jacobian", "log_softmax", "log_softmax_jacobian"]


def _vi(idx, shape):
    return int(np.ravel_multi_index(tuple(idx), shape, order="F"))


# ---------------------------------------------------------------------------
# normalization: groups of vec positions, statistics by loops
# ---------------------------------------------------------------------------

def _groups(x, kind, training, size=None):
    """``(groups, param_of)``: lists of vec positions, and each position's parameter index."""
    x = np.asarray(x, dtype=np.float64)
    if kind == "batchnorm":
        x4 = x if x.ndim == 4 else x[..., None]
        H, W, C, N = x4.shape
        groups = [[_vi((i, j, c, n), x4.shape) for n in range(N) for j in range(W) for i in range(H)]
                  for c in range(C)]
        param_of = {p: c for c, g in enumerate(groups) for p in g}
        return (groups if training else [[p] for p in range(x.size)]), param_of
    groups = [list(range(s, s + size)) for s in range(0, x.size, size)]
    return groups, {p: p % size for p in range(x.size)}


def normalization(x, kind, gamma, beta, eps, running=None):
    """``gamma xhat + beta`` with the group statistics (or the running ones); ``kind`` is
    ``"batchnorm"`` or ``"layernorm"`` (a group per sample of ``gamma``'s size)."""
    flat = np.asarray(x, dtype=np.float64).ravel(order="F")
    groups, param_of = _groups(x, kind, running is None, np.size(gamma))
    g = np.ravel(gamma, order="F")
    b = np.zeros_like(g) if beta is None else np.ravel(beta, order="F")
    y = np.zeros_like(flat)
    for group in groups:
        for p in group:
            if running is None:
                mu = sum(flat[q] for q in group) / len(group)
                var = sum((flat[q] - mu) ** 2 for q in group) / len(group)
            else:
                mu, var = running[0][param_of[p]], running[1][param_of[p]]
            y[p] = g[param_of[p]] * (flat[p] - mu) / math.sqrt(var + eps) + b[param_of[p]]
    return y.reshape(np.shape(x), order="F")


def normalization_jacobians(x, kind, gamma, beta, eps, running=None):
    """``{"input", "gamma", "beta"}``: chain rule through the mean and variance of each group."""
    flat = np.asarray(x, dtype=np.float64).ravel(order="F")
    groups, param_of = _groups(x, kind, running is None, np.size(gamma))
    g = np.ravel(gamma, order="F")
    n = flat.size
    Jx, Jg, Jb = np.zeros((n, n)), np.zeros((n, g.size)), np.zeros((n, g.size))
    for group in groups:
        m = len(group)
        if running is None:
            mu = sum(flat[q] for q in group) / m
            var = sum((flat[q] - mu) ** 2 for q in group) / m
        for p in group:
            c = param_of[p]
            if running is not None:
                mu, var = running[0][c], running[1][c]
            sigma = math.sqrt(var + eps)
            Jg[p, c] = (flat[p] - mu) / sigma
            Jb[p, c] = 1.0
            if running is not None:
                Jx[p, p] = g[c] / sigma
                continue
            for q in group:
                dmu = 1.0 / m                       # d mu / d x_q
                dvar = 2.0 * (flat[q] - mu) / m     # d var / d x_q
                Jx[p, q] = g[c] * (((p == q) - dmu) / sigma
                                   - (flat[p] - mu) * 0.5 * dvar / sigma ** 3)
    out = {"input": Jx, "gamma": Jg}
    if beta is not None:
        out["beta"] = Jb
    return out


# ---------------------------------------------------------------------------
# dropout with a mask
# ---------------------------------------------------------------------------

def dropout(x, mask, p):
    return np.asarray(x, dtype=np.float64) * mask / (1 - p)


def dropout_jacobian(x, mask, p):
    m = np.ravel(mask, order="F")
    J = np.zeros((m.size, m.size))
    for k in range(m.size):
        if m[k]:
            J[k, k] = m[k] / (1 - p)
    return J


# ---------------------------------------------------------------------------
# map-by-map linear layers: a list of (weight, source) per output entry
# ---------------------------------------------------------------------------

def _linear_map(x, out_hw, taps):
    """``taps(io, jo) -> [(i, j, weight), ...]``: the output map and the dense Jacobian."""
    x4, ndim = _as4d(x)
    H, W, C, N = x4.shape
    Ho, Wo = out_hw
    y = np.zeros((Ho, Wo, C, N))
    J = np.zeros((y.size, x4.size))
    for n in range(N):
        for c in range(C):
            for jo in range(Wo):
                for io in range(Ho):
                    row = _vi((io, jo, c, n), y.shape)
                    for i, j, weight in taps(io, jo):
                        y[io, jo, c, n] += weight * x4[i, j, c, n]
                        J[row, _vi((i, j, c, n), x4.shape)] += weight
    return _restore_ndim(y, ndim), J


def _pad_taps(x, padding, mode):
    (top, bottom), (left, right) = _padding(padding)
    H, W = np.shape(x)[:2]

    def source(o, before, n):
        p = o - before
        if 0 <= p < n:
            return p
        if mode == "reflection":
            return -p if p < 0 else 2 * (n - 1) - p
        if mode == "replication":
            return 0 if p < 0 else n - 1
        return None

    def taps(io, jo):
        i, j = source(io, top, H), source(jo, left, W)
        return [] if i is None or j is None else [(i, j, 1.0)]
    return (H + top + bottom, W + left + right), taps


def pad(x, padding, mode, value=0.0):
    out_hw, taps = _pad_taps(x, padding, mode)
    y, _ = _linear_map(x, out_hw, taps)
    if mode == "constant":
        y4 = y.reshape(out_hw + (-1,))
        for io in range(out_hw[0]):
            for jo in range(out_hw[1]):
                if not taps(io, jo):
                    y4[io, jo] = value
    return y


def pad_jacobian(x, padding, mode):
    return _linear_map(x, *_pad_taps(x, padding, mode))[1]


def _axis_sources(n_in, n_out, scale, mode, align_corners):
    """Per output index, ``[(source, weight), ...]`` on one axis (PyTorch's rules)."""
    out = []
    for o in range(n_out):
        if mode == "nearest":
            if n_out == n_in:
                s = o
            elif n_out == 2 * n_in:
                s = o // 2
            else:
                s = min(int(math.floor(float(np.float32(o) * np.float32(scale)))), n_in - 1)
            out.append([(s, 1.0)])
            continue
        if align_corners:
            src = o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            src = max(scale * (o + 0.5) - 0.5, 0.0)
        i0 = int(math.floor(src))
        i1 = min(i0 + 1, n_in - 1)
        frac = src - i0
        out.append([(i0, 1.0 - frac), (i1, frac)])
    return out


def _upsample_taps(x, size, scale_factor, mode, align_corners):
    H, W = np.shape(x)[:2]
    axes = []
    for axis, n in enumerate((H, W)):
        if size is not None:
            m = size if np.isscalar(size) else size[axis]
            scale = n / m
        else:
            f = scale_factor if np.isscalar(scale_factor) else scale_factor[axis]
            m, scale = int(math.floor(n * f)), 1.0 / f
        axes.append(_axis_sources(n, m, scale, mode, align_corners))
    rows, cols = axes

    def taps(io, jo):
        return [(i, j, wi * wj) for i, wi in rows[io] for j, wj in cols[jo] if wi * wj != 0]
    return (len(rows), len(cols)), taps


def upsample(x, size=None, scale_factor=None, mode="nearest", align_corners=False):
    return _linear_map(x, *_upsample_taps(x, size, scale_factor, mode, align_corners))[0]


def upsample_jacobian(x, size=None, scale_factor=None, mode="nearest", align_corners=False):
    return _linear_map(x, *_upsample_taps(x, size, scale_factor, mode, align_corners))[1]


def _adaptive_taps(x, output_size):
    H, W = np.shape(x)[:2]
    Ho, Wo = (output_size, output_size) if np.isscalar(output_size) else output_size

    def window(o, n, m):
        return range(math.floor(o * n / m), math.ceil((o + 1) * n / m))

    def taps(io, jo):
        rows, cols = window(io, H, Ho), window(jo, W, Wo)
        return [(i, j, 1.0 / (len(rows) * len(cols))) for i in rows for j in cols]
    return (Ho, Wo), taps


def adaptive_avg(x, output_size):
    return _linear_map(x, *_adaptive_taps(x, output_size))[0]


def adaptive_avg_jacobian(x, output_size):
    return _linear_map(x, *_adaptive_taps(x, output_size))[1]


# ---------------------------------------------------------------------------
# elementwise activations: (f, f') per op, from their formulas
# ---------------------------------------------------------------------------

def _gelu_tanh(v):
    u = math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)
    return 0.5 * v * (1 + math.tanh(u))


def _gelu_tanh_derivative(v):
    u = math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)
    du = math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * v ** 2)
    return 0.5 * (1 + math.tanh(u)) + 0.5 * v * (1 - math.tanh(u) ** 2) * du


def _softplus(beta, threshold):
    return (lambda v: v if beta * v > threshold else math.log1p(math.exp(beta * v)) / beta,
            lambda v: 1.0 if beta * v > threshold else 1 / (1 + math.exp(-beta * v)))


ELEMENTWISE = {
    "identity": lambda o: (lambda v: v, lambda v: 1.0),
    "leakyrelu": lambda o: (lambda v: v if v > 0 else o.get("negative_slope", 0.01) * v,
                            lambda v: 1.0 if v > 0 else o.get("negative_slope", 0.01)),
    "elu": lambda o: (lambda v: v if v > 0 else o.get("alpha", 1.0) * (np.exp(v) - 1),
                      lambda v: 1.0 if v > 0 else o.get("alpha", 1.0) * np.exp(v)),
    "gelu": lambda o: ((lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))),
                        lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2)))
                        + v * math.exp(-v * v / 2) / math.sqrt(2 * math.pi))
                       if o.get("approximate", "none") == "none" else (_gelu_tanh, _gelu_tanh_derivative)),
    "softplus": lambda o: _softplus(o.get("beta", 1.0), o.get("threshold", 20.0)),
}
"""op -> options -> ``(f, f')``."""


def elementwise(x, op, options):
    return _elementwise(x, ELEMENTWISE[op](options)[0])


def elementwise_jacobian(x, op, options):
    return _diag_jacobian(x, ELEMENTWISE[op](options)[1])


def log_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    z2 = z[:, None] if z.ndim == 1 else z
    out = np.zeros_like(z2)
    for n in range(z2.shape[1]):
        top = max(z2[:, n])
        total = sum(math.exp(v - top) for v in z2[:, n])
        for i in range(z2.shape[0]):
            out[i, n] = z2[i, n] - top - math.log(total)
    return out.reshape(z.shape)


def log_softmax_jacobian(z):
    """``d y_i / d z_j = delta_ij - softmax(z)_j`` inside a sample."""
    z = np.asarray(z, dtype=np.float64)
    z2 = z[:, None] if z.ndim == 1 else z
    k, N = z2.shape
    J = np.zeros((z2.size, z2.size))
    for n in range(N):
        s = np.exp(log_softmax(z2[:, n]))
        for i in range(k):
            for j in range(k):
                J[i + k * n, j + k * n] = (i == j) - s[j]
    return J
