"""The old name of :mod:`jacobian_cnn.compare.jacobians`, kept so that existing code runs.

``jacobian_cnn.compare.autograd.compare`` and the other public names below are those of
:mod:`jacobian_cnn.compare.jacobians`; new code should import that module.

Examples
--------
>>> from jacobian_cnn.compare import autograd, jacobians
>>> autograd.compare is jacobians.compare
True
"""

from jacobian_cnn.compare.jacobians import (
    BACKENDS,
    AutogradComparison,
    available_backends,
    compare,
    compare_all,
    jacobian,
)

__all__ = ["BACKENDS", "AutogradComparison", "available_backends", "jacobian", "compare",
           "compare_all"]
