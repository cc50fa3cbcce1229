"""The ``jacobian-cnn`` command line (also ``python -m jacobian_cnn``).

Each verb lives in its own module under :mod:`jacobian_cnn.commands` with two
functions, ``add_parser(subparsers)`` and ``run(args) -> int``; ``VERBS`` lists them
explicitly. Without a verb, ``demo`` runs. Errors print one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

VERBS = ["demo", "show", "check", "verify", "train"]
"""Verb modules in ``jacobian_cnn.commands``, in the order ``--help`` shows them."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (and exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(
        prog="jacobian-cnn",
        description="Exact sparse Jacobians of CNN layers (numerator layout, column-major vec).",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    for name in VERBS:
        importlib.import_module(f"jacobian_cnn.commands.{name}").add_parser(sub)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv = ["demo", *argv]
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (ValueError, TypeError, MemoryError, ImportError, OSError, NotImplementedError,
            RuntimeError) as exc:
        print(f"jacobian-cnn {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
