"""The torch translations of the layers of imported PyTorch models, and of branches.

Called by :func:`jacobian_cnn.compare.torch_layers.torch_layer` (the one translation of each
layer), in the same form: ``(fn(x, params), out_kind, text)`` on NCHW maps or ``(N, n)``
vectors, parameters in ``BACKEND_LAYOUTS["torch"]`` (``gamma``/``beta`` in the ``CHW`` layout,
reshaped here to what torch takes). Branch layers translate each path's layers with the
same function and join them with ``+`` or ``torch.cat(dim=1)``.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn.compare.layout import to_layout
from jacobian_cnn.compare.translation import BACKEND_LAYOUTS, translate_layers
from jacobian_cnn.ops.activations_more import ELU, GELU, Dropout, Identity, LeakyReLU, LogSoftmax, Softplus
from jacobian_cnn.ops.branches import Add, Concat
from jacobian_cnn.ops.normalization import BatchNorm2D, LayerNorm
from jacobian_cnn.ops.padding import ConstantPad2D, ReflectionPad2D, ReplicationPad2D
from jacobian_cnn.ops.resample import AdaptiveAvgPool2D, Upsample

__all__ = ["torch_model_layer"]


def _elementwise(layer, F):
    """``(fn, text)`` of an elementwise layer, or ``None``."""
    table = {
        Identity: (lambda x: x, "identity"),
        LeakyReLU: (lambda x: F.leaky_relu(x, getattr(layer, "negative_slope", 0.0)),
                    f"F.leaky_relu({getattr(layer, 'negative_slope', '')})"),
        ELU: (lambda x: F.elu(x, getattr(layer, "alpha", 1.0)), "F.elu"),
        GELU: (lambda x: F.gelu(x, approximate=getattr(layer, "approximate", "none")), "F.gelu"),
        Softplus: (lambda x: F.softplus(x, getattr(layer, "beta", 1.0), getattr(layer, "threshold", 20.0)),
                   "F.softplus"),
    }
    return table.get(type(layer))


def _pad(layer, F):
    (top, bottom), (left, right) = layer.padding
    pads = (left, right, top, bottom)
    if isinstance(layer, ConstantPad2D):
        return (lambda x, p: F.pad(x, pads, value=layer.value)), f"F.pad({pads}, value={layer.value})"
    mode = "reflect" if isinstance(layer, ReflectionPad2D) else "replicate"
    return (lambda x, p: F.pad(x, pads, mode=mode)), f"F.pad({pads}, mode={mode!r})"


def _normalization(layer, torch, F):
    if isinstance(layer, BatchNorm2D):
        mean, var = (torch.tensor(v, dtype=torch.float64) for v in (layer.running_mean, layer.running_var))
        stats = (None, None) if layer.training else (mean, var)  # training: no running update

        def bn(x, p):
            gamma, beta = p.get("gamma"), p.get("beta")
            return F.batch_norm(x, *stats, None if gamma is None else gamma.reshape(-1),
                                None if beta is None else beta.reshape(-1),
                                training=layer.training, eps=layer.eps)
        return bn, "same", f"F.batch_norm(training={layer.training}, eps={layer.eps})"
    normalized = layer._param_shape
    torch_shape = (normalized[2], normalized[0], normalized[1]) if len(normalized) == 3 else normalized

    def ln(x, p):
        gamma, beta = p.get("gamma"), p.get("beta")
        return F.layer_norm(x, torch_shape, None if gamma is None else gamma.reshape(torch_shape),
                            None if beta is None else beta.reshape(torch_shape), layer.eps)
    return ln, "same", f"F.layer_norm({torch_shape}, eps={layer.eps})"


def _branches(layer, shape, translate, torch):
    """Each path translated layer by layer; joined by a sum or ``torch.cat(dim=1)``."""
    x = np.zeros(shape)
    paths, texts, out_kinds = [], [], set()
    for name, path in zip(layer.path_names, layer.paths, strict=True):
        if path is None:
            paths.append(None)
            texts.append("identity")
            continue
        _, steps, kind, _ = translate_layers(path.layers, x, translate)
        names = [[(f"{name}.{i}.{p}", p) for p in sub.params] for i, sub in enumerate(path.layers)]
        paths.append(list(zip([fn for fn, _ in steps], names, strict=True)))
        texts.append(" -> ".join(text for _, text in steps))
        out_kinds.add(kind)

    def run(x, p):
        outputs = []
        for steps in paths:
            h = x
            for fn, names in steps or ():
                h = fn(h, {short: p[full] for full, short in names if full in p})
            outputs.append(h)
        if isinstance(layer, Concat):
            return torch.cat(outputs, dim=1)
        total = outputs[0]
        for h in outputs[1:]:
            total = total + h
        return total
    join = "torch.cat(dim=1)" if isinstance(layer, Concat) else "+"
    out_kind = out_kinds.pop() if len(out_kinds) == 1 else "same"
    return run, out_kind, f" {join} ".join(f"[{t}]" for t in texts)


def torch_model_layer(layer, kind, shape, translate):
    """``(fn, out_kind, text)`` for a model layer or a branch layer; ``None`` for another layer.

    ``translate(layer, kind, shape)`` is the translation of any layer (for the paths of a
    branch layer).
    """
    import torch
    import torch.nn.functional as F

    simple = _elementwise(layer, F)
    if simple is not None:
        f, text = simple
        return (lambda x, p: f(x)), "same", text
    if isinstance(layer, Dropout):
        mask = torch.tensor(to_layout(layer.mask, BACKEND_LAYOUTS["torch"][kind]), dtype=torch.float64)
        return (lambda x, p: x * mask / (1 - layer.p)), "same", f"x * mask / (1 - {layer.p})"
    if isinstance(layer, LogSoftmax):
        return (lambda x, p: torch.log_softmax(x, dim=1)), "vectors", "torch.log_softmax(dim=1)"
    if isinstance(layer, (BatchNorm2D, LayerNorm)):
        return _normalization(layer, torch, F)
    if isinstance(layer, (ConstantPad2D, ReflectionPad2D, ReplicationPad2D)):
        fn, text = _pad(layer, F)
        return fn, "maps", text
    if isinstance(layer, Upsample):
        kw = dict(size=layer.size, scale_factor=layer.scale_factor, mode=layer.mode,
                  align_corners=layer.align_corners if layer.mode == "bilinear" else None)
        return (lambda x, p: F.interpolate(x, **kw)), "maps", f"F.interpolate({kw})"
    if isinstance(layer, AdaptiveAvgPool2D):
        size = layer.output_size
        return (lambda x, p: F.adaptive_avg_pool2d(x, size)), "maps", f"F.adaptive_avg_pool2d({size})"
    if isinstance(layer, Add | Concat):
        return _branches(layer, shape, translate, torch)
    return None
