"""The case table: every configuration the tests, ``verify`` and the benchmarks check.

One :class:`Case` per line names an operation (:data:`jacobian_cnn.ops.by_name.OP_NAMES`),
the input shape, the layer's options and a seed, and says which references apply:

``torch``
    PyTorch computes the same function (not so for the column-major tie rule on
    random ties, nor for a max-pool ``pad_value`` PyTorch does not have).
``jax``
    Also checked against ``jax.jacrev`` (compiling JAX is slow: a representative set).
``bit_identical_to``
    The references the fast Jacobian equals bit for bit (the others agree to rounding):
    ``"definition"``, the op module's readable definition (``Layer.reference_jacobian``),
    and ``"loop"``, the tests' independent loop reference. A copying ``padding_mode``
    sums several taps into one entry, in another order than the definition does; softmax
    and MSE are computed by other, equally exact formulas than the loop reference's.
``verify``
    In ``jacobian-cnn verify``'s built-in sweep.

``options`` holds the layer's keyword options, plus the shapes of the parameters the
case draws: ``kernel`` (a shape), ``bias`` (``False`` for none), ``n_out``.
:data:`CASES` are the configurations of the seeds and of the package's conventions,
:data:`PARITY_CASES` those of the hyperparameters added for parity with PyTorch
(conv ``groups`` and ``padding_mode``, pooling ``ceil_mode`` and ``divisor_override``),
:data:`MODEL_CASES` those of the layers of imported PyTorch models (normalization, dropout,
padding, resampling, more activations), :data:`BENCHMARK_CASES` the large layers of
``benchmarks/run.py``.

Examples
--------
>>> from jacobian_cnn.cases import CASES
>>> case = next(c for c in CASES if c.id == "avg-seed000")
>>> case.layer(), case.x().shape, case.wrts
(AvgPool2D(2x2, stride=1), (3, 3), ('input',))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from jacobian_cnn.ops.by_name import PARAMETERS, make_layer

__all__ = ["ALL_CASES", "BENCHMARK_CASES", "CASES", "GRID_BENCHMARK_CASES", "GRID_CASES", "MODEL_CASES",
           "NEW_LAYER_BENCHMARK_CASES", "PARITY_CASES", "X_KINDS", "Case", "layer_options", "draw_input", "draw_model_params"]

X_KINDS = ("normal", "ties", "zeros", "negative", "float32")
"""How a case draws its input: normal, small integers (ties), all zeros, all negative, float32."""

_SHAPE_KEYS = ("kernel", "bias", "n_out")  # options that shape the drawn parameters
_NOT_DIFFERENTIATED = ("target", "labels", "mask")  # drawn arrays without a Jacobian


def layer_options(options):
    """A case's ``options`` without the parameter shapes: the layer's keyword options."""
    return {k: v for k, v in options.items() if k not in _SHAPE_KEYS}


def draw_input(shape, kind, rng):
    """An input of ``shape`` drawn from ``rng`` as ``kind`` says (:data:`X_KINDS`)."""
    if kind == "ties":
        return rng.integers(-2, 3, size=shape).astype(np.float64)
    if kind == "zeros":  # every window is one big tie
        return np.zeros(shape)
    x = rng.normal(size=shape)
    if kind == "negative":
        return -np.abs(x) - 0.5
    return x.astype(np.float32) if kind == "float32" else x


@dataclass(frozen=True)
class Case:
    """One configuration: an operation, an input shape, options, a seed and its references."""

    id: str
    op: str
    x_shape: tuple
    options: dict = field(default_factory=dict, hash=False, compare=False)
    seed: int = 0
    x_kind: str = "normal"
    torch: bool = True
    jax: bool = False
    bit_identical_to: tuple = ("definition", "loop")
    verify: bool = False

    def x(self):
        """The input, drawn from ``seed`` (the same array every time)."""
        return draw_input(self.x_shape, self.x_kind, np.random.default_rng(self.seed))

    def params(self):
        """The parameter arrays (kernel/bias, weight/bias, target, labels), drawn from ``seed + 1000``."""
        rng = np.random.default_rng(self.seed + 1000)
        o = self.options
        if "kernel" in o:  # conv, and the N-D convolutions: C_out is the kernel's last axis
            p = {"kernel": rng.normal(size=o["kernel"])}
            if o.get("bias", True):  # (times the groups for a transposed convolution)
                transposed = self.op.startswith("convtranspose")
                p["bias"] = rng.normal(size=o["kernel"][-1] * (o.get("groups", 1) if transposed else 1))
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
        return draw_model_params(self.op, self.x_shape, o, rng)

    @property
    def layer_options(self):
        """``options`` without the parameter shapes: the layer's keyword options."""
        return layer_options(self.options)

    def layer(self, params=None):
        """The layer, with :meth:`params` (or the given ``params``)."""
        return make_layer(self.op, self.params() if params is None else params, self.layer_options)

    @property
    def wrts(self):
        """The variables with a Jacobian: ``"input"`` and each parameter the case draws."""
        drawn = self.params()
        return ("input", *(name for name in PARAMETERS.get(self.op, ())
                           if name in drawn and name not in _NOT_DIFFERENTIATED))

    @property
    def fd_ok(self):
        """Finite differences need a differentiable point: no ties, no kinks."""
        return self.x_kind not in ("ties", "zeros")


