"""The JAX translations of the layers of imported PyTorch models (``jnp`` on ``NHWC``).

Called by :func:`jacobian_cnn.compare.jax_layers.jax_layer` (the one translation of each
layer), in the same form: ``(fn(x, params), out_kind, text)`` on NHWC maps or ``(N, n)``
vectors, parameters in ``BACKEND_LAYOUTS["jax"]`` (``gamma``/``beta`` in this package's
own axis order, reshaped here to the normalized shape). JAX has no batch norm, padding
module, PyTorch-style upsampling or adaptive pooling of its own: each is written from its
definition in ``jnp`` (batch statistics, ``jnp.pad``, PyTorch's source-index rules as
gathers, window means), independently of the package's axis matrices. JAX is imported
when a layer is translated, not when this module is.
"""

from __future__ import annotations

import math

import numpy as np

from jacobian_cnn.compare.layout import to_layout
from jacobian_cnn.compare.translation import BACKEND_LAYOUTS
from jacobian_cnn.ops.activations_more import ELU, GELU, Dropout, Identity, LeakyReLU, LogSoftmax, Softplus
from jacobian_cnn.ops.normalization import BatchNorm2D, LayerNorm
from jacobian_cnn.ops.padding import ConstantPad2D, ReflectionPad2D, ReplicationPad2D
from jacobian_cnn.ops.resample import AdaptiveAvgPool2D, Upsample

__all__ = ["jax_model_layer"]


def _elementwise(layer, jax, jnp):
    """``(fn, text)`` of an elementwise layer, or ``None``."""
    if isinstance(layer, Identity):
        return (lambda x: x), "identity"
    if isinstance(layer, LeakyReLU):
        return (lambda x: jax.nn.leaky_relu(x, layer.negative_slope)), \
            f"jax.nn.leaky_relu({layer.negative_slope})"
    if isinstance(layer, ELU):
        return (lambda x: jax.nn.elu(x, layer.alpha)), f"jax.nn.elu(alpha={layer.alpha})"
    if isinstance(layer, GELU):
        tanh = layer.approximate == "tanh"
        return (lambda x: jax.nn.gelu(x, approximate=tanh)), f"jax.nn.gelu(approximate={tanh})"
    if isinstance(layer, Softplus):
        beta, threshold = layer.beta, layer.threshold
        # PyTorch's rule: linear where beta x > threshold
        return ((lambda x: jnp.where(beta * x > threshold, x, jax.nn.softplus(beta * x) / beta)),
                f"where(beta x > {threshold}, x, jax.nn.softplus(beta x) / beta), beta={beta}")
    return None


def _normalization(layer, jnp):
    shape = layer._param_shape

    def affine(y, p):
        if "gamma" in p:
            y = y * p["gamma"].reshape(shape)
        return y + p["beta"].reshape(shape) if "beta" in p else y

    if isinstance(layer, LayerNorm):
        def ln(x, p):
            axes = tuple(range(1, x.ndim))
            mean = jnp.mean(x, axis=axes, keepdims=True)
            var = jnp.mean((x - mean) ** 2, axis=axes, keepdims=True)
            return affine((x - mean) / jnp.sqrt(var + layer.eps), p)
        return ln, f"(x - mean) / sqrt(biased var + {layer.eps}) over each sample, * gamma + beta"
    if layer.training:
        def bn(x, p):
            mean = jnp.mean(x, axis=(0, 1, 2))
            var = jnp.mean((x - mean) ** 2, axis=(0, 1, 2))
            return affine((x - mean) / jnp.sqrt(var + layer.eps), p)
        return bn, f"(x - batch mean) / sqrt(biased batch var + {layer.eps}) per channel, * gamma + beta"
    mean, var = np.asarray(layer.running_mean), np.asarray(layer.running_var)
    return ((lambda x, p: affine((x - mean) / jnp.sqrt(var + layer.eps), p)),
            f"(x - running mean) / sqrt(running var + {layer.eps}), * gamma + beta")


