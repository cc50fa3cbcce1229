"""``jacobian-cnn check FILE.tex --op ...``: check a hand derivation against the package.

Reads the last matrix environment of the file (or ``--which``), compares it with
the symbolic result of the operation described by the same options as
``jacobian-cnn show`` and prints :class:`jacobian_cnn.handcheck.CheckReport`.
Exit status: 0 if the matrix is right, 1 if not, 2 on an error (unreadable file,
malformed LaTeX with its line and column).
"""

from __future__ import annotations

import sys

from ..errors import InvalidValueError
from .show import OPS, add_operation_arguments, build_operation


def add_parser(sub):
    from ..handcheck import QUANTITIES  # no SymPy needed for the names

    p = sub.add_parser(
        "check", help="check a hand-derived matrix (LaTeX) entry by entry and name the mistakes",
        description="Parse the last bmatrix/pmatrix of FILE (a restricted LaTeX grammar, never "
                    "evaluated), compare it with the package's result for --op and report "
                    "every wrong entry by meaning, plus systematic mistakes: row-major "
                    "reshapes, denominator layout, flipped kernels, shifted windows, overlapping "
                    "windows not summed, stray factors. Example: jacobian-cnn check answer.tex "
                    "--op avgpool --input 3x3 --window 2 --stride 1")
    p.add_argument("file", help="a .tex file ('-' reads standard input)")
    p.add_argument("--op", required=True, choices=OPS, help="the operation that was differentiated")
    add_operation_arguments(p)
    p.add_argument("--quantity", choices=("auto", *QUANTITIES), default="auto",
                   help="what the matrix is (default: decided from its symbols and shape)")
    p.add_argument("--which", type=int, default=None, metavar="N",
                   help="check the N-th matrix of the file (1-based; default: the last)")
    p.set_defaults(run=run)


def run(args):
    from ..handcheck import check_derivation

    if args.which is not None and args.which < 1:
        raise InvalidValueError(f"--which is 1-based, got {args.which}")
    if args.file == "-":
        text = sys.stdin.read()
    else:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    layer, shape, values, options = build_operation(args)
    report = check_derivation(text, layer, shape if values is None else values, wrt=args.wrt,
                              quantity=args.quantity,
                              which=-1 if args.which is None else args.which - 1, **options)
    print(report)
    return 0 if report.ok else 1
