"""Naming what is wrong: entries compared as expressions, each differing entry explained
(missing terms, a stray factor), the systematic mistakes described with an entry that shows
them, and the :class:`~jacobian_cnn.handcheck.report.CheckReport` assembled."""

from __future__ import annotations

import numpy as np

from jacobian_cnn.errors import SizeLimitError
from jacobian_cnn.handcheck.candidates import _SHIFTS, _family
from jacobian_cnn.handcheck.numeric import require_values
from jacobian_cnn.handcheck.patterns import entry_patterns
from jacobian_cnn.handcheck.problems import wrt_name
from jacobian_cnn.handcheck.report import CheckReport, EntryDiff, Mistake
from jacobian_cnn.handcheck.wording import field_message, kind
from jacobian_cnn.symbolic.latex import require_sympy, to_text


def _same(a, b, max_ops, where=None):
    """Equal as expressions (both are expanded; only non-polynomials need ``simplify``, for a
    difference of at most ``max_ops`` operations: :data:`~jacobian_cnn.handcheck.check.MAX_SIMPLIFY_OPS`)."""
    sympy = require_sympy()
    if a == b:
        return True
    difference = sympy.expand(a - b)
    if difference == 0:
        return True
    if difference.is_polynomial():
        return False
    ops = sympy.count_ops(difference)
    if ops > max_ops:
        at = f" at row {where[0]}, column {where[1]}" if where else ""
        raise SizeLimitError(
            f"the written entry{at} differs from the correct one by an expression of {ops} "
            f"operations; deciding whether it is zero needs simplify, which is limited to "
            f"{max_ops} (jacobian_cnn.handcheck.check.MAX_SIMPLIFY_OPS)")
    # No exception is caught here: the reader builds only rationals, symbols and a few
    # elementary functions, so a failure of simplify is a bug to see, not a verdict.
    return sympy.simplify(difference) == 0


def _report(reading, declared, wrt, source, max_simplify_ops, compare):
    """The :class:`CheckReport` of the winning :class:`~jacobian_cnn.handcheck.search.Reading`."""
    W, problem, quantity, E = reading.written, reading.problem, reading.quantity, reading.expected
    arrangement, arranged = reading.arrangement, reading.arranged
    letters = {"input": problem.names.input, "kernel": problem.names.kernel,
               "weight": problem.names.weight, "bias": problem.names.bias}
    var, out, loss = letters[wrt_name(wrt)], problem.names.output, problem.names.loss
    titles = {"jacobian": f"d vec({out}) / d vec({var})",
              "jacobian_labels": f"the labels of d vec({out}) / d vec({var})",
              "gradient": f"d{loss}/d{var} in {var}'s shape",
              "gradient_row": f"d{loss} / d vec({var})",
              "gradient_labels": f"the labels of d{loss}/d{var}",
              "gradient_row_labels": f"the labels of d{loss} / d vec({var})",
              "forward": f"{out} = f({var})"}
    report = CheckReport(quantity, titles[quantity], repr(problem), W.shape, n_entries=W.size,
                         source=source, declared=declared, read_under=reading.conventions)
    if compare.numeric:
        require_values(arranged, "matrix")
    src = arrangement.src
    diffs = []
    for (i, j), w in np.ndenumerate(W):
        c = arranged[i, j]
        if compare.same(w, c, lambda w, c, at=(i + 1, j + 1): _same(w, c, max_simplify_ops, at)):
            continue
        note, kinds = _explain(w, c, quantity)
        diffs.append(EntryDiff((i + 1, j + 1), E.label(src[i, j]), w, c, note, kinds))
    report.diffs = diffs
    report.n_matching = W.size - len(diffs)
    changed = reading.conventions.changed(declared)
    report.entry_status = _entry_status(W, diffs, reading, changed)
    mistakes = []
    if changed and not diffs and not reading.deviations and not reading.variant[0]:
        report.detected = tuple(changed)
        report.detected_kinds = {kind(f, getattr(reading.conventions, f)) for f in changed}
        report.detected_notes = [field_message(f, reading.conventions, declared, problem, quantity,
                                               hint=False) for f in changed]
    else:
        for f in changed:
            mistakes.append(Mistake(kind(f, getattr(reading.conventions, f)),
                                    field_message(f, reading.conventions, declared, problem, quantity)))
    for k in reading.deviations:
        mistakes.append(_arrangement_mistake(k, W, src, reading.base, problem, quantity, var, out))
    for k in reading.variant[0]:
        mistakes.append(_variant_mistake(k, W, reading.base, arrangement, arranged))
    mistakes = _merge_order_mistakes(mistakes)
    mistakes += entry_patterns(diffs, quantity, W, arranged, E, src, (loss, out, var), wrt_name(wrt))
    report.mistakes = mistakes
    return report


def _entry_status(W, diffs, reading, changed):
    """Per written entry: ``"right"``, ``"wrong"`` or ``"convention"`` (right only once read
    under the conventions the report names)."""
    status = np.full(W.shape, "right", dtype=object)
    mistaken = bool(reading.deviations or reading.variant[0])
    if changed or mistaken:
        base = reading.base.values
        moved = ~(W == base) if base.shape == W.shape else np.ones(W.shape, dtype=bool)
        if "index_base" in changed or "weight_orientation" in changed:
            moved |= np.array([[bool(v.free_symbols) for v in row] for row in W], dtype=bool)
        status[moved] = "wrong" if mistaken else "convention"
    for d in diffs:
        status[d.position[0] - 1, d.position[1] - 1] = "wrong"
    return status


