"""``jacobian-cnn verify``: every Jacobian against PyTorch, JAX and finite differences.

Sweeps a built-in set of configurations (every operation, and every hyperparameter
where libraries differ) plus any the user names with ``-c OP KEY=VALUE ...``, and
prints one table row per Jacobian (input and every parameter). Exits 1 on any
mismatch. A backend that is not installed is reported, not failed.
"""

from __future__ import annotations

import ast
import copy
import inspect
import re

import numpy as np
import scipy.sparse as sp

from jacobian_cnn import chain, examples
from jacobian_cnn.cases import ALL_CASES, draw_input, draw_model_params
from jacobian_cnn.checking import compare_jacobians, numerical_jacobian
from jacobian_cnn.cli import _options
from jacobian_cnn.cli._options import nonnegative_float, positive_int
from jacobian_cnn.compare import jacobians
from jacobian_cnn.compare.backends import INSTALL
from jacobian_cnn.errors import InvalidValueError, JacobianCNNError
from jacobian_cnn.ops import losses
from jacobian_cnn.ops.by_name import LAYER_CLASSES, MODEL_OP_NAMES, PARAMETERS, SHORT_NAMES, make_layer

OPERATIONS = ("conv", "avgpool", "maxpool", "flatten", "dense", "relu", "sigmoid", "tanh",
              "softmax", "chain", *MODEL_OP_NAMES)
"""What ``-c`` takes (``avg`` and ``max`` are short for ``avgpool`` and ``maxpool``)."""


def _case_options(case):
    """A table case as ``-c`` would write it: input shape and kind, then the options."""
    kind = {} if case.x_kind == "normal" else {"input": case.x_kind}
    return {"x": case.x_shape, **kind, **case.options}


BUILTIN_CASES = [case for case in ALL_CASES if case.verify]
"""The case table's rows marked ``verify`` (:mod:`jacobian_cnn.cases`): their own inputs and parameters."""

_BUILTIN_PLAN = [(case.op, _case_options(case), case) for case in BUILTIN_CASES] + [
    ("chain", {"x": (8, 8, 1, 2), "pool": "max"}, None)]  # None: drawn from --seed

BUILTIN = [(op, options) for op, options, _ in _BUILTIN_PLAN]
"""Built-in configurations: (operation, options); ``x`` is the input shape."""

INPUT_KINDS = ("normal", "ties", "zeros", "negative")


def add_parser(sub):
    p = sub.add_parser(
        "verify", help="check every Jacobian against PyTorch, JAX and finite differences",
        description="Builds each configuration (a built-in set covering every operation and "
                    "the hyperparameters where libraries differ, plus any given with -c), "
                    "computes its Jacobians wrt the input and every parameter, and compares "
                    "them with torch.func.jacrev, jax.jacrev (mapped into vec order) and "
                    "central finite differences. Exits 1 on a mismatch.",
        epilog="example: jacobian-cnn verify -c conv x=6x6x4 kernel=3x3x2x4 groups=2 "
               "padding=same padding_mode=reflect -c maxpool x=5x5x2 window=2 ceil_mode=true "
               "tie=row_major input=ties --no-builtin")
    p.add_argument("-c", "--config", nargs="+", action="append", default=[], metavar="ARG",
                   help=f"OP KEY=VALUE ...; OP one of {', '.join(OPERATIONS)}; keys: x (input "
                        "shape, e.g. 6x6x4), the layer's keyword options (kernel shape for conv, "
                        "n_out for dense), input (normal|ties|zeros|negative), seed")
    p.add_argument("--no-builtin", action="store_true", help="only the configurations given with -c")
    p.add_argument("--backends", default=None,
                   help="comma-separated subset of torch,jax (default: both; one that is not "
                        "installed is reported as missing, not failed)")
    p.add_argument("--no-fd", action="store_true", help="skip the finite-difference column")
    _options.add_seed(p, "the inputs and parameters of -c configurations and the chain")
    p.add_argument("--fd-tolerance", type=nonnegative_float, default=1e-6,
                   help="largest accepted |J - finite differences| (default 1e-6)")
    p.add_argument("--max-entries", type=positive_int, default=_options.MAX_DENSE_ENTRIES,
                   metavar="N", help="largest input, parameter or dense reference Jacobian "
                                     "(rows x columns) of a configuration "
                                     f"(default {_options.MAX_DENSE_ENTRIES:,})")
    _options.add_max_fd_work(p, " of one Jacobian")
    p.add_argument("--torch-model", metavar="FILE.py:NAME",
                   help="instead: import a PyTorch model (NAME: an nn.Module, or a class or function "
                        "returning one) with jc.from_torch and compare it with autograd; the file "
                        "is imported, i.e. RUN: only use files you trust")
    p.add_argument("--input-shape", metavar="NxCxHxW", help="with --torch-model: PyTorch's input "
                   "shape, batch included (Nxn, NxCxL, NxCxHxW or NxCxDxHxW)")
    p.set_defaults(run=run)


