"""``jacobian-cnn show``: one operation's Jacobian, forward result or gradient.

Numeric by default (the package's sparse Jacobian, entries labelled in ``vec``
order), ``--symbolic`` for named entries (:mod:`jacobian_cnn.symbolic`), ``--latex``
for LaTeX instead of a text grid. The options that describe the operation are
shared with ``jacobian-cnn check`` (:func:`add_operation_arguments`,
:func:`build_operation`).
"""

from __future__ import annotations

import re

import numpy as np

from jacobian_cnn.cli import _options
from jacobian_cnn.cli._options import positive_int
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.ops import activations, conv, dense, pooling, reshape
from jacobian_cnn.symbolic.latex import matrix_to_latex, matrix_to_text, render_name
from jacobian_cnn.vec import unvec, vec

OPS = ("conv", "avgpool", "maxpool", "dense", "flatten", "relu", "sigmoid", "tanh", "softmax")
"""Operation names accepted by ``show`` and ``check --op``."""

_VALUE_DEPENDENT = ("maxpool", "relu", "sigmoid", "tanh", "softmax")


def add_operation_arguments(p):
    """Options describing one operation and its input (shared by ``show`` and ``check``)."""
    g = p.add_argument_group("operation")
    g.add_argument("--input", required=True, metavar="SHAPE",
                   help="input shape: HxW, HxWxC, or N for dense and softmax")
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
    n.add_argument("--kernel-name", default="k", metavar="L", help="e.g. beta (seed 004)")
    n.add_argument("--weight-name", default="w", metavar="L")
    n.add_argument("--loss-name", default="J", metavar="L")


def add_parser(sub):
    p = sub.add_parser(
        "show", help="print an operation's Jacobian, forward result or gradient "
                     "(numeric, symbolic or LaTeX)",
        description="Print d vec(y) / d vec(x) of one operation in numerator layout over "
                    "column-major vec, with rows and columns labelled. --symbolic names the "
                    "entries (a_{ij}, k_{rs}, 1/4); --latex prints LaTeX. Example: "
                    "jacobian-cnn show avgpool --input 3x3 --window 2 --stride 1 --symbolic --latex")
    p.add_argument("op", choices=OPS, help="the operation")
    add_operation_arguments(p)
    p.add_argument("--what", choices=("jacobian", "forward", "gradient"), default="jacobian",
                   help="the Jacobian (default), the forward result, or dJ/dx = [dJ/dy] @ J")
    p.add_argument("--grad-values", metavar="ROWS",
                   help="numeric --what gradient: dJ/dy in y's shape")
    p.add_argument("--row", action="store_true", help="gradient: the vec-order row, not reshaped")
    p.add_argument("--symbolic", action="store_true", help="named entries instead of numbers")
    p.add_argument("--latex", action="store_true", help="LaTeX instead of a text grid")
    p.add_argument("--headers", action="store_true",
                   help="LaTeX Jacobian: a header row and column (\\partial a_{21}, \\partial p_{11})")
    p.add_argument("--max-entries", type=positive_int, default=_options.MAX_TEXT_ENTRIES,
                   metavar="N", help="largest printed grid, in cells: rows x columns of a "
                                     "Jacobian, the entries of a forward result or gradient "
                                     f"(default {_options.MAX_TEXT_ENTRIES:,})")
    p.add_argument("--max-terms", type=positive_int, default=_options.MAX_SYMBOLIC_TERMS,
                   metavar="N", help="--symbolic: largest number of terms (structural nonzeros "
                                     f"of the Jacobian) SymPy builds (default "
                                     f"{_options.MAX_SYMBOLIC_TERMS:,})")
    p.set_defaults(run=run)


