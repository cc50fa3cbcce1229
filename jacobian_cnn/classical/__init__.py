"""The classical backward-pass algorithms, implemented directly, without any Jacobian.

These are the formulas the textbooks and the seed documents teach. Each is an
identity with the explicit Jacobian product of the package: for a cotangent ``g``
shaped like the layer output,

* :func:`conv2d_input_gradient` (transposed convolution: zero insertion for the
  stride, full padding, the flipped kernel, cropping of the forward padding)
  equals ``unvec(vec(g) @ conv.jacobian(x), x.shape)``;
* :func:`conv2d_kernel_gradient` (the padded input correlated with ``g`` dilated
  by the stride) equals ``g @ conv.jacobian(x, wrt="kernel")`` in the kernel's shape;
* :func:`conv2d_bias_gradient` (a sum of ``g`` over positions and samples) equals
  ``g @ conv.jacobian(x, wrt="bias")``;
* :func:`max_unpool` (scatter-*add* of ``g`` at the switches) equals
  ``g @ pool.jacobian(x)``;
* :func:`avg_pool_upsample` (each output's share spread over its window, *adding*
  where windows overlap) equals ``g @ pool.jacobian(x)``;
* :func:`dense_gradients` (``W g``, ``x g^T``, ``g``) equals the dense Jacobian
  products.

One module per operation family: :mod:`~jacobian_cnn.classical.convolution`,
:mod:`~jacobian_cnn.classical.pooling`, :mod:`~jacobian_cnn.classical.dense`.
``tests/test_classical.py`` proves each identity over many random geometries, and
``derivations/`` states each with a proof sketch. Conventions: :mod:`jacobian_cnn.vec`
(maps ``(H, W, C, N)``, kernels ``(kh, kw, C_in, C_out)``, cross-correlation).
"""

from jacobian_cnn.classical.convolution import (
    conv2d_bias_gradient,
    conv2d_input_gradient,
    conv2d_kernel_gradient,
    correlate2d,
    zero_insert,
)
from jacobian_cnn.classical.dense import dense_gradients
from jacobian_cnn.classical.pooling import avg_pool_upsample, max_unpool

__all__ = [
    "zero_insert", "correlate2d", "conv2d_input_gradient", "conv2d_kernel_gradient",
    "conv2d_bias_gradient", "max_unpool", "avg_pool_upsample", "dense_gradients",
]
