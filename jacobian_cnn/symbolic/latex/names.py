"""Entry symbol names: the base letters (Greek tables), the 1-based index rule, the ``∂N/∂D``
derivative symbols, decomposing a name, and the ``vec`` sort key of names."""

from __future__ import annotations

import importlib
import re

from jacobian_cnn.errors import InvalidTypeError, InvalidValueError

GREEK = (
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
    "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau",
    "upsilon", "phi", "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda",
    "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega",
)
_UNICODE_GREEK = dict(zip("αβγδεζηθικλμνξπρστυφχψωΓΔΘΛΞΠΣΥΦΨΩ", (
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
    "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi",
    "Omega"), strict=True))
_GREEK_UNICODE = {name: char for char, name in _UNICODE_GREEK.items()}
_GREEK_UNICODE.update(varepsilon="ε", vartheta="θ", varphi="φ")

def require_sympy():
    """Import SymPy, or raise ``ImportError`` saying how to install the ``symbolic`` extra.

    Examples
    --------
    >>> from jacobian_cnn.symbolic.latex import require_sympy
    >>> require_sympy().__name__
    'sympy'
    """
    try:
        return importlib.import_module("sympy")
    except ImportError as exc:
        raise ImportError(
            "symbolic Jacobians, LaTeX parsing and the hand-derivation checker need SymPy: "
            "pip install 'jacobian_cnn[symbolic]' (or pip install sympy)"
        ) from exc


# --------------------------------------------------------------------------------------
# symbol names

def normalize_base(name, what="name"):
    """Validate a symbol base: one ASCII letter or a Greek letter name (``"beta"``/``"\\\\beta"``).

    Examples
    --------
    >>> from jacobian_cnn.symbolic.latex import normalize_base
    >>> normalize_base("\\\\beta"), normalize_base("k"), normalize_base("β")
    ('beta', 'k', 'beta')
    """
    if not isinstance(name, str):
        raise InvalidTypeError(f"{what} must be a string, got {name!r}")
    base = name[1:] if name.startswith("\\") else name
    base = _UNICODE_GREEK.get(base, base)
    if not (re.fullmatch(r"[A-Za-z]", base) or base in GREEK):
        raise InvalidValueError(f"{what} must be one letter or a Greek letter name like 'beta', got {name!r}")
    if base == "d":
        raise InvalidValueError(f"{what} 'd' is reserved for differentials (dJ/dp); choose another letter")
    return base


def format_indices(indices):
    """Subscript text of 1-based indices: digits run together below 10, commas otherwise.

    Examples
    --------
    >>> from jacobian_cnn.symbolic.latex import format_indices
    >>> format_indices((1, 2)), format_indices((1, 1, 2)), format_indices((10, 2))
    ('12', '112', '10,2')
    """
    indices = tuple(int(i) for i in indices)
    if all(0 <= i <= 9 for i in indices):
        return "".join(str(i) for i in indices)
    return ",".join(str(i) for i in indices)


def _canonical_subscript(raw):
    """``'1,1'`` -> ``'11'``; ``'10,2'`` stays; letters stay (spaces removed)."""
    raw = raw.replace(" ", "")
    if re.fullmatch(r"\d+(,\d+)+", raw):
        return format_indices(int(p) for p in raw.split(","))
    return raw


def _subscript_indices(sub):
    """1-based index tuple of a numeric subscript, or ``None``."""
    if re.fullmatch(r"\d+", sub):
        return tuple(int(c) for c in sub)
    if re.fullmatch(r"\d+(,\d+)+", sub):
        return tuple(int(p) for p in sub.split(","))
    return None


def _plain_name(base, sub=None, tag=None):
    return base + (f"^{{[{tag}]}}" if tag else "") + (f"_{{{sub}}}" if sub else "")


def entry_symbol(base, indices=(), tag=None):
    """The SymPy symbol of one named entry, e.g. ``a_{21}`` for ``base="a", indices=(2, 1)``.

    Parameters
    ----------
    base : str
        One letter or a Greek letter name (see :func:`normalize_base`).
    indices : tuple of int
        1-based indices (empty: no subscript).
    tag : str, optional
        Layer tag written as a superscript, ``k^{[2]}_{11}``.

    Examples
    --------
    >>> from jacobian_cnn.symbolic.latex import entry_symbol
    >>> entry_symbol("a", (2, 1)), entry_symbol("\\\\beta", (1, 2)), entry_symbol("a", (10, 2))
    (a_{21}, beta_{12}, a_{10,2})
    """
    sympy = require_sympy()
    base = normalize_base(base)
    return sympy.Symbol(_plain_name(base, format_indices(indices) if len(indices) else None, tag))


def derivative_symbol(numerator, denominator):
    """The single symbol ``∂N/∂D`` for two entry symbols (an incoming gradient or a label).

    Examples
    --------
    >>> from jacobian_cnn.symbolic.latex import derivative_symbol, entry_symbol
    >>> derivative_symbol(entry_symbol("J"), entry_symbol("p", (1, 1)))
    ∂J/∂p_{11}
    """
    sympy = require_sympy()
    return sympy.Symbol(f"∂{numerator.name}/∂{denominator.name}")


def differential_symbol(symbol):
    """The header symbol ``∂a_{11}`` of an entry symbol."""
    sympy = require_sympy()
    return sympy.Symbol(f"∂{symbol.name}")


_NAME_RE = re.compile(r"(?P<base>[A-Za-z]+)(?:\^\{\[(?P<tag>[^\]]*)\]\})?(?:_\{(?P<sub>[^{}]*)\})?")


def symbol_parts(symbol):
    """Decompose a symbol name made by this module.

    Returns ``("entry", base, tag, sub)``, ``("derivative", numerator_name,
    denominator_name)``, ``("differential", name)`` or ``("other", name)``.

    Examples
    --------
    >>> from jacobian_cnn.symbolic.latex import symbol_parts, entry_symbol
    >>> symbol_parts(entry_symbol("k", (1, 2), tag="2"))
    ('entry', 'k', '2', '12')
    """
    name = symbol.name if hasattr(symbol, "name") else str(symbol)
    if name.startswith("∂"):
        if "/∂" in name:
            num, den = name[1:].split("/∂", 1)
            return ("derivative", num, den)
        return ("differential", name[1:])
    m = _NAME_RE.fullmatch(name)
    if m:
        return ("entry", m["base"], m["tag"], m["sub"])
    return ("other", name)


def _name_key(name):
    """Sort key putting entry names in vec order (last index slowest)."""
    m = _NAME_RE.fullmatch(name)
    if not m:
        return (name, "", (), "")
    sub = m["sub"] or ""
    idx = _subscript_indices(sub)
    return (m["base"], m["tag"] or "", tuple(reversed(idx)) if idx else (), "" if idx else sub)


def _symbol_key(symbol):
    parts = symbol_parts(symbol)
    if parts[0] == "derivative":
        return (0, _name_key(parts[2]), _name_key(parts[1]))
    if parts[0] == "differential":
        return (2, _name_key(parts[1]), ())
    return (1, _name_key(symbol.name), ())


