"""Mini-batch gradient descent whose gradients come only from explicit Jacobians.

The seed's update (seed 004 section 3) is ``P := P - alpha * grad_P J`` for every
kernel, weight and bias. Here the gradient is the row ``dJ / d vec(P)`` that
:meth:`jacobian_cnn.Chain.backward` pushes through every layer's explicit sparse
Jacobian, reshaped column-major into ``P``'s shape with
:func:`jacobian_cnn.as_parameter_shape` (seed 004 section 3.2). No other gradient
formula is involved.

A mini-batch is a single ``(8, 8, 1, N)`` array (the sample axis last, see
:mod:`jacobian_cnn.vec`): every input Jacobian of the chain is then block diagonal
with one block per sample, every parameter Jacobian stacks ``N`` blocks, and the
loss averages over the batch, so one backward pass gives the batch-mean gradient.

The data are scikit-learn's bundled 8x8 digits (``load_digits``, nothing is
downloaded); scikit-learn is imported only when they are loaded. The
:func:`torch_gradients` cross-check imports torch only when called.

Examples
--------
>>> import numpy as np
>>> import jacobian_cnn as jc
>>> from jacobian_cnn import training
>>> net = training.digits_cnn(0, channels=(2, 3))
>>> x = np.random.default_rng(0).normal(size=(8, 8, 1, 5))   # a batch of 5 images
>>> labels = np.array([0, 1, 2, 3, 4])
>>> grads = training.loss_gradients(net, x, labels)
>>> grads.params[0]["kernel"].shape                 # one row over vec(K1): (1, 3*3*1*2)
(1, 18)
>>> before = net[0].kernel.copy()
>>> training.apply_gradients(net, grads, learning_rate=0.1)
>>> step = jc.as_parameter_shape(grads.params[0]["kernel"][0], before.shape)
>>> bool(np.allclose(net[0].kernel, before - 0.1 * step))
True
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from jacobian_cnn.compare.gradients import TorchGradients, torch_gradients
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.examples import seed_cnn, with_loss
from jacobian_cnn.ops import losses
from jacobian_cnn.vec import as_parameter_shape, unvec

__all__ = [
    "Digits", "load_digits", "digits_cnn", "minibatches", "loss_gradients", "apply_gradients",
    "predict", "evaluate", "train", "Batch", "EpochRecord", "History",
    "torch_gradients", "TorchGradients", "gradient_deviation",
]

N_CLASSES = 10


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Digits:
    """scikit-learn's 8x8 digits as ``(8, 8, 1, N)`` batches, split into train and test.

    Attributes
    ----------
    x_train, x_test : numpy.ndarray
        ``(8, 8, 1, N)`` float64 images, standardized with the *training* set's mean and
        standard deviation (``x = (pixels / 16 - mean) / std``).
    y_train, y_test : numpy.ndarray
        Integer labels in ``[0, 10)``.
    mean, std : float
        The standardization constants.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    mean: float
    std: float

    def __repr__(self):
        return (f"Digits(train {self.x_train.shape}, test {self.x_test.shape}, "
                f"{N_CLASSES} classes)")


def load_digits(*, test_fraction=0.25, seed=0):
    """Load scikit-learn's bundled 8x8 digits as ``(8, 8, 1, N)`` batches (no download).

    Parameters
    ----------
    test_fraction : float
        Fraction of the 1797 images held out for testing, in ``(0, 1)``; the split is
        stratified by class.
    seed : int
        Seed of the split.

    Returns
    -------
    Digits

    Raises
    ------
    ImportError
        If scikit-learn is not installed (with the command that installs it).
    ValueError
        If ``test_fraction`` is not in ``(0, 1)``.
    """
    if not 0 < test_fraction < 1:
        raise InvalidValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    try:
        from sklearn.datasets import load_digits as sklearn_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise ImportError(
            "the digits example needs scikit-learn, which bundles the 8x8 digits: "
            "pip install scikit-learn (or pip install 'jacobian_cnn[train]')"
        ) from exc
    digits = sklearn_digits()
    # sklearn's images are (N, 8, 8) with rows first; ours are (H, W, C, N).
    images = digits.images.transpose(1, 2, 0)[:, :, None, :] / 16.0
    index = np.arange(images.shape[3])
    train_idx, test_idx = train_test_split(index, test_size=test_fraction, random_state=seed,
                                           stratify=digits.target)
    mean = float(images[..., train_idx].mean())
    std = float(images[..., train_idx].std())
    scale = lambda idx: (images[..., idx] - mean) / std
    return Digits(scale(train_idx), digits.target[train_idx].astype(np.int64),
                  scale(test_idx), digits.target[test_idx].astype(np.int64), mean, std)


