"""The explorer's data and page (no browser; tests/test_explore_browser.py drives Chromium).

Every highlight set the page uses comes from a panel's ``entries``; they are held here to
``layer.jacobian(x)``'s stored entries, and the window layers' receptive fields to a loop
over the window's taps written from the definition (tests/reference.py's brute force).
"""

import html
import json
import re

import numpy as np
import pytest
import reference
from optional import require

import jacobian_cnn as jc
from jacobian_cnn.cli import main
from jacobian_cnn.errors import InvalidValueError, SizeLimitError
from jacobian_cnn.explorer.data import chain_panels, layer_panel
from jacobian_cnn.explorer.variants import geometry_variants

X44 = np.array([[1., 5, 2, 0], [3, 4, 8, 1], [0, 2, 9, 7], [6, 1, 3, 2]])
KERNEL = np.array([[1., -2], [3, 4]])

LAYERS = {
    "conv_stride2_pad1": (jc.Conv2D(KERNEL, stride=2, padding=1), X44),
    "conv_dilated_2ch": (jc.Conv2D(np.arange(1., 17.).reshape(2, 2, 2, 2), dilation=2),
                         np.arange(32.).reshape(4, 4, 2)),
    "avgpool_overlap": (jc.AvgPool2D(2, stride=1), np.arange(1., 10.).reshape(3, 3)),
    "avgpool_pad": (jc.AvgPool2D(3, stride=2, padding=1, count_include_pad=False), X44),
    "maxpool_overlap": (jc.MaxPool2D(2, stride=1), X44),
    "dense": (jc.Dense(np.arange(6.).reshape(3, 2) - 2), np.array([1., -2, 3])),
    "relu": (jc.ReLU(), X44 - 4),
    "softmax": (jc.Softmax(), np.array([0.5, -1., 2.])),
    "flatten_C": (jc.Flatten("C"), np.arange(6.).reshape(2, 3)),
}


def _stored(J):
    coo = J.tocoo()
    return {(int(i), int(j)): float(v) for i, j, v in zip(coo.row, coo.col, coo.data, strict=True)}


@pytest.mark.parametrize("name", LAYERS)
def test_entries_are_the_jacobians_stored_entries(name):
    layer, x = LAYERS[name]
    panel = layer_panel(layer, x, symbolic=False)
    got = {(i, j): v for i, j, v, _ in panel["entries"]}
    assert got == _stored(layer.jacobian(x))
    assert [t for *_, t in panel["entries"]] == [f"{v:.6g}" if v else "0" for *_, v, _ in panel["entries"]]
    assert panel["input"]["values"] == list(np.asarray(x, float).ravel(order="F"))
    assert panel["output"]["values"] == list(np.asarray(layer.forward(x), float).ravel(order="F"))


def _window_reads(o_row, o_col, H, W, window, stride, pad, dilation):
    """Input (row, col) pairs that output (o_row, o_col) reads: the definition, tap by tap."""
    return {(o_row * stride - pad + r * dilation, o_col * stride - pad + c * dilation)
            for r in range(window) for c in range(window)} & {(i, j) for i in range(H) for j in range(W)}


@pytest.mark.parametrize("window,stride,pad,dilation", [(2, 2, 1, 1), (2, 1, 0, 1), (3, 2, 1, 1),
                                                        (2, 1, 1, 2)])
