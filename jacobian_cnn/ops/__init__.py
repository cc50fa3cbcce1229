"""The operations: each module holds a layer's forward pass and its Jacobians.

Every operation module keeps the forward pass, a short readable definition of each
Jacobian, and the call into the private fast path (:mod:`jacobian_cnn._sparse`), which
never imports this package. Window geometry is normalized once, in
:mod:`jacobian_cnn.ops.geometry`; the layer protocol is :class:`jacobian_cnn.ops.layer.Layer`.
Index conventions: :mod:`jacobian_cnn.vec`.
"""
