"""Check any layer or :class:`~jacobian_cnn.Chain` against PyTorch's or JAX's autograd.

For a layer (or a chain of them) this module builds the equivalent computation in
PyTorch (``torch.nn.functional`` on ``NCHW`` tensors) or JAX (``lax`` on ``NHWC``
arrays), differentiates it with ``torch.func.jacrev`` / ``jax.jacrev`` in float64,
maps the result into vec order with the explicit layout bridge of
:mod:`jacobian_cnn.compare.layout` (``P_y @ J_theirs @ P_x.T``) and compares it with this
package's sparse Jacobian using :func:`jacobian_cnn.compare_jacobians`. Index
conventions: :mod:`jacobian_cnn.vec`. The translations are
:mod:`~jacobian_cnn.compare.torch_layers` and :mod:`~jacobian_cnn.compare.jax_layers`,
the backend's side of the comparison :mod:`~jacobian_cnn.compare.backends`.

PyTorch and JAX are optional: they are imported only when a comparison asks for
them, and a missing one raises ``ImportError`` saying what to install.
:func:`available_backends` says which are installed.

Where a configuration has no native counterpart, the reference is composed from
the backend's primitives and :attr:`AutogradComparison.reference` says how:
asymmetric or oversized padding becomes an explicit ``pad``, PyTorch's
``ceil_mode`` becomes extra padding in JAX (which has no ceil mode), an average
pool's divisor in JAX is a window sum of ones. Max pooling with
``tie="column_major"`` (the default) differs from both libraries on ties: compare
``tie="row_major"`` layers on inputs with ties.

Examples
--------
>>> import numpy as np
>>> import jacobian_cnn as jc
>>> from jacobian_cnn.compare import jacobians
>>> conv = jc.Conv2D(np.ones((2, 2, 2, 4)), groups=2, padding=1, padding_mode="reflect")
>>> x = np.random.default_rng(0).normal(size=(4, 4, 4))
>>> result = jacobians.compare(conv, x, wrt="input")         # doctest: +SKIP
>>> print(result)                                            # doctest: +SKIP
vs torch, wrt input (forward error 8.9e-16)
  reference: F.pad(mode='reflect') -> F.conv2d(stride=(1, 1), dilation=(1, 1), groups=2, padding=0)
Jacobian (100, 64): max abs error 0.000e+00, max rel error 0.000e+00, 0 structural mismatches: OK

(Skipped as a doctest: it needs PyTorch; ``tests/test_autograd.py`` runs it all.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from jacobian_cnn._arguments import byte_limit
from jacobian_cnn.chain import Chain
from jacobian_cnn.checking import JacobianReport, compare_jacobians
from jacobian_cnn.compare.backends import (
    BACKENDS,
    available_backends,
    backend_jacobian,
    chain_target,
)
from jacobian_cnn.ops.pooling import MaxPool2D

__all__ = ["BACKENDS", "AutogradComparison", "available_backends", "jacobian", "compare",
           "compare_all"]


@dataclass
class AutogradComparison:
    """One Jacobian of this package compared with a backend's autograd.

    Attributes
    ----------
    backend : str
        ``"torch"`` or ``"jax"``.
    wrt : str
        ``"input"``, a parameter name, or ``"layers[i].name"`` in a chain.
    reference : str
        The backend computation that was differentiated.
    shape : tuple
        ``(y.size, wrt.size)``.
    nnz : int
        Stored entries of this package's Jacobian.
    forward_error : float
        Largest ``|y - y_backend|`` of the forward passes.
    report : JacobianReport
        Errors, structural mismatches and the worst entries, labelled by meaning.
    note : str
        A known reason for a mismatch, if one applies (the max-pool tie rule).
    """

    backend: str
    wrt: str
    reference: str
    shape: tuple
    nnz: int
    forward_error: float
    report: JacobianReport
    note: str = ""

    @property
    def ok(self):
        """Whether the Jacobians agree (within tolerance, same structure)."""
        return self.report.ok

    def __str__(self):
        text = (f"vs {self.backend}, wrt {self.wrt} (forward error {self.forward_error:.1e})\n"
                f"  reference: {self.reference}\n{self.report}")
        return text + (f"\n  note: {self.note}" if self.note else "")


def jacobian(layer, x, wrt="input", *, backend="torch", max_bytes=None):
    """The backend's autograd Jacobian of ``layer`` at ``x``, in vec order (dense float64).

    Parameters
    ----------
    layer : layer or Chain
        Any layer of :mod:`jacobian_cnn` (convolution, pooling, flatten, dense,
        activations, softmax, losses) or a :class:`~jacobian_cnn.Chain` of them.
    x : array_like
        The input, in this package's layout.
    wrt : str or (int, str)
        ``"input"`` or a parameter name (``"kernel"``, ``"bias"``, ``"weight"``); for a
        chain, ``"input"`` or ``(layer_index, name)``.
    backend : {"torch", "jax"}
    max_bytes : int, optional
        Refuse, before the backend is called, a dense Jacobian of
        ``y.size * wrt.size * 8`` bytes over this (:mod:`jacobian_cnn.vec`, "Size limits").

    Returns
    -------
    numpy.ndarray
        ``d vec(y) / d vec(wrt)``, ``(y.size, wrt.size)``, numerator layout.

    Raises
    ------
    ImportError
        If the backend is not installed (the message says what to install).
    TypeError
        If a layer has no known equivalent in the backend.
    NotImplementedError
        If the backend cannot differentiate the configuration (JAX: max pooling
        with dilation).
    """
    return backend_jacobian(layer, x, wrt, backend, max_bytes)[0]


def compare(layer, x, wrt="input", *, backend="torch", atol=None, rtol=None, n_worst=5,
            max_bytes=None):
    """Compare ``layer.jacobian(x, wrt)`` with the backend's autograd Jacobian.

    Parameters
    ----------
    layer, x, wrt, backend
        As for :func:`jacobian`.
    atol, rtol : float, optional
        Entry tolerances of :func:`jacobian_cnn.compare_jacobians`; by default
        ``1e-10, 1e-9`` for float64 input and ``1e-5, 1e-4`` for float32.
    n_worst : int
        How many failing entries the report lists.
    max_bytes : int, optional
        Limit of the dense autograd Jacobian, as for :func:`jacobian` (refused before
        the backend is called); the comparison's work arrays may take 8 times as
        much, this package's own Jacobians are held to it too.

    Returns
    -------
    AutogradComparison
    """
    J_ref, y_ref, reference = backend_jacobian(layer, x, wrt, backend, max_bytes)
    ours, y, y_shape, p_shape = _ours(layer, x, wrt, max_bytes)
    single = np.asarray(x).dtype == np.float32
    atol = (1e-5 if single else 1e-10) if atol is None else atol
    rtol = (1e-4 if single else 1e-9) if rtol is None else rtol
    name = wrt if isinstance(wrt, str) else f"layers[{wrt[0]}].{wrt[1]}"
    report = compare_jacobians(ours, J_ref, y_shape=y_shape or (1,), x_shape=p_shape,
                               names=("y", "x" if name == "input" else name),
                               atol=atol, rtol=rtol, n_worst=n_worst,
                               max_bytes=8 * byte_limit(max_bytes))
    forward_error = float(np.max(np.abs(np.ravel(y, order="F") - y_ref), initial=0.0))
    layers = layer.layers if isinstance(layer, Chain) else [layer]
    note = ""
    if not report.ok and any(isinstance(sub, MaxPool2D) and sub.tie == "column_major"
                             for sub in layers):
        note = (f"MaxPool2D's default tie='column_major' differs from {backend}'s rule (the first "
                "maximum in row-major order) where a window has tied maxima; tie='row_major' "
                "matches it")
    return AutogradComparison(backend, name, reference, tuple(ours.shape),
                              int(ours.nnz) if sp.issparse(ours) else int(np.count_nonzero(ours)),
                              forward_error, report, note)


def compare_all(layer, x, *, backends=None, atol=None, rtol=None, max_bytes=None):
    """:func:`compare` for the input and every parameter, with every backend.

    Parameters
    ----------
    backends : sequence of str, optional
        Default: the installed ones (:func:`available_backends`).
    atol, rtol, max_bytes
        As for :func:`compare`.

    Returns
    -------
    list of AutogradComparison
    """
    backends = available_backends() if backends is None else tuple(backends)
    wrts = ["input"]
    if isinstance(layer, Chain):
        wrts += [(i, name) for i, sub in enumerate(layer.layers) for name in sub.params]
    else:
        wrts += list(layer.params)
    return [compare(layer, x, wrt, backend=b, atol=atol, rtol=rtol, max_bytes=max_bytes)
            for b in backends for wrt in wrts]


# --- this package's side -----------------------------------------------------------

def _ours(layer, x, wrt, max_bytes=None):
    """``(J, y, y_shape, wrt_shape)`` from this package."""
    if isinstance(layer, Chain):
        y = np.asarray(layer.forward(x))
        if wrt == "input":
            return layer.jacobian(x, max_bytes=max_bytes), y, y.shape, np.shape(x)
        i, name = chain_target(layer, wrt)
        # identity rows: the full Jacobian
        rows = layer.backward(x, max_bytes=max_bytes).params[i][name]
        return rows, y, y.shape, getattr(layer.layers[i], name).shape
    y = np.asarray(layer.forward(x))
    shape = np.shape(x) if wrt == "input" else getattr(layer, wrt).shape
    return layer.jacobian(x, wrt=wrt, max_bytes=max_bytes), y, y.shape, shape