def K(kh, kw, ci, co):
    """The ``kernel`` option: the shape of the kernel a conv case draws."""
    return {"kernel": (kh, kw, ci, co)}


CASES = [
    # convolution: channels, bias, stride, padding (symmetric / asymmetric), dilation, batch
    Case("conv-seed004-A", "conv", (3, 4), {**K(2, 2, 1, 1), "bias": False, "padding": 1, "stride": (1, 2)}, jax=True),
    Case("conv-basic", "conv", (5, 5, 1), K(3, 3, 1, 1)),
    Case("conv-multichannel", "conv", (6, 5, 3), K(3, 2, 3, 4), seed=1, verify=True),
    Case("conv-stride-pad", "conv", (7, 6, 2), {**K(3, 3, 2, 2), "stride": 2, "padding": 1}, seed=2),
    Case("conv-asym-pad", "conv", (5, 6, 2), {**K(2, 3, 2, 3), "padding": ((1, 0), (2, 1)), "stride": (2, 1)}, seed=3),
    Case("conv-dilation", "conv", (7, 8, 2), {**K(3, 2, 2, 2), "dilation": (2, 3), "padding": 2}, seed=4),
    Case("conv-stride>window", "conv", (9, 9, 1), {**K(2, 2, 1, 2), "stride": 3}, seed=5),
    Case("conv-batch1", "conv", (4, 5, 2, 1), {**K(2, 2, 2, 3), "padding": 1}, seed=6),
    Case("conv-batch3", "conv", (5, 4, 2, 3), {**K(3, 2, 2, 2), "stride": (2, 1), "padding": ((0, 1), (1, 0)), "dilation": (1, 2)}, seed=7, jax=True),
    Case("conv-1x1-map", "conv", (1, 1, 3), K(1, 1, 3, 2), seed=8),
    Case("conv-window=padded-input", "conv", (2, 3, 1), {**K(4, 5, 1, 2), "padding": 1}, seed=9),
    Case("conv-pad-beyond-window", "conv", (3, 3, 1), {**K(2, 2, 1, 1), "padding": 2}, seed=10),
    Case("conv-float32", "conv", (5, 5, 2), {**K(3, 3, 2, 2), "padding": 1}, seed=11, x_kind="float32"),
    # padding strings: "same" (stride 1; odd total padding goes bottom/right), "valid"
    Case("conv-same", "conv", (5, 4, 2), {**K(3, 3, 2, 2), "padding": "same"}, seed=12),
    Case("conv-same-even-dilated", "conv", (6, 5, 1, 2), {**K(2, 4, 1, 2), "padding": "same", "dilation": (3, 1)}, seed=13, jax=True),
    Case("conv-valid", "conv", (5, 6, 2), {**K(2, 3, 2, 1), "padding": "valid", "stride": 2}, seed=14),
    # average pooling: overlap (seed 000), padding both divisor conventions, batch
    Case("avg-seed000", "avgpool", (3, 3), {"window": 2, "stride": 1}, verify=True),
    Case("avg-nonoverlap", "avgpool", (4, 6, 2), {"window": 2}, seed=1),
    Case("avg-overlap-3x3", "avgpool", (6, 5, 2, 2), {"window": 3, "stride": 1}, seed=2),
    Case("avg-pad-include", "avgpool", (5, 5, 2), {"window": 3, "stride": 2, "padding": 1}, seed=3),
    Case("avg-pad-exclude", "avgpool", (5, 5, 2), {"window": 3, "stride": 2, "padding": 1, "count_include_pad": False}, seed=4, jax=True),
    Case("avg-asym-pad", "avgpool", (4, 5, 1, 2), {"window": (2, 3), "stride": (1, 2), "padding": ((1, 0), (0, 1))}, seed=5, jax=True),
    Case("avg-stride>window", "avgpool", (7, 7, 1), {"window": 2, "stride": 3}, seed=6),
    Case("avg-1x1-map", "avgpool", (1, 1, 2), {"window": 1}, seed=7),
    Case("avg-float32", "avgpool", (4, 4, 2), {"window": 2, "stride": 1}, seed=8, x_kind="float32"),
    # max pooling: switches, ties, padding never wins / seed's zero padding, negative windows
    Case("max-basic", "maxpool", (4, 4, 1), {"window": 2}),
    Case("max-overlap-batch", "maxpool", (5, 6, 2, 3), {"window": 3, "stride": 1}, seed=1),
    Case("max-pad-negative", "maxpool", (4, 5, 2), {"window": 3, "stride": 2, "padding": 1}, seed=2, x_kind="negative", jax=True),
    Case("max-seed004-B-zero-pad", "maxpool", (3, 4), {"window": (3, 2), "stride": (1, 2), "padding": 1, "pad_value": 0.0}, seed=3, jax=True),
    Case("max-zero-pad-negative", "maxpool", (3, 4, 2), {"window": (3, 2), "stride": (1, 2), "padding": 1, "pad_value": 0.0}, seed=4, x_kind="negative"),
    Case("max-ties-colmajor", "maxpool", (6, 6, 2), {"window": 3, "stride": 1}, seed=5, x_kind="ties", torch=False),
    Case("max-ties-rowmajor", "maxpool", (6, 6, 2), {"window": 3, "stride": 1, "tie": "row_major"}, seed=5, x_kind="ties"),
    Case("max-ties-pad-rowmajor", "maxpool", (5, 5, 1, 2), {"window": 2, "stride": 2, "padding": 1, "tie": "row_major"}, seed=6, x_kind="ties", jax=True),
    Case("max-dilation", "maxpool", (7, 7, 1), {"window": 2, "stride": 2, "dilation": 2}, seed=7, verify=True),
    Case("max-stride>window", "maxpool", (7, 8, 1), {"window": 2, "stride": 3}, seed=8),
    Case("max-window=input", "maxpool", (3, 3, 2), {"window": 3}, seed=9),
    Case("max-1x1-map", "maxpool", (1, 1, 1), {"window": 1}, seed=10),
    Case("max-float32", "maxpool", (4, 4, 2), {"window": 2}, seed=11, x_kind="float32"),
    # deliberate ties: all zeros, and small integers with dilation; row-major is PyTorch's rule
    Case("max-zeros-rowmajor", "maxpool", (5, 5, 2), {"window": 3, "stride": 1, "padding": 1, "tie": "row_major"}, x_kind="zeros", jax=True, verify=True),
    # an all-equal window: both tie rules pick its top-left entry, so even column-major agrees with torch
    Case("max-zeros-colmajor", "maxpool", (5, 5, 2), {"window": 3, "stride": 1, "padding": 1}, x_kind="zeros"),
    Case("max-ties-dilation-rowmajor", "maxpool", (7, 6, 1, 2), {"window": (2, 3), "stride": 1, "dilation": 2, "tie": "row_major"}, seed=12, x_kind="ties"),
    # flatten orders
    Case("flatten-F", "flatten", (3, 2, 2), {"order": "F"}),
    Case("flatten-C", "flatten", (3, 2, 2), {"order": "C"}, seed=1, jax=True),
    Case("flatten-torch", "flatten", (3, 2, 2), {"order": "torch"}, seed=2),
    Case("flatten-torch-batch", "flatten", (2, 3, 2, 2), {"order": "torch"}, seed=3, jax=True, verify=True),
    Case("flatten-C-batch", "flatten", (2, 3, 2, 2), {"order": "C"}, seed=4),
    # dense, activations, softmax, losses
    Case("dense", "dense", (5,), {"n_out": 3}),
    Case("dense-batch", "dense", (4, 3), {"n_out": 2}, seed=1, jax=True, verify=True),
    Case("dense-nobias-float32", "dense", (4,), {"n_out": 3, "bias": False}, seed=2, x_kind="float32", jax=True),
    Case("relu", "relu", (3, 4, 2), seed=1, verify=True),
    Case("relu-batch", "relu", (2, 2, 2, 3), seed=2, jax=True),
    Case("sigmoid", "sigmoid", (3, 4, 2), seed=3, jax=True),
    Case("tanh", "tanh", (5, 2), seed=4, jax=True),
    Case("softmax", "softmax", (5,), seed=5, bit_identical_to=("definition",)),
    Case("softmax-batch", "softmax", (4, 3), seed=6, jax=True, verify=True, bit_identical_to=("definition",)),
    Case("mse", "mse", (3, 2), seed=7, jax=True, bit_identical_to=("definition",)),
    Case("xent", "xent", (5,), seed=8),
    Case("xent-batch", "xent", (4, 3), seed=9, jax=True),
]

