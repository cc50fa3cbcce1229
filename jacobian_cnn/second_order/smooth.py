"""The second-order terms of smooth elementwise maps, softmax and the losses.

Each fast term (``fast_*``) has a loop written from the definition next to it (``loop_*``);
:mod:`jacobian_cnn.second_order.terms` dispatches to them. Conventions: :mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from jacobian_cnn.ops.activations import Sigmoid, softmax
from jacobian_cnn.ops.activations_more import ELU, GELU, Softplus
from jacobian_cnn.vec import vec

__all__ = ["SMOOTH_TERMS"]


# ---------------------------------------------------------------- elementwise

def _second_derivative(layer, x):
    """``f''`` of the layer's elementwise ``f``, vectorized."""
    if isinstance(layer, Sigmoid):
        s = layer.forward(x)
        return s * (1 - s) * (1 - 2 * s)
    if isinstance(layer, ELU):
        return np.where(x > 0, 0.0, layer.alpha * np.exp(np.minimum(x, 0)))
    if isinstance(layer, Softplus):
        s = Sigmoid().forward(layer.beta * x)
        return np.where(layer.beta * x > layer.threshold, 0.0, layer.beta * s * (1 - s))
    if isinstance(layer, GELU):
        if layer.approximate == "none":  # d/dx (Phi + x phi) = 2 phi + x phi' = phi (2 - x^2)
            return np.exp(-x * x / 2) / np.sqrt(2 * np.pi) * (2 - x * x)
        c, a = np.sqrt(2 / np.pi), 0.044715
        t, du = np.tanh(c * (x + a * x ** 3)), c * (1 + 3 * a * x * x)
        return (1 - t * t) * du + 0.5 * x * (1 - t * t) * (6 * a * c * x - 2 * t * du * du)
    t = np.tanh(x)
    return -2 * t * (1 - t * t)


def _diagonal(values):
    """A diagonal ``csr_array`` storing every diagonal entry (also the zeros)."""
    index = np.arange(values.size + 1)
    return sp.csr_array((values, index[:-1], index), shape=(values.size, values.size))


def fast_elementwise(layer, x, g):
    return _diagonal(g * vec(_second_derivative(layer, x)))


def loop_elementwise(layer, x, g, f2):
    values = vec(x)
    diagonal = [g[k] * f2(values[k]) for k in range(values.size)]
    return _diagonal(np.array(diagonal, dtype=g.dtype))


fast_sigmoid = fast_tanh = fast_elementwise


def loop_sigmoid(layer, x, g):
    """``d^2/dx^2 sigma(x) = sigma (1 - sigma) (1 - 2 sigma)``."""
    def f2(v):
        s = 1 / (1 + np.exp(-v))
        return s * (1 - s) * (1 - 2 * s)
    return loop_elementwise(layer, x, g, f2)


def loop_tanh(layer, x, g):
    """``d^2/dx^2 tanh(x) = -2 tanh(x) (1 - tanh(x)^2)``."""
    return loop_elementwise(layer, x, g, lambda v: -2 * np.tanh(v) * (1 - np.tanh(v) ** 2))


def loop_elu(layer, x, g):
    """``alpha exp(x)`` for ``x <= 0``, 0 above (``f = x`` there)."""
    return loop_elementwise(layer, x, g, lambda v: layer.alpha * math.exp(v) if v <= 0 else 0.0)


def loop_softplus(layer, x, g):
    """``f = log(1 + exp(beta x)) / beta``: ``f' = sigma(beta x)``, ``f'' = beta sigma (1 - sigma)``."""
    def f2(v):
        if layer.beta * v > layer.threshold:
            return 0.0
        s = 1 / (1 + math.exp(-layer.beta * v))
        return layer.beta * s * (1 - s)
    return loop_elementwise(layer, x, g, f2)


def loop_gelu(layer, x, g):
    """``x Phi(x)``: ``f'' = phi (2 - x^2)``; the tanh form differentiated twice by hand."""
    def f2(v):
        if layer.approximate == "none":
            return math.exp(-v * v / 2) / math.sqrt(2 * math.pi) * (2 - v * v)
        c, a = math.sqrt(2 / math.pi), 0.044715
        t = math.tanh(c * (v + a * v ** 3))
        du, d2u = c * (1 + 3 * a * v * v), 6 * a * c * v
        sech2 = 1 - t * t
        return sech2 * du + 0.5 * v * (sech2 * d2u - 2 * t * sech2 * du * du)
    return loop_elementwise(layer, x, g, f2)


fast_elu = fast_softplus = fast_gelu = fast_elementwise


# ---------------------------------------------------------------- softmax and losses

def _sample_blocks(blocks):
    """A block-diagonal ``csr_array`` of ``(N, n, n)`` dense blocks (every entry stored)."""
    n_samples, n, _ = blocks.shape
    rows = np.repeat(np.arange(n_samples * n), n)
    cols = (np.arange(n)[None, None, :] + n * np.arange(n_samples)[:, None, None]
            + np.zeros((1, n, 1), np.int64)).reshape(-1)
    size = n_samples * n
    return sp.csr_array((blocks.reshape(-1), (rows, cols)), shape=(size, size))


