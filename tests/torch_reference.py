"""PyTorch-based reference implementations for the ``jacobian_cnn`` tests.

Forward passes use torch.nn.functional; Jacobians come from
``torch.func.jacrev`` in float64 and are permuted into our vec order.

Layout bridge
-------------
Our arrays: feature maps (H, W, C, N), conv kernels (kh, kw, C_in, C_out),
dense weights (n_in, n_out), column batches (n, N); vec = ravel(order="F").
Torch: (N, C, H, W), weight (C_out, C_in, kh, kw), linear weight
(n_out, n_in), row batches (N, n); torch flattens row-major.

If ``t = ours.transpose(perm)`` is the torch-layout tensor, ``_vec_to_torch``
gives, for every position of vec(ours), the flat row-major index in t.  A
torch Jacobian reshaped to (out.numel(), in.numel()) is then reordered as
``J_ours = J_torch[row_map][:, col_map]``.

Geometry conventions are the same as in ``reference.py``
(stride=(sh, sw), padding=((top, bottom), (left, right)), dilation=(dh, dw)).
Conv ``groups``/``padding_mode`` follow ``nn.Conv2d`` (``F.pad(mode=...)`` then
``F.conv2d``; ``padding="same"/"valid"`` go to ``F.conv2d`` as strings); pooling
``ceil_mode``/``divisor_override`` go to torch's own pooling functions, which need
symmetric padding <= window/2.
Spatial outputs are returned as 4-D (Ho, Wo, C, N) arrays (vec is unchanged
by the trailing singleton dims).
"""

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from reference import _as4d as _reference_as4d  # argument normalization only
from reference import _kernel4d, _padding, _pair
from torch.func import jacrev

__all__ = [
    "conv2d", "conv2d_jacobians",
    "avgpool2d", "avgpool2d_jacobian",
    "maxpool2d", "maxpool2d_switches", "maxpool2d_jacobian",
    "flatten", "flatten_jacobian",
    "dense", "dense_jacobians",
    "relu_jacobian", "sigmoid_jacobian", "tanh_jacobian", "softmax_jacobian",
    "mse_gradient", "softmax_cross_entropy_gradient",
]

DTYPE = torch.float64
HWCN_TO_NCHW = (3, 2, 0, 1)   # ours (H,W,C,N) -> torch (N,C,H,W); same for kernels
COLS_TO_ROWS = (1, 0)         # ours (n, N) -> torch (N, n); ours W (n_in,n_out) -> (n_out,n_in)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _as4d(x):
    return _reference_as4d(x)[0]


def _as_cols(x):
    x = np.asarray(x, dtype=np.float64)
    return x[:, None] if x.ndim == 1 else x


def _vec_to_torch(our_shape, perm):
    """map[k] = row-major flat index in ours.transpose(perm) of vec(ours)[k]."""
    our_shape = tuple(our_shape)
    torch_shape = tuple(our_shape[a] for a in perm)
    tidx = np.arange(int(np.prod(our_shape))).reshape(torch_shape)
    return tidx.transpose(np.argsort(perm)).ravel(order="F")


def _to_torch(a, perm):
    return torch.tensor(np.ascontiguousarray(np.transpose(a, perm)), dtype=DTYPE)


def _from_torch(t, perm):
    return np.transpose(t.detach().numpy(), np.argsort(perm))


def _reorder(J, out_numel, in_numel, row_map, col_map):
    J = J.detach().reshape(out_numel, in_numel).numpy()
    return J[row_map][:, col_map]


# ---------------------------------------------------------------------------
# convolution
# ---------------------------------------------------------------------------

