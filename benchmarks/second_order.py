"""Second order against autograd and BackPACK: one table, one run.

    python benchmarks/second_order.py            # the table, a minute or two
    python benchmarks/second_order.py --quick    # fewer repeats
    python benchmarks/second_order.py --torch-threads 1

Rows (issue 15), each ours and theirs side by side, float64 throughout (the tests'
precision; every result is checked against the other side within 1e-10 relative to its
largest entry *before* it is timed, and a row whose check fails is reported and not timed):

* LeNet-5 input Hessian (1024 x 1024): ``Chain.hessian(x, method="forward")``
  (:func:`~jacobian_cnn.second_order.input_hessian`: the same sum as Hessian
  backpropagation, grouped from the input's side) vs ``torch.func.hessian``; target: at
  least 10x faster.
* Exact diagonal GGN of every LeNet-5 parameter (batch of 8, cross-entropy):
  ``ggn(form="diagonal")`` vs BackPACK's ``DiagGGNExact`` (forward and backward pass with
  the extension); target: at most 2x BackPACK's time.
* Per-layer Hessian blocks of the seed CNN (one block per parameter): ours from one
  ``hessian_blocks`` walk over every parameter (the diagonal blocks only, as Gram matrices
  of pushed-back square-root rows; no cross blocks) vs ``torch.func.hessian`` per
  parameter; target: at least 10x faster.
* Hessian-vector product on LeNet-5 (input): ``hessian_vector_product`` vs
  ``torch.func.jvp`` of ``torch.func.grad``; target: at most 3x torch's time.

Times are medians of repeated runs, measured in alternation (ours, theirs, ours, ...) after
one untimed warm-up each, with the range (min-max) beside them. torch runs with its default
thread count unless ``--torch-threads`` is given: on a shared 2-core machine under load,
torch's two threads contend with everything else and its times swing by 10-60x, so compare
with ``--torch-threads 1`` there; with one torch thread numpy's BLAS (OpenBLAS) is limited
to one thread too (threadpoolctl, when installed), so that both sides run single-threaded
(OpenBLAS's threads spin against the other processes of a loaded machine just as torch's
do). The load average is printed with the table. A missed target is printed as ``MISS``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import jacobian_cnn as jc  # noqa: E402
from jacobian_cnn.examples import seed_cnn, with_loss  # noqa: E402
from jacobian_cnn.second_order import ggn, hessian_vector_product  # noqa: E402
from jacobian_cnn.second_order.roots import hessian_blocks  # noqa: E402
from jacobian_cnn.vec import vec  # noqa: E402


def once_ms(fn):
    """One run of ``fn`` in ms, with the garbage collector paused."""
    gc.disable()
    try:
        start = time.perf_counter()
        fn()
        return 1e3 * (time.perf_counter() - start)
    finally:
        gc.enable()


def timed(fns, repeat):
    """``{name: (median, min, max)}`` in ms, the functions run in alternation after a warm-up."""
    for fn in fns.values():
        fn()
    rounds = [{name: once_ms(fn) for name, fn in fns.items()} for _ in range(repeat)]
    times = {name: [r[name] for r in rounds] for name in fns}
    return {name: (float(np.median(t)), min(t), max(t)) for name, t in times.items()}


def check(ours, theirs, what):
    """``None`` if equal within 1e-10 relative to the largest entry, else the message."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    if ours.shape != theirs.shape or not np.all(np.isfinite(ours)):
        return f"{what}: shape {ours.shape} vs {theirs.shape} or non-finite values"
    error = np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-300)
    return None if error <= 1e-10 else f"{what}: relative error {error:.2e}"


def lenet5(rng, labels):
    u = lambda shape, fan_in: rng.uniform(-1, 1, size=shape) / np.sqrt(fan_in)
    return jc.Chain([
        jc.Conv2D(u((5, 5, 1, 6), 25), u(6, 25)), jc.Tanh(), jc.AvgPool2D(2),
        jc.Conv2D(u((5, 5, 6, 16), 150), u(16, 150)), jc.Tanh(), jc.AvgPool2D(2),
        jc.Flatten("torch"),
        jc.Dense(u((400, 120), 400), u(120, 400)), jc.Tanh(),
        jc.Dense(u((120, 84), 120), u(84, 120)), jc.Tanh(),
        jc.Dense(u((84, 10), 84), u(10, 84)), jc.SoftmaxCrossEntropy(labels),
    ])


