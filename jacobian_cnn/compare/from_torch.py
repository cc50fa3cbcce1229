"""PyTorch models in and out: :func:`from_torch` and :func:`to_torch`.

:func:`from_torch` converts an ``nn.Sequential`` (nested) or a module ``torch.fx`` can trace,
made of the supported modules (:data:`~jacobian_cnn.compare.torch_modules.SUPPORTED_MODULES`),
into a :class:`~jacobian_cnn.Chain`; skip connections (an ``add`` or ``cat`` of paths from one
tensor) become :class:`~jacobian_cnn.Residual`, :class:`~jacobian_cnn.Add` and
:class:`~jacobian_cnn.Concat` layers. Forward results, Jacobians and gradients are PyTorch's up
to layout (:mod:`jacobian_cnn.compare.layout`). :func:`to_torch` goes back: an
``nn.Sequential`` of native ``torch.nn`` modules
(:mod:`jacobian_cnn.compare.torch_native`), a layer no native module expresses running its
one torch translation (:func:`~jacobian_cnn.compare.torch_layers.torch_layer`). torch is
imported when they are called.
"""

from __future__ import annotations

import operator

import numpy as np

from jacobian_cnn._arguments import shape_tuple
from jacobian_cnn.chain import Chain
from jacobian_cnn.compare.torch_modules import convert_module, unsupported
from jacobian_cnn.compare.torch_native import BATCH_KINDS as _KINDS
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.ops.activations import ReLU, Sigmoid, Tanh
from jacobian_cnn.ops.activations_more import Identity
from jacobian_cnn.ops.branches import Add, Concat, Residual
from jacobian_cnn.ops.reshape import Flatten

__all__ = ["from_torch", "to_torch", "our_shape"]




def our_shape(torch_shape):
    """PyTorch's input shape in this package's layout.

    ``(N, n)`` -> ``(n, N)``, ``(N, C, L)`` -> ``(L, C, N)``, ``(N, C, H, W)`` ->
    ``(H, W, C, N)``, ``(N, C, D, H, W)`` -> ``(D, H, W, C, N)``.

    Examples
    --------
    >>> from jacobian_cnn.compare.from_torch import our_shape
    >>> our_shape((2, 3, 4, 5, 6))
    (4, 5, 6, 3, 2)
    """
    shape = shape_tuple(torch_shape, "input_shape", minimum=1)
    if len(shape) not in _KINDS:
        raise InvalidValueError(f"input_shape must be PyTorch's (N, n), (N, C, L), (N, C, H, W) or "
                                f"(N, C, D, H, W), batch included; got {torch_shape!r}")
    if len(shape) == 2:
        return (shape[1], shape[0])
    return shape[2:] + (shape[1], shape[0])


