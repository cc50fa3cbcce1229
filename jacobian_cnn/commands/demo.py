"""``jacobian-cnn demo``: the chain rule through a seed-style CNN, checked by finite differences."""

from __future__ import annotations

import numpy as np

from .. import examples, losses
from ..checking import numerical_jacobian
from ..errors import InvalidValueError


def add_parser(sub):
    p = sub.add_parser(
        "demo", help="build a seed-style 3-layer CNN, print every chain step, check against "
                     "finite differences (the default verb)",
        description="Builds conv -> sigmoid -> avg pool -> conv -> relu -> max pool -> flatten "
                    "-> dense -> softmax cross-entropy on a generated input, pushes dL/dy back "
                    "through every layer's explicit sparse Jacobian and compares the gradients "
                    "with central finite differences.")
    p.add_argument("--size", type=int, default=8, help="input height/width, divisible by 4 (default 8)")
    p.add_argument("--batch", type=int, default=1, help="number of samples (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--tolerance", type=float, default=1e-6,
                   help="largest accepted deviation from finite differences (default 1e-6)")
    p.set_defaults(run=run)


def run(args):
    if args.size < 4 or args.size % 4:
        raise InvalidValueError(f"--size must be a positive multiple of 4, got {args.size}")
    if args.batch < 1:
        raise InvalidValueError(f"--batch must be positive, got {args.batch}")
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
    worst = 0.0
    for label, g, fd in rows:
        dev = float(np.max(np.abs(g - fd)))
        worst = max(worst, dev)
        print(f"  {label:<18} size {g.shape[1]:>4}   max |chain - fd| = {dev:.2e}")
    verdict = "OK" if worst <= args.tolerance else "FAILED"
    print(f"\nlargest deviation from finite differences: {worst:.2e} ({verdict}, "
          f"tolerance {args.tolerance:.0e})")
    return 0 if worst <= args.tolerance else 1
