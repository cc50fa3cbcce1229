"""The problem a derivation is checked against, under each convention tried: the declared
conventions resolved against the layer (its tie rule, flatten order, convolution kind), the
problem rebuilt with a convention changed, and the roles whose names are detected."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from jacobian_cnn.chain import Chain
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.handcheck.rewrite import unwrap_bold
from jacobian_cnn.ops.conv import Conv2D
from jacobian_cnn.ops.dense import Dense
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D
from jacobian_cnn.ops.reshape import Flatten
from jacobian_cnn.symbolic.jacobians import Names, SymbolicProblem


def _layers(layer):
    return list(layer.layers) if isinstance(layer, Chain) else [layer]


def resolve(declared, layer, flip_kernel):
    """``declared`` with the fields left to the problem (``None``) filled from it."""
    layers = _layers(layer)
    if flip_kernel is not None and declared.convolution is not None \
            and bool(flip_kernel) != (declared.convolution == "true"):
        raise InvalidValueError(f"flip_kernel={flip_kernel} contradicts convolution="
                                f"{declared.convolution!r}; give one of them")
    changes = {}
    if declared.convolution is None:
        changes["convolution"] = "true" if flip_kernel else "cross"
    if declared.tie is None:
        ties = [lay.tie for lay in layers if isinstance(lay, MaxPool2D)]
        changes["tie"] = ties[0] if ties else "column_major"
    if declared.count_include_pad is None:
        pads = [lay.count_include_pad for lay in layers if isinstance(lay, AvgPool2D)]
        changes["count_include_pad"] = pads[0] if pads else None
    if declared.flatten_order is None:
        orders = [lay.order for lay in layers if isinstance(lay, Flatten)]
        changes["flatten_order"] = orders[0] if orders else None
    return dataclasses.replace(declared, **changes)


def relevant_fields(problem):
    """The conventions a report on ``problem`` states."""
    fields = ["index_base", "vec_order", "layout"]
    kinds = [(Dense, "weight_orientation"), (Conv2D, "convolution"), (MaxPool2D, "tie"),
             (Flatten, "flatten_order")]
    fields += [name for cls, name in kinds if any(isinstance(lay, cls) for lay in problem.layers)]
    if any(isinstance(lay, AvgPool2D) and np.any(np.asarray(lay.padding)) for lay in problem.layers):
        fields.append("count_include_pad")  # the divisor differs only where windows meet padding
    return tuple(fields)


def _with_conventions(layer, conventions):
    """``layer`` (or a chain) with its max-pool tie rule and flatten order as ``conventions``."""
    out = []
    for lay in _layers(layer):
        if isinstance(lay, MaxPool2D) and lay.tie != conventions.tie:
            lay = copy.copy(lay)
            lay.tie = conventions.tie
        elif isinstance(lay, Flatten) and conventions.flatten_order not in (None, lay.order):
            lay = Flatten(conventions.flatten_order)
        elif isinstance(lay, AvgPool2D) and conventions.count_include_pad not in (
                None, lay.count_include_pad):
            lay = copy.copy(lay)
            lay.count_include_pad = conventions.count_include_pad
        out.append(lay)
    if isinstance(layer, Chain):
        return Chain(out) if any(a is not b for a, b in zip(out, layer.layers, strict=True)) else layer
    return out[0]


def _problem_factory(problem, layer, x, options):
    """``make(conventions) -> SymbolicProblem``: a given problem only changes its convolution."""
    def make(conventions):
        flip = conventions.convolution == "true"
        if problem is not None:
            return problem if problem.flip_kernel == flip else problem.variant(flip_kernel=flip)
        return SymbolicProblem(_with_conventions(layer, conventions), x,
                               **dict(options, flip_kernel=flip))
    return make


def wrt_name(wrt):
    """The parameter name of ``wrt`` (``"input"``, ``"kernel"``, ... or ``(layer_index, name)``)."""
    return wrt[1] if isinstance(wrt, tuple) else wrt


def _roles(problem, wrt):
    """Roles whose letters may be detected from the written matrix."""
    roles = ["input", "loss"]
    if problem.has_kernel:
        roles.append("kernel")
    if any(isinstance(lay, Dense) for lay in problem.layers):
        roles.append("weight")
    return roles


def _declared_names(options):
    """Roles a person named (``names=`` fields that differ from the defaults)."""
    names = options.get("names")
    if not isinstance(names, Names):
        return ()
    default = Names()
    return tuple(f for f in ("input", "kernel", "weight", "loss")
                 if getattr(names, f) != getattr(default, f))


def unwrap_written(written):
    """Bold-face names unwrapped in LaTeX text and in string entries."""
    if isinstance(written, str):
        return unwrap_bold(written)
    if isinstance(written, (list, tuple)):
        return [unwrap_written(v) for v in written]
    if isinstance(written, np.ndarray) and written.dtype == object:
        return np.vectorize(lambda v: unwrap_bold(v) if isinstance(v, str) else v,
                            otypes=[object])(written)
    return written