# --------------------------------------------------------------------------------------
# argument parsing

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
    stride, padding = _int_or_pair(args.stride, "--stride"), _padding(args.padding)
    dilation = _int_or_pair(args.dilation, "--dilation")
    if op not in ("conv", "avgpool", "maxpool") and (args.stride is not None
                                                      or args.window is not None):
        raise InvalidValueError(f"--window and --stride are for pooling and conv, not {op}")
    if op in ("conv", "avgpool", "maxpool") and len(shape) < 2:
        raise InvalidValueError(f"{op} needs --input HxW, HxWxC or HxWxCxN, got {args.input!r}")
    params = "symbols"
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
        bias = np.zeros(args.channels_out) if args.bias else None
        layer = conv.Conv2D(kernel, bias, stride=1 if stride is None else stride,
                            padding=padding, dilation=dilation)
    elif op in ("avgpool", "maxpool"):
        if args.window is None:
            raise InvalidValueError(f"{op} needs --window K or KHxKW")
        window = _int_or_pair(args.window, "--window")
        if op == "avgpool":
            layer = pooling.AvgPool2D(window, stride=stride, padding=padding, dilation=dilation,
                                      count_include_pad=not args.no_count_include_pad)
        else:
            layer = pooling.MaxPool2D(window, stride=stride, padding=padding, dilation=dilation)
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
        layer = dense.Dense(weight, np.zeros(args.outputs) if args.bias else None)
    elif op == "flatten":
        layer = reshape.Flatten(args.flatten_order)
    else:
        layer = {"relu": activations.ReLU, "sigmoid": activations.Sigmoid,
                 "tanh": activations.Tanh, "softmax": activations.Softmax}[op]()
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


def _pair(value):
    return (value, value) if isinstance(value, int) else value


# --------------------------------------------------------------------------------------
# output

def _number(v):
    v = float(v)
    return "0" if v == 0 else f"{v:.6g}"


def _grid(cells, rows, cols, latex, headers):
    if latex:
        if headers:
            rows = [f"\\partial {render_name(r)}" for r in rows]
            cols = [f"\\partial {render_name(c)}" for c in cols]
            return matrix_to_latex(cells, row_labels=rows, col_labels=cols)
        return matrix_to_latex(cells)
    return matrix_to_text(cells, row_labels=[render_name(r, "text") for r in rows] if rows else None,
                          col_labels=[render_name(c, "text") for c in cols] if cols else None)


def run(args):
    layer, shape, values, options = build_operation(args)
    _check_size(args, layer, shape)
    if args.symbolic:
        return _run_symbolic(args, layer, shape, values, options)
    return _run_numeric(args, layer, shape, values, options)


def _check_size(args, layer, shape):
    """Refuse, from shapes alone, a grid over ``--max-entries`` or symbolic work over ``--max-terms``."""
    out = _options.output_shape(layer, shape)
    wrt = shape if args.wrt == "input" else layer.params[args.wrt].shape
    n_out, n_wrt = _options.size(out), _options.size(wrt)
    if args.what == "jacobian":
        what = f"the {n_out} x {n_wrt} Jacobian grid"
        entries = n_out * n_wrt
    elif args.what == "forward":
        what, entries = f"the forward result {'x'.join(map(str, out)) or 'scalar'}", n_out
    else:
        what, entries = f"the gradient wrt {args.wrt}", n_wrt
    _options.refuse_over(entries, args.max_entries, what, "--max-entries")
    if args.symbolic:
        terms = _options.jacobian_nnz(layer, shape, "input" if args.what == "forward" else args.wrt)
        _options.refuse_over(terms, args.max_terms,
                             f"the symbolic {args.what} of {type(layer).__name__} on "
                             f"{'x'.join(map(str, shape))}", "--max-terms", unit="terms")