PARITY_CASES = [
    # groups: C_in = kernel.shape[2] * groups; depthwise is groups = C_in
    Case("conv-groups2", "conv", (5, 5, 4), {**K(3, 3, 2, 4), "groups": 2}),
    Case("conv-groups3-stride-pad", "conv", (6, 5, 6, 2), {**K(2, 3, 2, 3), "groups": 3, "stride": 2, "padding": ((1, 0), (0, 2))}, seed=1),
    Case("conv-depthwise", "conv", (6, 5, 3), {**K(3, 3, 1, 3), "groups": 3, "padding": 1}, seed=2, verify=True),
    Case("conv-depthwise-multiplier", "conv", (5, 5, 2, 2), {**K(2, 3, 1, 4), "groups": 2, "stride": 2, "padding": 1}, seed=3),
    Case("conv-groups-same-dilated", "conv", (5, 6, 4), {**K(3, 2, 2, 2), "groups": 2, "padding": "same", "dilation": 2}, seed=4, verify=True),
    Case("conv-groups-float32", "conv", (4, 4, 4), {**K(3, 3, 1, 4), "groups": 4, "padding": 1}, seed=5, x_kind="float32"),
    # copying padding modes: one input entry feeds several taps, the Jacobian sums them
    Case("conv-reflect", "conv", (5, 5, 2), {**K(3, 3, 2, 2), "padding": 1, "padding_mode": "reflect"}, seed=6, bit_identical_to=()),
    Case("conv-reflect-asym-dilated", "conv", (6, 5, 1, 2), {**K(2, 3, 1, 2), "padding": ((2, 1), (0, 3)), "dilation": (2, 1), "padding_mode": "reflect"}, seed=7),
    Case("conv-reflect-same-even", "conv", (5, 5, 1), {**K(4, 4, 1, 1), "padding": "same", "padding_mode": "reflect"}, seed=8, verify=True),
    Case("conv-replicate", "conv", (4, 5, 2), {**K(3, 3, 2, 3), "padding": 1, "stride": (1, 2), "padding_mode": "replicate"}, seed=9, verify=True, bit_identical_to=()),
    Case("conv-replicate-pad-beyond-input", "conv", (3, 3, 1), {**K(3, 3, 1, 1), "padding": 4, "padding_mode": "replicate"}, seed=10, bit_identical_to=("definition",)),
    Case("conv-replicate-1x1-input", "conv", (1, 1, 2), {**K(3, 3, 2, 1), "padding": 1, "padding_mode": "replicate"}, seed=11, bit_identical_to=("definition",)),
    Case("conv-circular", "conv", (4, 5, 2), {**K(3, 3, 2, 2), "padding": 1, "padding_mode": "circular"}, seed=12),
    Case("conv-circular-full-wrap", "conv", (3, 4, 1, 2), {**K(3, 2, 1, 2), "padding": ((3, 3), (4, 4)), "dilation": (2, 3), "padding_mode": "circular"}, seed=13, verify=True),
    Case("conv-circular-groups-same", "conv", (4, 4, 4, 2), {**K(3, 3, 2, 4), "groups": 2, "padding": "same", "padding_mode": "circular"}, seed=14),
    # average pooling: ceil_mode, the divisor in every count_include_pad x ceil_mode combination, override
    Case("avg-ceil", "avgpool", (5, 5, 2), {"window": 2, "ceil_mode": True}),
    Case("avg-ceil-pad-include", "avgpool", (6, 6, 1, 2), {"window": 3, "stride": 2, "padding": 1, "ceil_mode": True}, seed=1, verify=True),
    Case("avg-ceil-pad-exclude", "avgpool", (6, 6, 1, 2), {"window": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}, seed=2, verify=True),
    Case("avg-ceil-nopad-exclude", "avgpool", (5, 7, 1), {"window": (2, 3), "stride": 2, "ceil_mode": True, "count_include_pad": False}, seed=3),
    Case("avg-ceil-last-window-dropped", "avgpool", (4, 4, 1), {"window": 2, "stride": 3, "padding": 1, "ceil_mode": True}, seed=4),
    Case("avg-pad-exclude-floor", "avgpool", (6, 6, 2), {"window": 3, "stride": 2, "padding": 1, "count_include_pad": False}, seed=5),
    Case("avg-divisor-override", "avgpool", (4, 4, 1), {"window": 2, "divisor_override": 3}, seed=6),
    Case("avg-ceil-divisor-override", "avgpool", (5, 5, 2), {"window": 3, "stride": 2, "padding": 1, "ceil_mode": True, "divisor_override": 4}, seed=7, verify=True),
    Case("avg-negative-divisor-override", "avgpool", (4, 4, 2), {"window": 2, "stride": 1, "divisor_override": -3}, seed=9),
    Case("avg-ceil-overlap-batch", "avgpool", (5, 4, 2, 2), {"window": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}, seed=8),
    # max pooling: ceil_mode, with dilation, ties under PyTorch's rule
    Case("max-ceil", "maxpool", (5, 5, 2), {"window": 2, "ceil_mode": True}),
    Case("max-ceil-pad-dilation", "maxpool", (7, 6, 1, 2), {"window": 3, "stride": 2, "padding": 1, "dilation": 2, "ceil_mode": True}, seed=1, verify=True),
    Case("max-ceil-ties-rowmajor", "maxpool", (6, 6, 2), {"window": 3, "stride": 2, "padding": 1, "ceil_mode": True, "tie": "row_major"}, seed=2, x_kind="ties", verify=True),
    Case("max-ceil-zeros-rowmajor", "maxpool", (5, 6, 1, 2), {"window": 2, "stride": 2, "padding": 1, "ceil_mode": True, "tie": "row_major"}, x_kind="zeros"),
    Case("max-ceil-pad-value", "maxpool", (5, 5, 1), {"window": 2, "stride": 2, "padding": ((1, 0), (0, 1)), "ceil_mode": True, "pad_value": 0.0}, seed=3, x_kind="negative", torch=False),
]

