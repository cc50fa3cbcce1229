"""Second order by the matrix chain rule: layer terms, network Hessians, HVPs, GGN, Fisher.

Index conventions: :mod:`jacobian_cnn.vec`. See ``derivations/hessian.md``.
"""

from jacobian_cnn.second_order.hessian import Hessian, HessianTrace, network_hessian
from jacobian_cnn.second_order.terms import has_second_order_term, hessian_term, reference_hessian_term

__all__ = ["Hessian", "HessianTrace", "network_hessian", "has_second_order_term", "hessian_term",
           "reference_hessian_term"]

from jacobian_cnn.second_order.hvp import hessian_vector_product  # noqa: E402

__all__ += ["hessian_vector_product"]
