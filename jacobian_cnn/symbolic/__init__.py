"""Symbolic Jacobians with named entries, their LaTeX rendering and the LaTeX reader (extra ``symbolic``).

:mod:`~jacobian_cnn.symbolic.jacobians` builds named-entry Jacobians, forward results and
gradients; :mod:`~jacobian_cnn.symbolic.latex` renders and reads LaTeX (never evaluating
the text it reads).
"""

from jacobian_cnn.symbolic.jacobians import (
    SUPPORTED_LAYERS,
    Names,
    SymbolicArray,
    SymbolicGradient,
    SymbolicJacobian,
    SymbolicProblem,
    as_rational,
    entry_names,
    symbolic_forward,
    symbolic_gradient,
    symbolic_jacobian,
)

__all__ = ["Names", "SymbolicProblem", "SymbolicJacobian", "SymbolicArray", "SymbolicGradient",
           "symbolic_jacobian", "symbolic_forward", "symbolic_gradient", "SUPPORTED_LAYERS",
           "as_rational", "entry_names"]
