"""A :class:`~jacobian_cnn.handcheck.report.CheckReport` in a notebook: the written matrix as an
HTML table with every entry coloured right, wrong or right-under-a-convention (and labelled by
what it is), the report as Markdown, and the written matrix as LaTeX with the same colours.

Examples
--------
>>> import jacobian_cnn as jc
>>> from jacobian_cnn.handcheck import check_derivation
>>> report = check_derivation([[0.25, 0.25], [0.25, 0.26]], jc.AvgPool2D(2), (2, 2),
...                           grad_values=[[1]])
>>> html = report._repr_html_()
>>> html.count('class="jc-wrong"'), html.count('class="jc-right"')
(1, 3)
>>> latex = report._repr_latex_()
>>> latex.count(r"\\color{green}"), r"{\\color{red}\\frac{13}{50}}" in latex
(3, True)
"""

from __future__ import annotations

import html

import numpy as np

from jacobian_cnn.symbolic.latex import to_latex, to_text

COLOURS = {"right": ("#d4edda", "green", "right"), "wrong": ("#f8d7da", "red", "wrong"),
           "convention": ("#fff3cd", "orange", "right under the conventions named above")}
"""Per status: HTML background, LaTeX colour, and the word the legend uses."""

_VERDICT = {"correct": "Correct", "right_under_other_conventions": "Right under other conventions",
            "wrong": "Wrong"}


def _statuses(report):
    shape = report.shape
    status = report.entry_status
    if status is None or np.shape(status) != tuple(shape):
        status = np.full(shape, "right", dtype=object)
    return status


def _notes(report):
    """Per 1-based position: what a differing entry is and what it should be."""
    return {d.position: f"{d.label}: you wrote {to_text(d.written)}, correct is {to_text(d.correct)}"
            for d in report.diffs}


def report_html(report):
    """The report as HTML: verdict, conventions, mistakes, and the coloured written matrix."""
    status, notes = _statuses(report), _notes(report)
    rows = []
    head = "".join(f"<th>{j + 1}</th>" for j in range(report.shape[1]))
    rows.append(f"<tr><th></th>{head}</tr>")
    for i in range(report.shape[0]):
        cells = []
        for j in range(report.shape[1]):
            s = status[i, j]
            value = report.written[i, j] if report.written is not None else ""
            title = notes.get((i + 1, j + 1), COLOURS[s][2])
            cells.append(f'<td class="jc-{s}" style="background:{COLOURS[s][0]}" '
                         f'title="{html.escape(title)}">{html.escape(to_text(value))}</td>')
        rows.append(f"<tr><th>{i + 1}</th>{''.join(cells)}</tr>")
    legend = " ".join(f'<span style="background:{c[0]}">&nbsp;{c[2]}&nbsp;</span>'
                      for c in COLOURS.values())
    lines = [line for line in str(report).splitlines()[1:] if not line.startswith("  ")
             or line.startswith("  - ")]
    body = "<br>".join(html.escape(line) for line in lines)
    return (f"<div><b>{_VERDICT[report.verdict]}</b>: {html.escape(report.title)}<br>{body}"
            f"<table>{''.join(rows)}</table><small>{legend}</small></div>")


def report_markdown(report):
    """The report as Markdown: the verdict in bold, then the text report."""
    return f"**{_VERDICT[report.verdict]}**\n\n```\n{report}\n```"


def report_latex(report):
    """The written matrix in LaTeX, each entry coloured green (right), red (wrong) or orange."""
    if report.written is None:
        return None
    status = _statuses(report)
    rows = [" & ".join(f"{{\\color{{{COLOURS[status[i, j]][1]}}}{to_latex(v)}}}"
                       for j, v in enumerate(row)) for i, row in enumerate(report.written)]
    return "$\\begin{bmatrix} " + " \\\\ ".join(rows) + " \\end{bmatrix}$"
