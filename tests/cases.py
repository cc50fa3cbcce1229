"""The test-side half of the case table: how each operation is checked.

The cases themselves (one line per configuration, with the references that apply)
live in the package, :mod:`jacobian_cnn.cases`. ``OPS`` says, for each operation
name, how to build our layer, the brute-force loop reference (``reference.py``) and
the torch reference (``torch_reference.py``); the generic tests pair the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import reference as ref
import reference_models as refm

from jacobian_cnn.cases import CASES, MODEL_CASES, PARITY_CASES, Case, layer_options
from jacobian_cnn.ops.by_name import make_layer

ALL_CASES = CASES + PARITY_CASES + MODEL_CASES
"""The table's cases with an entry in ``OPS`` (the N-D layers' ``GRID_CASES`` have their own
tests, ``test_nd.py``)."""

__all__ = ["ALL_CASES", "CASES", "MODEL_CASES", "OPS", "PARITY_CASES", "Case", "pick"]


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


def _maker(op):
    """``(params, options) -> layer`` through the package's one factory."""
    def make(params, options):
        return make_layer(op, params, layer_options(options))
    return make


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
        make=_maker("conv"),
        reference=lambda x, p, o: _conv_ref(ref, x, p, o),
        torch=lambda tr, x, p, o: _conv_ref(tr, x, p, o),
        wrts=("input", "kernel", "bias"),
        forward=lambda x, p, o: ref.conv2d(x, p["kernel"], p.get("bias"), *_conv_args(o),
                                           **pick(o, _CONV)),
    ),
    "avgpool": Op(
        make=_maker("avgpool"),
        reference=lambda x, p, o: {"input": ref.avgpool2d_jacobian(x, *_pool_args(o), **_avg_kwargs(o))},
        torch=lambda tr, x, p, o: {"input": tr.avgpool2d_jacobian(x, *_pool_args(o), **_avg_kwargs(o))},
        forward=lambda x, p, o: ref.avgpool2d(x, *_pool_args(o), **_avg_kwargs(o)),
    ),
    "maxpool": Op(
        make=_maker("maxpool"),
        reference=lambda x, p, o: {"input": ref.maxpool2d_jacobian(
            x, *_pool_args(o), **_max_kwargs(o), tie=o.get("tie", "column_major"))},
        torch=lambda tr, x, p, o: {"input": tr.maxpool2d_jacobian(x, *_pool_args(o), **_max_kwargs(o))},
        forward=lambda x, p, o: ref.maxpool2d(x, *_pool_args(o), **_max_kwargs(o),
                                              tie=o.get("tie", "column_major"))[0],
    ),
    "flatten": Op(
        make=_maker("flatten"),
        reference=lambda x, p, o: {"input": ref.flatten_jacobian(x, o.get("order", "F"))},
        torch=lambda tr, x, p, o: {"input": tr.flatten_jacobian(x, o.get("order", "F"))},
        forward=lambda x, p, o: ref.flatten(x, o.get("order", "F")),
    ),
    "dense": Op(
        make=_maker("dense"),
        reference=lambda x, p, o: {k: v for k, v in ref.dense_jacobians(
            x, p["weight"], p.get("bias")).items() if k != "bias" or "bias" in p},
        torch=lambda tr, x, p, o: {k: v for k, v in tr.dense_jacobians(
            x, p["weight"], p.get("bias")).items() if k != "bias" or "bias" in p},
        wrts=("input", "weight", "bias"),
        forward=lambda x, p, o: ref.dense(x, p["weight"], p.get("bias")),
    ),
    "relu": Op(_maker("relu"), lambda x, p, o: {"input": ref.relu_jacobian(x)},
               lambda tr, x, p, o: {"input": tr.relu_jacobian(x)},
               forward=lambda x, p, o: ref.relu(x)),
    "sigmoid": Op(_maker("sigmoid"), lambda x, p, o: {"input": ref.sigmoid_jacobian(x)},
                  lambda tr, x, p, o: {"input": tr.sigmoid_jacobian(x)},
                  forward=lambda x, p, o: ref.sigmoid(x)),
    "tanh": Op(_maker("tanh"), lambda x, p, o: {"input": ref.tanh_jacobian(x)},
               lambda tr, x, p, o: {"input": tr.tanh_jacobian(x)},
               forward=lambda x, p, o: ref.tanh(x)),
    "softmax": Op(_maker("softmax"), lambda x, p, o: {"input": ref.softmax_jacobian(x)},
                  lambda tr, x, p, o: {"input": tr.softmax_jacobian(x)},
                  forward=lambda x, p, o: ref.softmax(x)),
    "mse": Op(_maker("mse"),
              lambda x, p, o: {"input": ref.mse_gradient(x, p["target"])},
              lambda tr, x, p, o: {"input": tr.mse_gradient(x, p["target"])},
              forward=lambda x, p, o: ref.mse(x, p["target"])),
    "xent": Op(_maker("xent"),
               lambda x, p, o: {"input": ref.softmax_cross_entropy_gradient(x, p["labels"])},
               lambda tr, x, p, o: {"input": tr.softmax_cross_entropy_gradient(x, p["labels"])},
               forward=lambda x, p, o: ref.softmax_cross_entropy(x, p["labels"])),
}