def _run_symbolic(args, layer, shape, values, options):
    from jacobian_cnn.symbolic.jacobians import SymbolicProblem

    if len(shape) == 4 or (args.op == "softmax" and len(shape) != 1):
        allowed = "N" if args.op == "softmax" else "N, HxW or HxWxC"
        raise InvalidValueError(f"--symbolic takes one sample: --input {allowed} for {args.op}, "
                                f"got {args.input!r}")
    if values is None and args.op == "relu":
        raise InvalidValueError("symbolic relu depends on the sign of each input: pass --values")
    if values is None and args.op == "maxpool" and "winners" not in options:
        raise InvalidValueError("symbolic maxpool depends on which entry wins each window: pass "
                                "--values or --winners")

    problem = SymbolicProblem(layer, shape if values is None else values, **options)
    if args.what == "jacobian":
        J = problem.jacobian(args.wrt)
        if args.latex:
            print(f"% {J.description}")
            print(J.to_latex(headers=args.headers))
        else:
            print(J)
    elif args.what == "forward":
        y = problem.forward()
        print(f"% {y.description}\n{y.to_latex()}" if args.latex else y)
    else:
        g = problem.gradient(args.wrt)
        form = "row" if args.row else "shaped"
        if args.latex:
            print(f"% {g.description}\n{g.to_latex(form=form)}")
        else:
            print(f"{g.description}\n{g.to_text(form=form)}")
    return 0


def _run_numeric(args, layer, shape, values, options):
    from jacobian_cnn.symbolic.jacobians import entry_names

    names = options["names"]
    needs_values = args.op in _VALUE_DEPENDENT or args.wrt in ("kernel", "weight") or (
        args.what == "forward")
    if values is None and needs_values:
        raise InvalidValueError(f"numeric {args.op} ({args.what}, wrt {args.wrt}) depends on the input "
                         "values: pass --values, or use --symbolic")
    if options["params"] == "symbols" and args.op in ("conv", "dense") and args.wrt == "input":
        flag = "--kernel-values" if args.op == "conv" else "--weight-values"
        raise InvalidValueError(f"numeric {args.op} needs {flag} (or use --symbolic for named entries)")
    if options.get("flip_kernel"):
        raise InvalidValueError("--true-convolution is only modelled symbolically; add --symbolic")
    x = np.zeros(shape) if values is None else values
    output = names.output or {"conv": "z", "dense": "z", "avgpool": "p", "maxpool": "p",
                              "flatten": "f", "softmax": "s"}.get(args.op, "y")
    y = np.asarray(layer.forward(x))
    if args.what == "forward":
        y2 = y if y.ndim == 2 else y.reshape(-1, 1, order="F")
        print(_grid([[_number(v) for v in row] for row in y2], None, None, args.latex, False))
        return 0
    wrt_values = x if args.wrt == "input" else layer.params.get(args.wrt)
    if wrt_values is None:
        raise InvalidValueError(f"{args.op} has no parameter {args.wrt!r}")
    letter = {"input": names.input, "kernel": names.kernel, "weight": names.weight,
              "bias": "b"}[args.wrt] if args.wrt in ("input", "kernel", "weight", "bias") else args.wrt
    J = layer.jacobian(x, wrt=args.wrt)
    if args.what == "gradient":
        if args.grad_values is None:
            raise InvalidValueError("numeric --what gradient needs --grad-values (dJ/dy in y's shape), "
                             "or use --symbolic")
        g = parse_rows(args.grad_values, "--grad-values")
        if g.size != y.size:
            raise InvalidValueError(f"--grad-values has {g.size} entries but y has {y.size} {y.shape}")
        g = g.ravel() if y.ndim == 1 else g.reshape(y.shape)
        row = np.asarray(J.T @ vec(g)).ravel()
        out = row[None, :] if args.row else unvec(row, np.shape(wrt_values))
        out = out if out.ndim == 2 else out.reshape(-1, 1)
        print(_grid([[_number(v) for v in r] for r in out], None, None, args.latex, False))
        return 0
    rows = entry_names(output, y.shape)
    cols = entry_names(letter, np.shape(wrt_values))
    cells = [[_number(v) for v in r] for r in J.toarray()]
    if not args.latex:
        size = f"length-{shape[0]}" if len(shape) == 1 else "x".join(map(str, shape))
        print(f"d vec({output}) / d vec({letter}) of {layer!r} on a {size} input  "
              f"({J.shape[0]}x{J.shape[1]})")
    print(_grid(cells, rows, cols, args.latex, args.headers or not args.latex))
    return 0
