"""The explorer page in a real browser: headless Chromium driven by Playwright.

Each test writes a page with ``jc.explore``, opens it, hovers and focuses entries, pixels
and labels, and holds what the page highlights and displays to ``layer.jacobian(x)``
computed here; no page may log a console error, and each leaves a screenshot in the
module's temporary folder (``explorer_pages*`` under pytest's base temp).

The system's Chromium is used (``/usr/bin/chromium``, Debian's package; never
``playwright install``). Without Playwright or a browser the tests skip, except in CI
(``CI`` set), where they fail: .ci/run installs both.
"""

import contextlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from optional import require

import jacobian_cnn as jc

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
X44 = np.array([[1., 5, 2, 0], [3, 4, 8, 1], [0, 2, 9, 7], [6, 1, 3, 2]])
KERNEL = np.array([[1., -2], [3, 4]])

STATE = """k => {
  const s = document.querySelector(`.panel[data-panel="${k}"]`), info = document.getElementById("jc-info");
  const get = (sel, f) => Array.from(s.querySelectorAll(sel)).map(f);
  return {cells: get("td.cell.hl", e => [+e.dataset.i, +e.dataset.j]),
          ins: get(".px.in.hl", e => +e.dataset.j), outs: get(".px.out.hl", e => +e.dataset.i),
          rows: get("th.rowh.hl", e => +e.dataset.i),
          cols: get("th.colh.hl", e => +e.dataset.j), info: info.innerText, value: info.dataset.value,
          symbol: info.dataset.symbol, nz: get("td.cell.nz", e => [+e.dataset.i, +e.dataset.j])};
}"""


def _chromium():
    for path in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if path and Path(path).exists():
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    sync_api = require("playwright.sync_api", "playwright not installed: pip install 'jacobian_cnn[explore]'")
    path = _chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("no Chromium found (/usr/bin/chromium): .ci/run installs Debian's chromium")
        pytest.skip("no Chromium found: apt-get install chromium")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("explorer_pages")


@pytest.fixture
def open_page(browser, folder):
    """``open_page(view, name)``: the page loaded; at the end a screenshot, and no console errors."""
    with contextlib.ExitStack() as stack:
        def opener(view, name):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            stack.callback(page.close)
            errors = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(view.save(folder / f"{name}.html").as_uri())
            page.wait_for_selector("body[data-ready=true]")
            stack.callback(_finish, page, errors, folder / f"{name}.png")
            return page
        yield opener


def _finish(page, errors, shot):
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 1000
    assert errors == []


def _state(page, panel=0):
    s = page.evaluate(STATE, panel)
    return {key: {tuple(v) if isinstance(v, list) else v for v in s[key]} if isinstance(s[key], list)
            else s[key] for key in s}


def _stored(J):
    coo = J.tocoo()
    return {(int(i), int(j)): float(v) for i, j, v in zip(coo.row, coo.col, coo.data, strict=True)}


