"""A whole network's loss gradients from torch autograd, for cross-checking ``Chain.backward``.

:func:`torch_gradients` runs a :class:`~jacobian_cnn.Chain` ending in class scores, with the
softmax cross-entropy, in torch (float64), through the one layer translation of
:mod:`jacobian_cnn.compare.torch_layers`; :mod:`jacobian_cnn.training` re-exports it. torch is
imported only when it is called.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np

from jacobian_cnn.compare.layout import LAYOUTS
from jacobian_cnn.compare.torch_layers import torch_layer
from jacobian_cnn.compare.translation import BACKEND_LAYOUTS, param_layout, translate_layers
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops import losses

__all__ = ["TorchGradients", "torch_gradients"]


@dataclass
class TorchGradients:
    """Gradients from torch autograd, already in *our* shapes.

    Attributes
    ----------
    loss : float
    input : numpy.ndarray
        ``dL/dx`` in ``x``'s shape.
    params : list of dict
        One dict per layer, ``name -> dL/dP`` in ``P``'s shape.
    """

    loss: float
    input: np.ndarray
    params: list


def torch_gradients(net, x, labels):
    """The same network and loss run by torch in float64, differentiated by autograd.

    Every layer goes through the one torch translation,
    :func:`jacobian_cnn.compare.torch_layers.torch_layer` (the one
    :func:`jacobian_cnn.compare.jacobians.compare` is tested with), so every option it
    honours is honoured here: padding modes, groups, dilation, ``ceil_mode``,
    ``count_include_pad``, ``divisor_override``, ``pad_value`` and the flatten orders.
    The leaves are kept in our layouts (``(H, W, C, N)`` input,
    ``(kh, kw, C_in / groups, C_out)`` kernels, ``(n_in, n_out)`` weights) and permuted
    inside the graph, so the gradients come back in our shapes with no index bookkeeping.

    Parameters
    ----------
    net : Chain
        Of :class:`Conv2D`, :class:`AvgPool2D`, :class:`MaxPool2D`, :class:`Flatten`,
        :class:`Dense`, :class:`ReLU`, :class:`Sigmoid`, :class:`Tanh`,
        :class:`Softmax`, ending in class scores ``(n_classes,)`` or ``(n_classes, N)``.
    x : array_like
        ``(H, W)``, ``(H, W, C)`` or a batch ``(H, W, C, N)``; vectors ``(n,)`` or
        ``(n, N)`` if the net starts with :class:`Dense` or :class:`Softmax`.
    labels : int or array_like of int
        The softmax cross-entropy labels (mean over samples, as
        :class:`jacobian_cnn.SoftmaxCrossEntropy`, which checks them).

    Returns
    -------
    TorchGradients

    Raises
    ------
    ImportError
        If torch is not installed.
    NotImplementedError
        For a layer torch has no translation for here (the message names it).
    ValueError
        If the net does not end in class scores, or the input or labels do not fit it
        (this package's forward pass checks them first).

    Notes
    -----
    Where a max-pool window holds tied maxima, torch's own rule routes the gradient
    to the first in row-major order; here the translation keeps the layer's
    ``tie`` rule (for ``"column_major"``, torch pools the transposed maps), so the
    gradients equal :meth:`Chain.backward`'s on ties too.
    """
    try:
        import torch
    except ImportError as exc:
        raise ImportError("the torch cross-check needs torch: pip install torch "
                          "(the CPU build: pip install torch --index-url "
                          "https://download.pytorch.org/whl/cpu)") from exc
    threads = torch.get_num_threads()
    # These tensors are tiny: threads cost more than the work (benchmarks/README.md).
    # Run single-threaded and give the caller's setting back.
    torch.set_num_threads(1)
    try:
        return _torch_gradients(net, x, labels, torch)
    finally:
        torch.set_num_threads(threads)


def _translate(net, x, labels):
    """``(x_kind, fns)``: the net and then the loss as torch functions (:func:`torch_layer`).

    This package's forward pass walks the layers alongside: it checks the input, the
    geometry and the labels with its own messages, and gives each layer's input
    shape to the translation (:func:`~jacobian_cnn.compare.torch_layers.torch_layer`).
    """
    translate = functools.partial(torch_layer, follow_tie=True)
    x_kind, steps, kind, h = translate_layers(net.layers, x, translate)
    fns = [fn for fn, _ in steps]
    if kind != "vectors" or np.ndim(h) not in (1, 2):
        raise InvalidValueError(
            f"net must end in class scores (n_classes,) or (n_classes, N) for the softmax "
            f"cross-entropy; it ends in {kind} of shape {np.shape(h)}")
    loss = losses.SoftmaxCrossEntropy(labels)
    loss.forward(h)  # checks the labels against the scores
    fns.append(torch_layer(loss, kind, np.shape(h))[0])
    return x_kind, fns


def _torch_gradients(net, x, labels, torch):
    x = np.asarray(x, dtype=np.float64)
    x_kind, fns = _translate(net, x, labels)
    leaf = lambda a: torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)
    # torch's layout of one of our arrays, as a view inside the graph (no copy of the leaf).
    native = lambda t, layout: t.reshape(
        tuple(t.shape) + (1,) * (len(LAYOUTS[layout]) - t.ndim)).permute(*LAYOUTS[layout])
    x_leaf = leaf(x)
    h = native(x_leaf, BACKEND_LAYOUTS["torch"][x_kind])
    leaves = [{name: leaf(value) for name, value in layer.params.items()} for layer in net.layers]
    with warnings.catch_warnings():  # torch's performance hint about padding='same'
        warnings.filterwarnings("ignore", message="Using padding='same'")
        for fn, params, layer in zip(fns, [*leaves, {}], [*net.layers, None], strict=True):
            h = fn(h, {name: native(t, param_layout(layer, name, "torch")) for name, t in params.items()})
        h.backward()
    grad = lambda t: np.zeros(tuple(t.shape)) if t.grad is None else t.grad.numpy()
    return TorchGradients(
        loss=float(h.detach()),
        input=grad(x_leaf),
        params=[{name: grad(t) for name, t in params.items()} for params in leaves],
    )
