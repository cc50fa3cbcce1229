"""Branches: sums (residual connections) and concatenations of parallel paths.

A branch layer feeds its input ``x`` to several paths (each a :class:`~jacobian_cnn.Chain`, a
layer, or ``None`` for the identity) and joins their outputs:

:class:`Add`, :class:`Residual`
    ``y = sum_b f_b(x)``, so ``d vec(y) / d vec(x) = sum_b J_b`` (the identity path adds
    ``I``): ``J = J_shortcut + J_body``.
:class:`Concat`
    ``y`` stacks the outputs along the channel axis (maps ``(H, W, C[, N])``) or the feature
    axis (vectors ``(n[, N])``): each path's Jacobian fills the rows of its outputs.

A parameter of a layer inside a path is addressed as ``"<path>.<layer index>.<name>"``, e.g.
``"body.0.kernel"`` (the kernel of the first layer of a residual block's body) or
``"1.2.gamma"``; names nest through nested branches. ``Chain.backward`` pushes the cotangent
rows through each path's own chain (its trace lists their products). Index conventions:
:mod:`jacobian_cnn.vec`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from jacobian_cnn._arguments import check_size
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError
from jacobian_cnn.ops.layer import Layer

__all__ = ["Add", "Residual", "Concat"]


def _as_path(path, name):
    from jacobian_cnn.chain import Chain  # the chain composes layers: imported on first use

    if path is None or isinstance(path, Chain):
        return path
    if isinstance(path, (list, tuple)):
        return Chain(path)
    if all(hasattr(path, a) for a in ("forward", "jacobian", "params")):
        return Chain([path])
    raise InvalidTypeError(f"{name} must be a Chain, a layer, a list of layers or None (the "
                           f"identity), got {path!r}")


class _Branches(Layer):
    """Paths fed the same input, joined by ``_join``."""

    def __init__(self, paths, names):
        self.paths = [_as_path(p, n) for p, n in zip(paths, names, strict=True)]
        self.path_names = tuple(names)
        if len(self.paths) < 1:
            raise InvalidValueError("a branch layer needs at least one path")

    @property
    def param_names(self):
        return tuple(self.params)

    @property
    def params(self):
        """Every parameter of every layer inside the paths, ``"<path>.<layer>.<name>"``."""
        out = {}
        for name, path in zip(self.path_names, self.paths, strict=True):
            for i, layer in enumerate(path.layers if path is not None else ()):
                out.update({f"{name}.{i}.{p}": v for p, v in layer.params.items()})
        return out

    def _outputs(self, x):
        return [np.asarray(x) if p is None else p.forward(x) for p in self.paths]

    def forward(self, x):
        return self._join(self._outputs(x))

    def _locate(self, wrt):
        """``(path index, layer index, parameter name)`` of a nested parameter name."""
        name, index, param = wrt.split(".", 2)
        return self.path_names.index(name), int(index), param

    def _path_jacobian(self, path, x, wrt, jacobian_of, max_bytes=None):
        """``d vec(path output) / d vec(wrt)``: the product of the path's layer Jacobians from
        its last layer down to the input (or to the layer holding the parameter)."""
        if path is None:
            return sp.eye_array(np.size(x), format="csr",
                                dtype=np.result_type(np.asarray(x).dtype, np.float32))
        index, param = (0, "input") if wrt == "input" else wrt[1:]
        inputs = [x]
        for layer in path.layers[:-1]:
            inputs.append(layer.forward(inputs[-1]))
        J = sp.csr_array(jacobian_of(path.layers[index], inputs[index], param))
        for i in range(index + 1, len(path.layers)):
            step = sp.csr_array(jacobian_of(path.layers[i], inputs[i], "input"))
            # an upper bound of the product's nonzeros, refused over max_bytes before it is formed
            per_row = int(np.diff(J.indptr).max(initial=0))
            bound = min(step.shape[0] * J.shape[1], step.nnz * per_row)
            check_size(step.shape[0], bound, np.result_type(step.dtype, J.dtype).itemsize, max_bytes,
                       f"{self!r}: the product through layer {i} of a path")
            J = sp.csr_array(step @ J)
        return J

    def jacobian(self, x, wrt="input", *, cache=None, max_bytes=None):
        """``d vec(y) / d vec(wrt)`` for the input or a nested parameter (see the module)."""
        return self._jacobian(x, wrt, lambda layer, h, w: layer.jacobian(h, wrt=w, max_bytes=max_bytes),
                              max_bytes)

    def reference_jacobian(self, x, wrt="input", *, cache=None):
        """The same sum / stack, from every path layer's own readable definition."""
        return self._jacobian(x, wrt, lambda layer, h, w: getattr(
            layer, "reference_jacobian", layer.jacobian)(h, w))

    def _jacobian(self, x, wrt, jacobian_of, max_bytes=None):
        self._check_wrt(wrt)
        outputs = self._outputs(x)
        if wrt == "input":
            parts = [self._path_jacobian(p, x, "input", jacobian_of, max_bytes) for p in self.paths]
        else:
            located = self._locate(wrt)
            n_cols = np.size(self.params[wrt])
            parts = [self._path_jacobian(p, x, located, jacobian_of, max_bytes) if k == located[0] else
                     sp.csr_array((np.size(outputs[k]), n_cols)) for k, p in enumerate(self.paths)]
        J = self._join_jacobians(parts, outputs)
        J.sum_duplicates()
        J.sort_indices()
        return J

    def _backward_rows(self, x, rows, max_bytes):
        """``(rows @ J_x, {name: rows @ J_name}, steps)``, pushed through each path's chain."""
        outputs = self._outputs(x)
        total, params, steps = None, {}, []
        for k, (name, path) in enumerate(zip(self.path_names, self.paths, strict=True)):
            path_rows = self._path_rows(rows, k, outputs)
            if path is None:
                pushed = path_rows
            else:
                grads = path.backward(x, path_rows, max_bytes=max_bytes)
                pushed = grads.input
                for i, d in enumerate(grads.params):
                    params.update({f"{name}.{i}.{p}": v for p, v in d.items()})
                steps += [dataclasses.replace(s, layer=f"{name}.{s.layer_index} {s.layer}")
                          for s in grads.trace]
            total = pushed if total is None else total + pushed
        return total, {n: params[n] for n in self.params}, steps


