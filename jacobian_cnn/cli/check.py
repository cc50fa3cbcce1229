"""``jacobian-cnn check FILE.tex --op ...``: check a hand derivation against the package.

Reads the last matrix environment of the file (or ``--which``), compares it with
the symbolic result of the operation described by the same options as
``jacobian-cnn show`` and prints :class:`jacobian_cnn.handcheck.check.CheckReport`.
The conventions the matrix is written in are declared with ``--index-base``,
``--vec-order``, ``--layout``, ``--weight-orientation``, ``--convolution``, ``--tie`` and
``--flatten-order`` (:class:`jacobian_cnn.handcheck.Conventions`; docs/checking.md).

Exit status: 0 if the matrix is right under the declared conventions, 1 if not, 4 if it is
right only under other conventions (the report names the options that declare them), 2 on an
error (unreadable file, malformed LaTeX with its line and column, a problem or a file over a
limit).

Limits: the problem's Jacobian may have at most ``--max-entries`` entries (default
:data:`jacobian_cnn.handcheck.check.MAX_CHECK_ENTRIES`), tested before anything is built; the
file is read up to :data:`jacobian_cnn.symbolic.latex.MAX_INPUT_CHARS` characters and refused
beyond; the reader's other limits are in :mod:`jacobian_cnn.symbolic.latex`.
"""

from __future__ import annotations

import argparse
import sys

from jacobian_cnn.cli._options import nonnegative_float
from jacobian_cnn.cli.operation import parse_shape
from jacobian_cnn.cli.show import OPS, add_operation_arguments, build_operation, parse_rows
from jacobian_cnn.errors import InvalidValueError, SizeLimitError
from jacobian_cnn.symbolic import latex

EXIT_OTHER_CONVENTIONS = 4
"""Exit status of a matrix right only under conventions other than the declared ones."""

_CONVENTION_OPTIONS = (
    ("--index-base", ("1", "0"), "entry names start at 1 (a_{11}, default) or 0 (w_{0,0})"),
    ("--vec-order", ("F", "C"), "order a Jacobian's rows and columns (a gradient row's entries) "
                                "list a matrix's entries: column-major F (default) or row-major C"),
    ("--layout", ("numerator", "denominator"), "Jacobian n_out x n_in (numerator, default) or its "
                                                "transpose (denominator; a gradient is a column)"),
    ("--weight-orientation", ("in_out", "out_in"), "dense: z = W^T x with W (n_in, n_out) "
                                                    "(in_out, default) or z = W x with W (n_out, "
                                                    "n_in) (out_in; --weight-values then n_out x n_in)"),
    ("--convolution", ("cross", "true"), "conv: cross-correlation (default) or true convolution "
                                         "(kernel rotated by 180 degrees; same as --true-convolution)"),
    ("--tie", ("column_major", "row_major"), "maxpool: a tie goes to the first maximum in "
                                             "column-major (default) or row-major order"),
)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _which(text):
    if text == "channels":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a matrix number or 'channels', got {text!r}") \
            from None