# ---------------------------------------------------------------------------
# the network
# ---------------------------------------------------------------------------

def digits_cnn(rng=0, *, channels=(4, 8)):
    """The seed's 3-layer CNN sized for 8x8 digits, with an initialization plain SGD can train.

    ``conv 3x3 (pad 1) -> sigmoid -> avg pool 2x2 -> conv 3x3 (pad 1) -> relu ->
    max pool 2x2 -> flatten -> dense (10 classes)``: the architecture of
    :func:`jacobian_cnn.examples.seed_cnn`. The parameters are redrawn:

    * conv 1: ``N(0, (2/3)^2)``, so the sigmoid sees pre-activations of spread ~2;
    * conv 2: ``N(0, 2 / (9 C1))`` (He, for the ReLU) and the bias
      ``-0.5 * sum(K2[..., j])``, which centres each pre-activation on the sigmoid's
      mean 0.5, so that no ReLU starts dead and none starts always on;
    * dense: ``N(0, 0.09 / n_in)``, so the first scores are small and the loss starts
      near ``log 10``; the other biases start at zero.

    Parameters
    ----------
    rng : numpy.random.Generator or int
    channels : (int, int)
        Output channels of the two convolutions.

    Returns
    -------
    Chain
        Without a loss (see :func:`loss_gradients`).

    Examples
    --------
    >>> import numpy as np
    >>> from jacobian_cnn import training
    >>> net = training.digits_cnn(0, channels=(2, 3))
    >>> len(net), net.forward(np.zeros((8, 8, 1, 7))).shape
    (8, (10, 7))
    """
    rng = np.random.default_rng(rng)
    c1, c2 = (int(c) for c in channels)
    if c1 < 1 or c2 < 1:
        raise InvalidValueError(f"channels must be positive, got {tuple(channels)}")
    net = seed_cnn(rng, size=8, channels=(1, c1, c2), n_classes=N_CLASSES)
    conv1, conv2, fc = net[0], net[3], net[7]
    conv1.kernel = rng.normal(0.0, 2 / 3, conv1.kernel.shape)
    conv1.bias = np.zeros(c1)
    conv2.kernel = rng.normal(0.0, math.sqrt(2 / (9 * c1)), conv2.kernel.shape)
    conv2.bias = -0.5 * conv2.kernel.sum(axis=(0, 1, 2))
    fc.weight = rng.normal(0.0, 0.3 / math.sqrt(fc.weight.shape[0]), fc.weight.shape)
    fc.bias = np.zeros(N_CLASSES)
    return net


# ---------------------------------------------------------------------------
# one step
# ---------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------

@dataclass
class Batch:
    """What :func:`train` hands to ``on_step`` *before* it updates the parameters."""

    epoch: int
    step: int
    index: int
    n_batches: int
    x: np.ndarray
    labels: np.ndarray
    loss: float
    accuracy: float
    grads: object


@dataclass(frozen=True)
class EpochRecord:
    """Loss and accuracy on the whole training and test sets after an epoch (epoch 0: before training)."""

    epoch: int
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float
    seconds: float


@dataclass
class History:
    """Everything :func:`train` measured.

    Attributes
    ----------
    step_loss, step_accuracy : list of float
        Loss and accuracy of every mini-batch, at the weights the step started from.
    epochs : list of EpochRecord
        ``epochs[0]`` before training, then one record after each epoch.
    steps_per_epoch : int
    """

    step_loss: list = field(default_factory=list)
    step_accuracy: list = field(default_factory=list)
    epochs: list = field(default_factory=list)
    steps_per_epoch: int = 0

    @property
    def final(self):
        """The last :class:`EpochRecord`."""
        return self.epochs[-1]


