"""The one translation of each layer to JAX (``lax`` on ``NHWC``).

:func:`jax_layer` turns a layer into a function of JAX arrays in the layouts of
:data:`jacobian_cnn.compare.translation.BACKEND_LAYOUTS` ``["jax"]``, for
:func:`jacobian_cnn.compare.jacobians.compare`. JAX has no ``ceil_mode`` (extra
bottom/right padding stands in) and no average pool (a window sum divided by a window
sum of ones), no transposed convolution with groups (a convolution of the input dilated
by the stride with the flipped kernel stands in). The layers of imported PyTorch models
are :mod:`jacobian_cnn.compare.jax_models`. JAX is imported when a layer is translated,
not when this module is.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn.compare.jax_models import jax_model_layer
from jacobian_cnn.compare.layout import to_layout
from jacobian_cnn.compare.translation import BACKEND_LAYOUTS, MAPS_KINDS, ceil_overhang, no_equivalent
from jacobian_cnn.ops.activations import ReLU, Sigmoid, Softmax, Tanh
from jacobian_cnn.ops.conv import Conv2D
from jacobian_cnn.ops.conv_nd import ConvND
from jacobian_cnn.ops.conv_transpose import ConvTransposeND
from jacobian_cnn.ops.dense import Dense
from jacobian_cnn.ops.grid_layer import GridLayer
from jacobian_cnn.ops.losses import MSELoss, SoftmaxCrossEntropy
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D
from jacobian_cnn.ops.pooling_nd import MaxPoolND
from jacobian_cnn.ops.reshape import Flatten

__all__ = ["jax_layer"]


def jax_layer(layer, kind, shape):
    """``(fn(x, params), out_kind, text)``: the layer as JAX functions on NHWC / (N, n)."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    if isinstance(layer, GridLayer):
        return _jax_grid(layer, shape, jnp, lax)
    if isinstance(layer, Conv2D):
        (top, bottom), (left, right) = layer.padding
        mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}.get(layer.padding_mode)
        if mode is not None:
            padding, text = ((0, 0), (0, 0)), f"jnp.pad(mode={mode!r}) -> "
        elif layer.padding_name is not None:
            padding, text = layer.padding_name.upper(), ""
        else:
            padding, text = layer.padding, ""
        text += (f"lax.conv_general_dilated(NHWC/HWIO, strides={layer.stride}, padding={padding!r}, "
                 f"rhs_dilation={layer.dilation}, feature_group_count={layer.groups})")

        def conv(x, p):
            if mode is not None:
                x = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), mode=mode)
            y = lax.conv_general_dilated(x, p["kernel"], layer.stride, padding,
                                         rhs_dilation=layer.dilation,
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                         feature_group_count=layer.groups)
            return y if "bias" not in p else y + p["bias"]
        return conv, "maps", text

    if isinstance(layer, (AvgPool2D, MaxPool2D)):
        (top, bottom), (left, right) = layer.padding
        eh, ew = ceil_overhang(layer, shape)
        dims, strides = (1, *layer.window, 1), (1, *layer.stride, 1)
        dilation = (1, *layer.dilation, 1)
        pads = ((0, 0), (top, bottom + eh), (left, right + ew), (0, 0))
        oh, ow = layer.geometry(shape[:2]).out_size  # as in torch_layers: ceil_mode may drop one
        text = f"lax.reduce_window(window={layer.window}, strides={layer.stride}, padding={pads[1:3]}"
        text += f", window_dilation={layer.dilation})"
        text += f" -> [:{oh}, :{ow}]" if layer.ceil_mode else ""
        if isinstance(layer, MaxPool2D):
            if layer.dilation != (1, 1):
                raise NotImplementedError(
                    f"JAX cannot differentiate max pooling with window dilation ({layer!r}): "
                    "lax.reduce_window's max has no VJP with window_dilation")
            pre = None
            if layer.pad_value is not None:
                pre = ((0, 0), (top, bottom), (left, right), (0, 0))
                pads = ((0, 0), (0, eh), (0, ew), (0, 0))
                text = f"jnp.pad(constant {layer.pad_value}) -> " + text

            def max_pool(x, p):
                if pre is not None:
                    x = jnp.pad(x, pre, constant_values=layer.pad_value)
                return lax.reduce_window(x, -jnp.inf, lax.max, dims, strides, pads,
                                         window_dilation=dilation)[:, :oh, :ow]
            return max_pool, "maps", text + ", max, init -inf"
        h, w = shape[:2]
        mask = np.ones((1, h + top + bottom, w + left + right, 1))
        mask_pads = ((0, 0), (0, eh), (0, ew), (0, 0))
        if not layer.count_include_pad:
            mask, mask_pads = np.ones((1, h, w, 1)), pads

        def avg_pool(x, p):
            sums = lax.reduce_window(x, 0.0, lax.add, dims, strides, pads,
                                     window_dilation=dilation)[:, :oh, :ow]
            if layer.divisor_override is not None:
                return sums / layer.divisor_override
            counts = lax.reduce_window(jnp.asarray(mask, dtype=x.dtype), 0.0, lax.add, dims,
                                       strides, mask_pads, window_dilation=dilation)
            return sums / counts[:, :oh, :ow]
        return avg_pool, "maps", text + ", add) / window counts"
    if isinstance(layer, Flatten):
        spatial, c = tuple(range(1, layer.spatial_ndim + 1)), layer.spatial_ndim + 1  # (N, *S, C)
        perm = {"C": (0, *spatial, c), "torch": (0, c, *spatial), "F": (0, c, *spatial[::-1])}[layer.order]
        # The size written out: reshape(0, -1) is ambiguous on an empty batch.
        return (lambda x, p: jnp.transpose(x, perm).reshape(x.shape[0], int(np.prod(x.shape[1:])))
                ), "vectors", f"transpose{perm}.reshape(N, -1)"
    if isinstance(layer, Dense):
        def dense(x, p):
            return x @ p["weight"] + p["bias"] if "bias" in p else x @ p["weight"]
        return dense, "vectors", "x @ W + b"
    elementwise = {ReLU: (jax.nn.relu, "jax.nn.relu"), Sigmoid: (jax.nn.sigmoid, "jax.nn.sigmoid"),
                   Tanh: (jnp.tanh, "jnp.tanh")}
    if type(layer) in elementwise:
        f, text = elementwise[type(layer)]
        return (lambda x, p: f(x)), "same", text
    if isinstance(layer, Softmax):
        return (lambda x, p: jax.nn.softmax(x, axis=1)), "vectors", "jax.nn.softmax(axis=1)"
    if isinstance(layer, MSELoss):
        target = to_layout(layer.target, BACKEND_LAYOUTS["jax"][kind])
        return (lambda x, p: jnp.mean((x - target) ** 2)), "scalar", "jnp.mean((y - t)**2)"
    if isinstance(layer, SoftmaxCrossEntropy):
        labels = np.atleast_1d(layer.labels).astype(np.int64)

        def xent(x, p):
            logp = jax.nn.log_softmax(x, axis=1)
            return -jnp.mean(logp[np.arange(labels.size), labels])
        return xent, "scalar", "-mean(jax.nn.log_softmax(axis=1)[labels])"
    translated = jax_model_layer(layer, kind, shape)
    if translated is not None:  # the layers of imported models
        return translated
    raise no_equivalent(layer, "jax")


