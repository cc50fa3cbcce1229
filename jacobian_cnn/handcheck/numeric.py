"""Numbers in a hand derivation: the input's values, the kernel's or weight's (through
``params="values"``) and the upstream gradient's substituted into the expected entries, and
numeric entries compared within a stated tolerance.

A written matrix is compared numerically when it holds numbers only (decimals, fractions,
scientific notation); then every name of the expected entries must have a value, or the check
is refused with a message naming the option that gives it.

Examples
--------
>>> from jacobian_cnn.handcheck.numeric import Numbers
>>> Numbers(tolerance=1e-3).close(0.3333, 1 / 3)
True
>>> Numbers().close(0.3333, 1 / 3)
False
"""

from __future__ import annotations

import math
import numbers as _numbers

import numpy as np

from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.symbolic.jacobians import as_rational
from jacobian_cnn.symbolic.latex import require_sympy, to_text

DEFAULT_TOLERANCE = 1e-9
"""Numeric entries ``w`` and ``c`` agree when ``|w - c| <= tolerance * max(1, |c|)``."""


class Numbers:
    """Values known for the problem's names, and the tolerance numeric entries are held to.

    Parameters
    ----------
    x_values : array_like or None
        The input's values (the numeric ``x``).
    grad_values : array_like or None
        The upstream gradient ``∂J/∂y`` in the output's shape (or its ``vec``).
    tolerance : float
        See :data:`DEFAULT_TOLERANCE`.
    """

    def __init__(self, x_values=None, grad_values=None, tolerance=DEFAULT_TOLERANCE):
        if isinstance(tolerance, bool) or not isinstance(tolerance, _numbers.Real) \
                or not math.isfinite(tolerance) or tolerance < 0:
            raise InvalidValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
        self.x_values = None if x_values is None else np.asarray(x_values, dtype=float)
        self.grad_values = None if grad_values is None else np.asarray(grad_values, dtype=float)
        if self.grad_values is not None and not np.all(np.isfinite(self.grad_values)):
            raise InvalidValueError("grad_values contains NaN or inf")
        self.tolerance = float(tolerance)

    def check_sizes(self, problem):
        """Refuse values whose sizes do not fit the declared problem."""
        n_out = int(np.prod(problem.output_shape))
        if self.grad_values is not None and self.grad_values.size != n_out:
            raise InvalidValueError(
                f"grad_values has {self.grad_values.size} entries, but the output "
                f"{problem.names.output} has {n_out} ({'x'.join(map(str, problem.output_shape))})")

    def close(self, w, c):
        """Whether two numbers agree within the tolerance (NaN and inf never do)."""
        w, c = float(w), float(c)
        if not (math.isfinite(w) and math.isfinite(c)):
            return False
        return abs(w - c) <= self.tolerance * max(1.0, abs(c))

    def comparer(self, W):
        """How to compare with ``W``: numerically when it holds numbers only."""
        numeric = all(not value.free_symbols for value in W.ravel())
        return _Comparer(self, numeric)

    def substitute(self, E, problem):
        """Put the known values into the expected entries ``E.values`` (in place)."""
        replace = {}
        if self.x_values is not None and self.x_values.shape == tuple(problem.input_shape):
            for idx, s in np.ndenumerate(problem.input_symbols):
                replace[s] = as_rational(self.x_values[idx])
        if self.grad_values is not None and self.grad_values.size == np.prod(problem.output_shape):
            incoming = problem.incoming()  # a mistaken variant of another output size keeps names
            values = self.grad_values.reshape(incoming.shape) if self.grad_values.shape != \
                incoming.shape else self.grad_values
            for idx, s in np.ndenumerate(incoming):
                replace[s] = as_rational(values[idx])
        flat = E.values.ravel()
        for k, v in enumerate(flat):
            flat[k] = _logistic(v.xreplace(replace)) if replace else v
        E.values = flat.reshape(E.values.shape)


def _logistic(value):
    """``value`` with the symbolic sigmoid ``sigma(t)`` written as ``1 / (1 + exp(-t))``, so
    that a network's entries become numbers once every name has a value (shown to 15 digits)."""
    sympy = require_sympy()
    sigma = sympy.Function("sigma")
    if not value.has(sigma):
        return value
    value = value.replace(sigma, lambda t: 1 / (1 + sympy.exp(-t)))
    return value if value.free_symbols else value.evalf(15)


class _Comparer:
    def __init__(self, numbers, numeric):
        self.numbers, self.numeric = numbers, numeric

    def count(self, arranged, W):
        """Entries of ``W`` equal to ``arranged``."""
        if not self.numeric:
            return int(np.count_nonzero(arranged == W))
        return sum(1 for c, w in zip(arranged.ravel(), W.ravel(), strict=True)
                   if not c.free_symbols and self.numbers.close(w, c))

    def same(self, w, c, exact_same):
        """Equal: within the tolerance for numbers, as expressions otherwise (``exact_same``)."""
        if self.numeric:
            if c.free_symbols:
                return False
            return self.numbers.close(w, c)
        return w == c or exact_same(w, c)


def require_values(arranged, what):
    """Refuse a numeric comparison whose expected entries still hold names without values."""
    names = set()
    for c in arranged.ravel():
        names |= c.free_symbols
    if names:
        shown = ", ".join(sorted(to_text(s) for s in names)[:4])
        raise InvalidValueError(
            f"the written {what} holds numbers, but the correct entries still hold names without "
            f"values ({shown}{', ...' if len(names) > 4 else ''}): give the input's values "
            "(--values, or a numeric x), the kernel's or weight's (--kernel-values / "
            "--weight-values, or params='values') and, for a gradient, the upstream gradient "
            "(--grad-values, grad_values=)")
