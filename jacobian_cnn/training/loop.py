"""The training loop, :func:`train`, and what it records (:class:`History`).

Examples
--------
>>> import numpy as np
>>> from jacobian_cnn import training
>>> rng = np.random.default_rng(0)
>>> data = training.Digits(rng.normal(size=(8, 8, 1, 12)), np.arange(12) % 10,
...                        rng.normal(size=(8, 8, 1, 4)), np.arange(4), 0.0, 1.0)
>>> history = training.train(training.digits_cnn(0, channels=(2, 3)), data, epochs=1,
...                          batch_size=6)
>>> len(history.epochs), len(history.step_loss), history.steps_per_epoch
(2, 2, 2)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.training.steps import apply_gradients, evaluate, loss_gradients, minibatches

__all__ = ["Batch", "EpochRecord", "History", "train"]


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