_GRID_DIMENSIONS = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}


def _jax_grid(layer, shape, jnp, lax):
    """A 1-D, 3-D or transposed convolution or pool (:mod:`jacobian_cnn.ops.window_nd`) on ``N, *S, C``."""
    d, kind = layer.spatial_ndim, MAPS_KINDS[layer.spatial_ndim]
    if isinstance(layer, ConvTransposeND):
        return _jax_transposed(layer, shape, lax), kind, (
            f"lax.conv_general_dilated(lhs_dilation={layer.stride}, flipped kernel, "
            f"rhs_dilation={layer.dilation}, feature_group_count={layer.groups}, padding "
            f"dilation (k - 1) - padding (+ output_padding {layer.output_padding} at the end))")
    if isinstance(layer, ConvND):
        text = (f"lax.conv_general_dilated({'/'.join(_GRID_DIMENSIONS[d][:2])}, strides={layer.stride}, "
                f"padding={layer.padding}, rhs_dilation={layer.dilation}, "
                f"feature_group_count={layer.groups})")

        def conv(x, p):
            y = lax.conv_general_dilated(x, p["kernel"], layer.stride, layer.padding,
                                         rhs_dilation=layer.dilation, dimension_numbers=_GRID_DIMENSIONS[d],
                                         feature_group_count=layer.groups)
            return y if "bias" not in p else y + p["bias"]
        return conv, kind, text
    if not hasattr(layer, "window"):
        raise no_equivalent(layer, "jax")
    geo = layer.geometry(shape[:d])
    over = [max(0, (o - 1) * s + dl * (k - 1) + 1 - (n + lo + hi)) for o, s, dl, k, n, (lo, hi) in zip(
        geo.out_size, layer.stride, layer.dilation, layer.window, shape[:d], layer.padding, strict=True)]
    pads = ((0, 0), *((lo, hi + e) for (lo, hi), e in zip(layer.padding, over, strict=True)), (0, 0))
    dims, strides = (1, *layer.window, 1), (1, *layer.stride, 1)  # pools here: no window dilation
    crop = (slice(None), *(slice(0, o) for o in geo.out_size))
    text = f"lax.reduce_window(window={layer.window}, strides={layer.stride}, padding={pads[1:-1]})"
    if isinstance(layer, MaxPoolND):
        if layer.dilation != (1,) * d:
            raise NotImplementedError(
                f"JAX cannot differentiate max pooling with window dilation ({layer!r})")
        return ((lambda x, p: lax.reduce_window(x, -jnp.inf, lax.max, dims, strides, pads)[crop]),
                kind, text + ", max, init -inf")
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(shape[:d], layer.padding, strict=True))
    mask, mask_pads = np.ones((1, *padded, 1)), ((0, 0), *((0, e) for e in over), (0, 0))
    if not layer.count_include_pad:
        mask, mask_pads = np.ones((1, *shape[:d], 1)), pads

    def avg_pool(x, p):
        sums = lax.reduce_window(x, 0.0, lax.add, dims, strides, pads)[crop]
        if layer.divisor_override is not None:
            return sums / layer.divisor_override
        counts = lax.reduce_window(jnp.asarray(mask, dtype=x.dtype), 0.0, lax.add, dims, strides, mask_pads)
        return sums / counts[crop]
    return avg_pool, kind, text + ", add) / window counts"


