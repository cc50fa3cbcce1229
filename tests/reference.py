"""Naive, loop-based reference implementations for the ``jacobian_cnn`` tests.

Everything here is written straight from the definitions with explicit Python
loops over output positions and window taps.  Speed is irrelevant; clarity is
the point.  Jacobians are returned as DENSE float64 numpy arrays.

Conventions
-----------
* vec(A) = A.ravel(order="F") (column-major, first index fastest).
* Feature map (H, W, C); batch (H, W, C, N).  A 2-D (H, W) array is a
  single-channel map.  Trailing singleton dims do not change vec.
* Numerator layout: J[i, j] = d vec(y)_i / d vec(x)_j, shape (y.size, x.size).
* Conv kernel K: (kh, kw, C_in, C_out), cross-correlation.
* Geometry is always normalised to pairs:
  stride=(sh, sw), padding=((top, bottom), (left, right)), dilation=(dh, dw).

Output shapes of the spatial ops: internally everything is 4-D
(H, W, C, N).  ``conv2d`` returns (Ho, Wo, C_out, N) for 4-D x and
(Ho, Wo, C_out) for 2-D / 3-D x.  The pools return an array with the same
number of dims as x ((Ho, Wo), (Ho, Wo, C) or (Ho, Wo, C, N)).  vec() of
the result is the same either way.
"""

import numpy as np

__all__ = [
    "conv2d", "conv2d_jacobians",
    "avgpool2d", "avgpool2d_jacobian",
    "maxpool2d", "maxpool2d_jacobian",
    "flatten", "flatten_jacobian",
    "dense", "dense_jacobians",
    "relu", "relu_jacobian", "sigmoid", "sigmoid_jacobian",
    "tanh", "tanh_jacobian", "softmax", "softmax_jacobian",
    "mse", "mse_gradient",
    "softmax_cross_entropy", "softmax_cross_entropy_gradient",
]


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------

def _pair(v):
    """int -> (v, v); pair -> tuple(pair)."""
    if np.isscalar(v):
        return (int(v), int(v))
    v = tuple(int(u) for u in v)
    if len(v) != 2:
        raise ValueError(f"expected an int or a pair, got {v!r}")
    return v


def _padding(p):
    """Normalise padding to ((top, bottom), (left, right)).

    Accepts an int p (all sides), a pair (ph, pw) (symmetric per axis) or a
    pair of pairs ((top, bottom), (left, right)).
    """
    if np.isscalar(p):
        p = int(p)
        return ((p, p), (p, p))
    p = tuple(p)
    if len(p) != 2:
        raise ValueError(f"bad padding {p!r}")
    return tuple(_pair(q) for q in p)