def add_parser(sub):
    from jacobian_cnn.handcheck.check import QUANTITIES  # no SymPy needed for the names

    p = sub.add_parser(
        "check", help="check a hand-derived matrix (LaTeX) entry by entry and name the mistakes",
        description="Parse the last bmatrix/pmatrix of FILE (a restricted LaTeX grammar, never "
                    "evaluated), compare it with the package's result for --op and report "
                    "every wrong entry by meaning, plus systematic mistakes: row-major "
                    "reshapes, denominator layout, flipped kernels, shifted windows, overlapping "
                    "windows not summed, stray factors. Example: jacobian-cnn check answer.tex "
                    "--op avgpool --input 3x3 --window 2 --stride 1",
        epilog="exit status: 0 right under the declared conventions, 1 wrong, 4 right only "
               "under other conventions (the report names the options that declare them), 2 an "
               "error in what was asked. Conventions, index rules and tolerances: "
               "docs/checking.md")
    p.add_argument("file", help="a .tex file ('-' reads standard input)")
    p.add_argument("--op", choices=OPS, help="the operation that was differentiated (or --network)")
    p.add_argument("--network", metavar="NET.json",
                   help="a whole network described as JSON data (never run as code; format in "
                        "docs/checking.md): the gradient through every layer is checked, e.g. "
                        "dJ/dK1 with --wrt kernel --layer 1")
    p.add_argument("--layer", type=_positive_int, default=None, metavar="N",
                   help="with --network: the layer (1-based) whose parameter --wrt names "
                        "(default 1)")
    add_operation_arguments(p)
    p.add_argument("--quantity", choices=("auto", *QUANTITIES), default="auto",
                   help="what the matrix is (default: decided from its symbols and shape); "
                        "hessian: a second-order term, one block (--wrt NAME) or the full matrix "
                        "over several variables with its cross blocks (--wrt input,kernel)")
    p.add_argument("--which", type=_which, default=None, metavar="N",
                   help="check the N-th matrix of the file (1-based; default: the last), or "
                        "'channels': every matrix of the file is one channel of a multi-channel "
                        "output or gradient")
    conventions = p.add_argument_group(
        "conventions the matrix is written in (the flatten order is --flatten-order)")
    for option, choices, text in _CONVENTION_OPTIONS:
        conventions.add_argument(option, choices=choices, default=None, help=text)
    numbers = p.add_argument_group("numbers")
    numbers.add_argument("--values-file", metavar="PATH",
                         help="the numeric input from a .npy file (any shape, e.g. HxWxC for "
                              "several channels), a .csv file (rows of comma-separated numbers) "
                              "or a .tex file (one bmatrix per channel); its shape must be --input")
    numbers.add_argument("--grad-values", metavar="ROWS",
                         help="the upstream gradient dJ/dy, rows separated by ';' (a numeric "
                              "gradient is then checked)")
    numbers.add_argument("--tolerance", type=nonnegative_float, default=None, metavar="T",
                         help="numeric entries w, c agree when |w - c| <= T max(1, |c|) "
                              "(default 1e-9)")
    p.add_argument("--max-entries", type=_positive_int, default=None, metavar="N",
                   help="largest problem checked, as the entries (rows x columns) of its "
                        "Jacobian (default: jacobian_cnn.handcheck.check.MAX_CHECK_ENTRIES)")
    p.set_defaults(run=run)


def _read(file):
    """The text of ``file`` (``-``: standard input), refused past ``MAX_INPUT_CHARS``."""
    limit = latex.MAX_INPUT_CHARS
    if file == "-":
        text = sys.stdin.read(limit + 1)
    else:
        with open(file, encoding="utf-8") as f:
            text = f.read(limit + 1)
    if len(text) > limit:
        raise SizeLimitError(f"{file} has more than {limit:,} characters, the limit of the LaTeX "
                             "reader (jacobian_cnn.symbolic.latex.MAX_INPUT_CHARS)")
    return text


def _values_file(path, shape, values_given):
    """The numeric input stored in ``path`` (.npy or .csv), checked against ``--input``."""
    import os

    import numpy as np

    if values_given is not None:
        raise InvalidValueError("give the input's values once: --values or --values-file")
    limit = 8 * 10_000_000 + 1024  # 10 million float64 entries and a header
    if os.path.getsize(path) > limit:
        raise SizeLimitError(f"{path} is over {limit:,} bytes, the limit of --values-file")
    if path.endswith(".npy"):
        array = np.load(path, allow_pickle=False)
    elif path.endswith(".tex"):
        array = _tex_channels(_read(path), shape)
    elif path.endswith(".csv"):
        array = np.loadtxt(path, delimiter=",", ndmin=2)
    else:
        raise InvalidValueError(f"--values-file must be a .npy, .csv or .tex file, got {path!r}")
    if array.dtype.kind not in "iuf" or not np.all(np.isfinite(array)):
        raise InvalidValueError(f"{path} must hold finite real numbers")
    if len(shape) == 1 and array.size == shape[0]:
        array = array.ravel()
    if array.shape != tuple(shape):
        raise InvalidValueError(f"{path} holds an array of shape {array.shape}, but --input is "
                                f"{'x'.join(map(str, shape))}")
    return array.astype(float)


def _tex_channels(text, shape):
    """The numbers of every matrix of ``text``, one channel each, as an ``(H, W, C)`` array
    (one matrix: ``(H, W)``)."""
    import numpy as np

    from jacobian_cnn.handcheck.reading import as_written_matrix

    entries, _ = as_written_matrix(text, which="channels")
    if any(v.free_symbols for v in entries.ravel()):
        raise InvalidValueError("a --values-file .tex must hold numbers only")
    values = np.array(entries.tolist(), dtype=float)
    if len(shape) == 3 and values.shape[1] == shape[1] * shape[2]:
        return values.reshape(shape, order="F")
    return values


