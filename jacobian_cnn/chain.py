"""The chain composer: row-vector gradients pushed through explicit layer Jacobians.

This is the vectorized chain rule exactly as hand derivations write it (seed 004
section 3.1): for ``y = f_L(... f_1(x))`` and cotangent rows ``g`` (``(k, y.size)``),

    g <- g @ J_L,  g <- g @ J_{L-1},  ...,  g_x = g @ J_1

left to right, recording ``g @ d vec(y_l) / d vec(P)`` for every parameter ``P`` of
layer ``l`` on the way. Every product uses the layer's explicit sparse Jacobian, every
stored entry of it once; no shortcut formula (a transposed convolution, an unpooling)
stands in for it.

How the products are computed, fastest first, all giving ``g @ J`` up to the order of
floating-point sums (``tests/test_layers.py`` checks each against the dense product):

* The layers of this package hand over their Jacobians as CSR arrays
  (:class:`~jacobian_cnn._sparse.csr.CSRParts`: the arrays ``layer.jacobian`` would wrap in a
  ``csr_array``, without a scipy object per layer) with the *form* the builder knows:
  a full diagonal scales columns, a matrix with every entry stored is a dense (BLAS)
  product, row and column blocks are outer and dot products.
* Convolution and average-pooling Jacobians (zero padding) are multiplied tile by
  tile from the layout they were written in (:mod:`jacobian_cnn._sparse.blocked`): small dense
  matrix products over the output channels, then one pass that adds each entry's sum
  into its input column.
  A convolution's repeated blocks (output channels of its kernel Jacobian, samples and
  tile rows of its input Jacobian) are stored and read once.
* A dense layer's Jacobians of a batch (:class:`~jacobian_cnn._sparse.stacked.SampleStack`,
  one block per sample from ``W.T`` or ``x.T``) are one dense (BLAS) product.
* Anything else, and other layers' ``jacobian`` results, is scipy's sparse product.

The products and their size checks are :mod:`jacobian_cnn._sparse.products`.

Index conventions: :mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from jacobian_cnn._arguments import as_array, byte_limit, check_size, wrt_name
from jacobian_cnn._sparse.csr import dense_to_csr
from jacobian_cnn._sparse.products import as_rows, check_product, smaller_form, times
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError, JacobianTooLargeError
from jacobian_cnn.ops.layer import Layer

__all__ = ["Chain", "Gradients", "Step", "Trace"]


@dataclass(frozen=True)
class Step:
    """One product of the backward pass: ``rows_in @ J -> rows_out``."""

    layer_index: int
    layer: str
    wrt: str
    jacobian_shape: tuple
    nnz: int
    rows_shape: tuple

    def __str__(self):
        return (f"{self.layer_index:>3}  {self.layer:<36} {self.wrt:<7} "
                f"{str(self.jacobian_shape):>14} {self.nnz:>9}  {str(self.rows_shape):>12}")


class Trace(list):
    """The list of :class:`Step` of a backward pass; ``print`` it for a table."""

    header = (f"{'#':>3}  {'layer':<36} {'wrt':<7} {'J shape':>14} {'nnz':>9}  "
              f"{'g @ J shape':>12}")

    def __str__(self):
        return "\n".join([self.header] + [str(step) for step in self])


@dataclass
class Gradients:
    """Result of :meth:`Chain.backward`.

    Attributes
    ----------
    input : numpy.ndarray
        ``(k, x.size)``: the cotangent rows pushed back to ``vec(x)``.
    params : list of dict
        One dict per layer, ``name -> (k, param.size)`` rows over ``vec(param)``;
        use :func:`jacobian_cnn.as_parameter_shape` for gradients in the parameter's shape.
    output : numpy.ndarray
        The forward output ``y``.
    trace : Trace
        Every product performed, in order.
    """

    input: np.ndarray
    params: list
    output: np.ndarray
    trace: Trace = field(default_factory=Trace)


class Chain:
    """A sequence of layers, differentiated by explicit Jacobian products.

    Parameters
    ----------
    layers : sequence of layers
        Any objects following the layer protocol (``forward``, ``jacobian``,
        ``params``): the layers of :mod:`jacobian_cnn` and losses.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> net = jc.Chain([jc.AvgPool2D(2, stride=1), jc.Flatten(), jc.MSELoss(np.zeros(4))])
    >>> a = np.arange(9.).reshape(3, 3)
    >>> grads = net.backward(a)          # scalar output: g defaults to [[1.0]]
    >>> grads.input.shape
    (1, 9)
    >>> net.jacobian(a).shape
    (1, 9)
    """

    def __init__(self, layers):
        layers = list(layers)
        for i, layer in enumerate(layers):
            if not all(hasattr(layer, name) for name in ("forward", "jacobian", "params")):
                raise InvalidTypeError(f"layers[{i}] = {layer!r} does not have forward/jacobian/params")
        if not layers:
            raise InvalidValueError("layers must not be empty")
        self.layers = layers

    def __repr__(self):
        inner = ",\n".join(f"    {layer!r}" for layer in self.layers)
        return f"Chain([\n{inner},\n])"

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def forward(self, x):
        """Run every layer in turn."""
        return self._forward_all(x)[1]

    def _forward_all(self, x):
        """``(records, y)`` with one ``(input, cache)`` per layer."""
        records = []
        for layer in self.layers:
            forward = getattr(layer, "forward_with_cache", None)
            y, cache = forward(x) if forward else (layer.forward(x), None)
            records.append((x, cache))
            x = y
        return records, np.asarray(x)

    def activations(self, x):
        """``(records, y)``: one ``(input, cache)`` per layer (``cache``: what its
        ``forward_with_cache`` returned, mostly ``None``) and the output ``y``.

        >>> import numpy as np, jacobian_cnn as jc
        >>> [h for h, _ in jc.Chain([jc.Dense(np.full((1, 1), 2.)), jc.Tanh()]).activations(np.ones(1))[0]]
        [array([1.]), array([2.])]
        """
        return self._forward_all(x)

    def backward(self, x, g=None, *, max_bytes=None):
        """Push cotangent rows ``g`` from the output back to the input and every parameter.

        Parameters
        ----------
        x : array_like
            The network input.
        g : array_like, optional
            ``(k, y.size)`` real, finite rows over ``vec(y)`` (a 1-D ``(y.size,)`` is
            one row). Defaults to ``[[1.0]]`` when the output is a scalar (a chain
            ending in a loss) and to the identity rows otherwise.
        max_bytes : int, optional
            The size limit (:mod:`jacobian_cnn.vec`, "Size limits") on each layer's
            Jacobian and on each block of cotangent rows (the identity rows when ``g``
            is omitted included), checked before it is built.

        Returns
        -------
        Gradients
        """
        limit = byte_limit(max_bytes)
        records, y = self._forward_all(x)
        rows = self._initial_rows(y, g, limit)
        params = [dict() for _ in self.layers]
        trace = Trace()
        sizes = _output_sizes(records, y)
        for i in reversed(range(len(self.layers))):
            layer, (x_in, cache) = self.layers[i], records[i]
            if hasattr(layer, "_backward_rows"):  # a branch layer: rows pushed through each path
                rows, params[i], steps = layer._backward_rows(x_in, rows, max_bytes)
                trace.extend(dataclasses.replace(step, layer_index=i) for step in steps)
                continue
            label = repr(layer)
            for name, value in layer.params.items():
                J = _layer_jacobian(layer, x_in, name, cache, max_bytes)
                _check_shape(J, (sizes[i], np.size(value)), i, layer, name)
                check_product(rows, J, limit, i, layer, name)
                params[i][name] = times(rows, J)
                trace.append(Step(i, label, name, J.shape, J.nnz, params[i][name].shape))
            J = _layer_jacobian(layer, x_in, "input", cache, max_bytes)
            _check_shape(J, (sizes[i], np.size(x_in)), i, layer, "input")
            check_product(rows, J, limit, i, layer, "input")
            rows = times(rows, J)
            trace.append(Step(i, label, "input", J.shape, J.nnz, rows.shape))
        return Gradients(input=np.asarray(rows), params=params, output=y, trace=trace)

    def jacobian(self, x, wrt="input", *, max_bytes=None):
        """End-to-end ``d vec(y) / d vec(x)``, or ``d vec(y) / d theta`` for every parameter.

        Composed left to right from the output's rows: the running product
        ``d vec(y) / d vec(h_l)`` has one row per output, usually few; it is kept as a
        dense block while that is smaller than its CSR form (a dense-times-sparse
        product is then one pass over each layer's nonzeros) and as CSR otherwise. It
        is never multiplied right to left.

        Parameters
        ----------
        x : array_like
            The network input (a batch ``(H, W, C, N)`` gives block-diagonal results).
        wrt : {"input", "params"}
            ``"input"``: ``(y.size, x.size)``. ``"params"``: ``(y.size, n_params)``, the
            per-sample parameter Jacobian ``J_theta`` (of an empirical neural tangent
            kernel ``J_theta(x1) @ J_theta(x2).T``, or a Fisher): the running product
            times each layer's parameter Jacobian ``d vec(h_{l+1}) / d vec(P)``, columns
            layer by layer (the first layer first), each layer's parameters in the order
            of ``layer.params``, each parameter in ``vec`` order
            (:func:`jacobian_cnn.as_parameter_shape` gives a row in the parameter's shape).
        max_bytes : int, optional
            (:mod:`jacobian_cnn.vec`, "Size limits") limits each layer's Jacobian and
            each running product: an upper bound of the product's size is checked
            before it is formed, and the refusal names the step.

        Returns
        -------
        scipy.sparse.csr_array

        Examples
        --------
        ``y = W^T x + b`` with ``W = [[1], [2]]``: ``dy / dW[i, 0] = x_i`` and ``dy / db = 1``.

        >>> import numpy as np
        >>> import jacobian_cnn as jc
        >>> net = jc.Chain([jc.Dense(np.array([[1.], [2.]]), np.zeros(1))])
        >>> net.jacobian(np.array([3., 4.])).toarray()
        array([[1., 2.]])
        >>> net.jacobian(np.array([3., 4.]), wrt="params").toarray()
        array([[3., 4., 1.]])
        """
        wrt = wrt_name(wrt, {"input", "params"}, "Chain.jacobian")
        limit = byte_limit(max_bytes)
        records, y = self._forward_all(x)
        sizes = _output_sizes(records, y)
        rows, by_layer = None, []  # rows: None stands for the identity rows of the output

        def pushed(J, i, layer, name, n_cols):
            _check_shape(J, (sizes[i], n_cols), i, layer, name)
            if rows is not None:
                check_product(rows, J, limit, i, layer, name)
            return as_rows(J) if rows is None else times(rows, J)

        for i in reversed(range(len(self.layers))):
            layer, (x_in, cache) = self.layers[i], records[i]
            if wrt == "params":
                by_layer.append([pushed(_layer_jacobian(layer, x_in, name, cache, max_bytes), i,
                                        layer, name, np.size(value))
                                 for name, value in layer.params.items()])
                if i == 0:  # d vec(y) / d vec(x) is not asked for
                    break
            J = _layer_jacobian(layer, x_in, "input", cache, max_bytes)
            rows = smaller_form(pushed(J, i, layer, "input", np.size(x_in)))
        if wrt == "input":
            return _finished(rows, limit, "Chain.jacobian")
        return _side_by_side([block for blocks in reversed(by_layer) for block in blocks], y, limit)

    def trace(self, x, g=None, *, max_bytes=None):
        """The :class:`Trace` of :meth:`backward` (print it for a table)."""
        return self.backward(x, g, max_bytes=max_bytes).trace

    @staticmethod
    def _initial_rows(y, g, limit):
        dtype = y.dtype if y.dtype.kind == "f" else np.float64
        if g is None:
            estimate = y.size * y.size * np.dtype(dtype).itemsize
            if estimate > limit:
                raise JacobianTooLargeError(
                    f"Chain.backward without g on an output of {y.size:,} entries would start "
                    f"from {y.size:,} identity rows, about {estimate:,} bytes, over "
                    f"max_bytes={limit:,}; pass g (rows over vec(y)) or a larger max_bytes"
                )
            return np.eye(y.size, dtype=dtype)
        g = as_array(g, "g", f"a real numeric array of (k, {y.size}) rows")
        if g.dtype.kind == "c":
            raise InvalidTypeError(f"g must be real, got dtype {g.dtype}: the Jacobians are real "
                                   "and the imaginary part would be lost")
        if g.dtype.kind not in "biuf":
            raise InvalidTypeError(f"g must be a real numeric array, got dtype {g.dtype}")
        g = g.astype(np.result_type(y.dtype, np.float32), copy=False)
        g = g[None, :] if g.ndim == 1 else g
        if g.ndim != 2 or g.shape[1] != y.size:
            raise InvalidValueError(f"g must be (k, y.size) = (k, {y.size}) rows over vec(y); "
                             f"got shape {np.shape(g)}")
        if not np.all(np.isfinite(g)):
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(g))[0])
            raise InvalidValueError(f"g contains NaN or inf (first at index {bad}, value "
                                    f"{g[bad]}); g must be finite")
        return g

    # Second order: thin delegates to jacobian_cnn.second_order (imported on first use).

    def hessian(self, x, wrt="input", *, method="backward", max_bytes=None):
        """The exact Hessian of the scalar output (a chain ending in a loss) over ``wrt``.

        ``"backward"``: Hessian backpropagation (:func:`~jacobian_cnn.second_order.network_hessian`;
        ``wrt`` is ``"input"``, ``"params"``, ``"all"``, ``(layer index, name)`` or a list of
        those); ``"forward"``: the input Hessian grouped from the input's side, faster on
        images (:func:`~jacobian_cnn.second_order.input_hessian`). Both with a printable trace.
        """
        from jacobian_cnn.second_order import input_hessian, network_hessian
        if method == "forward" and wrt == "input":
            return input_hessian(self, x, max_bytes=max_bytes)
        if method != "backward":
            raise InvalidValueError(f"method must be 'backward', or 'forward' with wrt='input'; "
                                    f"got method={method!r}, wrt={wrt!r}")
        return network_hessian(self, x, wrt, max_bytes=max_bytes)

    def hessian_vector_product(self, x, v, wrt="input", *, max_bytes=None):
        """``H v`` without forming ``H``
        (:func:`jacobian_cnn.second_order.hessian_vector_product`)."""
        from jacobian_cnn.second_order import hessian_vector_product
        return hessian_vector_product(self, x, v, wrt, max_bytes=max_bytes)

    def ggn(self, x, wrt="params", *, form="full", max_bytes=None):
        """The generalized Gauss-Newton matrix ``J^T H_loss J`` (:func:`jacobian_cnn.second_order.ggn`)."""
        from jacobian_cnn.second_order import ggn
        return ggn(self, x, wrt, form=form, max_bytes=max_bytes)

    def fisher(self, x, wrt="params", *, kind="true", form="full", max_bytes=None):
        """The Fisher of softmax cross-entropy, true or empirical
        (:func:`jacobian_cnn.second_order.fisher`)."""
        from jacobian_cnn.second_order import fisher
        return fisher(self, x, wrt, kind=kind, form=form, max_bytes=max_bytes)


def _finished(rows, limit, what):
    """The composed rows (dense or CSR) as a ``csr_array``; a dense block is size-checked
    as the CSR array it becomes."""
    if sp.issparse(rows):
        return sp.csr_array(rows)
    check_size(rows.shape[0], np.count_nonzero(rows != 0), rows.dtype.itemsize, limit,
               f"{what} ({rows.shape[0]} x {rows.shape[1]})")
    return dense_to_csr(rows).tocsr()


def _side_by_side(blocks, y, limit):
    """The parameter blocks (dense or CSR, ``k`` rows each) side by side, as a ``csr_array``.

    Through one dense ``(k, n_params)`` block when that takes at most twice the bytes
    of the blocks' CSR forms (one pass, no sparse stacking), else by scipy's ``hstack``.
    """
    if not blocks:
        return sp.csr_array((np.size(y), 0), dtype=y.dtype if y.dtype.kind == "f" else float)
    k, value = blocks[0].shape[0], np.result_type(*[b.dtype for b in blocks]).itemsize
    stored = sum(b.nnz if sp.issparse(b) else b.size for b in blocks)
    n_cols = sum(b.shape[1] for b in blocks)
    if k * n_cols * value <= 2 * stored * (value + 4):
        dense = np.hstack([b.toarray() if sp.issparse(b) else b for b in blocks])
        return _finished(dense, limit, "Chain.jacobian wrt params")
    return sp.hstack([b if sp.issparse(b) else dense_to_csr(b).tocsr() for b in blocks],
                     format="csr")


def _output_sizes(records, y):
    """Size of each layer's output: the next layer's input, the chain's output last."""
    return [np.size(x_in) for x_in, _ in records[1:]] + [np.size(y)]


def _check_shape(J, expected, i, layer, wrt):
    """Refuse a layer Jacobian whose shape is not ``(output size, wrt size)``."""
    shape = getattr(J, "shape", None)
    if shape is None or tuple(shape) != tuple(expected):
        raise InvalidValueError(
            f"layers[{i}] = {layer!r}: its Jacobian wrt {wrt!r} has shape {shape}, but the "
            f"layer maps {expected[1]} inputs to {expected[0]} outputs, so it must have shape "
            f"{tuple(expected)}"
        )


def _layer_jacobian(layer, x, wrt, cache, max_bytes):
    """The layer's Jacobian: its CSR arrays where ``jacobian`` is the base class's wrapper
    around them (this package's layers), else whatever ``layer.jacobian`` returns."""
    if isinstance(layer, Layer) and type(layer).jacobian is Layer.jacobian:
        return layer._jacobian_parts(x, wrt=wrt, cache=cache, max_bytes=max_bytes)
    return layer.jacobian(x, wrt=wrt, cache=cache, max_bytes=max_bytes)
