"""Sparse matrices of SymPy entries, and their assembly from a readable Jacobian definition.

The op modules define every Jacobian as entries ``(row, column, term)``
(:mod:`jacobian_cnn.ops.layer`); :func:`from_definition` evaluates the terms with SymPy
values instead of numbers, so the symbolic and numeric matrices share one definition.
"""

from __future__ import annotations

from collections import defaultdict

from jacobian_cnn.symbolic.latex import require_sympy
from jacobian_cnn.symbolic.names import vec_list


class Sparse:
    """``shape`` and ``{(row, col): expr}`` of the structural nonzeros."""

    __slots__ = ("shape", "entries")

    def __init__(self, shape, entries):
        self.shape = tuple(shape)
        self.entries = entries

    def __matmul__(self, other):
        sympy = require_sympy()
        by_row = defaultdict(list)
        for (k, j), value in other.entries.items():
            by_row[k].append((j, value))
        terms = defaultdict(list)
        for (i, k), a in self.entries.items():
            for j, b in by_row.get(k, ()):
                terms[(i, j)].append(a * b)
        entries = {}
        for key in sorted(terms):
            value = sympy.Add(*terms[key])
            if value != 0:
                entries[key] = value
        return Sparse((self.shape[0], other.shape[1]), entries)

    def apply(self, column):
        """``self @ column`` for a list of expressions (a vec)."""
        sympy = require_sympy()
        terms = defaultdict(list)
        for (i, k), a in self.entries.items():
            terms[i].append(a * column[k])
        return [sympy.Add(*terms[i]) if i in terms else sympy.Integer(0)
                for i in range(self.shape[0])]

    def __add__(self, other):
        sympy = require_sympy()
        terms = defaultdict(list)
        for part in (self, other):
            for key, value in part.entries.items():
                terms[key].append(value)
        return Sparse(self.shape, {key: sympy.Add(*terms[key]) for key in sorted(terms)})

    @classmethod
    def identity(cls, n):
        """The ``n x n`` identity."""
        one = require_sympy().Integer(1)
        return cls((n, n), {(i, i): one for i in range(n)})

    def with_rows(self, rows, n_rows):
        """The matrix whose row ``rows[i]`` is this matrix's row ``i`` (``n_rows`` rows)."""
        return Sparse((n_rows, self.shape[1]),
                      dict(sorted(((int(rows[i]), j), v) for (i, j), v in self.entries.items())))

    def to_sympy(self):
        return require_sympy().ImmutableSparseMatrix(self.shape[0], self.shape[1], self.entries)



def symbolic_terms(**arrays):
    """SymPy values of the terms ``("one",)``, ``("divisor", d)`` (``1/d``, exact) and
    ``(name, i)`` for each array of entries given (looked up in its ``vec``)."""
    sympy = require_sympy()
    values = {name: _lookup(vec_list(a)) for name, a in arrays.items()}
    values["one"] = lambda: sympy.Integer(1)
    values["divisor"] = lambda d: sympy.Rational(1, d)
    return values


def _lookup(flat):
    return lambda i: flat[i]


def from_definition(entries, shape, values):
    """The :class:`Sparse` matrix of definition ``entries`` with the SymPy ``values`` of
    their terms; entries at the same position are added (a copying padding mode)."""
    sympy = require_sympy()
    terms = defaultdict(list)
    for row, col, (kind, *index) in entries:
        terms[(row, col)].append(values[kind](*index))
    return Sparse(shape, {key: sympy.Add(*terms[key]) for key in sorted(terms)})
