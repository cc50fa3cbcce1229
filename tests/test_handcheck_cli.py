"""The mistake catalogue from the command line: a representative subset of
``handcheck_cases.CASES`` (at least one row per operation and per quantity) run through
``jacobian-cnn check`` gets the same verdict, exit status and words as from the Python API.

Each row's command-line options are written here by hand from its layer and options (the
table below); the written matrix becomes a ``bmatrix``.
"""

import json
from fractions import Fraction

import numpy as np
import pytest

pytest.importorskip("sympy")

from handcheck_cases import CASES  # noqa: E402

from jacobian_cnn.cli import main  # noqa: E402
from jacobian_cnn.handcheck import check_derivation  # noqa: E402

AVG_S1 = ["--op", "avgpool", "--input", "3x3", "--window", "2", "--stride", "1"]
CONV22 = ["--op", "conv", "--kernel", "2x2"]
SEED004 = ["--op", "conv", "--input", "3x4", "--kernel", "2x2", "--stride", "1x2", "--padding", "1",
           "--kernel-name", "beta"]
SEED003 = ["--op", "conv", "--input", "4x4", "--kernel", "3x3", "--wrt", "kernel",
           "--output-name", "h", "--loss-name", "F"]
DENSE = ["--op", "dense", "--input", "3", "--outputs", "2"]
NETWORK = {"layers": [{"op": "conv", "kernel_shape": [2, 2]}, {"op": "avgpool", "window": 2},
                      {"op": "flatten"}, {"op": "dense", "outputs": 1}]}

CLI = {  # case id -> the options that describe its problem ("NET" is the network file)
    "seed000 eq3 values": AVG_S1,                                         # avgpool Jacobian
    "seed000 eq3 labels": [*AVG_S1, "--which", "3"],                      # Jacobian labels
    "seed000 final: reshape error and stray quarters": AVG_S1,            # gradient
    "seed000 row: stray quarters": AVG_S1,                                # gradient row
    "seed004 rep2 forward": SEED004,                                      # conv forward
    "seed004 rep2 with a flipped kernel": SEED004,                        # other convention
    "seed003 kernel gradient": SEED003,                                   # conv kernel gradient
    "kernel flip in the input gradient": [*CONV22, "--input", "3x3"],
    "conv kernel Jacobian, one entry": [*CONV22, "--input", "2x2", "--wrt", "kernel"],
    "bias gradient misses an output": [*CONV22, "--input", "3x3", "--bias", "--wrt", "bias"],
    "forgotten stride": ["--op", "avgpool", "--input", "4x4", "--window", "2"],
    "forgotten stride, outputs kept": ["--op", "avgpool", "--input", "4x4", "--window", "2"],
    "denominator layout": AVG_S1,
    "max-pool tie decided row-major": ["--op", "maxpool", "--input", "2x2", "--window", "2",
                                       "--values", "1 5; 5 2", "--grad-values", "1"],
    "numeric max pool, one entry": ["--op", "maxpool", "--input", "4x4", "--window", "2", "--values",
                                    "1 1 2 4; 5 6 7 8; 3 2 1 0; 1 2 3 4"],
    "z = W x weights": DENSE,                                             # dense Jacobian
    "dense weight gradient, one entry": [*DENSE, "--wrt", "weight"],      # weight gradient
    "row-major flatten": ["--op", "flatten", "--input", "2x3"],
    "softmax Jacobian without its off-diagonal": ["--op", "softmax", "--input", "3",
                                                  "--output-name", "s"],
    "ReLU Jacobian with an inactive unit kept": ["--op", "relu", "--input", "3", "--values", "1 -2 3"],
    "0-based guide matrix with a wrong entry": ["--op", "conv", "--input", "4x4", "--kernel", "3x3",
                                                "--index-base", "0", "--vec-order", "C"],
    "network dJ/dK1": ["--network", "NET", "--input", "3x3", "--wrt", "kernel", "--layer", "1"],
    "two channels, one bmatrix each": ["--op", "maxpool", "--input", "2x2x2", "--window", "2",
                                       "--which", "channels", "--grad-values", "1 2"],
}
EXIT = {"correct": 0, "wrong": 1, "right_under_other_conventions": 4}


def _entry(value):
    if isinstance(value, Fraction):
        sign = "-" if value < 0 else ""
        return rf"{sign}\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def _latex(written):
    if isinstance(written, str):
        return written
    rows = [[_entry(v) for v in row] for row in written]
    return r"\begin{bmatrix}" + r" \\ ".join(" & ".join(row) for row in rows) + r"\end{bmatrix}"


def test_the_subset_covers_every_operation_and_quantity():
    cases = {case.id: case for case in CASES}
    assert set(CLI) <= set(cases)
    ops = {type(lay).__name__ for i in CLI for lay in getattr(cases[i].layer, "layers", [cases[i].layer])}
    assert ops >= {"AvgPool2D", "Conv2D", "MaxPool2D", "Dense", "Flatten", "Softmax", "ReLU"}
    quantities = {cases[i].quantity for i in CLI} | {"gradient_row", "jacobian_labels"}
    assert {"jacobian", "gradient", "forward"} <= quantities
    assert {cases[i].options.get("wrt", "input") for i in CLI} >= {"input", "kernel", "bias", "weight"}


@pytest.mark.parametrize("case", [c for c in CASES if c.id in CLI], ids=lambda c: c.id)
def test_the_catalogue_from_the_command_line(case, capsys, tmp_path):
    api = check_derivation(case.written, case.layer, case.x, **case.options)
    answer = tmp_path / "answer.tex"
    answer.write_text(_latex(case.written), encoding="utf-8")
    net = tmp_path / "net.json"
    net.write_text(json.dumps(NETWORK))
    argv = [str(net) if a == "NET" else a for a in CLI[case.id]]
    if case.id.startswith("two channels"):
        np.save(tmp_path / "x.npy", case.x)
        argv += ["--values-file", str(tmp_path / "x.npy")]
    code = main(["check", str(answer), *argv])
    out = capsys.readouterr().out
    assert code == EXIT[api.verdict], out
    for fragment in case.fragments:
        assert fragment in out
    assert out.strip().splitlines() == str(api).splitlines()  # the same words, line by line
