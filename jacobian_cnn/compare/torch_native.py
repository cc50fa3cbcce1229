"""This package's layers -> native ``torch.nn`` modules (used by :func:`~jacobian_cnn.to_torch`).

:func:`native_module` builds the ``torch.nn`` module a layer is (``Conv2D`` -> ``nn.Conv2d``,
``ConvTranspose3D`` -> ``nn.ConvTranspose3d``, ``Dense`` -> ``nn.Linear``, ``BatchNorm2D`` ->
``nn.BatchNorm2d``, ``Flatten("torch")`` -> ``nn.Flatten``, ...) with the layer's parameters
copied in PyTorch's layouts (:func:`~jacobian_cnn.compare.translation.param_layout`), so that
:func:`~jacobian_cnn.from_torch` converts it back to the same layer. Branch layers become
``Branch`` modules (:func:`branch_class`) whose ``forward`` is an ``add`` or a ``torch.cat(dim=1)`` of their
paths, which ``torch.fx`` traces. A layer whose configuration no ``torch.nn`` module has
(asymmetric padding, a dropout mask, a flatten order other than PyTorch's, a max pool's
``pad_value``, ...) gives ``None``: the caller falls back to its torch translation
(:func:`~jacobian_cnn.compare.torch_layers.torch_layer`). torch is imported when called.
"""

from __future__ import annotations

import functools

import numpy as np

from jacobian_cnn.compare.layout import to_layout
from jacobian_cnn.compare.translation import param_layout
from jacobian_cnn.ops.activations import ReLU, Sigmoid, Softmax, Tanh
from jacobian_cnn.ops.activations_more import ELU, GELU, Identity, LeakyReLU, LogSoftmax, Softplus
from jacobian_cnn.ops.branches import Add, Concat
from jacobian_cnn.ops.conv import Conv2D
from jacobian_cnn.ops.conv_nd import ConvND
from jacobian_cnn.ops.conv_transpose import ConvTransposeND
from jacobian_cnn.ops.dense import Dense
from jacobian_cnn.ops.normalization import BatchNorm2D, LayerNorm
from jacobian_cnn.ops.padding import ConstantPad2D, ReflectionPad2D, ReplicationPad2D
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D
from jacobian_cnn.ops.pooling_nd import AvgPoolND, MaxPoolND
from jacobian_cnn.ops.resample import AdaptiveAvgPool2D, Upsample
from jacobian_cnn.ops.reshape import Flatten

__all__ = ["torch_sequential", "native_module", "branch_class", "BATCH_KINDS", "TORCH_PARAMETER_NAMES"]

BATCH_KINDS = {2: "vectors", 3: "maps1d", 4: "maps", 5: "maps3d"}
"""The number of axes of a batch (ours or PyTorch's) -> what it holds."""

TORCH_PARAMETER_NAMES = {"kernel": "weight", "weight": "weight", "bias": "bias", "gamma": "weight",
                         "beta": "bias"}
"""Our parameter name -> the name of the ``torch.nn`` module's parameter."""


def _symmetric(padding):
    """Per-axis padding as one int per axis if every axis pads both ends alike, else ``None``."""
    if any(lo != hi for lo, hi in padding):
        return None
    return tuple(lo for lo, _ in padding)


def _conv(layer, nn):
    d = len(layer.padding)
    padding = getattr(layer, "padding_name", None) or _symmetric(layer.padding)
    if padding is None:
        return None
    k = layer.kernel.shape
    c_in = getattr(layer, "n_in_channels", k[-2] * layer.groups)  # Conv2D: (kh, kw, C_in / g, C_out)
    args = (c_in, getattr(layer, "n_out_channels", k[-1]), k[:d])
    kw = dict(stride=layer.stride, padding=padding, dilation=layer.dilation, groups=layer.groups,
              bias=layer.bias is not None)
    if isinstance(layer, ConvTransposeND):
        return getattr(nn, f"ConvTranspose{d}d")(*args, output_padding=layer.output_padding, **kw)
    return getattr(nn, f"Conv{d}d")(*args, padding_mode=getattr(layer, "padding_mode", "zeros"), **kw)