# ---- issue 14 part B: 1-D, 3-D and transposed window layers (jacobian_cnn.ops.window_nd) ----
GRID_CASES = [
    # Conv1D over (L, C[, N]), kernel (k, C_in / groups, C_out)
    Case("conv1d-basic", "conv1d", (7, 2), {"kernel": (3, 2, 3)}),
    Case("conv1d-stride-pad-dilation-batch", "conv1d", (9, 2, 2), {"kernel": (3, 2, 4), "stride": 2, "padding": 1, "dilation": 2}, seed=1, verify=True),
    Case("conv1d-groups-asym-pad", "conv1d", (8, 4), {"kernel": (2, 2, 4), "groups": 2, "padding": ((2, 1),), "stride": 3}, seed=2, jax=True),
    Case("conv1d-same-dilated", "conv1d", (6, 1, 2), {"kernel": (3, 1, 2), "padding": "same", "dilation": 2, "bias": False}, seed=3),
    Case("conv1d-float32", "conv1d", (6, 3), {"kernel": (2, 3, 2), "padding": 1}, seed=4, x_kind="float32"),
    # Conv3D over (D, H, W, C[, N]), kernel (kd, kh, kw, C_in / groups, C_out)
    Case("conv3d-basic", "conv3d", (4, 3, 5, 2), {"kernel": (2, 2, 3, 2, 2)}, seed=5),
    Case("conv3d-stride-pad-dilation-batch", "conv3d", (5, 4, 4, 2, 2), {"kernel": (3, 2, 2, 2, 3), "stride": (2, 1, 2), "padding": 1, "dilation": (1, 2, 1)}, seed=6, verify=True, jax=True),
    Case("conv3d-groups", "conv3d", (3, 3, 3, 4), {"kernel": (2, 2, 2, 2, 2), "groups": 2, "padding": (1, 0, 1)}, seed=7),
    # ConvTranspose2D over (H, W[, C[, N]]), kernel (kh, kw, C_in, C_out / groups)
    Case("convT2d-basic", "convtranspose2d", (3, 4, 2), {"kernel": (3, 3, 2, 3)}, seed=8),
    Case("convT2d-stride-pad-outpad-batch", "convtranspose2d", (3, 3, 2, 2), {"kernel": (3, 2, 2, 2), "stride": 2, "padding": 1, "output_padding": 1}, seed=9, verify=True),
    Case("convT2d-dilation-groups-outpad<dilation", "convtranspose2d", (4, 3, 4), {"kernel": (2, 3, 4, 1), "groups": 2, "dilation": (2, 1), "stride": (1, 2), "padding": (1, 0), "output_padding": 1}, seed=10, jax=True),
    Case("convT2d-asym-pad", "convtranspose2d", (3, 3, 1), {"kernel": (3, 3, 1, 2), "stride": 2, "padding": ((1, 0), (0, 2))}, seed=11),
    Case("convT2d-1x1-map", "convtranspose2d", (1, 1, 3), {"kernel": (2, 2, 3, 2)}, seed=12),
    Case("convT2d-one-channel-map", "convtranspose2d", (2, 3), {"kernel": (2, 2, 1, 1), "stride": 2, "bias": False}, seed=13),
    Case("convT2d-float32", "convtranspose2d", (3, 3, 2), {"kernel": (2, 2, 2, 2), "stride": 2}, seed=14, x_kind="float32"),
    # ConvTranspose1D / 3D
    Case("convT1d-stride3-outpad2", "convtranspose1d", (5, 2), {"kernel": (3, 2, 2), "stride": 3, "padding": 1, "output_padding": 2}, seed=15, jax=True),
    Case("convT1d-depthwise-dilation-batch", "convtranspose1d", (4, 4, 2), {"kernel": (2, 4, 1), "groups": 4, "stride": 2, "dilation": 3}, seed=16),
    Case("convT3d-stride-pad-outpad", "convtranspose3d", (2, 3, 2, 2), {"kernel": (2, 2, 3, 2, 2), "stride": (2, 1, 2), "padding": (0, 1, 1), "output_padding": (1, 0, 0)}, seed=17, verify=True, jax=True),
    # AvgPool1D / 3D: padding in both divisor conventions, ceil_mode, divisor_override
    Case("avg1d-pad", "avgpool1d", (9, 2), {"window": 3, "stride": 2, "padding": 1}, seed=18),
    Case("avg1d-exclude-ceil-batch", "avgpool1d", (8, 2, 2), {"window": 3, "stride": 2, "padding": 1, "count_include_pad": False, "ceil_mode": True}, seed=19, verify=True, jax=True),
    Case("avg1d-divisor-override", "avgpool1d", (6, 1), {"window": 2, "stride": 1, "divisor_override": 3}, seed=20),
    Case("avg3d-basic", "avgpool3d", (4, 5, 4, 2), {"window": 2}, seed=21),
    Case("avg3d-pad-exclude-ceil-batch", "avgpool3d", (5, 5, 5, 1, 2), {"window": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}, seed=22, verify=True, jax=True),
    Case("avg3d-float32", "avgpool3d", (3, 4, 4, 2), {"window": (1, 2, 2), "stride": (1, 1, 2)}, seed=23, x_kind="float32"),
    # MaxPool1D / 3D: switches, dilation, ceil_mode, ties (PyTorch's row-major rule)
    Case("max1d-pad-dilation", "maxpool1d", (9, 2), {"window": 3, "stride": 2, "padding": 1, "dilation": 2}, seed=24),
    Case("max1d-ceil-batch", "maxpool1d", (7, 2, 3), {"window": 2, "ceil_mode": True}, seed=25),
    Case("max1d-asym-pad-ceil", "maxpool1d", (8, 2), {"window": 3, "stride": 2, "padding": ((2, 0),), "ceil_mode": True}, seed=30, x_kind="negative", jax=True),
    Case("max1d-ties-rowmajor", "maxpool1d", (8, 2), {"window": 3, "stride": 1, "tie": "row_major"}, seed=26, x_kind="ties"),
    Case("max3d-basic", "maxpool3d", (4, 4, 4, 2), {"window": 2}, seed=27, verify=True),
    Case("max3d-pad-dilation-ceil-batch", "maxpool3d", (5, 6, 5, 1, 2), {"window": (3, 2, 2), "stride": 2, "padding": 1, "dilation": (1, 2, 1), "ceil_mode": True}, seed=28),
    Case("max3d-ties-rowmajor", "maxpool3d", (3, 4, 4, 2), {"window": 2, "stride": 1, "tie": "row_major"}, seed=29, x_kind="ties", jax=True),
    Case("max3d-ties-colmajor", "maxpool3d", (3, 4, 4, 2), {"window": 2, "stride": 1}, seed=29, x_kind="ties", torch=False),
]
"""The 1-D, 3-D and transposed window layers (issue 14, part B), checked by ``tests/test_nd.py``."""

