"""The results of a symbolic problem: a Jacobian, a forward result and a gradient.

Each holds SymPy entries and shows them as a SymPy matrix, LaTeX or plain text
(:mod:`jacobian_cnn.symbolic.latex` renders them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.symbolic.latex import (
    derivative_symbol,
    differential_symbol,
    matrix_to_latex,
    matrix_to_text,
    require_sympy,
    to_text,
)

__all__ = ["SymbolicJacobian", "SymbolicArray", "SymbolicGradient"]


def _as_2d(array):
    """A 1-D array as a column, a 2-D one as is (for display)."""
    sympy = require_sympy()
    array = np.asarray(array, dtype=object)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise InvalidValueError(f"a {array.ndim}-D array has no single matrix form; use channel=")
    return sympy.ImmutableMatrix(array.tolist())


def _channels(array):
    array = np.asarray(array, dtype=object)
    if array.ndim <= 2:
        return [array]
    return [array[:, :, c] for c in range(array.shape[2])]


class _ShownInJupyter:
    """Jupyter shows a symbolic result as its LaTeX matrix, under its description."""

    def _repr_latex_(self):
        return f"$\\text{{{_latex_text(self.description)}}}\\quad {self.to_latex()}$"


def _latex_text(text):
    """``text`` safe inside ``\\text{...}``."""
    for char in "\\{}$&#^_%~":
        text = text.replace(char, "\\" + char if char not in "\\^~" else " ")
    return text


@dataclass(frozen=True)
class SymbolicJacobian(_ShownInJupyter):
    """A numerator-layout Jacobian with named entries.

    Attributes
    ----------
    matrix : sympy.ImmutableSparseMatrix
        ``(len(output_symbols), len(wrt_symbols))``; entry ``(i, j)`` is
        ``∂ output_symbols[i] / ∂ wrt_symbols[j]``.
    output_symbols, wrt_symbols : tuple of sympy.Symbol
        The entries of ``y`` and of the differentiation variable, in ``vec`` order.
    output_shape, wrt_shape : tuple of int
    description : str
        What was differentiated, e.g. ``"d vec(p) / d vec(a) of AvgPool2D(2x2, stride=1) on a
        3x3 input"``.
    """

    matrix: object
    output_symbols: tuple
    wrt_symbols: tuple
    output_shape: tuple
    wrt_shape: tuple
    description: str

    @property
    def shape(self):
        return tuple(self.matrix.shape)

    @property
    def nnz(self):
        """Number of structural nonzeros."""
        return len(self.matrix.todok())

    def labels(self):
        """The matrix of entry labels ``∂p_{11}/∂a_{21}`` (what each entry *means*)."""
        sympy = require_sympy()
        return sympy.ImmutableMatrix([[derivative_symbol(y, x) for x in self.wrt_symbols]
                                      for y in self.output_symbols])

    def to_latex(self, *, headers=False, env="bmatrix"):
        """LaTeX ``bmatrix`` (or, with ``headers=True``, an ``array`` with ``\\partial`` headers).

        Examples
        --------
        >>> import jacobian_cnn as jc
        >>> from jacobian_cnn.symbolic import symbolic_jacobian
        >>> J = symbolic_jacobian(jc.AvgPool2D(2), (2, 2))
        >>> print(J.to_latex(headers=True))
        \\begin{array}{r|cccc}
         & \\partial a_{11} & \\partial a_{21} & \\partial a_{12} & \\partial a_{22} \\\\
        \\hline
        \\partial p_{11} & \\frac{1}{4} & \\frac{1}{4} & \\frac{1}{4} & \\frac{1}{4}
        \\end{array}
        """
        rows = [differential_symbol(s) for s in self.output_symbols] if headers else None
        cols = [differential_symbol(s) for s in self.wrt_symbols] if headers else None
        return matrix_to_latex(self.matrix, env=env, row_labels=rows, col_labels=cols)

    def to_text(self, *, headers=True):
        """Plain-text grid; rows are labelled by the outputs, columns by the variables."""
        rows = list(self.output_symbols) if headers else None
        cols = list(self.wrt_symbols) if headers else None
        return matrix_to_text(self.matrix, row_labels=rows, col_labels=cols)

    def __str__(self):
        return f"{self.description}  ({self.shape[0]}x{self.shape[1]}, {self.nnz} nonzeros)\n" \
               + self.to_text()


def _shaped_matrix(array, channel=None):
    """An entry array in a variable's shape (or one channel of it) as a SymPy matrix."""
    array = np.asarray(array, dtype=object)
    if channel is not None:
        array = array[:, :, channel]
    return _as_2d(array)


def _shaped_latex(array, env):
    """One ``env`` matrix per channel, side by side, separated by ``\\quad``."""
    return " \\quad\n".join(matrix_to_latex(_as_2d(a), env=env) for a in _channels(array))


def _shaped_text(array):
    """Plain-text grid, one per channel."""
    parts = _channels(array)
    if len(parts) == 1:
        return matrix_to_text(_as_2d(parts[0]))
    return "\n\n".join(f"channel {c + 1}:\n" + matrix_to_text(_as_2d(a))
                       for c, a in enumerate(parts))


class _Shaped(_ShownInJupyter):
    """What a result with an entry array in its variable's shape can show."""

    def matrix(self, channel=None):
        """The entries in their own shape (or one channel of them) as a SymPy matrix; a vector
        is a column."""
        return _shaped_matrix(self.array, channel)

    def __str__(self):
        return f"{self.description}\n{self.to_text()}"


@dataclass(frozen=True)
class SymbolicArray(_Shaped):
    """A forward result with named entries (seed 004's rep.2).

    Attributes
    ----------
    array : numpy.ndarray of object
        The output in its own shape, one SymPy expression per entry.
    symbols : numpy.ndarray of object
        The output's entry names (``z_{pq}``), same shape.
    description : str
    """

    array: object
    symbols: object
    description: str

    def to_latex(self, *, env="bmatrix"):
        """One ``bmatrix`` (a vector is a column); channels side by side, separated by ``\\quad``."""
        return _shaped_latex(self.array, env)

    def to_text(self):
        """Plain-text grid (one per channel)."""
        return _shaped_text(self.array)


@dataclass(frozen=True)
class SymbolicGradient(_Shaped):
    """``dJ/d vec(x)`` as a row and reshaped into ``x``'s shape (seed 000's answer).

    Attributes
    ----------
    row : sympy.ImmutableMatrix
        ``1 x n``: ``[∂J/∂p] @ J`` in ``vec`` order of the variable.
    array : numpy.ndarray of object
        The same entries unvec'd (column-major) into the variable's shape.
    wrt_symbols : tuple
        The variable's entries in ``vec`` order (the row's labels).
    description : str
    """

    row: object
    array: object
    wrt_symbols: tuple
    description: str

    def to_latex(self, *, form="shaped", env="bmatrix"):
        """``form="shaped"``: in the variable's shape; ``"row"``: the ``vec``-order row."""
        if form == "row":
            return matrix_to_latex(self.row, env=env)
        if form != "shaped":
            raise InvalidValueError(f"form must be 'shaped' or 'row', got {form!r}")
        return _shaped_latex(self.array, env)

    def to_text(self, *, form="shaped"):
        """Plain text; ``form="row"`` lists ``∂J/∂a_{ij} = ...`` in vec order."""
        if form == "row":
            return "\n".join(f"{to_text(x)}: {to_text(v)}" for x, v in zip(
                self.wrt_symbols, list(self.row), strict=True))
        if form != "shaped":
            raise InvalidValueError(f"form must be 'shaped' or 'row', got {form!r}")
        return _shaped_text(self.array)