def _as4d(x):
    """View x as (H, W, C, N); returns (x4, original_ndim)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        return x[:, :, None, None], 2
    if x.ndim == 3:
        return x[:, :, :, None], 3
    if x.ndim == 4:
        return x, 4
    raise ValueError(f"expected 2-D, 3-D or 4-D input, got shape {x.shape}")


def _kernel4d(K):
    """View K as (kh, kw, C_in, C_out); 2-D -> (kh, kw, 1, 1), 3-D -> C_out=1."""
    K = np.asarray(K, dtype=np.float64)
    if K.ndim == 2:
        return K[:, :, None, None]
    if K.ndim == 3:
        return K[:, :, :, None]
    if K.ndim == 4:
        return K
    raise ValueError(f"bad kernel shape {K.shape}")


def _out_size(n, pad_lo, pad_hi, k, stride, dil):
    """floor((n + pads - dil*(k-1) - 1) / stride) + 1; ValueError if < 1."""
    m = (n + pad_lo + pad_hi - dil * (k - 1) - 1) // stride + 1
    if m < 1:
        raise ValueError("window (with dilation) larger than the padded input")
    return m


def _vi(idx, shape):
    """Column-major (vec) linear index of multi-index idx in an array of shape."""
    return int(np.ravel_multi_index(tuple(idx), shape, order="F"))


def _restore_ndim(y4, ndim):
    """Drop the trailing singleton dims added by _as4d (pools)."""
    if ndim == 2:
        return y4[:, :, 0, 0]
    if ndim == 3:
        return y4[:, :, :, 0]
    return y4


# ---------------------------------------------------------------------------
# convolution (cross-correlation)
# ---------------------------------------------------------------------------

def conv2d(x, K, b=None, stride=(1, 1), padding=((0, 0), (0, 0)),
           dilation=(1, 1)):
    """y[p,q,co,n] = b[co] + sum_{r,s,ci} K[r,s,ci,co] xpad[p*sh+r*dh, q*sw+s*dw, ci, n].

    Returns (Ho, Wo, C_out, N) for 4-D x, (Ho, Wo, C_out) for 2-D/3-D x.
    """
    x4, ndim = _as4d(x)
    K4 = _kernel4d(K)
    (sh, sw), ((top, bottom), (left, right)), (dh, dw) = (
        _pair(stride), _padding(padding), _pair(dilation))
    H, W, Ci, N = x4.shape
    kh, kw, Ki, Co = K4.shape
    if Ki != Ci:
        raise ValueError(f"kernel C_in={Ki} but input has C={Ci}")
    Ho = _out_size(H, top, bottom, kh, sh, dh)
    Wo = _out_size(W, left, right, kw, sw, dw)
    y = np.zeros((Ho, Wo, Co, N))
    for n in range(N):
        for co in range(Co):
            for p in range(Ho):
                for q in range(Wo):
                    acc = 0.0 if b is None else float(np.ravel(b)[co])
                    for r in range(kh):
                        for s in range(kw):
                            i = p * sh + r * dh - top      # row in unpadded x
                            j = q * sw + s * dw - left     # col in unpadded x
                            if not (0 <= i < H and 0 <= j < W):
                                continue                   # zero padding
                            for ci in range(Ci):
                                acc += K4[r, s, ci, co] * x4[i, j, ci, n]
                    y[p, q, co, n] = acc
    return y if ndim == 4 else y[:, :, :, 0]


def conv2d_jacobians(x, K, b=None, stride=(1, 1), padding=((0, 0), (0, 0)),
                     dilation=(1, 1)):
    """Dense Jacobians of conv2d: {"input": (y.size, x.size),
    "kernel": (y.size, K.size) over vec(K), "bias": (y.size, C_out)}.

    The bias Jacobian does not depend on b, so it is returned even if b is None.
    """
    x4, _ = _as4d(x)
    K4 = _kernel4d(K)
    (sh, sw), ((top, bottom), (left, right)), (dh, dw) = (
        _pair(stride), _padding(padding), _pair(dilation))
    H, W, Ci, N = x4.shape
    kh, kw, _, Co = K4.shape
    Ho = _out_size(H, top, bottom, kh, sh, dh)
    Wo = _out_size(W, left, right, kw, sw, dw)
    yshape = (Ho, Wo, Co, N)
    ysize = Ho * Wo * Co * N
    Jx = np.zeros((ysize, x4.size))
    JK = np.zeros((ysize, K4.size))
    Jb = np.zeros((ysize, Co))
    for n in range(N):
        for co in range(Co):
            for p in range(Ho):
                for q in range(Wo):
                    row = _vi((p, q, co, n), yshape)
                    Jb[row, co] = 1.0
                    for r in range(kh):
                        for s in range(kw):
                            i = p * sh + r * dh - top
                            j = q * sw + s * dw - left
                            if not (0 <= i < H and 0 <= j < W):
                                continue
                            for ci in range(Ci):
                                # dy/dx[i,j,ci,n] = K[r,s,ci,co]
                                Jx[row, _vi((i, j, ci, n), x4.shape)] += K4[r, s, ci, co]
                                # dy/dK[r,s,ci,co] = x[i,j,ci,n]
                                JK[row, _vi((r, s, ci, co), K4.shape)] += x4[i, j, ci, n]
    return {"input": Jx, "kernel": JK, "bias": Jb}


# ---------------------------------------------------------------------------
# pooling
# ---------------------------------------------------------------------------

def _pool_geometry(x4, window, stride, padding, dilation=(1, 1)):
    (kh, kw), (sh, sw) = _pair(window), _pair(stride)
    ((top, bottom), (left, right)), (dh, dw) = _padding(padding), _pair(dilation)
    H, W, C, N = x4.shape
    Ho = _out_size(H, top, bottom, kh, sh, dh)
    Wo = _out_size(W, left, right, kw, sw, dw)
    return kh, kw, sh, sw, top, left, dh, dw, Ho, Wo


def _avg_taps(x4, window, stride, padding, count_include_pad):
    """Yield (p, q, c, n, divisor, in-bounds taps [(i, j), ...], y_shape) per output."""
    H, W, C, N = x4.shape
    kh, kw, sh, sw, top, left, _, _, Ho, Wo = _pool_geometry(
        x4, window, stride, padding)
    for n in range(N):
        for c in range(C):
            for p in range(Ho):
                for q in range(Wo):
                    taps = []
                    for r in range(kh):
                        for s in range(kw):
                            i, j = p * sh + r - top, q * sw + s - left
                            if 0 <= i < H and 0 <= j < W:
                                taps.append((i, j))
                    div = kh * kw if count_include_pad else len(taps)
                    yield p, q, c, n, div, taps, (Ho, Wo, C, N)


def avgpool2d(x, window, stride, padding=0, count_include_pad=True):
    """Average pooling per channel/sample: y = sum(in-bounds taps) / divisor.

    divisor = kh*kw if count_include_pad else #taps inside the unpadded input
    (a window with no in-bounds tap gives 0).  Output has x's ndim.
    """
    x4, ndim = _as4d(x)
    _, _, _, _, _, _, _, _, Ho, Wo = _pool_geometry(x4, window, stride, padding)
    y = np.zeros((Ho, Wo) + x4.shape[2:])
    for p, q, c, n, div, taps, _ in _avg_taps(
            x4, window, stride, padding, count_include_pad):
        total = 0.0
        for (i, j) in taps:
            total += x4[i, j, c, n]
        y[p, q, c, n] = total / div if div > 0 else 0.0
    return _restore_ndim(y, ndim)


def avgpool2d_jacobian(x, window, stride, padding=0, count_include_pad=True):
    """Dense (y.size, x.size) Jacobian of avgpool2d: 1/divisor at each in-bounds tap."""
    x4, _ = _as4d(x)
    kh, kw, sh, sw, top, left, _, _, Ho, Wo = _pool_geometry(
        x4, window, stride, padding)
    yshape = (Ho, Wo) + x4.shape[2:]
    J = np.zeros((int(np.prod(yshape)), x4.size))
    for p, q, c, n, div, taps, _ in _avg_taps(
            x4, window, stride, padding, count_include_pad):
        row = _vi((p, q, c, n), yshape)
        for (i, j) in taps:
            J[row, _vi((i, j, c, n), x4.shape)] += 1.0 / div
    return J


def _tap_order(kh, kw, tie):
    """Window taps (r, s) in the order used to break ties (first max wins)."""
    if tie == "column_major":      # order index r + s*kh
        return [(r, s) for s in range(kw) for r in range(kh)]
    if tie == "row_major":         # order index s + r*kw (PyTorch CPU)
        return [(r, s) for r in range(kh) for s in range(kw)]
    raise ValueError(f"unknown tie rule {tie!r}")


def maxpool2d(x, window, stride, padding=0, dilation=(1, 1), pad_value=None,
              tie="column_major"):
    """Max pooling per channel/sample; returns (y, switches).

    pad_value=None: padding taps are ignored (never win).
    pad_value=v   : padding taps have value v and may win; then y = v and the
                    switch is -1.
    Ties: the first maximum in the tap order given by ``tie`` wins (strict >).
    switches[p,q,c,n] = vec index into the whole x of the winner, or -1.
    y and switches have x's ndim.
    """
    x4, ndim = _as4d(x)
    H, W, C, N = x4.shape
    kh, kw, sh, sw, top, left, dh, dw, Ho, Wo = _pool_geometry(
        x4, window, stride, padding, dilation)
    order = _tap_order(kh, kw, tie)
    y = np.zeros((Ho, Wo, C, N))
    sw_idx = np.full((Ho, Wo, C, N), -1, dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for p in range(Ho):
                for q in range(Wo):
                    best, winner, found = None, -1, False
                    for (r, s) in order:
                        i, j = p * sh + r * dh - top, q * sw + s * dw - left
                        if 0 <= i < H and 0 <= j < W:
                            val, idx = x4[i, j, c, n], _vi((i, j, c, n), x4.shape)
                        elif pad_value is not None:
                            val, idx = float(pad_value), -1
                        else:
                            continue           # padding never wins
                        if not found or val > best:
                            best, winner, found = val, idx, True
                    if not found:
                        raise ValueError(
                            f"window at output ({p},{q}) lies entirely in padding")
                    y[p, q, c, n] = best
                    sw_idx[p, q, c, n] = winner
    return _restore_ndim(y, ndim), _restore_ndim(sw_idx, ndim)


def maxpool2d_jacobian(x, window, stride, padding=0, dilation=(1, 1),
                       pad_value=None, tie="column_major"):
    """Dense (y.size, x.size) Jacobian of maxpool2d: a single 1 at the winner,
    an all-zero row where a padding tap wins."""
    x4, _ = _as4d(x)
    y, switches = maxpool2d(x4, window, stride, padding, dilation,
                            pad_value, tie)
    J = np.zeros((y.size, x4.size))
    Ho, Wo, C, N = y.shape
    for n in range(N):
        for c in range(C):
            for p in range(Ho):
                for q in range(Wo):
                    k = switches[p, q, c, n]
                    if k >= 0:
                        J[_vi((p, q, c, n), y.shape), k] = 1.0
    return J


# ---------------------------------------------------------------------------
# flatten
# ---------------------------------------------------------------------------

def _flat_pos(h, w, c, H, W, C, order):
    """Per-sample output position of element (h, w, c) for the given order."""
    if order == "F":
        return h + H * w + H * W * c
    if order == "C":
        return (h * W + w) * C + c
    if order == "torch":
        return (c * H + h) * W + w
    raise ValueError(f"unknown flatten order {order!r}")


def flatten(x, order="F"):
    """(H, W, C) -> (H*W*C,); (H, W, C, N) -> (H*W*C, N); (H, W) -> (H*W,).

    order "F": column-major vec; "C": row-major ravel of (H, W, C);
    "torch": transpose to (C, H, W) then row-major ravel.
    """
    x4, ndim = _as4d(x)
    H, W, C, N = x4.shape
    D = H * W * C
    out = np.zeros((D, N))
    for n in range(N):
        for c in range(C):
            for w in range(W):
                for h in range(H):
                    out[_flat_pos(h, w, c, H, W, C, order), n] = x4[h, w, c, n]
    return out if ndim == 4 else out[:, 0]


def flatten_jacobian(x, order="F"):
    """0/1 permutation matrix (x.size, x.size) of flatten."""
    x4, _ = _as4d(x)
    H, W, C, N = x4.shape
    D = H * W * C
    J = np.zeros((D * N, x4.size))
    for n in range(N):
        for c in range(C):
            for w in range(W):
                for h in range(H):
                    row = _flat_pos(h, w, c, H, W, C, order) + D * n  # vec of (D, N)
                    J[row, _vi((h, w, c, n), x4.shape)] = 1.0
    return J


# ---------------------------------------------------------------------------
# dense
# ---------------------------------------------------------------------------

def _as2d_cols(x):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        return x[:, None], 1
    if x.ndim == 2:
        return x, 2
    raise ValueError(f"expected (n,) or (n, N), got {x.shape}")


def dense(x, W, b=None):
    """z = W.T @ x + b with W (n_in, n_out), x (n_in,) or (n_in, N)."""
    x2, ndim = _as2d_cols(x)
    W = np.asarray(W, dtype=np.float64)
    n_in, n_out = W.shape
    N = x2.shape[1]
    z = np.zeros((n_out, N))
    for n in range(N):
        for o in range(n_out):
            acc = 0.0 if b is None else float(np.ravel(b)[o])
            for i in range(n_in):
                acc += W[i, o] * x2[i, n]
            z[o, n] = acc
    return z if ndim == 2 else z[:, 0]


def dense_jacobians(x, W, b=None):
    """{"input": (z.size, x.size), "weight": (z.size, W.size) over vec(W),
    "bias": (z.size, n_out)}."""
    x2, _ = _as2d_cols(x)
    W = np.asarray(W, dtype=np.float64)
    n_in, n_out = W.shape
    N = x2.shape[1]
    Jx = np.zeros((n_out * N, n_in * N))
    JW = np.zeros((n_out * N, W.size))
    Jb = np.zeros((n_out * N, n_out))
    for n in range(N):
        for o in range(n_out):
            row = o + n_out * n
            Jb[row, o] = 1.0
            for i in range(n_in):
                Jx[row, i + n_in * n] = W[i, o]          # dz/dx[i,n]
                JW[row, i + n_in * o] = x2[i, n]         # dz/dW[i,o]
    return {"input": Jx, "weight": JW, "bias": Jb}


# ---------------------------------------------------------------------------
# elementwise activations
# ---------------------------------------------------------------------------

def _elementwise(x, f):
    x = np.asarray(x, dtype=np.float64)
    flat = x.ravel(order="F")
    out = np.zeros_like(flat)
    for k in range(flat.size):
        out[k] = f(flat[k])
    return out.reshape(x.shape, order="F")


def _diag_jacobian(x, df):
    flat = np.asarray(x, dtype=np.float64).ravel(order="F")
    J = np.zeros((flat.size, flat.size))
    for k in range(flat.size):
        J[k, k] = df(flat[k])
    return J


def _sig(v):
    return 1.0 / (1.0 + np.exp(-v)) if v >= 0 else np.exp(v) / (1.0 + np.exp(v))


def relu(x):
    """max(x, 0) elementwise."""
    return _elementwise(x, lambda v: v if v > 0 else 0.0)


def relu_jacobian(x):
    """Diagonal, 1 where x > 0 (0 at x == 0)."""
    return _diag_jacobian(x, lambda v: 1.0 if v > 0 else 0.0)


def sigmoid(x):
    return _elementwise(x, _sig)


def sigmoid_jacobian(x):
    """Diagonal s(1 - s)."""
    return _diag_jacobian(x, lambda v: _sig(v) * (1.0 - _sig(v)))


def tanh(x):
    return _elementwise(x, np.tanh)


def tanh_jacobian(x):
    """Diagonal 1 - tanh^2."""
    return _diag_jacobian(x, lambda v: 1.0 - np.tanh(v) ** 2)


def softmax(z):
    """Softmax over axis 0 of (n,) or (n, N)."""
    z2, ndim = _as2d_cols(z)
    n_cls, N = z2.shape
    out = np.zeros_like(z2)
    for n in range(N):
        m = max(z2[:, n])
        tot = 0.0
        for i in range(n_cls):
            tot += np.exp(z2[i, n] - m)
        for i in range(n_cls):
            out[i, n] = np.exp(z2[i, n] - m) / tot
    return out if ndim == 2 else out[:, 0]


def softmax_jacobian(z):
    """Block diagonal over samples; block[i, j] = s_i (delta_ij - s_j)."""
    z2, _ = _as2d_cols(z)
    s = softmax(z2)
    n_cls, N = z2.shape
    J = np.zeros((z2.size, z2.size))
    for n in range(N):
        for i in range(n_cls):
            for j in range(n_cls):
                J[i + n_cls * n, j + n_cls * n] = s[i, n] * ((i == j) - s[j, n])
    return J


# ---------------------------------------------------------------------------
# losses
# ---------------------------------------------------------------------------

def mse(y, t):
    """L = mean((y - t)**2) over all entries."""
    yf = np.asarray(y, dtype=np.float64).ravel(order="F")
    tf = np.asarray(t, dtype=np.float64).ravel(order="F")
    tot = 0.0
    for k in range(yf.size):
        tot += (yf[k] - tf[k]) ** 2
    return tot / yf.size


def mse_gradient(y, t):
    """Row (1, y.size): dL/dvec(y) = 2 (y - t) / y.size."""
    yf = np.asarray(y, dtype=np.float64).ravel(order="F")
    tf = np.asarray(t, dtype=np.float64).ravel(order="F")
    g = np.zeros((1, yf.size))
    for k in range(yf.size):
        g[0, k] = 2.0 * (yf[k] - tf[k]) / yf.size
    return g


def _labels(labels, N):
    lab = np.atleast_1d(np.asarray(labels)).astype(np.int64)
    if lab.shape != (N,):
        raise ValueError(f"expected {N} labels, got shape {lab.shape}")
    return lab


def softmax_cross_entropy(z, labels):
    """L = mean_n -log softmax(z[:, n])[labels[n]]; z (n_classes,) or (n_classes, N)."""
    z2, _ = _as2d_cols(z)
    n_cls, N = z2.shape
    lab = _labels(labels, N)
    tot = 0.0
    for n in range(N):
        m = max(z2[:, n])
        lse = m + np.log(sum(np.exp(z2[i, n] - m) for i in range(n_cls)))
        tot += lse - z2[lab[n], n]
    return tot / N


def softmax_cross_entropy_gradient(z, labels):
    """Row (1, z.size): (softmax(z) - onehot(labels)) / N in vec order."""
    z2, _ = _as2d_cols(z)
    n_cls, N = z2.shape
    lab = _labels(labels, N)
    s = softmax(z2)
    g = np.zeros((1, z2.size))
    for n in range(N):
        for i in range(n_cls):
            g[0, i + n_cls * n] = (s[i, n] - (1.0 if i == lab[n] else 0.0)) / N
    return g
