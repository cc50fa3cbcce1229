"""Symbolic rules of the 1-D and 3-D window layers and the transposed convolutions.

Each rule evaluates the layer's own readable definition (``layer._definition``, the
generator of entries ``(row, column, term)`` that :meth:`~jacobian_cnn.ops.layer.Layer.reference_jacobian`
evaluates with numbers) with SymPy values for its terms: kernel entries ``k_{...}``, input
entries ``a_{...}``, exact ``1/d`` divisors and the 1s of selections. The geometry is the
numeric path's, never a second copy: the definition is asked for its entries at a numeric
probe of the input's shape (max pooling: at the numeric input, which picks the winners).

Inputs are one sample: ``(L, C)`` in 1-D, ``(H, W)`` or ``(H, W, C)`` in 2-D, ``(D, H, W, C)``
in 3-D.

Examples
--------
The 1-D convolution's Jacobian is the Toeplitz matrix of its kernel:

>>> import numpy as np
>>> import jacobian_cnn as jc
>>> from jacobian_cnn.symbolic import SymbolicProblem
>>> conv = jc.Conv1D(np.ones((2, 1, 1)))
>>> SymbolicProblem(conv, (3, 1)).jacobian().matrix
Matrix([
[k_{11}, k_{21},      0],
[     0, k_{11}, k_{21}]])
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops.conv_nd import Conv1D, Conv3D
from jacobian_cnn.ops.conv_transpose import ConvTranspose1D, ConvTranspose2D, ConvTranspose3D
from jacobian_cnn.ops.pooling_nd import AvgPool1D, AvgPool3D, MaxPool1D, MaxPool3D, MaxPoolND
from jacobian_cnn.symbolic.names import parameter_arrays, unvec_list, vec_list
from jacobian_cnn.symbolic.sparse import from_definition, symbolic_terms

__all__ = ["ND_RULES"]


class DefinitionRule:
    """``forward`` and ``jacobian`` of a layer from its own ``_definition`` with SymPy terms."""

    linear = True

    def __init__(self, layer, in_shape, out_shape, *, names, tag, params, x_numeric, **_):
        self.layer, self.in_shape, self.out_shape = layer, tuple(in_shape), tuple(out_shape)
        if isinstance(layer, MaxPoolND) and x_numeric is None:
            raise InvalidValueError(f"{layer!r}'s Jacobian depends on which entry wins each window: "
                                    "pass a numeric input x (not just its shape)")
        self.probe = np.zeros(in_shape) if x_numeric is None else np.asarray(x_numeric, np.float64)
        self.params = parameter_arrays(layer, names, tag, params)

    def jacobian(self, x, wrt):
        definition = self.layer._definition(self.probe, wrt, None)
        arrays = {"kernel": self.params["kernel"]} if "kernel" in self.params else {}
        return from_definition(definition.entries, definition.shape, symbolic_terms(input=x, **arrays))

    def forward(self, x):
        y = self.jacobian(x, "input").apply(vec_list(x))
        if "bias" in self.params:  # y = J_input vec(x) + J_bias b
            shift = self.jacobian(x, "bias").apply(vec_list(self.params["bias"]))
            y = [v + b for v, b in zip(y, shift, strict=True)]
        return unvec_list(y, self.out_shape)


ND_RULES = {cls: DefinitionRule for cls in (Conv1D, Conv3D, ConvTranspose1D, ConvTranspose2D,
                                            ConvTranspose3D, AvgPool1D, AvgPool3D, MaxPool1D,
                                            MaxPool3D)}
"""The rule of each N-D window layer."""