def torch_lenet(torch, net):
    """LeNet-5 written out in torch (float64 parameters copied from ``net``)."""
    F = torch.nn.functional
    t = lambda a: torch.tensor(np.ascontiguousarray(a))
    k1, k2 = (t(net.layers[i].kernel.transpose(3, 2, 0, 1)) for i in (0, 3))
    b1, b2 = (t(net.layers[i].bias) for i in (0, 3))
    dense = [(t(net.layers[i].weight.T), t(net.layers[i].bias)) for i in (7, 9, 11)]

    def logits(x):  # x: (N, 1, 32, 32)
        h = F.avg_pool2d(torch.tanh(F.conv2d(x, k1, b1)), 2)
        h = F.avg_pool2d(torch.tanh(F.conv2d(h, k2, b2)), 2).flatten(1)
        h = torch.tanh(F.linear(h, *dense[0]))
        h = torch.tanh(F.linear(h, *dense[1]))
        return F.linear(h, *dense[2])
    return logits


def row(name, ours, theirs, target, ok):
    ratio = theirs[0] / ours[0]
    return dict(name=name, ours=ours, theirs=theirs, ratio=ratio, target=target, ok=ok(ratio))


def lenet_input_hessian(torch, repeat, rng):
    from torch.func import hessian
    net = lenet5(rng, 3)
    x = rng.normal(size=(32, 32))
    logits = torch_lenet(torch, net)
    label = torch.tensor([3])
    loss = lambda t: torch.nn.functional.cross_entropy(logits(t.T[None, None]), label)
    x_t = torch.tensor(x.T.copy())   # t[i, j] = x[j, i]: row-major over t is vec(x)
    ours = lambda: net.hessian(x, method="forward").matrix
    theirs = lambda: hessian(loss)(x_t)
    expected = theirs().numpy().reshape(1024, 1024)
    problem = check(ours().toarray(), expected, "LeNet-5 input Hessian")
    if problem:
        return dict(name="LeNet-5 input Hessian", problem=problem)
    t = timed({"ours": ours, "theirs": theirs}, repeat)
    return row("LeNet-5 input Hessian 1024x1024 vs torch.func.hessian", t["ours"], t["theirs"],
               ">= 10x faster", lambda r: r >= 10)


def lenet_diag_ggn(torch, repeat, rng):
    from backpack import backpack, extend
    from backpack.extensions import DiagGGNExact
    from second_order_torch import to_torch_batch, torch_sequential
    labels = rng.integers(0, 10, size=8)
    net = lenet5(rng, labels)
    x = rng.normal(size=(32, 32, 1, 8))
    model, to_ours = torch_sequential(jc.Chain(net.layers[:-1]))
    model, lossfunc = extend(model), extend(torch.nn.CrossEntropyLoss())
    x_t, y_t = to_torch_batch(x), torch.tensor(labels)

    def theirs():
        model.zero_grad()
        with backpack(DiagGGNExact()):
            lossfunc(model(x_t), y_t).backward()
        return [p.diag_ggn_exact for p in model.parameters()]

    ours = lambda: ggn(net, x, form="diagonal")
    torch.set_default_dtype(torch.float64)
    try:
        theirs()
        owners = [(i, name) for i, layer in enumerate(net.layers[:-1]) for name in layer.params]
        expected = [vec(to_ours[key](p.diag_ggn_exact.numpy())) for key, p in
                    zip(owners, model.parameters(), strict=True)]
        mine = ours()
        problem = check(np.concatenate([mine[k] for k in owners]), np.concatenate(expected),
                        "LeNet-5 diagonal GGN")
        if problem:
            return dict(name="LeNet-5 diagonal GGN", problem=problem)
        t = timed({"ours": ours, "theirs": theirs}, repeat)
    finally:
        torch.set_default_dtype(torch.float32)
    return row("LeNet-5 exact diagonal GGN, batch 8, vs BackPACK DiagGGNExact", t["ours"],
               t["theirs"], "<= 2x BackPACK's time", lambda r: r >= 0.5)


