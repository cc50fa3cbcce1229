"""The options that describe one operation and its input, shared by ``show`` and ``check``.

:func:`add_operation_arguments` declares them; :func:`build_operation` turns the parsed
options into a layer, its input shape and values, and the names for symbolic problems,
checking every option and sizing every array it describes before anything is allocated.
"""

from __future__ import annotations

import re

import numpy as np

from jacobian_cnn.cli import _options
from jacobian_cnn.cli._options import positive_int
from jacobian_cnn.cli.operation_more import MORE_OPS, build_more
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.ops.by_name import OP_NAMES, make_layer

__all__ = ["OPS", "MAX_ARRAY_ENTRIES", "add_operation_arguments", "build_operation", "parse_shape",
           "parse_rows"]

OPS = tuple(op for op in OP_NAMES if op not in ("mse", "xent"))
"""Operation names accepted by ``show`` and ``check --op``: every layer but the losses."""


def add_operation_arguments(p):
    """Options describing one operation and its input (shared by ``show`` and ``check``)."""
    g = p.add_argument_group("operation")
    g.add_argument("--input", required=True, metavar="SHAPE",
                   help="input shape: HxW, HxWxC, or N for dense and softmax (show: L or LxC "
                        "in 1-D, DxHxW or DxHxWxC in 3-D)")
    g.add_argument("--values", metavar="ROWS",
                   help="numeric input, rows separated by ';' and entries by ',' or spaces "
                        "(max pooling and ReLU need it)")
    g.add_argument("--window", metavar="K", help="pooling window: K or KHxKW")
    g.add_argument("--kernel", metavar="KHxKW", help="conv kernel size")
    g.add_argument("--kernel-values", metavar="ROWS",
                   help="conv kernel entries (single channel); default: symbols k_{rs}")
    g.add_argument("--channels-out", type=positive_int, default=1, metavar="C", help="conv output channels")
    g.add_argument("--outputs", type=positive_int, metavar="M", help="dense: number of outputs")
    g.add_argument("--weight-values", metavar="ROWS",
                   help="dense weights, n_in rows of n_out; default: symbols w_{ij}")
    g.add_argument("--bias", action="store_true", help="conv/dense: include a bias b_j")
    g.add_argument("--stride", metavar="S", help="S or SHxSW (pooling default: the window)")
    g.add_argument("--padding", metavar="P", default="0", help="P or PHxPW (default 0)")
    g.add_argument("--dilation", metavar="D", default="1", help="D or DHxDW (default 1)")
    g.add_argument("--no-count-include-pad", action="store_true",
                   help="avgpool: divide by the taps inside the input")
    g.add_argument("--flatten-order", choices=("F", "C", "torch"), default="F")
    g.add_argument("--winners", metavar="PAIRS",
                   help="maxpool: the winner of each window as 1-based i,j pairs, windows "
                        "separated by spaces and output rows by ';' (e.g. '2,1 1,4; 3,1 4,3')")
    g.add_argument("--true-convolution", action="store_true",
                   help="conv: flip the kernel (a true convolution) instead of cross-correlating")
    g.add_argument("--wrt", default="input", help="input (default), kernel, weight or bias")
    n = p.add_argument_group("names of the entries")
    n.add_argument("--input-name", default="a", metavar="L")
    n.add_argument("--output-name", default=None, metavar="L",
                   help="default by operation: z (conv, dense), p (pooling), ...")
    n.add_argument("--kernel-name", default="k", metavar="L",
                   help="the kernel's letter, e.g. beta or w (default k)")
    n.add_argument("--weight-name", default="w", metavar="L")
    n.add_argument("--loss-name", default="J", metavar="L")


def parse_shape(text, what="--input", *, lengths=None, minimum=1):
    """``"3x4x2"`` -> ``(3, 4, 2)``; ``"5"`` -> ``(5,)``.

    ``lengths`` restricts the number of sizes (e.g. ``(1, 2)`` for K or KHxKW);
    ``minimum`` is the smallest size allowed (0 for padding).
    """
    parts = re.split(r"\s*[x×,]\s*", text.strip())
    lengths = lengths or (1, 2, 3, 4)
    kind = "positive" if minimum else "non-negative"
    forms = {(1, 2, 3, 4): "like 3x3, 3x4x2 or 5", (1, 2): "N or AxB", (2, 3): "HxW or HxWxC"}
    if (len(parts) not in lengths or not all(p.isdigit() for p in parts)
            or min(int(p) for p in parts) < minimum):
        raise InvalidValueError(f"{what} must be {kind} integer sizes {forms[lengths]}, "
                                f"got {text!r}")
    return tuple(int(p) for p in parts)


