"""Writing a matrix of expressions: a LaTeX matrix environment (or an ``array`` with
differential headers) and a plain-text grid."""

from __future__ import annotations

import re

from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.symbolic.latex.render_expression import _as_expr, to_latex, to_text
from jacobian_cnn.symbolic.latex.tokens import _MATRIX_ENVS


def _cells(matrix, render):
    """Rendered cells of a SymPy matrix / 2-D array of expressions, one render per distinct entry."""
    cache = {}
    rows = []
    if isinstance(matrix, (list, tuple)):
        if len({len(row) for row in matrix}) > 1:
            raise InvalidValueError("rows of the matrix have different lengths")
        matrix = [list(row) for row in matrix]
    shape = _shape_of(matrix)
    dok = matrix.todok() if hasattr(matrix, "todok") else None
    for i in range(shape[0]):
        row = []
        for j in range(shape[1]):
            value = dok.get((i, j), 0) if dok is not None else matrix[i][j] if isinstance(
                matrix, list) else matrix[i, j]
            if isinstance(value, str):
                row.append(value)
                continue
            text = cache.get(value)
            if text is None:
                text = cache[value] = render(_as_expr(value))
            row.append(text)
        rows.append(row)
    return rows


def _shape_of(matrix):
    if isinstance(matrix, list):
        return (len(matrix), len(matrix[0]) if matrix else 0)
    return tuple(matrix.shape)


def _grid_latex(cells, env, row_labels, col_labels):
    n_cols = len(cells[0]) if cells else 0
    lines = []
    if row_labels is not None or col_labels is not None:
        row_labels = row_labels or [""] * len(cells)
        spec = ("r|" if row_labels else "") + "c" * n_cols
        lines.append(f"\\begin{{array}}{{{spec}}}")
        lines.append(" & ".join([""] + list(col_labels or [""] * n_cols)) + " \\\\")
        lines.append("\\hline")
        body = [" & ".join([lab] + row) for lab, row in zip(row_labels, cells, strict=True)]
        lines += [b + " \\\\" for b in body[:-1]] + body[-1:]
        lines.append("\\end{array}")
        return "\n".join(lines)
    if n_cols > 10 and env != "array":
        lines.append(f"% amsmath shows at most 10 columns: \\setcounter{{MaxMatrixCols}}{{{n_cols}}}")
    lines.append(f"\\begin{{{env}}}")
    body = [" & ".join(row) for row in cells]
    lines += [b + " \\\\" for b in body[:-1]] + body[-1:]
    lines.append(f"\\end{{{env}}}")
    return "\n".join(lines)


def _grid_text(cells, row_labels, col_labels):
    table = [list(row) for row in cells]
    numeric = all(re.fullmatch(r"-?[\d.]+(/\d+)?(e-?\d+)?", c) for row in table for c in row)
    if col_labels is not None:
        table.insert(0, list(col_labels))
    if row_labels is not None:
        side = ([""] if col_labels is not None else []) + list(row_labels)
        table = [[label] + row for label, row in zip(side, table, strict=True)]
    if not table:
        return ""
    widths = [max(len(row[j]) for row in table) for j in range(len(table[0]))]
    lines = []
    for row in table:
        texts = [cell.rjust(w) if numeric else cell.ljust(w) for cell, w in zip(row, widths, strict=True)]
        if row_labels is not None:
            line = row[0].ljust(widths[0]) + " | " + "  ".join(texts[1:])
        else:
            line = "  ".join(texts)
        lines.append(line.rstrip())
    if col_labels is not None:
        lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def matrix_to_latex(matrix, *, env="bmatrix", row_labels=None, col_labels=None):
    """LaTeX of a matrix of expressions (or pre-rendered strings).

    Parameters
    ----------
    matrix : sympy matrix, 2-D array or list of lists
    env : str
        ``"bmatrix"`` (default), ``"pmatrix"`` or ``"matrix"``.
    row_labels, col_labels : sequence of SymPy symbols or str, optional
        Headers; given either, the result is an ``array`` with a header row and
        column (``\\partial p_{11}`` down the side, ``\\partial a_{21}`` along the
        top, so each entry reads as ``\\partial p_{11} / \\partial a_{21}``).

    Examples
    --------
    >>> import sympy
    >>> from jacobian_cnn.symbolic.latex import matrix_to_latex
    >>> print(matrix_to_latex(sympy.Matrix([[sympy.Rational(1, 4), 0]])))
    \\begin{bmatrix}
    \\frac{1}{4} & 0
    \\end{bmatrix}
    """
    if env not in _MATRIX_ENVS:
        raise InvalidValueError(f"env must be one of {_MATRIX_ENVS}, got {env!r}")
    cells = _cells(matrix, to_latex)
    return _grid_latex(cells, env, _labels(row_labels, to_latex), _labels(col_labels, to_latex))


def matrix_to_text(matrix, *, row_labels=None, col_labels=None):
    """Plain-text grid of a matrix of expressions, with optional headers.

    Examples
    --------
    >>> import sympy
    >>> from jacobian_cnn.symbolic.latex import matrix_to_text
    >>> print(matrix_to_text(sympy.Matrix([[sympy.Rational(1, 4), 0], [0, 1]]),
    ...                      row_labels=["p_{11}", "p_{21}"], col_labels=["a_{11}", "a_{21}"]))
           | a_{11}  a_{21}
    -----------------------
    p_{11} |    1/4       0
    p_{21} |      0       1
    """
    cells = _cells(matrix, to_text)
    return _grid_text(cells, _labels(row_labels, to_text), _labels(col_labels, to_text))


def _labels(labels, render):
    if labels is None:
        return None
    return [lab if isinstance(lab, str) else render(lab) for lab in labels]