def _explain(w, c, quantity):
    """A note on how ``w`` differs from ``c``, and the kinds of difference found."""
    sympy = require_sympy()
    if w.is_Number and c.is_Number:
        return "", ()
    dw = {k: v for k, v in w.as_coefficients_dict().items() if v != 0}
    dc = {k: v for k, v in c.as_coefficients_dict().items() if v != 0}
    if w == 0:
        return "", ()

    def terms(monomials, coeffs):
        return to_text(sympy.Add(*[coeffs[k] * k for k in monomials]))

    missing = [k for k in dc if k not in dw]
    extra = [k for k in dw if k not in dc]
    changed = [k for k in dc if k in dw and dw[k] != dc[k]]
    notes, kinds = [], []
    if missing:
        notes.append("missing " + terms(missing, dc))
        if not extra and not changed:
            kinds.append("missing_terms")
    for k in changed:
        ratio = dw[k] / dc[k]  # coefficients of as_coefficients_dict are numbers
        what = "the constant term" if k == 1 else f"the coefficient of {to_text(k)}"
        note = f"{what} is {to_text(dw[k])}, correct is {to_text(dc[k])}"
        if ratio.is_Rational and ratio == -1:
            note += " (wrong sign)"
        elif ratio.is_Rational and ratio != 1:
            note += f" (a stray factor {to_text(ratio)})"
            kinds.append(("stray_factor", ratio, k))
        notes.append(note)
    if extra:
        notes.append("extra " + terms(extra, dw))
    return "; ".join(notes), tuple(kinds)


def _first_moved(src, E0):
    """First written position whose source differs from the identity layout, or None."""
    identity = np.arange(E0.values.size).reshape(E0.values.shape)
    if src.shape != identity.shape:
        return None
    moved = np.argwhere(src != identity)
    return None if not len(moved) else tuple(int(v) for v in moved[0])


def _arrangement_mistake(kind, W, src, E0, problem, quantity, var, out):
    m, n = E0.values.shape
    pos = _first_moved(src, E0)
    example = ""
    if pos is not None:
        example = (f": your entry ({pos[0] + 1}, {pos[1] + 1}) is {E0.label(src[pos])}, where "
                   f"{E0.label(pos[0] * n + pos[1])} belongs")
    if kind == "row_major_reshape":
        return Mistake("row_major_reshape",
                       f"reshaped row-major: the vec-order row d{problem.names.loss}/d vec({var}) was "
                       f"filled into {var}'s {m}x{n} shape row by row, but vec stacks columns, so "
                       f"unvec fills column by column{example}"
                       + (" (for a square matrix this is a transpose)" if m == n else ""))
    if kind.startswith("row_major_order"):
        part = kind.split(":")[1]
        what, letter = {"rows": (f"rows (the outputs {out})", out),
                        "cols": (f"columns (the variables {var})", var),
                        "entries": ("entries", out if quantity == "forward" else var)}[part]
        return Mistake(f"row_major_order:{part}",
                       f"{what} listed in row-major order, but vec lists them column by column "
                       f"({letter}_{{11}}, {letter}_{{21}}, ...){example}")
    if kind == "denominator_layout":
        if _family(quantity) == "row":
            text = (f"a column: that is denominator layout; in numerator layout "
                    f"d{problem.names.loss} / d vec({var}) is a 1x{n} row")
        else:
            text = (f"transposed ({n}x{m}): that is denominator layout; numerator layout has one "
                    f"row per output entry and one column per variable ({m}x{n})")
        return Mistake("denominator_layout", text)
    if kind == "transposed":
        return Mistake("transposed", f"transposed: you wrote {n}x{m}, the shape is {m}x{n}")
    if kind.startswith("column_major_order"):
        return Mistake("column_major_order", f"{kind.split(':')[1]} listed in column-major order, "
                       f"but row-major vec order was declared (--vec-order C){example}")
    if kind == "numerator_layout":
        return Mistake("numerator_layout", "numerator layout (one row per output entry), but "
                       "denominator layout was declared (--layout denominator)")
    raise AssertionError(kind)


def _merge_order_mistakes(mistakes):
    """One ``row_major_order`` mistake for rows and columns together."""
    order = [m for m in mistakes if m.kind.startswith("row_major_order")]
    rest = [m for m in mistakes if not m.kind.startswith("row_major_order")]
    if not order:
        return mistakes
    message = "; ".join(m.message for m in order)
    return [Mistake("row_major_order", message)] + rest


def _variant_mistake(kind, W, E0, arrangement, arranged):
    """Windows shifted by one, with an entry that shows it."""
    base = E0.values.ravel()[arrangement.src]
    differs = np.argwhere((base != arranged) & (arranged == W))
    example = ""
    if len(differs):
        i, j = (int(v) for v in differs[0])
        example = (f"; e.g. {E0.label(arrangement.src[i, j])}: you wrote {to_text(W[i, j])}, "
                   f"correct is {to_text(base[i, j])}")
    shift = tuple(int(v) for v in kind.split(":")[1].split(","))
    return Mistake("window_shift", f"every window shifted by {_SHIFTS[shift]}{example}")
