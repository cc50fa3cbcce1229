"""jacobian_cnn.plots on the Agg backend: what is drawn, where the block lines go, and the
message without matplotlib. matplotlib is required in CI (CI set) and skipped locally without it."""

import importlib
import os
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import jacobian_cnn as jc
from jacobian_cnn import plots
from jacobian_cnn.training import EpochRecord, History


@pytest.fixture
def plt():
    if os.environ.get("CI"):
        matplotlib = importlib.import_module("matplotlib")  # ImportError fails the test in CI
    else:
        matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def _block_lines(ax, skip=1):
    """``{"h": [(position, solid), ...], "v": [...]}`` of the block lines (axhline/axvline).

    ``skip=1`` leaves out ``spy``'s marker line, the first line of its axes.
    """
    found = {"h": [], "v": []}
    for line in ax.lines[skip:]:
        x, y = line.get_xdata(), line.get_ydata()
        solid = line.get_linestyle() == "-"
        if x[0] == x[1] and y[0] != y[1]:
            found["v"].append((float(x[0]), solid))
        else:
            found["h"].append((float(y[0]), solid))
    return found


@pytest.mark.parametrize("shape, sizes", [
    ((4, 4, 3, 2), (16, 48)),
    ((4, 4, 1, 2), (16,)),          # one channel: a channel is a sample
    ((4, 4, 3), (16,)),
    ((4, 4, 3, 1), (16,)),
    ((4, 4, 1), ()),
    ((3, 3), ()),
    ((7,), ()),
])
def test_block_sizes(shape, sizes):
    assert plots.block_sizes(shape) == sizes


def test_vec_labels_follow_vec_order():
    assert plots.vec_labels((2, 3), "a", seed_style=True) == ["a11", "a21", "a12", "a22", "a13", "a23"]
    assert plots.vec_labels((1, 1, 2), "x") == ["x[0, 0, 0]", "x[0, 0, 1]"]


def test_spy_draws_every_stored_entry_and_channel_and_sample_lines(plt):
    x = np.random.default_rng(0).normal(size=(5, 5, 2, 3))
    layer = jc.Conv2D(np.ones((3, 3, 2, 4)), padding=1)
    J = layer.jacobian(x)
    ax = plots.spy(J, row_shape=layer.forward(x).shape, col_shape=x.shape)
    marks = ax.lines[0]
    coo = sp.coo_array(J)
    assert len(marks.get_xdata()) == J.nnz
    assert set(zip(marks.get_ydata(), marks.get_xdata(), strict=True)) == set(
        zip(coo.row, coo.col, strict=True))
    lines = _block_lines(ax)
    # rows (5, 5, 4, 3): channels every 25, samples every 100; columns (5, 5, 2, 3): 25 and 50
    assert sorted(p for p, solid in lines["h"] if solid) == [99.5, 199.5]
    assert sorted(p for p, solid in lines["h"] if not solid) == [k * 25 - 0.5 for k in range(1, 12)]
    assert sorted(p for p, solid in lines["v"] if solid) == [49.5, 99.5]
    assert ax.get_xlabel() == "vec(x): 150 columns" and ax.get_ylabel() == "vec(y): 300 rows"


def test_spy_explicit_blocks_dense_input_and_labels(plt):
    J = np.kron(np.eye(3), np.ones((2, 4)))                 # (6, 12), three dense blocks
    fig, ax = plt.subplots()
    assert plots.spy(J, row_blocks=2, col_blocks=[4], ax=ax, title="t") is ax
    assert len(ax.lines[0].get_xdata()) == 24
    lines = _block_lines(ax)
    assert sorted(lines["h"]) == [(1.5, True), (3.5, True)]
    assert sorted(lines["v"]) == [(3.5, True), (7.5, True)]
    assert ax.get_title() == "t"
    plots.spy(np.eye(2), ax=ax, row_labels=["p", "q"], col_labels=["a", "b"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["p", "q"]


def test_spy_leaves_out_block_lines_too_dense_to_see(plt):
    J = sp.eye_array(4 * 4 * 2 * 200, format="csr")            # 200 samples of 2 channels
    lines = _block_lines(plots.spy(J, row_shape=(4, 4, 2, 200), col_shape=(4, 4, 2, 200)))
    assert lines == {"h": [], "v": []}                           # 399 channel, 199 sample lines: none
    lines = _block_lines(plots.spy(J, row_shape=(4, 4, 40, 10), col_shape=(4, 4, 40, 10)))
    assert sorted(p for p, _ in lines["h"]) == [k * 640 - 0.5 for k in range(1, 10)]   # samples only


def test_spy_aspect_is_square_unless_very_elongated(plt):
    assert plots.spy(np.eye(4)).get_aspect() == 1.0
    assert plots.spy(np.ones((2, 40))).get_aspect() == "auto"


def test_heatmap_blanks_entries_that_are_not_stored(plt):
    J = sp.csr_array((np.array([0.0, 2.0, -1.0]), np.array([0, 2, 1]), np.array([0, 2, 3])), shape=(2, 3))
    ax = plots.heatmap(J, annotate=True)
    shown = ax.images[0].get_array()
    assert np.array_equal(np.ma.getmaskarray(shown), [[False, True, False], [True, False, True]])
    assert shown[0, 0] == 0.0 and shown[0, 2] == 2.0 and shown[1, 1] == -1.0   # a stored 0 is drawn
    assert sorted(t.get_text() for t in ax.texts) == ["-1", "0", "2"]
    assert ax.images[0].get_clim() == (-2.0, 2.0)                                # symmetric around 0


def test_heatmap_shared_scale_blocks_and_dense_input(plt):
    ax = plots.heatmap(np.array([[1.0, -0.5]]), vmax=4.0, colorbar=False, row_blocks=1, title="v")
    assert ax.images[0].get_clim() == (-4.0, 4.0)
    assert ax.get_title() == "v"
    pool = jc.AvgPool2D(2)
    x = np.zeros((4, 4, 2))
    ax = plots.heatmap(pool.jacobian(x), row_shape=(2, 2, 2), col_shape=x.shape)
    assert {p for p, _ in _block_lines(ax, skip=0)["h"]} == {3.5}


def test_heatmap_refuses_matrices_too_large_to_draw_dense(plt):
    with pytest.raises(ValueError, match="use spy"):
        plots.heatmap(sp.eye_array(2000, format="csr"))


def test_matrices_must_be_2d(plt):
    with pytest.raises(ValueError, match="2-D"):
        plots.spy(np.zeros(3))


def test_plot_history_draws_losses_and_accuracies(plt):
    records = [EpochRecord(e, 2.0 / (e + 1), 0.3 * e, 2.1 / (e + 1), 0.28 * e, 1.0) for e in range(3)]
    history = History(step_loss=list(np.linspace(2.3, 0.5, 8)), step_accuracy=[0.5] * 8,
                      epochs=records, steps_per_epoch=4)
    fig = plots.plot_history(history)
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.lines) == 3 and len(acc_ax.lines) == 3
    assert list(loss_ax.lines[1].get_xdata()) == [0, 4, 8]      # epoch ends, in steps
    assert list(acc_ax.lines[1].get_ydata()) == [0.0, 0.28, 0.56]
    assert acc_ax.lines[2].get_ydata()[0] == 0.1                  # chance


def test_without_matplotlib_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install matplotlib"):
        plots.spy(np.eye(2))
    with pytest.raises(ImportError, match=r"jacobian_cnn\[plot\]"):
        plots.plot_history(History())
