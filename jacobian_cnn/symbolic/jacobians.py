"""Symbolic Jacobians, forward results and row-vector gradients at teaching sizes.

The same matrices as the numeric layers (conventions: :mod:`jacobian_cnn.vec`),
with named SymPy entries instead of numbers: inputs ``a_{ij}`` (``a_{ijc}`` with
a channel), kernel entries ``k_{rs}`` (``k_{rs c_in c_out}`` with channels; the
letter is configurable, seed 004 uses ``\\beta``), dense weights ``w_{ij}``,
biases ``b_{j}``, constants as exact rationals (``1/4``), and incoming gradients
``∂J/∂p_{mn}``. Subscripts are 1-based (``a_{11}`` is ``x[0, 0]``); see
:mod:`jacobian_cnn.symbolic.latex` for the naming rule and the renderers.

Every matrix is assembled from the op modules' own readable definitions (entries
``(row, column, term)``, :mod:`jacobian_cnn.ops.layer`), never by differentiating a
SymPy expression: the rules (:mod:`jacobian_cnn.symbolic.rules`) give each term a
SymPy value. A chain multiplies the layers' sparse symbolic Jacobians left to right,
exactly as the numeric chain does (:mod:`jacobian_cnn.symbolic.problem`).

SymPy is the optional ``symbolic`` extra (``pip install 'jacobian_cnn[symbolic]'``);
it is imported when a function here is called.

Examples
--------
Seed 000: a 3x3 input average-pooled by 2x2 windows with stride 1.

>>> import jacobian_cnn as jc
>>> from jacobian_cnn.symbolic import symbolic_jacobian, symbolic_gradient
>>> from jacobian_cnn.symbolic.latex import to_text
>>> J = symbolic_jacobian(jc.AvgPool2D(2, stride=1), (3, 3))
>>> J.matrix[0, :]
Matrix([[1/4, 1/4, 0, 1/4, 1/4, 0, 0, 0, 0]])
>>> g = symbolic_gradient(jc.AvgPool2D(2, stride=1), (3, 3))    # dJ/dA, seed 000's question
>>> print(g.to_text().splitlines()[0])
1/4 ∂J/∂p_{11}                 1/4 (∂J/∂p_{11} + ∂J/∂p_{12})                            1/4 ∂J/∂p_{12}
>>> print(to_text(g.array[1, 1]))                        # a22 lies in all four windows
1/4 (∂J/∂p_{11} + ∂J/∂p_{21} + ∂J/∂p_{12} + ∂J/∂p_{22})
"""

from __future__ import annotations

from jacobian_cnn.symbolic.names import Names, as_rational, entry_names
from jacobian_cnn.symbolic.problem import SymbolicProblem
from jacobian_cnn.symbolic.sizes import MAX_SYMBOLIC_SIZE

# The three entry points; the hand checker and the command line also reach the problem,
# the names, the rational conversion and the size limit here.
__all__ = ["symbolic_jacobian", "symbolic_forward", "symbolic_gradient",
           "SymbolicProblem", "Names", "entry_names", "as_rational", "MAX_SYMBOLIC_SIZE"]


def symbolic_jacobian(layer, x, wrt="input", **options):
    """``d vec(y) / d vec(wrt)`` with named entries (see :class:`SymbolicProblem` for options).

    Examples
    --------
    Seed 004 appendix A: ``∂z_{32}/∂a_{23} = β_{12}`` (eq. a2-2) and
    ``∂z_{32}/∂β_{21} = a_{32}`` (eq. a1-2).

    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> from jacobian_cnn.symbolic import Names, symbolic_jacobian
    >>> conv = jc.Conv2D(np.ones((2, 2)), stride=(1, 2), padding=1)
    >>> JA = symbolic_jacobian(conv, (3, 4), names=Names(kernel="beta"))
    >>> JA.output_symbols[6], JA.wrt_symbols[7], JA.matrix[6, 7]
    (z_{32}, a_{23}, beta_{12})
    >>> JK = symbolic_jacobian(conv, (3, 4), wrt="kernel", names=Names(kernel="beta"))
    >>> JK.wrt_symbols[1], JK.matrix[6, 1]
    (beta_{21}, a_{32})
    """
    return SymbolicProblem(layer, x, **options).jacobian(wrt)


def symbolic_forward(layer, x, **options):
    """``y = f(x)`` with named entries, e.g. seed 004's rep.2 (see :class:`SymbolicProblem`)."""
    return SymbolicProblem(layer, x, **options).forward()


def symbolic_gradient(layer, x, wrt="input", **options):
    """``[∂J/∂y] @ d vec(y)/d vec(wrt)``, as a row and reshaped (see :class:`SymbolicProblem`).

    Examples
    --------
    Seed 003: max unpooling routes each ``∂J/∂p_{mn}`` to its window's winner.

    >>> import jacobian_cnn as jc
    >>> from jacobian_cnn.symbolic import symbolic_gradient
    >>> g = symbolic_gradient(jc.MaxPool2D(2), (4, 4), winners=[[(2, 1), (1, 4)], [(3, 1), (4, 3)]])
    >>> g.matrix()
    Matrix([
    [         0, 0,          0, ∂J/∂p_{12}],
    [∂J/∂p_{11}, 0,          0,          0],
    [∂J/∂p_{21}, 0,          0,          0],
    [         0, 0, ∂J/∂p_{22},          0]])
    """
    return SymbolicProblem(layer, x, **options).gradient(wrt)
