"""The operations ``show`` offers beyond the seeds': 1-D, 3-D and transposed window layers,
batch and layer normalization, resampling and LogSoftmax (issue 14).

:data:`MORE_OPS` names them; :func:`add_more_arguments` declares their own options
(``--size``, ``--scale-factor``, ``--mode``, ``--align-corners``, ``--eval``,
``--output-padding``) and :func:`build_more` makes the layer from the parsed options, the
window options (``--kernel``, ``--window``, ``--stride``, ``--padding``, ``--dilation``)
taking one size per window axis (``3`` or ``2x2x2`` in 3-D). Inputs are one sample:
``--input L`` or ``LxC`` in 1-D, ``DxHxW`` or ``DxHxWxC`` in 3-D. Parameters are named
entries (``k_{...}``, ``gamma_{c}``): the layers that have parameters (convolutions,
normalizations) are shown with ``--symbolic`` only, there being no option for their values.

Examples
--------
>>> from jacobian_cnn.cli import main
>>> main(["show", "conv1d", "--input", "3", "--kernel", "2", "--symbolic"])
d vec(z) / d vec(a) of Conv1D(2, 1->1, no bias) on a 3x1 input  (2x3, 4 nonzeros)
       | a_{11}  a_{21}  a_{31}
-------------------------------
z_{11} | k_{11}  k_{21}  0
z_{21} | 0       k_{11}  k_{21}
0
"""

from __future__ import annotations

import re

import numpy as np

from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops.by_name import GRID_OP_NAMES, make_layer

__all__ = ["MORE_OPS", "add_more_arguments", "build_more", "spatial_axes"]

MORE_OPS = GRID_OP_NAMES + ("batchnorm", "layernorm", "logsoftmax", "upsample", "adaptiveavgpool",
                            "globalavgpool")
"""Operations ``show`` accepts besides :data:`~jacobian_cnn.cli.operation.OPS`."""


def spatial_axes(op):
    """Window axes of a grid operation (1, 2 or 3), ``None`` for the others."""
    m = re.search(r"([123])d$", op)
    return int(m[1]) if m and op in GRID_OP_NAMES else None


def add_more_arguments(p):
    """The options of :data:`MORE_OPS` that the seed operations do not have."""
    g = p.add_argument_group("more operations (1-D / 3-D / transposed windows, normalization, "
                             "resampling)")
    g.add_argument("--output-padding", metavar="P", default="0",
                   help="convtranspose: extra output rows at the end, P or one per axis")
    g.add_argument("--size", metavar="HxW", help="upsample, adaptiveavgpool: the output size")
    g.add_argument("--scale-factor", metavar="F", type=float, help="upsample: instead of --size")
    g.add_argument("--mode", choices=("nearest", "bilinear"), default="nearest", help="upsample")
    g.add_argument("--align-corners", action="store_true", help="upsample (bilinear)")
    g.add_argument("--eval", action="store_true",
                   help="batchnorm: evaluation mode (running statistics: mu_c, sigma_c; diagonal)")


def _axes(text, what, d, minimum=1):
    """``"2"`` -> 2 and ``"2x1x3"`` -> ``(2, 1, 3)`` for ``d`` window axes (``None`` stays)."""
    if text is None:
        return None
    parts = re.split(r"\s*[x×,]\s*", str(text).strip())
    if len(parts) not in (1, d) or not all(p.isdigit() and int(p) >= minimum for p in parts):
        form = "N" if d == 1 else f"N or {'x'.join('N' * d)}"
        raise InvalidValueError(f"{what} must be {form} ({'positive' if minimum else 'non-negative'} "
                                f"integers, one per window axis), got {text!r}")
    values = tuple(int(p) for p in parts)
    return values[0] if len(values) == 1 else values


