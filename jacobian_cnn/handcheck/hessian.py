"""Checking a written second-order term (``quantity="hessian"`` of :func:`check_derivation`).

The expected matrix is :func:`jacobian_cnn.symbolic.hessian.symbolic_hessian_term`:
``T[i, j] = sum_k ∂J/∂y_k ∂²y_k / ∂vec(a)_i ∂vec(b)_j`` in this package's conventions
(:mod:`jacobian_cnn.vec`: rows over ``vec(a)``, columns over ``vec(b)``, 1-based names). It is
compared entry by entry, symbolically, or numerically once a numeric ``x`` and
``grad_values`` give every name a value; the conventions search of the first-order checks is
not applied.

Examples
--------
>>> import numpy as np
>>> import jacobian_cnn as jc
>>> from jacobian_cnn.handcheck import check_derivation
>>> report = check_derivation(r'''\\begin{bmatrix}
... \\frac{\\partial J}{\\partial z_{11}} & 0 \\\\
... \\frac{\\partial J}{\\partial z_{12}} & \\frac{\\partial J}{\\partial z_{11}} \\\\
... 0 & \\frac{\\partial J}{\\partial z_{11}}
... \\end{bmatrix}''', jc.Conv2D(np.ones((1, 2))), (1, 3), wrt=("input", "kernel"),
...     quantity="hessian")
>>> print(report.diffs[0])
T(a_{13}, k_{12}): you wrote ∂J/∂z_{11}, correct is ∂J/∂z_{12}  [row 3, column 2]
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.handcheck.numeric import Numbers
from jacobian_cnn.handcheck.problems import unwrap_written
from jacobian_cnn.handcheck.reading import as_written_matrix
from jacobian_cnn.handcheck.report import CheckReport, EntryDiff
from jacobian_cnn.symbolic.jacobians import SymbolicProblem
from jacobian_cnn.symbolic.latex import require_sympy, to_text

__all__ = ["check_hessian"]


def _pair(wrt):
    """``(a, b)`` of ``wrt``: one variable (``"input"``, ``(0, "kernel")``) or a pair of them."""
    if isinstance(wrt, tuple) and len(wrt) == 2 and not isinstance(wrt[0], int):
        return wrt
    return (wrt, wrt)


class _Expected:
    def __init__(self, values):
        self.values = values


def check_hessian(written, layer, x, *, wrt="input", which=-1, grad_values=None, tolerance,
                  max_entries, **options):
    """The :class:`CheckReport` of a written second-order term (see the module docstring)."""
    from jacobian_cnn.symbolic.hessian import symbolic_hessian_term

    sympy = require_sympy()
    a, b = _pair(wrt)
    options.setdefault("max_entries", max_entries)
    expected = symbolic_hessian_term(layer, x, wrt=(a, b), **options)
    problem = SymbolicProblem(layer, x, **options)
    numbers = Numbers(None if isinstance(x, tuple) else x, grad_values, tolerance)
    numbers.check_sizes(problem)
    W, source = as_written_matrix(unwrap_written(written), which=which)
    if W.shape != expected.shape:
        raise InvalidValueError(f"a {W.shape[0]}x{W.shape[1]} matrix does not fit the "
                                f"{expected.shape[0]}x{expected.shape[1]} second-order term "
                                f"(quantity='hessian') of {problem!r}")
    E = _Expected(np.array(expected.matrix.tolist(), dtype=object))
    numbers.substitute(E, problem)
    comparer = numbers.comparer(W)
    diffs, matching = [], 0
    for (i, j), c in np.ndenumerate(E.values):
        w = W[i, j]
        if comparer.same(w, c, lambda w, c: sympy.simplify(sympy.expand(w - c)) == 0):
            matching += 1
            continue
        label = f"T({to_text(expected.output_symbols[i])}, {to_text(expected.wrt_symbols[j])})"
        diffs.append(EntryDiff((i + 1, j + 1), label, w, c))
    title = (f"sum_k dJ/d{problem.names.output}_k d2 vec({problem.names.output})_k / "
             f"d vec({problem._letter(a)}) d vec({problem._letter(b)})^T")
    return CheckReport("hessian", title, repr(problem), W.shape, diffs=diffs, n_entries=W.size,
                       n_matching=matching, source=source, written=W)
