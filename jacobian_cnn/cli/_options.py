"""What the verbs share: numeric option types for argparse and size estimates from shapes.

A bad number is a usage error naming the option (``argument --fd-tolerance: must be
a finite number >= 0, got 'nan'``). Every verb estimates the size of what it will
build from shapes alone (:func:`output_shape`, :func:`forward_entries`) and refuses with
:func:`refuse_over` before allocating anything large.
"""

from __future__ import annotations

import argparse
import math

from jacobian_cnn import chain
from jacobian_cnn.errors import InvalidValueError, SizeLimitError
from jacobian_cnn.ops import activations, conv, dense, losses, pooling, reshape

MAX_TEXT_ENTRIES = 100_000
"""Default ``--max-entries`` of ``show``: cells of a printed grid (text or LaTeX)."""

MAX_SYMBOLIC_TERMS = 20_000
"""Default ``--max-terms`` of ``show --symbolic``: structural nonzeros SymPy builds."""

MAX_DENSE_ENTRIES = 1_000_000
"""Default ``--max-entries`` of ``verify``: entries of one dense reference Jacobian."""

MAX_FD_WORK = 100_000_000
"""Default ``--max-fd-work``: forward passes x entries each pass touches."""


def _number(text, integer):
    kind = "an integer" if integer else "a number"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
    if not integer:
        return value
    try:
        return int(text)
    except ValueError:  # 1e6 is a count too, 2.5 is not
        if math.isfinite(value) and value == int(value):
            return int(value)
        raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None


def positive_int(text):
    """An integer >= 1 (``1e6`` allowed)."""
    value = _number(text, True)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def nonnegative_int(text):
    """An integer >= 0."""
    value = _number(text, True)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def positive_float(text):
    """A finite number > 0."""
    value = _number(text, False)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def nonnegative_float(text):
    """A finite number >= 0 (a tolerance: 0 asks for exact agreement)."""
    value = _number(text, False)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def fraction(text):
    """A number in [0, 1]."""
    value = _number(text, False)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1], got {text!r}")
    return value


def open_fraction(text):
    """A number in (0, 1)."""
    value = _number(text, False)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1), got {text!r}")
    return value


def add_seed(p, what):
    """``--seed``: a non-negative integer, default 0; ``what`` says what it seeds."""
    p.add_argument("--seed", type=nonnegative_int, default=0, help=f"seed of {what} (default 0)")


def add_max_fd_work(p, what):
    """``--max-fd-work``: the largest finite-difference work; ``what`` counts its passes."""
    p.add_argument("--max-fd-work", type=positive_int, default=MAX_FD_WORK, metavar="N",
                   help=f"largest finite-difference work{what}: 2 x columns forward passes x the "
                        f"entries each pass reads and writes (default {MAX_FD_WORK:,})")


def refuse_over(estimate, limit, what, option, unit="entries"):
    """Raise :class:`SizeLimitError` when ``estimate`` exceeds ``limit``.

    ``what`` says what is counted ("the 14161 x 14400 Jacobian grid"), ``option``
    is the command-line option that raises the limit (``None``: a fixed limit),
    ``unit`` what is counted.
    """
    if estimate > limit:
        fix = f"raise it with {option} (or choose a smaller problem)" if option else \
            "choose a smaller problem"
        raise SizeLimitError(f"{what} would have {estimate:,} {unit}, over the limit of "
                             f"{limit:,}; {fix}")


def size(shape):
    """Entries of an array of ``shape`` (Python ints: no overflow)."""
    return math.prod(int(n) for n in shape)


def output_shape(layer, in_shape):
    """The output shape of ``layer`` on an input of ``in_shape``, from shapes alone.

    Validates the geometry as the layer would (an impossible one raises the
    layer's own error). ``None`` for a layer type it does not know.
    """
    in_shape = tuple(int(n) for n in in_shape)
    if isinstance(layer, chain.Chain):
        for sub in layer.layers:
            in_shape = output_shape(sub, in_shape)
            if in_shape is None:
                return None
        return in_shape
    if isinstance(layer, (conv.Conv2D, pooling.AvgPool2D, pooling.MaxPool2D)):
        if len(in_shape) < 2:
            return None
        out = layer.geometry(in_shape[:2]).out_size
        if isinstance(layer, conv.Conv2D):
            channels = in_shape[2] if len(in_shape) > 2 else 1
            expected = layer.kernel.shape[2] * layer.groups
            if channels != expected:
                raise InvalidValueError(
                    f"x has {channels} channels but the kernel expects C_in = kernel.shape[2] * "
                    f"groups = {expected} (kernel shape {layer.kernel.shape}, x shape {in_shape})")
            return (*out, layer.kernel.shape[3], *in_shape[3:])
        return (*out, *in_shape[2:])
    if isinstance(layer, dense.Dense):
        return (layer.weight.shape[1], *in_shape[1:])
    if isinstance(layer, reshape.Flatten):
        return (size(in_shape[:3]), in_shape[3]) if len(in_shape) == 4 else (size(in_shape),)
    if isinstance(layer, (activations.ReLU, activations.Sigmoid, activations.Tanh,
                          activations.Softmax)):
        return in_shape
    if isinstance(layer, (losses.SoftmaxCrossEntropy, losses.MSELoss)):
        return ()
    return None


def forward_entries(layer, in_shape):
    """Entries one forward pass reads and writes: the sum of every layer's input and output."""
    layers = layer.layers if isinstance(layer, chain.Chain) else [layer]
    total, shape = size(in_shape), in_shape
    for sub in layers:
        shape = output_shape(sub, shape)
        if shape is None:
            return None
        total += size(shape)
    return total
