"""Check a hand derivation entry by entry, and name the systematic mistake behind it.

A student writes a Jacobian, a forward result or a gradient (as LaTeX, a SymPy
matrix, a NumPy array or nested lists of strings). :func:`check_derivation`
computes the same quantity symbolically (:mod:`jacobian_cnn.symbolic`, conventions
in :mod:`jacobian_cnn.vec`) and compares:

1. It decides *what* was written from the symbols and the shape: a Jacobian
   (``n_out x n_in``), its entry labels (``∂p_{11}/∂a_{21}``), the gradient row
   ``dJ/d vec(a)``, the gradient in ``a``'s shape, or the forward result.
2. It tries the correct answer and the common systematic mistakes, alone and
   combined: a row-major reshape or listing instead of ``vec``'s column-major
   order, a transposed (denominator-layout) matrix, a kernel flipped when it
   should not be (or not when it should), every window shifted by one row or
   column. The reading that explains the most entries wins; the correct one wins
   ties.
3. It reports each remaining entry by meaning (``∂p_{12}/∂a_{21}: you wrote 1/4,
   correct is 0``) and names patterns across entries: overlapping windows not
   summed (an entry that keeps only some of its windows' terms) and stray factors
   (a term whose coefficient is off by the same factor, seed 000's extra 1/4).

Before anything is built, the problem's size (the entries of its Jacobian, at most
``max_entries``) and the written matrix's shape are tested from shapes alone; the
written entries are held to the LaTeX reader's limits (:mod:`jacobian_cnn.symbolic.latex`), so
no input makes the checker hang.

The steps live beside this module: :mod:`~jacobian_cnn.handcheck.reading` (the written matrix),
:mod:`~jacobian_cnn.handcheck.candidates` (expected matrices, layouts and mistaken variants),
:mod:`~jacobian_cnn.handcheck.diagnosis` (naming the mistakes) and
:mod:`~jacobian_cnn.handcheck.report` (what is returned).

Examples
--------
Seed 000's eq. 3 is right:

>>> import jacobian_cnn as jc
>>> from jacobian_cnn.handcheck import check_derivation
>>> eq3 = r'''\\begin{bmatrix}
...   \\frac{1}{4} & \\frac{1}{4} & 0 & \\frac{1}{4} & \\frac{1}{4} & 0 & 0 & 0 & 0 \\\\
...   0 & \\frac{1}{4} & \\frac{1}{4} & 0 & \\frac{1}{4} & \\frac{1}{4} & 0 & 0 & 0 \\\\
...   0 & 0 & 0 & \\frac{1}{4} & \\frac{1}{4} & 0 & \\frac{1}{4} & \\frac{1}{4} & 0 \\\\
...   0 & 0 & 0 & 0 & \\frac{1}{4} & \\frac{1}{4} & 0 & \\frac{1}{4} & \\frac{1}{4}
... \\end{bmatrix}'''
>>> print(check_derivation(eq3, jc.AvgPool2D(2, stride=1), (3, 3)))
Checked: a 4x9 matrix, read as d vec(p) / d vec(a) (the Jacobian in numerator layout)
Problem: AvgPool2D(2x2, stride=1) on a 3x3 input
Correct: all 36 entries match.

One entry wrong:

>>> wrong = eq3.replace(r"0 & 0 & 0 & \\frac{1}{4} & \\frac{1}{4} & 0 & \\frac{1}{4}",
...                     r"0 & \\frac{1}{4} & 0 & \\frac{1}{4} & \\frac{1}{4} & 0 & \\frac{1}{4}")
>>> report = check_derivation(wrong, jc.AvgPool2D(2, stride=1), (3, 3))
>>> print(report.diffs[0])
∂p_{12}/∂a_{21}: you wrote 1/4, correct is 0  [row 3, column 2]
"""

from __future__ import annotations

import numbers

import numpy as np

from jacobian_cnn.chain import Chain
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError, JacobianCNNError, SizeLimitError
from jacobian_cnn.handcheck.candidates import (
    _arrangements,
    _Expected,
    _layout_shapes,
    _quantities_for,
    _shape_text,
    _variants,
)
from jacobian_cnn.handcheck.diagnosis import _report
from jacobian_cnn.handcheck.reading import as_written_matrix
from jacobian_cnn.handcheck.report import QUANTITIES, CheckReport, EntryDiff, Mistake
from jacobian_cnn.symbolic import SUPPORTED_LAYERS
from jacobian_cnn.symbolic.jacobians import SymbolicProblem

