"""Names of the symbolic entries: the letters, the 1-based entry names, and their arrays.

Inputs ``a_{ij}`` (``a_{ijc}`` with a channel), kernel entries ``k_{rs}``
(``k_{rs c_in c_out}`` with channels), dense weights ``w_{ij}``, biases ``b_{j}``;
subscripts are 1-based (``a_{11}`` is ``x[0, 0]``), see :mod:`jacobian_cnn.symbolic.latex`.
Arrays of entries are NumPy object arrays, listed in ``vec`` order
(:mod:`jacobian_cnn.vec`) by :func:`vec_list`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from jacobian_cnn.symbolic.latex import entry_symbol, format_indices, normalize_base, require_sympy

__all__ = ["Names", "entry_names", "as_rational"]


@dataclass(frozen=True)
class Names:
    """Letters of the named entries (one letter or a Greek name such as ``"beta"``).

    Attributes
    ----------
    input : str
        Input entries, ``a_{ij}``.
    output : str or None
        Output entries; ``None`` picks by layer: ``z`` (conv, dense), ``p``
        (pooling), ``f`` (flatten), ``s`` (softmax), ``y`` (other activations).
    kernel, weight, bias : str
        Parameter entries ``k_{rs}``, ``w_{ij}``, ``b_{j}``.
    gamma, beta : str
        Normalization scale and shift entries ``gamma_{c}``, ``beta_{c}``.
    loss : str
        The scalar whose gradient is pushed back, ``∂J/∂p_{mn}``.

    Examples
    --------
    >>> from jacobian_cnn.symbolic import Names
    >>> Names(kernel="\\\\beta").kernel
    'beta'
    """

    input: str = "a"
    output: str | None = None
    kernel: str = "k"
    weight: str = "w"
    bias: str = "b"
    gamma: str = "gamma"
    beta: str = "beta"
    loss: str = "J"

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None and field.name == "output":
                continue
            object.__setattr__(self, field.name, normalize_base(value, f"names.{field.name}"))



def index_dims(shape):
    """How many leading axes name an entry: trailing singleton axes beyond the second are dropped."""
    dims = len(shape)
    while dims > 2 and shape[dims - 1] == 1:
        dims -= 1
    return dims


def entry_names(base, shape):
    """Names of an array's entries in ``vec`` order (no SymPy needed), 1-based.

    Trailing singleton axes beyond the second do not get an index.

    Examples
    --------
    >>> from jacobian_cnn.symbolic import entry_names
    >>> entry_names("a", (2, 2, 1))
    ['a_{11}', 'a_{21}', 'a_{12}', 'a_{22}']
    >>> entry_names("beta", (1, 1, 2))
    ['beta_{111}', 'beta_{112}']
    """
    base = normalize_base(base)
    dims = index_dims(shape)
    return [f"{base}_{{{format_indices(i + 1 for i in idx[:dims])}}}"
            for idx in zip(*np.unravel_index(np.arange(int(np.prod(shape))), shape, order="F"), strict=True)]


def symbol_array(base, shape, tag=None):
    """Object array of ``shape`` holding the named entries ``base_{ij...}`` (``tag``: a layer tag)."""
    dims = index_dims(shape)
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = entry_symbol(base, tuple(i + 1 for i in idx[:dims]), tag)
    return out


def as_rational(value):
    """Exact SymPy rational of a number: the simplest fraction within 1e-12, else the binary value.

    Examples
    --------
    >>> from jacobian_cnn.symbolic import as_rational
    >>> as_rational(0.25), as_rational(1 / 3)
    (1/4, 1/3)
    """
    sympy = require_sympy()
    f = Fraction(float(value))
    g = f.limit_denominator(10**6)
    if abs(float(g) - float(value)) <= 1e-12 * max(1.0, abs(float(value))):
        f = g
    return sympy.Rational(f.numerator, f.denominator)


def parameter_arrays(layer, names, tag, params):
    """The layer's parameters as named entries (``params="symbols"``) or exact rationals."""
    if params == "symbols":
        return {name: symbol_array(getattr(names, name), np.shape(a), tag)
                for name, a in layer.params.items()}
    return {name: value_array(np.asarray(a)) for name, a in layer.params.items()}


def value_array(values):
    """Object array of the exact rationals of a numeric array (:func:`as_rational`)."""
    out = np.empty(values.shape, dtype=object)
    for idx in np.ndindex(*values.shape):
        out[idx] = as_rational(values[idx])
    return out


def vec_list(array):
    """The entries of an array in ``vec`` (column-major) order, as a list."""
    return list(np.asarray(array, dtype=object).ravel(order="F"))


def unvec_list(values, shape):
    """An object array of ``shape`` from its entries in ``vec`` order."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out.reshape(shape, order="F")