def _conv_fn(stride, padding, dilation, groups=1, padding_mode="zeros"):
    kw = dict(stride=_pair(stride), dilation=_pair(dilation), groups=groups)
    if isinstance(padding, str):                      # "same" / "valid": torch's own rule
        if padding_mode == "zeros":
            def same(xt, wt, bt):
                with warnings.catch_warnings():   # torch's performance hint for even kernels
                    warnings.filterwarnings("ignore", message="Using padding='same'")
                    return F.conv2d(xt, wt, bt, padding=padding, **kw)
            return same

        def f(xt, wt, bt):                            # "same" resolved per kernel, as nn.Conv2d
            (dh, dw), (kh, kw_) = _pair(dilation), wt.shape[2:]
            th, tw = (dh * (kh - 1), dw * (kw_ - 1)) if padding == "same" else (0, 0)
            xp = F.pad(xt, (tw // 2, tw - tw // 2, th // 2, th - th // 2), mode=padding_mode)
            return F.conv2d(xp, wt, bt, padding=0, **kw)
        return f
    (top, bottom), (left, right) = _padding(padding)
    mode = "constant" if padding_mode == "zeros" else padding_mode

    def f(xt, wt, bt):
        xp = F.pad(xt, (left, right, top, bottom), mode=mode)   # nn.Conv2d's way
        return F.conv2d(xp, wt, bt, padding=0, **kw)
    return f


def conv2d(x, K, b=None, stride=(1, 1), padding=((0, 0), (0, 0)),
           dilation=(1, 1), groups=1, padding_mode="zeros"):
    """Cross-correlation via F.pad + F.conv2d; returns (Ho, Wo, C_out, N)."""
    x4, K4 = _as4d(x), _kernel4d(K)
    bt = None if b is None else torch.tensor(np.ravel(b), dtype=DTYPE)
    y = _conv_fn(stride, padding, dilation, groups, padding_mode)(
        _to_torch(x4, HWCN_TO_NCHW), _to_torch(K4, HWCN_TO_NCHW), bt)
    return _from_torch(y, HWCN_TO_NCHW)


def conv2d_jacobians(x, K, b=None, stride=(1, 1), padding=((0, 0), (0, 0)),
                     dilation=(1, 1), groups=1, padding_mode="zeros"):
    """{"input", "kernel", "bias"} Jacobians via jacrev, in our vec order."""
    x4, K4 = _as4d(x), _kernel4d(K)
    Co = K4.shape[3]
    xt, wt = _to_torch(x4, HWCN_TO_NCHW), _to_torch(K4, HWCN_TO_NCHW)
    bt = (torch.zeros(Co, dtype=DTYPE) if b is None
          else torch.tensor(np.ravel(b), dtype=DTYPE))
    f = _conv_fn(stride, padding, dilation, groups, padding_mode)
    y = f(xt, wt, bt)
    Jx, Jw, Jb = jacrev(f, argnums=(0, 1, 2))(xt, wt, bt)
    y_ours_shape = tuple(y.shape[a] for a in np.argsort(HWCN_TO_NCHW))
    rows = _vec_to_torch(y_ours_shape, HWCN_TO_NCHW)
    return {
        "input": _reorder(Jx, y.numel(), xt.numel(), rows,
                          _vec_to_torch(x4.shape, HWCN_TO_NCHW)),
        "kernel": _reorder(Jw, y.numel(), wt.numel(), rows,
                           _vec_to_torch(K4.shape, HWCN_TO_NCHW)),
        "bias": _reorder(Jb, y.numel(), Co, rows, np.arange(Co)),
    }


# ---------------------------------------------------------------------------
# pooling
# ---------------------------------------------------------------------------

def _avg_fn(window, stride, padding, count_include_pad, ceil_mode=False,
            divisor_override=None):
    """torch avg-pool closure on (N,C,H,W).

    Symmetric padding <= half the window: native F.avg_pool2d (every
    count_include_pad / ceil_mode / divisor_override combination).  Otherwise
    only the plain count_include_pad=True case is supported (F.pad with zeros,
    then pool with divisor kh*kw); anything else raises NotImplementedError.
    """
    k, s = _pair(window), _pair(stride)
    (top, bottom), (left, right) = _padding(padding)
    native = (top == bottom and left == right
              and 2 * top <= k[0] and 2 * left <= k[1])
    if native:
        return lambda xt: F.avg_pool2d(xt, k, s, (top, left), ceil_mode=ceil_mode,
                                       count_include_pad=count_include_pad,
                                       divisor_override=divisor_override)
    if not count_include_pad or ceil_mode or divisor_override is not None:
        raise NotImplementedError(
            "torch avg_pool2d needs symmetric padding <= window/2 for "
            "count_include_pad=False, ceil_mode or divisor_override")
    return lambda xt: F.avg_pool2d(F.pad(xt, (left, right, top, bottom)), k, s, 0)


def avgpool2d(x, window, stride, padding=0, count_include_pad=True, ceil_mode=False,
              divisor_override=None):
    """Average pooling via torch; returns (Ho, Wo, C, N)."""
    y = _avg_fn(window, stride, padding, count_include_pad, ceil_mode, divisor_override)(
        _to_torch(_as4d(x), HWCN_TO_NCHW))
    return _from_torch(y, HWCN_TO_NCHW)


def _map_jacobian(f, x):
    """jacrev of ``f`` (an NCHW map to an NCHW map) at our ``x``, rows and columns in vec order."""
    x4 = _as4d(x)
    xt = _to_torch(x4, HWCN_TO_NCHW)
    y = f(xt)
    J = jacrev(f)(xt)
    y_ours_shape = tuple(y.shape[a] for a in np.argsort(HWCN_TO_NCHW))
    return _reorder(J, y.numel(), xt.numel(),
                    _vec_to_torch(y_ours_shape, HWCN_TO_NCHW),
                    _vec_to_torch(x4.shape, HWCN_TO_NCHW))


def avgpool2d_jacobian(x, window, stride, padding=0, count_include_pad=True, ceil_mode=False,
                       divisor_override=None):
    """Dense (y.size, x.size) Jacobian of torch avg pooling in our vec order."""
    return _map_jacobian(_avg_fn(window, stride, padding, count_include_pad, ceil_mode,
                                 divisor_override), x)


def _max_fn(window, stride, padding, dilation, pad_value, ceil_mode=False):
    """torch max-pool closure returning (y, indices, (top, left, Wp)).

    pad_value=None with symmetric padding <= window/2: native F.max_pool2d
    (padding never wins; ceil_mode passed on).  Otherwise the input is
    F.pad-ed with pad_value (-inf when None) and pooled without padding;
    indices then refer to the padded plane of width Wp (ceil_mode is then
    NotImplementedError: torch's rule is stated relative to its own padding).
    Ties follow torch CPU (row-major first max).
    """
    k, s, d = _pair(window), _pair(stride), _pair(dilation)
    (top, bottom), (left, right) = _padding(padding)
    native = (pad_value is None and top == bottom and left == right
              and 2 * top <= k[0] and 2 * left <= k[1])
    if ceil_mode and not native:
        raise NotImplementedError("ceil_mode needs torch's own padding (symmetric, <= window/2)")

    def f(xt):
        if native:
            y, idx = F.max_pool2d(xt, k, s, (top, left), d, ceil_mode=ceil_mode,
                                  return_indices=True)
            return y, idx, (0, 0, xt.shape[3])
        fill = float("-inf") if pad_value is None else float(pad_value)
        xp = F.pad(xt, (left, right, top, bottom), value=fill)
        y, idx = F.max_pool2d(xp, k, s, 0, d, return_indices=True)
        return y, idx, (top, left, xp.shape[3])
    return f


def maxpool2d(x, window, stride, padding=0, dilation=(1, 1), pad_value=None,
              ceil_mode=False):
    """Max pooling via torch; returns (y, switches), both (Ho, Wo, C, N)."""
    return (_from_torch(_max_fn(window, stride, padding, dilation, pad_value, ceil_mode)(
        _to_torch(_as4d(x), HWCN_TO_NCHW))[0], HWCN_TO_NCHW),
        maxpool2d_switches(x, window, stride, padding, dilation, pad_value, ceil_mode))


def maxpool2d_switches(x, window, stride, padding=0, dilation=(1, 1),
                       pad_value=None, ceil_mode=False):
    """Winner vec index into the whole x (our layout), -1 where padding wins.

    torch's return_indices gives h*W + w inside each (n, c) plane; convert to
    np.ravel_multi_index((h, w, c, n), x.shape, order="F").
    """
    x4 = _as4d(x)
    H, W, C, N = x4.shape
    _, idx, (top, left, Wp) = _max_fn(window, stride, padding, dilation,
                                      pad_value, ceil_mode)(_to_torch(x4, HWCN_TO_NCHW))
    idx = _from_torch(idx, HWCN_TO_NCHW).astype(np.int64)   # (Ho, Wo, C, N)
    h, w = idx // Wp - top, idx % Wp - left
    c = np.arange(C)[None, None, :, None] + np.zeros_like(idx)
    n = np.arange(N)[None, None, None, :] + np.zeros_like(idx)
    inside = (h >= 0) & (h < H) & (w >= 0) & (w < W)
    out = np.full(idx.shape, -1, dtype=np.int64)
    out[inside] = np.ravel_multi_index(
        (h[inside], w[inside], c[inside], n[inside]), x4.shape, order="F")
    return out


def maxpool2d_jacobian(x, window, stride, padding=0, dilation=(1, 1),
                       pad_value=None, ceil_mode=False):
    """Dense (y.size, x.size) Jacobian of torch max pooling in our vec order.

    Where a padding tap wins (only possible with pad_value set) the gradient
    flows into the F.pad region and is dropped, giving an all-zero row.
    """
    g = _max_fn(window, stride, padding, dilation, pad_value, ceil_mode)
    return _map_jacobian(lambda t: g(t)[0], x)


# ---------------------------------------------------------------------------
# flatten
# ---------------------------------------------------------------------------

def _flatten_fn(order):
    """(N, C, H, W) -> (N, D) with the per-sample order of ``order``."""
    if order == "torch":
        return lambda t: t.reshape(t.shape[0], -1)
    if order == "C":                                  # row-major of (H, W, C)
        return lambda t: t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)
    if order == "F":                                  # column-major of (H, W, C)
        return lambda t: t.permute(0, 1, 3, 2).reshape(t.shape[0], -1)
    raise ValueError(f"unknown flatten order {order!r}")


def flatten(x, order="F"):
    """(H, W[, C]) -> (D,), (H, W, C, N) -> (D, N) via torch reshapes."""
    x = np.asarray(x, dtype=np.float64)
    out = _flatten_fn(order)(_to_torch(_as4d(x), HWCN_TO_NCHW)).numpy().T
    return out if x.ndim == 4 else out[:, 0]


def flatten_jacobian(x, order="F"):
    """Permutation matrix of flatten, from jacrev, in our vec order."""
    x4 = _as4d(x)
    xt = _to_torch(x4, HWCN_TO_NCHW)
    f = _flatten_fn(order)
    y = f(xt)                                        # torch (N, D) = ours (D, N)
    J = jacrev(f)(xt)
    return _reorder(J, y.numel(), xt.numel(),
                    _vec_to_torch((y.shape[1], y.shape[0]), COLS_TO_ROWS),
                    _vec_to_torch(x4.shape, HWCN_TO_NCHW))


# ---------------------------------------------------------------------------
# dense
# ---------------------------------------------------------------------------

def dense(x, W, b=None):
    """z = W.T @ x + b via F.linear."""
    x = np.asarray(x, dtype=np.float64)
    bt = None if b is None else torch.tensor(np.ravel(b), dtype=DTYPE)
    z = F.linear(_to_torch(_as_cols(x), COLS_TO_ROWS),
                 _to_torch(np.asarray(W, dtype=np.float64), COLS_TO_ROWS), bt)
    z = z.numpy().T
    return z if x.ndim == 2 else z[:, 0]


def dense_jacobians(x, W, b=None):
    """{"input", "weight", "bias"} Jacobians of F.linear in our vec order."""
    x2, W = _as_cols(x), np.asarray(W, dtype=np.float64)
    n_in, n_out = W.shape
    N = x2.shape[1]
    xt, wt = _to_torch(x2, COLS_TO_ROWS), _to_torch(W, COLS_TO_ROWS)
    bt = (torch.zeros(n_out, dtype=DTYPE) if b is None
          else torch.tensor(np.ravel(b), dtype=DTYPE))
    Jx, Jw, Jb = jacrev(F.linear, argnums=(0, 1, 2))(xt, wt, bt)
    rows = _vec_to_torch((n_out, N), COLS_TO_ROWS)
    return {
        "input": _reorder(Jx, n_out * N, xt.numel(), rows,
                          _vec_to_torch(x2.shape, COLS_TO_ROWS)),
        "weight": _reorder(Jw, n_out * N, wt.numel(), rows,
                           _vec_to_torch(W.shape, COLS_TO_ROWS)),
        "bias": _reorder(Jb, n_out * N, n_out, rows, np.arange(n_out)),
    }


# ---------------------------------------------------------------------------
# activations (any shape; torch tensor kept in our layout, row-major storage)
# ---------------------------------------------------------------------------

def _elementwise_jacobian(x, fn):
    x = np.asarray(x, dtype=np.float64)
    identity = tuple(range(x.ndim))
    xt = torch.tensor(x, dtype=DTYPE)
    J = jacrev(fn)(xt)
    m = _vec_to_torch(x.shape, identity)             # vec (F) -> row-major (C)
    return _reorder(J, x.size, x.size, m, m)


def relu_jacobian(x):
    return _elementwise_jacobian(x, torch.relu)


def sigmoid_jacobian(x):
    return _elementwise_jacobian(x, torch.sigmoid)


def tanh_jacobian(x):
    return _elementwise_jacobian(x, torch.tanh)


def softmax_jacobian(z):
    """Softmax over our axis 0 (torch dim 1 after the (n, N) -> (N, n) bridge)."""
    z2 = _as_cols(z)
    zt = _to_torch(z2, COLS_TO_ROWS)
    J = jacrev(lambda t: torch.softmax(t, dim=1))(zt)
    m = _vec_to_torch(z2.shape, COLS_TO_ROWS)
    return _reorder(J, z2.size, z2.size, m, m)


# ---------------------------------------------------------------------------
# losses
# ---------------------------------------------------------------------------

def mse_gradient(y, t):
    """(1, y.size) gradient of F.mse_loss (mean) in our vec order."""
    y = np.asarray(y, dtype=np.float64)
    yt = torch.tensor(y, dtype=DTYPE)
    tt = torch.tensor(np.asarray(t, dtype=np.float64), dtype=DTYPE)
    J = jacrev(lambda a: F.mse_loss(a, tt))(yt)
    return _reorder(J, 1, y.size, np.array([0]),
                    _vec_to_torch(y.shape, tuple(range(y.ndim))))


def softmax_cross_entropy_gradient(z, labels):
    """(1, z.size) gradient of F.cross_entropy (mean over samples)."""
    z2 = _as_cols(z)
    lab = torch.tensor(np.atleast_1d(np.asarray(labels)).astype(np.int64))
    zt = _to_torch(z2, COLS_TO_ROWS)
    J = jacrev(lambda a: F.cross_entropy(a, lab))(zt)
    return _reorder(J, 1, z2.size, np.array([0]),
                    _vec_to_torch(z2.shape, COLS_TO_ROWS))
