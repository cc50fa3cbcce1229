"""``jacobian-cnn demo``: the chain rule through a seed-style CNN, checked by finite differences."""

from __future__ import annotations

import numpy as np

from jacobian_cnn import examples
from jacobian_cnn.checking import numerical_jacobian
from jacobian_cnn.cli import _options
from jacobian_cnn.cli._options import nonnegative_float, positive_int
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops import losses

NETWORK = ("conv", "sigmoid", "avg pool", "conv", "relu", "max pool", "flatten", "dense",
           "softmax cross-entropy")
"""The layers of the demo network (:func:`jacobian_cnn.examples.seed_cnn` and its loss)."""


def add_parser(sub):
    description = (f"Builds {' -> '.join(NETWORK)} on a generated input, pushes dL/dy back "
                   "through every layer's explicit sparse Jacobian and compares the gradients "
                   "with central finite differences.")
    p = sub.add_parser("demo", description=description,
                       help="build a seed-style 3-layer CNN, print every chain step, check "
                            "against finite differences (the default verb)")
    p.add_argument("--size", type=positive_int, default=8,
                   help="input height/width, divisible by 4 (default 8)")
    p.add_argument("--batch", type=positive_int, default=1, help="number of samples (default 1)")
    _options.add_seed(p, "the input, labels and parameters")
    p.add_argument("--tolerance", type=nonnegative_float, default=1e-6,
                   help="largest accepted deviation from finite differences (default 1e-6)")
    _options.add_max_fd_work(p, " (the columns: inputs and parameters)")
    p.set_defaults(run=run)


def run(args):
    if args.size < 4 or args.size % 4:
        raise InvalidValueError(f"--size must be a positive multiple of 4, got {args.size}")
    _check_work(args)
    rng = np.random.default_rng(args.seed)
    net = examples.seed_cnn(rng, size=args.size)
    x = rng.normal(size=(args.size, args.size, 1, args.batch))
    labels = rng.integers(0, 4, size=args.batch)
    full = examples.with_loss(net, losses.SoftmaxCrossEntropy(labels))

    print(f"network ({x.shape} input, labels {labels.tolist()}):")
    print(full)
    grads = full.backward(x)
    print(f"\nloss L = {float(grads.output):.6f}\n")
    print("backward pass, g <- g @ J, left to right:")
    print(grads.trace)

    def loss_at(value, i=None, name=None):
        if i is None:
            return full.forward(value)
        layer = full.layers[i]
        saved = getattr(layer, name)
        setattr(layer, name, value)
        try:
            return full.forward(x)
        finally:
            setattr(layer, name, saved)

    rows = [("input x", grads.input, numerical_jacobian(loss_at, x))]
    for i, params in enumerate(grads.params):
        for name, g in params.items():
            fd = numerical_jacobian(lambda v, i=i, name=name: loss_at(v, i, name),
                                    getattr(full.layers[i], name))
            rows.append((f"layer {i} {name}", g, fd))
    print("\nchain gradient vs central finite differences:")
    deviations = []
    for label, g, fd in rows:
        dev = float(np.max(np.abs(g - fd)))
        deviations.append(dev)
        print(f"  {label:<18} size {g.shape[1]:>4}   max |chain - fd| = {dev:.2e}")
    worst = max(deviations, key=lambda d: np.inf if np.isnan(d) else d)  # NaN is the worst
    ok = bool(np.isfinite(worst) and worst <= args.tolerance)
    print(f"\nlargest deviation from finite differences: {worst:.2e} ({'OK' if ok else 'FAILED'}, "
          f"tolerance {args.tolerance:.0e})")
    return 0 if ok else 1


def _check_work(args):
    """Refuse, from the sizes alone, finite differences over ``--max-fd-work``.

    The network is :func:`jacobian_cnn.examples.seed_cnn` with its defaults (channels
    1, 2, 3; 4 classes): its parameters and the entries one forward pass reads and
    writes follow from ``--size`` and ``--batch``.
    """
    s2, n = args.size * args.size, args.batch
    flat = (args.size // 4) ** 2 * 3
    n_params = (9 * 1 * 2 + 2) + (9 * 2 * 3 + 3) + (flat * 4 + 4)
    # input, conv 1, sigmoid, pool, conv 2, relu, max pool, flatten, dense, loss
    forward = n * (s2 + 2 * s2 + 2 * s2 + s2 // 2 + 3 * s2 // 4 + 3 * s2 // 4 + 2 * flat + 4) + 1
    n_vars = s2 * n + n_params
    _options.refuse_over(2 * n_vars * forward, args.max_fd_work,
                         f"finite differences over {n_vars:,} inputs and parameters "
                         f"({2 * n_vars:,} forward passes of {forward:,} entries)",
                         "--max-fd-work", unit="entry visits")
