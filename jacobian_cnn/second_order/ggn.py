"""The generalized Gauss-Newton matrix and the Fisher of softmax cross-entropy.

For a chain ``L = loss(f(x, theta))``, the GGN over variables ``theta`` (parameters, or
the input) is ``G = J^T H_loss J`` with ``J = d vec(f) / d vec(theta)`` the Jacobian of the
loss's input and ``H_loss`` the loss's own Hessian: the network Hessian of
:mod:`jacobian_cnn.second_order.hessian` without the terms of the layers below the loss.
Over a batch the loss averages, so ``G`` is the mean of the per-sample GGNs.

For softmax cross-entropy the *true Fisher* ``F = (1/N) sum_n E_{c ~ s_n} [grad l_n(c)
grad l_n(c)^T]`` (``l_n(c)`` the sample's loss with label ``c``, ``s_n`` its predicted
probabilities) equals the GGN, since ``E_c[(s - e_c)(s - e_c)^T] = diag(s) - s s^T`` is the
cross-entropy's Hessian in the logits. The *empirical Fisher* uses the given labels:
``(1/N) sum_n grad l_n grad l_n^T``. Both are computed here from those definitions (rows
``sqrt(s_c / N) (s - e_c)``, resp. ``(s - e_label) / sqrt(N)``, pushed back by
:meth:`Chain.backward`), independently of the GGN. Index conventions: :mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops.activations import softmax
from jacobian_cnn.ops.losses import SoftmaxCrossEntropy
from jacobian_cnn.second_order.assembly import (
    assemble,
    product_diagonal,
    square_roots,
    symmetric_rank_update,
)
from jacobian_cnn.second_order.backward import HessianTrace, backward_terms, guard
from jacobian_cnn.second_order.hessian import Hessian
from jacobian_cnn.second_order.variables import variable_sizes, variables

__all__ = ["ggn", "fisher", "FORMS"]

FORMS = ("full", "blocks", "diagonal")
"""``"full"``: a :class:`Hessian` over every chosen variable, cross blocks included;
``"blocks"``: ``{variable: csr_array}`` of the diagonal blocks; ``"diagonal"``:
``{variable: vec of the diagonal}``."""


def _form(form):
    if form not in FORMS:
        raise InvalidValueError(f"form must be one of {FORMS}, got {form!r}")
    return form


def _guard(form, sizes, dtype, max_bytes, what):
    if form == "full":
        guard(sum(sizes.values()), np.dtype(dtype).itemsize, max_bytes, what)
    elif form == "blocks":
        guard(max(sizes.values()), np.dtype(dtype).itemsize, max_bytes, f"a block of {what}")


def _dtype(x):
    return np.result_type(np.asarray(x).dtype, np.float32)


def ggn(chain, x, wrt="params", *, form="full", max_bytes=None):
    """The generalized Gauss-Newton matrix ``J^T H_loss J`` of a chain ending in a loss.

    Parameters
    ----------
    chain : Chain
    x : array_like
        One input or a batch (sample axis last).
    wrt : str, pair or list
        As for :func:`~jacobian_cnn.second_order.hessian.network_hessian`; default every
        parameter.
    form : {"full", "blocks", "diagonal"}
        See :data:`FORMS`. The diagonal is ``colsum(P * (H_loss P))``, never the matrix.
    max_bytes : int, optional
        For ``"full"`` the dense size of the whole matrix, for ``"blocks"`` of the largest
        block, is refused up front; every Jacobian and open product is checked too.

    Examples
    --------
    Dense then MSE: ``G = J^T (2/n) J`` is the whole Hessian (a linear model).

    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> net = jc.Chain([jc.Dense(np.eye(2)), jc.MSELoss(np.zeros(2))])
    >>> ggn(net, np.array([1., 2.]), form="diagonal")[(0, "weight")]
    array([1., 4., 1., 4.])
    """
    keys, sizes = _keys(chain, x, wrt)
    _guard(_form(form), sizes, _dtype(x), max_bytes, "the GGN")
    trace = HessianTrace()
    terms, _ = backward_terms(chain, x, keys, only_loss=True, max_bytes=max_bytes, trace=trace)
    if form == "full":
        return Hessian(assemble(terms, keys, sizes, _dtype(x)), keys, sizes, trace)
    (term,) = terms
    (T,) = term.blocks.values()
    (slot,) = term.slots.values()
    if form == "diagonal":
        return {key: product_diagonal(slot[key], T, slot[key]) for key in keys}
    return {key: sp.csr_array(_block(slot[key], T, sizes[key])) for key in keys}


def _keys(chain, x, wrt):
    keys = variables(chain, wrt)
    return keys, variable_sizes(chain, x, keys)


def _block(P, T, n):
    split = square_roots(P, T)
    if split is None:
        return T if P is None else P.T @ (T @ P)
    return symmetric_rank_update([split[0]], [split[1]], n, split[0].dtype)


def fisher(chain, x, wrt="params", *, kind="true", form="full", max_bytes=None):
    """The Fisher of a chain ending in :class:`~jacobian_cnn.SoftmaxCrossEntropy`.

    ``kind="true"`` takes the expectation over the model's predicted labels (equal to
    the GGN), ``kind="empirical"`` uses the loss's labels; both averaged over the batch
    (see the module docstring). ``wrt``, ``form`` and ``max_bytes`` as for :func:`ggn`.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> net = jc.Chain([jc.Dense(np.zeros((1, 2))), jc.SoftmaxCrossEntropy(0)])
    >>> fisher(net, np.array([2.]), kind="empirical", form="diagonal")[(0, "weight")]
    array([1., 1.])
    """
    if kind not in ("true", "empirical"):
        raise InvalidValueError(f"kind must be 'true' or 'empirical', got {kind!r}")
    loss = chain.layers[-1]
    if not isinstance(loss, SoftmaxCrossEntropy):
        raise InvalidValueError(f"the Fisher here is that of softmax cross-entropy; the chain ends "
                                f"in {loss!r}")
    keys, sizes = _keys(chain, x, wrt)
    dtype = _dtype(x)
    _guard(_form(form), sizes, dtype, max_bytes, "the Fisher")
    body = type(chain)(chain.layers[:-1])
    z = np.asarray(body.forward(x))
    rows = _fisher_rows(loss, z, kind)
    pushed = body.backward(x, rows, max_bytes=max_bytes)
    G = {key: pushed.input if key == "input" else pushed.params[key[0]][key[1]] for key in keys}
    if form == "diagonal":
        return {key: np.sum(G[key] ** 2, axis=0) for key in keys}
    if form == "blocks":
        return {key: sp.csr_array(symmetric_rank_update([G[key]], [], sizes[key], dtype))
                for key in keys}
    stacked = np.hstack([G[key] for key in keys])
    full = symmetric_rank_update([stacked], [], stacked.shape[1], dtype)
    return Hessian(sp.csr_array(full), keys, sizes, HessianTrace())


def _fisher_rows(loss, z, kind):
    """Rows over ``vec(z)`` whose Gram matrix, pushed back, is the Fisher."""
    z2 = z.reshape(z.shape[0], -1)
    n_classes, n_samples = z2.shape
    s = softmax(z2)
    labels = np.broadcast_to(loss.labels, (n_samples,))
    if kind == "empirical":
        rows = np.zeros((n_samples, z.size))
        for n in range(n_samples):
            gradient = s[:, n].copy()
            gradient[labels[n]] -= 1
            rows[n, n * n_classes:(n + 1) * n_classes] = gradient / np.sqrt(n_samples)
        return rows
    rows = np.zeros((n_samples * n_classes, z.size))
    for n in range(n_samples):
        for c in range(n_classes):
            gradient = s[:, n].copy()
            gradient[c] -= 1
            rows[c + n * n_classes, n * n_classes:(n + 1) * n_classes] = (
                np.sqrt(s[c, n] / n_samples) * gradient)
    return rows
