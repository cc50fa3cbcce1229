"""The ``jacobian-cnn`` command line (also ``python -m jacobian_cnn``).

Each verb lives in its own module under :mod:`jacobian_cnn.cli` with two
functions, ``add_parser(subparsers)`` and ``run(args) -> int``; ``VERBS`` lists them
explicitly. Without a verb, ``demo`` runs.

Exit status
-----------
0
    Done; every check the command made agreed.
1
    A check the command makes found a disagreement (``verify``, ``check``,
    ``demo``'s tolerance, ``train --min-accuracy`` / ``--check-torch``).
2
    An error in what was asked: a usage error, an input the package refuses (a
    :class:`~jacobian_cnn.errors.JacobianCNNError`, including every size limit),
    a file that cannot be read or written, a missing optional dependency. One line
    on standard error.
4
    ``check`` only: the written matrix is wrong as declared but right under other
    conventions, which the report names with the options that declare them.
3
    A bug in jacobian-cnn: any other exception. Its traceback is printed with a
    request to report it.
130
    Interrupted (Ctrl-C).
141
    Standard output was closed early (``jacobian-cnn show ... | head``): the
    output stops quietly, with the status of a process ended by SIGPIPE.

``--debug`` (before or after the verb) prints the traceback of any error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from jacobian_cnn import __version__
from jacobian_cnn.errors import JacobianCNNError

VERBS = ["demo", "show", "check", "verify", "train", "explore"]
"""Verb modules in ``jacobian_cnn.cli``, in the order ``--help`` shows them."""

EXIT_OK, EXIT_DISAGREE, EXIT_ERROR, EXIT_BUG, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 3, 130, 141

BUG_HINT = "this is a bug in jacobian-cnn; please report it with the command above"

OPTIONAL = {"sympy": "symbolic", "torch": "torch", "jax": "jax", "jaxlib": "jax",
            "matplotlib": "plot", "sklearn": "train"}
"""Optional dependencies by top-level module, with the extra that installs each."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (and exit status 2)."""

    def error(self, message):
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="print the traceback of any error")
    parser = _Parser(
        prog="jacobian-cnn", parents=[debug],
        description="Exact sparse Jacobians of CNN layers (numerator layout, column-major vec).",
        epilog="exit status: 0 done, 1 a check found a disagreement, 2 an error in what was "
               "asked (one line on stderr), 3 a bug in jacobian-cnn (traceback), 4 (check) right "
               "only under other conventions, 130 "
               "interrupted, 141 output closed early (| head)")
    parser.add_argument("--version", action="version", version=f"jacobian-cnn {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    original = sub.add_parser

    def add_parser(name, **kwargs):  # every verb takes --debug too
        return original(name, parents=[debug, *kwargs.pop("parents", [])], **kwargs)

    sub.add_parser = add_parser
    for name in VERBS:
        importlib.import_module(f"jacobian_cnn.cli.{name}").add_parser(sub)
    return parser


def _with_default_verb(argv):
    """Insert ``demo`` when no verb is given (``jacobian-cnn --debug --size 8``)."""
    lead = 0
    while lead < len(argv) and argv[lead] == "--debug":
        lead += 1
    rest = argv[lead:]
    if not rest or rest[0].startswith("-") and rest[0] not in ("-h", "--help", "--version"):
        return [*argv[:lead], "demo", *rest]
    return argv


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(_with_default_verb(argv))
    debug = getattr(args, "debug", False)
    try:
        status = int(args.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at the interpreter's exit
        return status
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (JacobianCNNError, OSError, ImportError) as exc:
        message = _missing_extra(exc) if isinstance(exc, ImportError) else str(exc)
        if message is None:
            return _bug(args)
        if debug:
            traceback.print_exc()
        print(f"jacobian-cnn {args.verb}: error: {' '.join(message.split())}", file=sys.stderr)
        return EXIT_ERROR
    except Exception:  # noqa: BLE001 - anything else is a bug: show it, do not hide it
        return _bug(args)


def _bug(args):
    traceback.print_exc()
    print(f"jacobian-cnn {args.verb}: {BUG_HINT}", file=sys.stderr)
    return EXIT_BUG


def _missing_extra(exc):
    """The one-line message of a missing optional dependency, or ``None`` (then it is a bug)."""
    if exc.name is None:  # raised by the package itself, with its install hint
        return str(exc) or type(exc).__name__
    top = exc.name.split(".")[0]
    if top not in OPTIONAL:
        return None
    return f"{exc}; install it with: pip install 'jacobian-cnn[{OPTIONAL[top]}]'"


def _silence_stdout():
    """After a broken pipe: point stdout at devnull so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests)
        pass


if __name__ == "__main__":
    sys.exit(main())
