"""Test cases as data: one line per configuration, checked by the generic tests.

A :class:`Case` names an operation (a key of ``OPS``), the input shape, the
layer's options and a seed. ``OPS`` says, for each operation, how to build our
layer, the brute-force loop reference (``reference.py``) and the torch reference
(``torch_reference.py``), so adding a configuration is one line in ``CASES``.

``PARITY_CASES`` holds the configurations of the hyperparameters added for parity
with PyTorch (conv ``groups`` and ``padding_mode``, pooling ``ceil_mode`` and
``divisor_override``); ``test_parity.py`` runs the same generic checks on them,
using ``Op.forward`` for the forward pass (``test_layers.py``'s forward check
calls the loop reference without these options).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import reference as ref

import jacobian_cnn as jc


@dataclass(frozen=True)
class Case:
    id: str
    op: str
    x_shape: tuple
    options: dict = field(default_factory=dict, hash=False, compare=False)
    seed: int = 0
    x_kind: str = "normal"  # "normal" | "ties" (small integers) | "zeros" | "negative" | "float32"
    torch: bool = True      # is there a torch equivalent of this configuration?

    def x(self):
        rng = np.random.default_rng(self.seed)
        if self.x_kind == "ties":
            return rng.integers(-2, 3, size=self.x_shape).astype(np.float64)
        if self.x_kind == "zeros":  # every window is one big tie
            return np.zeros(self.x_shape)
        x = rng.normal(size=self.x_shape)
        if self.x_kind == "negative":
            return -np.abs(x) - 0.5
        if self.x_kind == "float32":
            return x.astype(np.float32)
        return x

    def params(self):
        """Parameter arrays drawn from the seed (kernel/bias, weight/bias, targets...)."""
        rng = np.random.default_rng(self.seed + 1000)
        o = self.options
        if self.op == "conv":
            p = {"kernel": rng.normal(size=o["kernel"])}
            if o.get("bias", True):
                p["bias"] = rng.normal(size=o["kernel"][3])
            return p
        if self.op == "dense":
            p = {"weight": rng.normal(size=(self.x_shape[0], o["n_out"]))}
            if o.get("bias", True):
                p["bias"] = rng.normal(size=o["n_out"])
            return p
        if self.op == "mse":
            return {"target": rng.normal(size=self.x_shape)}
        if self.op == "xent":
            n = self.x_shape[1] if len(self.x_shape) == 2 else None
            labels = rng.integers(0, self.x_shape[0], size=n)
            return {"labels": labels if n else int(labels)}
        return {}

    @property
    def fd_ok(self):
        """Finite differences need a differentiable point: no ties, no kinks."""
        return self.x_kind not in ("ties", "zeros")


def pick(o, keys):
    return {k: o[k] for k in keys if k in o}


def _geometry(o):
    return pick(o, ("stride", "padding", "dilation"))


@dataclass(frozen=True)
class Op:
    make: callable        # (params, options) -> our layer
    reference: callable   # (x, params, options) -> {wrt: dense J}
    torch: callable       # (torch_ref, x, params, options) -> {wrt: dense J}
    forward: callable     # (x, params, options) -> y from the loop reference
    wrts: tuple = ("input",)


def _conv_make(p, o):
    return jc.Conv2D(p["kernel"], p.get("bias"), **_geometry(o), **pick(o, _CONV))


def _conv_args(o):
    g = {"stride": 1, "padding": 0, "dilation": 1, **_geometry(o)}
    return g["stride"], g["padding"], g["dilation"]


def _conv_ref(mod, x, p, o):
    J = mod.conv2d_jacobians(x, p["kernel"], p.get("bias"), *_conv_args(o), **pick(o, _CONV))
    return J if "bias" in p else {k: v for k, v in J.items() if k != "bias"}


def _pool_args(o):
    return o["window"], o.get("stride", o["window"]), o.get("padding", 0)


def _avg_kwargs(o):
    return {"count_include_pad": o.get("count_include_pad", True), **pick(o, _AVG)}


def _max_kwargs(o):
    return pick(o, ("dilation", "pad_value", "ceil_mode"))


_CONV = ("groups", "padding_mode")       # conv options beyond the geometry
_AVG = ("ceil_mode", "divisor_override")  # average-pool options beyond count_include_pad


OPS = {
    "conv": Op(
        make=_conv_make,
        reference=lambda x, p, o: _conv_ref(ref, x, p, o),
        torch=lambda tr, x, p, o: _conv_ref(tr, x, p, o),
        wrts=("input", "kernel", "bias"),
        forward=lambda x, p, o: ref.conv2d(x, p["kernel"], p.get("bias"), *_conv_args(o),
                                           **pick(o, _CONV)),
    ),
    "avg": Op(
        make=lambda p, o: jc.AvgPool2D(o["window"], **_geometry(o), **_avg_kwargs(o)),
        reference=lambda x, p, o: {"input": ref.avgpool2d_jacobian(x, *_pool_args(o), **_avg_kwargs(o))},
        torch=lambda tr, x, p, o: {"input": tr.avgpool2d_jacobian(x, *_pool_args(o), **_avg_kwargs(o))},
        forward=lambda x, p, o: ref.avgpool2d(x, *_pool_args(o), **_avg_kwargs(o)),
    ),
    "max": Op(
        make=lambda p, o: jc.MaxPool2D(o["window"], **_geometry(o), pad_value=o.get("pad_value"),
                                       tie=o.get("tie", "column_major"), **pick(o, ("ceil_mode",))),
        reference=lambda x, p, o: {"input": ref.maxpool2d_jacobian(
            x, *_pool_args(o), **_max_kwargs(o), tie=o.get("tie", "column_major"))},
        torch=lambda tr, x, p, o: {"input": tr.maxpool2d_jacobian(x, *_pool_args(o), **_max_kwargs(o))},
        forward=lambda x, p, o: ref.maxpool2d(x, *_pool_args(o), **_max_kwargs(o),
                                              tie=o.get("tie", "column_major"))[0],
    ),
    "flatten": Op(
        make=lambda p, o: jc.Flatten(o.get("order", "F")),
        reference=lambda x, p, o: {"input": ref.flatten_jacobian(x, o.get("order", "F"))},
        torch=lambda tr, x, p, o: {"input": tr.flatten_jacobian(x, o.get("order", "F"))},
        forward=lambda x, p, o: ref.flatten(x, o.get("order", "F")),
    ),
    "dense": Op(
        make=lambda p, o: jc.Dense(p["weight"], p.get("bias")),
        reference=lambda x, p, o: {k: v for k, v in ref.dense_jacobians(
            x, p["weight"], p.get("bias")).items() if k != "bias" or "bias" in p},
        torch=lambda tr, x, p, o: {k: v for k, v in tr.dense_jacobians(
            x, p["weight"], p.get("bias")).items() if k != "bias" or "bias" in p},
        wrts=("input", "weight", "bias"),
        forward=lambda x, p, o: ref.dense(x, p["weight"], p.get("bias")),
    ),
    "relu": Op(lambda p, o: jc.ReLU(), lambda x, p, o: {"input": ref.relu_jacobian(x)},
               lambda tr, x, p, o: {"input": tr.relu_jacobian(x)},
               forward=lambda x, p, o: ref.relu(x)),
    "sigmoid": Op(lambda p, o: jc.Sigmoid(), lambda x, p, o: {"input": ref.sigmoid_jacobian(x)},
                  lambda tr, x, p, o: {"input": tr.sigmoid_jacobian(x)},
                  forward=lambda x, p, o: ref.sigmoid(x)),
    "tanh": Op(lambda p, o: jc.Tanh(), lambda x, p, o: {"input": ref.tanh_jacobian(x)},
               lambda tr, x, p, o: {"input": tr.tanh_jacobian(x)},
               forward=lambda x, p, o: ref.tanh(x)),
    "softmax": Op(lambda p, o: jc.Softmax(), lambda x, p, o: {"input": ref.softmax_jacobian(x)},
                  lambda tr, x, p, o: {"input": tr.softmax_jacobian(x)},
                  forward=lambda x, p, o: ref.softmax(x)),
    "mse": Op(lambda p, o: jc.MSELoss(p["target"]),
              lambda x, p, o: {"input": ref.mse_gradient(x, p["target"])},
              lambda tr, x, p, o: {"input": tr.mse_gradient(x, p["target"])},
              forward=lambda x, p, o: ref.mse(x, p["target"])),
    "xent": Op(lambda p, o: jc.SoftmaxCrossEntropy(p["labels"]),
               lambda x, p, o: {"input": ref.softmax_cross_entropy_gradient(x, p["labels"])},
               lambda tr, x, p, o: {"input": tr.softmax_cross_entropy_gradient(x, p["labels"])},
               forward=lambda x, p, o: ref.softmax_cross_entropy(x, p["labels"])),
}

K = lambda kh, kw, ci, co: {"kernel": (kh, kw, ci, co)}  # noqa: E731

CASES = [
    # convolution: channels, bias, stride, padding (symmetric / asymmetric), dilation, batch
    Case("conv-seed004-A", "conv", (3, 4), {**K(2, 2, 1, 1), "bias": False, "padding": 1, "stride": (1, 2)}),
    Case("conv-basic", "conv", (5, 5, 1), K(3, 3, 1, 1)),
    Case("conv-multichannel", "conv", (6, 5, 3), K(3, 2, 3, 4), seed=1),
    Case("conv-stride-pad", "conv", (7, 6, 2), {**K(3, 3, 2, 2), "stride": 2, "padding": 1}, seed=2),
    Case("conv-asym-pad", "conv", (5, 6, 2), {**K(2, 3, 2, 3), "padding": ((1, 0), (2, 1)), "stride": (2, 1)}, seed=3),
    Case("conv-dilation", "conv", (7, 8, 2), {**K(3, 2, 2, 2), "dilation": (2, 3), "padding": 2}, seed=4),
    Case("conv-stride>window", "conv", (9, 9, 1), {**K(2, 2, 1, 2), "stride": 3}, seed=5),
    Case("conv-batch1", "conv", (4, 5, 2, 1), {**K(2, 2, 2, 3), "padding": 1}, seed=6),
    Case("conv-batch3", "conv", (5, 4, 2, 3), {**K(3, 2, 2, 2), "stride": (2, 1), "padding": ((0, 1), (1, 0)), "dilation": (1, 2)}, seed=7),
    Case("conv-1x1-map", "conv", (1, 1, 3), K(1, 1, 3, 2), seed=8),
    Case("conv-window=padded-input", "conv", (2, 3, 1), {**K(4, 5, 1, 2), "padding": 1}, seed=9),
    Case("conv-pad-beyond-window", "conv", (3, 3, 1), {**K(2, 2, 1, 1), "padding": 2}, seed=10),
    Case("conv-float32", "conv", (5, 5, 2), {**K(3, 3, 2, 2), "padding": 1}, seed=11, x_kind="float32"),
    # padding strings: "same" (stride 1; odd total padding goes bottom/right), "valid"
    Case("conv-same", "conv", (5, 4, 2), {**K(3, 3, 2, 2), "padding": "same"}, seed=12),
    Case("conv-same-even-dilated", "conv", (6, 5, 1, 2), {**K(2, 4, 1, 2), "padding": "same", "dilation": (3, 1)}, seed=13),
    Case("conv-valid", "conv", (5, 6, 2), {**K(2, 3, 2, 1), "padding": "valid", "stride": 2}, seed=14),
    # average pooling: overlap (seed 000), padding both divisor conventions, batch
    Case("avg-seed000", "avg", (3, 3), {"window": 2, "stride": 1}),
    Case("avg-nonoverlap", "avg", (4, 6, 2), {"window": 2}, seed=1),
    Case("avg-overlap-3x3", "avg", (6, 5, 2, 2), {"window": 3, "stride": 1}, seed=2),
    Case("avg-pad-include", "avg", (5, 5, 2), {"window": 3, "stride": 2, "padding": 1}, seed=3),
    Case("avg-pad-exclude", "avg", (5, 5, 2), {"window": 3, "stride": 2, "padding": 1, "count_include_pad": False}, seed=4),
    Case("avg-asym-pad", "avg", (4, 5, 1, 2), {"window": (2, 3), "stride": (1, 2), "padding": ((1, 0), (0, 1))}, seed=5),
    Case("avg-stride>window", "avg", (7, 7, 1), {"window": 2, "stride": 3}, seed=6),
    Case("avg-1x1-map", "avg", (1, 1, 2), {"window": 1}, seed=7),
    Case("avg-float32", "avg", (4, 4, 2), {"window": 2, "stride": 1}, seed=8, x_kind="float32"),
    # max pooling: switches, ties, padding never wins / seed's zero padding, negative windows
    Case("max-basic", "max", (4, 4, 1), {"window": 2}),
    Case("max-overlap-batch", "max", (5, 6, 2, 3), {"window": 3, "stride": 1}, seed=1),
    Case("max-pad-negative", "max", (4, 5, 2), {"window": 3, "stride": 2, "padding": 1}, seed=2, x_kind="negative"),
    Case("max-seed004-B-zero-pad", "max", (3, 4), {"window": (3, 2), "stride": (1, 2), "padding": 1, "pad_value": 0.0}, seed=3),
    Case("max-zero-pad-negative", "max", (3, 4, 2), {"window": (3, 2), "stride": (1, 2), "padding": 1, "pad_value": 0.0}, seed=4, x_kind="negative"),
    Case("max-ties-colmajor", "max", (6, 6, 2), {"window": 3, "stride": 1}, seed=5, x_kind="ties", torch=False),
    Case("max-ties-rowmajor", "max", (6, 6, 2), {"window": 3, "stride": 1, "tie": "row_major"}, seed=5, x_kind="ties"),
    Case("max-ties-pad-rowmajor", "max", (5, 5, 1, 2), {"window": 2, "stride": 2, "padding": 1, "tie": "row_major"}, seed=6, x_kind="ties"),
    Case("max-dilation", "max", (7, 7, 1), {"window": 2, "stride": 2, "dilation": 2}, seed=7),
    Case("max-stride>window", "max", (7, 8, 1), {"window": 2, "stride": 3}, seed=8),
    Case("max-window=input", "max", (3, 3, 2), {"window": 3}, seed=9),
    Case("max-1x1-map", "max", (1, 1, 1), {"window": 1}, seed=10),
    Case("max-float32", "max", (4, 4, 2), {"window": 2}, seed=11, x_kind="float32"),
    # deliberate ties: all zeros, and small integers with dilation; row-major is PyTorch's rule
    Case("max-zeros-rowmajor", "max", (5, 5, 2), {"window": 3, "stride": 1, "padding": 1, "tie": "row_major"}, x_kind="zeros"),
    # an all-equal window: both tie rules pick its top-left entry, so even column-major agrees with torch
    Case("max-zeros-colmajor", "max", (5, 5, 2), {"window": 3, "stride": 1, "padding": 1}, x_kind="zeros"),
    Case("max-ties-dilation-rowmajor", "max", (7, 6, 1, 2), {"window": (2, 3), "stride": 1, "dilation": 2, "tie": "row_major"}, seed=12, x_kind="ties"),
    # flatten orders
    Case("flatten-F", "flatten", (3, 2, 2), {"order": "F"}),
    Case("flatten-C", "flatten", (3, 2, 2), {"order": "C"}, seed=1),
    Case("flatten-torch", "flatten", (3, 2, 2), {"order": "torch"}, seed=2),
    Case("flatten-torch-batch", "flatten", (2, 3, 2, 2), {"order": "torch"}, seed=3),
    Case("flatten-C-batch", "flatten", (2, 3, 2, 2), {"order": "C"}, seed=4),
    # dense, activations, softmax, losses
    Case("dense", "dense", (5,), {"n_out": 3}),
    Case("dense-batch", "dense", (4, 3), {"n_out": 2}, seed=1),
    Case("dense-nobias-float32", "dense", (4,), {"n_out": 3, "bias": False}, seed=2, x_kind="float32"),
    Case("relu", "relu", (3, 4, 2), seed=1),
    Case("relu-batch", "relu", (2, 2, 2, 3), seed=2),
    Case("sigmoid", "sigmoid", (3, 4, 2), seed=3),
    Case("tanh", "tanh", (5, 2), seed=4),
    Case("softmax", "softmax", (5,), seed=5),
    Case("softmax-batch", "softmax", (4, 3), seed=6),
    Case("mse", "mse", (3, 2), seed=7),
    Case("xent", "xent", (5,), seed=8),
    Case("xent-batch", "xent", (4, 3), seed=9),
]

PARITY_CASES = [
    # groups: C_in = kernel.shape[2] * groups; depthwise is groups = C_in
    Case("conv-groups2", "conv", (5, 5, 4), {**K(3, 3, 2, 4), "groups": 2}),
    Case("conv-groups3-stride-pad", "conv", (6, 5, 6, 2), {**K(2, 3, 2, 3), "groups": 3, "stride": 2, "padding": ((1, 0), (0, 2))}, seed=1),
    Case("conv-depthwise", "conv", (6, 5, 3), {**K(3, 3, 1, 3), "groups": 3, "padding": 1}, seed=2),
    Case("conv-depthwise-multiplier", "conv", (5, 5, 2, 2), {**K(2, 3, 1, 4), "groups": 2, "stride": 2, "padding": 1}, seed=3),
    Case("conv-groups-same-dilated", "conv", (5, 6, 4), {**K(3, 2, 2, 2), "groups": 2, "padding": "same", "dilation": 2}, seed=4),
    Case("conv-groups-float32", "conv", (4, 4, 4), {**K(3, 3, 1, 4), "groups": 4, "padding": 1}, seed=5, x_kind="float32"),
    # copying padding modes: one input entry feeds several taps, the Jacobian sums them
    Case("conv-reflect", "conv", (5, 5, 2), {**K(3, 3, 2, 2), "padding": 1, "padding_mode": "reflect"}, seed=6),
    Case("conv-reflect-asym-dilated", "conv", (6, 5, 1, 2), {**K(2, 3, 1, 2), "padding": ((2, 1), (0, 3)), "dilation": (2, 1), "padding_mode": "reflect"}, seed=7),
    Case("conv-reflect-same-even", "conv", (5, 5, 1), {**K(4, 4, 1, 1), "padding": "same", "padding_mode": "reflect"}, seed=8),
    Case("conv-replicate", "conv", (4, 5, 2), {**K(3, 3, 2, 3), "padding": 1, "stride": (1, 2), "padding_mode": "replicate"}, seed=9),
    Case("conv-replicate-pad-beyond-input", "conv", (3, 3, 1), {**K(3, 3, 1, 1), "padding": 4, "padding_mode": "replicate"}, seed=10),
    Case("conv-replicate-1x1-input", "conv", (1, 1, 2), {**K(3, 3, 2, 1), "padding": 1, "padding_mode": "replicate"}, seed=11),
    Case("conv-circular", "conv", (4, 5, 2), {**K(3, 3, 2, 2), "padding": 1, "padding_mode": "circular"}, seed=12),
    Case("conv-circular-full-wrap", "conv", (3, 4, 1, 2), {**K(3, 2, 1, 2), "padding": ((3, 3), (4, 4)), "dilation": (2, 3), "padding_mode": "circular"}, seed=13),
    Case("conv-circular-groups-same", "conv", (4, 4, 4, 2), {**K(3, 3, 2, 4), "groups": 2, "padding": "same", "padding_mode": "circular"}, seed=14),
    # average pooling: ceil_mode, the divisor in every count_include_pad x ceil_mode combination, override
    Case("avg-ceil", "avg", (5, 5, 2), {"window": 2, "ceil_mode": True}),
    Case("avg-ceil-pad-include", "avg", (6, 6, 1, 2), {"window": 3, "stride": 2, "padding": 1, "ceil_mode": True}, seed=1),
    Case("avg-ceil-pad-exclude", "avg", (6, 6, 1, 2), {"window": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}, seed=2),
    Case("avg-ceil-nopad-exclude", "avg", (5, 7, 1), {"window": (2, 3), "stride": 2, "ceil_mode": True, "count_include_pad": False}, seed=3),
    Case("avg-ceil-last-window-dropped", "avg", (4, 4, 1), {"window": 2, "stride": 3, "padding": 1, "ceil_mode": True}, seed=4),
    Case("avg-pad-exclude-floor", "avg", (6, 6, 2), {"window": 3, "stride": 2, "padding": 1, "count_include_pad": False}, seed=5),
    Case("avg-divisor-override", "avg", (4, 4, 1), {"window": 2, "divisor_override": 3}, seed=6),
    Case("avg-ceil-divisor-override", "avg", (5, 5, 2), {"window": 3, "stride": 2, "padding": 1, "ceil_mode": True, "divisor_override": 4}, seed=7),
    Case("avg-negative-divisor-override", "avg", (4, 4, 2), {"window": 2, "stride": 1, "divisor_override": -3}, seed=9),
    Case("avg-ceil-overlap-batch", "avg", (5, 4, 2, 2), {"window": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}, seed=8),
    # max pooling: ceil_mode, with dilation, ties under PyTorch's rule
    Case("max-ceil", "max", (5, 5, 2), {"window": 2, "ceil_mode": True}),
    Case("max-ceil-pad-dilation", "max", (7, 6, 1, 2), {"window": 3, "stride": 2, "padding": 1, "dilation": 2, "ceil_mode": True}, seed=1),
    Case("max-ceil-ties-rowmajor", "max", (6, 6, 2), {"window": 3, "stride": 2, "padding": 1, "ceil_mode": True, "tie": "row_major"}, seed=2, x_kind="ties"),
    Case("max-ceil-zeros-rowmajor", "max", (5, 6, 1, 2), {"window": 2, "stride": 2, "padding": 1, "ceil_mode": True, "tie": "row_major"}, x_kind="zeros"),
    Case("max-ceil-pad-value", "max", (5, 5, 1), {"window": 2, "stride": 2, "padding": ((1, 0), (0, 1)), "ceil_mode": True, "pad_value": 0.0}, seed=3, x_kind="negative", torch=False),
]