def from_torch(module, input_shape, *, dropout_masks=None):
    """This package's network computing what a PyTorch model computes.

    Parameters
    ----------
    module : torch.nn.Module
        An ``nn.Sequential`` (nested) or a module ``torch.fx.symbolic_trace`` can trace, of
        supported modules. Its train/eval mode is kept: batch norm in training mode uses the
        batch statistics (and never updates the running ones here); dropout in eval mode is
        :class:`~jacobian_cnn.Identity`, in training mode it needs its mask.
    input_shape : tuple of int
        The shape of the input PyTorch takes, batch included: ``(N, C, H, W)``, ``(N, n)``,
        ``(N, C, L)`` or ``(N, C, D, H, W)``. The network takes it as ``(H, W, C, N)``,
        ``(n, N)``, ``(L, C, N)`` or ``(D, H, W, C, N)`` (:func:`our_shape`).
    dropout_masks : dict, optional
        ``{path: mask}`` for training-mode dropout modules (``path`` as in
        ``model.named_modules()``; the mask of 0s and 1s in the module input's PyTorch shape).

    Returns
    -------
    Chain
        With ``torch_names``: ``{(layer index, parameter name): PyTorch parameter name}`` for
        every parameter converted from one (``(0, "body.0.kernel"): "conv1.weight"``).

    Raises
    ------
    TypeError
        For a module or graph operation that is not supported (a 1-D/2-D/3-D module on maps
        with another number of axes included), naming it and its path.
    ValueError
        For an ``input_shape`` of other than 2 to 5 axes, or a module that does not fit its
        input.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> import jacobian_cnn as jc
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten())
    >>> net = jc.from_torch(model, (1, 1, 4, 4))
    >>> net
    Chain([
        Conv2D(3x3, 1->2, bias),
        ReLU(),
        Flatten(order='torch'),
    ])
    >>> x = np.random.default_rng(0).normal(size=(1, 1, 4, 4))
    >>> theirs = model.double()(torch.tensor(x)).detach().numpy()      # (N, 8)
    >>> bool(np.allclose(net.forward(x.transpose(2, 3, 1, 0)), theirs.T))
    True

    1-D sequences ``(N, C, L)`` become ``(L, C, N)`` maps, 3-D volumes ``(N, C, D, H, W)``
    ``(D, H, W, C, N)``:

    >>> nn = torch.nn
    >>> jc.from_torch(nn.Sequential(nn.Conv1d(2, 4, 3), nn.MaxPool1d(2), nn.ConvTranspose1d(4, 1, 2),
    ...                             nn.Flatten()), (8, 2, 10))
    Chain([
        Conv1D(3, 2->4, bias),
        MaxPool1D(2, tie='row_major'),
        ConvTranspose1D(2, 4->1, bias),
        Flatten(order='torch', spatial_ndim=1),
    ])
    """
    import torch

    if not isinstance(module, torch.nn.Module):
        raise InvalidTypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    masks = {} if dropout_masks is None else dict(dropout_masks)
    x = np.zeros(our_shape(input_shape))
    sources = {}
    layers, _ = _convert(module, "", x, (masks, sources), torch)  # fills sources
    unused = set(masks) - {p for p, _ in module.named_modules()}
    if unused:
        raise InvalidValueError(f"dropout_masks names no module of the model: {sorted(unused)}")
    net = Chain(layers)
    net.torch_names = {(i, name): _source(layer, name, sources)
                       for i, layer in enumerate(layers) for name in layer.params}
    net.torch_names = {k: v for k, v in net.torch_names.items() if v is not None}
    return net


def _source(layer, name, sources):
    """The PyTorch parameter ``layer``'s parameter ``name`` came from (through branches)."""
    if hasattr(layer, "paths") and "." in name:
        path, index, rest = name.split(".", 2)
        sub = layer.paths[layer.path_names.index(path)].layers[int(index)]
        return _source(sub, rest, sources)
    return sources.get(id(layer), {}).get(name)


def _convert(module, path, x, state, torch):
    """``(layers, y)``: ``module``'s layers, and our forward of ``x`` through them;
    ``state`` is ``(dropout masks, sources)``: each new layer's parameter sources are recorded
    in ``sources[id(layer)]``."""
    if isinstance(module, torch.nn.Sequential):
        layers = []
        for name, child in module.named_children():
            sub, x = _convert(child, f"{path}.{name}" if path else name, x, state, torch)
            layers += sub
        return layers, x
    masks, sources = state
    converted = convert_module(module, path, masks, _KINDS[np.ndim(x)])
    if converted is not None:
        layer = converted[0]
        sources[id(layer)] = converted[1]
        return [layer], _forward(layer, x, path)
    if type(module).__module__.startswith("torch."):  # PyTorch's own module: not traced
        raise unsupported(type(module).__name__, path)
    return _convert_graph(module, path, x, state, torch)


def _forward(layer, x, path):
    try:
        return layer.forward(x)
    except (ValueError, TypeError) as exc:
        raise InvalidValueError(f"from_torch: the module at {path or '<model>'} ({layer!r}) does "
                                f"not fit its input of shape {np.shape(x)} (ours): {exc}") from None


# --- torch.fx graphs: forks joined by add or cat become branch layers ---------------------

_FUNCTIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}


def _join_kind(node, torch):
    if node.op == "call_function" and node.target in (operator.add, torch.add):
        return "add"
    if node.op == "call_method" and node.target == "add":
        return "add"
    if node.op == "call_function" and node.target is torch.cat:
        dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
        return "cat" if dim == 1 else None
    return None


