"""Optional test dependencies: skipped locally when missing, a hard failure in CI (CI set)."""

import importlib
import os

import pytest


def require(module, hint=None):
    """Import ``module``; skip the test if it is missing, unless running in CI."""
    if os.environ.get("CI"):
        return importlib.import_module(module)  # ImportError fails the test in CI
    return pytest.importorskip(module, reason=hint or f"{module} not installed")
