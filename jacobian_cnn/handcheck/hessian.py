"""Checking a written second-order term or Hessian (``quantity="hessian"`` of :func:`check_derivation`).

``wrt`` says what the written matrix is:

* one variable (``"input"``, ``"kernel"``, ``(0, "kernel")``): the diagonal block of that
  variable;
* a pair ``(a, b)``: the cross block, rows over ``vec(a)``, columns over ``vec(b)``;
* a list of variables (``["input", "kernel"]``): the full matrix over their concatenated vecs,
  in that order, every block including the off-diagonal (cross) ones.

For a layer or a chain of layers with symbolic rules the expected entries are
:func:`jacobian_cnn.symbolic.hessian.symbolic_hessian_term`:
``T[i, j] = sum_k ∂J/∂y_k ∂²y_k / ∂vec(a)_i ∂vec(b)_j`` in this package's conventions
(:mod:`jacobian_cnn.vec`: rows over ``vec(a)``, columns over ``vec(b)``, 1-based names), compared
entry by entry, symbolically, or numerically once a numeric ``x`` and ``grad_values`` give every
name a value. For a chain ending in a loss (a scalar output: a true Hessian, e.g. conv then MSE)
the expected matrix is the exact numeric :func:`jacobian_cnn.second_order.network_hessian` at a
numeric ``x``, and the written matrix must hold numbers. A wrong entry is named by its block
and its place in it. The conventions search of the first-order checks is not applied.

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

The Hessian of ``mean((conv(x) - t)^2)`` over the input and the kernel (worked out by hand in
``tests/test_second_order_handcheck.py``), with a wrong entry in the cross block:

>>> net = jc.Chain([jc.Conv2D(np.array([[1., -1.]])), jc.Flatten(), jc.MSELoss(np.zeros(2))])
>>> H = [[1, -1, 0, 0, 2], [-1, 2, -1, 0, 0], [0, -1, 1, -2, -4], [0, 0, -2, 5, 8], [2, 0, -3, 8, 13]]
>>> report = check_derivation(H, net, np.array([[1., 2., 3.]]), wrt=["input", (0, "kernel")],
...                           quantity="hessian")
>>> print(report.diffs[0])
H(kernel1_2, x_3) in block (layer 1 kernel, input): you wrote -3, correct is -4  [row 5, column 3]
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


def _blocks(wrt):
    """``(row variables, column variables)`` of ``wrt`` (module docstring)."""
    if isinstance(wrt, list):
        if not wrt:
            raise InvalidValueError("wrt must name at least one variable, got []")
        return list(wrt), list(wrt)
    if isinstance(wrt, tuple) and len(wrt) == 2 and not isinstance(wrt[0], int):
        return [wrt[0]], [wrt[1]]
    return [wrt], [wrt]


class _Expected:
    def __init__(self, values):
        self.values = values


def _ends_in_loss(layer):
    from jacobian_cnn.chain import Chain
    from jacobian_cnn.ops.losses import MSELoss, SoftmaxCrossEntropy

    last = layer.layers[-1] if isinstance(layer, Chain) else layer
    return isinstance(last, (MSELoss, SoftmaxCrossEntropy))


def check_hessian(written, layer, x, *, wrt="input", which=-1, grad_values=None, tolerance,
                  max_entries, **options):
    """The :class:`CheckReport` of a written second-order term or Hessian (module docstring)."""
    rows, cols = _blocks(wrt)
    W, source = as_written_matrix(unwrap_written(written), which=which)
    if _ends_in_loss(layer):
        return _check_loss_hessian(W, source, layer, x, rows, cols, tolerance, max_entries)
    from jacobian_cnn.symbolic.hessian import symbolic_hessian_term

    sympy = require_sympy()
    options.setdefault("max_entries", max_entries)
    problem = SymbolicProblem(layer, x, **options)
    terms = [[symbolic_hessian_term(layer, x, wrt=(a, b), **options) for b in cols] for a in rows]
    shape = (sum(t[0].shape[0] for t in terms), sum(t.shape[1] for t in terms[0]))
    _check_shape(W, shape, f"second-order term (quantity='hessian') of {problem!r}")
    numbers = Numbers(None if isinstance(x, tuple) else x, grad_values, tolerance)
    numbers.check_sizes(problem)
    E = _Expected(np.array(sympy.BlockMatrix([[t.matrix for t in line] for line in terms])
                           .as_explicit().tolist(), dtype=object))
    numbers.substitute(E, problem)
    comparer = numbers.comparer(W)
    row_symbols = [s for line in terms for s in line[0].output_symbols]
    col_symbols = [s for t in terms[0] for s in t.wrt_symbols]
    block = _block_names(rows, cols, [t[0].shape[0] for t in terms], [t.shape[1] for t in terms[0]],
                         problem._letter)
    diffs, matching = [], 0
    for (i, j), c in np.ndenumerate(E.values):
        w = W[i, j]
        if comparer.same(w, c, lambda w, c: sympy.simplify(sympy.expand(w - c)) == 0):
            matching += 1
            continue
        label = f"T({to_text(row_symbols[i])}, {to_text(col_symbols[j])}){block(i, j)}"
        diffs.append(EntryDiff((i + 1, j + 1), label, w, c))
    letters = ", ".join(problem._letter(v) for v in rows)
    title = (f"sum_k dJ/d{problem.names.output}_k d2 vec({problem.names.output})_k / "
             f"d vec({letters}) d vec({', '.join(problem._letter(v) for v in cols)})^T")
    return CheckReport("hessian", title, repr(problem), W.shape, diffs=diffs, n_entries=W.size,
                       n_matching=matching, source=source, written=W)


def _check_shape(W, shape, what):
    if W.shape != shape:
        raise InvalidValueError(f"a {W.shape[0]}x{W.shape[1]} matrix does not fit the "
                                f"{shape[0]}x{shape[1]} {what}")


def _block_names(rows, cols, row_sizes, col_sizes, name):
    """``f(i, j)``: `` in block (a, b)`` for an entry of a matrix of several blocks, else ``""``."""
    if len(rows) == 1 and len(cols) == 1:
        return lambda i, j: ""
    row_ends, col_ends = np.cumsum(row_sizes), np.cumsum(col_sizes)

    def where(i, j):
        a = rows[np.searchsorted(row_ends, i, side="right")]
        b = cols[np.searchsorted(col_ends, j, side="right")]
        return f" in block ({name(a)}, {name(b)})"
    return where


def _variable_name(key):
    return "input" if key == "input" else f"layer {key[0] + 1} {key[1]}"


def _check_loss_hessian(W, source, chain, x, rows, cols, tolerance, max_entries):
    """A chain ending in a loss: the written numbers against the exact numeric Hessian."""
    from jacobian_cnn.chain import Chain
    from jacobian_cnn.second_order import network_hessian
    from jacobian_cnn.second_order.variables import variables

    chain = chain if isinstance(chain, Chain) else Chain([chain])
    if isinstance(x, tuple) or x is None:
        raise InvalidValueError("the Hessian of a chain ending in a loss is checked numerically: "
                                "give x as numbers (an array), not a shape")
    if any(getattr(w, "free_symbols", None) for w in W.ravel()):
        raise InvalidValueError("the Hessian of a chain ending in a loss is checked numerically: "
                                "write numbers only")
    rows, cols = ([variables(chain, k)[0] for k in names] for names in (rows, cols))
    size = {k: np.size(x) if k == "input" else np.size(chain[k[0]].params[k[1]]) for k in rows + cols}
    entries = [[(k, i) for k in keys for i in range(size[k])] for keys in (rows, cols)]
    shape = (len(entries[0]), len(entries[1]))
    _check_shape(W, shape, f"Hessian over {[_variable_name(k) for k in dict.fromkeys(rows + cols)]}")
    if shape[0] * shape[1] > max_entries:
        raise InvalidValueError(f"a {shape[0]}x{shape[1]} Hessian is over max_entries={max_entries:,}")
    H = network_hessian(chain, x, list(dict.fromkeys(rows + cols)))
    expected = np.vstack([np.hstack([H.block(a, b).toarray() for b in cols]) for a in rows])
    numbers = Numbers(None, None, tolerance)
    letter = {k: "x" if k == "input" else f"{k[1]}{k[0] + 1}" for k in size}
    diffs = []
    for (i, j), c in np.ndenumerate(expected):
        if not numbers.close(W[i, j], c):
            (a, p), (b, q) = entries[0][i], entries[1][j]
            label = (f"H({letter[a]}_{p + 1}, {letter[b]}_{q + 1}) in block "
                     f"({_variable_name(a)}, {_variable_name(b)})")
            diffs.append(EntryDiff((i + 1, j + 1), label, W[i, j], _number(c)))
    title = (f"d2 L / d vec({', '.join(map(_variable_name, rows))}) "
             f"d vec({', '.join(map(_variable_name, cols))})^T")
    return CheckReport("hessian", title, " -> ".join(repr(layer) for layer in chain.layers), W.shape,
                       diffs=diffs, n_entries=W.size, n_matching=W.size - len(diffs), source=source,
                       written=W)


def _number(value):
    """A float as a SymPy number (an integer when it is one), for the report."""
    sympy = require_sympy()
    return sympy.Integer(int(value)) if float(value).is_integer() else sympy.Float(value)
