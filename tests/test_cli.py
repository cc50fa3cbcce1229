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
    assert err.count("\n") == 1 and "--size: must be an integer, got 'eight'" in err and "--help" in err


def test_closed_pipe_exits_quietly_with_141():
    # 225 x 256 cells, about 450 kB of text: far more than a pipe holds, so the write fails.
    cmd = (f"{sys.executable} -m jacobian_cnn show avgpool --input 16x16 --window 2 --stride 1 "
           "| head -c 10 >/dev/null; echo ${PIPESTATUS[0]}")
    done = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "141" and done.stderr == ""


def test_a_bug_prints_its_traceback_and_exits_3(capsys, monkeypatch):
    from jacobian_cnn.cli import show

    def broken(args):
        raise IndexError("index 0 is out of bounds")

    monkeypatch.setattr(show, "run", broken)
    assert main(["show", "relu", "--input", "2"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "IndexError: index 0 is out of bounds" in err
    assert "this is a bug in jacobian-cnn" in err


def test_debug_shows_the_traceback_of_a_refusal(capsys):
    assert main(["--debug", "demo", "--size", "6"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "--size must be a positive multiple of 4" in err
    assert main(["demo", "--size", "6", "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err
