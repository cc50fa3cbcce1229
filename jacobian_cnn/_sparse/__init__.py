"""The fast path, private: CSR assembly and products for the layers' Jacobians.

Nothing here imports :mod:`jacobian_cnn.ops`; the operations call in, one way.
Index conventions: :mod:`jacobian_cnn.vec`.
"""
