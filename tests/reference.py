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
* Options beyond the basic geometry, each written from its definition:
  conv ``groups`` and ``padding_mode`` (what the padding holds, ``_source``)
  and ``padding="same"/"valid"``; pooling ``ceil_mode`` (``_out_size``),
  the average-pool divisor incl. ``divisor_override`` (``_avg_taps``).

Output shapes of the spatial ops: internally everything is 4-D
(H, W, C, N).  ``conv2d`` returns (Ho, Wo, C_out, N) for 4-D x and
(Ho, Wo, C_out) for 2-D / 3-D x.  The pools return an array with the same
number of dims as x ((Ho, Wo), (Ho, Wo, C) or (Ho, Wo, C, N)).  vec() of
the result is the same either way.
"""

import math

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


def _out_size(n, pad_lo, pad_hi, k, stride, dil, ceil_mode=False):
    """floor((n + pads - dil*(k-1) - 1) / stride) + 1; ValueError if < 1.

    ceil_mode (PyTorch's pooling rule): round up instead, then drop the last
    window if it would start in the high-side padding, i.e. if
    (m - 1) * stride >= n + pad_lo.
    """
    span = dil * (k - 1) + 1
    room = n + pad_lo + pad_hi - span
    if room < 0:
        raise ValueError("window (with dilation) larger than the padded input")
    if not ceil_mode:
        return room // stride + 1
    m = math.ceil(room / stride) + 1
    if (m - 1) * stride >= n + pad_lo:
        m -= 1
    return m


def _source(i, n, mode):
    """Index of the unpadded input that padded coordinate i (-pad <= i < n + pad) reads.

    mode "zeros": None outside [0, n) (the padding is a constant 0).
    mode "reflect":   ... x2 x1 | x0 x1 ... x(n-1) | x(n-2) ...  (edge not repeated)
    mode "replicate": ... x0 x0 | x0 x1 ... x(n-1) | x(n-1) ...
    mode "circular":  ... x(n-1) | x0 x1 ... x(n-1) | x0 ...
    """
    if 0 <= i < n:
        return i
    if mode == "zeros":
        return None
    if mode == "reflect":
        return -i if i < 0 else 2 * (n - 1) - i
    if mode == "replicate":
        return 0 if i < 0 else n - 1
    if mode == "circular":
        return i + n if i < 0 else i - n
    raise ValueError(f"unknown padding mode {mode!r}")


def _conv_padding(padding, kh, kw, dilation):
    """Resolve "same" (total dil*(k-1) per axis, the odd one at the end) and "valid"."""
    if isinstance(padding, str):
        dh, dw = _pair(dilation)
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding == "same":
            th, tw = dh * (kh - 1), dw * (kw - 1)
            return ((th // 2, th - th // 2), (tw // 2, tw - tw // 2))
        raise ValueError(f"bad padding {padding!r}")
    return _padding(padding)


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

def _conv_terms(x4, K4, stride, padding, dilation, groups, padding_mode):
    """Yield (p, q, co, n, [(r, s, ci_local, i, j, ci), ...], y_shape).

    One list per output entry: every product K[r, s, ci_local, co] * x[i, j, ci, n]
    that enters y[p, q, co, n].  Output channel co belongs to group
    g = co // (C_out / groups) and reads input channels g*C_in/groups + ci_local.
    A copying padding mode can make the same (i, j) appear for several taps.
    """
    H, W, Ci, N = x4.shape
    kh, kw, Ki, Co = K4.shape
    if Ki * groups != Ci or Co % groups:
        raise ValueError(f"kernel {K4.shape} with groups={groups} does not fit C={Ci}")
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    (top, bottom), (left, right) = _conv_padding(padding, kh, kw, dilation)
    Ho = _out_size(H, top, bottom, kh, sh, dh)
    Wo = _out_size(W, left, right, kw, sw, dw)
    for n in range(N):
        for co in range(Co):
            g = co // (Co // groups)
            for p in range(Ho):
                for q in range(Wo):
                    terms = []
                    for r in range(kh):
                        for s in range(kw):
                            i = _source(p * sh + r * dh - top, H, padding_mode)
                            j = _source(q * sw + s * dw - left, W, padding_mode)
                            if i is None or j is None:
                                continue                   # zero padding
                            for c in range(Ki):
                                terms.append((r, s, c, i, j, g * Ki + c))
                    yield p, q, co, n, terms, (Ho, Wo, Co, N)


def conv2d(x, K, b=None, stride=(1, 1), padding=((0, 0), (0, 0)),
           dilation=(1, 1), groups=1, padding_mode="zeros"):
    """y[p,q,co,n] = b[co] + sum_{r,s,c} K[r,s,c,co] xpad[p*sh+r*dh, q*sw+s*dw, g*Ki+c, n].

    K is (kh, kw, C_in/groups, C_out); padding may be "same" / "valid";
    padding_mode says what xpad holds outside x (see _source).
    Returns (Ho, Wo, C_out, N) for 4-D x, (Ho, Wo, C_out) for 2-D/3-D x.
    """
    x4, ndim = _as4d(x)
    K4 = _kernel4d(K)
    y = None
    for p, q, co, n, terms, yshape in _conv_terms(x4, K4, stride, padding, dilation,
                                                  groups, padding_mode):
        if y is None:
            y = np.zeros(yshape)
        acc = 0.0 if b is None else float(np.ravel(b)[co])
        for (r, s, c, i, j, ci) in terms:
            acc += K4[r, s, c, co] * x4[i, j, ci, n]
        y[p, q, co, n] = acc
    return y if ndim == 4 else y[:, :, :, 0]


def conv2d_jacobians(x, K, b=None, stride=(1, 1), padding=((0, 0), (0, 0)),
                     dilation=(1, 1), groups=1, padding_mode="zeros"):
    """Dense Jacobians of conv2d: {"input": (y.size, x.size),
    "kernel": (y.size, K.size) over vec(K), "bias": (y.size, C_out)}.

    The bias Jacobian does not depend on b, so it is returned even if b is None.
    Where one input entry feeds several taps (copying padding modes) its
    Jacobian entry is the sum of their kernel values (the += below).
    """
    x4, _ = _as4d(x)
    K4 = _kernel4d(K)
    rows = list(_conv_terms(x4, K4, stride, padding, dilation, groups, padding_mode))
    yshape = rows[0][-1]
    ysize = int(np.prod(yshape))
    Co = K4.shape[3]
    Jx = np.zeros((ysize, x4.size))
    JK = np.zeros((ysize, K4.size))
    Jb = np.zeros((ysize, Co))
    for p, q, co, n, terms, _ in rows:
        row = _vi((p, q, co, n), yshape)
        Jb[row, co] = 1.0
        for (r, s, c, i, j, ci) in terms:
            # dy/dx[i,j,ci,n] += K[r,s,c,co]; dy/dK[r,s,c,co] = x[i,j,ci,n]
            Jx[row, _vi((i, j, ci, n), x4.shape)] += K4[r, s, c, co]
            JK[row, _vi((r, s, c, co), K4.shape)] += x4[i, j, ci, n]
    return {"input": Jx, "kernel": JK, "bias": Jb}


# ---------------------------------------------------------------------------
# pooling
# ---------------------------------------------------------------------------

def _pool_geometry(x4, window, stride, padding, dilation=(1, 1), ceil_mode=False):
    (kh, kw), (sh, sw) = _pair(window), _pair(stride)
    ((top, bottom), (left, right)), (dh, dw) = _padding(padding), _pair(dilation)
    H, W, C, N = x4.shape
    Ho = _out_size(H, top, bottom, kh, sh, dh, ceil_mode)
    Wo = _out_size(W, left, right, kw, sw, dw, ceil_mode)
    return kh, kw, sh, sw, top, left, dh, dw, Ho, Wo


def _avg_taps(x4, window, stride, padding, count_include_pad, ceil_mode=False,
              divisor_override=None, dilation=(1, 1)):
    """Yield (p, q, c, n, divisor, in-bounds taps [(i, j), ...], y_shape) per output.

    divisor (PyTorch's rule): divisor_override if given; else, with
    count_include_pad, the number of taps inside the padded input (a ceil_mode
    window hanging past the padding does not count the overhang); else the
    number of taps inside the unpadded input.
    """
    H, W, C, N = x4.shape
    (top, bottom), (left, right) = _padding(padding)
    kh, kw, sh, sw, top, left, dh, dw, Ho, Wo = _pool_geometry(
        x4, window, stride, padding, dilation, ceil_mode)
    for n in range(N):
        for c in range(C):
            for p in range(Ho):
                for q in range(Wo):
                    taps, in_padded = [], 0
                    for r in range(kh):
                        for s in range(kw):
                            i, j = p * sh + r * dh - top, q * sw + s * dw - left
                            if -top <= i < H + bottom and -left <= j < W + right:
                                in_padded += 1
                            if 0 <= i < H and 0 <= j < W:
                                taps.append((i, j))
                    if divisor_override is not None:
                        div = divisor_override
                    else:
                        div = in_padded if count_include_pad else len(taps)
                    yield p, q, c, n, div, taps, (Ho, Wo, C, N)


def avgpool2d(x, window, stride, padding=0, count_include_pad=True, ceil_mode=False,
              divisor_override=None, dilation=(1, 1)):
    """Average pooling per channel/sample: y = sum(in-bounds taps) / divisor.

    divisor: see _avg_taps (a window with no in-bounds tap and divisor 0 gives 0; a negative
    divisor_override flips the sign, as in PyTorch).
    Output has x's ndim.
    """
    x4, ndim = _as4d(x)
    rows = list(_avg_taps(x4, window, stride, padding, count_include_pad, ceil_mode,
                          divisor_override, dilation))
    y = np.zeros(rows[0][-1])
    for p, q, c, n, div, taps, _ in rows:
        total = 0.0
        for (i, j) in taps:
            total += x4[i, j, c, n]
        y[p, q, c, n] = total / div if div != 0 else 0.0
    return _restore_ndim(y, ndim)


def avgpool2d_jacobian(x, window, stride, padding=0, count_include_pad=True, ceil_mode=False,
                       divisor_override=None, dilation=(1, 1)):
    """Dense (y.size, x.size) Jacobian of avgpool2d: 1/divisor at each in-bounds tap."""
    x4, _ = _as4d(x)
    rows = list(_avg_taps(x4, window, stride, padding, count_include_pad, ceil_mode,
                          divisor_override, dilation))
    yshape = rows[0][-1]
    J = np.zeros((int(np.prod(yshape)), x4.size))
    for p, q, c, n, div, taps, _ in rows:
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
              tie="column_major", ceil_mode=False):
    """Max pooling per channel/sample; returns (y, switches).

    pad_value=None: padding taps are ignored (never win).
    pad_value=v   : padding taps have value v and may win; then y = v and the
                    switch is -1.
    ceil_mode     : PyTorch's output size (see _out_size); taps of a window
                    hanging past the padding do not exist (never win, even
                    with pad_value).
    Ties: the first maximum in the tap order given by ``tie`` wins (strict >).
    switches[p,q,c,n] = vec index into the whole x of the winner, or -1.
    y and switches have x's ndim.
    """
    x4, ndim = _as4d(x)
    H, W, C, N = x4.shape
    (_, bottom), (_, right) = _padding(padding)
    kh, kw, sh, sw, top, left, dh, dw, Ho, Wo = _pool_geometry(
        x4, window, stride, padding, dilation, ceil_mode)
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
                        elif (pad_value is not None and -top <= i < H + bottom
                              and -left <= j < W + right):
                            val, idx = float(pad_value), -1
                        else:
                            continue           # padding never wins; overhang never exists
                        if not found or val > best:
                            best, winner, found = val, idx, True
                    if not found:
                        raise ValueError(
                            f"window at output ({p},{q}) lies entirely in padding")
                    y[p, q, c, n] = best
                    sw_idx[p, q, c, n] = winner
    return _restore_ndim(y, ndim), _restore_ndim(sw_idx, ndim)


def maxpool2d_jacobian(x, window, stride, padding=0, dilation=(1, 1),
                       pad_value=None, tie="column_major", ceil_mode=False):
    """Dense (y.size, x.size) Jacobian of maxpool2d: a single 1 at the winner,
    an all-zero row where a padding tap wins."""
    x4, _ = _as4d(x)
    y, switches = maxpool2d(x4, window, stride, padding, dilation,
                            pad_value, tie, ceil_mode)
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
