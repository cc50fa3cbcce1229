"""Mistakes in the problem itself rather than in its entries: a forgotten or wrong stride, a
wrong padding amount, and the gradient with respect to another variable (the input gradient
written where the kernel gradient was asked). Each is tried only when the matrix is wrong as
declared (or fits none of the declared shapes), and named only when it explains every entry."""

from __future__ import annotations

import copy

import numpy as np

from jacobian_cnn.errors import InvalidValueError, JacobianCNNError
from jacobian_cnn.handcheck.candidates import _layout_shapes, _quantities_for
from jacobian_cnn.handcheck.cropped import corner_input, corner_written, cropped_stride
from jacobian_cnn.handcheck.diagnosis import _report
from jacobian_cnn.handcheck.numeric import Numbers
from jacobian_cnn.handcheck.problems import _problem_factory
from jacobian_cnn.handcheck.report import Mistake
from jacobian_cnn.handcheck.search import search
from jacobian_cnn.ops.conv import Conv2D
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D

_ROLE = {"input": "input", "kernel": "kernel", "weight": "weight", "bias": "bias"}


def _changed(layer, **attributes):
    out = copy.copy(layer)
    for name, value in attributes.items():
        setattr(out, name, value)
    return out


def problem_mistakes(layer, wrt):
    """``(kind, message, layer, wrt)`` of every problem-level mistake worth trying."""
    out = []
    if isinstance(layer, (Conv2D, AvgPool2D, MaxPool2D)):
        stride, padding = tuple(layer.stride), tuple(tuple(p) for p in layer.padding)
        if stride != (1, 1):
            out.append(("wrong_stride", f"the windows move by 1 (stride 1), but the stride is "
                        f"{_pair_text(stride)}: consecutive windows start {_pair_text(stride)} "
                        "rows / columns apart (forgotten stride)", _changed(layer, stride=(1, 1))))
        flat = [v for side in padding for v in side]
        if any(flat):
            out.append(("wrong_padding", f"no padding, but the padding is {_pad_text(padding)}: "
                        "the input has a border of zeros", _changed(layer, padding=((0, 0), (0, 0)))))
        more = tuple((lo + 1, hi + 1) for lo, hi in padding)
        out.append(("wrong_padding", f"padding {_pad_text(more)}, but the padding is "
                    f"{_pad_text(padding)}", _changed(layer, padding=more)))
        if all(v > 0 for v in flat) and any(flat):
            less = tuple((lo - 1, hi - 1) for lo, hi in padding)
            if any(v for side in less for v in side):
                out.append(("wrong_padding", f"padding {_pad_text(less)}, but the padding is "
                            f"{_pad_text(padding)}", _changed(layer, padding=less)))
    out = [(kind, message, lay, wrt) for kind, message, lay in out]
    for other in ["input", *getattr(layer, "params", {})]:
        if other != wrt:
            out.append(("wrt_confused", f"this is the gradient with respect to the {other}, but "
                        f"the one with respect to the {_wrt_text(wrt)} was asked (--wrt {other} "
                        "checks it as it is)", layer, other))
    return out


def _wrt_text(wrt):
    return f"{wrt[1]} of layer {wrt[0] + 1}" if isinstance(wrt, tuple) else wrt


def _pair_text(pair):
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def _pad_text(padding):
    flat = {v for side in padding for v in side}
    return str(flat.pop()) if len(flat) == 1 else str(padding)


def _plausible_shapes(layer, x, wrt):
    """Every shape a quantity of ``layer`` at ``x`` wrt ``wrt`` may be written in (from a numeric
    forward pass of zeros: no symbols)."""
    shape = tuple(x) if isinstance(x, tuple) else np.shape(x)
    try:
        out = np.shape(layer.forward(np.zeros(shape)))
    except JacobianCNNError:  # the changed geometry is impossible for this input
        return set()
    var = shape if wrt == "input" else np.shape(np.squeeze(layer.params[wrt]))
    n_out, n_var = int(np.prod(out)), int(np.prod(var))
    shapes = {(n_out, n_var), (1, n_var), (n_out, 1)}
    for s in (out, var):
        m, n = (tuple(s) + (1, 1))[:2] if len(s) <= 2 else (0, 0)
        shapes |= {(m, n), (n, m), (m * n, 1)}
    return shapes | {(b, a) for a, b in shapes}


def _cropped_mistake(layer, x, wrt):
    """The forgotten stride that kept the declared output shape, as a problem on the input's
    top-left corner (:mod:`~jacobian_cnn.handcheck.cropped`), or ``[]``."""
    if not isinstance(layer, (Conv2D, AvgPool2D, MaxPool2D)):
        return []
    shape = tuple(x) if isinstance(x, tuple) else np.shape(x)
    found = cropped_stride(layer, shape)
    if found is None:
        return []
    stride = _pair_text(tuple(layer.stride))
    message = (f"the windows move by 1 (stride 1), but the stride is {stride}: you kept the first "
               "windows of a stride-1 pass, as many as the output has, where consecutive windows "
               f"start {stride} rows / columns apart (forgotten stride)")
    return [("wrong_stride", message, found[0], wrt, found[1])]


def explain_by_problem(W, layer, x, options, declared, wrt, quantity, numbers, max_ops):
    """A report naming the one problem-level mistake that makes every entry right, or None."""
    tries = [(*m, None) for m in problem_mistakes(layer, wrt)] + _cropped_mistake(layer, x, wrt)
    for kind, message, lay, other, corner in tries:
        given = (W, x, numbers) if corner is None else _in_corner(W, layer, x, numbers, corner, other)
        if given is None:
            continue  # an entry outside the corner is not 0
        report = _explained(given, lay, options, declared, other, quantity, max_ops)
        if report is not None:
            report.mistakes = [Mistake(kind, message)] + report.mistakes
            return report
    return None


def _in_corner(W, layer, x, numbers, corner, wrt):
    """``(W, x, numbers)`` restricted to the input's top-left ``corner``, or ``None``."""
    shape = tuple(x) if isinstance(x, tuple) else np.shape(x)
    W = corner_written(W, shape, corner, int(np.size(layer.forward(np.zeros(shape)))), wrt)
    if W is None:
        return None
    x = corner_input(x, corner)
    values = None if numbers.x_values is None else corner_input(numbers.x_values, corner)
    return W, x, Numbers(values, numbers.grad_values, numbers.tolerance)


def _explained(given, lay, options, declared, other, quantity, max_ops):
    """The report of ``given = (W, x, numbers)`` read against ``lay``, when it explains every
    entry with no other mistake; else ``None``."""
    W, x, numbers = given
    if W.shape not in _plausible_shapes(lay, x, other):
        return None  # decided from shapes alone, before any symbol is made
    make = _problem_factory(None, lay, x, options)
    try:
        problem = make(declared)
        problem.check_wrt(other)
    except InvalidValueError:  # the changed geometry is impossible for this input
        return None
    qs = [quantity] if quantity != "auto" else _quantities_for(W, problem, other, numbers)
    if not any(W.shape == shape for q in qs for shape, _ in _layout_shapes(q, problem, other)):
        return None
    reading = search(W, make, declared, other, quantity, numbers, can_rebuild=True)
    compare = numbers.comparer(reading.written)
    if compare.numeric and any(c.free_symbols for c in reading.arranged.ravel()):
        return None  # numbers against names without values (another output size): no verdict
    report = _report(reading, declared, other, "", max_ops, compare)
    if report.diffs or reading.deviations or reading.variant[0] or report.detected:
        return None
    return report