__all__ = ["check_derivation", "as_written_matrix", "CheckReport", "Mistake", "EntryDiff",
           "QUANTITIES", "MAX_CHECK_ENTRIES", "MAX_SIMPLIFY_OPS"]

MAX_CHECK_ENTRIES = 250_000
"""Default ``max_entries`` of :func:`check_derivation` (``--max-entries`` of ``jacobian-cnn
check``): the largest problem checked, counted as the entries of its Jacobian
``d vec(y) / d vec(wrt)`` (rows times columns), from shapes alone before anything is built.
A 2x2 window with stride 1 on a 22x22 input is 441 x 484 = 213,444."""

MAX_SIMPLIFY_OPS = 400
"""Largest difference of two non-polynomial entries (SymPy operations) that is simplified
to decide whether they are equal; a larger one is refused rather than guessed."""


def check_derivation(written, layer, x=None, *, wrt="input", quantity="auto", which=-1,
                     max_entries=MAX_CHECK_ENTRIES, **options):
    """Compare a hand-derived matrix with the package's result for a layer and input.

    Parameters
    ----------
    written : str, sympy matrix, numpy array or nested lists
        See :func:`as_written_matrix`.
    layer : layer, Chain or SymbolicProblem
        What was differentiated. With a :class:`~jacobian_cnn.symbolic.jacobians.SymbolicProblem`,
        ``x`` and ``options`` must be omitted.
    x : tuple of int or array_like
        The input shape, or a numeric input (needed for max pooling and ReLU).
    wrt : str
        ``"input"`` or a parameter name (``"kernel"``, ``"weight"``, ``"bias"``).
    quantity : str
        ``"auto"`` (default: decided from the symbols and the shape) or a key of
        :data:`QUANTITIES`.
    which : int
        For LaTeX text with several matrices, which one (default: the last).
    max_entries : int
        Largest problem checked: the entries of its Jacobian ``d vec(y) / d vec(wrt)``
        (default :data:`MAX_CHECK_ENTRIES`), tested from shapes before anything is built.
    **options
        Passed to :class:`~jacobian_cnn.symbolic.jacobians.SymbolicProblem` (``names=``,
        ``params=``, ``switches=``, ``winners=``, ``flip_kernel=``).

    Returns
    -------
    CheckReport

    Raises
    ------
    ValueError
        If the written matrix's shape fits none of the quantities (the message
        lists the shapes that would; tested before any expected matrix is built), or
        on malformed LaTeX (:class:`~jacobian_cnn.symbolic.latex.LatexParseError`, with line
        and column).
    SizeLimitError
        If the problem is over ``max_entries``, or the written matrix over a limit of
        the reader (:mod:`jacobian_cnn.symbolic.latex`: ``MAX_INPUT_CHARS``, ...).
    """
    _check_max_entries(max_entries)
    if isinstance(layer, SymbolicProblem):
        if x is not None or options:
            raise InvalidTypeError("with a SymbolicProblem, pass neither x nor problem options")
        problem = layer
    else:
        if x is None:
            raise InvalidTypeError("check_derivation needs x: the input shape or a numeric input")
        _check_size_from_shapes(layer, x, wrt, max_entries)
        options.setdefault("max_entries", max_entries)  # one limit for the whole check
        problem = SymbolicProblem(layer, x, **options)
    if quantity != "auto" and quantity not in QUANTITIES:
        raise InvalidValueError(f"quantity must be 'auto' or one of {sorted(QUANTITIES)}, got {quantity!r}")
    problem.check_wrt(wrt)
    _check_problem_size(problem, wrt, max_entries)
    W, source = as_written_matrix(written, which=which)
    candidates = [quantity] if quantity != "auto" else _quantities_for(W, problem, wrt)
    shapes = {q: _layout_shapes(q, problem, wrt) for q in candidates}
    if not any(W.shape == shape for q in candidates for shape, _ in shapes[q]):
        fitting = ", ".join(f"{q}: {_shape_text(shape)}" for q, shape in dict.fromkeys(
            (q, shape) for q in candidates for shape, correct in shapes[q] if correct))
        raise InvalidValueError(f"a {_shape_text(W.shape)} matrix fits none of the quantities of "
                                f"{problem!r}; expected shapes are {fitting}")
    candidates = [q for q in candidates if any(W.shape == shape for shape, _ in shapes[q])]
    variants = _variants(problem)
    expected_cache = {}

    def expected(q, v):
        key = (q, v[0])
        if key not in expected_cache:
            try:
                expected_cache[key] = _Expected(v[1](), q, wrt)
            except InvalidValueError:  # refused on purpose: no matrix form for this quantity (a
                expected_cache[key] = None  # multi-channel output) or a variant not modelled
                # (shifted windows need zero padding); a size limit or any other error propagates
        return expected_cache[key]

    best, fitting_shapes = None, []
    order = 0
    for q in candidates:
        base = expected(q, variants[0])
        if base is None:
            continue
        arrangements = _arrangements(q, base.values.shape, base.var_shape, base.out_shape)
        fitting_shapes += [(q, a.src.shape) for a in arrangements if not a.kinds]
        for v in variants if not q.endswith("labels") else variants[:1]:
            E = expected(q, v)
            if E is None or E.values.shape != base.values.shape:
                continue
            flat = E.values.ravel()
            for a in arrangements:
                if a.src.shape != W.shape:
                    continue
                arranged = flat[a.src]
                score = int(np.count_nonzero(arranged == W))
                n_kinds = len(a.kinds) + len(v[0])
                key = (score, -n_kinds, -order)
                order += 1
                if best is None or key > best[0]:
                    best = (key, q, v, a, E, arranged)
    if best is None:
        shapes = ", ".join(f"{q}: {_shape_text(s)}" for q, s in dict.fromkeys(fitting_shapes))
        raise InvalidValueError(f"a {_shape_text(W.shape)} matrix fits none of the quantities of "
                         f"{problem!r}; expected shapes are {shapes}")
    _, q, v, a, E, arranged = best
    return _report(W, problem, wrt, q, v, a, E, arranged, expected(q, variants[0]), source,
                   MAX_SIMPLIFY_OPS)