def run(args):
    if args.torch_model is not None or args.input_shape is not None:
        from jacobian_cnn.cli.verify_model import verify_model

        if args.torch_model is None or args.input_shape is None:
            raise InvalidValueError("--torch-model and --input-shape go together")
        return verify_model(args.torch_model, args.input_shape, args.seed)
    plan = [] if args.no_builtin else [(op, dict(o), case) for op, o, case in _BUILTIN_PLAN]
    plan += [(*parse_config(words), None) for words in args.config]
    configs = [(op, options) for op, options, _ in plan]
    if not configs:
        raise InvalidValueError("nothing to verify: give -c OP KEY=VALUE ... or drop --no-builtin")
    installed = jacobians.available_backends()
    if args.backends is None:
        backends = jacobians.BACKENDS
    else:
        backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
        unknown = set(backends) - set(jacobians.BACKENDS)
        if unknown:
            raise InvalidValueError(f"--backends must be a subset of {','.join(jacobians.BACKENDS)}, "
                             f"got {args.backends!r}")
    width = max(len("configuration"), *(len(_describe(o)) for _, o in configs)) + 2
    op_width = max(8, *(len(op) + 1 for op, _ in configs))  # the N-D op names are longer
    header = (f"{'op':<{op_width}}{'wrt':<14}{'configuration':<{width}}{'J shape':>12}{'nnz':>7}"
              + "".join(f"{b:>10}" for b in backends) + f"{'fd':>10}  result")
    built = []
    for index, (op, options, case) in enumerate(plan):
        # bad options fail before the table
        built.append((case.layer(), case.x(), case.x_kind) if case is not None else
                     build(op, options, np.random.default_rng(args.seed + index),
                           max_entries=args.max_entries))
        _check_work(op, options, *built[-1], args)
    print(header)
    print("-" * len(header))
    failures = total = 0
    details = []
    for (op, options), (layer, x, kind) in zip(configs, built, strict=True):
        for wrt in _wrts(layer):
            cells, ok, first = [], True, None
            for b in backends:
                if b not in installed:
                    cells.append("missing")
                    continue
                try:
                    result = jacobians.compare(layer, x, wrt, backend=b)
                except NotImplementedError:  # the backend lacks the feature (JAX: dilated max pool)
                    cells.append("n/a")
                    continue
                first = first if first is not None else result
                ok &= result.ok
                if not result.ok:
                    details.append(f"{op} {_describe(options)}\n  {result}")
                cells.append(_error(result.report))
            if args.no_fd or kind in ("ties", "zeros"):
                cells.append("n/a" if not args.no_fd else "-")
            else:
                report = _fd_report(layer, x, wrt, args.fd_tolerance)
                ok &= report.ok
                cells.append(_error(report))
            shape, nnz = (_shape_nnz(layer, x, wrt) if first is None
                          else (first.shape, first.nnz))
            failures += not ok
            total += 1
            name = wrt if isinstance(wrt, str) else f"[{wrt[0]}].{wrt[1]}"
            print(f"{op:<{op_width}}{name:<14}{_describe(options):<{width}}{str(shape):>12}{nnz:>7}"
                  + "".join(f"{c:>10}" for c in cells) + ("  ok" if ok else "  MISMATCH"))
    for text in details:
        print(f"\nmismatch: {text}")
    missing = [b for b in backends if b not in installed]
    for b in missing:
        print(f"\n{b} is not installed: its column was skipped ({INSTALL[b]})")
    print(f"\n{total - failures} of {total} Jacobians agree"
          + (f"; {failures} MISMATCH" if failures else "")
          + " (columns: max |J - reference|; fd = central finite differences, n/a on ties)")
    return 1 if failures else 0


