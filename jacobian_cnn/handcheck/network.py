"""A whole network for the hand checker, described as data (a small JSON file), never as code.

``jacobian-cnn check FILE --network NET.json --wrt kernel --layer 1`` checks a hand-derived
gradient through every layer of the network (a seed-style CNN's ``dJ/dK1``); in Python the
same description is read with :func:`network_from_dict` (or :func:`read_network`) and checked
with ``check_derivation(written, chain, x, wrt=(0, "kernel"))``.

The format: an object with ``"layers"``, a list of objects, each with ``"op"`` (an operation
name of ``jacobian-cnn show --op``: conv, avgpool, maxpool, flatten, dense, relu, sigmoid, tanh,
softmax) and its settings:

- conv: ``"kernel"`` (its numbers, KH x KW for one channel or nested KH x KW x C_in x C_out) or
  ``"kernel_shape"`` ([KH, KW] or [KH, KW, C_in, C_out]: named entries ``k_{rs}``); optional
  ``"bias"`` (numbers, or ``true`` for named ``b_j``), ``"stride"``, ``"padding"``,
  ``"dilation"``;
- avgpool, maxpool: ``"window"``, optional ``"stride"``, ``"padding"``, ``"dilation"``,
  ``"count_include_pad"`` (avgpool), ``"tie"`` (maxpool);
- dense: ``"weight"`` (numbers, n_in x n_out) or ``"outputs"`` (named ``w_{ij}``), optional
  ``"bias"``;
- flatten: optional ``"order"`` (``"F"``, ``"C"`` or ``"torch"``).

Either every conv and dense layer gives its numbers (they are substituted, as
``params="values"``) or none does (their entries are names). An optional ``"input"`` gives the
input shape (checked against ``--input``). Nothing in the file is evaluated: numbers are read
as JSON numbers, and unknown keys are refused.

Examples
--------
>>> from jacobian_cnn.handcheck.network import network_from_dict
>>> net, params = network_from_dict({"layers": [
...     {"op": "conv", "kernel_shape": [2, 2]}, {"op": "sigmoid"},
...     {"op": "avgpool", "window": 2}, {"op": "flatten"}, {"op": "dense", "outputs": 1}]},
...     input_shape=(3, 3))
>>> net.layers[0], net.layers[-1]
(Conv2D(2x2, 1->1, no bias), Dense(1->1, bias=False))
>>> params
'symbols'
"""

from __future__ import annotations

import json
import os

import numpy as np

from jacobian_cnn.chain import Chain
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError, JacobianCNNError, SizeLimitError
from jacobian_cnn.ops.by_name import make_layer, op_name

__all__ = ["network_from_dict", "read_network", "MAX_NETWORK_BYTES", "MAX_NETWORK_LAYERS"]

MAX_NETWORK_BYTES = 1_000_000
"""Largest network file read (bytes)."""

MAX_NETWORK_LAYERS = 64
"""Most layers a network description may have."""

_WINDOW_KEYS = {"stride", "padding", "dilation"}
_KEYS = {"conv": {"kernel", "kernel_shape", "bias"} | _WINDOW_KEYS,
         "avgpool": {"window", "count_include_pad"} | _WINDOW_KEYS,
         "maxpool": {"window", "tie"} | _WINDOW_KEYS,
         "dense": {"weight", "outputs", "bias"}, "flatten": {"order"},
         "relu": set(), "sigmoid": set(), "tanh": set(), "softmax": set()}


def read_network(path, input_shape):
    """``(chain, params)`` from the JSON file ``path`` (see :func:`network_from_dict`)."""
    if os.path.getsize(path) > MAX_NETWORK_BYTES:
        raise SizeLimitError(f"{path} is over {MAX_NETWORK_BYTES:,} bytes, the limit of a "
                             "network description")
    with open(path, encoding="utf-8") as f:
        try:
            spec = json.load(f)
        except json.JSONDecodeError as exc:
            raise InvalidValueError(f"{path} is not valid JSON: {exc}") from None
    return network_from_dict(spec, input_shape, where=path)