def seed_blocks(torch, repeat, rng):
    from second_order_torch import torch_hessian
    net = with_loss(seed_cnn(rng), jc.SoftmaxCrossEntropy(1))
    x = rng.normal(size=(8, 8, 1))
    keys = [(i, name) for i, layer in enumerate(net.layers) for name in layer.params]
    ours = lambda: list(hessian_blocks(net, x, keys).values())
    theirs = lambda: [torch_hessian(net.layers, x, only=[key])[key, key] for key in keys]
    for key, mine, expected in zip(keys, ours(), theirs(), strict=True):
        problem = check(mine.toarray(), expected, f"seed CNN block {key}")
        if problem:
            return dict(name="seed CNN per-layer blocks", problem=problem)
    t = timed({"ours": ours, "theirs": theirs}, repeat)
    return row(f"seed CNN per-layer Hessian blocks ({len(keys)}) vs torch.func.hessian",
               t["ours"], t["theirs"], ">= 10x faster", lambda r: r >= 10)


def lenet_hvp(torch, repeat, rng):
    from torch.func import grad, jvp
    net = lenet5(rng, 3)
    x, v = rng.normal(size=(32, 32)), rng.normal(size=1024)
    logits = torch_lenet(torch, net)
    label = torch.tensor([3])
    loss = lambda t: torch.nn.functional.cross_entropy(logits(t.T[None, None]), label)
    x_t, v_t = torch.tensor(x.T.copy()), torch.tensor(v.reshape(32, 32))  # row-major = vec order
    ours = lambda: hessian_vector_product(net, x, v)
    theirs = lambda: jvp(grad(loss), (x_t,), (v_t,))[1]
    problem = check(ours(), theirs().numpy().ravel(), "LeNet-5 HVP")
    if problem:
        return dict(name="LeNet-5 HVP", problem=problem)
    t = timed({"ours": ours, "theirs": theirs}, repeat)
    return row("LeNet-5 Hessian-vector product vs torch.func jvp(grad)", t["ours"], t["theirs"],
               "<= 3x torch's time", lambda r: r >= 1 / 3)


def blas_threads(n):
    """A context limiting numpy's BLAS to ``n`` threads (``None``: unchanged; also
    unchanged without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        n = None
    return contextlib.nullcontext() if n is None else threadpool_limits(limits=n, user_api="blas")


def fmt(t):
    return f"{t[0]:9.2f} ({t[1]:.2f}-{t[2]:.2f})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch's thread count (default: torch's own)")
    args = parser.parse_args(argv)
    import torch
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    repeat = 3 if args.quick else 11
    rng = np.random.default_rng(0)
    print(f"# second order: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"float64, medians of {repeat} (min-max), ms; numpy BLAS threads: "
          f"{'1' if args.torch_threads == 1 else 'default'}")
    rows = []
    with blas_threads(1 if args.torch_threads == 1 else None):
        for measure in (lenet_input_hessian, lenet_diag_ggn, seed_blocks, lenet_hvp):
            try:
                rows.append(measure(torch, repeat, rng))
            except ImportError as exc:
                rows.append(dict(name=measure.__name__, problem=f"not run: {exc}"))
    print(f"# load average (1, 5, 15 min) after measuring: {os.getloadavg()}")
    print(f"{'row':<64} {'ours ms':>24} {'theirs ms':>24} {'theirs/ours':>11}  target")
    for r in rows:
        if "problem" in r:
            print(f"{r['name']:<64} MISS (not timed): {r['problem']}")
            continue
        verdict = "met" if r["ok"] else "MISS"
        print(f"{r['name']:<64} {fmt(r['ours']):>24} {fmt(r['theirs']):>24} {r['ratio']:>10.2f}x  "
              f"{r['target']}: {verdict}")
    return 0 if all(r.get("ok") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
