"""Reading a written matrix in its own conventions: bold-face names unwrapped, entry names
renamed to this package's (0-based indices moved to 1-based, ``z = W x`` weights swapped), and
the letters a derivation uses for the kernel, the loss and the input detected from its symbols.

Examples
--------
>>> from jacobian_cnn.handcheck.rewrite import unwrap_bold
>>> unwrap_bold(r"\\mathbf{W}_{12} + \\boldsymbol{\\beta}_{11} \\bm{x}_{1} + \\ell")
'W_{12} + \\\\beta_{11} x_{1} + l'
"""

from __future__ import annotations

import re

import numpy as np

from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.symbolic.latex import format_indices, require_sympy, symbol_parts

_BOLD = re.compile(r"\\(?:mathbf|boldsymbol|bm|mathbfit|mathit|vec)\s*(?:\{\s*([^{}]*?)\s*\}|(\\?[A-Za-z]))")

ROLE_LETTERS = {
    "kernel": ("k", "w", "W", "K", "beta", "theta"),
    "weight": ("w", "W", "theta", "beta"),
    "loss": ("J", "L", "E", "l", "C"),
    "input": ("a", "x", "X"),
}
"""Letters recognised, by role, when a derivation names entries its own way."""


def unwrap_bold(text):
    """``\\mathbf{W}``, ``\\boldsymbol{\\beta}``, ``\\bm x`` -> the name inside; ``\\ell`` -> ``l``."""
    text = _BOLD.sub(lambda m: m[1] if m[1] is not None else m[2], text)
    return re.sub(r"\\ell(?![A-Za-z])", "l", text)


def _indices(sub):
    if sub is None:
        return None
    if re.fullmatch(r"\d+", sub):
        return tuple(int(c) for c in sub)
    if re.fullmatch(r"\d+(,\d+)+", sub):
        return tuple(int(p) for p in sub.split(","))
    return None


def has_zero_index(W):
    """Whether any entry name in the written matrix has a 0 index (``w_{0,0}``)."""
    return any(0 in idx for idx in _all_indices(W))


def _all_indices(W):
    for value in W.ravel():
        for s in value.free_symbols:
            for name in _entry_names(s.name):
                parts = symbol_parts(name)
                idx = _indices(parts[3]) if parts[0] == "entry" else None
                if idx:
                    yield idx


def _entry_names(name):
    parts = symbol_parts(name)
    if parts[0] == "derivative":
        return [parts[1], parts[2]]
    return [name] if parts[0] == "entry" else []


def letters_used(W):
    """The set of entry letters in the written matrix (numerators and denominators included)."""
    out = set()
    for value in W.ravel():
        for s in value.free_symbols:
            for name in _entry_names(s.name):
                out.add(symbol_parts(name)[1])
    return out


def _rename_entry(name, shift, swap_letter, rename):
    parts = symbol_parts(name)
    if parts[0] != "entry":
        return name
    _, base, tag, sub = parts
    idx = _indices(sub)
    if idx is not None:
        idx = tuple(i + shift for i in idx)
        if base == swap_letter and len(idx) == 2:
            idx = idx[::-1]
        sub = format_indices(idx)
    base = rename.get(base, base)
    return base + (f"^{{[{tag}]}}" if tag else "") + (f"_{{{sub}}}" if sub else "")


def renamed(W, *, index_base=1, swap_letter=None, rename=None):
    """The written matrix with its names read as this package's.

    ``index_base=0`` adds one to every index; ``swap_letter`` (the weight's letter, for
    ``z = W x``) swaps the two indices of that letter's entries; ``rename`` maps letters.
    """
    sympy = require_sympy()
    shift, rename = (1 if index_base == 0 else 0), rename or {}
    if not shift and swap_letter is None and not rename:
        return W
    replace = {}
    for value in W.ravel():
        for s in value.free_symbols:
            if s in replace:
                continue
            parts = symbol_parts(s.name)
            if parts[0] == "derivative":
                new = (f"∂{_rename_entry(parts[1], shift, swap_letter, rename)}/"
                       f"∂{_rename_entry(parts[2], shift, swap_letter, rename)}")
            else:
                new = _rename_entry(s.name, shift, swap_letter, rename)
            if new != s.name:
                replace[s] = sympy.Symbol(new)
    if not replace:
        return W
    out = np.empty(W.shape, dtype=object)
    for idx, value in np.ndenumerate(W):
        out[idx] = value.xreplace(replace)
    return out


def detect_names(W, names, roles, fixed=()):
    """Letters to rename so that the written matrix uses the problem's ``names``.

    ``roles`` lists the roles the problem has (``"input"``, ``"kernel"``, ``"weight"``,
    ``"loss"``); ``fixed`` those a person declared (never renamed). A role whose letter is
    absent from the written matrix takes the one recognised letter of that role that is used
    and belongs to no other name; two candidates are ambiguous (an error naming the option).
    """
    used = letters_used(W)
    taken = {getattr(names, r) for r in ("input", "output", "bias", "loss", *roles)}
    rename = {}
    for role in roles:
        own = getattr(names, role)
        if role in fixed or own in used:
            continue
        found = [letter for letter in ROLE_LETTERS[role]
                 if letter in used and letter not in taken and letter not in rename]
        if len(found) > 1:
            option = f"--{role}-name" if role != "input" else "--input-name"
            raise InvalidValueError(
                f"the written matrix uses {' and '.join(found)}, and either may be the {role}; say "
                f"which with {option} (names={role}=...)")
        if found:
            rename[found[0]] = own
    return rename
