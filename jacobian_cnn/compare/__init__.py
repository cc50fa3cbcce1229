"""Comparing this package's Jacobians with autograd (PyTorch, JAX).

:mod:`~jacobian_cnn.compare.jacobians` holds the comparison API (``compare``,
``compare_all``, ``jacobian``; ``compare.autograd`` is its old name);
:mod:`~jacobian_cnn.compare.torch_layers` and :mod:`~jacobian_cnn.compare.jax_layers`
the one translation of each layer to each backend, with what they share in
:mod:`~jacobian_cnn.compare.translation`; :mod:`~jacobian_cnn.compare.backends` the
backends' autograd Jacobians in vec order; :mod:`~jacobian_cnn.compare.gradients` a whole
network's loss gradients from torch; :mod:`~jacobian_cnn.compare.layout` the conversions
between ``(H, W, C, N)`` and the libraries' layouts. This is the only part of the package
that imports torch or JAX (lazily, when a comparison is asked for).
"""

from jacobian_cnn.compare import autograd, jacobians, layout

__all__ = ["jacobians", "layout", "autograd"]
