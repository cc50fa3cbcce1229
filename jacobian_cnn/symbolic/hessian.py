"""Symbolic second-order terms: ``sum_k (dJ/dy_k) d^2 vec(y)_k / d vec(a) d vec(b)^T``.

For a layer (or a chain) with named entries and the incoming gradient symbols
``∂J/∂y_k`` (:meth:`SymbolicProblem.incoming`), the term of the variables ``a`` and
``b`` is the derivative, with respect to ``vec(b)``, of the row ``[∂J/∂y] @ d vec(y) / d vec(a)``
built from the op modules' definitions (:meth:`SymbolicProblem.jacobian`): the first-order
definition differentiated once more. Sigmoids are named ``sigma(.)`` and differentiated by
``sigma' = sigma (1 - sigma)``; softmax's entries are written in its outputs ``s_i`` and
differentiated through ``ds_m / dz_j = s_m (delta_mj - s_j)``. Conventions:
:mod:`jacobian_cnn.vec` (numerator layout, column-major ``vec``, 1-based names).
The numeric counterpart is :func:`jacobian_cnn.second_order.hessian_term`.

Examples
--------
A 1x2 kernel on a 1x3 input: ``z_{11} = a_{11} k_{11} + a_{12} k_{12}`` and
``z_{12} = a_{12} k_{11} + a_{13} k_{12}``.

>>> import numpy as np
>>> import jacobian_cnn as jc
>>> from jacobian_cnn.symbolic.hessian import symbolic_hessian_term
>>> T = symbolic_hessian_term(jc.Conv2D(np.ones((1, 2))), (1, 3), wrt=("input", "kernel"))
>>> T.matrix
Matrix([
[∂J/∂z_{11},          0],
[∂J/∂z_{12}, ∂J/∂z_{11}],
[         0, ∂J/∂z_{12}]])
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops.activations import Softmax
from jacobian_cnn.symbolic.names import vec_list
from jacobian_cnn.symbolic.problem import SymbolicProblem, require_sympy
from jacobian_cnn.symbolic.results import SymbolicJacobian

__all__ = ["symbolic_hessian_term"]


def _derivative(expr, variable, softmax_outputs, aux=None):
    """``d expr / d variable``, with sigmoid and softmax differentiated by their rules and the
    auxiliary symbols (``aux``: a rule's ``aux_derivatives``) by the chain rule."""
    sympy = require_sympy()
    result = sympy.diff(expr, variable)
    for symbol, derivatives in (aux or {}).items():
        if variable in derivatives and expr.has(symbol):
            result += sympy.diff(expr, symbol) * derivatives[variable]
    if softmax_outputs is not None:  # expr is written in s; s depends on the inputs z
        inputs, s = softmax_outputs
        j = inputs.index(variable) if variable in inputs else None
        if j is not None:
            result += sympy.Add(*(sympy.diff(expr, s_m) * (s_m * (int(m == j) - s[j]))
                                  for m, s_m in enumerate(s)))
    sigma_derivative = lambda e: (isinstance(e, sympy.Derivative)
                                  and getattr(e.expr.func, "__name__", "") == "sigma")
    result = result.replace(sigma_derivative,
                            lambda e: e.expr * (1 - e.expr)).doit()
    if aux:  # factoring the normalizations' terms in mu and sigma is slow and no more readable
        return result
    return sympy.factor(sympy.expand(result))


def symbolic_hessian_term(layer, x, wrt=("input", "input"), **options):
    """The second-order term of ``layer`` at ``x`` with named entries.

    Parameters
    ----------
    layer : layer or Chain
        As for :class:`~jacobian_cnn.symbolic.SymbolicProblem` (softmax only as a single
        layer).
    x : tuple of int or array_like
        The input shape (one sample) or a numeric input.
    wrt : (str or pair, str or pair)
        The two variables: ``"input"``, a parameter name, or ``(layer index, name)`` in a chain.
    **options
        Passed to :class:`~jacobian_cnn.symbolic.SymbolicProblem`.

    Returns
    -------
    SymbolicJacobian
        ``matrix`` is ``(a.size, b.size)``; its rows are labelled by ``vec(a)``
        (``output_symbols``), its columns by ``vec(b)`` (``wrt_symbols``).
    """
    sympy = require_sympy()
    if not (isinstance(wrt, tuple) and len(wrt) == 2):
        raise InvalidValueError(f"wrt must be a pair of variables (a, b), got {wrt!r}")
    problem = SymbolicProblem(layer, x, **options)
    a, b = (problem.check_wrt(w) for w in wrt)
    softmax_outputs = None
    if any(isinstance(rule.layer, Softmax) for rule in problem.rules):
        if len(problem.rules) != 1:
            raise InvalidValueError("symbolic second-order terms take Softmax only as a single layer")
        softmax_outputs = (vec_list(problem.input_symbols), list(problem.rules[0].s))
    aux = None
    if any(hasattr(rule, "aux_derivatives") or hasattr(rule, "paths") for rule in problem.rules):
        if len(problem.rules) != 1 or not hasattr(problem.rules[0], "aux_derivatives"):
            raise InvalidValueError("symbolic second-order terms take batch and layer norm and "
                                    "LogSoftmax only as a single layer, and no branch layers")
        aux = problem.rules[0].aux_derivatives(problem.input_symbols)
    J = problem.jacobian(a)
    g = vec_list(problem.incoming())
    a_symbols = vec_list(problem.wrt_symbols(a))
    b_symbols = vec_list(problem.wrt_symbols(b))
    entries = J.matrix.todok()
    row = [sympy.Integer(0)] * len(a_symbols)
    for (k, i), value in entries.items():
        row[i] += g[k] * value
    matrix = sympy.ImmutableMatrix([[_derivative(row[i], b_j, softmax_outputs, aux) for b_j in b_symbols]
                                    for i in range(len(a_symbols))])
    label = lambda w: problem._letter(w)
    description = (f"sum_k dJ/d{problem.names.output}_k d2 vec({problem.names.output})_k / "
                   f"d vec({label(a)}) d vec({label(b)})^T of {problem!r}")
    return SymbolicJacobian(matrix, tuple(a_symbols), tuple(b_symbols),
                            tuple(np.shape(problem.wrt_symbols(a))),
                            tuple(np.shape(problem.wrt_symbols(b))), description)
