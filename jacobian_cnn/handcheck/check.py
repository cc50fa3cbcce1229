"""Check a hand derivation entry by entry, and name the systematic mistake behind it.

A student writes a Jacobian, a forward result or a gradient (as LaTeX, a SymPy
matrix, a NumPy array or nested lists of strings). :func:`check_derivation`
computes the same quantity symbolically (:mod:`jacobian_cnn.symbolic`, conventions
in :mod:`jacobian_cnn.vec`) and compares:

1. It decides *what* was written from the symbols and the shape: a Jacobian
   (``n_out x n_in``), its entry labels (``∂p_{11}/∂a_{21}``), the gradient row
   ``dJ/d vec(a)``, the gradient in ``a``'s shape, or the forward result.
2. It reads the matrix under the declared conventions (:class:`Conventions`: index base,
   vec order, layout, weight orientation, convolution kind, max-pool tie rule, flatten
   order), then under every other known convention and combination of them, and tries the
   common systematic mistakes: a row-major reshape or listing, a transposed matrix, every
   window shifted by one row or column. The reading that explains the most entries wins,
   then the one that changes the fewest conventions and names the fewest mistakes. A
   matrix right only under other conventions gets the verdict
   ``"right_under_other_conventions"`` and one line naming the options that declare them.
3. It reports each remaining entry by meaning (``∂p_{12}/∂a_{21}: you wrote 1/4,
   correct is 0``) and names patterns across entries: overlapping windows not
   summed (an entry that keeps only some of its windows' terms) and stray factors
   (a term whose coefficient is off by the same factor, as in an extra 1/4).

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
Conventions: 1-based indices, column-major vec order, numerator layout
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
from jacobian_cnn.handcheck.candidates import _layout_shapes, _quantities_for, _shape_text
from jacobian_cnn.handcheck.conventions import CHOICES, Conventions
from jacobian_cnn.handcheck.diagnosis import _report
from jacobian_cnn.handcheck.fallback import explain_by_problem
from jacobian_cnn.handcheck.numeric import DEFAULT_TOLERANCE, Numbers
from jacobian_cnn.handcheck.problems import (
    _declared_names,
    _problem_factory,
    _roles,
    relevant_fields,
    resolve,
    unwrap_written,
)
from jacobian_cnn.handcheck.reading import as_written_matrix
from jacobian_cnn.handcheck.report import QUANTITIES, CheckReport, EntryDiff, Mistake
from jacobian_cnn.handcheck.rewrite import detect_names, renamed
from jacobian_cnn.handcheck.search import search
from jacobian_cnn.symbolic import SUPPORTED_LAYERS
from jacobian_cnn.symbolic.jacobians import SymbolicProblem

__all__ = ["check_derivation", "as_written_matrix", "CheckReport", "Mistake", "EntryDiff",
           "QUANTITIES", "MAX_CHECK_ENTRIES", "MAX_SIMPLIFY_OPS", "Conventions"]

MAX_CHECK_ENTRIES = 250_000
"""Default ``max_entries`` of :func:`check_derivation` (``--max-entries`` of ``jacobian-cnn
check``): the largest problem checked, counted as the entries of its Jacobian
``d vec(y) / d vec(wrt)`` (rows times columns), from shapes alone before anything is built.
A 2x2 window with stride 1 on a 22x22 input is 441 x 484 = 213,444."""

MAX_SIMPLIFY_OPS = 400
"""Largest difference of two non-polynomial entries (SymPy operations) that is simplified
to decide whether they are equal; a larger one is refused rather than guessed."""


def check_derivation(written, layer, x=None, *, wrt="input", quantity="auto", which=-1,
                     max_entries=MAX_CHECK_ENTRIES, conventions=None, grad_values=None,
                     tolerance=DEFAULT_TOLERANCE, **options):
    """Compare a hand-derived matrix with the package's result for a layer and input.

    Parameters
    ----------
    written : str, sympy matrix, numpy array or nested lists
        See :func:`as_written_matrix`. ``\\mathbf``, ``\\boldsymbol`` and ``\\bm`` around names
        are read as the name; ``\\ell`` as ``l``.
    layer : layer, Chain or SymbolicProblem
        What was differentiated. With a :class:`~jacobian_cnn.symbolic.jacobians.SymbolicProblem`,
        ``x`` and problem ``options`` must be omitted.
    x : tuple of int or array_like
        The input shape, or a numeric input (needed for max pooling and ReLU; its values are
        substituted when the written matrix holds numbers).
    wrt : str or (int, str)
        ``"input"`` or a parameter name (``"kernel"``, ``"weight"``, ``"bias"``); for a
        :class:`~jacobian_cnn.Chain`, ``(layer_index, name)`` (0-based): ``(0, "kernel")`` is
        the first layer's kernel, and the gradient ``dJ/dK1`` is checked through the whole
        network (``grad_values`` is then ``∂J/∂y`` at the network's output).
    quantity : str
        ``"auto"`` (default: decided from the symbols and the shape) or a key of
        :data:`QUANTITIES`. ``"hessian"`` (never chosen by ``"auto"``) checks a layer's
        second-order term, ``wrt`` then being one variable, a pair of them (a cross block) or
        a list of them (the full matrix with its cross blocks; for a chain ending in a loss, its
        numeric Hessian) (:mod:`jacobian_cnn.handcheck.hessian`).
    which : int or "channels"
        For LaTeX text with several matrices, which one (default: the last); ``"channels"``:
        every matrix is one channel of a multi-channel output or gradient
        (:func:`as_written_matrix`).
    max_entries : int
        Largest problem checked: the entries of its Jacobian ``d vec(y) / d vec(wrt)``
        (default :data:`MAX_CHECK_ENTRIES`), tested from shapes before anything is built.
    conventions : Conventions or dict, optional
        The conventions the matrix is written in (:class:`~jacobian_cnn.handcheck.Conventions`;
        default this package's). Its fields may also be given as keyword arguments
        (``index_base=0``, ``vec_order="C"``, ``layout="denominator"``,
        ``weight_orientation="out_in"``, ``convolution="true"``, ``tie="row_major"``,
        ``flatten_order="C"``).
    grad_values : array_like, optional
        Numeric upstream gradient ``∂J/∂y`` (the output's shape), substituted into a numeric
        gradient.
    tolerance : float
        Numeric entries agree when ``|w - c| <= tolerance * max(1, |c|)``
        (default :data:`~jacobian_cnn.handcheck.numeric.DEFAULT_TOLERANCE`).
    **options
        Passed to :class:`~jacobian_cnn.symbolic.jacobians.SymbolicProblem` (``names=``,
        ``params=``, ``switches=``, ``winners=``, ``flip_kernel=``).

    Returns
    -------
    CheckReport
        ``report.verdict`` is ``"correct"`` (right under the declared conventions),
        ``"right_under_other_conventions"`` (``report.detected`` names them) or ``"wrong"``.

    Raises
    ------
    ValueError
        If the written matrix's shape fits none of the quantities (the message
        lists the shapes that would; tested before any expected matrix is built), on
        malformed LaTeX (:class:`~jacobian_cnn.symbolic.latex.LatexParseError`, with line
        and column), when names are ambiguous, or when a numeric matrix lacks values.
    SizeLimitError
        If the problem is over ``max_entries``, or the written matrix over a limit of
        the reader (:mod:`jacobian_cnn.symbolic.latex`: ``MAX_INPUT_CHARS``, ...).
    """
    _check_max_entries(max_entries)
    if quantity == "hessian":  # a second-order term, in this package's conventions only
        from jacobian_cnn.handcheck.hessian import check_hessian
        if conventions is not None or any(k in CHOICES for k in options):
            raise InvalidValueError("quantity='hessian' is checked in this package's conventions "
                                    "only; drop conventions=")
        return check_hessian(written, layer, x, wrt=wrt, which=which, grad_values=grad_values,
                             tolerance=tolerance, max_entries=max_entries, **options)
    declared = Conventions.coerce(conventions, **{k: options.pop(k) for k in list(options)
                                                  if k in CHOICES})
    numbers = Numbers(None if isinstance(x, tuple) or x is None else x, grad_values, tolerance)
    if isinstance(layer, SymbolicProblem):
        if x is not None or options:
            raise InvalidTypeError("with a SymbolicProblem, pass neither x nor problem options")
        problem = layer
    else:
        if x is None:
            raise InvalidTypeError("check_derivation needs x: the input shape or a numeric input")
        _check_size_from_shapes(layer, x, wrt, max_entries)
        options.setdefault("max_entries", max_entries)  # one limit for the whole check
        problem = None
    declared = resolve(declared, problem.layer if problem else layer,
                       problem.flip_kernel if problem else options.get("flip_kernel"))
    problem_for = _problem_factory(problem, layer, x, options)
    problem = problem_for(declared)
    if quantity != "auto" and quantity not in QUANTITIES:
        raise InvalidValueError(f"quantity must be 'auto' or one of {sorted(QUANTITIES)}, got {quantity!r}")
    wrt = problem.check_wrt(wrt)  # (0, "kernel") of a single layer is "kernel"
    _check_problem_size(problem, wrt, max_entries)
    numbers.check_sizes(problem)
    W, source = as_written_matrix(unwrap_written(written), which=which)
    as_read = W
    rename = detect_names(W, problem.names, _roles(problem, wrt), _declared_names(options))
    W = renamed(W, rename=rename)
    candidates = [quantity] if quantity != "auto" else _quantities_for(W, problem, wrt, numbers)
    shapes = {q: _layout_shapes(q, problem, wrt) for q in candidates}
    rebuild = not isinstance(layer, SymbolicProblem)

    def by_problem():  # a stride, padding or variable mistaken: tried only when wrong as declared
        return explain_by_problem(W, layer, x, options, declared, wrt, quantity, numbers,
                                  MAX_SIMPLIFY_OPS) if rebuild else None

    if not any(W.shape == shape for q in candidates for shape, _ in shapes[q]):
        report = by_problem()
        if report is None:
            fitting = ", ".join(f"{q}: {_shape_text(shape)}" for q, shape in dict.fromkeys(
                (q, shape) for q in candidates for shape, correct in shapes[q] if correct))
            raise InvalidValueError(f"a {_shape_text(W.shape)} matrix fits none of the quantities "
                                    f"of {problem!r}; expected shapes are {fitting}")
    else:
        reading = search(W, problem_for, declared, wrt, quantity, numbers, can_rebuild=rebuild)
        report = _report(reading, declared, wrt, source, MAX_SIMPLIFY_OPS,
                         numbers.comparer(reading.written))
        if report.verdict == "wrong":
            report = by_problem() or report
    report.source, report.written = source, as_read
    report.problem = repr(problem)  # as declared, whatever it was read under
    report.relevant = relevant_fields(problem)
    roles = {getattr(problem.names, r): r for r in _roles(problem, wrt)}
    report.renamed = {theirs: (roles[ours], ours) for theirs, ours in rename.items()}
    return report


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
    layers = layer.layers if isinstance(layer, Chain) else [layer]
    index, name = wrt if isinstance(wrt, tuple) and len(wrt) == 2 else (0, wrt)
    if not isinstance(index, numbers.Integral) or not 0 <= index < len(layers):
        return  # SymbolicProblem names the bad wrt
    params = getattr(layers[index], "params", {}) if name != "input" else {}
    if name != "input" and (name not in params or (len(layers) > 1 and not isinstance(wrt, tuple))):
        return
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
    n_var = n_in if name == "input" else int(np.size(params[name]))
    _refuse_size(f"{layer!r} on a {'x'.join(map(str, shape))} input", int(np.size(y)), n_var,
                 max_entries)


def _check_problem_size(problem, wrt, max_entries):
    """Refuse a problem whose Jacobian has more than ``max_entries`` entries (from shapes)."""
    n_out = int(np.prod(problem.output_shape))
    n_var = int(np.prod(np.shape(problem.wrt_symbols(wrt))))
    _refuse_size(repr(problem), n_out, n_var, max_entries)
