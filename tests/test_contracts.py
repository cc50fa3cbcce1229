"""The import-linter contracts of pyproject.toml name every module of the package, and
every public module is reached the same way.

A forbidden-import contract lists its modules one by one; a module added later and not
listed would be silently unchecked. These tests fail until it is listed.
"""

import pkgutil
from pathlib import Path

import pytest

import jacobian_cnn

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = {c["name"]: c for c in
             tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]}
TOP_LEVEL = {f"jacobian_cnn.{m.name}" for m in pkgutil.iter_modules(jacobian_cnn.__path__)}


def _contract(start):
    return next(c for name, c in CONTRACTS.items() if name.startswith(start))


def test_the_package_has_the_modules_the_contracts_speak_of():
    assert {"jacobian_cnn.vec", "jacobian_cnn.compare", "jacobian_cnn.ops"} <= TOP_LEVEL


def test_vec_is_forbidden_every_other_module():
    forbidden = set(_contract("vec")["forbidden_modules"])
    assert TOP_LEVEL - {"jacobian_cnn.vec", "jacobian_cnn.errors"} == forbidden


def test_every_module_but_compare_is_barred_from_torch_and_jax():
    sources = set(_contract("only compare imports torch or JAX")["source_modules"])
    assert TOP_LEVEL - {"jacobian_cnn.compare"} == sources


def test_every_public_module_is_reached_as_an_attribute():
    """One rule for reaching submodules: ``jc.<name>`` for every public one."""
    # jc.vec is the function vec(a); its module, the conventions, is jacobian_cnn.vec
    public = {name.rsplit(".", 1)[1] for name in TOP_LEVEL} - {"__main__", "vec"}
    for name in sorted(n for n in public if not n.startswith("_")):
        assert getattr(jacobian_cnn, name).__name__ == f"jacobian_cnn.{name}", name