GRID_BENCHMARK_CASES = [
    # the large N-D layers of benchmarks/run.py (float32, no bias; each Jacobian over 50 MB); never run by the tests
    Case("convT2d 32x32x32 4x4 32->16 stride 2 pad 1", "convtranspose2d", (32, 32, 32), {"kernel": (4, 4, 32, 16), "bias": False, "stride": 2, "padding": 1}, x_kind="float32"),
    Case("conv3d 14x14x14x8 3x3x3 8->16 pad 1", "conv3d", (14, 14, 14, 8), {"kernel": (3, 3, 3, 8, 16), "bias": False, "padding": 1}, x_kind="float32"),
]

_C32 = tuple(np.linspace(-0.5, 0.5, 32).round(3))  # running statistics of 32 channels
_V32 = tuple(np.linspace(0.5, 2.0, 32).round(3))

NEW_LAYER_BENCHMARK_CASES = [
    # issue 14's new layers in benchmarks/run.py (float32, no bias; each Jacobian over 50 MB
    # at 8 bytes per stored entry); never run by the tests
    Case("batchnorm train 16x16x2 N=8 (dense blocks)", "batchnorm", (16, 16, 2, 8), {"bias": False}, x_kind="float32"),
    Case("batchnorm eval 64x64x32 N=64", "batchnorm", (64, 64, 32, 64), {"bias": False, "training": False, "running_mean": _C32, "running_var": _V32}, x_kind="float32"),
    Case("layernorm (16, 16, 8) N=2", "layernorm", (16, 16, 8, 2), {"normalized_shape": (16, 16, 8), "bias": False}, x_kind="float32"),
    Case("upsample nearest x2 128x128x128", "upsample", (128, 128, 128), {"scale_factor": 2}, x_kind="float32"),
    Case("upsample bilinear x2 128x128x64", "upsample", (128, 128, 64), {"scale_factor": 2, "mode": "bilinear"}, x_kind="float32"),
    Case("upsample bilinear corners x2 128x128x64", "upsample", (128, 128, 64), {"scale_factor": 2, "mode": "bilinear", "align_corners": True}, x_kind="float32"),
    Case("reflectionpad 2 on 256x256x128", "reflectionpad", (256, 256, 128), {"padding": 2}, x_kind="float32"),
    Case("adaptiveavgpool 256x256x128 -> 60x60", "adaptiveavgpool", (256, 256, 128), {"output_size": (60, 60)}, x_kind="float32"),
    Case("conv1d 2048x32 k3 32->64 pad 1", "conv1d", (2048, 32), {"kernel": (3, 32, 64), "bias": False, "padding": 1}, x_kind="float32"),
    Case("convT1d 2048x32 k4 32->32 stride 2 pad 1", "convtranspose1d", (2048, 32), {"kernel": (4, 32, 32), "bias": False, "stride": 2, "padding": 1}, x_kind="float32"),
    Case("convT3d 8x8x8x16 4x4x4 16->16 stride 2 pad 1", "convtranspose3d", (8, 8, 8, 16), {"kernel": (4, 4, 4, 16, 16), "bias": False, "stride": 2, "padding": 1}, x_kind="float32"),
    Case("avgpool1d 3/1 pad 1 on 65536x64", "avgpool1d", (65536, 64), {"window": 3, "stride": 1, "padding": 1}, x_kind="float32"),
    Case("avgpool3d 2/2 on 64x64x64x32", "avgpool3d", (64, 64, 64, 32), {"window": 2}, x_kind="float32"),
    Case("maxpool1d 3/1 pad 1 on 262144x32", "maxpool1d", (262144, 32), {"window": 3, "stride": 1, "padding": 1}, x_kind="float32"),
    Case("maxpool3d 3/1 pad 1 on 48x48x48x64", "maxpool3d", (48, 48, 48, 64), {"window": 3, "stride": 1, "padding": 1}, x_kind="float32"),
    Case("leakyrelu on 64x64x64x32", "leakyrelu", (64, 64, 64, 32), {"negative_slope": 0.1}, x_kind="float32"),
    Case("gelu on 64x64x64x32", "gelu", (64, 64, 64, 32), x_kind="float32"),
]
"""The new layers' rows of ``benchmarks/run.py --new-layers`` (issue 14, "Performance and limits")."""

