"""The hand checker on derivations published by others (``handcheck_corpus.CORPUS``).

Each is accepted with its conventions declared; with nothing declared, exactly its conventions
are named in one line with the options that declare them, never a list of wrong entries.
"""

import pytest

pytest.importorskip("sympy")

from handcheck_corpus import CORPUS  # noqa: E402

from jacobian_cnn.handcheck import Conventions, check_derivation  # noqa: E402


def _check(item, **conventions):
    return check_derivation(item.written, item.layer, item.x, **item.options, **conventions)


@pytest.mark.parametrize("item", CORPUS, ids=[item.id for item in CORPUS])
def test_accepted_with_its_conventions_declared(item):
    report = _check(item, **item.conventions)
    assert report.verdict == "correct", str(report)
    text = str(report)
    assert text.endswith(f"Correct: all {report.n_entries} entries match.")
    for name, value in item.conventions.items():
        assert Conventions(**{name: value}).describe([name]) in text  # stated as read


@pytest.mark.parametrize("item", CORPUS, ids=[item.id for item in CORPUS])
def test_its_convention_is_named_when_nothing_is_declared(item):
    report = _check(item)
    assert not report.diffs and report.n_matching == report.n_entries, str(report)
    named = item.names_when_undeclared
    if not named:  # this package's conventions read it the same
        assert report.verdict == "correct"
        return
    assert report.verdict == "right_under_other_conventions", str(report)
    assert set(report.detected) == set(named)
    line = report.detected_line
    assert line in str(report) and "\n" not in line
    for name in named:
        assert f"--{name.replace('_', '-')} {item.conventions[name]}" in line


def test_the_corpus_is_large_and_cited():
    assert len(CORPUS) >= 12
    assert len({item.id for item in CORPUS}) == len(CORPUS)
    assert all(item.url.startswith("https://") for item in CORPUS)
    assert all(item.verified for item in CORPUS)  # how each was checked, or "not re-checked"


# ----------------------------------------------------------------------------- from the command line

def _run(capsys, tmp_path, text, *argv):
    from jacobian_cnn.cli import main

    path = tmp_path / "answer.tex"
    path.write_text(text, encoding="utf-8")
    code = main(["check", str(path), *argv])
    return code, capsys.readouterr().out


def test_cli_declares_and_detects_the_convolution_guides_conventions(capsys, tmp_path):
    item = next(i for i in CORPUS if i.id == "dumoulin-visin C")
    op = ["--op", "conv", "--input", "4x4", "--kernel", "3x3"]
    code, out = _run(capsys, tmp_path, item.written, *op)
    assert code == 4  # right only under other conventions
    assert "declare it with --index-base 0 --vec-order C" in out
    assert "Names: w read as the kernel k" in out
    code, out = _run(capsys, tmp_path, item.written, *op, "--index-base", "0", "--vec-order", "C")
    assert code == 0 and "Conventions: 0-based indices, row-major vec order" in out


def test_cli_numeric_max_pool_gradient_with_grad_values(capsys, tmp_path):
    text = r"\begin{bmatrix} 0 & 0 & 0 \\ 0 & -0.6 & 0 \\ 0.2 & 0.3 & 0 \end{bmatrix}"
    op = ["--op", "maxpool", "--input", "3x3", "--window", "2", "--stride", "1",
          "--values", "3 4 2; 1 5 0; 8 6 4", "--grad-values", "-1.4 0.8; 0.2 0.3"]
    code, out = _run(capsys, tmp_path, text, *op)
    assert code == 0 and "Correct: all 9 entries match." in out
    wrong = text.replace("-0.6", "-1.4")  # only one of the two deltas kept
    code, out = _run(capsys, tmp_path, wrong, *op)
    assert code == 1 and "∂J/∂a_{22}: you wrote -7/5, correct is -3/5" in out


def test_cli_weight_orientation_transposes_weight_values(capsys, tmp_path):
    # z = W x with W = [[1, 2, 3], [4, 5, 6]] (n_out x n_in) and x = (1, 1, 1): z = (6, 15)
    op = ["--op", "dense", "--input", "3", "--outputs", "2", "--values", "1 1 1",
          "--weight-values", "1 2 3; 4 5 6", "--weight-orientation", "out_in"]
    code, out = _run(capsys, tmp_path, r"\begin{bmatrix} 6 \\ 15 \end{bmatrix}", *op)
    assert code == 0, out


# ----------------------------------------------------------------------------- in a notebook

def test_notebook_display_colours_every_entry(capsys):
    item = next(i for i in CORPUS if i.id == "hjorth-jensen W'")
    report = _check(item)
    html = report._repr_html_()
    # the 16 nonzero entries of W' (4 per row) are right only read 0-based and row-major
    assert html.count('class="jc-convention"') == 16 and 'class="jc-wrong"' not in html
    assert "w_{00}" in html and "Right under other conventions" in html
    assert report._repr_markdown_().startswith("**Right under other conventions**")
    right = _check(item, **item.conventions)
    assert right._repr_html_().count('class="jc-right"') == 36
    assert right._repr_latex_().count(r"\color{green}") == 36


def test_jc_check_is_the_hand_checker():
    import jacobian_cnn as jc

    item = next(i for i in CORPUS if i.id == "max-pool practice problem")
    assert jc.check is check_derivation and "check" in dir(jc)
    assert jc.check(item.written, item.layer, item.x).verdict == "correct"


def test_cli_values_from_npy_and_csv_files(capsys, tmp_path):
    import numpy as np
    from handcheck_corpus import COUNTING_4X4

    np.save(tmp_path / "x.npy", COUNTING_4X4)
    np.savetxt(tmp_path / "x.csv", COUNTING_4X4, delimiter=",")
    op = ["--op", "maxpool", "--input", "4x4", "--window", "2"]
    answer = r"\begin{bmatrix} 6 & 8 \\ 14 & 16 \end{bmatrix}"  # the practice problem's output
    for name in ("x.npy", "x.csv"):
        code, out = _run(capsys, tmp_path, answer, *op, "--values-file", str(tmp_path / name))
        assert code == 0, out
    # two channels from a .npy file: channel 1 [[1, 5], [3, 2]] peaks at a_{12} (vec position 3
    # of a_111 a_211 a_121 a_221 a_112 ...), channel 2 [[7, 0], [0, 1]] at a_{11} (position 5)
    np.save(tmp_path / "c.npy", np.dstack([[[1, 5], [3, 2]], [[7, 0], [0, 1]]]).astype(float))
    jacobian = r"\begin{bmatrix} 0&0&1&0&0&0&0&0 \\ 0&0&0&0&1&0&0&0 \end{bmatrix}"
    code, out = _run(capsys, tmp_path, jacobian, "--op", "maxpool", "--input", "2x2x2",
                     "--window", "2", "--values-file", str(tmp_path / "c.npy"))
    assert code == 0, out
    code = __import__("jacobian_cnn.cli", fromlist=["main"]).main(
        ["check", str(tmp_path / "answer.tex"), *op, "--values-file", str(tmp_path / "c.npy")])
    assert code == 2 and "holds an array of shape (2, 2, 2), but --input is 4x4" in capsys.readouterr().err
