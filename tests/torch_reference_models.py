"""PyTorch references of the layers of imported PyTorch models (``MODEL_CASES``).

``torch.nn.functional`` on NCHW (or ``(N, n)``) tensors, ``torch.func.jacrev`` in float64,
rows and columns permuted into our ``vec`` order with the helpers of ``torch_reference.py``.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import jacrev
from torch_reference import (
    COLS_TO_ROWS,
    HWCN_TO_NCHW,
    _as4d,
    _elementwise_jacobian,
    _map_jacobian,
    _reorder,
    _to_torch,
    _vec_to_torch,
)

__all__ = ["batch_norm_jacobians", "layer_norm_jacobians", "map_jacobian", "elementwise_jacobian",
           "log_softmax_jacobian", "MAP_FUNCTIONS", "ELEMENTWISE"]


def _pad_args(padding):
    (top, bottom), (left, right) = padding
    return (left, right, top, bottom)


MAP_FUNCTIONS = {
    "zeropad": lambda o: lambda t: F.pad(t, _pad_args(o["padding"])),
    "constantpad": lambda o: lambda t: F.pad(t, _pad_args(o["padding"]), value=o.get("value", 0.0)),
    "reflectionpad": lambda o: lambda t: F.pad(t, _pad_args(o["padding"]), mode="reflect"),
    "replicationpad": lambda o: lambda t: F.pad(t, _pad_args(o["padding"]), mode="replicate"),
    "upsample": lambda o: lambda t: F.interpolate(
        t, size=o.get("size"), scale_factor=o.get("scale_factor"), mode=o.get("mode", "nearest"),
        align_corners=o.get("align_corners")),
    "adaptiveavgpool": lambda o: lambda t: F.adaptive_avg_pool2d(t, o["output_size"]),
    "globalavgpool": lambda o: lambda t: F.adaptive_avg_pool2d(t, 1),
}
"""op -> options -> a function of NCHW tensors (padding as ``((top, bottom), (left, right))``)."""


def _padding_pairs(o):
    p = o.get("padding")
    if p is None:
        return o
    if np.isscalar(p):
        p = ((p, p), (p, p))
    return {**o, "padding": p}


def map_jacobian(x, op, options):
    return _map_jacobian(MAP_FUNCTIONS[op](_padding_pairs(options)), x)


def map_forward(x, op, options):
    t = _to_torch(_as4d(x), HWCN_TO_NCHW)
    y = MAP_FUNCTIONS[op](_padding_pairs(options))(t).numpy()
    return y.transpose(np.argsort(HWCN_TO_NCHW))


ELEMENTWISE = {
    "identity": lambda o: (lambda t: t),
    "leakyrelu": lambda o: (lambda t: F.leaky_relu(t, o.get("negative_slope", 0.01))),
    "elu": lambda o: (lambda t: F.elu(t, o.get("alpha", 1.0))),
    "gelu": lambda o: (lambda t: F.gelu(t, approximate=o.get("approximate", "none"))),
    "softplus": lambda o: (lambda t: F.softplus(t, o.get("beta", 1.0), o.get("threshold", 20.0))),
}


def elementwise_jacobian(x, op, options):
    return _elementwise_jacobian(x, ELEMENTWISE[op](options))


def dropout_jacobian(x, mask, p):
    m = torch.tensor(np.asarray(mask, dtype=np.float64))
    return _elementwise_jacobian(x, lambda t: t * m / (1 - p))


def log_softmax_jacobian(z):
    z2 = np.asarray(z, dtype=np.float64)
    z2 = z2[:, None] if z2.ndim == 1 else z2
    zt = _to_torch(z2, COLS_TO_ROWS)
    J = jacrev(lambda t: torch.log_softmax(t, dim=1))(zt)
    m = _vec_to_torch(z2.shape, COLS_TO_ROWS)
    return _reorder(J, z2.size, z2.size, m, m)


def _norm_jacobians(x, x_perm, param_perm, fn, gamma, beta):
    """jacrev of ``fn(x, gamma, beta)`` wrt each argument, in our vec order."""
    xt = _to_torch(x, x_perm)
    args = {"input": xt, "gamma": _to_torch(gamma, param_perm)}
    if beta is not None:
        args["beta"] = _to_torch(beta, param_perm)
    names = list(args)
    y = fn(*args.values()) if beta is not None else fn(args["input"], args["gamma"], None)
    rows = _vec_to_torch(x.shape, x_perm)
    out = {}
    for k, name in enumerate(names):
        J = jacrev(lambda *a: fn(*a) if beta is not None else fn(a[0], a[1], None), argnums=k)(
            *args.values())
        cols = rows if name == "input" else _vec_to_torch(np.shape(gamma), param_perm)
        out[name] = _reorder(J, y.numel(), args[name].numel(), rows, cols)
    return out


def batch_norm_jacobians(x, gamma, beta, eps=1e-5, training=True, running=None):
    x4 = _as4d(x)
    c = x4.shape[2]
    rm, rv = (np.zeros(c), np.ones(c)) if running is None else running
    rm, rv = torch.tensor(np.asarray(rm, float)), torch.tensor(np.asarray(rv, float))

    def fn(t, g, b):
        return F.batch_norm(t, rm.clone(), rv.clone(), g, b, training=training, eps=eps)
    return _norm_jacobians(x4, HWCN_TO_NCHW, (0,), fn, gamma, beta)


def batch_norm(x, gamma, beta, eps=1e-5, training=True, running=None):
    x4 = _as4d(x)
    c = x4.shape[2]
    rm, rv = (np.zeros(c), np.ones(c)) if running is None else running
    b = None if beta is None else torch.tensor(beta)
    y = F.batch_norm(_to_torch(x4, HWCN_TO_NCHW), torch.tensor(np.asarray(rm, float)),
                     torch.tensor(np.asarray(rv, float)), torch.tensor(gamma), b,
                     training=training, eps=eps)
    return y.numpy().transpose(np.argsort(HWCN_TO_NCHW))


def layer_norm_jacobians(x, normalized_shape, gamma, beta, eps=1e-5):
    """Maps ``(H, W, C[, N])`` normalized over ``(C, H, W)``; vectors ``(n[, N])`` over ``n``."""
    x = np.asarray(x, dtype=np.float64)
    if len(normalized_shape) == 3:
        x_perm, p_perm = HWCN_TO_NCHW, (2, 0, 1)
        x = _as4d(x)
        shape = tuple(normalized_shape[a] for a in p_perm)
    else:
        x_perm, p_perm = COLS_TO_ROWS, (0,)
        x = x[:, None] if x.ndim == 1 else x
        shape = tuple(normalized_shape)

    def fn(t, g, b):
        return F.layer_norm(t, shape, g, b, eps)
    return _norm_jacobians(x, x_perm, p_perm, fn, gamma, beta)
