"""Reading matrices: finding the matrix environments of a text (and a transpose mark), the
fast entry count before tokenizing, splitting a body into entries, dropping differential headers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from jacobian_cnn.symbolic.latex.grammar import _Parser
from jacobian_cnn.symbolic.latex.limits import LatexParseError, LatexSizeError, _check_expansion, _limit_name
from jacobian_cnn.symbolic.latex.names import symbol_parts
from jacobian_cnn.symbolic.latex.tokens import _MATRIX_ENVS, _pairs


@dataclass(frozen=True)
class MatrixSource:
    """Where a top-level matrix environment sits in a text.

    Attributes
    ----------
    env : str
        ``"bmatrix"``, ``"pmatrix"``, ...
    start, end : int
        Offsets of ``\\begin{env}`` and just after ``\\end{env}`` (and its transpose mark).
    transposed : bool
        The matrix is followed by ``^\\intercal``, ``^\\top`` or ``^T``.
    """

    env: str
    start: int
    end: int
    transposed: bool
    body: tuple  # token index range (lo, hi) of the body, private



def _find_matrices(text, tokens):
    found, stack = [], []
    for i, tok in enumerate(tokens):
        if tok.kind == "begin" and tok.value in _MATRIX_ENVS:
            stack.append((i, tok))
        elif tok.kind == "end" and tok.value in _MATRIX_ENVS:
            if not stack:
                raise LatexParseError(f"\\end{{{tok.value}}} without a matching \\begin", text,
                                      tok.pos)
            j, opener = stack.pop()
            if opener.value != tok.value:
                raise LatexParseError(
                    f"\\end{{{tok.value}}} closes \\begin{{{opener.value}}} (opened at offset "
                    f"{opener.pos})", text, tok.pos)
            if stack:
                continue
            transposed, end, k = False, tok.end, i + 1
            if k < len(tokens) and tokens[k].kind == "op" and tokens[k].value == "^":
                mark = tokens[k + 1:k + 4]
                if mark and (_is_transpose(mark[0])):
                    transposed, end = True, mark[0].end
                elif (len(mark) >= 3 and mark[0].value == "{" and _is_transpose(mark[1])
                      and mark[2].value == "}"):
                    transposed, end = True, mark[2].end
            found.append(MatrixSource(opener.value, opener.pos, end, transposed, (j + 1, i)))
    if stack:
        j, opener = stack[-1]
        raise LatexParseError(f"\\begin{{{opener.value}}} is never closed", text, opener.pos)
    return found


def _is_transpose(tok):
    return (tok.kind == "cmd" and tok.value in ("intercal", "top")) or (
        tok.kind == "sym" and tok.value == "T")



_ENV_RE = re.compile(r"\\begin\s*\{(" + "|".join(_MATRIX_ENVS) + r")\}")


def _count_entries_roughly(text, limits):
    """Refuse a matrix over :data:`MAX_MATRIX_ENTRIES` from its raw text, before tokenizing.

    Counts the ``&`` and ``\\\\`` between each ``\\begin{env}`` and the next ``\\end{env}``
    (fast, at C speed); tokenizing a huge matrix first would take seconds. An escaped
    ``\\&`` or one in a comment is counted too, so this is an upper bound, exact for
    ordinary matrices; :func:`_parse_body` counts exactly.
    """
    end = 0
    for m in _ENV_RE.finditer(text):
        if m.start() < end:
            continue  # inside the previous matrix: spans stay disjoint, the scan linear
        end = text.find(f"\\end{{{m[1]}}}", m.end())
        end = len(text) if end < 0 else end
        n = text.count("&", m.end(), end) + text.count("\\\\", m.end(), end) + 1
        if n > limits.matrix_entries:
            raise LatexSizeError(
                f"the matrix has about {n:,} entries (counting its '&' and '\\\\'), over the "
                f"limit of {limits.matrix_entries:,} ({_limit_name('MAX_MATRIX_ENTRIES')})", text,
                m.start())


def _parse_body(text, tokens, source, limits):
    lo, hi = source.body
    if source.env == "array" and lo < hi and tokens[lo].kind == "op" and tokens[lo].value == "{":
        lo = _Parser(text, tokens, limits, lo, hi).matching(lo) + 1  # column spec
    for tok in tokens[lo:hi]:
        if tok.kind == "begin":
            raise LatexParseError(f"a nested \\begin{{{tok.value}}} inside a matrix is not "
                                  "supported; write each entry as an expression", text, tok.pos)
    cells, row, start, j = [], [], lo, lo
    while j <= hi:
        tok = tokens[j] if j < hi else None
        if tok is None or tok.kind == "rowsep" or (tok.kind == "op" and tok.value == "&"):
            row.append((start, j))
            start = j + 1
            if tok is None or tok.kind == "rowsep":
                cells.append(row)
                row = []
                spacing = tok is not None and re.match(
                    r"\s*\[\s*-?[\d.]+\s*(pt|em|ex|mm|cm|in|mu)\s*\]", text[tok.end:])
                if spacing:  # \\[2pt]
                    end = tok.end + spacing.end()
                    while start < hi and tokens[start].pos < end:
                        start += 1
                    j = start
                    continue
        j += 1
    # a trailing \\ before \end leaves one empty row
    if len(cells) > 1 and cells[-1] == [(hi, hi)]:
        cells.pop()
    if cells == [[(lo, hi)]] and lo == hi:
        raise LatexParseError(f"empty \\begin{{{source.env}}}", text, source.start)
    n_entries = sum(len(r) for r in cells)
    if n_entries > limits.matrix_entries:
        raise LatexSizeError(
            f"the matrix has {n_entries:,} entries ({len(cells):,} rows), over the limit of "
            f"{limits.matrix_entries:,} ({_limit_name('MAX_MATRIX_ENTRIES')})", text, source.start)
    parsed, pairs, spent = [], _pairs(tokens), 0
    for cell_row in cells:
        out = []
        for a, b in cell_row:
            if a == b:
                out.append(None)
                continue
            value = _Parser(text, tokens, limits, a, b, pairs=pairs).entry()
            spent = _check_expansion(value, spent, text, tokens[a].pos, limits)
            out.append(value)
        parsed.append(out)
    headers = _strip_headers(parsed)
    if headers is not parsed:
        parsed, cells = headers, [r[1:] for r in cells[1:]]
    width = len(parsed[0])
    for r, (cell_row, values) in enumerate(zip(cells, parsed, strict=True)):
        if len(values) != width:
            raise LatexParseError(f"row {r + 1} has {len(values)} entries but row 1 has {width} "
                                  "(rows of a matrix must have equal length)",
                                  text, tokens[cell_row[0][0]].pos)
        for c, value in enumerate(values):
            if value is None:
                raise LatexParseError(f"empty entry (row {r + 1}, column {c + 1})", text,
                                      tokens[cell_row[c][0]].pos)
    return parsed


def _strip_headers(rows):
    """Drop a header row and column of differentials (the layout of :func:`matrix_to_latex`)."""
    if len(rows) < 2 or len(rows[0]) < 2 or rows[0][0] is not None:
        return rows

    def is_differential(v):
        return v is not None and v.is_Symbol and symbol_parts(v)[0] == "differential"

    if all(is_differential(v) for v in rows[0][1:]) and all(
            len(r) and is_differential(r[0]) for r in rows[1:]):
        return [r[1:] for r in rows[1:]]
    return rows
