"""The command line: every bad option is one line naming the option, exit 2; sizes refused first.

Expected numbers in the accepted cases are hand computations (a 2x2 average pool
of a 3x3 input with stride 1 has the 4x9 Jacobian with 1/4 in the four taps of
each window; the max of window [[1, 5], [2, 3]] is the entry 5 at vec index 2).
"""

import os
import tempfile

from bad_input.harness import Bad, CLIFailed, cli

E2 = "exit 2"
AVG = ("show", "avgpool", "--input", "3x3", "--window", "2", "--stride", "1")
_PLOT_DIR = tempfile.mkdtemp(prefix="jcnn-plot-")


def _grid_is_avgpool(result):
    row = result.stdout.splitlines()[3].split()
    assert row == ["p_{11}", "|", "0.25", "0.25", "0", "0.25", "0.25", "0", "0", "0", "0"], row


def _max_winner(result):
    assert result.stdout.splitlines()[3].split() == ["p_{11}", "|", "0", "0", "1", "0"]


def _plot_in_dir(result):
    path = os.path.join(_PLOT_DIR, "training_curves.png")
    assert os.path.isfile(path) and f"saved to {path}" in result.stdout, result.stdout


def bad(id_, *argv, match=(), **kw):
    return Bad(id_, cli(*argv), CLIFailed, (E2, *match), **kw)


