"""Every catalogued bad or extreme input behaves: a clear error or a right answer, in budget.

The cases are data in ``tests/bad_input/`` (one module per area, each with ``CASES``);
the harness is :mod:`bad_input.harness`.
"""

import importlib
import pkgutil
from concurrent.futures import ThreadPoolExecutor

import bad_input
import pytest
from bad_input.harness import run_case, run_isolated, verdict

AREAS = sorted(m.name for m in pkgutil.iter_modules(bad_input.__path__) if m.name != "harness")
CATALOGUE = [(area, case) for area in AREAS
             for case in importlib.import_module(f"bad_input.{area}").CASES]


def test_ids_are_unique_and_the_catalogue_is_complete():
    ids = [case.id for _, case in CATALOGUE]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert len(ids) >= 150


@pytest.fixture(scope="module")
def isolated_problems():
    """Every isolated case run once, two fresh interpreters at a time (one per core here)."""
    isolated = [(area, case) for area, case in CATALOGUE if case.isolate]
    with ThreadPoolExecutor(max_workers=2) as pool:
        problems = pool.map(lambda item: run_isolated(item[1], item[0]), isolated)
        return {case.id: p for (_, case), p in zip(isolated, problems, strict=True)}


@pytest.mark.parametrize("area, case", [pytest.param(a, c, id=f"{a}:{c.id}") for a, c in CATALOGUE])
def test_bad_input(area, case, request):
    if case.isolate:
        problems = request.getfixturevalue("isolated_problems")[case.id]
    else:
        problems = verdict(case, *run_case(case))
    assert not problems, "; ".join(problems)
