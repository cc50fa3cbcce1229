"""Searching the readings of a written matrix: under which conventions, as which quantity, in
which layout and with which mistaken variant it matches the most entries.

A reading is a full :class:`~jacobian_cnn.handcheck.conventions.Conventions` (the declared ones
first, then each known alternative that applies to the problem), a quantity, a layout
(:func:`~jacobian_cnn.handcheck.candidates._arrangements`) and a mistaken variant (windows
shifted). Its cost counts the conventions changed from the declared ones, the layout toggles the
conventions do not explain and the mistakes; the reading matching the most entries wins, then the
cheapest, then the first tried.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.handcheck.candidates import _arrangements, _Expected, _family, _quantities_for, _variants
from jacobian_cnn.handcheck.conventions import CHOICES
from jacobian_cnn.handcheck.numeric import Numbers
from jacobian_cnn.handcheck.problems import wrt_name
from jacobian_cnn.handcheck.rewrite import has_zero_index, renamed
from jacobian_cnn.ops.dense import Dense
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D
from jacobian_cnn.ops.reshape import Flatten

PROBLEM_FIELDS = ("convolution", "tie", "flatten_order", "count_include_pad")
"""Conventions that change the problem (its expected matrices); the others change the reading."""


@dataclass
class Reading:
    """The winning reading: what :func:`~jacobian_cnn.handcheck.diagnosis._report` explains."""

    conventions: object      # Conventions, every field resolved
    quantity: str
    variant: tuple           # (mistake kinds, make_problem)
    arrangement: object      # _Arrangement
    deviations: tuple        # layout toggles the conventions do not explain
    written: np.ndarray      # the written matrix renamed under the conventions
    problem: object          # the SymbolicProblem under the conventions
    expected: object         # _Expected of the variant
    base: object             # _Expected of the unmistaken problem
    arranged: np.ndarray     # expected entries laid out as written


def _alternatives(declared, problem, W, can_rebuild):
    """Values worth trying per field: the declared one first."""
    layers = problem.layers
    options = {name: [getattr(declared, name)] for name in CHOICES}

    def add(name, condition):
        if condition:
            options[name] += [v for v in CHOICES[name] if v != getattr(declared, name)]

    add("index_base", declared.index_base == 0 or has_zero_index(W))
    add("vec_order", True)
    add("layout", True)
    add("weight_orientation", any(isinstance(lay, Dense) for lay in layers))
    add("convolution", problem.has_kernel)
    add("tie", can_rebuild and any(isinstance(lay, MaxPool2D) for lay in layers)
        and problem.options.get("switches") is None and problem.options.get("winners") is None)
    add("flatten_order", can_rebuild and any(isinstance(lay, Flatten) for lay in layers))
    add("count_include_pad", can_rebuild and any(
        isinstance(lay, AvgPool2D) and np.any(np.asarray(lay.padding)) for lay in layers))
    return options


def _expected_toggles(conv, quantity, wrt):
    """The layout toggles (kinds of :func:`_arrangements`) that ``conv`` makes correct."""
    family = _family(quantity)
    weight_out_in = conv.weight_orientation == "out_in" and wrt_name(wrt) == "weight"
    out = set()
    if family == "jacobian":
        if conv.vec_order == "C":
            out |= {"row_major_order:rows", "row_major_order:cols"}
        if weight_out_in:
            out ^= {"row_major_order:cols"}
        if conv.layout == "denominator":
            out.add("denominator_layout")
    elif family == "row":
        if (conv.vec_order == "C") != weight_out_in:
            out.add("row_major_order:entries")
        if conv.layout == "denominator":
            out.add("denominator_layout")
    elif family == "shaped":
        if weight_out_in:
            out.add("transposed")
    elif conv.vec_order == "C":
        out.add("row_major_order:entries")
    return out


def _deviations(arrangement, relevant, conv, quantity, wrt):
    expected = _expected_toggles(conv, quantity, wrt) & relevant
    have = set(arrangement.kinds)
    out = sorted(have - expected) + sorted(_inverse(k) for k in expected - have)
    return tuple(out)


def _inverse(kind):
    return {"denominator_layout": "numerator_layout"}.get(
        kind, kind.replace("row_major_order", "column_major_order"))


def search(W, problem_for, declared, wrt, quantity, numbers: Numbers, can_rebuild):
    """The best :class:`Reading` of ``W`` (raises ``InvalidValueError`` when no shape fits)."""
    base_problem = problem_for(declared)
    options = _alternatives(declared, base_problem, W, can_rebuild)
    problems, written_cache, expected_cache = {}, {}, {}
    best, order, fitting = None, 0, []
    value_fields = [f for f in CHOICES if f not in ("vec_order", "layout")]
    for values in itertools.product(*(options[f] for f in value_fields)):
        setting = replace(declared, **dict(zip(value_fields, values, strict=True)))
        key = tuple(getattr(setting, f) for f in PROBLEM_FIELDS)
        if key not in problems:
            problems[key] = problem_for(setting)
        problem = problems[key]
        wkey = (setting.index_base, setting.weight_orientation)
        if wkey not in written_cache:
            swap = problem.names.weight if setting.weight_orientation == "out_in" else None
            written_cache[wkey] = renamed(W, index_base=setting.index_base, swap_letter=swap)
        Ws = written_cache[wkey]
        compare = numbers.comparer(Ws)
        variants = _variants(problem)
        for q in ([quantity] if quantity != "auto" else _quantities_for(Ws, problem, wrt, numbers)):
            for v in variants if not q.endswith("labels") else variants[:1]:
                ekey = (key, q, v[0])
                if ekey not in expected_cache:
                    expected_cache[ekey] = _expected(v, q, wrt, numbers, problem, compare)
                E = expected_cache[ekey]
                base = expected_cache.get((key, q, ()))
                if E is None or base is None or E.values.shape != base.values.shape:
                    continue
                arrangements = _arrangements(q, E.values.shape, E.var_shape, E.out_shape)
                if not v[0]:
                    fitting += [(q, a.src.shape) for a in arrangements if not a.kinds]
                relevant = set().union(*(a.kinds for a in arrangements))
                flat = E.values.ravel()
                for a in arrangements:
                    if a.src.shape != Ws.shape:
                        continue
                    arranged = flat[a.src]
                    score = compare.count(arranged, Ws)
                    changes = setting.changed(declared)
                    for vo, lay in itertools.product(options["vec_order"], options["layout"]):
                        conv = replace(setting, vec_order=vo, layout=lay)
                        dev = _deviations(a, a.relevant or relevant, conv, q, wrt)
                        cost = len(changes) + (vo != declared.vec_order) + \
                            (lay != declared.layout) + len(dev) + len(v[0])
                        rank = (score, -cost, -len(dev), -order)
                        order += 1
                        if best is None or rank > best[0]:
                            best = (rank, Reading(conv, q, v, a, dev, Ws, problem, E, base, arranged))
    if best is None:
        shapes = ", ".join(f"{q}: {'x'.join(map(str, s))}" for q, s in dict.fromkeys(fitting))
        raise InvalidValueError(f"a {'x'.join(map(str, W.shape))} matrix fits none of the quantities "
                                f"of {base_problem!r}; expected shapes are {shapes}")
    return best[1]


def _expected(variant, quantity, wrt, numbers, problem, compare):
    try:
        E = _Expected(variant[1](), quantity, wrt)
    except InvalidValueError:  # refused on purpose: a variant not modelled (shifted windows
        return None            # need zero padding); a size limit or any other error propagates
    if compare.numeric:
        numbers.substitute(E, problem)
    return E
