"""What the correct answer looks like and how it may have been mistaken: the quantities worth
trying, their expected matrices (:class:`_Expected`), the layouts a person may have used
(:func:`_arrangements`, :func:`_layout_shapes`) and the mistaken problem variants
(:func:`_variants`: a flipped kernel, shifted windows)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jacobian_cnn.symbolic.latex import derivative_symbol, entry_symbol, require_sympy, symbol_parts, to_text
from jacobian_cnn.symbolic.names import symbol_array

_SHIFTS = {(1, 0): "one row down", (-1, 0): "one row up", (0, 1): "one column right",
           (0, -1): "one column left"}


@dataclass
class _Arrangement:
    """A way the right entries may have been laid out: ``written[p] = expected.flat[src[p]]``."""

    kinds: tuple
    src: np.ndarray
    relevant: frozenset = None  # the layout toggles this form can show (None: all of its family)


def _c_order(shape):
    """vec index of the k-th entry when entries are listed row-major (C order)."""
    n = int(np.prod(shape))
    return np.ravel_multi_index(np.unravel_index(np.arange(n), shape, order="C"), shape, order="F")


def _family(quantity):
    if quantity in ("jacobian", "jacobian_labels"):
        return "jacobian"
    if quantity in ("gradient_row", "gradient_row_labels"):
        return "row"
    if quantity in ("gradient", "gradient_labels"):
        return "shaped"
    return "forward"


def _arrangements(quantity, expected_shape, var_shape, out_shape):
    """Candidate layouts: correct first, then the systematic mistakes and their combinations."""
    family = _family(quantity)
    m, n = expected_shape
    base = np.arange(m * n).reshape(m, n)
    out = []
    if family == "jacobian":
        row_c, col_c = _c_order(out_shape), _c_order(var_shape)
        row_opts = [False] + ([True] if not np.array_equal(row_c, np.arange(m)) else [])
        col_opts = [False] + ([True] if not np.array_equal(col_c, np.arange(n)) else [])
        for rows in row_opts:
            for cols in col_opts:
                for transposed in (False, True):
                    rp = row_c if rows else np.arange(m)
                    cp = col_c if cols else np.arange(n)
                    src = rp[:, None] * n + cp[None, :]
                    kinds = (("row_major_order:rows",) if rows else ()) + \
                        (("row_major_order:cols",) if cols else ()) + \
                        (("denominator_layout",) if transposed else ())
                    out.append(_Arrangement(kinds, src.T if transposed else src))
    elif family == "row":
        order = _c_order(var_shape)
        opts = [False] + ([True] if not np.array_equal(order, np.arange(n)) else [])
        for listed_c in opts:
            src = (order if listed_c else np.arange(n))[None, :]
            for column in (False, True):
                kinds = (("row_major_order:entries",) if listed_c else ()) + \
                    (("denominator_layout",) if column else ())
                out.append(_Arrangement(kinds, src.T if column else src))
    elif family == "shaped":
        out.append(_Arrangement((), base))
        if m > 1 and n > 1:
            k = np.arange(m * n).reshape(m, n)  # row-major fill of the vec-order row
            out.append(_Arrangement(("row_major_reshape",), (k % m) * n + k // m))
        if n != 1 or m != 1:
            out.append(_Arrangement(("transposed",) if n > 1 else (), base.T))
    else:
        shaped, listing = frozenset({"transposed"}), frozenset({"row_major_order:entries"})
        out.append(_Arrangement((), base, shaped))
        if m > 1 or n > 1:
            out.append(_Arrangement(("transposed",) if n > 1 else (), base.T, shaped))
        if m > 1 and n > 1:  # vec(z) written as a column: fine; listed row-major: not
            k = np.arange(m * n)
            out.append(_Arrangement((), ((k % m) * n + k // m)[:, None], listing))
            out.append(_Arrangement(("row_major_order:entries",), k[:, None], listing))
    return out


class _Expected:
    """The expected matrix of one quantity for one (possibly mistaken) problem variant."""

    def __init__(self, problem, quantity, wrt):
        sympy = require_sympy()
        self.quantity = quantity
        loss = entry_symbol(problem.names.loss)
        var = _named(problem, wrt)
        self.var_shape, self.out_shape = np.shape(var), problem.output_shape
        while len(self.var_shape) > 2 and self.var_shape[-1] == 1:  # a (kh, kw, 1, 1) kernel
            self.var_shape = self.var_shape[:-1]
        var_vec = list(np.asarray(var, dtype=object).ravel(order="F"))
        out_vec = list(np.asarray(problem.output_symbols, dtype=object).ravel(order="F"))
        family = _family(quantity)
        if family == "jacobian":
            self.labels = lambda i, j: to_text(derivative_symbol(out_vec[i], var_vec[j]))
            if quantity == "jacobian":
                J = problem.jacobian(wrt).matrix
                values = np.full(J.shape, sympy.Integer(0), dtype=object)
                for (i, j), v in J.todok().items():
                    values[i, j] = v
            else:
                values = np.array([[derivative_symbol(y, x) for x in var_vec] for y in out_vec],
                                  dtype=object)
        elif family in ("row", "shaped"):
            if quantity.endswith("labels"):
                row = [derivative_symbol(loss, x) for x in var_vec]
            else:
                row = list(problem.gradient(wrt).row)
            if family == "row":
                values = np.empty((1, len(row)), dtype=object)
                values[0, :] = row
                self.labels = lambda i, j: to_text(derivative_symbol(loss, var_vec[j]))
            else:
                shape = _matrix_form(self.var_shape) if len(self.var_shape) >= 2 else (len(row), 1)
                values = np.empty(len(row), dtype=object)
                values[:] = row
                values = values.reshape(shape, order="F")
                self.labels = lambda i, j: to_text(derivative_symbol(
                    loss, var_vec[i + j * shape[0]]))
        else:
            y = np.asarray(problem.forward().array, dtype=object)
            shape = _matrix_form(y.shape) if y.ndim >= 2 else (y.size, 1)
            values = y.reshape(shape, order="F")
            self.labels = lambda i, j: to_text(out_vec[i + j * shape[0]])
        cache = {}
        flat = values.ravel()
        for k, v in enumerate(flat):
            if v not in cache:
                cache[v] = sympy.expand(v)
            flat[k] = cache[v]
        self.values = flat.reshape(values.shape)

    def label(self, flat_index):
        i, j = divmod(int(flat_index), self.values.shape[1])
        return self.labels(i, j)


def _matrix_form(shape):
    """The matrix an array of ``shape`` is written as: itself when 2-D; ``(H, W, C, ...)`` as
    its channels side by side, ``(H, W * C * ...)`` (``reshape(..., order="F")``)."""
    return (int(shape[0]), int(np.prod(shape[1:])))


def _named(problem, wrt):
    """The variable's entries as names (a parameter given by its values is labelled by name)."""
    var = problem.wrt_symbols(wrt)
    if all(getattr(v, "is_Symbol", False) for v in np.ravel(var)):
        return var
    name = wrt[1] if isinstance(wrt, tuple) else wrt
    return symbol_array(getattr(problem.names, name), np.shape(var))


