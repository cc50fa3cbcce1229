"""The reader's tokens: what each piece of LaTeX or plain text is (number, symbol, operator,
macro, environment, row separator) and the matching brackets of a token list."""

from __future__ import annotations

import re
from typing import NamedTuple

from jacobian_cnn.symbolic.latex.limits import _check_length
from jacobian_cnn.symbolic.latex.names import _UNICODE_GREEK, GREEK

_FUNCTION_WORDS = {"tanh": "tanh", "exp": "exp", "sigmoid": "sigma"}
_MATRIX_ENVS = ("bmatrix", "pmatrix", "matrix", "Bmatrix", "vmatrix", "Vmatrix", "smallmatrix",
                "array")
_SIZE_MACROS = {"left", "right", "middle", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl",
                "Bigr", "biggl", "biggr", "Biggl", "Biggr"}
_IGNORED_MACROS = {"quad", "qquad", "displaystyle", "textstyle", "hline", "nonumber", "notag",
                   ",", ";", ":", "!", " ", "limits"}
_OPEN_CLOSE = {"(": ")", "[": "]", "\\{": "\\}", "{": "}"}
_CLOSERS = frozenset(_OPEN_CLOSE.values())


class _Token(NamedTuple):
    kind: str   # num sym func partial op cmd size begin end rowsep other
    value: str
    pos: int
    end: int


_TOKEN_RE = re.compile(r"""
 (?P<ws>\s+)
|(?P<comment>%[^\n]*)
|(?P<begin>\\begin\s*\{(?P<bname>[A-Za-z*]+)\})
|(?P<end>\\end\s*\{(?P<ename>[A-Za-z*]+)\})
|(?P<rowsep>\\\\)
|(?P<cmd>\\[A-Za-z]+)
|(?P<cmdchar>\\[^A-Za-z])
|(?P<num>(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?)
|(?P<word>[A-Za-z]+)
|(?P<char>.)
""", re.VERBOSE | re.DOTALL)




_SCRIPT_OWNERS = {("op", "_"), ("op", "^"), ("cmd", "frac"), ("cmd", "dfrac"), ("cmd", "tfrac")}


def _split_exponent(tok):
    """``2e-1`` as the tokens ``2``, ``e``, ``-``, ``1`` (after ``_``, ``^``, ``\\frac``)."""
    m = re.fullmatch(r"([\d.]+)([eE])([+-]?)(\d+)", tok.value)
    if not m:
        return [tok]
    out, at = [], tok.pos
    for kind, part in (("num", m[1]), ("sym", m[2]), ("op", m[3]), ("num", m[4])):
        if part:
            out.append(_Token(kind, part, at, at + len(part)))
            at += len(part)
    return out


def _tokenize(text, limits):
    _check_length(text, limits)
    tokens = []
    for m in _TOKEN_RE.finditer(text):
        kind, pos, end = m.lastgroup, m.start(), m.end()
        value = m.group()
        if kind in ("ws", "comment"):
            continue
        if kind in ("bname", "ename"):  # named groups inside begin/end
            kind = "begin" if kind == "bname" else "end"
        if kind == "begin":
            tokens.append(_Token("begin", m["bname"], pos, end))
        elif kind == "end":
            tokens.append(_Token("end", m["ename"], pos, end))
        elif kind == "rowsep":
            tokens.append(_Token("rowsep", value, pos, end))
        elif kind in ("cmd", "cmdchar"):
            name = value[1:]
            if name in _IGNORED_MACROS:
                continue
            if name in GREEK:
                tokens.append(_Token("sym", name, pos, end))
            elif name == "partial":
                tokens.append(_Token("partial", name, pos, end))
            elif name in ("cdot", "times", "ast"):
                tokens.append(_Token("op", "*", pos, end))
            elif name in ("tanh", "exp"):
                tokens.append(_Token("func", name, pos, end))
            elif name in _SIZE_MACROS:
                tokens.append(_Token("size", name, pos, end))
            elif name in ("{", "}"):
                tokens.append(_Token("op", "\\" + name, pos, end))
            else:
                tokens.append(_Token("cmd", name, pos, end))
        elif kind == "num":
            tokens.append(_Token("num", value, pos, end))
        elif kind == "word":
            if value in GREEK:
                tokens.append(_Token("sym", value, pos, end))
            elif value in _FUNCTION_WORDS:
                tokens.append(_Token("func", _FUNCTION_WORDS[value], pos, end))
            else:
                tokens += [_Token("sym", c, pos + k, pos + k + 1) for k, c in enumerate(value)]
        else:
            if value in _UNICODE_GREEK:
                tokens.append(_Token("sym", _UNICODE_GREEK[value], pos, end))
            elif value == "∂":
                tokens.append(_Token("partial", value, pos, end))
            elif value in "−–":
                tokens.append(_Token("op", "-", pos, end))
            elif value in "·×⋅":
                tokens.append(_Token("op", "*", pos, end))
            elif value == "~":
                continue
            elif value in "+-*/^_{}()[]&',|=.":
                tokens.append(_Token("op", value, pos, end))
            else:
                tokens.append(_Token("other", value, pos, end))
    # After _, ^ and \frac a number takes no exponent part; \frac14 is \frac{1}{4}: split
    # a digit run right after \frac into single digits.
    out = []
    for i, tok in enumerate(tokens):
        owner = (tokens[i - 1].kind, tokens[i - 1].value) if i else None
        if tok.kind != "num" or owner not in _SCRIPT_OWNERS:
            out.append(tok)
            continue
        parts = _split_exponent(tok)
        head = parts[0]
        if owner[0] == "cmd" and head.value.isdigit():
            out += [_Token("num", c, head.pos + k, head.pos + k + 1) for k, c in enumerate(head.value)]
        else:
            out.append(head)
        out += parts[1:]
    return out


def _pairs(tokens):
    """Closing index of every ``{`` (braces only) and of every opener (any bracket kind)."""
    braces, groups, brace_stack, group_stack = {}, {}, [], []
    for j, tok in enumerate(tokens):
        if tok.kind != "op":
            continue
        if tok.value == "{":
            brace_stack.append(j)
        elif tok.value == "}" and brace_stack:
            braces[brace_stack.pop()] = j
        if tok.value in _OPEN_CLOSE:
            group_stack.append(j)
        elif tok.value in _CLOSERS and group_stack:
            groups[group_stack.pop()] = j
    return braces, groups


