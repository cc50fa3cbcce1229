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

The data and the network are in :mod:`~jacobian_cnn.training.digits`, one step
(gradients, update, evaluation) in :mod:`~jacobian_cnn.training.steps`, the loop and what
it records in :mod:`~jacobian_cnn.training.loop`.

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

from jacobian_cnn.compare.gradients import TorchGradients, torch_gradients
from jacobian_cnn.training.digits import N_CLASSES, Digits, digits_cnn, load_digits  # noqa: F401
from jacobian_cnn.training.loop import Batch, EpochRecord, History, train
from jacobian_cnn.training.steps import (
    apply_gradients,
    evaluate,
    gradient_deviation,
    loss_gradients,
    minibatches,
    predict,
)

__all__ = [
    "Digits", "load_digits", "digits_cnn", "minibatches", "loss_gradients", "apply_gradients",
    "predict", "evaluate", "train", "Batch", "EpochRecord", "History",
    "torch_gradients", "TorchGradients", "gradient_deviation",
]
