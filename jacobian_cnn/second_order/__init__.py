"""Second order by the matrix chain rule: layer terms, network Hessians, HVPs, GGN, Fisher.

* :mod:`~jacobian_cnn.second_order.terms`: each layer's term
  ``sum_k g_k d^2 vec(y)_k / d vec(a) d vec(b)^T`` (fast, and its loop definition), with
  :mod:`~jacobian_cnn.second_order.smooth`, :mod:`~jacobian_cnn.second_order.normalization`
  (batch and layer norm) and :mod:`~jacobian_cnn.second_order.branches` (Residual, Add, Concat);
* :mod:`~jacobian_cnn.second_order.backward` and :mod:`~jacobian_cnn.second_order.assembly`:
  the backward walk that pushes every term back and the sums ``P^T T P``;
* :mod:`~jacobian_cnn.second_order.hessian`: :func:`network_hessian` (any blocks, with a
  trace) and :func:`hessian_diagonal`;
* :mod:`~jacobian_cnn.second_order.forward`: :func:`input_hessian`, the input Hessian
  grouped from the input's side; :mod:`~jacobian_cnn.second_order.roots`:
  :func:`hessian_blocks`, the diagonal blocks only (square-root rows, no cross blocks);
* :mod:`~jacobian_cnn.second_order.hvp`: :func:`hessian_vector_product`, no matrix formed;
* :mod:`~jacobian_cnn.second_order.ggn`: :func:`ggn` and :func:`fisher` (full, blocks,
  diagonal).

Index conventions: :mod:`jacobian_cnn.vec`. The derivation: ``derivations/hessian.md``.
"""

from jacobian_cnn.second_order.backward import HessianStep, HessianTrace
from jacobian_cnn.second_order.forward import input_hessian
from jacobian_cnn.second_order.ggn import fisher, ggn
from jacobian_cnn.second_order.hessian import Hessian, hessian_diagonal, network_hessian
from jacobian_cnn.second_order.hvp import hessian_vector_product
from jacobian_cnn.second_order.roots import hessian_blocks
from jacobian_cnn.second_order.terms import has_second_order_term, hessian_term, reference_hessian_term

__all__ = ["Hessian", "HessianStep", "HessianTrace", "fisher", "ggn", "has_second_order_term",
           "hessian_blocks", "hessian_diagonal", "hessian_term", "hessian_vector_product",
           "input_hessian", "network_hessian", "reference_hessian_term"]