def _inputs(node):
    """The graph nodes a node reads (a ``cat``'s list flattened)."""
    out = []
    for a in list(node.args) + list(node.kwargs.values()):
        for b in (a if isinstance(a, (list, tuple)) else [a]):
            if hasattr(b, "op") and b not in out:
                out.append(b)
    return out


def _graph_layer(node, path, modules, state, x, torch):
    """The layer of a single-input graph node (a module call, relu, flatten, ...)."""
    where = f"{path}.{node.target}" if path and node.op == "call_module" else str(node.target)
    if node.op == "call_module":
        return _convert(modules[node.target], where, x, state, torch)[0]
    name = getattr(node.target, "__name__", node.target)
    if name in _FUNCTIONS and (node.op == "call_method" or node.target in (
            getattr(torch, name), getattr(torch.nn.functional, name, None))):
        return [_FUNCTIONS[name]()]
    if name == "flatten" and (node.op == "call_method" or node.target is torch.flatten):
        if tuple(node.args[1:]) == (1,) or node.kwargs == {"start_dim": 1}:
            kind = _KINDS[np.ndim(x)]
            return [Identity() if kind == "vectors" else Flatten("torch", spatial_ndim=np.ndim(x) - 2)]
    raise unsupported(f"the graph operation {node.op} {name}{tuple(node.args[1:])}", path or "<model>")


