"""Shared fixtures. Optional backends skip locally when missing but FAIL in CI (CI set)."""

import importlib

import pytest
from optional import require


@pytest.fixture(scope="session")
def torch_ref():
    """The torch reference module (tests/torch_reference.py)."""
    require("torch", "torch not installed (pip install torch==2.13.0)")
    return importlib.import_module("torch_reference")


@pytest.fixture(scope="session")
def jax_module():
    """JAX."""
    return require("jax", "jax not installed (pip install jax)")
