"""PyTorch modules -> this package's layers, one module at a time (used by ``from_torch``).

:func:`convert_module` turns one supported ``torch.nn`` module into a layer: weights into
this package's layouts (conv ``OIHW`` -> ``(kh, kw, C_in / groups, C_out)``, linear
``(out, in)`` -> ``(n_in, n_out)``, layer-norm ``(C, H, W)`` -> ``(H, W, C)``), options
carried over (PyTorch's max-pool ties, ``tie="row_major"``). An unsupported module is
refused with its path in the model and the list of what is supported. torch is imported
when a module is converted.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn.compare.layout import from_layout
from jacobian_cnn.compare.torch_modules_nd import ND_MODULES, nd_converters
from jacobian_cnn.compare.translation import BACKEND_LAYOUTS, MAPS_KINDS
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.ops.activations import ReLU, Sigmoid, Softmax, Tanh
from jacobian_cnn.ops.activations_more import ELU, GELU, Dropout, Identity, LeakyReLU, LogSoftmax, Softplus
from jacobian_cnn.ops.conv import Conv2D
from jacobian_cnn.ops.dense import Dense
from jacobian_cnn.ops.normalization import BatchNorm2D, LayerNorm
from jacobian_cnn.ops.padding import ConstantPad2D, ReflectionPad2D, ReplicationPad2D
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D
from jacobian_cnn.ops.resample import AdaptiveAvgPool2D, Upsample
from jacobian_cnn.ops.reshape import Flatten

__all__ = ["SUPPORTED_MODULES", "convert_module", "unsupported"]

SUPPORTED_MODULES = (
    "Sequential (nested), Conv2d, Linear, ReLU, Sigmoid, Tanh, Softmax(dim=1), LogSoftmax(dim=1), "
    "MaxPool2d, AvgPool2d, " + ND_MODULES + ", Flatten(start_dim=1), BatchNorm2d, "
    "LayerNorm over a whole sample, "
    "Dropout (eval mode, or train mode with a mask), Identity, ZeroPad2d, ConstantPad2d, "
    "ReflectionPad2d, ReplicationPad2d, Upsample (nearest, bilinear), AdaptiveAvgPool2d, "
    "LeakyReLU, ELU, GELU, Softplus; in torch.fx graphs also +, torch.add, torch.cat(dim=1), "
    "torch.flatten(x, 1) and relu/sigmoid/tanh as functions or methods"
)
"""What :func:`jacobian_cnn.from_torch` converts."""


def unsupported(what, path, why=""):
    """The error for a module (or graph node) ``what`` at ``path`` that is not converted."""
    return InvalidTypeError(f"from_torch cannot convert {what} at {path or '<model>'}"
                            f"{': ' + why if why else ''}; supported: {SUPPORTED_MODULES}")


def _array(t):
    return None if t is None else t.detach().cpu().double().numpy()


def _pads(padding):
    """PyTorch's ``(left, right, top, bottom)`` -> ``((top, bottom), (left, right))``."""
    left, right, top, bottom = padding if len(padding) == 4 else (padding[0],) * 4
    return ((top, bottom), (left, right))


def _conv(m, path, nn):
    if m.padding_mode not in ("zeros", "reflect", "replicate", "circular"):
        raise unsupported(f"Conv2d(padding_mode={m.padding_mode!r})", path)
    kernel = _array(m.weight).transpose(2, 3, 1, 0)  # OIHW -> (kh, kw, C_in / groups, C_out)
    return Conv2D(kernel, _array(m.bias), stride=m.stride, padding=m.padding, dilation=m.dilation,
                  groups=m.groups, padding_mode=m.padding_mode)


def _batch_norm(m, path, nn):
    c = m.num_features
    gamma = _array(m.weight) if m.affine else np.ones(c)
    beta = _array(m.bias) if m.affine else None
    track = m.running_mean is not None
    return BatchNorm2D(gamma, beta, running_mean=_array(m.running_mean) if track else None,
                       running_var=_array(m.running_var) if track else None, eps=m.eps,
                       momentum=0.1 if m.momentum is None else m.momentum,
                       training=m.training or not track)


