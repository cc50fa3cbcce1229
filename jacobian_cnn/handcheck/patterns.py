"""Mistakes seen across the differing entries, each summarised in one line: rows in the wrong
order, one uniform factor, overlapping windows not summed, stray factors on some terms, and
whatever differs otherwise."""

from __future__ import annotations

from jacobian_cnn.handcheck.report import Mistake
from jacobian_cnn.symbolic.latex import require_sympy, to_text

SUMMARISED = {"rows_permuted", "uniform_factor"}
"""Kinds that explain every differing entry: the report lists one of them as an example."""


def entry_patterns(diffs, quantity, W, arranged, E, src, letters=("J", "p", "a"), wrt="input"):
    """The mistakes that explain the differing entries, most specific first (``letters``: the
    loss, output and variable names the messages use)."""
    if not diffs:
        return []
    permuted = _rows_permuted(diffs, W, arranged, E, src, quantity)
    if permuted:
        return [permuted]
    factor = _uniform_factor(diffs, arranged)
    if factor:
        return [factor]
    return _term_patterns(diffs, quantity, letters, wrt)


def _rows_permuted(diffs, W, arranged, E, src, quantity):
    """Every differing row of a Jacobian equals another row of the correct one."""
    if not quantity.startswith("jacobian") or W.shape[0] < 2:
        return None
    rows = sorted({d.position[0] - 1 for d in diffs})
    found = {}
    for i in rows:
        match = [k for k in rows if k != i and all(W[i, j] == arranged[k, j] for j in range(W.shape[1]))]
        if not match:
            return None
        found[i] = match[0]
    if sorted(found.values()) != rows:
        return None
    shown = ", ".join(f"your row {i + 1} is the row of {_row_name(E, src, k)}"
                      for i, k in list(found.items())[:4])
    more = f" (and {len(found) - 4} more)" if len(found) > 4 else ""
    return Mistake("rows_permuted", f"{len(found)} rows in the wrong order, each right in itself: "
                                    f"{shown}{more}")


def _row_name(E, src, k):
    return E.label(src[k, 0]).split("/")[0].lstrip("∂")


def _uniform_factor(diffs, arranged):
    """Every differing entry is the same constant times the correct one."""
    sympy = require_sympy()
    if len(diffs) < 2:
        return None
    ratios = set()
    for d in diffs:
        if d.correct == 0 or d.written == 0:
            return None
        ratio = _simple_ratio(sympy.cancel(d.written / d.correct))
        if ratio is None:
            return None
        ratios.add(ratio)
        if len(ratios) > 1:
            return None
    ratio = ratios.pop()
    nonzero = int(sum(1 for c in arranged.ravel() if c != 0))
    every = "every nonzero entry is" if len(diffs) == nonzero else f"{len(diffs)} entries are"
    example = diffs[0]
    return Mistake("uniform_factor",
                   f"{every} {to_text(ratio)} times the correct one (one factor throughout); e.g. "
                   f"{example.label}: you wrote {to_text(example.written)}, correct is "
                   f"{to_text(example.correct)}")


def _simple_ratio(ratio, rtol=1e-4, largest_denominator=100):
    """``ratio`` as an exact rational: itself, or, for decimals written by hand (a float
    ratio), the nearest fraction with a small denominator within ``rtol``; else ``None``."""
    sympy = require_sympy()
    if ratio.is_Rational:
        return ratio
    if not ratio.is_number or not ratio.is_real:
        return None
    value = float(ratio)
    snapped = sympy.Rational(value).limit_denominator(largest_denominator)
    return snapped if snapped != 0 and abs(float(snapped) - value) <= rtol * abs(value) else None


def _term_patterns(diffs, quantity, letters, wrt):
    """Overlapping windows not summed, stray factors on some terms, other entries."""
    sympy = require_sympy()
    loss, out, var = letters
    mistakes = []
    not_summed = [d for d in diffs if "missing_terms" in d.kinds and quantity.startswith("gradient")
                  and len(sympy.Add.make_args(d.correct)) > 1]
    if not_summed:
        example = not_summed[0]
        n = f"{len(not_summed)} entr{'y' if len(not_summed) == 1 else 'ies'}"
        if wrt == "bias":
            kind, why = "bias_not_summed", (f"terms missing in {n}: a bias is added to every output "
                                            f"entry of its channel, so ∂{loss}/∂{var}_j sums "
                                            f"∂{loss}/∂{out} over all of them")
        else:
            kind, why = "overlap_not_summed", (
                f"overlapping windows not summed in {n}: an entry that lies in several windows "
                f"collects a term from every one of them (chain rule: ∂{loss}/∂{var}_ij = Σ_mn "
                f"∂{loss}/∂{out}_mn ∂{out}_mn/∂{var}_ij)")
        mistakes.append(Mistake(kind, f"{why}; e.g. {example.label} = {to_text(example.correct)}, "
                                      f"you wrote {to_text(example.written)}"))
    stray = {}
    for d in diffs:
        for k in d.kinds:
            if isinstance(k, tuple) and k[0] == "stray_factor":
                stray.setdefault(k[1], []).append((d, k[2]))
    for ratio, items in stray.items():
        where = ", ".join(f"{to_text(term)} in {d.label}" for d, term in items)
        mistakes.append(Mistake(
            "stray_factor",
            f"stray factor {to_text(ratio)} on {len(items)} term{'s' if len(items) > 1 else ''}: "
            f"{where}"))
    explained = {id(d) for d in not_summed} | {id(d) for items in stray.values() for d, _ in items}
    others = [d for d in diffs if id(d) not in explained]
    if others:
        mistakes.append(Mistake("wrong_entries",
                                f"{len(others)} other entr{'y differs' if len(others) == 1 else 'ies differ'}"
                                " (listed below)"))
    return mistakes
