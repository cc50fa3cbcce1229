"""The bad-input catalogue: each case is data, checked by one generic test.

A :class:`Bad` case names a call, what it must do (raise a given exception whose
message contains every fragment, or succeed and pass ``check``), and a budget of
time and traced memory. ``test_bad_input.py`` runs every case of every area module
in this folder (``CASES`` in ``ops.py``, ``chain.py``, ``cli.py``, ...).

Cases that could crash the interpreter (memory corruption) or allocate without a
guard run in a fresh interpreter (``isolate=True``) under an address-space limit,
so a crash or a blow-up fails that one test instead of killing the run. The child
finds the case by its id in the same module, so isolated cases are written exactly
like the others.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Bad:
    """One catalogued input and what must happen to it.

    Attributes
    ----------
    id : str
        Unique within the catalogue; names the test.
    call : callable
        Runs the input (no arguments).
    raises : exception type or None
        The exception expected, or None when the call must succeed.
    match : tuple of str
        Plain substrings the exception message must contain (case-sensitive).
    check : callable, optional
        For an accepted input: called with the result, asserts what it must be.
    seconds : float
        Wall-clock budget of the call.
    megabytes : float
        Budget of traced peak memory (``tracemalloc``: numpy data included).
    isolate : bool
        Run in a fresh interpreter (crash- or blow-up-prone inputs).
    """

    id: str
    call: Callable[[], object]
    raises: type[BaseException] | None = ValueError
    match: tuple = ()
    check: Callable[[object], None] | None = None
    seconds: float = 2.0
    megabytes: float = 200.0
    isolate: bool = False


class CLIFailed(Exception):
    """A command-line run that exited with a non-zero status; ``str`` holds status and stderr."""

    def __init__(self, status, stdout, stderr):
        super().__init__(f"exit {status}: {stderr}")
        self.status, self.stdout, self.stderr = status, stdout, stderr


@dataclass(frozen=True)
class CLIResult:
    """A command-line run that exited with status 0."""

    stdout: str
    stderr: str


def cli(*argv):
    """A call that runs ``jacobian-cnn ARGV`` in-process: a :class:`CLIResult`, or :class:`CLIFailed`."""

    def run():
        from jacobian_cnn.cli import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(list(argv))
            except SystemExit as exc:  # argparse's usage errors and --help
                status = exc.code if isinstance(exc.code, int) else 2
        if status:
            raise CLIFailed(status, out.getvalue(), err.getvalue())
        return CLIResult(out.getvalue(), err.getvalue())

    return run


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def run_case(case):
    """Run ``case`` in this process; return ``(outcome, message, seconds, megabytes, result)``.

    ``outcome`` is the exception type's name, or ``"ok"``. A call still running after
    ten times its budget is interrupted (``"timeout"``), so a hang fails instead of
    stalling the suite.
    """
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, max(10 * case.seconds, 5.0))
    tracemalloc.start()
    start = time.perf_counter()
    result, outcome, message = None, "ok", ""
    try:
        result = case.call()
    except _Timeout:
        outcome, message = "timeout", f"interrupted after {time.perf_counter() - start:.1f} s"
    except BaseException as exc:  # noqa: BLE001 - the outcome is what is checked
        outcome, message = type(exc).__name__, str(exc)
        result = exc
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return outcome, message, seconds, peak, result


def verdict(case, outcome, message, seconds, peak, result):
    """The list of what is wrong with a run of ``case`` (empty when it behaved)."""
    problems = []
    if case.raises is None:
        if outcome != "ok":
            problems.append(f"expected success, got {outcome}: {message}")
        elif case.check is not None:
            try:
                case.check(result)
            except AssertionError as exc:
                problems.append(f"result check failed: {exc}")
    elif outcome == "ok":
        problems.append(f"expected {case.raises.__name__}, but the call succeeded")
    elif not isinstance(result, case.raises):
        problems.append(f"expected {case.raises.__name__}, got {outcome}: {message}")
    else:
        missing = [f for f in case.match if f not in message]
        if missing:
            problems.append(f"message lacks {missing}: {message!r}")
    if seconds > case.seconds:
        problems.append(f"took {seconds:.2f} s, budget {case.seconds} s")
    if peak > case.megabytes:
        problems.append(f"traced peak {peak:.0f} MB, budget {case.megabytes} MB")
    return problems


ADDRESS_SPACE = 6 * 2**30
"""Address-space limit of an isolated case's interpreter (imports need about 1.5 GiB)."""


def run_isolated(case, module):
    """Run ``case`` (defined in ``module``, an area module of this folder) in a fresh interpreter."""
    code = ("import resource, sys; "
            f"resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE}, {ADDRESS_SPACE})); "
            "sys.path[:0] = [sys.argv[1], sys.argv[2]]; "
            "from bad_input.harness import child_main; child_main(sys.argv[3], sys.argv[4])")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONFAULTHANDLER="1")
    proc = subprocess.run(
        [sys.executable, "-c", code, str(HERE.parent.parent), str(HERE.parent), module, case.id],
        capture_output=True, text=True, env=env,
        timeout=max(20 * case.seconds, 30.0),
    )
    if proc.returncode != 0:
        return [f"the interpreter died (status {proc.returncode}): {proc.stderr[-2000:]}"]
    last = proc.stdout.strip().splitlines()[-1]
    return json.loads(last)


def child_main(module, case_id):
    """Entry point of an isolated run: print the list of problems as JSON."""
    import importlib

    cases = {c.id: c for c in importlib.import_module(f"bad_input.{module}").CASES}
    case = cases[case_id]
    print(json.dumps(verdict(case, *run_case(case))))
    sys.stdout.flush()