def _pool(layer, nn):
    d = len(layer.padding)
    padding = _symmetric(layer.padding)
    if padding is None or any(p > k // 2 for p, k in zip(padding, layer.window, strict=True)):
        return None  # torch pools pad at most half a window, on both ends alike
    if isinstance(layer, (MaxPool2D, MaxPoolND)):
        if getattr(layer, "pad_value", None) is not None:
            return None
        return getattr(nn, f"MaxPool{d}d")(layer.window, layer.stride, padding, layer.dilation,
                                           ceil_mode=layer.ceil_mode)
    if layer.dilation != (1,) * d or (d == 1 and layer.divisor_override is not None):
        return None
    extra = {} if d == 1 else {"divisor_override": layer.divisor_override}
    return getattr(nn, f"AvgPool{d}d")(layer.window, layer.stride, padding, ceil_mode=layer.ceil_mode,
                                       count_include_pad=layer.count_include_pad, **extra)


def _normalization(layer, nn):
    if isinstance(layer, BatchNorm2D):
        no_bias = {} if layer.beta is not None else {"bias": False}  # torch >= 2.13 has bias=False
        try:
            module = nn.BatchNorm2d(len(layer.gamma), eps=layer.eps, momentum=layer.momentum, **no_bias)
        except TypeError:  # an older torch: both affine parameters or neither
            return None
        return module.train(layer.training)  # running statistics: copied in float64 by native_module
    shape = layer._param_shape
    torch_shape = (shape[2], shape[0], shape[1]) if len(shape) == 3 else shape
    if layer.gamma is None and layer.beta is not None:
        return None
    return nn.LayerNorm(torch_shape, eps=layer.eps, elementwise_affine=layer.gamma is not None,
                        bias=layer.beta is not None)


def _pad(layer, nn):
    (top, bottom), (left, right) = layer.padding
    pads = (left, right, top, bottom)
    if isinstance(layer, ConstantPad2D):
        return nn.ConstantPad2d(pads, layer.value)
    return (nn.ReflectionPad2d if isinstance(layer, ReflectionPad2D) else nn.ReplicationPad2d)(pads)


def _simple(layer, nn):
    """The module of a layer without parameters or options that need a check."""
    table = {
        ReLU: lambda: nn.ReLU(), Sigmoid: lambda: nn.Sigmoid(), Tanh: lambda: nn.Tanh(),
        Identity: lambda: nn.Identity(), Softmax: lambda: nn.Softmax(dim=1),
        LogSoftmax: lambda: nn.LogSoftmax(dim=1),
        LeakyReLU: lambda: nn.LeakyReLU(layer.negative_slope), ELU: lambda: nn.ELU(layer.alpha),
        GELU: lambda: nn.GELU(layer.approximate), Softplus: lambda: nn.Softplus(layer.beta, layer.threshold),
        Upsample: lambda: nn.Upsample(
            size=layer.size, scale_factor=layer.scale_factor, mode=layer.mode,
            align_corners=layer.align_corners if layer.mode == "bilinear" else None),
        AdaptiveAvgPool2D: lambda: nn.AdaptiveAvgPool2d(layer.output_size),
        Flatten: lambda: nn.Flatten() if layer.order == "torch" else None,
    }
    for cls, make in table.items():
        if isinstance(layer, cls):
            return make()
    return None


def _module(layer, nn):
    if isinstance(layer, (Conv2D, ConvND, ConvTransposeND)):
        return _conv(layer, nn)
    if isinstance(layer, (MaxPool2D, AvgPool2D, MaxPoolND, AvgPoolND)):
        return _pool(layer, nn)
    if isinstance(layer, Dense):
        return nn.Linear(*layer.weight.shape, bias=layer.bias is not None)
    if isinstance(layer, (BatchNorm2D, LayerNorm)):
        return _normalization(layer, nn)
    if isinstance(layer, (ConstantPad2D, ReflectionPad2D, ReplicationPad2D)):
        return _pad(layer, nn)
    return _simple(layer, nn)


def torch_sequential(layers, x, torch):
    """``nn.Sequential`` of ``layers`` on an input like ``x`` (ours; see :func:`~jacobian_cnn.to_torch`)."""
    modules = []
    for layer in layers:
        module = native_module(layer, functools.partial(_path_module, x=x, torch=torch))
        modules.append(_translated(layer, x, torch) if module is None else module)
        x = layer.forward(x)
    return torch.nn.Sequential(*modules)


def _path_module(path, x, torch):
    return torch_sequential(path.layers, x, torch)


def _translated(layer, x, torch):
    """A ``Translated`` module running ``layer``'s torch translation on an input like ``x``."""
    from jacobian_cnn.compare.torch_layers import torch_layer

    fn, _, text = torch_layer(layer, BATCH_KINDS[np.ndim(x)], np.shape(x))
    names = {}
    module = _translated_class(torch)(fn, text, type(layer).__name__, names)
    for name, value in layer.params.items():
        attr = name.replace(".", "_")
        tensor = torch.tensor(to_layout(value, param_layout(layer, name, "torch")))
        module.register_parameter(attr, torch.nn.Parameter(tensor))
        names[name] = attr
    return module


@functools.cache
def _translated_class(torch):
    class Translated(torch.nn.Module):
        """A layer with no native ``torch.nn`` module, run through its torch translation."""

        def __init__(self, fn, text, layer_name, names):
            super().__init__()
            self.fn, self.text, self.layer_name, self.names = fn, text, layer_name, names

        def forward(self, x):
            return self.fn(x, {name: getattr(self, attr) for name, attr in self.names.items()})

        def extra_repr(self):
            return f"{self.layer_name}: {self.text}"

    Translated.__module__ = __name__
    return Translated


def native_module(layer, build_path):
    """The native ``torch.nn`` module (float64) computing ``layer``, or ``None`` if none does.

    ``build_path(chain)`` turns a branch layer's path (a :class:`~jacobian_cnn.Chain`) into a
    module (``to_torch`` of the path, on the branch's input).

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> from jacobian_cnn.compare.torch_native import native_module
    >>> native_module(jc.Conv1D(np.ones((3, 2, 4)), padding=1), None)
    Conv1d(2, 4, kernel_size=(3,), stride=(1,), padding=(1,), bias=False)
    >>> native_module(jc.Conv1D(np.ones((3, 2, 4)), padding=((1, 0),)), None) is None
    True
    """
    import torch
    import torch.nn as nn

    if isinstance(layer, (Add, Concat)):
        return _branches(layer, build_path, torch)
    module = _module(layer, nn)
    if module is None:
        return None
    module = module.double()
    with torch.no_grad():
        for name, value in layer.params.items():
            target = getattr(module, TORCH_PARAMETER_NAMES[name])
            tensor = torch.tensor(to_layout(value, param_layout(layer, name, "torch")))
            target.copy_(tensor.reshape(target.shape))
        if isinstance(layer, BatchNorm2D):
            module.running_mean.copy_(torch.tensor(layer.running_mean))
            module.running_var.copy_(torch.tensor(layer.running_var))
    return module


@functools.cache
def branch_class(torch):
    """The ``torch.nn.Module`` class of branch layers (one per process, made when torch is in).

    ``Branch(paths, identity, concat)``: ``paths`` a list of modules, ``identity`` a tuple of
    bools (the path is the input itself), ``concat`` whether outputs are concatenated along
    channels (``torch.cat(dim=1)``) or summed.
    """

    class Branch(torch.nn.Module):
        __doc__ = branch_class.__doc__

        def __init__(self, paths, identity, concat):
            super().__init__()
            self.paths = torch.nn.ModuleList(paths)
            self.identity, self.concat = tuple(identity), bool(concat)

        def forward(self, x):
            outputs = [x if skip else path(x) for skip, path in zip(self.identity, self.paths, strict=True)]
            if self.concat:
                return torch.cat(outputs, dim=1)
            total = outputs[0]
            for h in outputs[1:]:
                total = total + h
            return total

        def extra_repr(self):
            join = "torch.cat(dim=1)" if self.concat else "sum"
            return f"{join} of {len(self.identity)} paths, identity={self.identity}"

    Branch.__module__ = __name__
    return Branch


def _branches(layer, build_path, torch):
    paths = [torch.nn.Identity() if path is None else build_path(path) for path in layer.paths]
    return branch_class(torch)(paths, [path is None for path in layer.paths], isinstance(layer, Concat))
