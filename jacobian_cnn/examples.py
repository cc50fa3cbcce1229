"""Built-in example networks and inputs (generated, nothing is downloaded)."""

from __future__ import annotations

import numpy as np

from jacobian_cnn import chain
from jacobian_cnn.ops import activations, conv, dense, pooling, reshape


def seed_cnn(rng=None, *, size=8, channels=(1, 2, 3), n_classes=4, pool="avg"):
    """A seed-004-style 3-layer CNN: two conv blocks and a dense layer.

    ``conv 3x3 (pad 1) -> sigmoid -> pool 2x2 -> conv 3x3 (pad 1) -> relu -> max pool 2x2
    -> flatten -> dense``, with small random parameters drawn from ``rng``.

    Parameters
    ----------
    rng : numpy.random.Generator or int, optional
    size : int
        Input height and width (divisible by 4).
    channels : (int, int, int)
        Input channels and the channels of the two conv layers.
    n_classes : int
    pool : {"avg", "max"}
        The first pooling layer (the seed uses average pooling in its figure).

    Returns
    -------
    Chain
        Without a loss; append one for training.
    """
    rng = np.random.default_rng(rng)
    c0, c1, c2 = channels
    first_pool = pooling.AvgPool2D(2) if pool == "avg" else pooling.MaxPool2D(2)
    n_flat = (size // 4) ** 2 * c2
    return chain.Chain([
        conv.Conv2D(rng.normal(0, 0.5, (3, 3, c0, c1)), rng.normal(0, 0.1, c1), padding=1),
        activations.Sigmoid(),
        first_pool,
        conv.Conv2D(rng.normal(0, 0.5, (3, 3, c1, c2)), rng.normal(0, 0.1, c2), padding=1),
        activations.ReLU(),
        pooling.MaxPool2D(2),
        reshape.Flatten(),
        dense.Dense(rng.normal(0, 0.5, (n_flat, n_classes)), rng.normal(0, 0.1, n_classes)),
    ])


def with_loss(net, loss):
    """A new :class:`Chain` of ``net``'s layers followed by ``loss``."""
    return chain.Chain([*net.layers, loss])


__all__ = ["seed_cnn", "with_loss"]
