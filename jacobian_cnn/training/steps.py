"""One step of training: a batch's gradients from explicit Jacobians, the update, evaluation.

The gradient of every parameter is the row ``dL / d vec(P)`` that
:meth:`jacobian_cnn.Chain.backward` pushes through the layers' Jacobians, reshaped
column-major into ``P``'s shape (:func:`jacobian_cnn.as_parameter_shape`).
"""

from __future__ import annotations

import math

import numpy as np

from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.examples import with_loss
from jacobian_cnn.ops import losses
from jacobian_cnn.vec import as_parameter_shape, unvec

__all__ = ["minibatches", "loss_gradients", "apply_gradients", "predict", "evaluate",
           "gradient_deviation"]


def minibatches(n, batch_size, rng):
    """Shuffled index arrays covering ``range(n)`` once, ``batch_size`` at a time (the last may be short).

    Examples
    --------
    >>> from jacobian_cnn.training import minibatches
    >>> [b.tolist() for b in minibatches(5, 2, 0)]
    [[2, 4], [3, 0], [1]]
    """
    if batch_size < 1:
        raise InvalidValueError(f"batch_size must be positive, got {batch_size}")
    order = np.random.default_rng(rng).permutation(int(n))
    return [order[i:i + batch_size] for i in range(0, int(n), int(batch_size))]


def loss_gradients(net, x, labels):
    """Backward pass of ``net`` followed by softmax cross-entropy on ``labels``.

    Parameters
    ----------
    net : Chain
        Ending in class scores ``(n_classes, N)``.
    x : numpy.ndarray
        A batch ``(H, W, C, N)``.
    labels : array_like of int
        ``N`` labels.

    Returns
    -------
    Gradients
        ``output`` is the batch-mean loss; ``params[i][name]`` the ``(1, P.size)`` row
        ``dL / d vec(P)`` of layer ``i`` (the trailing loss layer has none).
    """
    return with_loss(net, losses.SoftmaxCrossEntropy(np.asarray(labels))).backward(x)


def apply_gradients(net, grads, learning_rate):
    """``P := P - learning_rate * as_parameter_shape(dL/dvec(P), P.shape)`` for every parameter, in place."""
    for layer, rows in zip(net.layers, grads.params, strict=False):
        for name, row in rows.items():
            value = getattr(layer, name)
            setattr(layer, name, value - learning_rate * as_parameter_shape(row[0], value.shape))


def predict(net, x, *, batch_size=512):
    """Class predictions ``argmax`` of ``net``'s scores for a batch ``(H, W, C, N)``."""
    return np.concatenate([net.forward(x[..., idx]).argmax(axis=0)
                           for idx in _chunks(x.shape[-1], batch_size)])


def evaluate(net, x, labels, *, batch_size=512):
    """``(mean loss, accuracy)`` of ``net`` with softmax cross-entropy on a batch."""
    labels = np.asarray(labels)
    total_loss, correct = 0.0, 0
    for idx in _chunks(x.shape[-1], batch_size):
        scores = net.forward(x[..., idx])
        total_loss += float(losses.SoftmaxCrossEntropy(labels[idx]).forward(scores)) * idx.size
        correct += int(np.sum(scores.argmax(axis=0) == labels[idx]))
    return total_loss / labels.size, correct / labels.size


def _chunks(n, size):
    return [np.arange(i, min(i + size, n)) for i in range(0, n, size)]


def gradient_deviation(grads, reference):
    """Largest ``|ours - reference|`` over the input gradient and every parameter gradient.

    Parameters
    ----------
    grads : Gradients
        From :meth:`Chain.backward` (rows over ``vec``), e.g. :func:`loss_gradients`.
    reference : TorchGradients
        Gradients in the arrays' own shapes, e.g. :func:`torch_gradients`.

    Returns
    -------
    float
        ``inf`` if either side holds a NaN or an infinity, so that a check
        ``deviation <= tolerance`` (or the ``max`` of several deviations) fails.
    """
    pairs = [(unvec(grads.input[0], reference.input.shape), reference.input)]
    for ours, theirs in zip(grads.params, reference.params, strict=False):
        pairs += [(as_parameter_shape(ours[name][0], value.shape), value)
                  for name, value in theirs.items()]
    worst = 0.0
    for mine, value in pairs:
        if not (np.all(np.isfinite(mine)) and np.all(np.isfinite(value))):
            return math.inf
        worst = max(worst, float(np.max(np.abs(mine - value), initial=0.0)))
    return worst