def test_receptive_fields_follow_the_window_definition(window, stride, pad, dilation):
    H, W = 5, 4
    x = np.arange(1., H * W + 1).reshape(H, W)
    for layer in (jc.Conv2D(np.ones((window, window)), stride=stride, padding=pad, dilation=dilation),
                  jc.AvgPool2D(window, stride=stride, padding=pad, dilation=dilation)):
        panel = layer_panel(layer, x, symbolic=False)
        oh, ow = panel["output"]["shape"]
        fields = {}
        for i, j, _, _ in panel["entries"]:
            fields.setdefault(i, set()).add((j % H, j // H))  # vec index -> (row, col), column-major
        for o_col in range(ow):
            for o_row in range(oh):
                expected = _window_reads(o_row, o_col, H, W, window, stride, pad, dilation)
                assert fields.get(o_row + oh * o_col, set()) == expected


def test_values_agree_with_the_brute_force_reference():
    layer, x = LAYERS["conv_stride2_pad1"]
    dense = np.zeros((9, 16))
    for i, j, v, _ in layer_panel(layer, x, symbolic=False)["entries"]:
        dense[i, j] = v
    expected = reference.conv2d_jacobians(x, KERNEL, stride=(2, 2), padding=((1, 1), (1, 1)))["input"]
    np.testing.assert_array_equal(dense, expected)


def test_labels_are_one_based_in_vec_order_and_the_row_major_permutation():
    panel = layer_panel(jc.AvgPool2D(2, stride=1), np.arange(6.).reshape(2, 3), symbolic=False)
    assert panel["input"]["labels"] == ["a_{11}", "a_{21}", "a_{12}", "a_{22}", "a_{13}", "a_{23}"]
    assert panel["output"]["labels"] == ["p_{11}", "p_{12}"]
    # row-major reading a11 a12 a13 a21 a22 a23: their column-major (vec) indices
    assert panel["input"]["rowmajor"] == [0, 2, 4, 1, 3, 5]
    assert panel["input"]["grid"] == [2, 3, 1]
    vector = layer_panel(jc.Softmax(), np.zeros(3), symbolic=False)
    assert vector["input"]["labels"] == ["a_{1}", "a_{2}", "a_{3}"] and vector["output"]["name"] == "s"
    assert vector["input"]["grid"] == [3, 1, 1]


def test_maxpool_switches_and_their_rows():
    layer, x = LAYERS["maxpool_overlap"]
    panel = layer_panel(layer, x, symbolic=False)
    switches = np.asarray(layer.switches(x)).ravel(order="F")
    assert panel["switches"] == list(switches)
    # each output copies the largest value of its window: the one entry of its row
    windows = [x[r:r + 2, c:c + 2] for c in range(3) for r in range(3)]
    assert [panel["input"]["values"][s] for s in panel["switches"]] == [w.max() for w in windows]
    assert {(i, j) for i, j, *_ in panel["entries"]} == set(enumerate(panel["switches"]))


def test_symbolic_labels_name_the_kernel_entry_and_the_constant():
    require("sympy")
    layer, x = LAYERS["conv_stride2_pad1"]
    panel = layer_panel(layer, x, symbolic=True)
    values = {(i, j): v for i, j, v, _ in panel["entries"]}
    assert panel["symbols"] and {(i, j) for i, j, _ in panel["symbols"]} == set(values)
    for i, j, text in panel["symbols"]:
        r, s = map(int, re.fullmatch(r"k_\{(\d)(\d)\}", text).groups())
        assert KERNEL[r - 1, s - 1] == values[i, j]
    avg = layer_panel(*LAYERS["avgpool_overlap"], symbolic=True)
    assert {text for *_, text in avg["symbols"]} == {"1/4"}
    assert layer_panel(*LAYERS["avgpool_overlap"], symbolic=False)["symbols"] == []


def test_symbolic_true_without_sympy_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sympy", None)  # import sympy now raises ImportError
    with pytest.raises(ImportError, match=r"jacobian_cnn\[symbolic\]"):
        layer_panel(*LAYERS["avgpool_overlap"], symbolic=True)
    assert layer_panel(*LAYERS["avgpool_overlap"], symbolic=False)["symbols"] == []


def test_chain_panels_carry_the_gradient_row_through_every_step():
    x = np.arange(1., 17.).reshape(4, 4) - 8
    net = jc.Chain([jc.Conv2D(KERNEL, padding=1), jc.ReLU(), jc.MaxPool2D(2), jc.Flatten(),
                    jc.MSELoss(np.arange(4.))])
    panels = chain_panels(net, x, symbolic=False)
    assert [p["output"]["name"] for p in panels] == ["z", "y", "p", "f", "L"]
    assert [p["input"]["name"] for p in panels] == ["a", "z", "y", "p", "f"]
    assert panels[-1]["gradient"]["out"] == [1.0]
    assert panels[0]["gradient"]["in"] == list(net.backward(x).input.ravel())
    h = x
    for layer, panel in zip(net.layers, panels, strict=True):
        g_out = np.array(panel["gradient"]["out"])
        np.testing.assert_allclose(panel["gradient"]["in"], g_out @ layer.jacobian(h).toarray(),
                                   rtol=1e-12, atol=0)
        h = layer.forward(h)
    for before, after in zip(panels, panels[1:], strict=False):
        assert before["gradient"]["out"] == after["gradient"]["in"]  # the row moves on, unchanged


def test_a_layer_with_g_shows_g_and_g_times_j():
    layer, x = LAYERS["avgpool_overlap"]
    panel = layer_panel(layer, x, symbolic=False, g=[1., 3, 2, 4])  # vec([[1, 2], [3, 4]])
    readme = np.array([[0.25, 0.75, 0.5], [1., 2.5, 1.5], [0.75, 1.75, 1.]])  # the README's answer
    assert panel["gradient"]["in"] == list(readme.ravel(order="F"))
    with pytest.raises(InvalidValueError, match="4 entries"):
        layer_panel(layer, x, symbolic=False, g=[1., 2])


def test_large_matrices_are_refused_naming_the_limit_and_option():
    with pytest.raises(SizeLimitError,
                       match=r"400 x 400 = 160,000 cells, over the limit of 10,000.*max_entries"):
        jc.explore(jc.ReLU(), np.ones((20, 20)))
    assert jc.explore(jc.ReLU(), np.ones((20, 20)), max_entries=160_000, symbolic=False)
    with pytest.raises(SizeLimitError,
                       match=r"step 2 \(ReLU\(\)\): 50 x 50 = 2,500 cells, over the limit of 1,000"):
        jc.explore(jc.Chain([jc.Dense(np.ones((4, 50))), jc.ReLU()]), np.ones(4), max_entries=1000)


def test_the_grid_of_settings_is_each_settings_own_jacobian():
    layer, x = jc.AvgPool2D(2, stride=1), np.arange(1., 17.).reshape(4, 4)
    grid = geometry_variants(layer, x, symbolic=False)
    assert [c["values"] for c in grid["controls"]] == [["2", "3"], ["1", "2"], ["0", "1"], ["1", "2"]]
    assert len(grid["variants"]) + grid["left_out"] == 16
    assert "3|1|0|2" not in grid["variants"]  # a 5x5 dilated window does not fit a 4x4 input
    for key, panel in grid["variants"].items():
        w, s, p, d = map(int, key.split("|"))
        expected = jc.AvgPool2D(w, stride=s, padding=p, dilation=d)
        assert {(i, j): v for i, j, v, _ in panel["entries"]} == _stored(expected.jacobian(x)), key


def test_conv_settings_keep_the_kernel_or_number_a_new_one():
    layer = jc.Conv2D(KERNEL, stride=2, padding=1)
    grid = geometry_variants(layer, X44, symbolic=False)
    assert grid["initial"] == "2|2|1|1" and [c["name"] for c in grid["controls"]][0] == "kernel"
    same = grid["variants"]["2|1|0|1"]
    assert {(i, j): v for i, j, v, _ in same["entries"]} == _stored(jc.Conv2D(KERNEL).jacobian(X44))
    bigger = grid["variants"]["3|1|0|1"]
    numbered = np.arange(1., 10.).reshape(3, 3, order="F")[:, :, None, None]
    assert {(i, j): v for i, j, v, _ in bigger["entries"]} == _stored(jc.Conv2D(numbered).jacobian(X44))


def _script_data(page):
    return json.loads(re.search(r'<script type="application/json" id="jc-data">(.*?)</script>', page,
                                re.S).group(1))


def test_the_page_is_self_contained_and_holds_the_data(tmp_path):
    view = jc.explore(*LAYERS["maxpool_overlap"], symbolic=False)
    page = view.to_html()
    assert not re.search(r"https?://|\bsrc=|<link|@import", page)
    assert _script_data(page) == json.loads(json.dumps(view.data))
    assert view.save(tmp_path / "max.html").read_text(encoding="utf-8") == page
    frame = view._repr_html_()
    srcdoc = re.fullmatch(r'<iframe srcdoc="([^"]*)" [^>]*sandbox="allow-scripts"[^>]*></iframe>', frame)
    assert html.unescape(srcdoc.group(1)) == page  # the whole page, its script run by the iframe
    weird = dict(view.data, title="</script><script>alert(1)</script><!-- a & b")
    assert _script_data(jc.explorer.render_page(weird))["title"] == weird["title"]


def test_jc_explore_is_the_function_even_after_the_subpackage_is_imported():
    import jacobian_cnn.explorer.page  # noqa: F401

    assert jc.explore is jc.explorer.explore and "explore" in dir(jc)


def test_cli_writes_the_page(tmp_path, capsys):
    out = tmp_path / "avg.html"
    assert main(["explore", "avg", "--input", "3x3", "--window", "2", "--stride", "1", "-o", str(out),
                 "--no-symbolic"]) == 0
    assert "14 settings" in capsys.readouterr().out
    panel = _script_data(out.read_text(encoding="utf-8"))["panels"][0]
    assert panel["input"]["values"] == list(np.arange(1., 10.))  # 1, 2, 3, ... in vec order
    assert {(i, j) for i, j, *_ in panel["entries"]} == set(_stored(jc.AvgPool2D(2, stride=1).jacobian(
        np.ones((3, 3)))))


def test_cli_conv_without_kernel_values_numbers_the_kernel(tmp_path):
    out = tmp_path / "conv.html"
    assert main(["explore", "conv", "--input", "3x3", "--kernel", "2", "-o", str(out), "--no-controls",
                 "--no-symbolic", "--grad-values", "1,0;0,2"]) == 0
    data = _script_data(out.read_text(encoding="utf-8"))
    assert data["controls"] is None
    K = np.array([[1., 3], [2, 4]])
    x = np.arange(1., 10.).reshape(3, 3, order="F")
    J = jc.Conv2D(K).jacobian(x)
    assert {(i, j): v for i, j, v, _ in data["panels"][0]["entries"]} == _stored(J)
    assert data["panels"][0]["gradient"]["in"] == list(np.array([1., 0, 0, 2]) @ J.toarray())


@pytest.mark.parametrize("argv,message", [
    (["explore", "conv", "--input", "40x40", "--kernel", "3"],
     "over the limit of 10,000; raise it with --max-entries"),
    (["explore", "avgpool", "--input", "3x3", "--window", "2", "--wrt", "kernel"], "--wrt"),
    (["explore", "pool", "--input", "3x3"], "must be one of conv, avgpool, maxpool, flatten, dense,"),
    (["explore", "mse", "--input", "3"], "argument OP: must be one of"),
    (["explore", "maxpool", "--input", "4x4", "--window", "2", "--grad-values", "1,2,3"], "--grad-values"),
])
def test_cli_refusals_exit_2_with_one_line(argv, message, tmp_path, capsys):
    try:
        status = main([*argv, "-o", str(tmp_path / "x.html")])
    except SystemExit as exc:  # a usage error, from the parser
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.html").exists()
