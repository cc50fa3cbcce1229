/* jacobian_cnn explorer: draws the panels of the JSON in #jc-data (see jacobian_cnn/explorer/data.py).
   Every element that stands for an output carries data-i (its vec index), every element that stands
   for an input data-j; a matrix entry carries both. Hover and keyboard focus go through one handler. */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("jc-data").textContent);
  var state = { order: "F", key: DATA.initial, panels: DATA.panels, step: -1 };
  var info = document.getElementById("jc-info");
  var note = document.getElementById("jc-note");
  var panelsBox = document.getElementById("jc-panels");

  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }
  // a_{11} -> a<sub>11</sub>, s_{1}^2 -> s<sub>1</sub><sup>2</sup>
  function math(s) {
    return esc(s).replace(/_\{([^}]*)\}/g, "<sub>$1</sub>").replace(/\^\{([^}]*)\}/g, "<sup>$1</sup>")
      .replace(/\^(\d+)/g, "<sup>$1</sup>");
  }
  function num(v) {
    if (v === 0) { return "0"; }
    var t = Number(v).toPrecision(6);
    return t.indexOf("e") < 0 && t.indexOf(".") >= 0 ? t.replace(/\.?0+$/, "") : t;
  }
  function make(tag, attrs, html) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (html !== undefined) { e.innerHTML = html; }
    return e;
  }
  function range(n) { var r = []; for (var k = 0; k < n; k++) { r.push(k); } return r; }
  function inverse(perm) { var inv = []; perm.forEach(function (v, s) { inv[v] = s; }); return inv; }

  function indexPanel(p) {
    if (p._rows) { return p; }
    p._rows = range(p.output.labels.length).map(function () { return []; });
    p._cols = range(p.input.labels.length).map(function () { return []; });
    p._val = {}; p._sym = {}; p._max = 0;
    p.entries.forEach(function (e) {
      p._rows[e[0]].push(e[1]); p._cols[e[1]].push(e[0]); p._val[e[0] + "," + e[1]] = e;
      p._max = Math.max(p._max, Math.abs(e[2]));
    });
    p.symbols.forEach(function (s) { p._sym[s[0] + "," + s[1]] = s[2]; });
    p._winners = {};
    (p.switches || []).forEach(function (s, i) { (p._winners[s] = p._winners[s] || []).push(i); });
    return p;
  }

  function order(m) { return state.order === "F" ? range(m.labels.length) : m.rowmajor; }

  function mapFigure(p, m, side) {
    var fig = make("figure", { "class": "map " + side });
    var what = side === "in" ? "input " : "output ";
    fig.appendChild(make("figcaption", {}, what + math(m.name) + " (" + (m.shape.join("x") || "scalar") + ")"));
    var H = m.grid[0], W = m.grid[1], K = m.grid[2];
    var pos = state.order === "F" ? range(m.labels.length) : inverse(m.rowmajor);
    for (var k = 0; k < K; k++) {
      var table = make("table", { "class": "grid", "aria-label": what + m.name + " grid " + (k + 1) });
      for (var r = 0; r < H; r++) {
        var tr = make("tr");
        for (var c = 0; c < W; c++) {
          var v = r + H * c + H * W * k;
          var attrs = { "class": "px " + side, tabindex: "0", title: m.labels[v] + " = " + m.texts[v] };
          attrs[side === "in" ? "data-j" : "data-i"] = v;
          if (side === "in" && p._winners[v]) { attrs["class"] += " switch"; }
          if (side === "out" && p.switches && p.switches[v] < 0) { attrs["class"] += " padwin"; }
          tr.appendChild(make("td", attrs, math(m.labels[v]) + '<span class="val">' + esc(m.texts[v]) +
            '</span><span class="pos">#' + (pos[v] + 1) + "</span>"));
        }
        table.appendChild(tr);
      }
      fig.appendChild(table);
    }
    return fig;
  }

  function matrixFigure(p) {
    var fig = make("figure", { "class": "jac" });
    var rows = order(p.output), cols = order(p.input), g = p.gradient;
    fig.appendChild(make("figcaption", {}, "J = &part; vec(" + math(p.output.name) + ") / &part; vec(" +
      math(p.input.name) + "), " + rows.length + " x " + cols.length + ", " + p.entries.length +
      " nonzeros (" + (state.order === "F" ? "column-major" : "row-major") + " order)"));
    var table = make("table", { "class": "matrix", role: "grid" });
    var head = make("tr");
    head.appendChild(make("th", {}, "J"));
    cols.forEach(function (j) {
      head.appendChild(make("th", { "class": "colh", "data-j": j, tabindex: "0" }, math(p.input.labels[j])));
    });
    if (g) { head.appendChild(make("th", { "class": "gsep" }, "g<sub>" + math(p.output.name) + "</sub>")); }
    table.appendChild(make("thead")).appendChild(head);
    var body = make("tbody");
    rows.forEach(function (i) {
      var tr = make("tr");
      tr.appendChild(make("th", { "class": "rowh", "data-i": i, tabindex: "0" }, math(p.output.labels[i])));
      cols.forEach(function (j) {
        var e = p._val[i + "," + j];
        var attrs = { "class": "cell", "data-i": i, "data-j": j, tabindex: e ? "0" : "-1" };
        if (e) {
          attrs["class"] += e[2] < 0 ? " nz neg" : " nz";
          attrs.style = "--alpha:" + (0.35 + 0.65 * Math.abs(e[2]) / (p._max || 1)).toFixed(3);
        }
        tr.appendChild(make("td", attrs));
      });
      if (g) { tr.appendChild(make("td", { "class": "g gout gsep", "data-i": i }, esc(num(g.out[i])))); }
      body.appendChild(tr);
    });
    table.appendChild(body);
    if (g) {
      var foot = make("tr");
      foot.appendChild(make("th", {}, "g<sub>" + math(p.input.name) + "</sub>"));
      cols.forEach(function (j) { foot.appendChild(make("td", { "class": "g gin", "data-j": j }, esc(num(g["in"][j])))); });
      table.appendChild(make("tfoot")).appendChild(foot);
    }
    fig.appendChild(table);
    return fig;
  }

  function switchesText(p) {
    return "Switches (the input each output copies; the gradient goes only there): " + p.switches.map(function (s, i) {
      return math(p.output.labels[i]) + " &larr; " + (s < 0 ? "padding" : math(p.input.labels[s]));
    }).join(", ");
  }

  function render() {
    panelsBox.innerHTML = "";
    state.panels.forEach(function (p, k) {
      indexPanel(p);
      var sec = make("section", { "class": "panel", "data-panel": k });
      sec.appendChild(make("h2", {}, esc(p.title)));
      var views = make("div", { "class": "views" });
      views.appendChild(mapFigure(p, p.input, "in"));
      views.appendChild(mapFigure(p, p.output, "out"));
      views.appendChild(matrixFigure(p));
      sec.appendChild(views);
      if (p.switches) { sec.appendChild(make("p", { "class": "switches" }, switchesText(p))); }
      sec.addEventListener("mouseleave", clear);
      panelsBox.appendChild(sec);
    });
    state.step = -1;
  }

  function clear() {
    document.querySelectorAll(".hl, .band, .current").forEach(function (e) {
      e.classList.remove("hl", "band", "current");
    });
  }
  function mark(sec, selector, cls) {
    sec.querySelectorAll(selector).forEach(function (e) { e.classList.add(cls || "hl"); });
  }
  function say(html, attrs) {
    info.innerHTML = html;
    ["data-i", "data-j", "data-value", "data-symbol"].forEach(function (a) { info.removeAttribute(a); });
    Object.keys(attrs).forEach(function (a) { info.setAttribute(a, attrs[a]); });
  }
  function list(p, labels, idx) {
    return idx.map(function (k) { return math(labels[k]); }).join(", ") || "none";
  }

  function showEntry(sec, p, i, j) {
    mark(sec, '.cell[data-i="' + i + '"][data-j="' + j + '"]');
    mark(sec, '.cell[data-i="' + i + '"][data-j="' + j + '"]', "current");
    mark(sec, '.rowh[data-i="' + i + '"], .px.out[data-i="' + i + '"], .gout[data-i="' + i + '"]');
    mark(sec, '.colh[data-j="' + j + '"], .px.in[data-j="' + j + '"], .gin[data-j="' + j + '"]');
    var e = p._val[i + "," + j], sym = p._sym[i + "," + j];
    var value = e ? e[3] : "0";
    var text = "&part;" + math(p.output.labels[i]) + " / &part;" + math(p.input.labels[j]) + " = " +
      (sym !== undefined && sym !== value ? math(sym) + " = " : "") + '<b class="value">' + esc(value) + "</b>" +
      " &nbsp;(row " + (i + 1) + ", column " + (j + 1) + " in vec order" +
      (e ? ")" : "; " + math(p.input.labels[j]) + " is not in the receptive field of " + math(p.output.labels[i]) + ")");
    var attrs = { "data-i": i, "data-j": j, "data-value": value };
    if (sym !== undefined) { attrs["data-symbol"] = sym; }
    say(text, attrs);
  }

  function at(cls, key, k) { return cls + "[data-" + key + '="' + k + '"]'; }

  // A row (output i, isRow) or a column (input j): its band, its label, pixel and gradient entry,
  // and the entries and pixels it links to (the receptive field, or the outputs it feeds).
  function showLine(sec, p, isRow, k) {
    var me = isRow ? "i" : "j", other = isRow ? "j" : "i", side = isRow ? "out" : "in";
    var linked = (isRow ? p._rows : p._cols)[k], mine = isRow ? p.output : p.input;
    mark(sec, at(".cell", me, k), "band");
    mark(sec, [at(isRow ? ".rowh" : ".colh", me, k), at(".px." + side, me, k), at(".g" + side, me, k)].join(", "));
    linked.forEach(function (l) {
      mark(sec, at(at(".cell", me, k), other, l) + ", " + at(".px." + (isRow ? "in" : "out"), other, l));
    });
    var text = math(mine.labels[k]) + " = " + esc(mine.texts[k]) + ": " + (isRow ? "row " : "column ") +
      (k + 1) + " of J; " + (isRow ? "receptive field" : "feeds") + " (" + linked.length + "): " +
      list(p, (isRow ? p.input : p.output).labels, linked);
    if (isRow && p.switches) {
      text += "; switch: " + (p.switches[k] < 0 ? "padding won" : math(p.input.labels[p.switches[k]]));
    }
    if (!isRow && p.gradient) {
      text += "; its gradient adds one term per output it feeds: " + esc(num(p.gradient["in"][k]));
    }
    var attrs = {};
    attrs["data-" + me] = k;
    say(text, attrs);
  }

  function activate(target) {
    var t = target.closest ? target.closest("[data-i], [data-j]") : null;
    var sec = t && t.closest(".panel");
    if (!sec) { return; }
    var p = state.panels[Number(sec.getAttribute("data-panel"))];
    clear();
    var i = t.getAttribute("data-i"), j = t.getAttribute("data-j");
    if (i !== null && j !== null) { showEntry(sec, p, Number(i), Number(j)); }
    else { showLine(sec, p, i !== null, Number(i !== null ? i : j)); }
  }
  panelsBox.addEventListener("mouseover", function (ev) { activate(ev.target); });
  panelsBox.addEventListener("focusin", function (ev) { activate(ev.target); });

  // Arrow keys move between the cells of a matrix (zero entries included).
  panelsBox.addEventListener("keydown", function (ev) {
    var cell = ev.target.closest && ev.target.closest("td.cell");
    if (!cell) { return; }
    var tr = cell.parentElement, col = Array.prototype.indexOf.call(tr.children, cell), next = null;
    if (ev.key === "ArrowRight") { next = cell.nextElementSibling; }
    else if (ev.key === "ArrowLeft") { next = cell.previousElementSibling; }
    else if (ev.key === "ArrowDown" && tr.nextElementSibling) { next = tr.nextElementSibling.children[col]; }
    else if (ev.key === "ArrowUp" && tr.previousElementSibling) { next = tr.previousElementSibling.children[col]; }
    else { return; }
    if (next && next.classList.contains("cell")) { ev.preventDefault(); next.focus(); }
  });

  var orderButton = document.getElementById("jc-order");
  orderButton.addEventListener("click", function () {
    state.order = state.order === "F" ? "C" : "F";
    orderButton.setAttribute("aria-pressed", state.order === "C" ? "true" : "false");
    orderButton.textContent = "vec order: " + (state.order === "F" ? "column-major" : "row-major");
    note.textContent = state.order === "C" ?
      "Row-major: the same matrix with rows and columns permuted (P_out J P_in^T); #n is each pixel's position." : "";
    render();
  });

  function buildControls() {
    var box = document.getElementById("jc-controls");
    if (DATA.controls) {
      var current = DATA.initial.split("|");
      DATA.controls.forEach(function (c, k) {
        var label = make("label", {}, esc(c.name) + " ");
        var select = make("select", { "data-control": c.name });
        c.values.forEach(function (v) {
          var opt = make("option", { value: v }, esc(v));
          if (v === current[k]) { opt.selected = true; }
          select.appendChild(opt);
        });
        select.addEventListener("change", changeSetting);
        label.appendChild(select);
        box.appendChild(label);
      });
    }
    if (DATA.kind === "chain") {
      var back = make("button", { type: "button", id: "jc-step" }, "gradient: next step back &#9664;");
      back.addEventListener("click", nextStep);
      box.appendChild(back);
    }
  }

  function changeSetting() {
    var selects = document.querySelectorAll("#jc-controls select");
    var key = Array.prototype.map.call(selects, function (s) { return s.value; }).join("|");
    if (!DATA.variants[key]) {
      note.textContent = "The layer refuses this setting (or it is over the page's limit of " +
        DATA.limits.max_entries + " cells); showing " + state.key.split("|").join(", ") + ".";
      var old = state.key.split("|");
      Array.prototype.forEach.call(selects, function (s, k) { s.value = old[k]; });
      return;
    }
    note.textContent = "";
    state.key = key;
    state.panels = [DATA.variants[key]];
    render();
  }

  function nextStep() {
    var n = state.panels.length;
    state.step = state.step <= 0 ? n - 1 : state.step - 1;
    document.querySelectorAll(".panel").forEach(function (s) { s.classList.remove("active"); });
    var sec = document.querySelector('.panel[data-panel="' + state.step + '"]');
    sec.classList.add("active");
    clear();
    mark(sec, ".gout, .gin");
    var p = state.panels[state.step];
    say("Step " + (state.step + 1) + ": the row g<sub>" + math(p.output.name) + "</sub> (right of the matrix) " +
      "times J gives g<sub>" + math(p.input.name) + "</sub> (below it)" +
      (state.step > 0 ? ", the row that enters step " + state.step + "." : ", the gradient wrt the input."), {});
    sec.scrollIntoView({ block: "nearest" });
  }

  buildControls();
  render();
  document.body.setAttribute("data-ready", "true");
})();