def _quantities_for(written, problem, wrt, numbers=None):
    """Quantities worth trying, from the kinds of symbols the written matrix contains (and
    whether numeric upstream gradients were given)."""
    loss = entry_symbol(problem.names.loss).name
    out_letter = problem.names.output
    derivatives = set()
    for value in written.ravel():
        for s in value.free_symbols:
            parts = symbol_parts(s)
            if parts[0] == "derivative":
                num, den = symbol_parts(parts[1]), symbol_parts(parts[2])
                derivatives.add((parts[1] == loss, den[1] if den[0] == "entry" else "",
                                 num[1] if num[0] == "entry" else ""))
    if not derivatives:
        given = numbers is not None and numbers.grad_values is not None
        return (["gradient", "gradient_row"] if given else []) + ["jacobian", "forward"]
    if any(is_loss for is_loss, _, _ in derivatives):
        if all(den == out_letter for is_loss, den, _ in derivatives if is_loss):
            return ["gradient", "gradient_row"]
        return ["gradient_labels", "gradient_row_labels", "gradient", "gradient_row"]
    return ["jacobian_labels"]


def _shape_text(shape):
    return "x".join(str(s) for s in shape)


def _layout_shapes(quantity, problem, wrt):
    """``(shape, correct)`` of every layout :func:`_arrangements` tries, from shapes alone.

    ``correct`` marks the layouts without a mistake (the shapes an error message lists).
    A multi-channel output or gradient is written with its channels side by side
    (:func:`_matrix_form`).
    """
    var_shape = np.shape(problem.wrt_symbols(wrt))
    while len(var_shape) > 2 and var_shape[-1] == 1:  # a (kh, kw, 1, 1) kernel, as _Expected
        var_shape = var_shape[:-1]
    n_var, out_shape = int(np.prod(var_shape)), tuple(problem.output_shape)
    family = _family(quantity)
    if family == "jacobian":
        m, n = int(np.prod(out_shape)), n_var
        return [((m, n), True), ((n, m), False)]
    if family == "row":
        return [((1, n_var), True), ((n_var, 1), False)]
    shape = var_shape if family == "shaped" else out_shape
    m, n = _matrix_form(shape) if len(shape) >= 2 else (int(shape[0]), 1)
    out = [((m, n), True)]
    if n != 1 or m != 1:
        out.append(((n, m), n == 1))
    if family == "forward" and m > 1 and n > 1:
        out.append(((m * n, 1), True))
    return out


def _variants(problem):
    """``(kinds, make_problem)`` pairs: the correct problem first, then windows shifted by one."""
    out = [((), lambda: problem)]
    for shift in list(_SHIFTS) if problem.has_windows else []:
        total = (problem.shift[0] + shift[0], problem.shift[1] + shift[1])
        out.append(((f"window_shift:{shift[0]},{shift[1]}",),
                    lambda total=total: problem.variant(shift=total)))
    return out