def fast_softmax(layer, x, g):
    s = softmax(layer._check(x)).reshape(x.shape[0], -1).T      # (N, n)
    g = g.reshape(s.shape)
    gbar = np.sum(g * s, axis=1, keepdims=True)
    blocks = -s[:, :, None] * s[:, None, :] * (g[:, :, None] + g[:, None, :] - 2 * gbar[:, :, None])
    idx = np.arange(s.shape[1])
    blocks[:, idx, idx] += s * (g - gbar)
    return _sample_blocks(blocks)


def loop_softmax(layer, x, g):
    """``sum_k g_k d^2 s_k / dz_i dz_j`` with ``d^2 s_k / dz_i dz_j =
    s_k (delta_ki - s_i)(delta_kj - s_j) - s_k s_i (delta_ij - s_j)``, per sample."""
    z = layer._check(x)
    n = z.shape[0]
    s = vec(softmax(z))
    blocks = np.zeros((z.size // n, n, n), g.dtype)
    for sample, block in enumerate(blocks):
        first = sample * n
        for i in range(n):
            for j in range(n):
                for k in range(n):
                    si, sj, sk = s[first + i], s[first + j], s[first + k]
                    second = sk * ((k == i) - si) * ((k == j) - sj) - sk * si * ((i == j) - sj)
                    block[i, j] += g[first + k] * second
    return _sample_blocks(blocks)


def fast_cross_entropy(layer, x, g):
    z, z2 = layer._check(x)
    s = softmax(z2).T                                             # (N, n)
    blocks = -s[:, :, None] * s[:, None, :]
    idx = np.arange(s.shape[1])
    blocks[:, idx, idx] += s
    return _sample_blocks(blocks * (g[0] / s.shape[0]))


def loop_cross_entropy(layer, x, g):
    """``L = mean_n (logsumexp(z_n) - z_n[label])``: per sample ``(delta_ij s_i - s_i s_j) / N``."""
    z, z2 = layer._check(x)
    n, n_samples = z2.shape
    blocks = np.zeros((n_samples, n, n), g.dtype)
    for sample in range(n_samples):
        s = softmax(z2[:, sample])
        for i in range(n):
            for j in range(n):
                blocks[sample, i, j] = g[0] * ((i == j) * s[i] - s[i] * s[j]) / n_samples
    return _sample_blocks(blocks)


def fast_log_softmax(layer, x, g):
    """``d^2 log s_k / dz dz^T = -(diag(s) - s s^T)`` for every ``k``: ``-(sum_k g_k)`` times it."""
    z = layer._check(x) if hasattr(layer, "_check") else x
    s = softmax(z).reshape(z.shape[0], -1).T
    g_sum = g.reshape(s.shape).sum(axis=1)
    blocks = -s[:, :, None] * s[:, None, :]
    idx = np.arange(s.shape[1])
    blocks[:, idx, idx] += s
    return _sample_blocks(-g_sum[:, None, None] * blocks)


def loop_log_softmax(layer, x, g):
    """``log s_k = z_k - logsumexp(z)``: its Hessian is minus logsumexp's, whatever ``k``."""
    z = layer._check(x) if hasattr(layer, "_check") else x
    n = z.shape[0]
    s = vec(softmax(z))
    blocks = np.zeros((z.size // n, n, n), g.dtype)
    for sample, block in enumerate(blocks):
        first = sample * n
        total = sum(g[first + k] for k in range(n))
        for i in range(n):
            for j in range(n):
                si, sj = s[first + i], s[first + j]
                block[i, j] = -total * ((i == j) * si - si * sj)
    return _sample_blocks(blocks)


def fast_mse(layer, x, g):
    n = np.size(x)
    return _diagonal(np.full(n, g[0] * (2.0 / n)))


def loop_mse(layer, x, g):
    """``L = (1/n) sum_i (y_i - t_i)^2``: ``d^2 L / dy_i dy_j = 2 delta_ij / n``."""
    n = np.size(x)
    return _diagonal(np.array([g[0] * 2.0 / n for _ in range(n)], g.dtype))


SMOOTH_TERMS = {"sigmoid": (fast_sigmoid, loop_sigmoid), "tanh": (fast_tanh, loop_tanh),
                "elu": (fast_elu, loop_elu), "softplus": (fast_softplus, loop_softplus),
                "gelu": (fast_gelu, loop_gelu), "softmax": (fast_softmax, loop_softmax),
                "log_softmax": (fast_log_softmax, loop_log_softmax),
                "cross_entropy": (fast_cross_entropy, loop_cross_entropy), "mse": (fast_mse, loop_mse)}
"""``name -> (fast, loop)``: each term as ``f(layer, x, g) -> csr_array``."""
