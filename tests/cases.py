"""Test cases as data: one line per configuration, checked by the generic tests.

A :class:`Case` names an operation (a key of ``OPS``), the input shape, the
layer's options and a seed. ``OPS`` says, for each operation, how to build our
layer, the brute-force loop reference (``reference.py``) and the torch reference
(``torch_reference.py``), so adding a configuration is one line in ``CASES``.
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
    x_kind: str = "normal"  # "normal" | "ties" (small integers) | "negative" | "float32"
    torch: bool = True      # is there a torch equivalent of this configuration?

    def x(self):
        rng = np.random.default_rng(self.seed)
        if self.x_kind == "ties":
            return rng.integers(-2, 3, size=self.x_shape).astype(np.float64)
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
        return self.x_kind != "ties"


def _geometry(o):
    return {k: o[k] for k in ("stride", "padding", "dilation") if k in o}


@dataclass(frozen=True)
class Op:
    make: callable        # (params, options) -> our layer
    reference: callable   # (x, params, options) -> {wrt: dense J}
    torch: callable       # (torch_ref, x, params, options) -> {wrt: dense J}
    wrts: tuple = ("input",)


def _conv_make(p, o):
    return jc.Conv2D(p["kernel"], p.get("bias"), **_geometry(o))


def _conv_ref(mod, x, p, o):
    g = {"stride": 1, "padding": 0, "dilation": 1, **_geometry(o)}
    J = mod.conv2d_jacobians(x, p["kernel"], p.get("bias"), g["stride"], g["padding"], g["dilation"])
    return J if "bias" in p else {k: v for k, v in J.items() if k != "bias"}


def _pool_args(o):
    return o["window"], o.get("stride", o["window"]), o.get("padding", 0)


def _max_kwargs(o):
    return {k: o[k] for k in ("dilation", "pad_value") if k in o}


OPS = {
    "conv": Op(
        make=_conv_make,
        reference=lambda x, p, o: _conv_ref(ref, x, p, o),
        torch=lambda tr, x, p, o: _conv_ref(tr, x, p, o),
        wrts=("input", "kernel", "bias"),
    ),
    "avg": Op(
        make=lambda p, o: jc.AvgPool2D(o["window"], **_geometry(o),
                                       count_include_pad=o.get("count_include_pad", True)),
        reference=lambda x, p, o: {"input": ref.avgpool2d_jacobian(
            x, *_pool_args(o), count_include_pad=o.get("count_include_pad", True))},
        torch=lambda tr, x, p, o: {"input": tr.avgpool2d_jacobian(
            x, *_pool_args(o), count_include_pad=o.get("count_include_pad", True))},
    ),
    "max": Op(
        make=lambda p, o: jc.MaxPool2D(o["window"], **_geometry(o), pad_value=o.get("pad_value"),
                                       tie=o.get("tie", "column_major")),
        reference=lambda x, p, o: {"input": ref.maxpool2d_jacobian(
            x, *_pool_args(o), **_max_kwargs(o), tie=o.get("tie", "column_major"))},
        torch=lambda tr, x, p, o: {"input": tr.maxpool2d_jacobian(x, *_pool_args(o), **_max_kwargs(o))},
    ),
    "flatten": Op(
        make=lambda p, o: jc.Flatten(o.get("order", "F")),
        reference=lambda x, p, o: {"input": ref.flatten_jacobian(x, o.get("order", "F"))},
        torch=lambda tr, x, p, o: {"input": tr.flatten_jacobian(x, o.get("order", "F"))},
    ),
    "dense": Op(
        make=lambda p, o: jc.Dense(p["weight"], p.get("bias")),
        reference=lambda x, p, o: {k: v for k, v in ref.dense_jacobians(
            x, p["weight"], p.get("bias")).items() if k != "bias" or "bias" in p},
        torch=lambda tr, x, p, o: {k: v for k, v in tr.dense_jacobians(
            x, p["weight"], p.get("bias")).items() if k != "bias" or "bias" in p},
        wrts=("input", "weight", "bias"),
    ),
    "relu": Op(lambda p, o: jc.ReLU(), lambda x, p, o: {"input": ref.relu_jacobian(x)},
               lambda tr, x, p, o: {"input": tr.relu_jacobian(x)}),
    "sigmoid": Op(lambda p, o: jc.Sigmoid(), lambda x, p, o: {"input": ref.sigmoid_jacobian(x)},
                  lambda tr, x, p, o: {"input": tr.sigmoid_jacobian(x)}),
    "tanh": Op(lambda p, o: jc.Tanh(), lambda x, p, o: {"input": ref.tanh_jacobian(x)},
               lambda tr, x, p, o: {"input": tr.tanh_jacobian(x)}),
    "softmax": Op(lambda p, o: jc.Softmax(), lambda x, p, o: {"input": ref.softmax_jacobian(x)},
                  lambda tr, x, p, o: {"input": tr.softmax_jacobian(x)}),
    "mse": Op(lambda p, o: jc.MSELoss(p["target"]),
              lambda x, p, o: {"input": ref.mse_gradient(x, p["target"])},
              lambda tr, x, p, o: {"input": tr.mse_gradient(x, p["target"])}),
    "xent": Op(lambda p, o: jc.SoftmaxCrossEntropy(p["labels"]),
               lambda x, p, o: {"input": ref.softmax_cross_entropy_gradient(x, p["labels"])},
               lambda tr, x, p, o: {"input": tr.softmax_cross_entropy_gradient(x, p["labels"])}),
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