def _layer_norm(m, path, nn):
    shape = tuple(m.normalized_shape)
    if len(shape) not in (1, 3):
        raise unsupported(f"LayerNorm(normalized_shape={shape})", path,
                          "only a whole sample, (C, H, W) or (n,), is normalized here")
    ours = (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape

    def param(t):
        a = _array(t)
        return None if a is None else (a.transpose(1, 2, 0) if len(shape) == 3 else a)
    if getattr(m, "bias", None) is not None and m.weight is None:
        raise unsupported("LayerNorm with a bias but no weight", path)
    return LayerNorm(ours, param(m.weight), param(getattr(m, "bias", None)), eps=m.eps)


def _dropout(m, path, masks, kind):
    if not m.training or m.p == 0:
        return Identity()
    if path not in masks:
        raise InvalidValueError(
            f"from_torch: Dropout at {path} is in training mode, where PyTorch draws a random "
            f"mask: pass its mask (0s and 1s, the layer input's shape in PyTorch's layout) as "
            f"dropout_masks={{{path!r}: mask}}, or call model.eval() first")
    mask = np.asarray(masks[path], dtype=np.float64)
    return Dropout(m.p, from_layout(mask, BACKEND_LAYOUTS["torch"][kind]))


def _upsample(m, path, nn):
    if m.mode not in ("nearest", "bilinear"):
        raise unsupported(f"Upsample(mode={m.mode!r})", path, "modes nearest and bilinear only")
    if getattr(m, "recompute_scale_factor", None):
        raise unsupported("Upsample(recompute_scale_factor=True)", path)
    return Upsample(size=m.size, scale_factor=m.scale_factor, mode=m.mode,
                    align_corners=m.align_corners if m.mode == "bilinear" else None)


def _adaptive(m, path, nn):
    size = m.output_size
    if size is None or (isinstance(size, tuple) and None in size):
        raise unsupported(f"AdaptiveAvgPool2d(output_size={size})", path, "give both sizes")
    return AdaptiveAvgPool2D(size)


def _softmax(cls):
    def convert(m, path, nn):
        if m.dim not in (1, -1):
            raise unsupported(f"{type(m).__name__}(dim={m.dim})", path, "over dim=1 of (N, n) only")
        return cls()
    return convert


def _flatten(m, path, kind):
    """PyTorch's ``Flatten()`` of what ``m`` reads: a no-op on ``(N, n)`` vectors."""
    if m.start_dim != 1 or m.end_dim != -1:
        raise unsupported(f"Flatten(start_dim={m.start_dim}, end_dim={m.end_dim})", path)
    if kind == "vectors":
        return Identity()
    return Flatten("torch", spatial_ndim={v: k for k, v in MAPS_KINDS.items()}[kind])


def _max_pool(m, path, nn):
    if m.return_indices:
        raise unsupported("MaxPool2d(return_indices=True)", path,
                          "the indices are no tensor to differentiate")
    return MaxPool2D(m.kernel_size, stride=m.stride, padding=m.padding, dilation=m.dilation,
                     ceil_mode=m.ceil_mode, tie="row_major")


def _converters(nn):
    """``torch.nn`` class -> ``convert(module, path, nn)``, most specific first."""
    return [
        (nn.Conv2d, _conv),
        (nn.Linear, lambda m, p, nn: Dense(_array(m.weight).T, _array(m.bias))),
        (nn.ReLU, lambda m, p, nn: ReLU()),
        (nn.Sigmoid, lambda m, p, nn: Sigmoid()),
        (nn.Tanh, lambda m, p, nn: Tanh()),
        (nn.Softmax, _softmax(Softmax)),
        (nn.LogSoftmax, _softmax(LogSoftmax)),
        (nn.MaxPool2d, _max_pool),
        (nn.AvgPool2d, lambda m, p, nn: AvgPool2D(m.kernel_size, stride=m.stride, padding=m.padding,
                                                   ceil_mode=m.ceil_mode,
                                                   count_include_pad=m.count_include_pad,
                                                   divisor_override=m.divisor_override)),
        (nn.BatchNorm2d, _batch_norm),
        (nn.LayerNorm, _layer_norm),
        (nn.Identity, lambda m, p, nn: Identity()),
        (nn.ConstantPad2d, lambda m, p, nn: ConstantPad2D(_pads(m.padding), value=m.value)),
        (nn.ZeroPad2d, lambda m, p, nn: ConstantPad2D(_pads(m.padding), value=0.0)),
        (nn.ReflectionPad2d, lambda m, p, nn: ReflectionPad2D(_pads(m.padding))),
        (nn.ReplicationPad2d, lambda m, p, nn: ReplicationPad2D(_pads(m.padding))),
        (nn.Upsample, _upsample),
        (nn.AdaptiveAvgPool2d, _adaptive),
        (nn.LeakyReLU, lambda m, p, nn: LeakyReLU(m.negative_slope)),
        (nn.ELU, lambda m, p, nn: ELU(m.alpha)),
        (nn.GELU, lambda m, p, nn: GELU(m.approximate)),
        (nn.Softplus, lambda m, p, nn: Softplus(m.beta, m.threshold)),
    ] + [(cls, lambda m, p, nn, f=f: f(m, p)) for cls, f in nd_converters(nn)]


_SOURCES = {"kernel": "weight", "weight": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}
"""Our parameter name -> the name of the PyTorch parameter it is converted from."""


_BATCHES = {"vectors": "(N, n) vectors", "maps1d": "(N, C, L) maps", "maps": "(N, C, H, W) maps",
            "maps3d": "(N, C, D, H, W) maps"}


def _check_axes(m, path, kind, nn):
    """Refuse a ``...1d/2d/3d`` module (or ``Upsample``, 2-D here) on maps of other axes, which
    PyTorch would read as unbatched or interpolate along other axes."""
    name = type(m).__name__
    axes = int(name[-2]) if name[-2:] in ("1d", "2d", "3d") else 2 if isinstance(m, nn.Upsample) else None
    if axes is not None and kind != MAPS_KINDS[axes]:
        raise unsupported(name, path, f"it reads {_BATCHES[MAPS_KINDS[axes]]} only, and its input here "
                                      f"is {_BATCHES[kind]}")


def convert_module(m, path, masks, kind):
    """``(layer, sources)`` of the leaf module ``m`` at ``path``, or ``None`` if ``m`` is not
    a leaf this table knows (the caller traces it or refuses it). ``sources`` maps each of
    the layer's parameters to the PyTorch parameter it came from (``"conv1.weight"``).
    ``kind`` is what ``m`` reads: ``"vectors"``, or ``"maps1d"``, ``"maps"``, ``"maps3d"``
    (:data:`~jacobian_cnn.compare.translation.MAPS_KINDS`), for a dropout mask's layout and a
    flatten's axes."""
    import torch.nn as nn

    if isinstance(m, nn.Dropout):
        return _dropout(m, path, masks, kind), {}
    if type(m) is nn.Flatten:
        return _flatten(m, path, kind), {}
    for cls, convert in _converters(nn):
        if type(m) is cls or (cls is nn.Upsample and isinstance(m, nn.Upsample)):
            _check_axes(m, path, kind, nn)
            layer = convert(m, path, nn)
            return layer, {name: f"{path}.{_SOURCES[name]}" if path else _SOURCES[name]
                           for name in layer.params if getattr(m, _SOURCES[name], None) is not None}
    return None
