"""One module per ``jacobian-cnn`` verb; see :mod:`jacobian_cnn.cli`."""