def _convert_graph(module, path, x, state, torch):
    try:
        graph = torch.fx.symbolic_trace(module).graph
    except Exception as exc:  # noqa: BLE001 - any tracing failure means: not supported
        raise unsupported(type(module).__name__, path, f"not a supported module, and torch.fx "
                                                        f"cannot trace it ({type(exc).__name__})") from None
    nodes = list(graph.nodes)
    inputs = [n for n in nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise unsupported(type(module).__name__, path, f"its forward takes {len(inputs)} inputs, not 1")
    (output,) = [n for n in nodes if n.op == "output"]
    if not hasattr(output.args[0], "op"):
        raise unsupported(type(module).__name__, path, "its forward must return one tensor")
    modules = dict(module.named_modules())
    ctx = (nodes, path, modules, state, torch)
    return _path_layers(inputs[0], output.args[0], x, ctx)


def _reaches(src, dst, avoid):
    """Whether ``dst`` is reachable from ``src`` along users without passing ``avoid``."""
    stack, seen = [src], set()
    while stack:
        n = stack.pop()
        if n is dst:
            return True
        for u in n.users:
            if u is not avoid and u not in seen:
                seen.add(u)
                stack.append(u)
    return False


def _path_layers(src, dst, x, ctx):
    """``(layers, y)`` from node ``src`` (whose value is ``x``) to node ``dst``."""
    nodes, path, modules, state, torch = ctx
    layers = []
    while src is not dst:
        users = [u for u in src.users if u is dst or _reaches(u, dst, None)]
        if len(users) == 1 and _inputs(users[0]) == [src] and _join_kind(users[0], torch) is None:
            new = _graph_layer(users[0], path, modules, state, x, torch)
            for layer in new:
                x = _forward(layer, x, path)
            layers += new
            src = users[0]
            continue
        after = nodes[nodes.index(src) + 1:]
        join = next(n for n in after if n is dst or not _reaches(src, dst, n))  # all paths meet
        kind = _join_kind(join, torch)
        operands = join.args[0] if kind == "cat" else join.args[:2]
        if kind is not None and (len(join.args) > 2 or join.kwargs.keys() - {"dim"}
                                 or not all(hasattr(a, "op") for a in operands)):
            raise unsupported(f"{join.op} {join.target} with {join.args} {join.kwargs}", path,
                              "an add or cat of tensors only (no constants, no alpha)")
        if kind is None:
            raise unsupported(f"a fork at {src.name} joined by {join.op} {join.target}", path,
                              "paths from one tensor must join in an add or a cat(dim=1)")
        paths = [None if a is src else Chain(_path_layers(src, a, x, ctx)[0]) for a in _inputs(join)]
        if kind == "cat":
            layer = Concat(*paths)
        elif len(paths) == 2 and paths[0] is not None:
            layer = Residual(paths[0], paths[1])
        elif len(paths) == 2 and paths[1] is not None:
            layer = Residual(paths[1], None)
        else:
            layer = Add(*paths)
        x = _forward(layer, x, path)
        layers.append(layer)
        src = join
    return layers, x


# --- back to PyTorch -------------------------------------------------------------------


def to_torch(net, input_shape):
    """A ``torch.nn`` model computing what ``net`` computes, on PyTorch's layouts (float64).

    An ``nn.Sequential`` of native modules wherever one exists (``Conv1D/2D/3D`` ->
    ``nn.Conv1d/2d/3d``, ``ConvTranspose*`` -> ``nn.ConvTranspose*d``, ``Dense`` -> ``nn.Linear``,
    pools, ``BatchNorm2D``, ``LayerNorm``, activations, padding, ``Upsample``,
    ``AdaptiveAvgPool2D``, ``Flatten("torch")`` -> ``nn.Flatten``, ...:
    :func:`~jacobian_cnn.compare.torch_native.native_module`), parameters copied in PyTorch's
    layouts (kernels ``OIHW``, transposed ``IOHW``, linear weights ``(out, in)``); branch layers
    (``Residual``, ``Add``, ``Concat``) become a small ``Branch`` module summing or
    concatenating its paths' ``nn.Sequential`` s. So ``from_torch(to_torch(net, shape), shape)``
    is ``net`` again (an ``Add`` of three or more paths comes back as nested two-path sums, the
    same function; a ``GlobalAvgPool2D`` as ``AdaptiveAvgPool2D((1, 1))``), and the model is an
    ordinary one (``state_dict``, optimizers). A training-mode ``BatchNorm2D`` becomes an
    ``nn.BatchNorm2d`` in ``train()`` mode, which updates its running statistics at every
    forward call, as PyTorch does (``torch.func`` transforms refuse that: call ``.eval()`` or
    use ``torch.autograd``).

    A layer in a configuration no ``torch.nn`` module has (asymmetric padding, a max pool's
    ``pad_value``, a dropout mask, a flatten order other than ``"torch"``, a loss, ...) becomes a
    ``Translated`` module running its torch translation
    (:func:`~jacobian_cnn.compare.torch_layers.torch_layer`, the one
    :func:`jacobian_cnn.compare.compare` is tested with), its parameters ``nn.Parameter`` s in
    PyTorch's layouts named as ours with dots as underscores; ``from_torch`` does not convert
    those back. Max pools take PyTorch's ties (the first maximum in row-major order).

    Parameters
    ----------
    net : Chain or layer
    input_shape : tuple of int
        PyTorch's input shape, batch included: ``(N, n)``, ``(N, C, L)``, ``(N, C, H, W)`` or
        ``(N, C, D, H, W)``.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> import jacobian_cnn as jc
    >>> net = jc.Chain([jc.Conv2D(np.ones((2, 2, 1, 3))), jc.BatchNorm2D(np.ones(3), np.zeros(3)),
    ...                 jc.ReLU()])
    >>> model = jc.to_torch(net, (2, 1, 4, 4))
    >>> [type(module).__name__ for module in model], model[0].weight.shape     # OIHW
    (['Conv2d', 'BatchNorm2d', 'ReLU'], torch.Size([3, 1, 2, 2]))
    >>> x = np.random.default_rng(0).normal(size=(2, 1, 4, 4))
    >>> y = model(torch.tensor(x)).detach().numpy()                 # (N, C, H, W)
    >>> bool(np.allclose(y, net.forward(x.transpose(2, 3, 1, 0)).transpose(3, 2, 0, 1)))
    True
    >>> jc.from_torch(model, (2, 1, 4, 4))
    Chain([
        Conv2D(2x2, 1->3, no bias),
        BatchNorm2D(3, training, eps=1e-05),
        ReLU(),
    ])
    """
    import torch

    from jacobian_cnn.compare.torch_native import torch_sequential

    layers = net.layers if isinstance(net, Chain) else [net]
    return torch_sequential(layers, np.zeros(our_shape(input_shape)), torch)
