"""The small protocol every layer follows, and helpers for batched maps.

A layer has ``forward(x)``, ``jacobian(x, wrt="input")`` and ``params`` (a dict of
its parameter arrays, in a fixed order). Layers that keep something from the
forward pass for their Jacobian (max-pool switches, softmax probabilities) return
it from ``forward_with_cache`` and accept it back as ``jacobian(..., cache=...)``.
The layers of this package build their Jacobians in ``_jacobian_parts`` as CSR
arrays (:mod:`jacobian_cnn._sparse.csr`); ``jacobian`` wraps them in a ``csr_array``.
See :mod:`jacobian_cnn.vec` for the index conventions.

Each of them also has a readable definition of every Jacobian, next to its forward
pass: a generator of *entries* ``(row, column, term)``, one per structural nonzero
(loops over outputs and window taps, or the Kronecker/selection form), where ``term``
names where the value comes from:

==========================  ==========================================================
``("one",)``                the number 1 (biases, selections, permutations)
``("divisor", d)``          ``1 / d`` (average pooling)
``("kernel", k)``           ``vec(K)[k]``; likewise ``("weight", k)``
``("input", i)``            ``vec(x)[i]``
``("derivative", i)``       ``f'(vec(x)[i])`` of an elementwise ``f``
``("softmax", i, j)``       ``s_i (delta_ij - s_j)`` with ``s = softmax``
``("gradient", i)``         entry ``i`` of a loss's gradient (its own formula)
==========================  ==========================================================

:meth:`Layer.reference_jacobian` evaluates those entries with numbers
(:func:`evaluate`); the symbolic rules (:mod:`jacobian_cnn.symbolic.rules`) evaluate the
same entries with SymPy expressions, so the two cannot diverge.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from jacobian_cnn._arguments import float_array, index_dtype, wrt_name
from jacobian_cnn.errors import InvalidValueError


class Layer:
    """Base class: a differentiable map ``y = f(x)`` with explicit Jacobians.

    A layer of your own that subclasses ``Layer`` and implements ``forward`` and
    ``jacobian`` works in a :class:`~jacobian_cnn.Chain`, which multiplies through what
    its ``jacobian`` returns. Only the package's own layers hand the chain their CSR
    arrays directly (the faster route); the results are the same."""

    #: names accepted by ``jacobian(x, wrt=...)`` besides "input", in order
    param_names: tuple = ()

    @property
    def params(self):
        """Parameter arrays by name (``{}`` for layers without parameters)."""
        return {name: getattr(self, name) for name in self.param_names
                if getattr(self, name) is not None}

    def forward(self, x):
        """Compute ``y = f(x)``."""
        raise NotImplementedError

    def forward_with_cache(self, x):
        """``(y, cache)``: the output and what :meth:`jacobian` needs from the forward pass."""
        return self.forward(x), None

    def jacobian(self, x, wrt="input", *, cache=None, max_bytes=None):
        """``d vec(y) / d vec(wrt)`` as a ``csr_array`` of shape ``(y.size, wrt.size)``.

        Parameters
        ----------
        x : array_like
            The input at which to differentiate.
        wrt : str
            ``"input"`` or the name of a parameter (see :attr:`params`).
        cache : optional
            What ``forward_with_cache(x)`` returned besides the output (max-pool
            switches, softmax probabilities); computed from ``x`` when omitted.
        max_bytes : int, optional
            Refuse (``JacobianTooLargeError``, before allocating) a Jacobian whose
            estimated size exceeds this; the default is 2 GiB.

        Returns
        -------
        scipy.sparse.csr_array
            Canonical (columns sorted within each row, no duplicates), 32-bit indices
            whenever they fit; what each layer stores is described in its class
            docstring.
        """
        return self._jacobian_parts(x, wrt, cache=cache, max_bytes=max_bytes).tocsr()

    def _jacobian_parts(self, x, wrt="input", *, cache=None, max_bytes=None):
        """The Jacobian's CSR arrays, a :class:`jacobian_cnn._sparse.csr.CSRParts`."""
        raise NotImplementedError

    def reference_jacobian(self, x, wrt="input", *, cache=None):
        """:meth:`jacobian` from the readable definition next to the forward pass (slow).

        The definition lists the structural nonzeros one by one, as the derivation
        writes them (see the module docstring); they are evaluated in ``x``'s precision
        by :func:`evaluate`. The fast :meth:`jacobian` must equal this matrix: same
        shape, same stored entries, same values (bit for bit, except where the
        layer's docstring says repeated taps are summed in another order). Meant for
        tests and for reading, at teaching sizes: it runs a Python loop per entry.

        Examples
        --------
        >>> import numpy as np
        >>> import jacobian_cnn as jc
        >>> pool = jc.AvgPool2D(2, stride=1)
        >>> print(pool.reference_jacobian(np.zeros((3, 3))).toarray() * 4)
        [[1. 1. 0. 1. 1. 0. 0. 0. 0.]
         [0. 1. 1. 0. 1. 1. 0. 0. 0.]
         [0. 0. 0. 1. 1. 0. 1. 1. 0.]
         [0. 0. 0. 0. 1. 1. 0. 1. 1.]]
        """
        return evaluate(self._definition(x, self._check_wrt(wrt), cache))

    def _definition(self, x, wrt, cache):
        """The :class:`Definition` of ``d vec(y) / d vec(wrt)`` at ``x``."""
        raise NotImplementedError

    def definition(self, x, wrt="input", *, cache=None):
        """The readable :class:`Definition` of ``d vec(y) / d vec(wrt)`` at ``x``: its entries
        ``(row, column, term)`` one per structural nonzero, and what each term means (the
        module docstring); :meth:`reference_jacobian` evaluates it.

        Examples
        --------
        >>> import numpy as np
        >>> import jacobian_cnn as jc
        >>> d = jc.Dense(np.ones((2, 1))).definition(np.array([3., 4.]), "weight")
        >>> list(d.entries), d.shape
        ([(0, 0, ('input', 0)), (0, 1, ('input', 1))], (1, 2))
        """
        return self._definition(x, self._check_wrt(wrt), cache)

    def _check_wrt(self, wrt):
        return wrt_name(wrt, {"input", *self.params}, type(self).__name__)


