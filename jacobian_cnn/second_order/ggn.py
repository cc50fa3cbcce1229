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
from jacobian_cnn.ops.normalization import BatchNorm2D
from jacobian_cnn.second_order.assembly import assemble, symmetric_rank_update, symmetrized
from jacobian_cnn.second_order.backward import HessianTrace, backward_terms, guard
from jacobian_cnn.second_order.hessian import Hessian
from jacobian_cnn.second_order.roots import pushed_rows
from jacobian_cnn.second_order.terms import hessian_term
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
        See :data:`FORMS`. ``"full"`` walks the chain as :func:`network_hessian` does with
        the loss's term only (and has its trace); ``"blocks"`` and ``"diagonal"`` push the
        square-root rows of each sample's loss Hessian back through the body's Jacobians (the
        kernels of :meth:`Chain.backward`), one sample at a time, and never form more than a block.
    max_bytes : int, optional
        For ``"full"`` the dense size of the whole matrix, for ``"blocks"`` of the largest
        block, is refused up front; every Jacobian and product is checked too.

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
    if form == "full":
        trace = HessianTrace()
        terms, _ = backward_terms(chain, x, keys, only_loss=True, max_bytes=max_bytes, trace=trace)
        return Hessian(assemble(terms, keys, sizes, _dtype(x)), keys, sizes, trace)
    loss, terms = chain.layers[-1], []

    def loss_roots(z, first, count):
        if not terms:  # the loss's Hessian, once: one block per sample
            terms.append(hessian_term(loss, z, [1.0], max_bytes=max_bytes))
        T = terms[0]  # its rows of this sample, as a dense block (no scipy slicing)
        at = slice(T.indptr[first], T.indptr[first + count])
        rows = np.repeat(np.arange(count), np.diff(T.indptr[first:first + count + 1]))
        cols = T.indices[at] - first
        inside = (cols >= 0) & (cols < count)  # the sample's own columns (as sliced before)
        block = np.zeros((count, count), T.dtype)
        block[rows[inside], cols[inside]] = T.data[at][inside]
        weights, vectors = np.linalg.eigh(block)
        keep = weights != 0
        return np.sqrt(np.abs(weights[keep]))[:, None] * vectors.T[keep], np.sign(weights[keep])

    return _gram(chain, x, keys, sizes, loss_roots, form, max_bytes)


def _keys(chain, x, wrt):
    keys = variables(chain, wrt)
    return keys, variable_sizes(chain, x, keys)


def _forward_samples(body, x):
    """``(z, passes)``: the body's output over the whole input and one forward pass
    ``(input, records)`` per sample pushed back on its own. A map batch ``(H, W, C, N)``
    whose per-sample outputs keep a sample axis last is run sample by sample (``N``
    passes; cheaper than one pass over the batch here; the output over the batch from
    one pass where batch normalization mixes the samples); anything else is one pass over
    the whole input."""
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[3] > 1:
        samples = [x[..., n:n + 1] for n in range(x.shape[3])]
        passes = [(x_n, *body.activations(x_n)) for x_n in samples]
        if all(np.ndim(z_n) in (2, 4) and np.shape(z_n)[-1] == 1 for _, _, z_n in passes):
            z = (np.asarray(body.forward(x)) if any(isinstance(layer, BatchNorm2D) for layer in body.layers)
                 else np.concatenate([z_n for _, _, z_n in passes], axis=-1))  # batch statistics
            return z, [(x_n, records) for x_n, records, _ in passes]
    records, z = body.activations(x)
    return z, [(x, records)]


def _gram(chain, x, keys, sizes, roots, form, max_bytes):
    """``sum_n (R_n J_n)^T diag(signs) (R_n J_n)`` over the samples ``n``, per variable.

    ``roots(z, first, count)`` gives the signed rows ``R_n`` over the ``count`` entries of
    ``vec(z)`` from ``first`` that belong to sample ``n``; they are pushed back through the
    chain's body (every layer but the loss) on that sample alone (:func:`_pushed`).
    """
    body = type(chain)(chain.layers[:-1])
    x = np.asarray(x)
    z, passes = _forward_samples(body, x)
    count, width = z.size // len(passes), x.size // len(passes)
    rows = {key: ([], []) for key in keys}
    diagonal = {key: 0.0 for key in keys}
    for n, (x_n, records) in enumerate(passes):
        R, signs = roots(z, n * count, count)
        pushed = _pushed(body, x_n, records, np.asarray(R, z.dtype), keys, max_bytes)
        for key in keys:
            G = pushed[key] if key != "input" else _placed(pushed[key], n * width, x.size)
            if form == "diagonal":  # the diagonal of G^T diag(signs) G, summed as it comes
                diagonal[key] = diagonal[key] + signs.astype(G.dtype) @ (G * G)
                continue
            rows[key][0].append(G[signs > 0])
            rows[key][1].append(G[signs < 0])
    if form == "diagonal":
        return diagonal
    dtype = _dtype(x)
    if form == "blocks":
        return {key: sp.csr_array(symmetrized(symmetric_rank_update(pos, neg, sizes[key], dtype)))
                for key, (pos, neg) in rows.items()}
    stacked = [np.hstack([np.vstack(rows[key][side]) for key in keys]) for side in (0, 1)]
    full = symmetrized(symmetric_rank_update([stacked[0]], [stacked[1]], stacked[0].shape[1], dtype))
    return Hessian(sp.csr_array(full), keys, sizes, HessianTrace())


def _pushed(body, x, records, R, keys, max_bytes):
    """``{key: R @ d vec(body(x)) / d key}``: the lean walk of
    :func:`~jacobian_cnn.second_order.roots.pushed_rows` (no trace, nothing below the lowest
    key), or :meth:`Chain.backward` where a branch layer needs its own pass."""
    if any(hasattr(layer, "_backward_rows") for layer in body.layers):
        pushed = body.backward(x, R, max_bytes=max_bytes)
        return {key: pushed.input if key == "input" else pushed.params[key[0]][key[1]] for key in keys}
    return pushed_rows(body.layers, records, R, keys, 0, max_bytes=max_bytes)


def _placed(rows, first, width):
    """``rows`` (over one sample's input) placed at column ``first`` of ``width`` columns."""
    if rows.shape[1] == width:
        return rows
    out = np.zeros((rows.shape[0], width), rows.dtype)
    out[:, first:first + rows.shape[1]] = rows
    return out


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
    _guard(_form(form), sizes, _dtype(x), max_bytes, "the Fisher")
    roots = lambda z, first, count: _fisher_rows(loss, z, kind, first, count)
    return _gram(chain, x, keys, sizes, roots, form, max_bytes)


def _fisher_rows(loss, z, kind, first, count):
    """Rows over the ``count`` logits of one sample (from ``first`` in ``vec(z)``) whose Gram
    matrix, pushed back, is that sample's share of the Fisher; all signs positive."""
    z2 = z.reshape(z.shape[0], -1)
    n_classes, n_samples = z2.shape
    labels = np.broadcast_to(loss.labels, (n_samples,))
    rows = []
    for n in range(first // n_classes, (first + count) // n_classes):
        s = softmax(z2[:, n])
        classes = [labels[n]] if kind == "empirical" else range(n_classes)
        for c in classes:
            row = np.zeros(count)
            gradient = s.copy()
            gradient[c] -= 1
            weight = 1.0 if kind == "empirical" else s[c]
            row[n * n_classes - first:(n + 1) * n_classes - first] = np.sqrt(weight / n_samples) * gradient
            rows.append(row)
    return np.array(rows), np.ones(len(rows))
