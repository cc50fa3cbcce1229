"""The notebooks in notebooks/: committed with their outputs, in sync with notebooks/build.py, and
executed top to bottom by the ``python3`` kernel of this environment, with notebooks/ as the working
directory. Their own asserts (finite differences, the chain composer, torch, accuracy) run with them.

nbclient, nbformat, ipykernel, matplotlib, scikit-learn and torch are required in CI (CI set) and
skipped locally without them.
"""

import importlib
import importlib.util
import os
import sys
from pathlib import Path

import pytest
from optional import require

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
NEEDED = ("nbformat", "nbclient", "ipykernel", "matplotlib", "sklearn", "torch")



@pytest.fixture(scope="module")
def build():
    """notebooks/build.py, which builds each notebook from its cells (notebooks/cells/)."""
    require("nbformat")
    spec = importlib.util.spec_from_file_location("notebook_build", NOTEBOOK_DIR / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def kernel():
    for module in NEEDED:
        require(module)
    from nbclient import NotebookClient

    def run(nb, timeout=300):
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
        return nb

    return run


def _read(path):
    import nbformat

    return nbformat.read(path, as_version=4)


def test_every_built_notebook_is_committed(build):
    assert [p.name for p in NOTEBOOKS] == sorted(build.NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_matches_build_script(path, build):
    committed = [(cell.cell_type, cell.source) for cell in _read(path).cells]
    built = [(cell.cell_type, cell.source) for cell in build.make_notebook(path.name).cells]
    assert committed == built, f"{path.name} differs from notebooks/build.py: run python notebooks/build.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_holds_its_outputs(path, build):
    code = [cell for cell in _read(path).cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), \
        f"{path.name} was not executed top to bottom: run python notebooks/build.py"
    outputs = [out for cell in code for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    assert any("image/png" in out.get("data", {}) for out in outputs)    # it shows its plots


def test_python3_kernel_is_this_environment(kernel):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, sys, jacobian_cnn\nprint(os.path.realpath(sys.executable)); print(os.getcwd())")])
    kernel(nb, timeout=120)
    executable, cwd = nb.cells[0].outputs[0]["text"].split()
    assert executable == os.path.realpath(sys.executable)
    assert cwd == str(NOTEBOOK_DIR)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_top_to_bottom(path, kernel):
    nb = kernel(_read(path))
    errors = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
              if out.output_type == "error"]
    assert not errors