def _jax_transposed(layer, shape, lax):
    """PyTorch's ``conv_transpose`` as a convolution: the input dilated by the stride, padded
    by ``dilation (k - 1) - padding`` (plus ``output_padding`` at the end; negative crops),
    cross-correlated with the kernel flipped in space and its channel axes swapped per group."""
    d, g = layer.spatial_ndim, layer.groups
    window = layer.kernel.shape[:d]
    c_in, cog = layer.kernel.shape[d:]
    pads = [(dl * (k - 1) - lo, dl * (k - 1) - hi + op) for k, dl, (lo, hi), op in zip(
        window, layer.dilation, layer.padding, layer.output_padding, strict=True)]
    flip = (slice(None, None, -1),) * d

    def conv_transpose(x, p):
        k = p["kernel"][flip].reshape(*window, g, c_in // g, cog)   # (k..., g, C_in / g, C_out / g)
        k = k.swapaxes(d, d + 1).reshape(*window, c_in // g, g * cog)  # HWIO, O grouped by g
        y = lax.conv_general_dilated(x, k, (1,) * d, pads, lhs_dilation=layer.stride,
                                     rhs_dilation=layer.dilation, dimension_numbers=_GRID_DIMENSIONS[d],
                                     feature_group_count=g)
        return y if "bias" not in p else y + p["bias"]
    return conv_transpose