def _pad(layer, jnp):
    pads = ((0, 0), *layer.padding, (0, 0))
    if isinstance(layer, ConstantPad2D):
        return (lambda x, p: jnp.pad(x, pads, constant_values=layer.value)), \
            f"jnp.pad({pads[1:3]}, constant {layer.value})"
    mode = "reflect" if isinstance(layer, ReflectionPad2D) else "edge"
    return (lambda x, p: jnp.pad(x, pads, mode=mode)), f"jnp.pad({pads[1:3]}, mode={mode!r})"


def _source_indices(layer, n_in, axis):
    """PyTorch's source positions of one axis: ``(i0, i1, weight1)`` (nearest: ``weight1 = 0``)."""
    if layer.size is not None:
        n_out, scale = layer.size[axis], n_in / layer.size[axis]
    else:
        n_out, scale = math.floor(n_in * layer.scale_factor[axis]), 1 / layer.scale_factor[axis]
    o = np.arange(n_out)
    if layer.mode == "nearest":  # floor(o * scale) in float32, as PyTorch's CPU kernel
        i0 = np.minimum(np.floor(o.astype(np.float32) * np.float32(scale)).astype(np.int64), n_in - 1)
        return i0, i0, np.zeros(n_out)
    if layer.align_corners:
        src = o * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(n_out)
    else:
        src = np.maximum(scale * (o + 0.5) - 0.5, 0.0)
    i0 = np.floor(src).astype(np.int64)
    return i0, np.minimum(i0 + 1, n_in - 1), src - i0


def _upsample(layer, shape, jnp):
    (r0, r1, wr), (c0, c1, wc) = (_source_indices(layer, shape[a], a) for a in (0, 1))
    wr, wc = wr[None, :, None, None], wc[None, None, :, None]

    def up(x, p):
        rows = x[:, r0] * (1 - wr) + x[:, r1] * wr
        return rows[:, :, c0] * (1 - wc) + rows[:, :, c1] * wc
    rule = "floor(o * scale)" if layer.mode == "nearest" else (
        "o (H - 1) / (Ho - 1)" if layer.align_corners else "(o + 1/2) scale - 1/2")
    return up, f"gather rows and columns at PyTorch's source index {rule}, linear weights"


def _adaptive(layer, shape, jnp):
    def windows(n_in, n_out):
        return [((o * n_in) // n_out, -((-(o + 1) * n_in) // n_out)) for o in range(n_out)]
    rows, cols = (windows(shape[a], layer.output_size[a]) for a in (0, 1))

    def pool(x, p):
        return jnp.stack([jnp.stack([jnp.mean(x[:, a:b, c:d], axis=(1, 2)) for c, d in cols], axis=1)
                          for a, b in rows], axis=1)
    return pool, "jnp.mean over windows floor(o H / Ho) <= i < ceil((o + 1) H / Ho)"


def jax_model_layer(layer, kind, shape):
    """``(fn, out_kind, text)`` for a layer of imported models; ``None`` for another layer."""
    import jax
    import jax.numpy as jnp

    simple = _elementwise(layer, jax, jnp)
    if simple is not None:
        f, text = simple
        return (lambda x, p: f(x)), "same", text
    if isinstance(layer, Dropout):
        mask = to_layout(layer.mask, BACKEND_LAYOUTS["jax"][kind])
        return (lambda x, p: x * mask / (1 - layer.p)), "same", f"x * mask / (1 - {layer.p})"
    if isinstance(layer, LogSoftmax):
        return (lambda x, p: jax.nn.log_softmax(x, axis=1)), "vectors", "jax.nn.log_softmax(axis=1)"
    if isinstance(layer, (BatchNorm2D, LayerNorm)):
        fn, text = _normalization(layer, jnp)
        return fn, "same", text
    if isinstance(layer, (ConstantPad2D, ReflectionPad2D, ReplicationPad2D)):
        fn, text = _pad(layer, jnp)
        return fn, "maps", text
    if isinstance(layer, Upsample):
        fn, text = _upsample(layer, shape, jnp)
        return fn, "maps", text
    if isinstance(layer, AdaptiveAvgPool2D):
        fn, text = _adaptive(layer, shape, jnp)
        return fn, "maps", text
    return None
