"""Build the notebooks from their cell sources (``cells/``) and execute them to store their outputs.

    python notebooks/build.py               # build and execute every notebook
    python notebooks/build.py 01 04         # only the notebooks whose name starts with 01 or 04
    python notebooks/build.py --no-execute  # write the sources without outputs

Edit the cells in ``cells/nNN_<name>.py``, never the .ipynb files: tests/test_notebooks.py
checks that the committed
notebooks hold exactly these sources, and executes every notebook again (kernel "python3",
this folder as the working directory).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load_cells():
    """The ``cells`` package beside this script (it is not installed, and need not be on the path)."""
    spec = importlib.util.spec_from_file_location("notebook_cells", HERE / "cells" / "__init__.py",
                                                  submodule_search_locations=[str(HERE / "cells")])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # the cell modules import their helpers relatively
    spec.loader.exec_module(module)
    return module


NOTEBOOKS = _load_cells().NOTEBOOKS
"""Each notebook's file name and the function returning its cells (``cells/nNN_<name>.py``)."""


def make_notebook(name):
    """The unexecuted notebook ``name`` (an ``nbformat`` node) with deterministic cell ids."""
    import nbformat

    cells = []
    for i, (kind, source) in enumerate(NOTEBOOKS[name]()):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cells.append(make(source, id=f"cell-{i:02d}"))
    return nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })


def execute(nb, timeout=600):
    """Run ``nb`` top to bottom in place with the ``python3`` kernel, in this folder."""
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(HERE)}}).execute()
    return nb


def main(argv=None):
    import nbformat

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="build only notebooks whose name starts so")
    parser.add_argument("--no-execute", action="store_true", help="write the sources without outputs")
    args = parser.parse_args(argv)
    for name in NOTEBOOKS:
        if args.prefixes and not any(name.startswith(p) for p in args.prefixes):
            continue
        nb = make_notebook(name)
        if not args.no_execute:
            execute(nb)
        nbformat.write(nb, HERE / name)
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
