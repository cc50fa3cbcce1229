"""Comparing this package's Jacobians with autograd (PyTorch, JAX).

:mod:`~jacobian_cnn.compare.autograd` holds the comparison API, and
:mod:`~jacobian_cnn.compare.layout` the conversions between ``(H, W, C, N)`` and the
libraries' layouts. This is the only part of the package that imports torch or JAX
(lazily, when a comparison is asked for).
"""

from jacobian_cnn.compare import autograd, layout

__all__ = ["autograd", "layout"]
