"""``jacobian-cnn check FILE.tex --op ...``: check a hand derivation against the package.

Reads the last matrix environment of the file (or ``--which``), compares it with
the symbolic result of the operation described by the same options as
``jacobian-cnn show`` and prints :class:`jacobian_cnn.handcheck.check.CheckReport`.
Exit status: 0 if the matrix is right, 1 if not, 2 on an error (unreadable file,
malformed LaTeX with its line and column, a problem or a file over a limit).

Limits: the problem's Jacobian may have at most ``--max-entries`` entries (default
:data:`jacobian_cnn.handcheck.check.MAX_CHECK_ENTRIES`), tested before anything is built; the
file is read up to :data:`jacobian_cnn.symbolic.latex.MAX_INPUT_CHARS` characters and refused
beyond; the reader's other limits are in :mod:`jacobian_cnn.symbolic.latex`.
"""

from __future__ import annotations

import argparse
import sys

from jacobian_cnn.cli.show import OPS, add_operation_arguments, build_operation
from jacobian_cnn.errors import InvalidValueError, SizeLimitError
from jacobian_cnn.symbolic import latex


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def add_parser(sub):
    from jacobian_cnn.handcheck.check import QUANTITIES  # no SymPy needed for the names

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


def run(args):
    from jacobian_cnn.handcheck.check import MAX_CHECK_ENTRIES, check_derivation

    if args.which is not None and args.which < 1:
        raise InvalidValueError(f"--which is 1-based, got {args.which}")
    text = _read(args.file)
    layer, shape, values, options = build_operation(args)
    max_entries = getattr(args, "max_entries", None) or MAX_CHECK_ENTRIES
    report = check_derivation(text, layer, shape if values is None else values, wrt=args.wrt,
                              quantity=args.quantity,
                              which=-1 if args.which is None else args.which - 1,
                              max_entries=max_entries, **options)
    print(report)
    return 0 if report.ok else 1
