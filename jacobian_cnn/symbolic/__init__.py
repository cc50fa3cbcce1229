"""Symbolic Jacobians with named entries, their LaTeX rendering and the LaTeX reader (extra ``symbolic``).

:mod:`~jacobian_cnn.symbolic.jacobians` holds the entry points (named-entry Jacobians,
forward results and gradients) of a :mod:`~jacobian_cnn.symbolic.problem`, whose
layers' Jacobians come from :mod:`~jacobian_cnn.symbolic.rules` (the op modules' own
definitions with SymPy values); :mod:`~jacobian_cnn.symbolic.names` names the entries,
:mod:`~jacobian_cnn.symbolic.results` holds what comes back, and
:mod:`~jacobian_cnn.symbolic.latex` renders and reads LaTeX (never evaluating the text
it reads).
"""

from jacobian_cnn.symbolic.jacobians import symbolic_forward, symbolic_gradient, symbolic_jacobian
from jacobian_cnn.symbolic.names import Names, as_rational, entry_names
from jacobian_cnn.symbolic.problem import SymbolicProblem
from jacobian_cnn.symbolic.results import SymbolicArray, SymbolicGradient, SymbolicJacobian
from jacobian_cnn.symbolic.rules import SUPPORTED_LAYERS

__all__ = ["Names", "SymbolicProblem", "SymbolicJacobian", "SymbolicArray", "SymbolicGradient",
           "symbolic_jacobian", "symbolic_forward", "symbolic_gradient", "SUPPORTED_LAYERS",
           "as_rational", "entry_names"]
