"""The one translation of each layer to PyTorch (``torch.nn.functional`` on ``NCHW``).

:func:`torch_layer` turns a layer into a function of torch tensors in the layouts of
:data:`jacobian_cnn.compare.translation.BACKEND_LAYOUTS` ``["torch"]``. Both
:func:`jacobian_cnn.compare.jacobians.compare` (through ``torch.func.jacrev``) and
:func:`jacobian_cnn.compare.gradients.torch_gradients` (through ``backward``) use it, so
every option honoured for one is honoured for the other. Where torch has no native form of
a configuration, the function is composed from its primitives and the returned text says
how. torch is imported when a layer is translated, not when this module is.
"""

from __future__ import annotations

import functools

import numpy as np

from jacobian_cnn.compare.layout import to_layout
from jacobian_cnn.compare.torch_models import torch_model_layer
from jacobian_cnn.compare.translation import BACKEND_LAYOUTS, MAPS_KINDS, ceil_overhang, no_equivalent
from jacobian_cnn.ops.activations import ReLU, Sigmoid, Softmax, Tanh
from jacobian_cnn.ops.conv import Conv2D
from jacobian_cnn.ops.conv_nd import ConvND
from jacobian_cnn.ops.conv_transpose import ConvTransposeND
from jacobian_cnn.ops.dense import Dense
from jacobian_cnn.ops.grid_layer import GridLayer
from jacobian_cnn.ops.losses import MSELoss, SoftmaxCrossEntropy
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D
from jacobian_cnn.ops.pooling_nd import AvgPoolND
from jacobian_cnn.ops.reshape import Flatten

__all__ = ["torch_layer"]