def train(net, data, *, epochs=5, batch_size=16, learning_rate=0.3, decay=0.5, seed=0,
          on_step=None, on_epoch=None):
    """Mini-batch gradient descent on ``data`` with gradients from :meth:`Chain.backward`.

    Every step takes one shuffled mini-batch ``(H, W, C, N)``, runs
    :func:`loss_gradients`, calls ``on_step(net, batch)`` (the parameters are still the
    ones the gradients were taken at: the place to compare with a reference), then
    applies :func:`apply_gradients`.

    Parameters
    ----------
    net : Chain
        Updated in place.
    data : Digits
        Or anything with ``x_train, y_train, x_test, y_test``.
    epochs, batch_size : int
    learning_rate : float
        The step ``alpha`` of the first epoch.
    decay : float
        Epoch ``e`` (from 1) steps with ``learning_rate / (1 + decay * (e - 1))``; ``0``
        keeps the seed's constant ``alpha``.
    seed : int
        Seed of the shuffling.
    on_step : callable, optional
        ``on_step(net, batch)`` with a :class:`Batch`.
    on_epoch : callable, optional
        ``on_epoch(net, record)`` with an :class:`EpochRecord`, also for epoch 0.

    Returns
    -------
    History

    Raises
    ------
    ValueError
        On invalid settings, or when the loss stops being finite (the learning rate
        is too large).
    """
    if int(epochs) < 1:
        raise InvalidValueError(f"epochs must be positive, got {epochs}")
    if not (np.isfinite(learning_rate) and learning_rate > 0):
        raise InvalidValueError(f"learning_rate must be a positive number, got {learning_rate}")
    if int(batch_size) < 1:
        raise InvalidValueError(f"batch_size must be positive, got {batch_size}")
    if not (np.isfinite(decay) and decay >= 0):
        raise InvalidValueError(f"decay must be a non-negative number, got {decay}")
    rng = np.random.default_rng(seed)
    n_train = data.x_train.shape[-1]
    history = History(steps_per_epoch=math.ceil(n_train / int(batch_size)))

    def record(epoch, seconds):
        entry = EpochRecord(epoch, *evaluate(net, data.x_train, data.y_train),
                            *evaluate(net, data.x_test, data.y_test), seconds)
        history.epochs.append(entry)
        if on_epoch is not None:
            on_epoch(net, entry)

    record(0, 0.0)
    step = 0
    for epoch in range(1, int(epochs) + 1):
        start = time.perf_counter()
        rate = learning_rate / (1 + decay * (epoch - 1))
        batches = minibatches(n_train, int(batch_size), rng)
        for index, idx in enumerate(batches):
            x, labels = data.x_train[..., idx], data.y_train[idx]
            # Overflow is reported as divergence, with the step and the rate.
            try:
                with np.errstate(over="ignore", invalid="ignore"):
                    grads = loss_gradients(net, x, labels)
            except ValueError as exc:
                if step == 0:  # nothing was updated yet: not divergence but bad input
                    raise
                raise InvalidValueError(f"training diverged at epoch {epoch}, step {index + 1} ({exc}); "
                                 f"lower the learning rate (now {rate:g})") from exc
            loss = float(grads.output)
            if not np.isfinite(loss):
                raise InvalidValueError(f"training diverged at epoch {epoch}, step {index + 1}: the loss is "
                                 f"{loss}; lower the learning rate (now {rate:g})")
            accuracy = float(np.mean(net.forward(x).argmax(axis=0) == labels))
            history.step_loss.append(loss)
            history.step_accuracy.append(accuracy)
            if on_step is not None:
                on_step(net, Batch(epoch, step, index, len(batches), x, labels, loss, accuracy, grads))
            with np.errstate(over="ignore", invalid="ignore"):
                apply_gradients(net, grads, rate)
            if not all(np.all(np.isfinite(p)) for layer in net.layers for p in layer.params.values()):
                raise InvalidValueError(f"training diverged at epoch {epoch}, step {index + 1}: a parameter "
                                 f"overflowed; lower the learning rate (now {rate:g})")
            step += 1
        record(epoch, time.perf_counter() - start)
    return history


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
