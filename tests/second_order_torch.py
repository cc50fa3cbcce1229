"""torch.func.hessian of a layer or a chain, in this package's vec order (test helper).

The leaves are kept in this package's layouts and permuted inside the graph (as
``jacobian_cnn.compare.gradients`` does), so the Hessian blocks come back over our own
arrays; :func:`vec_block` flattens them column-major.
"""

import functools
import warnings

import numpy as np
import torch
from torch.func import hessian

from jacobian_cnn.compare.layout import LAYOUTS, to_layout
from jacobian_cnn.compare.torch_layers import torch_layer
from jacobian_cnn.compare.translation import BACKEND_LAYOUTS, param_layout, translate_layers


def _native(t, layout):
    return t.reshape(tuple(t.shape) + (1,) * (len(LAYOUTS[layout]) - t.ndim)).permute(*LAYOUTS[layout])


def vec_block(block, a_shape, b_shape):
    """A ``(*a_shape, *b_shape)`` Hessian block as the ``(a.size, b.size)`` matrix over vecs."""
    block = np.asarray(block).reshape(tuple(a_shape) + tuple(b_shape))
    na, nb = len(a_shape), len(b_shape)
    axes = tuple(reversed(range(na))) + tuple(na + i for i in reversed(range(nb)))
    return block.transpose(axes).reshape(int(np.prod(a_shape)), int(np.prod(b_shape)))


def torch_scalar(layers, x, g=None):
    """``(phi, leaves)``: ``phi(x, *params) = g . vec(chain(x))`` (or the chain's scalar) in
    torch, and the leaf arrays ``[x, (layer index, name, array), ...]`` in our layouts."""
    translate = functools.partial(torch_layer, follow_tie=True)
    x_kind, steps, y_kind, y = translate_layers(layers, x, translate)
    keys = [(i, name) for i, layer in enumerate(layers) for name in layer.params]
    if g is not None:
        g_native = torch.tensor(to_layout(np.reshape(g, np.shape(y), order="F"),
                                          BACKEND_LAYOUTS["torch"][y_kind]))

    def phi(x_t, *params):
        by_layer = [{} for _ in layers]
        for (i, name), p in zip(keys, params, strict=True):
            by_layer[i][name] = _native(p, param_layout(layers[i], name, "torch"))
        h = _native(x_t, BACKEND_LAYOUTS["torch"][x_kind])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Using padding='same'")
            for (fn, _), p in zip(steps, by_layer, strict=True):
                h = fn(h, p)
        return h if g is None else (h * g_native).sum()

    arrays = [np.asarray(layers[i].params[name], np.float64) for i, name in keys]
    return phi, keys, arrays


def torch_hessian(layers, x, g=None, *, only=None):
    """``{(a, b): block}`` over the variables ``"input"`` and ``(layer index, name)``
    (all of them, or those in ``only``)."""
    x = np.asarray(x, np.float64)
    phi, keys, arrays = torch_scalar(layers, x, g)
    leaves = [x, *arrays]
    names = ["input", *keys]
    chosen = [i for i, name in enumerate(names) if only is None or name in only]
    tensors = [torch.tensor(a) for a in leaves]

    def of_chosen(*values):
        full = list(tensors)
        for i, value in zip(chosen, values, strict=True):
            full[i] = value
        return phi(*full)

    H = hessian(of_chosen, argnums=tuple(range(len(chosen))))(*(tensors[i] for i in chosen))
    return {(names[i], names[j]): vec_block(H[p][q].numpy(), leaves[i].shape, leaves[j].shape)
            for p, i in enumerate(chosen) for q, j in enumerate(chosen)}


def torch_sequential(chain):
    """``(model, to_ours)``: an ``nn.Sequential`` float64 copy of a chain's body (conv with zero
    padding, pooling with stride = window, ``Flatten("torch")``, dense, activations) for
    BackPACK, and ``to_ours[(i, name)]``, turning a torch-layout parameter array into ours."""
    import jacobian_cnn as jc
    nn = torch.nn
    modules, to_ours = [], {}
    for i, layer in enumerate(chain.layers):
        if isinstance(layer, jc.Conv2D):
            kh, kw, ci, co = layer.kernel.shape
            (top, _), (left, _) = layer.padding
            m = nn.Conv2d(ci, co, (kh, kw), stride=layer.stride, padding=(top, left),
                          dilation=layer.dilation, bias=layer.bias is not None).double()
            m.weight.data = torch.tensor(layer.kernel.transpose(3, 2, 0, 1).copy())
            to_ours[i, "kernel"] = lambda a: np.asarray(a).transpose(2, 3, 1, 0)
        elif isinstance(layer, jc.Dense):
            m = nn.Linear(*layer.weight.shape, bias=layer.bias is not None).double()
            m.weight.data = torch.tensor(layer.weight.T.copy())
            to_ours[i, "weight"] = lambda a: np.asarray(a).T
        elif isinstance(layer, (jc.AvgPool2D, jc.MaxPool2D)):
            pool = nn.AvgPool2d if isinstance(layer, jc.AvgPool2D) else nn.MaxPool2d
            m = pool(layer.window, stride=layer.stride)
        elif isinstance(layer, jc.Flatten):
            assert layer.order == "torch"
            m = nn.Flatten()
        else:
            m = {jc.Tanh: nn.Tanh, jc.Sigmoid: nn.Sigmoid, jc.ReLU: nn.ReLU}[type(layer)]()
        if getattr(layer, "bias", None) is not None:
            m.bias.data = torch.tensor(np.array(layer.bias))
            to_ours[i, "bias"] = np.asarray
        modules.append(m)
    return nn.Sequential(*modules), to_ours


def to_torch_batch(x):
    """Our ``(H, W, C, N)`` batch as an ``(N, C, H, W)`` tensor."""
    return torch.tensor(np.ascontiguousarray(np.asarray(x, np.float64).transpose(3, 2, 0, 1)))