def _check_hover_and_focus(page, layer, x, panel=0, sample=12):
    """Entries, a zero, every output pixel (hover) and every input pixel (focus) against J."""
    J = layer.jacobian(x)
    stored = _stored(J)
    scope = f'.panel[data-panel="{panel}"] '
    picks = sorted(stored)[:: max(1, len(stored) // sample)]
    for (i, j) in picks:
        page.hover(scope + f'td.cell[data-i="{i}"][data-j="{j}"]')
        s = _state(page, panel)
        assert (s["cells"], s["ins"], s["outs"], s["rows"], s["cols"]) == ({(i, j)}, {j}, {i}, {i}, {j})
        text = f"{stored[i, j]:.6g}"
        assert s["value"] == text and f" {text} " in s["info"]
    zero = next((i, j) for i in range(J.shape[0]) for j in range(J.shape[1]) if (i, j) not in stored)
    page.hover(scope + f'td.cell[data-i="{zero[0]}"][data-j="{zero[1]}"]')
    s = _state(page, panel)
    assert s["value"] == "0" and "not in the receptive field" in s["info"]
    for i in range(J.shape[0]):
        page.hover(scope + f'.px.out[data-i="{i}"]')
        s = _state(page, panel)
        field = {j for (r, j) in stored if r == i}
        assert (s["ins"], s["outs"], s["rows"]) == (field, {i}, {i})
        assert s["cells"] == {(i, j) for j in field}
    for j in range(J.shape[1]):
        page.focus(scope + f'.px.in[data-j="{j}"]')
        s = _state(page, panel)
        feeds = {i for (i, c) in stored if c == j}
        assert (s["outs"], s["ins"], s["cols"]) == (feeds, {j}, {j})
    assert _state(page, panel)["nz"] == set(stored)


def test_conv_with_stride_and_padding(open_page):
    layer = jc.Conv2D(KERNEL, stride=2, padding=1)
    page = open_page(jc.explore(layer, X44), "conv_stride2_pad1")
    _check_hover_and_focus(page, layer, X44)
    # keyboard: Tab-focusing an entry shows it, and an arrow key moves to the next column
    page.focus('td.cell[data-i="4"][data-j="5"]')
    assert _state(page)["value"] == f"{layer.jacobian(X44)[4, 5]:.6g}"
    page.keyboard.press("ArrowRight")
    s = _state(page)
    assert page.evaluate("document.activeElement.dataset.j") == "6" and s["cells"] == {(4, 6)}


def test_conv_symbolic_labels_name_the_kernel_entry(open_page):
    require("sympy")
    layer = jc.Conv2D(KERNEL, padding=1)
    page = open_page(jc.explore(layer, X44, symbolic=True), "conv_symbolic")
    for (i, j), v in list(_stored(layer.jacobian(X44)).items())[:10]:
        page.hover(f'td.cell[data-i="{i}"][data-j="{j}"]')
        symbol = _state(page)["symbol"]
        r, s = int(symbol[3]), int(symbol[4])  # k_{rs}
        assert symbol == f"k_{{{r}{s}}}" and KERNEL[r - 1, s - 1] == v
        assert f"k{r}{s} = {v:.6g}" in _state(page)["info"]


def test_avgpool_overlap_the_order_toggle_and_the_controls(open_page):
    layer, x = jc.AvgPool2D(2, stride=1), np.arange(1., 17.).reshape(4, 4)
    page = open_page(jc.explore(layer, x, symbolic=False), "avgpool_overlap")
    _check_hover_and_focus(page, layer, x)
    page.hover('.px.in[data-j="5"]')  # a22 (vec index 5) lies in four windows
    assert _state(page)["outs"] == {0, 1, 3, 4}

    page.click("#jc-order")  # row-major: the same entries, rows and columns permuted
    rows = page.eval_on_selector_all("th.rowh", "es => es.map(e => e.innerText)")
    cols = page.eval_on_selector_all("th.colh", "es => es.map(e => e.innerText)")
    assert rows == [f"p{r}{c}" for r in range(1, 4) for c in range(1, 4)]
    assert cols == [f"a{r}{c}" for r in range(1, 5) for c in range(1, 5)]
    assert page.eval_on_selector_all("tbody tr", "trs => trs.every(tr => Array.from("
                                     "tr.querySelectorAll('td.cell')).every(td => td.dataset.i === "
                                     "tr.querySelector('th').dataset.i))")
    _check_hover_and_focus(page, layer, x, sample=4)
    page.click("#jc-order")

    page.select_option('select[data-control="stride"]', "2")
    assert _state(page)["nz"] == set(_stored(jc.AvgPool2D(2, stride=2).jacobian(x)))
    page.select_option('select[data-control="padding"]', "1")
    _check_hover_and_focus(page, jc.AvgPool2D(2, stride=2, padding=1), x, sample=4)
    page.select_option('select[data-control="window"]', "3")
    page.select_option('select[data-control="padding"]', "0")
    page.select_option('select[data-control="stride"]', "1")
    page.select_option('select[data-control="dilation"]', "2")  # 5x5 reach: does not fit 4x4
    assert "refuses this setting" in page.inner_text("#jc-note")
    assert page.input_value('select[data-control="dilation"]') == "1"
    assert _state(page)["nz"] == set(_stored(jc.AvgPool2D(3, stride=1).jacobian(x)))


def test_maxpool_shows_the_switches(open_page):
    layer = jc.MaxPool2D(2, stride=1)
    page = open_page(jc.explore(layer, X44, symbolic=False), "maxpool_switches")
    _check_hover_and_focus(page, layer, X44)
    switches = np.asarray(layer.switches(X44)).ravel(order="F")
    marked = page.eval_on_selector_all(".px.in.switch", "es => es.map(e => +e.dataset.j)")
    assert set(marked) == set(switches.tolist())
    for i, s in enumerate(switches):
        page.hover(f'.px.out[data-i="{i}"]')
        assert f"switch: a{s % 4 + 1}{s // 4 + 1}" in _state(page)["info"]


def test_chain_shows_each_step_and_the_gradient_row(open_page):
    x = X44 - 4
    net = jc.Chain([jc.Conv2D(KERNEL, padding=1), jc.ReLU(), jc.MaxPool2D(2), jc.Flatten(),
                    jc.MSELoss(np.arange(4.))])
    page = open_page(jc.explore(net, x), "chain")
    inputs = [x]
    for layer in net.layers:
        inputs.append(layer.forward(inputs[-1]))
    g = np.array([1.0])
    for k in reversed(range(len(net.layers))):
        g_in = g @ net.layers[k].jacobian(inputs[k]).toarray()
        scope = f'.panel[data-panel="{k}"] '
        shown_out = page.eval_on_selector_all(scope + "td.gout", "es => es.map(e => +e.innerText)")
        shown_in = page.eval_on_selector_all(scope + "td.gin", "es => es.map(e => +e.innerText)")
        np.testing.assert_allclose(shown_out, g, rtol=1e-5, atol=0)
        np.testing.assert_allclose(shown_in, g_in, rtol=1e-5, atol=0)
        g = g_in
    np.testing.assert_allclose(g, net.backward(x).input.ravel(), rtol=1e-12, atol=0)
    for k in (0, 2):
        _check_hover_and_focus(page, net.layers[k], inputs[k], panel=k, sample=6)
    page.click("#jc-step")
    assert page.eval_on_selector_all(".panel.active", "es => es.map(e => e.dataset.panel)") == ["4"]
    page.click("#jc-step")
    assert page.eval_on_selector_all(".panel.active", "es => es.map(e => e.dataset.panel)") == ["3"]
    assert "the row that enters step 3" in page.inner_text("#jc-info")


def test_the_jupyter_iframe_runs_the_page(open_page):
    """``_repr_html_`` (what Jupyter shows): the iframe's ``srcdoc`` page runs its script."""
    layer, x = jc.AvgPool2D(2, stride=1), np.arange(1., 10.).reshape(3, 3)
    view = jc.explore(layer, x, symbolic=False)
    holder = type(view)(dict(view.data))  # the notebook cell's output, as a page of its own
    cell = view._repr_html_()
    holder.to_html = lambda: f'<!DOCTYPE html><html><body data-ready="true">{cell}</body></html>'
    page = open_page(holder, "jupyter_iframe")
    frame = page.frame_locator("iframe")
    frame.locator("body[data-ready=true]").wait_for(state="attached")
    frame.locator('td.cell[data-i="3"][data-j="4"]').hover()
    assert frame.locator("#jc-info").get_attribute("data-value") == f"{layer.jacobian(x)[3, 4]:.6g}"
    assert frame.locator(".px.in.hl").evaluate_all("es => es.map(e => +e.dataset.j)") == [4]
