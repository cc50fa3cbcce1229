"""The bad-input catalogue (see :mod:`bad_input.harness`); one module per area."""