def _check_work(op, options, layer, x, kind, args):
    """Refuse a configuration whose dense Jacobians or finite differences are over the limits."""
    label = f"-c {op} {_describe(options)}"
    try:
        out = _options.output_shape(layer, x.shape)
        forward = _options.forward_entries(layer, x.shape)
    except JacobianCNNError as exc:
        raise type(exc)(f"{label}: {exc}") from None
    if out is None or forward is None:
        return
    for wrt in _wrts(layer):
        n_wrt = x.size if wrt == "input" else (
            getattr(layer.layers[wrt[0]], wrt[1]).size if isinstance(wrt, tuple)
            else getattr(layer, wrt).size)
        name = wrt if isinstance(wrt, str) else f"[{wrt[0]}].{wrt[1]}"
        _options.refuse_over(_options.size(out) * n_wrt, args.max_entries,
                             f"{label}: the dense Jacobian wrt {name}", "--max-entries")
        if not args.no_fd and kind not in ("ties", "zeros"):
            _options.refuse_over(2 * n_wrt * forward, args.max_fd_work,
                                 f"{label}: finite differences wrt {name} ({2 * n_wrt} forward "
                                 f"passes of {forward:,} entries)", "--max-fd-work (or --no-fd)",
                                 unit="entry visits")


def _error(report):
    return f"{report.max_abs_error:.1e}" + ("" if report.ok else "!")


def _wrts(layer):
    if isinstance(layer, chain.Chain):
        return ["input"] + [(i, n) for i, sub in enumerate(layer.layers) for n in sub.params]
    return ["input", *layer.params]


def _describe(options):
    def text(v):
        if isinstance(v, tuple) and all(isinstance(a, int) for a in v):
            return "x".join(map(str, v))
        return str(v).replace(" ", "")
    return " ".join(f"{k}={text(v)}" for k, v in options.items())


def _shape_nnz(layer, x, wrt):
    if isinstance(layer, chain.Chain):
        J = layer.jacobian(x) if wrt == "input" else layer.backward(x).params[wrt[0]][wrt[1]]
    else:
        J = layer.jacobian(x, wrt=wrt)
    return J.shape, int(J.nnz if sp.issparse(J) else np.count_nonzero(J))


def _fd_report(layer, x, wrt, tolerance):
    """Compare with central finite differences, perturbing the input or one parameter."""
    if isinstance(layer, chain.Chain):
        if wrt == "input":
            J = layer.jacobian(x)
            fd = numerical_jacobian(layer.forward, x)
        else:
            i, name = wrt
            J = layer.backward(x).params[i][name]
            fd = numerical_jacobian(lambda v: _with(layer, (i, name), v).forward(x),
                                    getattr(layer.layers[i], name))
    elif wrt == "input":
        J, fd = layer.jacobian(x), numerical_jacobian(layer.forward, x)
    else:
        J = layer.jacobian(x, wrt=wrt)
        fd = numerical_jacobian(lambda v: _with(layer, wrt, v).forward(x), getattr(layer, wrt))
    return compare_jacobians(J, fd, atol=tolerance, rtol=0, structure=False)


