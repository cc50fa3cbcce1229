"""``jacobian-cnn explore OP ... -o FILE.html``: the interactive explorer page of one operation.

Takes the operation options of ``jacobian-cnn show`` (:func:`add_operation_arguments`)
and writes one self-contained HTML file (:func:`jacobian_cnn.explore`): the input and
output maps and the Jacobian side by side, hover and keyboard focus, the column-/row-major
toggle and, for conv and pooling, controls over a grid of settings. Without
``--values`` the input is ``1, 2, 3, ...`` in ``vec`` order (every entry different, so
max pooling has one winner per window); a conv or dense layer without
``--kernel-values`` / ``--weight-values`` gets the same numbering in its parameter.

The Jacobian (rows x columns) is sized from the shapes before anything is built and
refused over ``--max-entries`` (exit status 2).
"""

from __future__ import annotations

import argparse

import numpy as np

from jacobian_cnn.cli import _options
from jacobian_cnn.cli._options import positive_int
from jacobian_cnn.cli.show import OPS, add_operation_arguments, build_operation, parse_rows
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.explorer.data import MAX_EXPLORE_ENTRIES
from jacobian_cnn.ops.by_name import OP_NAMES, SHORT_NAMES, op_name


def _op(text):
    """An operation ``explore`` draws (``avg`` and ``max`` accepted, as everywhere)."""
    name = op_name(text) if text in (*OP_NAMES, *SHORT_NAMES) else None
    if name in OPS:
        return name
    raise argparse.ArgumentTypeError(f"must be one of {', '.join(OPS)} (avg and max are short for "
                                     f"avgpool and maxpool), got {text!r}")


def add_parser(sub):
    p = sub.add_parser(
        "explore", help="write an interactive page of an operation's Jacobian (self-contained HTML)",
        description="Write one self-contained HTML page (no network) showing the input, the output "
                    "and d vec(y) / d vec(x) side by side: hover or focus an entry, a pixel, a row "
                    "or a column to see what it links; toggle column-/row-major vec order; change "
                    "window, stride, padding and dilation. Example: jacobian-cnn explore avgpool "
                    "--input 3x3 --window 2 --stride 1 -o avgpool.html")
    p.add_argument("op", type=_op, metavar="OP", help=f"the operation: {', '.join(OPS)}")
    add_operation_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE.html", help="the page to write")
    p.add_argument("--grad-values", metavar="ROWS", help="a gradient dL/dy in y's shape: the page "
                                                         "shows it and the row dL/dy @ J")
    p.add_argument("--symbolic", action=argparse.BooleanOptionalAction, default=None,
                   help="name the entries (k_{12}, 1/4; needs SymPy). Default: when SymPy is installed")
    p.add_argument("--no-controls", action="store_true",
                   help="conv/pooling: leave out the grid of settings behind the page's controls")
    p.add_argument("--max-entries", type=positive_int, default=MAX_EXPLORE_ENTRIES, metavar="N",
                   help="largest Jacobian drawn, in cells: rows x columns, of the page and of each "
                        f"setting of its controls (default {MAX_EXPLORE_ENTRIES:,})")
    p.set_defaults(run=run)


def _numbered(shape):
    return np.arange(1.0, _options.size(shape) + 1).reshape(shape, order="F")


def run(args):
    from jacobian_cnn.explorer.page import explore

    layer, shape, values, options = build_operation(args)
    if args.wrt != "input":
        raise InvalidValueError(f"explore shows the Jacobian wrt the input, got --wrt {args.wrt}")
    if options.get("flip_kernel") or "winners" in options:
        raise InvalidValueError("explore shows the layer's own numbers: --true-convolution and "
                                "--winners are for show --symbolic and check")
    n_in, n_out = _options.size(shape), _options.size(_options.output_shape(layer, shape))
    _options.refuse_over(n_out * n_in, args.max_entries, f"the {n_out} x {n_in} Jacobian",
                         "--max-entries", unit="cells")
    if options["params"] == "symbols" and args.op == "conv":
        layer.kernel = _numbered(layer.kernel.shape)
    if options["params"] == "symbols" and args.op == "dense":
        layer.weight = _numbered(layer.weight.shape)
    x = _numbered(shape) if values is None else values
    g = None
    if args.grad_values is not None:
        g = parse_rows(args.grad_values, "--grad-values")
        out = _options.output_shape(layer, shape)
        if g.size != n_out or (len(out) > 1 and g.shape != tuple(out[:2])):
            raise InvalidValueError(f"--grad-values must have y's shape {'x'.join(map(str, out))} "
                                    f"(one channel), got {g.shape[0]} row(s) of {g.shape[1]}")
        g = g.ravel(order="F")  # vec(g); a vector y is one row
    view = explore(layer, x, g=g, symbolic=args.symbolic, controls=not args.no_controls,
                   max_entries=args.max_entries)
    path = view.save(args.output)
    print(f"wrote {path} ({view!r})")
    return 0
