"""``jacobian-cnn show``: one operation's Jacobian, forward result or gradient.

Numeric by default (the package's sparse Jacobian, entries labelled in ``vec``
order), ``--symbolic`` for named entries (:mod:`jacobian_cnn.symbolic`), ``--latex``
for LaTeX instead of a text grid. The options that describe the operation are
shared with ``jacobian-cnn check`` (:mod:`jacobian_cnn.cli.operation`).
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn.cli import _options
from jacobian_cnn.cli._options import positive_int
from jacobian_cnn.cli.operation import OPS, add_operation_arguments, build_operation, parse_rows
from jacobian_cnn.cli.operation_more import MORE_OPS, add_more_arguments, spatial_axes
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.symbolic.latex import matrix_to_latex, matrix_to_text, render_name
from jacobian_cnn.symbolic.sizes import jacobian_terms
from jacobian_cnn.vec import unvec, vec

__all__ = ["OPS", "add_operation_arguments", "add_parser", "build_operation", "run"]

_VALUE_DEPENDENT = ("maxpool", "relu", "sigmoid", "tanh", "softmax", "maxpool1d", "maxpool3d",
                    "batchnorm", "layernorm", "logsoftmax")


def add_parser(sub):
    p = sub.add_parser(
        "show", help="print an operation's Jacobian, forward result or gradient "
                     "(numeric, symbolic or LaTeX)",
        description="Print d vec(y) / d vec(x) of one operation in numerator layout over "
                    "column-major vec, with rows and columns labelled. --symbolic names the "
                    "entries (a_{ij}, k_{rs}, 1/4); --latex prints LaTeX. Example: "
                    "jacobian-cnn show avgpool --input 3x3 --window 2 --stride 1 --symbolic --latex")
    p.add_argument("op", choices=OPS + MORE_OPS, help="the operation")
    add_operation_arguments(p)
    add_more_arguments(p)
    what = {"jacobian": "the Jacobian (default)", "forward": "the forward result",
            "gradient": "dJ/dx = [dJ/dy] @ J",
            "hessian": "the second-order term sum_k dJ/dy_k d2 y_k / d vec(wrt) d vec(wrt2)^T"}
    p.add_argument("--what", choices=tuple(what), default="jacobian", help="; ".join(what.values()))
    p.add_argument("--wrt2", metavar="NAME",
                   help="--what hessian: the second variable (default: --wrt), e.g. --wrt input "
                        "--wrt2 kernel for the cross block")
    p.add_argument("--grad-values", metavar="ROWS",
                   help="numeric --what gradient: dJ/dy in y's shape")
    switches = {"--row": "gradient: the vec-order row, not reshaped",
                "--symbolic": "named entries instead of numbers",
                "--latex": "LaTeX instead of a text grid",
                "--headers": "LaTeX Jacobian: a header row and column (\\partial a_{21}, \\partial p_{11})"}
    for flag, text in switches.items():
        p.add_argument(flag, action="store_true", help=text)
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
    if out is None:  # a layer the shape rules do not know: one pass on zeros (the input is sized)
        with np.errstate(all="ignore"):
            out = np.shape(layer.forward(np.zeros(shape)))
    if args.wrt2 is not None and args.what != "hessian":
        raise InvalidValueError("--wrt2 is only for --what hessian")
    wrt = shape if args.wrt == "input" else layer.params[args.wrt].shape
    n_out, n_wrt = _options.size(out), _options.size(wrt)
    if args.what == "jacobian":
        what = f"the {n_out} x {n_wrt} Jacobian grid"
        entries = n_out * n_wrt
    elif args.what == "forward":
        what, entries = f"the forward result {'x'.join(map(str, out)) or 'scalar'}", n_out
    elif args.what == "hessian":
        if args.wrt2 not in (None, "input", *layer.params):
            raise InvalidValueError(f"--wrt2 must be input or one of {sorted(layer.params)} for "
                                    f"{args.op}, got {args.wrt2!r}")
        second = layer.params[args.wrt2].shape if args.wrt2 not in (None, "input") else (
            shape if args.wrt2 else wrt)
        what = f"the {n_wrt} x {_options.size(second)} second-order term grid"
        entries = n_wrt * _options.size(second)
    else:
        what, entries = f"the gradient wrt {args.wrt}", n_wrt
    _options.refuse_over(entries, args.max_entries, what, "--max-entries")
    if args.symbolic:
        terms = jacobian_terms(layer, shape, out, "input" if args.what == "forward" else args.wrt)
        terms = terms * max(entries // max(n_wrt, 1), 1) if args.what == "hessian" else terms
        _options.refuse_over(terms, args.max_terms,
                             f"the symbolic {args.what} of {type(layer).__name__} on "
                             f"{'x'.join(map(str, shape))}", "--max-terms", unit="terms")


def _run_symbolic(args, layer, shape, values, options):
    from jacobian_cnn.symbolic.jacobians import SymbolicProblem

    vector = args.op in ("softmax", "logsoftmax")
    if (len(shape) == 4 and spatial_axes(args.op) != 3) or (vector and len(shape) != 1):
        allowed = "N" if vector else "N, HxW or HxWxC"
        raise InvalidValueError(f"--symbolic takes one sample: --input {allowed} for {args.op}, "
                                f"got {args.input!r}")
    if values is None and args.op == "relu":
        raise InvalidValueError("symbolic relu depends on the sign of each input: pass --values")
    if values is None and args.op in ("maxpool1d", "maxpool3d"):
        raise InvalidValueError(f"symbolic {args.op} depends on which entry wins each window: pass "
                                "--values")
    if values is None and args.op == "maxpool" and "winners" not in options:
        raise InvalidValueError("symbolic maxpool depends on which entry wins each window: pass "
                                "--values or --winners")

    if args.what == "hessian":
        from jacobian_cnn.symbolic.hessian import symbolic_hessian_term
        T = symbolic_hessian_term(layer, shape if values is None else values,
                                  wrt=(args.wrt, args.wrt2 or args.wrt), **options)
        print(f"% {T.description}\n{T.to_latex(headers=args.headers)}" if args.latex else T)
        return 0
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
    _print_abbreviations(problem, args.latex)
    return 0


def _print_abbreviations(problem, latex):
    """What batch norm's ``mu``, ``sigma`` and LogSoftmax's ``s`` stand for, one line each."""
    from jacobian_cnn.symbolic.latex import to_latex, to_text

    render = to_latex if latex else to_text
    for symbol, value in problem.abbreviations().items():
        if symbol.name.startswith("sigma"):  # sigma = sqrt(var + eps): show sigma^2 = var + eps
            symbol, value = symbol ** 2, value ** 2
        print(f"{'% ' if latex else ''}where {render(symbol)} = {render(value)}")


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
    if args.op in MORE_OPS and any(args.op.startswith(k) for k in ("conv", "batchnorm", "layernorm")):
        raise InvalidValueError(f"show {args.op} has no option for its parameter values: use --symbolic")
    if options.get("flip_kernel"):
        raise InvalidValueError("--true-convolution is only modelled symbolically; add --symbolic")
    x = np.zeros(shape) if values is None else values
    output = names.output or {"conv": "z", "dense": "z", "avgpool": "p", "maxpool": "p",
                              "flatten": "f", "softmax": "s"}.get(args.op) or (
        "p" if "pool" in args.op else "z" if args.op.startswith("conv") else "y")
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
    if args.what == "hessian":
        return _print_numeric_hessian(args, layer, x, y, letter, names)
    J = layer.jacobian(x, wrt=args.wrt)
    if args.what == "gradient":
        row = np.asarray(J.T @ vec(_grad_values(args, y))).ravel()
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


def _grad_values(args, y):
    """``--grad-values`` (``dJ/dy``) in ``y``'s shape, checked against ``y``."""
    if args.grad_values is None:
        raise InvalidValueError(f"numeric --what {args.what} needs --grad-values (dJ/dy in y's "
                                "shape), or use --symbolic")
    g = parse_rows(args.grad_values, "--grad-values")
    if g.size != y.size:
        raise InvalidValueError(f"--grad-values has {g.size} entries but y has {y.size} {y.shape}")
    return g.ravel() if y.ndim == 1 else g.reshape(y.shape)


def _print_numeric_hessian(args, layer, x, y, letter, names):
    """``sum_k g_k d2 vec(y)_k / d vec(wrt) d vec(wrt2)^T`` for ``g`` = ``--grad-values``."""
    from jacobian_cnn.second_order import hessian_term
    from jacobian_cnn.symbolic.jacobians import entry_names

    second = args.wrt2 or args.wrt
    T = hessian_term(layer, x, vec(_grad_values(args, y)), wrt=(args.wrt, second)).toarray()
    letters = {"input": names.input, "kernel": names.kernel, "weight": names.weight, "bias": "b"}
    shapes = {"input": np.shape(x), **{n: np.shape(p) for n, p in layer.params.items()}}
    rows = entry_names(letter, shapes[args.wrt])
    cols = entry_names(letters.get(second, second), shapes[second])
    cells = [[_number(v) for v in r] for r in T]
    if not args.latex:
        print(f"sum_k g_k d2 vec(y)_k / d vec({letter}) d vec({letters.get(second, second)})^T of "
              f"{layer!r}  ({T.shape[0]}x{T.shape[1]})")
    print(_grid(cells, rows, cols, args.latex, args.headers or not args.latex))
    return 0