def _torch_native_pool(layer):
    """Whether torch's own pooling padding expresses the layer's (symmetric, <= window/2)."""
    (top, bottom), (left, right) = layer.padding
    return (top == bottom and left == right and top <= layer.window[0] // 2
            and left <= layer.window[1] // 2)


def torch_layer(layer, kind, shape, *, follow_tie=False):
    """``(fn(x, params), out_kind, text)``: the layer as torch functions on NCHW / (N, n).

    ``shape`` is the layer's input shape in our layout; ``params`` hold the layer's
    parameters in torch's layouts (``BACKEND_LAYOUTS["torch"]``). With ``follow_tie`` a
    ``MaxPool2D(tie="column_major")`` keeps its own tie rule (see
    :func:`_torch_column_major_max_pool`); otherwise every max pool uses torch's.
    """
    import torch
    import torch.nn.functional as F

    if isinstance(layer, GridLayer):
        return _torch_grid(layer, shape, F)
    if isinstance(layer, Conv2D):
        (top, bottom), (left, right) = layer.padding
        kw = dict(stride=layer.stride, dilation=layer.dilation, groups=layer.groups)
        pad, text = None, ""
        if layer.padding_mode != "zeros":
            pad = dict(pad=(left, right, top, bottom), mode=layer.padding_mode)
            kw["padding"], text = 0, f"F.pad(mode={layer.padding_mode!r}) -> "
        elif layer.padding_name is not None:
            kw["padding"] = layer.padding_name
        elif top == bottom and left == right:
            kw["padding"] = (top, left)
        else:
            pad = dict(pad=(left, right, top, bottom))
            kw["padding"], text = 0, "F.pad -> "
        text += "F.conv2d(" + ", ".join(f"{k}={v!r}" for k, v in kw.items()) + ")"

        def conv(x, p):
            return F.conv2d(x if pad is None else F.pad(x, **pad), p["kernel"], p.get("bias"), **kw)
        return conv, "maps", text

    if isinstance(layer, (AvgPool2D, MaxPool2D)):
        if follow_tie and isinstance(layer, MaxPool2D) and layer.tie == "column_major":
            return _torch_column_major_max_pool(layer, shape, torch, F)
        return _torch_pool(layer, shape, torch, F)
    if isinstance(layer, Flatten):
        spatial = tuple(range(2, layer.spatial_ndim + 2))  # (N, C, *S): order -> row-major axes
        perm = {"torch": (0, 1) + spatial, "C": (0,) + spatial + (1,),
                "F": (0, 1) + spatial[::-1]}[layer.order]
        return (lambda x, p: x.permute(perm).flatten(1)), "vectors", \
            f"permute{perm}.flatten(1)"
    if isinstance(layer, Dense):
        return (lambda x, p: F.linear(x, p["weight"], p.get("bias"))), "vectors", "F.linear"
    elementwise = {ReLU: torch.relu, Sigmoid: torch.sigmoid, Tanh: torch.tanh}
    if type(layer) in elementwise:
        f = elementwise[type(layer)]
        return (lambda x, p: f(x)), "same", f"torch.{f.__name__}"
    if isinstance(layer, Softmax):
        return (lambda x, p: torch.softmax(x, dim=1)), "vectors", "torch.softmax(dim=1)"
    if isinstance(layer, MSELoss):
        target = torch.tensor(to_layout(layer.target, BACKEND_LAYOUTS["torch"][kind]),
                              dtype=torch.float64)
        return (lambda x, p: F.mse_loss(x, target)), "scalar", "F.mse_loss"
    if isinstance(layer, SoftmaxCrossEntropy):
        labels = torch.tensor(np.atleast_1d(layer.labels).astype(np.int64))
        return (lambda x, p: F.cross_entropy(x, labels)), "scalar", "F.cross_entropy"
    translated = torch_model_layer(layer, kind, shape,
                                   functools.partial(torch_layer, follow_tie=follow_tie))
    if translated is not None:  # the layers of imported models, and branches
        return translated
    raise no_equivalent(layer, "torch")


def _torch_pool(layer, shape, torch, F):
    k, s, d = layer.window, layer.stride, layer.dilation
    (top, bottom), (left, right) = layer.padding
    eh, ew = ceil_overhang(layer, shape)
    # A composed pool covers every window that fits the padded input; ceil_mode drops a
    # last window that would start in the bottom/right padding, so keep the first out_size.
    oh, ow = layer.geometry(shape[:2]).out_size
    crop = f" -> [:{oh}, :{ow}]" if layer.ceil_mode else ""
    if isinstance(layer, MaxPool2D):
        if layer.pad_value is None and _torch_native_pool(layer):
            text = (f"F.max_pool2d(kernel_size={k}, stride={s}, padding={(top, left)}, "
                    f"dilation={d}, ceil_mode={layer.ceil_mode})")
            return (lambda x, p: F.max_pool2d(x, k, s, (top, left), d, ceil_mode=layer.ceil_mode)), \
                "maps", text
        fill = -np.inf if layer.pad_value is None else layer.pad_value

        def max_pool(x, p):
            x = F.pad(x, (left, right, top, bottom), value=fill)
            x = F.pad(x, (0, ew, 0, eh), value=-np.inf)  # ceil_mode's overhang never wins
            return F.max_pool2d(x, k, s, 0, d)[..., :oh, :ow]
        return max_pool, "maps", (f"F.pad(value={fill}) -> F.pad(overhang {(eh, ew)}, -inf) -> "
                                  f"F.max_pool2d(kernel_size={k}, stride={s}, dilation={d}){crop}")
    if layer.dilation == (1, 1) and _torch_native_pool(layer):
        kw = dict(kernel_size=k, stride=s, padding=(top, left), ceil_mode=layer.ceil_mode,
                  count_include_pad=layer.count_include_pad,
                  divisor_override=layer.divisor_override)
        text = "F.avg_pool2d(" + ", ".join(f"{a}={v!r}" for a, v in kw.items()) + ")"
        return (lambda x, p: F.avg_pool2d(x, **kw)), "maps", text
    # Composed: window sums by a depthwise convolution with ones, divided by the counts
    # of the taps that exist (inside the padded input, or inside the input).
    h, w = shape[:2]
    pads = (left, right + ew, top, bottom + eh)
    mask = torch.ones(1, 1, h + top + bottom, w + left + right, dtype=torch.float64)
    if not layer.count_include_pad:
        mask = F.pad(torch.ones(1, 1, h, w, dtype=torch.float64), (left, right, top, bottom))
    ones = torch.ones(1, 1, *k, dtype=torch.float64)
    counts = F.conv2d(F.pad(mask, (0, ew, 0, eh)), ones, stride=s, dilation=d)[..., :oh, :ow]
    divisor = counts if layer.divisor_override is None else float(layer.divisor_override)

    def avg_pool(x, p):
        c = x.shape[1]
        sums = F.conv2d(F.pad(x, pads), ones.expand(c, 1, *k), stride=s, dilation=d, groups=c)
        return sums[..., :oh, :ow] / divisor  # cropped first: a dropped window may count 0 taps
    return avg_pool, "maps", (f"F.pad{pads} -> depthwise F.conv2d(ones {k}, stride={s}, "
                              f"dilation={d}){crop} / window counts")


def _torch_column_major_max_pool(layer, shape, torch, F):
    """Max pooling whose ties go to the first maximum in column-major window order.

    torch takes the first in row-major order; on the maps with ``H`` and ``W``
    swapped (and the layer's geometry swapped with them) row-major order is the
    original column-major order, so the translation is torch's max pool between
    two transposes.
    """
    mirror = MaxPool2D(layer.window[::-1], stride=layer.stride[::-1], padding=layer.padding[::-1],
                       dilation=layer.dilation[::-1], pad_value=layer.pad_value, tie="row_major",
                       ceil_mode=layer.ceil_mode)
    pool, kind, text = _torch_pool(mirror, (shape[1], shape[0]), torch, F)
    return ((lambda x, p: pool(x.transpose(2, 3), p).transpose(2, 3)), kind,
            f"transpose(H, W) -> {text} -> transpose(H, W) (column-major ties)")


def _torch_grid(layer, shape, F):
    """A 1-D, 3-D or transposed window layer (:mod:`jacobian_cnn.ops.window_nd`) on ``N, C, *S``.

    Symmetric padding goes to torch's own argument; otherwise the input is padded first
    (convolution, max pooling) or the output cropped (transposed convolution). Average
    pooling in 1-D runs as ``F.avg_pool2d`` over ``(L, 1)``, which has ``divisor_override``.
    """
    d = layer.spatial_ndim
    lo = tuple(p for p, _ in layer.padding)
    symmetric = all(a == b for a, b in layer.padding)
    flat_pad = tuple(v for pair in reversed(layer.padding) for v in pair)  # F.pad: last axis first
    kind = MAPS_KINDS[d]
    if isinstance(layer, ConvTransposeND):
        f = getattr(F, f"conv_transpose{d}d")
        kw = dict(stride=layer.stride, padding=lo if symmetric else 0,
                  output_padding=layer.output_padding, groups=layer.groups, dilation=layer.dilation)
        out = layer.output_size(shape[:d])
        crop = (Ellipsis,) + tuple(slice(a, a + n) for a, n in zip(lo, out, strict=True))
        text = f"F.conv_transpose{d}d(" + ", ".join(f"{k}={v!r}" for k, v in kw.items()) + ")"
        return ((lambda x, p: f(x, p["kernel"], p.get("bias"), **kw) if symmetric
                 else f(x, p["kernel"], p.get("bias"), **kw)[crop]), kind,
                text + ("" if symmetric else f" -> crop {layer.padding}"))
    if isinstance(layer, ConvND):
        f = getattr(F, f"conv{d}d")
        kw = dict(stride=layer.stride, padding=lo if symmetric else 0, dilation=layer.dilation,
                  groups=layer.groups)
        text = ("" if symmetric else "F.pad -> ") + f"F.conv{d}d(" + ", ".join(
            f"{k}={v!r}" for k, v in kw.items()) + ")"
        return ((lambda x, p: f(x if symmetric else F.pad(x, flat_pad), p["kernel"], p.get("bias"), **kw)),
                kind, text)
    native = symmetric and all(p <= k // 2 for p, k in zip(lo, layer.window, strict=True))
    if isinstance(layer, AvgPoolND):
        if not native:
            raise no_equivalent(layer, "torch")  # torch's average pools take no other padding
        window, stride = (tuple(v) + (1,) * (d == 1) for v in (layer.window, layer.stride))
        pad = lo + (0,) * (d == 1)
        f = getattr(F, f"avg_pool{max(d, 2)}d")
        kw = dict(kernel_size=window, stride=stride, padding=pad, ceil_mode=layer.ceil_mode,
                  count_include_pad=layer.count_include_pad, divisor_override=layer.divisor_override)
        text = f"F.avg_pool{max(d, 2)}d(" + ", ".join(f"{k}={v!r}" for k, v in kw.items()) + ")"
        if d == 1:
            return (lambda x, p: f(x[..., None], **kw)[..., 0]), kind, "unsqueeze(-1) -> " + text
        return (lambda x, p: f(x, **kw)), kind, text
    f = getattr(F, f"max_pool{d}d")
    kw = dict(kernel_size=layer.window, stride=layer.stride, dilation=layer.dilation)
    if native:
        text = f"F.max_pool{d}d(padding={lo}, ceil_mode={layer.ceil_mode}, {kw})"
        return (lambda x, p: f(x, padding=lo, ceil_mode=layer.ceil_mode, **kw)), kind, text
    # Padded with -inf (never wins), the ceil_mode overhang too, then cropped to the windows.
    geo = layer.geometry(shape[:d])
    ends = [(o - 1) * s + dl * (k - 1) + 1 - (n + a + b) for o, s, dl, k, n, (a, b) in zip(
        geo.out_size, layer.stride, layer.dilation, layer.window, shape[:d], layer.padding, strict=True)]
    pads = tuple(v for (a, b), e in zip(reversed(layer.padding), reversed(ends), strict=True)
                 for v in (a, b + max(e, 0)))
    crop = (Ellipsis,) + tuple(slice(0, o) for o in geo.out_size)
    return ((lambda x, p: f(F.pad(x, pads, value=-np.inf), **kw)[crop]), kind,
            f"F.pad({pads}, -inf) -> F.max_pool{d}d({kw}) -> crop to {geo.out_size}")
