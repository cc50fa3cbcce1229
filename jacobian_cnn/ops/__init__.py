"""The operations: each module holds a layer's forward pass and its Jacobians.

Every operation module keeps the forward pass, a short readable definition of each
Jacobian (entries ``(row, column, term)``, evaluated by ``Layer.reference_jacobian``), and
the call into the private fast path (:mod:`jacobian_cnn._sparse`), which never imports
this package. A window layer validates its :class:`~jacobian_cnn.ops.window.SlidingWindow`
once, in its constructor, and derives the :class:`~jacobian_cnn.ops.geometry.WindowGeometry`
of each input size from it; the layer protocol is :class:`jacobian_cnn.ops.layer.Layer`.
Index conventions: :mod:`jacobian_cnn.vec`.
"""
