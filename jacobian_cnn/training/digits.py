"""scikit-learn's 8x8 digits as ``(8, 8, 1, N)`` batches, and the CNN sized for them.

scikit-learn is imported only when the digits are loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.examples import seed_cnn

__all__ = ["N_CLASSES", "Digits", "load_digits", "digits_cnn"]

N_CLASSES = 10


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
