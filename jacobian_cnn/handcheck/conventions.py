"""The conventions a hand derivation may be written in, each with a name a person can declare.

This package's own conventions are stated once in :mod:`jacobian_cnn.vec` (1-based entry names,
column-major ``vec``, numerator layout, ``z = W^T x`` with ``W`` of shape ``(n_in, n_out)``,
cross-correlation, max-pool ties to the first maximum in column-major order). Published
derivations often use others. :class:`Conventions` names each choice; :func:`check_derivation
<jacobian_cnn.handcheck.check.check_derivation>` reads a written matrix under the declared ones
and, when it is wrong as declared, tries the others and says which declaration makes it right.

Examples
--------
>>> from jacobian_cnn.handcheck import Conventions
>>> c = Conventions(index_base=0, vec_order="C")
>>> print(c.describe())
0-based indices, row-major vec order
>>> c.options()
'--index-base 0 --vec-order C'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from jacobian_cnn.errors import InvalidTypeError, InvalidValueError

CHOICES = {
    "index_base": (1, 0),
    "vec_order": ("F", "C"),
    "layout": ("numerator", "denominator"),
    "weight_orientation": ("in_out", "out_in"),
    "convolution": ("cross", "true"),
    "tie": ("column_major", "row_major"),
    "flatten_order": ("F", "C", "torch"),
    "count_include_pad": (True, False),
}
"""Every convention and its values; the first value of each is this package's own."""

_WORDS = {
    ("index_base", 1): "1-based indices", ("index_base", 0): "0-based indices",
    ("vec_order", "F"): "column-major vec order", ("vec_order", "C"): "row-major vec order",
    ("layout", "numerator"): "numerator layout", ("layout", "denominator"): "denominator layout",
    ("weight_orientation", "in_out"): "z = W^T x with W of shape (n_in, n_out)",
    ("weight_orientation", "out_in"): "z = W x with W of shape (n_out, n_in)",
    ("convolution", "cross"): "cross-correlation", ("convolution", "true"): "true convolution",
    ("tie", "column_major"): "max-pool ties to the first maximum in column-major order",
    ("tie", "row_major"): "max-pool ties to the first maximum in row-major order",
    ("flatten_order", "F"): "column-major flatten", ("flatten_order", "C"): "row-major flatten",
    ("flatten_order", "torch"): "PyTorch's flatten order (channel slowest)",
    ("count_include_pad", True): "average pooling divides by the whole window",
    ("count_include_pad", False): "average pooling divides by the taps inside the input",
}


@dataclass(frozen=True)
class Conventions:
    """The conventions a derivation is written in.

    Attributes
    ----------
    index_base : {1, 0}
        Entry names start at ``a_{11}`` (1) or ``a_{00}`` / ``w_{0,0}`` (0).
    vec_order : {"F", "C"}
        Order in which a Jacobian's rows and columns (a gradient row's entries) list the
        entries of a matrix: column by column (``F``, this package's ``vec``) or row by row.
    layout : {"numerator", "denominator"}
        A Jacobian ``n_out x n_in`` (numerator) or its transpose (denominator; a gradient is
        then a column).
    weight_orientation : {"in_out", "out_in"}
        A dense layer ``z = W^T x`` with ``W`` of shape ``(n_in, n_out)`` (``w_{ij}`` joins
        input i to output j) or ``z = W x`` with ``W`` ``(n_out, n_in)`` (most lecture notes).
    convolution : {"cross", "true"} or None
        A convolution layer is a cross-correlation or a true convolution (kernel rotated);
        ``None``: as the problem says (``flip_kernel=``, default cross-correlation).
    tie : {"column_major", "row_major"} or None
        Which maximum wins a max-pooling tie: the first in column-major or in row-major order;
        ``None``: the layer's own rule (``MaxPool2D(tie=...)``).
    flatten_order : {"F", "C", "torch"} or None
        The order of a flatten layer; ``None``: the layer's own.
    count_include_pad : bool or None
        Average pooling with padding divides by the whole window (``True``) or by the taps
        inside the input; ``None``: the layer's own.
    """

    index_base: int = 1
    vec_order: str = "F"
    layout: str = "numerator"
    weight_orientation: str = "in_out"
    convolution: str | None = None
    tie: str | None = None
    flatten_order: str | None = None
    count_include_pad: bool | None = None

    def __post_init__(self):
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value is None and name in _LAYER_OWN:
                continue
            if isinstance(value, bool) != (name == "count_include_pad") or value not in allowed:
                raise InvalidValueError(f"conventions: {name} must be one of "
                                        f"{', '.join(map(repr, allowed))}, got {value!r}")

    @classmethod
    def coerce(cls, conventions=None, **changes):
        """A :class:`Conventions` from ``None``, an instance or a dict, with ``changes`` applied."""
        if conventions is None:
            conventions = cls()
        elif isinstance(conventions, dict):
            conventions = cls(**_known(conventions))
        elif not isinstance(conventions, cls):
            raise InvalidTypeError("conventions must be a Conventions, a dict or None, got "
                                   f"{type(conventions).__name__}")
        return dataclasses.replace(conventions, **_known(changes)) if changes else conventions

    def changed(self, other=None):
        """Names of the fields where ``self`` differs from ``other`` (default: the package's)."""
        out = []
        for name in CHOICES:
            mine = getattr(self, name)
            theirs = CHOICES[name][0] if other is None else getattr(other, name)
            if mine is not None and mine != (CHOICES[name][0] if theirs is None else theirs):
                out.append(name)
        return out

    def describe(self, fields=None):
        """The conventions in words (every non-default one, or ``fields``)."""
        fields = self.changed() if fields is None else fields
        if not fields:
            return "this package's conventions (1-based, column-major vec, numerator layout)"
        return ", ".join(_WORDS[(name, getattr(self, name))] for name in fields)

    def options(self, fields=None):
        """The ``jacobian-cnn check`` options that declare ``fields`` (default: the non-default)."""
        fields = self.changed() if fields is None else fields
        return " ".join(_option(name, getattr(self, name)) for name in fields)

    def keywords(self, fields=None):
        """The same as Python keyword arguments of ``check_derivation``."""
        fields = self.changed() if fields is None else fields
        return ", ".join(f"{name}={getattr(self, name)!r}" for name in fields)


def _option(name, value):
    if name == "count_include_pad":  # the operation's own switch
        return "--no-count-include-pad" if not value else "(without --no-count-include-pad)"
    return f"--{name.replace('_', '-')} {value}"


_LAYER_OWN = ("convolution", "tie", "flatten_order", "count_include_pad")


def _known(mapping):
    unknown = sorted(set(mapping) - set(CHOICES))
    if unknown:
        raise InvalidValueError(f"unknown convention(s) {unknown}; known: {sorted(CHOICES)}")
    return mapping