CASES = [
    # show: shapes and sizes
    bad("cli show --input 3x", "show", "avgpool", "--input", "3x", "--window", "2", match=("--input", "'3x'", "positive")),
    bad("cli show --input 0x3", "show", "avgpool", "--input", "0x3", "--window", "2", match=("--input", "'0x3'", "positive")),
    bad("cli show --input -3", "show", "relu", "--input", "-3", match=("--input", "positive")),
    bad("cli show --input huge", "show", "avgpool", "--input", "99999999999x9", "--window", "2",
        match=("--input", "899,999,999,991", "100,000", "--max-entries")),
    bad("cli show --window 0", *AVG[:4], "--window", "0", match=("--window", "'0'", "positive")),
    bad("cli show --window 2x2x2", *AVG[:4], "--window", "2x2x2", match=("--window", "'2x2x2'", "AxB")),
    bad("cli show --kernel abc", "show", "conv", "--input", "4x4", "--kernel", "abc", "--symbolic",
        match=("--kernel", "'abc'")),
    bad("cli show --padding -1", *AVG, "--padding", "-1", match=("--padding", "'-1'", "non-negative")),
    bad("cli show --channels-out 0", "show", "conv", "--input", "4x4", "--kernel", "2", "--channels-out", "0",
        match=("--channels-out", "'0'", "positive integer")),
    bad("cli show --channels-out 1e9", "show", "conv", "--input", "4x4", "--kernel", "2", "--symbolic",
        "--channels-out", "1e9", match=("kernel", "4,000,000,000", "--max-entries")),
    bad("cli show --outputs -2", "show", "dense", "--input", "3", "--outputs", "-2", "--symbolic",
        match=("--outputs", "'-2'")),
    bad("cli show --values count", *AVG, "--values", "1,2", match=("--values", "--input 3x3", "9 entries")),
    bad("cli show --values nan", "show", "relu", "--input", "2", "--values", "1 nan", match=("--values", "finite", "nan")),
    bad("cli show --grad-values inf", "show", "relu", "--input", "2", "--values", "1 2", "--what", "gradient",
        "--grad-values", "1 inf", match=("--grad-values", "finite", "inf")),
    bad("cli show --wrt kernel of a pool", *AVG, "--wrt", "kernel", match=("--wrt", "'kernel'", "input")),
    bad("cli show --winners count", "show", "maxpool", "--input", "4x4", "--window", "2", "--symbolic",
        "--winners", "1,1", match=("--winners", "2 row(s) of 2", "got 1 row(s) of 1")),
    bad("cli show unknown op", "show", "pool", "--input", "3x3", match=("op", "'pool'", "avgpool")),
    bad("cli show --input-name", "show", "relu", "--input", "2", "--values", "1 2", "--input-name", "a b",
        match=("--input-name", "'a b'")),
    bad("cli show 120x120 grid", "show", "avgpool", "--input", "120x120", "--window", "2", "--stride", "1",
        match=("14161 x 14400", "203,918,400", "100,000", "--max-entries"), seconds=1.0),
    bad("cli show 120x120 symbolic", "show", "avgpool", "--input", "120x120", "--window", "2", "--stride", "1",
        "--symbolic", match=("203,918,400", "--max-entries"), seconds=1.0),
    bad("cli show softmax 5000 symbolic", "show", "softmax", "--input", "5000", "--symbolic",
        match=("25,000,000", "--max-entries"), seconds=1.0),
    bad("cli show softmax 5000 symbolic gradient", "show", "softmax", "--input", "5000", "--symbolic",
        "--what", "gradient", match=("25,000,000", "20,000", "--max-terms"), seconds=1.0),
    bad("cli show --max-entries nan", *AVG, "--max-entries", "nan", match=("--max-entries", "'nan'")),
    Bad("cli show numeric avgpool", cli(*AVG), None, check=_grid_is_avgpool),
    Bad("cli show maxpool values", cli("show", "maxpool", "--input", "2x2", "--window", "2",
                                       "--values", "1 5; 2 3"), None, check=_max_winner),
    bad("cli show symbolic relu without values", "show", "relu", "--input", "2", "--symbolic",
        match=("relu", "--values")),
    bad("cli show symbolic batch", "show", "avgpool", "--input", "2x2x2x2", "--window", "2", "--symbolic",
        match=("--symbolic", "--input", "'2x2x2x2'", "HxWxC")),
    bad("cli show --stride on relu", "show", "relu", "--input", "2", "--stride", "2", match=("--stride", "relu")),
    # verify
    bad("cli verify --fd-tolerance nan", "verify", "--no-builtin", "-c", "relu", "x=3", "--fd-tolerance", "nan",
        match=("--fd-tolerance", "'nan'", "finite")),
    bad("cli verify --fd-tolerance -1", "verify", "--no-builtin", "-c", "relu", "x=3", "--fd-tolerance", "-1",
        match=("--fd-tolerance", "'-1'", ">= 0")),
    bad("cli verify zero width", "verify", "--no-builtin", "-c", "avg", "x=4x0x1x1", "window=2",
        match=("-c avg", "x must be", "4x0x1x1", "N, last, may be 0"), isolate=True, seconds=10.0),
    bad("cli verify x=3x", "verify", "--no-builtin", "-c", "conv", "x=3x", "kernel=2x2x1x1", match=("-c conv", "x must", "'3x'")),
    bad("cli verify unknown key", "verify", "--no-builtin", "-c", "avg", "x=4x4", "window=2", "foo=3",
        match=("-c avg", "foo", "allowed", "window")),
    bad("cli verify kernel list", "verify", "--no-builtin", "-c", "conv", "x=4x4", "kernel=[1,2]",
        match=("-c conv", "kernel", "[1, 2]", "KHxKWxC_INxC_OUT")),
    bad("cli verify n_out 0", "verify", "--no-builtin", "-c", "dense", "x=4", "n_out=0", match=("-c dense", "n_out", "got 0")),
    bad("cli verify chain pool", "verify", "--no-builtin", "-c", "chain", "x=8x8x1x1", "pool=foo",
        match=("-c chain", "pool", "'foo'")),
    bad("cli verify channel mismatch", "verify", "--no-builtin", "-c", "conv", "x=4x4x3", "kernel=2x2x1x1",
        match=("-c conv", "3 channels", "C_in")),
    bad("cli verify --seed -1", "verify", "--seed", "-1", match=("--seed", "'-1'", "non-negative")),
    bad("cli verify dense Jacobian", "verify", "--no-builtin", "-c", "avg", "x=1000x1000", "window=2",
        match=("250,000,000,000", "1,000,000", "--max-entries"), seconds=1.0),
    bad("cli verify finite differences", "verify", "--no-builtin", "-c", "relu", "x=100", "--max-fd-work", "1000",
        match=("finite differences", "200 forward passes", "40,000", "--max-fd-work")),
    # demo and train
    bad("cli demo --size 400", "demo", "--size", "400", match=("finite differences", "--max-fd-work"), seconds=1.0),
    bad("cli demo --tolerance nan", "demo", "--tolerance", "nan", match=("--tolerance", "'nan'")),
    bad("cli demo --batch 0", "demo", "--batch", "0", match=("--batch", "'0'", "positive")),
    bad("cli train --channels huge", "train", "--channels", "100000", "100000",
        match=("--channels 100000 100000", "bytes", "--max-bytes"), seconds=1.0),
    bad("cli train --tolerance nan", "train", "--tolerance", "nan", match=("--tolerance", "'nan'")),
    bad("cli train --test-fraction 2", "train", "--test-fraction", "2", match=("--test-fraction", "'2'", "(0, 1)")),
    bad("cli train --plot bad extension", "train", "--plot", os.path.join(_PLOT_DIR, "c.xyz"),
        match=("--plot", "c.xyz", ".png"), seconds=20.0),
    Bad("cli train --plot DIR", cli("train", "--epochs", "1", "--test-fraction", "0.9", "--plot", _PLOT_DIR), None,
        check=_plot_in_dir,
        seconds=60.0),
]