BENCHMARK_CASES = [
    # the large layers of benchmarks/run.py (float32, no bias); never run by the tests
    Case("LeNet conv1 32x32x1 5x5 1->6", "conv", (32, 32, 1), {**K(5, 5, 1, 6), "bias": False}, x_kind="float32"),
    Case("conv 32x32x3 3x3 3->16 pad 1", "conv", (32, 32, 3), {**K(3, 3, 3, 16), "bias": False, "padding": 1}, x_kind="float32"),
    Case("conv 16x16x16 3x3 16->32 pad 1", "conv", (16, 16, 16), {**K(3, 3, 16, 32), "bias": False, "padding": 1}, x_kind="float32"),
    Case("conv 64x64x32 3x3 32->64 pad 1 stride 2", "conv", (64, 64, 32), {**K(3, 3, 32, 64), "bias": False, "padding": 1, "stride": 2}, x_kind="float32"),
    Case("avg pool 2x2/2 on 32x32x16", "avgpool", (32, 32, 16), {"window": 2}, x_kind="float32"),
    Case("avg pool 3x3/1 on 32x32x16", "avgpool", (32, 32, 16), {"window": 3, "stride": 1}, x_kind="float32"),
    Case("max pool 2x2/2 on 32x32x16", "maxpool", (32, 32, 16), {"window": 2}, x_kind="float32"),
]



