"""The small protocol every layer follows, and helpers for batched maps.

A layer has ``forward(x)``, ``jacobian(x, wrt="input")`` and ``params`` (a dict of
its parameter arrays, in a fixed order). Layers that keep something from the
forward pass for their Jacobian (max-pool switches, softmax probabilities) return
it from ``forward_with_cache`` and accept it back as ``jacobian(..., cache=...)``.
The layers of this package build their Jacobians in ``_jacobian_parts`` as CSR
arrays (:mod:`jacobian_cnn._sparse.csr`); ``jacobian`` wraps them in a ``csr_array``.
See :mod:`jacobian_cnn.vec` for the index conventions.
"""

from __future__ import annotations

from jacobian_cnn._arguments import float_array, wrt_name
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
            estimated size exceeds this; the default is
            :data:`jacobian_cnn._arguments.DEFAULT_MAX_BYTES`.

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

    def _check_wrt(self, wrt):
        return wrt_name(wrt, {"input", *self.params}, type(self).__name__)


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
