"""Shared fixtures. Torch comparisons skip locally without torch but FAIL in CI (CI=true)."""

import importlib
import os

import pytest


@pytest.fixture(scope="session")
def torch_ref():
    """The torch reference module; a hard failure in CI if torch is missing."""
    if os.environ.get("CI"):
        return importlib.import_module("torch_reference")  # ImportError fails the test
    pytest.importorskip("torch", reason="torch not installed (pip install torch==2.13.0)")
    return importlib.import_module("torch_reference")