def _check_max_entries(max_entries):
    if isinstance(max_entries, bool) or not isinstance(max_entries, numbers.Integral) \
            or max_entries < 1:
        raise InvalidValueError(f"max_entries must be a positive int, got {max_entries!r}")


def _refuse_size(what, n_out, n_var, max_entries):
    if n_out * n_var > max_entries:
        raise SizeLimitError(
            f"{what} has a {n_out}x{n_var} Jacobian ({n_out * n_var:,} entries), over the limit "
            f"of {int(max_entries):,} entries for a check (raise it with max_entries=, or "
            "jacobian-cnn check --max-entries)")


def _check_size_from_shapes(layer, x, wrt, max_entries):
    """Refuse an oversized problem before its symbols are made (a numeric forward of zeros).

    Inputs this cannot size (a bad shape, an unknown ``wrt``, a layer with no symbolic rule, an
    ``x`` that is not numeric) are left to :class:`~jacobian_cnn.symbolic.jacobians.SymbolicProblem`,
    which reports them.
    """
    from jacobian_cnn.symbolic import jacobians as symbolic

    if isinstance(x, tuple):
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0
                   for v in x) or not 1 <= len(x) <= 3:
            return
        shape = tuple(int(v) for v in x)
    else:
        shape = np.shape(x)
    n_in = int(np.prod(shape, dtype=object))
    if n_in > symbolic.MAX_SYMBOLIC_SIZE:
        raise SizeLimitError(f"the input has {n_in:,} entries; symbolic matrices are for teaching "
                             f"sizes (limit {symbolic.MAX_SYMBOLIC_SIZE:,} entries, "
                             "jacobian_cnn.symbolic.jacobians.MAX_SYMBOLIC_SIZE)")
    params = getattr(layer, "params", {}) if wrt != "input" else {}
    if wrt != "input" and wrt not in params:
        return
    layers = layer.layers if isinstance(layer, Chain) else [layer]
    if not all(type(lay) in SUPPORTED_LAYERS for lay in layers):
        return  # SymbolicProblem names the layer with no symbolic rule
    if isinstance(x, tuple):
        probe = np.zeros(shape)
    else:
        try:
            probe = np.asarray(x, dtype=float)
        except (TypeError, ValueError):  # numpy: not numbers; SymbolicProblem refuses x the same way
            return
    try:
        y = layer.forward(probe)
    except JacobianCNNError:  # the layer refuses this input on purpose; SymbolicProblem, which runs
        return              # the same forward pass, reports it (any other exception is a bug)
    n_var = n_in if wrt == "input" else int(np.size(params[wrt]))
    _refuse_size(f"{layer!r} on a {'x'.join(map(str, shape))} input", int(np.size(y)), n_var,
                 max_entries)


def _check_problem_size(problem, wrt, max_entries):
    """Refuse a problem whose Jacobian has more than ``max_entries`` entries (from shapes)."""
    n_out = int(np.prod(problem.output_shape))
    n_var = int(np.prod(np.shape(problem.wrt_symbols(wrt))))
    _refuse_size(repr(problem), n_out, n_var, max_entries)