def _int_or_pair(text, what, minimum=1):
    """``"2"`` -> 2, ``"2x3"`` -> (2, 3); ``None`` stays ``None``."""
    if text is None:
        return None
    values = parse_shape(text, what, lengths=(1, 2), minimum=minimum)
    return values[0] if len(values) == 1 else values


def _padding(text):
    return _int_or_pair(text, "--padding", minimum=0)


def parse_rows(text, what):
    """``"1,2;3,4"`` (or spaces) -> a 2-D float array; one row gives a 1-row array."""
    rows = [r for r in text.split(";")]
    try:
        values = [[float(v) for v in re.split(r"[,\s]+", r.strip()) if v] for r in rows]
    except ValueError:
        raise InvalidValueError(f"{what} must be numbers, rows separated by ';', got {text!r}") from None
    if not values or not values[0] or len({len(r) for r in values}) != 1:
        raise InvalidValueError(f"{what} needs rows of equal length, got {text!r}")
    array = np.array(values)
    if not np.isfinite(array).all():
        raise InvalidValueError(f"{what} must be finite numbers (no nan or inf), got {text!r}")
    return array


def _winners(text):
    rows = []
    for row in text.split(";"):
        pairs = []
        for item in row.split():
            m = re.fullmatch(r"(\d+),(\d+)", item)
            if not m or min(int(m[1]), int(m[2])) < 1:
                raise InvalidValueError(f"--winners items must be 1-based i,j pairs, got {item!r}")
            pairs.append((int(m[1]), int(m[2])))
        rows.append(pairs)
    if len({len(r) for r in rows}) != 1:
        raise InvalidValueError(f"--winners rows must have equal length, got {text!r}")
    return np.array(rows, dtype=int)


MAX_ARRAY_ENTRIES = 10_000_000
"""Largest kernel, weight or input the operation options may describe (80 MB of float64)."""


def _check_array(entries, what, args):
    """Refuse an array the options describe before it is allocated."""
    limit = getattr(args, "max_entries", None)  # show's and check's own --max-entries
    if limit is None:
        _options.refuse_over(entries, MAX_ARRAY_ENTRIES, what, None)
    else:
        _options.refuse_over(entries, limit, what, "--max-entries")


def build_operation(args):
    """``(layer, shape, values, options)`` from the parsed operation options.

    ``values`` is the numeric input (or ``None``); ``options`` are keyword arguments
    for :class:`jacobian_cnn.symbolic.jacobians.SymbolicProblem` (names, params, winners, flip).
    Every option is checked, and every array it describes sized, before anything
    is allocated.
    """
    shape = parse_shape(args.input)
    _check_array(_options.size(shape), f"the input --input {args.input}", args)
    values = None
    if args.values is not None:
        values = parse_rows(args.values, "--values")
        if len(shape) == 1:
            values = values.ravel()
        if values.shape != shape:
            raise InvalidValueError(f"--values must have the shape of --input {args.input} "
                                    f"({_options.size(shape)} entries), got {values.shape[0]} "
                                    f"row(s) of {values.shape[-1]} ({values.size} entries)")
    op = args.op
    params = "symbols"
    if op in MORE_OPS:  # show's further operations: their parameters are named entries
        layer, shape, values = build_more(args, shape, values, _check_array)
    else:
        layer, params = _seed_layer(args, op, shape)
    allowed = ["input", *layer.params]
    if args.wrt not in allowed:
        hint = " (bias needs --bias)" if op in ("conv", "dense") and not args.bias else ""
        raise InvalidValueError(f"--wrt must be {' or '.join(allowed)} for {op}{hint}, "
                                f"got {args.wrt!r}")
    from jacobian_cnn.symbolic.jacobians import Names  # no SymPy needed to build Names
    try:
        names = Names(input=args.input_name, output=args.output_name, kernel=args.kernel_name,
                      weight=args.weight_name, loss=args.loss_name)
    except (InvalidValueError, InvalidTypeError) as exc:  # name the option, not the field
        raise InvalidValueError(re.sub(r"names\.(\w+)", r"--\1-name", str(exc))) from None
    options = {"names": names, "params": params, "flip_kernel": bool(args.true_convolution)}
    if args.winners is not None:
        if op != "maxpool":
            raise InvalidValueError(f"--winners is for maxpool, not {op}")
        winners = _winners(args.winners)
        out = _options.output_shape(layer, shape)
        if winners.shape[:2] != tuple(out[:2]) or len(shape) > 2:
            raise InvalidValueError(
                f"--winners must give one i,j pair per window of a single-channel input: "
                f"{out[0]} row(s) of {out[1]} pairs (the {out[0]}x{out[1]} output), got "
                f"{winners.shape[0]} row(s) of {winners.shape[1]} for --input {args.input}")
        options["winners"] = winners
    return layer, shape, values, options