# --- the layers of imported PyTorch models (issue 14 part A) ---------------------------------


def draw_model_params(op, x_shape, o, rng):
    """The drawn arrays of the model layers: ``gamma``/``beta`` (``beta`` unless ``bias`` is
    False), a dropout ``mask`` (``p`` of the entries dropped)."""
    if op in ("batchnorm", "layernorm"):
        shape = (x_shape[2],) if op == "batchnorm" else tuple(np.atleast_1d(o["normalized_shape"]))
        p = {"gamma": rng.normal(size=shape)}
        if o.get("bias", True):
            p["beta"] = rng.normal(size=shape)
        return p
    if op == "dropout":
        return {"mask": (rng.random(x_shape) >= o["p"]).astype(np.float64)}
    return {}


MODEL_CASES = [
    # batch norm: training (a dense block per channel over H, W, N), eval (running statistics)
    Case("batchnorm-train", "batchnorm", (3, 2, 2, 2), verify=True, bit_identical_to=("definition",), jax=True),
    Case("batchnorm-train-one-sample", "batchnorm", (3, 3, 2), {"bias": False, "eps": 1e-3}, seed=1, bit_identical_to=("definition",)),
    Case("batchnorm-eval", "batchnorm", (3, 2, 2, 2), {"training": False, "running_mean": (0.5, -1.0), "running_var": (2.0, 0.25)}, seed=2, jax=True),
    Case("batchnorm-train-float32", "batchnorm", (2, 3, 2, 2), seed=3, x_kind="float32", bit_identical_to=("definition",)),
    # layer norm over a whole sample: maps (H, W, C) and vectors
    Case("layernorm-maps", "layernorm", (2, 3, 2, 2), {"normalized_shape": (2, 3, 2)}, seed=4, bit_identical_to=("definition",), jax=True),
    Case("layernorm-vectors", "layernorm", (5, 3), {"normalized_shape": (5,), "bias": False}, seed=5, bit_identical_to=("definition",)),
    # dropout with an explicit mask, identity
    Case("dropout-mask", "dropout", (3, 4, 2, 2), {"p": 0.4}, seed=6, verify=True, jax=True),
    Case("dropout-one-sample", "dropout", (2, 3, 2), {"p": 0.5}, seed=25),
    Case("identity", "identity", (3, 2, 2), seed=7),
    # padding
    Case("zeropad", "zeropad", (3, 4, 2), {"padding": 1}, seed=8),
    Case("constantpad-asym", "constantpad", (3, 4, 1, 2), {"padding": ((0, 2), (1, 0)), "value": 1.5}, seed=9, jax=True),
    Case("reflectionpad", "reflectionpad", (4, 3, 2), {"padding": ((1, 3), (2, 1))}, seed=10, verify=True, jax=True),
    Case("replicationpad-beyond-input", "replicationpad", (2, 3, 1, 2), {"padding": ((3, 1), (0, 4))}, seed=11, jax=True),
    # resampling: PyTorch's index rules
    Case("upsample-nearest-x2", "upsample", (2, 3, 2), {"scale_factor": 2}, seed=12),
    Case("upsample-nearest-size", "upsample", (3, 4, 1, 2), {"size": (5, 7)}, seed=13, jax=True),
    Case("upsample-bilinear", "upsample", (3, 3, 2), {"size": (5, 7), "mode": "bilinear"}, seed=14, verify=True, jax=True),
    Case("upsample-bilinear-corners", "upsample", (3, 4, 1, 2), {"scale_factor": 2, "mode": "bilinear", "align_corners": True}, seed=15, bit_identical_to=("definition",), jax=True),
    Case("upsample-bilinear-down", "upsample", (5, 4, 2), {"size": (3, 2), "mode": "bilinear"}, seed=16),
    Case("adaptiveavgpool-overlap", "adaptiveavgpool", (5, 7, 2), {"output_size": (3, 4)}, seed=17, verify=True, jax=True),
    Case("globalavgpool", "globalavgpool", (3, 4, 2, 2), seed=18),
    # activations
    Case("leakyrelu", "leakyrelu", (3, 4, 2), {"negative_slope": 0.2}, seed=19, jax=True),
    Case("elu", "elu", (3, 4, 2), {"alpha": 0.7}, seed=20, jax=True),
    Case("gelu", "gelu", (3, 4, 2), seed=21, bit_identical_to=("definition",), jax=True),
    Case("gelu-tanh", "gelu", (5, 2), {"approximate": "tanh"}, seed=22, bit_identical_to=("definition",), jax=True),
    Case("softplus", "softplus", (3, 4, 2), {"beta": 2.0, "threshold": 1.0}, seed=23, bit_identical_to=("definition",), jax=True),
    Case("logsoftmax-batch", "logsoftmax", (4, 3), seed=24, verify=True, bit_identical_to=("definition",), jax=True),
]

ALL_CASES = CASES + PARITY_CASES + GRID_CASES + MODEL_CASES
"""The cases the tests run: :data:`CASES`, :data:`PARITY_CASES`, :data:`GRID_CASES` and
:data:`MODEL_CASES`."""