def _with(layer, wrt, value):
    """A shallow copy of ``layer`` (or a chain) with one parameter replaced."""
    if isinstance(layer, chain.Chain):
        i, name = wrt
        layers = list(layer.layers)
        layers[i] = _with(layers[i], name, value)
        return chain.Chain(layers)
    new = copy.copy(layer)
    setattr(new, wrt, np.asarray(value).reshape(getattr(layer, wrt).shape))
    return new


def parse_config(words):
    """``["conv", "x=6x6x4", "groups=2", ...]`` -> ``("conv", {"x": (6, 6, 4), "groups": 2, ...})``.

    Values: ``AxB[xC...]`` is a shape or pair of ints, ``true``/``false``/``none``
    are what they say, Python literals (``((1, 0), (2, 1))``, ``0.5``) are parsed,
    anything else stays a string.

    Examples
    --------
    >>> from jacobian_cnn.cli.verify import parse_config
    >>> parse_config(["max", "x=5x5x2", "window=2", "ceil_mode=true", "padding=((1,0),(0,1))"])
    ('maxpool', {'x': (5, 5, 2), 'window': 2, 'ceil_mode': True, 'padding': ((1, 0), (0, 1))})
    """
    op, *pairs = words
    op = SHORT_NAMES.get(op, op)
    if op not in OPERATIONS:
        raise InvalidValueError(f"-c: operation must be one of {', '.join(OPERATIONS)}, got {op!r}")
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidValueError(f"-c {op}: expected KEY=VALUE, got {pair!r}")
        options[key] = _value(value)
    if "x" not in options:
        raise InvalidValueError(f"-c {op}: give the input shape, e.g. x=6x6x2")
    return op, options


def _value(text):
    if re.fullmatch(r"\d+(x\d+)+", text):
        return tuple(int(v) for v in text.split("x"))
    lowered = text.lower()
    if lowered in ("true", "false", "none"):
        return {"true": True, "false": False, "none": None}[lowered]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


_FORMS = {(1, 2, 3, 4): "1 to 4 positive sizes like 6, 6x6, 6x6x2 or 6x6x2x3 (the batch size "
                        "N, last, may be 0)",
          (4,): "4 positive sizes KHxKWxC_INxC_OUT like 3x3x2x4", (1,): "a positive integer"}


def _sizes(value, key, op, lengths):
    """A tuple of positive ints (an int is a 1-tuple) of one of ``lengths``, or a named error."""
    value = (value,) if _is_int(value) else value
    if not (isinstance(value, tuple) and len(value) in lengths and all(_is_int(v) for v in value)
            and min(value) >= 0 and min(_not_the_batch(value, key)) > 0):
        raise InvalidValueError(f"-c {op}: {key} must be {_FORMS[lengths]}, got {_text(value)}")
    return value


def _not_the_batch(sizes, key):
    """Every size but an input's batch size N (in HxWxCxN), which may be 0 as in PyTorch."""
    return sizes[:-1] if key == "x" and len(sizes) == 4 else sizes


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value):
    if isinstance(value, tuple) and value and all(_is_int(v) for v in value):
        return "x".join(map(str, value))
    return repr(value) if isinstance(value, str) else str(value)


def build(op, options, rng, *, max_entries=_options.MAX_DENSE_ENTRIES):
    """``(layer, x, input_kind)`` for a configuration; parameters drawn from ``rng``.

    Options are checked and the input and parameters sized (against ``max_entries``)
    before anything is allocated; the layer's own refusals are prefixed with ``-c OP``.
    """
    try:
        return _build(op, options, rng, max_entries)
    except JacobianCNNError as exc:
        if str(exc).startswith("-c "):
            raise
        raise type(exc)(f"-c {op} {_describe(options)}: {exc}") from None


