"""``jacobian-cnn show`` and ``jacobian-cnn check`` (through ``jacobian_cnn.cli.main.main``)."""

import io

import pytest
from seed_latex import SEED000_EQ3_VALUES, SEED000_FINAL, SEED004_REP2

from jacobian_cnn.cli import main

sympy = pytest.importorskip("sympy")

from jacobian_cnn.symbolic.latex import parse_matrix  # noqa: E402

AVGPOOL = ["--input", "3x3", "--window", "2", "--stride", "1"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_the_verbs(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "show" in out and "check" in out


def test_show_symbolic_latex_is_seed000_eq3(capsys):
    code, out, _ = run(capsys, "show", "avgpool", *AVGPOOL, "--symbolic", "--latex")
    assert code == 0
    assert out.startswith("% d vec(p) / d vec(a) of AvgPool2D(2x2, stride=1)")
    assert parse_matrix(out) == parse_matrix(SEED000_EQ3_VALUES)
    assert "0.25" not in out and r"\frac{1}{4}" in out


def test_show_symbolic_text_and_headers(capsys):
    code, out, _ = run(capsys, "show", "avgpool", *AVGPOOL, "--symbolic")
    lines = out.splitlines()
    assert code == 0 and "(4x9, 16 nonzeros)" in lines[0]
    assert lines[1].split() == ["|", "a_{11}", "a_{21}", "a_{31}", "a_{12}", "a_{22}", "a_{32}",
                                "a_{13}", "a_{23}", "a_{33}"]
    assert lines[3].split() == ["p_{11}", "|", "1/4", "1/4", "0", "1/4", "1/4", "0", "0", "0", "0"]
    code, out, _ = run(capsys, "show", "avgpool", *AVGPOOL, "--symbolic", "--latex", "--headers")
    assert r"\partial p_{11} & \frac{1}{4}" in out
    assert parse_matrix(out) == parse_matrix(SEED000_EQ3_VALUES)


def test_show_numeric(capsys):
    code, out, _ = run(capsys, "show", "avgpool", *AVGPOOL)
    assert code == 0
    assert out.splitlines()[3].split() == ["p_{11}", "|", "0.25", "0.25", "0", "0.25", "0.25",
                                           "0", "0", "0", "0"]
    # README's worked example: dJ/dP = [[1, 2], [3, 4]] pushed back through the overlapping pool
    code, out, _ = run(capsys, "show", "avgpool", *AVGPOOL, "--what", "gradient",
                       "--grad-values", "1 2; 3 4")
    assert [line.split() for line in out.splitlines()] == [
        ["0.25", "0.75", "0.5"], ["1", "2.5", "1.5"], ["0.75", "1.75", "1"]]


def test_show_symbolic_gradient_and_forward(capsys):
    code, out, _ = run(capsys, "show", "avgpool", *AVGPOOL, "--symbolic", "--what", "gradient")
    assert code == 0
    assert "1/4 (∂J/∂p_{11} + ∂J/∂p_{21} + ∂J/∂p_{12} + ∂J/∂p_{22})" in out
    code, out, _ = run(capsys, "show", "conv", "--input", "3x4", "--kernel", "2x2", "--stride", "1x2",
                       "--padding", "1", "--symbolic", "--latex", "--what", "forward",
                       "--kernel-name", "beta")
    assert code == 0
    assert sympy.expand(parse_matrix(out) - parse_matrix(SEED004_REP2)) == sympy.zeros(4, 3)


def test_show_max_pool_with_values_and_winners(capsys):
    code, out, _ = run(capsys, "show", "maxpool", "--input", "4x4", "--window", "2", "--symbolic",
                       "--what", "gradient", "--winners", "2,1 1,4; 3,1 4,3")
    assert code == 0
    lines = out.splitlines()[1:]
    assert lines[0].split() == ["0", "0", "0", "∂J/∂p_{12}"]          # seed 003: a14 won
    assert lines[1].split() == ["∂J/∂p_{11}", "0", "0", "0"]          # a21 won
    code, out, _ = run(capsys, "show", "maxpool", "--input", "2x2", "--window", "2",
                       "--values", "1 5; 2 3")
    assert code == 0 and out.splitlines()[3].split() == ["p_{11}", "|", "0", "0", "1", "0"]


def test_show_errors_exit_2(capsys):
    code, _, err = run(capsys, "show", "maxpool", "--input", "4x4", "--window", "2")
    assert code == 2 and "--values" in err
    code, _, err = run(capsys, "show", "conv", "--input", "3x3")
    assert code == 2 and "--kernel" in err
    code, _, err = run(capsys, "show", "avgpool", "--input", "3xx3", "--window", "2")
    assert code == 2 and "--input" in err
    code, _, err = run(capsys, "show", "conv", "--input", "3x3", "--kernel", "2x2")
    assert code == 2 and "--kernel-values" in err


def test_check_seed000_final(capsys, tmp_path):
    path = tmp_path / "answer.tex"
    path.write_text(SEED000_FINAL, encoding="utf-8")
    code, out, _ = run(capsys, "check", str(path), "--op", "avgpool", *AVGPOOL)
    assert code == 1
    assert "reshaped row-major" in out and "stray factor 1/4 on 2 terms" in out
    assert "∂J/∂a_{21}: you wrote 1/4 ∂J/∂p_{11} + 1/16 ∂J/∂p_{21}" in out


def test_check_eq3_and_stdin(capsys, tmp_path, monkeypatch):
    path = tmp_path / "eq3.tex"
    path.write_text(SEED000_EQ3_VALUES, encoding="utf-8")
    code, out, _ = run(capsys, "check", str(path), "--op", "avgpool", *AVGPOOL)
    assert code == 0 and "Correct: all 36 entries match." in out
    monkeypatch.setattr("sys.stdin", io.StringIO(SEED000_EQ3_VALUES))
    code, out, _ = run(capsys, "check", "-", "--op", "avgpool", *AVGPOOL, "--which", "1")
    assert code == 0


def test_show_output_checks_clean(capsys, tmp_path):
    _, out, _ = run(capsys, "show", "conv", "--input", "4x4", "--kernel", "3x3", "--symbolic",
                    "--latex", "--what", "gradient", "--wrt", "kernel")
    path = tmp_path / "grad.tex"
    path.write_text(out, encoding="utf-8")
    code, out, _ = run(capsys, "check", str(path), "--op", "conv", "--input", "4x4", "--kernel",
                       "3x3", "--wrt", "kernel")
    assert code == 0, out


def test_check_errors_exit_2(capsys, tmp_path):
    path = tmp_path / "bad.tex"
    path.write_text("\\begin{bmatrix} 1 & \\frac{1}{4 \\\\ 0 & 0 \\end{bmatrix}", encoding="utf-8")
    code, _, err = run(capsys, "check", str(path), "--op", "avgpool", *AVGPOOL)
    assert code == 2 and "unbalanced '{'" in err and "line 1, column" in err
    code, _, err = run(capsys, "check", str(tmp_path / "missing.tex"), "--op", "avgpool", *AVGPOOL)
    assert code == 2 and "No such file" in err
    path.write_text(SEED000_EQ3_VALUES, encoding="utf-8")
    code, _, err = run(capsys, "check", str(path), "--op", "avgpool", *AVGPOOL, "--which", "0")
    assert code == 2 and "1-based" in err
