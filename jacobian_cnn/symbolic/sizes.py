"""Size limits of symbolic problems, and the estimate checked before any SymPy object is made."""

from __future__ import annotations

import numbers

import numpy as np

from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.ops.activations import Softmax
from jacobian_cnn.ops.activations_more import LogSoftmax
from jacobian_cnn.ops.branches import Add, Concat
from jacobian_cnn.ops.conv import Conv2D
from jacobian_cnn.ops.conv_nd import ConvND
from jacobian_cnn.ops.conv_transpose import ConvTransposeND
from jacobian_cnn.ops.dense import Dense
from jacobian_cnn.ops.normalization import BatchNorm2D, LayerNorm
from jacobian_cnn.ops.pooling import AvgPool2D
from jacobian_cnn.ops.pooling_nd import AvgPoolND
from jacobian_cnn.ops.resample import AdaptiveAvgPool2D, Upsample

__all__ = ["MAX_SYMBOLIC_SIZE", "MAX_SYMBOLIC_ENTRIES", "entry_limit", "entry_estimate", "jacobian_terms"]

MAX_SYMBOLIC_SIZE = 20_000
"""Largest input or output (entries) accepted: symbolic matrices are for teaching sizes."""

MAX_SYMBOLIC_ENTRIES = 20_000
"""Default ``max_entries`` of :class:`~jacobian_cnn.symbolic.SymbolicProblem`: the most
SymPy entries (named symbols plus Jacobian nonzeros, an upper bound computed from the
shapes) a problem may build."""


_DENSE_BOUND = (BatchNorm2D, LayerNorm, LogSoftmax, Add, Concat, ConvTransposeND, AdaptiveAvgPool2D,
                Upsample)
"""Layers whose estimate is the dense bound (every output may depend on every input)."""


def shape_text(shape):
    """``"3x4"`` for a map, ``"length-3"`` for a vector."""
    return f"length-{shape[0]}" if len(shape) == 1 else "x".join(str(s) for s in shape)


def entry_limit(max_entries):
    """``max_entries`` validated, :data:`MAX_SYMBOLIC_ENTRIES` for ``None``."""
    if max_entries is None:
        return MAX_SYMBOLIC_ENTRIES
    if isinstance(max_entries, (bool, np.bool_)) or not isinstance(max_entries, numbers.Integral):
        raise InvalidTypeError(f"max_entries must be None or a positive int, got {max_entries!r}")
    if max_entries < 1:
        raise InvalidValueError(f"max_entries must be None or a positive int, got {max_entries!r}")
    return int(max_entries)


def _layer_counts(layer, in_shape, out_shape):
    """``(nonzeros by wrt, largest row of the input Jacobian)`` from the shapes alone."""
    n_in, n_out = int(np.prod(in_shape)), int(np.prod(out_shape))
    if isinstance(layer, (Conv2D, AvgPool2D, ConvND, AvgPoolND)):
        d = getattr(layer, "spatial_ndim", 2)  # the 1-D and 3-D layers: the same count
        c = in_shape[d] if len(in_shape) > d else 1
        geo = layer.geometry(tuple(in_shape[:d]))
        if isinstance(layer, (AvgPool2D, AvgPoolND)):
            return {"input": geo.jacobian_nnz(c)}, geo.n_taps
        ci, co = (layer.kernel.shape + (1, 1))[d:d + 2]
        nnz = {"input": geo.jacobian_nnz(ci, co), "kernel": geo.jacobian_nnz(ci, co)}
        if layer.bias is not None:
            nnz["bias"] = geo.n_out * co
        return nnz, geo.n_taps * ci
    if isinstance(layer, Dense):
        nnz = {"input": n_in * n_out, "weight": n_in * n_out}
        if layer.bias is not None:
            nnz["bias"] = n_out
        return nnz, n_in
    if isinstance(layer, Softmax):
        return {"input": n_in * n_in}, n_in
    if isinstance(layer, _DENSE_BOUND):  # at most every (output, input or parameter) pair
        return {"input": n_out * n_in, **{name: n_out * int(np.size(p))
                                          for name, p in layer.params.items()}}, n_in
    return {"input": n_out}, 1  # max pooling, flatten, elementwise: one entry per row at most


def jacobian_terms(layer, in_shape, out_shape, wrt="input"):
    """Upper bound on the nonzeros of one layer's symbolic Jacobian wrt ``wrt``, from the shapes.

    Windows count through :meth:`~jacobian_cnn.ops.geometry.WindowGeometry.jacobian_nnz`,
    the formula the numeric builders and their size guards use.
    """
    nnz, _ = _layer_counts(layer, in_shape, out_shape)
    return nnz.get(wrt, nnz["input"])


def entry_estimate(layers, shapes):
    """Upper bound of the SymPy entries a problem builds: named inputs, outputs and
    parameters, plus the Jacobian's nonzeros (a chain: every layer's, and its product's,
    the last layer's nonzeros times the largest row of every earlier layer, at most
    ``n_out * n_in``)."""
    named = int(np.prod(shapes[0][0])) + int(np.prod(shapes[-1][1]))
    named += sum(int(np.size(p)) for layer in layers for p in layer.params.values())
    nnz, _ = _layer_counts(layers[-1], *shapes[-1])
    if len(layers) == 1:
        return named + max(nnz.values())
    bound = nnz["input"]
    named += sum(_layer_counts(layer, *shape)[0]["input"] for layer, shape in zip(layers, shapes,
                                                                                   strict=True))
    for layer, (in_shape, out_shape) in zip(layers[-2::-1], shapes[-2::-1], strict=True):
        bound = min(bound * _layer_counts(layer, in_shape, out_shape)[1],
                    int(np.prod(shapes[-1][1])) * int(np.prod(in_shape)))
    return named + bound