class Parameter:
    """A checked, read-only array attribute of a layer (a parameter, a loss's target).

    Reading gives the stored copy; assigning stores what the layer's
    ``_checked_<name>(value)`` returns (a read-only copy, or an error naming what is
    allowed), in the constructor as afterwards.
    """

    def __init__(self, doc):
        self.__doc__ = doc

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, layer, owner=None):
        if layer is None:
            return self
        try:
            return layer.__dict__[self.name]
        except KeyError:
            raise AttributeError(f"{type(layer).__name__} has no {self.name} yet") from None

    def __set__(self, layer, value):
        layer.__dict__[self.name] = getattr(layer, f"_checked_{self.name}")(value)


class Definition(NamedTuple):
    """A Jacobian as its readable definition: entries and what their terms mean.

    Attributes
    ----------
    entries : iterable of (int, int, tuple)
        ``(row, column, term)`` for every structural nonzero; an entry repeated at
        the same ``(row, column)`` is summed (copying padding modes).
    shape : (int, int)
    values : dict
        For each term kind, a function of the term's indices giving its number.
    dtype : numpy.dtype
        The precision the values are computed in.
    """

    entries: object
    shape: tuple
    values: dict
    dtype: object


def numeric_terms(dtype, **arrays):
    """Numbers of the terms ``("one",)``, ``("divisor", d)`` and ``(name, i)`` for each
    array given (looked up in its ``vec``), computed in ``dtype``."""
    dtype = np.dtype(dtype)
    values = {name: _lookup(np.ravel(a, order="F").astype(dtype, copy=False))
              for name, a in arrays.items()}
    values["one"] = lambda: dtype.type(1)
    values["divisor"] = lambda d: dtype.type(1.0 / d)
    return values


def _lookup(flat):
    return lambda i: flat[i]


def evaluate(definition):
    """The ``csr_array`` of a :class:`Definition`.

    Entries at the same ``(row, column)`` are added in the order the definition
    yields them; every entry it yields is stored (even one whose value is 0), with
    columns sorted within each row, 32-bit indices when they fit.
    """
    entries, shape, values, dtype = definition
    dtype = np.dtype(dtype)
    sums = {}
    for row, col, (kind, *index) in entries:
        value = dtype.type(values[kind](*index))
        key = (int(row), int(col))
        sums[key] = sums[key] + value if key in sums else value
    keys = sorted(sums)
    index = index_dtype(shape[0], shape[1], len(keys))
    rows = np.array([k[0] for k in keys], dtype=np.int64)
    indptr = np.zeros(shape[0] + 1, index)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    indices = np.array([k[1] for k in keys], dtype=index)
    data = np.array([sums[k] for k in keys], dtype=dtype)
    return sp.csr_array((data, indices, indptr), shape=shape)


def as_maps(x, name="x"):
    """View ``x`` as ``(H, W, C, N)``; return ``(x4, ndim)`` with the original ndim."""
    x = float_array(x, name)
    if x.ndim not in (2, 3, 4):
        raise InvalidValueError(
            f"{name} must be (H, W), (H, W, C) or a batch (H, W, C, N); got shape {x.shape}"
        )
    return x.reshape(x.shape + (1,) * (4 - x.ndim)), x.ndim


def maps_like(y4, ndim):
    """Shape an ``(Ho, Wo, C, N)`` result like an input of ``ndim`` dimensions."""
    if ndim == 4:
        return y4
    if ndim == 2 and y4.shape[2] == 1:
        return y4[:, :, 0, 0]
    return y4[:, :, :, 0]


def describe(stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), *, default_stride=(1, 1)):
    """Short text of the non-default geometry arguments, for layer reprs.

    Examples
    --------
    >>> from jacobian_cnn.ops.layer import describe
    >>> describe((1, 2), ((1, 1), (1, 1)), (1, 1))
    'stride=(1, 2), padding=1'
    """
    parts = []
    if stride != default_stride:
        parts.append(f"stride={stride[0] if stride[0] == stride[1] else stride}")
    (top, bottom), (left, right) = padding
    if top == bottom == left == right:
        if top:
            parts.append(f"padding={top}")
    elif top == bottom and left == right:
        parts.append(f"padding={(top, left)}")
    else:
        parts.append(f"padding={padding}")
    if dilation != (1, 1):
        parts.append(f"dilation={dilation[0] if dilation[0] == dilation[1] else dilation}")
    return ", ".join(parts)