# --- the layers of imported PyTorch models (issue 14 part A): loop references in
# reference_models.py, torch references in torch_reference_models.py ---

def _torch_models():
    import torch_reference_models

    return torch_reference_models


def _running(o):
    return None if o.get("training", True) else (o["running_mean"], o["running_var"])


def _norm_args(o):
    return o.get("eps", 1e-5), _running(o)


def _map_op(op, reference, forward):
    return Op(_maker(op), lambda x, p, o: {"input": reference(x, o)},
              lambda tr, x, p, o: {"input": _torch_models().map_jacobian(x, op, o)},
              forward=lambda x, p, o: forward(x, o))


def _elementwise_op(op):
    return Op(_maker(op), lambda x, p, o: {"input": refm.elementwise_jacobian(x, op, o)},
              lambda tr, x, p, o: {"input": _torch_models().elementwise_jacobian(x, op, o)},
              forward=lambda x, p, o: refm.elementwise(x, op, o))


def _pad_op(op, mode):
    return _map_op(op, lambda x, o: refm.pad_jacobian(x, o["padding"], mode),
                   lambda x, o: refm.pad(x, o["padding"], mode, o.get("value", 0.0)))


def _upsample_options(o):
    return pick(o, ("size", "scale_factor", "mode")) | {"align_corners": o.get("align_corners", False)}


OPS.update({
    "batchnorm": Op(
        make=_maker("batchnorm"),
        reference=lambda x, p, o: refm.normalization_jacobians(
            x, "batchnorm", p["gamma"], p.get("beta"), *_norm_args(o)),
        torch=lambda tr, x, p, o: _torch_models().batch_norm_jacobians(
            x, p["gamma"], p.get("beta"), o.get("eps", 1e-5), o.get("training", True), _running(o)),
        forward=lambda x, p, o: refm.normalization(x, "batchnorm", p["gamma"], p.get("beta"),
                                                   *_norm_args(o)),
        wrts=("input", "gamma", "beta"),
    ),
    "layernorm": Op(
        make=_maker("layernorm"),
        reference=lambda x, p, o: refm.normalization_jacobians(
            x, "layernorm", p["gamma"], p.get("beta"), o.get("eps", 1e-5)),
        torch=lambda tr, x, p, o: _torch_models().layer_norm_jacobians(
            x, o["normalized_shape"], p["gamma"], p.get("beta"), o.get("eps", 1e-5)),
        forward=lambda x, p, o: refm.normalization(x, "layernorm", p["gamma"], p.get("beta"),
                                                   o.get("eps", 1e-5)),
        wrts=("input", "gamma", "beta"),
    ),
    "dropout": Op(_maker("dropout"), lambda x, p, o: {"input": refm.dropout_jacobian(x, p["mask"], o["p"])},
                  lambda tr, x, p, o: {"input": _torch_models().dropout_jacobian(x, p["mask"], o["p"])},
                  forward=lambda x, p, o: refm.dropout(x, p["mask"], o["p"])),
    "zeropad": _pad_op("zeropad", "constant"),
    "constantpad": _pad_op("constantpad", "constant"),
    "reflectionpad": _pad_op("reflectionpad", "reflection"),
    "replicationpad": _pad_op("replicationpad", "replication"),
    "upsample": _map_op("upsample", lambda x, o: refm.upsample_jacobian(x, **_upsample_options(o)),
                        lambda x, o: refm.upsample(x, **_upsample_options(o))),
    "adaptiveavgpool": _map_op("adaptiveavgpool",
                               lambda x, o: refm.adaptive_avg_jacobian(x, o["output_size"]),
                               lambda x, o: refm.adaptive_avg(x, o["output_size"])),
    "globalavgpool": _map_op("globalavgpool", lambda x, o: refm.adaptive_avg_jacobian(x, 1),
                             lambda x, o: refm.adaptive_avg(x, 1)),
    **{op: _elementwise_op(op) for op in ("identity", "leakyrelu", "elu", "gelu", "softplus")},
    "logsoftmax": Op(_maker("logsoftmax"), lambda x, p, o: {"input": refm.log_softmax_jacobian(x)},
                     lambda tr, x, p, o: {"input": _torch_models().log_softmax_jacobian(x)},
                     forward=lambda x, p, o: refm.log_softmax(x)),
})