def _build(op, options, rng, max_entries):
    o = dict(options)
    shape = _sizes(o.pop("x"), "x", op, (1, 2, 3, 4))
    _options.refuse_over(_options.size(shape), max_entries, f"-c {op}: the input x",
                         "--max-entries")
    kind = o.pop("input", "normal")
    if kind not in INPUT_KINDS:
        raise InvalidValueError(f"-c {op}: input must be one of {', '.join(INPUT_KINDS)}, "
                                f"got {_text(kind)}")
    seed = o.pop("seed", None)
    if seed is not None and not (_is_int(seed) and seed >= 0):
        raise InvalidValueError(f"-c {op}: seed must be a non-negative integer, got {_text(seed)}")
    allowed = {"conv": {"kernel", "bias"}, "dense": {"n_out", "bias"}, "chain": {"pool"},
               "batchnorm": {"bias"}, "layernorm": {"bias"}}.get(op, set())
    if op in LAYER_CLASSES:
        allowed |= set(inspect.signature(LAYER_CLASSES[op]).parameters) - set(PARAMETERS.get(op, ()))
    unknown = sorted(set(o) - allowed)
    if unknown:
        raise InvalidValueError(f"-c {op}: unknown option(s) {', '.join(unknown)}; allowed: x, "
                                f"input, seed{''.join(', ' + k for k in sorted(allowed))}")
    if "bias" in o and not isinstance(o["bias"], bool):
        raise InvalidValueError(f"-c {op}: bias must be true or false, got {_text(o['bias'])}")
    if op == "conv":
        kernel_shape = _sizes(_required(o, "kernel", op), "kernel", op, (4,))
        _options.refuse_over(_options.size(kernel_shape), max_entries, f"-c {op}: the kernel",
                             "--max-entries")
        o["kernel"] = kernel_shape
    if op == "dense":
        n_out = _sizes(_required(o, "n_out", op), "n_out", op, (1,))[0]
        _options.refuse_over(shape[0] * n_out, max_entries, f"-c {op}: the weight",
                             "--max-entries")
        o["n_out"] = n_out
    if op == "chain" and o.get("pool", "avg") not in ("avg", "max"):
        raise InvalidValueError(f"-c chain: pool must be avg or max, got {_text(o['pool'])}")
    rng = rng if seed is None else np.random.default_rng(seed)
    x = draw_input(shape, kind, rng)
    if op == "chain":
        if len(shape) != 4 or shape[0] != shape[1] or shape[0] % 4:
            raise InvalidValueError(f"-c chain: x must be SxSxCxN with S a multiple of 4, "
                                    f"got {_text(shape)}")
        net = examples.seed_cnn(rng, size=shape[0], channels=(shape[2], 2, 2), n_classes=3,
                                pool=o.pop("pool", "avg"))
        labels = rng.integers(0, 3, size=shape[3])
        return chain.Chain([*net.layers, losses.SoftmaxCrossEntropy(labels)]), x, kind
    params = {}  # drawn in this order: conv kernel, bias; dense bias, weight
    if op == "conv":
        params["kernel"] = rng.normal(size=_required(o, "kernel", op))
        if o.pop("bias", True):
            params["bias"] = rng.normal(size=params["kernel"].shape[-1])
    if op == "dense":
        n_out = _required(o, "n_out", op)
        if o.pop("bias", True):
            params["bias"] = rng.normal(size=n_out)
        params["weight"] = rng.normal(size=(shape[0], n_out))
    if op in ("avgpool", "maxpool"):
        _required(dict(o), "window", op)  # make_layer takes it from the options
    if op in MODEL_OP_NAMES:  # gamma, beta (unless bias=false), a dropout mask; as the case table draws them
        for key in {"layernorm": ("normalized_shape",), "dropout": ("p",)}.get(op, ()):
            _required(dict(o), key, op)
        params = draw_model_params(op, shape, o, rng)
        o.pop("bias", None)
    return make_layer(op, params, o), x, kind


def _required(options, key, op):
    if key not in options:
        raise InvalidValueError(f"-c {op}: missing {key}=...")
    return options.pop(key)