class Add(_Branches):
    """``y = sum_b f_b(x)`` over the paths (``None`` is the identity); see the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> add = jc.Add(None, jc.Dense(np.array([[2.]])))
    >>> add.forward(np.array([1.])), add.jacobian(np.array([1.])).toarray()
    (array([3.]), array([[3.]]))
    """

    def __init__(self, *paths):
        super().__init__(paths, [str(k) for k in range(len(paths))])

    def __repr__(self):
        paths = ("identity" if p is None else f"{len(p)} layers" for p in self.paths)
        return f"{type(self).__name__}({', '.join(paths)})"

    def _join(self, outputs):
        shapes = {np.shape(o) for o in outputs}
        if len(shapes) != 1:
            raise InvalidValueError(f"{self!r}: the paths' outputs must have one shape to be added; "
                                    f"got {[np.shape(o) for o in outputs]}")
        total = outputs[0]
        for o in outputs[1:]:
            total = total + o
        return total

    def _join_jacobians(self, parts, outputs):
        self._join(outputs)
        total = parts[0]
        for J in parts[1:]:
            total = total + J
        return sp.csr_array(total)

    @staticmethod
    def _path_rows(rows, k, outputs):
        return rows


class Residual(Add):
    """A residual block ``y = body(x) + shortcut(x)``; ``J = J_shortcut + J_body``.

    Parameters
    ----------
    body : Chain, layer or list of layers
    shortcut : Chain, layer, list of layers or None
        ``None`` (default) is the identity shortcut, whose Jacobian is ``I``.

    Parameters of the body's layers are ``"body.<i>.<name>"``, of the shortcut's
    ``"shortcut.<i>.<name>"``.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> block = jc.Residual([jc.Dense(np.array([[2.]]), bias=[1.])])
    >>> block.forward(np.array([1.]))
    array([4.])
    >>> block.jacobian(np.array([1.])).toarray(), list(block.params)
    (array([[3.]]), ['body.0.weight', 'body.0.bias'])
    """

    def __init__(self, body, shortcut=None):
        if body is None:
            raise InvalidTypeError("body must be a Chain, a layer or a list of layers, got None")
        _Branches.__init__(self, [body, shortcut], ["body", "shortcut"])

    def __repr__(self):
        shortcut = "identity" if self.paths[1] is None else f"{len(self.paths[1])} layers"
        return f"Residual(body of {len(self.paths[0])} layers, shortcut={shortcut})"


class Concat(_Branches):
    """Concatenate the paths' outputs along channels (maps) or features (vectors).

    Outputs of 3 or 4 dimensions are maps ``(H, W, C_b[, N])`` joined on axis 2; of 1 or 2
    dimensions, vectors ``(n_b[, N])`` joined on axis 0 (``torch.cat(dim=1)`` in both).

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> cat = jc.Concat(None, jc.Dense(np.array([[2.]])))
    >>> cat.forward(np.array([1.]))
    array([1., 2.])
    >>> cat.jacobian(np.array([1.])).toarray()
    array([[1.],
           [2.]])
    """

    def __init__(self, *paths):
        super().__init__(paths, [str(k) for k in range(len(paths))])

    def __repr__(self):
        return f"Concat({len(self.paths)} paths)"

    def _axis(self, outputs):
        ndims = {np.ndim(o) for o in outputs}
        if len(ndims) != 1 or not ndims <= {1, 2, 3, 4}:
            raise InvalidValueError(f"{self!r}: the paths' outputs must all be vectors (n[, N]) or "
                                    f"maps (H, W, C[, N]); got shapes {[np.shape(o) for o in outputs]}")
        return 0 if ndims <= {1, 2} else 2

    def _join(self, outputs):
        axis = self._axis(outputs)
        try:
            return np.concatenate(outputs, axis=axis)
        except ValueError:
            raise InvalidValueError(f"{self!r}: the paths' outputs must agree on every axis but "
                                    f"{axis}; got shapes {[np.shape(o) for o in outputs]}") from None

    def _positions(self, outputs):
        """For each path, the ``vec(y)`` positions of its outputs."""
        axis, shape = self._axis(outputs), self._join(outputs).shape
        y = np.arange(int(np.prod(shape))).reshape(shape, order="F")
        bounds = np.cumsum([0] + [np.shape(o)[axis] for o in outputs])
        return [np.ravel(np.take(y, np.arange(lo, hi), axis=axis), order="F")
                for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]

    def _join_jacobians(self, parts, outputs):
        order = np.concatenate(self._positions(outputs))
        stacked = sp.csr_array(sp.vstack(parts, format="csr"))
        return sp.csr_array(stacked[np.argsort(order)])

    def _path_rows(self, rows, k, outputs):
        return rows[:, self._positions(outputs)[k]]
