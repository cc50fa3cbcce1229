"""``jacobian-cnn verify --torch-model FILE.py:NAME --input-shape NxCxHxW``.

The input shape is PyTorch's, batch first: ``Nxn``, ``NxCxL``, ``NxCxHxW`` or ``NxCxDxHxW``.

The work is :mod:`jacobian_cnn.compare.model_check` (only ``compare`` imports torch).
Imports the user's file (it is run, as ``python FILE.py`` would run it, so only use files you
trust), takes ``NAME`` from it (an ``nn.Module``, or a class or function that returns one
when called without arguments), converts it with :func:`jacobian_cnn.from_torch` in float64
and compares, on a random input: the forward pass, the input Jacobian and the gradient of
``sum(g * y)`` (``g`` random) of every parameter with PyTorch's autograd. Exits 1 on a
mismatch.
"""

from __future__ import annotations

import re

from jacobian_cnn.errors import InvalidValueError

__all__ = ["verify_model"]


def verify_model(spec, input_shape, seed, tolerance=1e-9):
    """Print one row per compared quantity; return the exit status (0 ok, 1 mismatch)."""
    from jacobian_cnn.compare.from_torch import our_shape
    from jacobian_cnn.compare.model_check import check_torch_model, load_model

    text = input_shape
    if not re.fullmatch(r"[1-9]\d*(x[1-9]\d*){1,4}", text):
        raise InvalidValueError(f"--input-shape must be Nxn, NxCxL, NxCxHxW or NxCxDxHxW (positive "
                                f"sizes), got {text!r}")
    input_shape = tuple(int(v) for v in text.split("x"))
    model = load_model(spec)
    rows, n_layers = check_torch_model(model, input_shape, seed, tolerance)
    print(f"{spec}: {n_layers} layers, input {tuple(input_shape)} (ours {our_shape(input_shape)})")
    width = max(len(what) for what, _ in rows) + 2
    for what, report in rows:
        print(f"{what:<{width}}{report.max_abs_error:>10.1e}  {'ok' if report.ok else 'MISMATCH'}")
    failures = sum(not report.ok for _, report in rows)
    print(f"\n{len(rows) - failures} of {len(rows)} agree with PyTorch's autograd (max |ours - "
          f"theirs|, tolerance {tolerance:g})" + (f"; {failures} MISMATCH" if failures else ""))
    return 1 if failures else 0