def _seed_layer(args, op, shape):
    """``(layer, params)`` of a seed operation (:data:`OPS`) from the parsed options."""
    stride, padding = _int_or_pair(args.stride, "--stride"), _padding(args.padding)
    dilation = _int_or_pair(args.dilation, "--dilation")
    if op not in ("conv", "avgpool", "maxpool") and (args.stride is not None
                                                      or args.window is not None):
        raise InvalidValueError(f"--window and --stride are for pooling and conv, not {op}")
    if op in ("conv", "avgpool", "maxpool") and len(shape) < 2:
        raise InvalidValueError(f"{op} needs --input HxW, HxWxC or HxWxCxN, got {args.input!r}")
    params, arrays, options = "symbols", {}, {}
    if op == "conv":
        if args.kernel is None:
            raise InvalidValueError("conv needs --kernel KHxKW")
        kh, kw = _pair(_int_or_pair(args.kernel, "--kernel"))
        c_in = shape[2] if len(shape) >= 3 else 1
        _check_array(kh * kw * c_in * args.channels_out,
                     f"the kernel ({kh}x{kw}, {c_in} -> {args.channels_out} channels)", args)
        kernel = np.ones((kh, kw, c_in, args.channels_out))
        if args.kernel_values is not None:
            k = parse_rows(args.kernel_values, "--kernel-values")
            if k.shape != (kh, kw) or c_in != 1 or args.channels_out != 1:
                raise InvalidValueError(f"--kernel-values must be one {kh}x{kw} channel; got {k.shape} "
                                 f"with {c_in} input and {args.channels_out} output channels")
            kernel, params = k, "values"
        arrays = {"kernel": kernel, "bias": np.zeros(args.channels_out) if args.bias else None}
        options = {"stride": 1 if stride is None else stride, "padding": padding, "dilation": dilation}
    elif op in ("avgpool", "maxpool"):
        if args.window is None:
            raise InvalidValueError(f"{op} needs --window K or KHxKW")
        options = {"window": _int_or_pair(args.window, "--window"), "stride": stride,
                   "padding": padding, "dilation": dilation}
        if op == "avgpool":
            options["count_include_pad"] = not args.no_count_include_pad
    elif op == "dense":
        if len(shape) != 1 or args.outputs is None:
            raise InvalidValueError(f"dense needs --input N (a vector) and --outputs M, got "
                                    f"--input {args.input} and --outputs {args.outputs}")
        _check_array(shape[0] * args.outputs,
                     f"the weight ({shape[0]} x {args.outputs})", args)
        weight = np.ones((shape[0], args.outputs))
        if args.weight_values is not None:
            weight = parse_rows(args.weight_values, "--weight-values")
            if weight.shape != (shape[0], args.outputs):
                raise InvalidValueError(f"--weight-values must be {shape[0]}x{args.outputs} (n_in x n_out), "
                                 f"got {weight.shape}")
            params = "values"
        arrays = {"weight": weight, "bias": np.zeros(args.outputs) if args.bias else None}
    elif op == "flatten":
        options = {"order": args.flatten_order}
    return make_layer(op, arrays, options), params


def _pair(value):
    return (value, value) if isinstance(value, int) else value
