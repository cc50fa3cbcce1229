"""The command line: the demo (main job) and error handling."""

import re
import subprocess
import sys

import pytest

from jacobian_cnn.cli import main


def test_demo_prints_every_step_and_passes(capsys):
    assert main(["demo", "--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert "g <- g @ J" in out
    # one trace line per (layer, wrt): 9 layers, 3 with two parameters each
    steps = re.findall(r"^\s+\d+\s+\S.*\(\d+, \d+\)\s+\d+\s+\(\d+, \d+\)$", out, flags=re.M)
    assert len(steps) == 9 + 6
    worst = float(re.search(r"largest deviation from finite differences: (\S+)", out).group(1))
    assert worst < 1e-6


def test_demo_is_the_default_verb(capsys):
    assert main([]) == 0
    assert "largest deviation from finite differences" in capsys.readouterr().out


def test_errors_are_one_line_with_exit_code_2(capsys):
    assert main(["demo", "--size", "6"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--size must be a positive multiple of 4" in err


def test_python_dash_m_runs():
    done = subprocess.run([sys.executable, "-m", "jacobian_cnn", "--help"], capture_output=True,
                          text=True, check=True)
    assert "demo" in done.stdout


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--size", "eight"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid int value" in err and "--help" in err
