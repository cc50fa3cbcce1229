"""The ``jacobian-cnn`` command line (also ``python -m jacobian_cnn``); see :mod:`jacobian_cnn.cli.main`."""

from jacobian_cnn.cli.main import build_parser, main

__all__ = ["main", "build_parser"]