def network_from_dict(spec, input_shape, where="the network"):
    """``(chain, params)``: the :class:`~jacobian_cnn.Chain` a description builds, and
    ``"values"`` when its layers give their numbers or ``"symbols"`` when they do not.

    ``input_shape`` sizes the layers' named parameters (a conv's input channels); a shape in
    the description must equal it.
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("layers"), list) or not spec["layers"]:
        raise InvalidValueError(f"{where} must be an object with a non-empty list \"layers\"")
    unknown = set(spec) - {"layers", "input"}
    if unknown:
        raise InvalidValueError(f"{where}: unknown keys {sorted(unknown)} (allowed: layers, input)")
    if "input" in spec and _flat(spec["input"]) != tuple(input_shape):
        raise InvalidValueError(f"{where} is for an input of shape {spec['input']}, but the input "
                                f"is {'x'.join(map(str, input_shape))}")
    if len(spec["layers"]) > MAX_NETWORK_LAYERS:
        raise SizeLimitError(f"{where} has {len(spec['layers'])} layers, over the limit of "
                             f"{MAX_NETWORK_LAYERS}")
    layers, given, shape = [], set(), tuple(input_shape)
    for i, item in enumerate(spec["layers"]):
        what = f"{where}, layer {i + 1}"
        layer, numeric = _layer(item, shape, what)
        if numeric is not None:
            given.add(numeric)
        try:
            shape = np.shape(layer.forward(np.zeros(shape)))
        except JacobianCNNError as exc:
            raise InvalidValueError(f"{what} ({layer!r}) does not fit its input of shape "
                                    f"{shape}: {exc}") from None
        layers.append(layer)
    if len(given) > 1:
        raise InvalidValueError(f"{where}: give the numbers of every conv and dense layer, or of "
                                "none (their entries are then names)")
    return Chain(layers), "values" if given == {True} else "symbols"


def _layer(item, in_shape, what):
    """``(layer, numeric)``: ``numeric`` says whether its parameters were given as numbers
    (``None`` for a layer without parameters)."""
    if not isinstance(item, dict) or "op" not in item:
        raise InvalidValueError(f"{what} must be an object with an \"op\"")
    op = op_name(item["op"]) if item["op"] in _KEYS or item["op"] in ("avg", "max") else None
    if op not in _KEYS:
        raise InvalidValueError(f"{what}: op must be one of {', '.join(_KEYS)}, got {item['op']!r}")
    unknown = set(item) - _KEYS[op] - {"op"}
    if unknown:
        raise InvalidValueError(f"{what} ({op}): unknown keys {sorted(unknown)}; allowed: "
                                f"{sorted(_KEYS[op])}")
    options = {k: _int_or_pair(v, k, what) for k, v in item.items() if k in _WINDOW_KEYS | {"window"}}
    options.update({k: item[k] for k in ("count_include_pad", "tie", "order") if k in item})
    params, numeric = {}, None
    if op == "conv":
        c_in = in_shape[2] if len(in_shape) >= 3 else 1
        params["kernel"], numeric = _array(item, "kernel", "kernel_shape", what,
                                           lambda s: s if len(s) == 4 else (*s, c_in, 1))
        n_out = params["kernel"].shape[3] if params["kernel"].ndim == 4 else 1
    elif op == "dense":
        params["weight"], numeric = _array(item, "weight", "outputs", what,
                                           lambda n: (int(np.prod(in_shape)), n[0]))
        n_out = params["weight"].shape[1]
    if "bias" in item:
        params["bias"] = np.zeros(n_out) if item["bias"] is True else _numbers(item["bias"], "bias", what)
    try:
        return make_layer(op, params, options), numeric
    except (InvalidValueError, InvalidTypeError) as exc:
        raise InvalidValueError(f"{what} ({op}): {exc}") from None


def _array(item, key, shape_key, what, full_shape):
    """The parameter ``key`` as numbers, or ones of the shape ``shape_key`` gives (names)."""
    if (key in item) == (shape_key in item):
        raise InvalidValueError(f"{what}: give exactly one of \"{key}\" (numbers) and "
                                f"\"{shape_key}\" (named entries)")
    if key in item:
        return _numbers(item[key], key, what), True
    sizes = _flat(item[shape_key])
    if not sizes or not all(_is_int(v) and v > 0 for v in sizes):
        raise InvalidValueError(f"{what}: \"{shape_key}\" must be positive integers, got "
                                f"{item[shape_key]!r}")
    return np.ones(full_shape(sizes)), False


def _numbers(value, key, what):
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise InvalidValueError(f"{what}: \"{key}\" must be (nested lists of) numbers") from None
    if not np.all(np.isfinite(array)):
        raise InvalidValueError(f"{what}: \"{key}\" must be finite numbers")
    return array


def _int_or_pair(value, key, what):
    sizes = _flat(value)
    if len(sizes) not in (1, 2) or not all(_is_int(v) for v in sizes):
        raise InvalidValueError(f"{what}: \"{key}\" must be an integer or a pair, got {value!r}")
    return sizes[0] if len(sizes) == 1 else sizes


def _flat(value):
    """A JSON integer or list of integers as a tuple (anything else stays as it is, to be refused)."""
    return tuple(value) if isinstance(value, list) else (value,)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)