def _network(args):
    """``(chain, shape, values, options, wrt)`` of ``--network`` (the layers from the file)."""
    import numpy as np

    from jacobian_cnn.handcheck.network import read_network
    from jacobian_cnn.symbolic.jacobians import Names

    given = [f"--{name.replace('_', '-')}" for name in ("op", "window", "kernel", "kernel_values",
                                                        "outputs", "weight_values", "stride",
                                                        "winners")
             if getattr(args, name, None) is not None]
    if given:
        raise InvalidValueError(f"with --network the layers are described in the file; "
                                f"{', '.join(given)} describe one operation")
    shape = parse_shape(args.input)
    values = None if args.values is None else parse_rows(args.values, "--values")
    if values is not None and values.size == np.prod(shape) and values.shape != shape:
        values = values.reshape(shape)  # one row for a vector input
    if values is not None and values.shape != shape:
        raise InvalidValueError(f"--values must have the shape of --input {args.input}, got "
                                f"{values.shape[0]} row(s) of {values.shape[-1]}")
    chain, params = read_network(args.network, shape)
    names = Names(input=args.input_name, output=args.output_name, kernel=args.kernel_name,
                  weight=args.weight_name, loss=args.loss_name)
    wrt = "input" if args.wrt == "input" else ((args.layer or 1) - 1, args.wrt)
    return chain, shape, values, {"names": names, "params": params}, wrt


def _conventions(args):
    """The declared conventions, as keyword arguments of ``check_derivation``."""
    out = {}
    for option, _, _ in _CONVENTION_OPTIONS:
        name = option[2:].replace("-", "_")
        value = getattr(args, name, None)
        if value is not None:
            out[name] = int(value) if name == "index_base" else value
    if getattr(args, "true_convolution", False):
        if out.get("convolution") == "cross":
            raise InvalidValueError("--true-convolution contradicts --convolution cross")
        out["convolution"] = "true"
    return out


def _listed_variables(args):
    """The names of ``--wrt input,kernel`` (``--quantity hessian`` only: a full Hessian over
    them, cross blocks included), or ``None`` for one variable."""
    if "," not in args.wrt:
        return None
    if args.quantity != "hessian":
        raise InvalidValueError(f"--wrt {args.wrt}: a list of variables is only for --quantity "
                                "hessian (a full Hessian over them, cross blocks included)")
    return [name.strip() for name in args.wrt.split(",")]


def _hessian_variables(names, layer, args):
    """The listed variables as ``wrt`` keys, each checked against the layer (``--network``:
    parameters of ``--layer``)."""
    target = layer.layers[(args.layer or 1) - 1] if args.network is not None else layer
    allowed = ["input", *target.params]
    for name in names:
        if name not in allowed:
            raise InvalidValueError(f"--wrt must list names of {' and '.join(allowed)}, got {name!r}")
    if args.network is None:
        return names
    return [name if name == "input" else ((args.layer or 1) - 1, name) for name in names]


def run(args):
    from jacobian_cnn.handcheck.check import MAX_CHECK_ENTRIES, check_derivation
    from jacobian_cnn.handcheck.numeric import DEFAULT_TOLERANCE

    if isinstance(args.which, int) and args.which < 1:
        raise InvalidValueError(f"--which is 1-based, got {args.which}")
    text = _read(args.file)
    conventions = _conventions(args)
    if conventions.get("weight_orientation") == "out_in" and args.weight_values is not None:
        w = parse_rows(args.weight_values, "--weight-values")  # given n_out x n_in
        args.weight_values = ";".join(",".join(repr(float(v)) for v in row) for row in w.T)
    args.true_convolution = False  # declared through conventions
    listed = _listed_variables(args)
    if listed is not None:
        args.wrt = "input"  # each listed name is checked once the layer is built
    if args.network is not None:
        layer, shape, values, options, wrt = _network(args)
    elif args.op is None:
        raise InvalidValueError("give the operation (--op) or a network (--network)")
    elif args.layer is not None:
        raise InvalidValueError("--layer is for --network")
    else:
        layer, shape, values, options = build_operation(args)
        wrt = args.wrt
    if listed is not None:
        wrt = _hessian_variables(listed, layer, args)
    if getattr(args, "values_file", None) is not None:
        values = _values_file(args.values_file, shape, args.values)
    options.pop("flip_kernel", None)
    grad = None if args.grad_values is None else parse_rows(args.grad_values, "--grad-values")
    max_entries = getattr(args, "max_entries", None) or MAX_CHECK_ENTRIES
    which = args.which if args.which in (None, "channels") else args.which - 1
    report = check_derivation(text, layer, shape if values is None else values, wrt=wrt,
                              quantity=args.quantity, which=-1 if which is None else which,
                              max_entries=max_entries, grad_values=grad,
                              tolerance=DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance,
                              **conventions, **options)
    print(report)
    return {"correct": 0, "wrong": 1}.get(report.verdict, EXIT_OTHER_CONVENTIONS)
