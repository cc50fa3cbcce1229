"""Fully connected layer ``z = W.T @ x + b`` and its Jacobians (seed 004 section 3.1.1).

``W`` has shape ``(n_in, n_out)`` as in the seed derivation, ``x`` is ``(n_in,)`` or a
batch ``(n_in, N)``. Index conventions: :mod:`jacobian_cnn.vec`. In Kronecker form,
for one sample:

* ``d z / d x = W.T``
* ``d z / d vec(W) = I_{n_out} kron x.T`` (``z_j = sum_i W[i, j] x_i``; ``vec(W)[i + j*n_in] = W[i, j]``)
* ``d z / d b = I_{n_out}``

so ``g @ dz/dvec(W)`` reshaped column-major to ``(n_in, n_out)`` is ``x g`` (the
seed's ``(dJ/dZ)^T B^T``, transposed into W's own shape). A batch stacks one block
per sample: block-diagonal for ``x``, stacked rows for ``W`` and ``b``.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._arguments import bias_copy, cast, check_size, float_array, frozen_copy
from jacobian_cnn._sparse.csr import CSRParts
from jacobian_cnn._sparse.stacked import SampleStack
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops.layer import Definition, Layer, Parameter, numeric_terms

__all__ = ["Dense", "dense_entries"]


def dense_entries(n_in, n_out, n_samples, wrt):
    """The entries ``(row, column, term)`` of ``d vec(z) / d vec(wrt)``, one sample block at a time.

    ``z[j, s] = sum_i W[i, j] x[i, s] + b[j]``: ``dz[j, s] / dx[i, s] = W[i, j]``
    (``W.T``), ``dz[j, s] / dW[i, j] = x[i, s]`` (``I kron x.T``) and
    ``dz[j, s] / db[j] = 1`` (``I``).
    """
    for s in range(n_samples):
        for j in range(n_out):
            row = j + n_out * s
            if wrt == "bias":
                yield row, j, ("one",)
                continue
            for i in range(n_in):
                w, x = i + n_in * j, i + n_in * s  # vec indices of W[i, j] and x[i, s]
                yield (row, x, ("weight", w)) if wrt == "input" else (row, w, ("input", x))


class Dense(Layer):
    """Fully connected layer ``z = W.T @ x + b``.

    Parameters
    ----------
    weight : array_like
        ``(n_in, n_out)``.
    bias : array_like, optional
        ``(n_out,)``.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> W = np.array([[1., 2.], [3., 4.], [5., 6.]])     # n_in = 3, n_out = 2
    >>> layer = jc.Dense(W, bias=[0.5, -0.5])
    >>> layer.forward(np.array([1., 0., 1.]))
    array([6.5, 7.5])
    >>> layer.jacobian(np.array([1., 0., 1.]), wrt="weight").toarray()
    array([[1., 0., 1., 0., 0., 0.],
           [0., 0., 0., 1., 0., 1.]])
    """

    param_names = ("weight", "bias")

    def __init__(self, weight, bias=None):
        self.weight = weight
        self.bias = bias

    weight = Parameter("``(n_in, n_out)``, a read-only copy; assign an array of that shape to change it.")
    bias = Parameter("``(n_out,)`` or ``None``, a read-only copy; assign an array (or ``None``) to "
                     "change it.")

    def _checked_weight(self, weight):
        """A read-only float copy of ``weight`` (of the layer's shape once it has one)."""
        shape = self.weight.shape if "weight" in self.__dict__ else None
        weight = frozen_copy(weight, "weight")
        if weight.ndim != 2:
            raise InvalidValueError(f"weight must be (n_in, n_out); got shape {weight.shape}")
        if weight.size == 0:
            raise InvalidValueError(
                f"weight must be (n_in, n_out) with n_in >= 1 and n_out >= 1, got shape {weight.shape}"
            )
        if shape is not None and weight.shape != shape:
            raise InvalidValueError(f"weight must keep the layer's shape {shape}; got {weight.shape} "
                                    "(make a new Dense for another shape)")
        return weight

    def _checked_bias(self, bias):
        return bias_copy(bias, self.weight.shape[1], "n_out")

    def __repr__(self):
        n_in, n_out = self.weight.shape
        return f"Dense({n_in}->{n_out}, bias={self.bias is not None})"

    def _prepare(self, x):
        x = float_array(x, "x")
        if x.ndim not in (1, 2) or x.shape[0] != self.weight.shape[0]:
            raise InvalidValueError(
                f"x must be (n_in,) or (n_in, N) with n_in={self.weight.shape[0]}; "
                f"got shape {x.shape}"
            )
        return x, x.reshape(x.shape[0], -1)

    def forward(self, x):
        """``W.T @ x + b``, for a vector or a batch of columns."""
        x, x2 = self._prepare(x)
        dtype = x.dtype  # computed in the input's precision
        z = cast(self.weight, dtype, "weight").T @ x2.astype(dtype, copy=False)
        if self.bias is not None:
            z += cast(self.bias, dtype, "bias")[:, None]
        return z if x.ndim == 2 else z[:, 0]

    def _definition(self, x, wrt, cache):
        x, x2 = self._prepare(x)
        (n_in, n_out), n = self.weight.shape, x2.shape[1]
        n_cols = {"input": x.size, "weight": self.weight.size, "bias": n_out}[wrt]
        return Definition(dense_entries(n_in, n_out, n, wrt), (n_out * n, n_cols),
                          numeric_terms(x.dtype, weight=self.weight, input=x2), x.dtype)

    def _jacobian_parts(self, x, wrt="input", *, cache=None, max_bytes=None):
        """``d vec(z) / d vec(x)``, ``/ d vec(weight)`` or ``/ d bias``.

        As :class:`~jacobian_cnn._sparse.csr.CSRParts`.
        """
        self._check_wrt(wrt)
        x, x2 = self._prepare(x)
        n_in, n_out = self.weight.shape
        n = x2.shape[1]
        dtype = x.dtype  # computed in the input's precision
        n_rows = n_out * n
        per_row = 1 if wrt == "bias" else n_in
        check_size(n_rows, n_rows * per_row, np.dtype(dtype).itemsize, max_bytes,
                   f"Dense {wrt} Jacobian")
        n_cols = {"input": x.size, "weight": self.weight.size, "bias": n_out}[wrt]
        if n != 1:
            # A batch: rows ordered (sample, output unit), one block per sample, all from
            # W.T, x.T or nothing (written out by the SampleStack on first use).
            values = {"input": lambda: cast(self.weight, dtype, "weight").T,
                      "weight": lambda: x2.T.astype(dtype, copy=False), "bias": lambda: None}[wrt]()
            return SampleStack(wrt, values, n_out=n_out, dtype=dtype, n_samples=n, n_in=n_in)
        # One sample: the input Jacobian stores every entry of W.T; row j of the weight
        # Jacobian holds exactly columns j*n_in .. (j+1)*n_in - 1 (x itself); the bias
        # Jacobian is the identity. The form fixes indices and indptr.
        data = np.empty((n_out, per_row), dtype)
        if wrt == "input":
            data[...] = cast(self.weight, dtype, "weight").T
        elif wrt == "weight":
            data[...] = x2.T.astype(dtype, copy=False)
        else:
            data.fill(1)
        form = {"input": "dense", "weight": "row_blocks", "bias": "diagonal"}[wrt]
        return CSRParts(data.reshape(-1), None, None, (n_rows, n_cols), form)