def _one_sample(op, shape, d):
    """The input shape with its channel axis: ``(L,)`` -> ``(L, 1)``, ``(D, H, W)`` -> ``(D, H, W, 1)``."""
    if d is None or d == 2:
        return shape
    forms = {1: "L or LxC", 3: "DxHxW or DxHxWxC"}
    if len(shape) not in (d, d + 1):
        raise InvalidValueError(f"{op} needs --input {forms[d]} (one sample), got "
                                f"{'x'.join(map(str, shape))}")
    return shape if len(shape) == d + 1 else shape + (1,)


def _window_layer(args, op, shape, d, check_array):
    stride, padding = _axes(args.stride, "--stride", d), _axes(args.padding, "--padding", d, 0)
    dilation = _axes(args.dilation, "--dilation", d)
    if "pool" in op:
        if args.window is None:
            raise InvalidValueError(f"{op} needs --window K (or one size per axis)")
        options = {"window": _axes(args.window, "--window", d), "stride": stride, "padding": padding}
        if op.startswith("avg"):
            options["count_include_pad"] = not args.no_count_include_pad
        else:
            options["dilation"] = dilation
        return make_layer(op, {}, options)
    if args.kernel is None:
        raise InvalidValueError(f"{op} needs --kernel K (or one size per axis)")
    k = _axes(args.kernel, "--kernel", d)
    k = (k,) * d if isinstance(k, int) else k
    c_in = shape[d] if len(shape) > d else 1  # a 2-D (H, W) map has one channel
    check_array(int(np.prod(k)) * c_in * args.channels_out,
                f"the kernel ({'x'.join(map(str, k))}, {c_in} -> {args.channels_out} channels)", args)
    kernel = np.ones(k + (c_in, args.channels_out))
    bias = np.zeros(args.channels_out) if args.bias else None
    options = {"stride": 1 if stride is None else stride, "padding": padding, "dilation": dilation}
    if op.startswith("convtranspose"):
        options["output_padding"] = _axes(args.output_padding, "--output-padding", d, 0)
    return make_layer(op, {"kernel": kernel, "bias": bias}, options)


def build_more(args, shape, values, check_array):
    """``(layer, shape, values)`` of an operation of :data:`MORE_OPS` (shape and values of one
    sample, with the channel axis the layer reads); ``check_array(entries, what, args)``
    refuses a kernel too large before it is allocated."""
    op, d = args.op, spatial_axes(args.op)
    given = shape
    shape = _one_sample(op, shape, d)
    if values is not None:
        values = values.reshape(shape, order="F") if values.size == int(np.prod(shape)) else values
    if d is not None:
        return _window_layer(args, op, shape, d, check_array), shape, values
    if args.window is not None or args.stride is not None or args.kernel is not None:
        raise InvalidValueError(f"--window, --kernel and --stride are for window operations, not {op}")
    if op == "batchnorm":
        if len(given) != 3:
            raise InvalidValueError(f"batchnorm needs --input HxWxC (one sample), got {args.input!r}")
        c = given[2]
        layer = make_layer(op, {"gamma": np.ones(c), "beta": np.zeros(c)}, {"training": not args.eval})
    elif op == "layernorm":
        layer = make_layer(op, {"gamma": np.ones(given), "beta": np.zeros(given)},
                           {"normalized_shape": given})
    elif op == "upsample":
        options = {"mode": args.mode, **({"align_corners": True} if args.align_corners else {})}
        if args.size is not None:
            options["size"] = _axes(args.size, "--size", 2)
        if args.scale_factor is not None:
            options["scale_factor"] = args.scale_factor
        layer = make_layer(op, {}, options)
    elif op == "adaptiveavgpool":
        if args.size is None:
            raise InvalidValueError("adaptiveavgpool needs --size HoxWo (the output size)")
        layer = make_layer(op, {}, {"output_size": _axes(args.size, "--size", 2)})
    else:  # logsoftmax, globalavgpool
        layer = make_layer(op, {}, {})
    return layer, shape, values
