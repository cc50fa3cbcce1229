"""Issue 16's rows ("performance, next bar"), measured inside ``benchmarks/run.py``'s one run.

Each row is checked against torch (or, for the batches, against the single-sample
Jacobians the layer table checks against torch) before it is timed; times are medians
of paired rounds with their range (min-max over the rounds); every torch comparison is
made twice, torch single-threaded and with all its threads. The sparsejac column is
optional: reported as missing when ``sparsejac`` (JAX) is not installed.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import time

import numpy as np

import jacobian_cnn as jc
from jacobian_cnn.compare.layout import to_layout
from jacobian_cnn.compare.translation import BACKEND_LAYOUTS

F32 = np.float32
BATCH = 64


def paired_rounds(fns, repeat, *, warmup=True):
    """``{name: (median, low, high)}`` in ms: every round runs each function once, in turn
    (after one untimed run of each unless ``warmup=False``), with the collector paused."""
    for fn in fns.values() if warmup else ():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            gc.disable()
            start = time.perf_counter()
            fn()
            times[name].append(1e3 * (time.perf_counter() - start))
            gc.enable()
    return {name: (float(np.median(t)), float(np.min(t)), float(np.max(t))) for name, t in times.items()}


def with_threads(torch, n, fn):
    """``fn()`` with torch set to ``n`` threads, the previous setting given back.

    With one thread, numpy's BLAS (OpenBLAS) is limited to one thread too (threadpoolctl,
    when installed), so both sides run single-threaded; "all threads" leaves both at
    their defaults.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        if n == 1 and blas_limit_available():
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=1, user_api="blas"):
                return fn()
        return fn()
    finally:
        torch.set_num_threads(before)


def blas_limit_available():
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------- LeNet-5: gradients, batches, params


def torch_gradient_fn(torch, lenet_torch, x_t, p_t, labels):
    target = torch.tensor(labels)

    def gradient():
        ps = [q.detach().requires_grad_() for q in p_t]
        xs = x_t.detach().requires_grad_()
        loss = torch.nn.functional.cross_entropy(lenet_torch(torch, xs, ps), target)
        loss.backward()
        return xs.grad, [q.grad for q in ps]
    return gradient


def check_gradients(ours, theirs, n):
    """Our rows (input, then each layer's parameters) against torch's ``.grad`` arrays."""
    x_grad = theirs[0].numpy()  # (N, 1, 32, 32)
    ours_x = ours.input[0].reshape(32, 32, 1, n, order="F").transpose(3, 2, 0, 1)
    np.testing.assert_allclose(ours_x, x_grad, rtol=1e-4, atol=1e-6, err_msg="input gradient")
    kernel = jc.as_parameter_shape(ours.params[3]["kernel"][0], (5, 5, 6, 16))
    np.testing.assert_allclose(kernel, theirs[1][2].numpy().transpose(2, 3, 1, 0), rtol=1e-4,
                               atol=1e-6, err_msg="conv2 kernel gradient")


def measure_gradients(torch, lenet, lenet_torch, repeat, rng, threads):
    """One-sample gradient and a batch of 64: ours vs torch forward + backward."""
    net, params = lenet
    p_t = [torch.tensor(p) for p in params]
    rows = {}
    for n in (1, BATCH):
        x = rng.normal(size=(32, 32, 1, n)).astype(F32)
        labels = rng.integers(0, 10, size=n)
        chain = jc.Chain([*net.layers, jc.SoftmaxCrossEntropy(labels if n > 1 else int(labels[0]))])
        x_ours = x if n > 1 else x[:, :, 0, 0]
        x_t = torch.tensor(np.ascontiguousarray(x.transpose(3, 2, 0, 1)))
        gradient = torch_gradient_fn(torch, lenet_torch, x_t, p_t, labels)
        check_gradients(chain.backward(x_ours), gradient(), n)
        fns = dict(ours=lambda chain=chain, x=x_ours: chain.backward(x), torch=gradient)
        for t in threads:
            rows[(n, t)] = with_threads(torch, t, lambda fns=fns: paired_rounds(fns, repeat))
    return rows


def measure_params_jacobian(torch, lenet, lenet_torch, repeat, rng, threads, torch_flat_index):
    """``Chain.jacobian(x, wrt="params")`` vs ``torch.func.jacrev`` wrt all ten parameters."""
    from torch.func import jacrev

    net, params = lenet
    x = rng.normal(size=(32, 32)).astype(F32)
    p_t = [torch.tensor(p) for p in params]
    x_t = torch.tensor(x)[None, None]
    jac = jacrev(lambda ps: lenet_torch(torch, x_t, ps))
    ours = net.jacobian(x, wrt="params").toarray()
    theirs = []
    for p, layer_param in zip(jac(p_t), (v for layer in net.layers for v in layer.params.values()),
                              strict=True):
        flat = p.reshape(10, -1).numpy()
        if layer_param.ndim == 4:  # ours (kh, kw, ci, co), torch (co, ci, kh, kw)
            flat = flat[:, torch_flat_index(np.arange(layer_param.size), layer_param.shape, (2, 3, 1, 0))]
        theirs.append(flat)  # a dense layer's torch weight is W.T: its C order is our vec order
    np.testing.assert_allclose(ours, np.hstack(theirs), rtol=1e-4, atol=1e-6,
                               err_msg="LeNet-5 parameter Jacobian: ours and torch differ")
    return {t: with_threads(torch, t, lambda: paired_rounds(
        dict(ours=lambda: net.jacobian(x, wrt="params"), torch=lambda: jac(p_t)), repeat))
        for t in threads}, ours.shape


# ---------------------------------------------------------------- batch Jacobians vs the bound


def measure_batch_jacobians(cases, build, repeat, bandwidth, peak_bytes):
    """Jacobians of ``(H, W, C, 64)`` batches (block-diagonal) against the fresh-memory bound."""
    rows = []
    for case in cases:
        layer, x = build(case)
        xb = np.stack([x * (1 + 0.01 * i) for i in range(BATCH)], axis=-1).reshape(
            x.shape + (1,) * (3 - x.ndim) + (BATCH,))
        wrts = ("input", "kernel") if case.op == "conv" else ("input",)
        for wrt in wrts:
            cache = layer.forward_with_cache(xb)[1] if case.op == "maxpool" else None
            J = layer.jacobian(xb, wrt=wrt, cache=cache)
            for i in (0, BATCH - 1):  # sample blocks: the single-sample Jacobians (torch-checked)
                single = layer.jacobian(xb[..., i], wrt=wrt)
                m, n = single.shape
                block = J[m * i:m * (i + 1)]
                block = block[:, n * i:n * (i + 1)] if wrt == "input" else block
                if (block != single).nnz or block.nnz != J[m * i:m * (i + 1)].nnz:
                    raise AssertionError(f"{case.id} batch {wrt}: block {i} is not the single Jacobian")
            del J
            def jacobian(layer=layer, xb=xb, wrt=wrt, cache=cache):
                return layer.jacobian(xb, wrt=wrt, cache=cache)
            t, low, high = paired_rounds(dict(build=jacobian), repeat)["build"]
            J, peak = peak_bytes(jacobian)
            size = J.nnz * (J.data.itemsize + J.indices.itemsize)
            rows.append(dict(case=case.id, wrt=wrt, nnz=J.nnz, bytes=size, build=t, low=low, high=high,
                             bound=size / bandwidth * 1e3,
                             peak=peak / (J.data.nbytes + J.indices.nbytes + J.indptr.nbytes)))
            del J
    return rows


# ---------------------------------------------------------------- sparsejac (JAX), optional


def sparsejac_available():
    try:
        import sparsejac  # noqa: F401
    except ImportError:
        return False
    return True


def measure_sparsejac(case, layer, x, wrt, J, repeat):
    """``sparsejac.jacrev`` (compiled, given our sparsity pattern) of the layer's JAX
    translation, in our vec order; checked against ``J`` on sampled rows, then timed
    with our build in paired rounds. ``(ours_ms, sparsejac_ms)``."""
    import jax
    import jax.numpy as jnp
    import sparsejac
    from jax.experimental import sparse as jsparse

    from jacobian_cnn.compare.jax_layers import jax_layer

    fn = jax_layer(layer, "maps", x.shape)[0]
    params = {name: jnp.asarray(to_layout(v, BACKEND_LAYOUTS["jax"][name]))
              for name, v in layer.params.items()}
    x3 = x.reshape(x.shape + (1,) * (3 - x.ndim))
    x_jax = jnp.asarray(x3[None])
    in_shape = x3.shape if wrt == "input" else layer.params[wrt].shape

    def f(v):  # our vec in, our vec out (HWIO kernels and NHWC maps keep our axis order)
        a = v.reshape(in_shape[::-1]).T
        y = fn(a[None], params) if wrt == "input" else fn(x_jax, {**params, wrt: a})
        return y[0].T.reshape(-1)

    sparsity = jsparse.BCOO.from_scipy_sparse(J)
    jac = jax.jit(sparsejac.jacrev(f, sparsity))
    at = jnp.asarray(x3.ravel(order="F") if wrt == "input" else layer.params[wrt].ravel(order="F"))
    result = jac(at)
    theirs = result.data.block_until_ready()
    import scipy.sparse as sp

    idx = np.asarray(result.indices)
    theirs = sp.csr_array((np.asarray(theirs), (idx[:, 0], idx[:, 1])), shape=J.shape)
    sample = np.random.default_rng(0).choice(J.shape[0], size=min(256, J.shape[0]), replace=False)
    np.testing.assert_allclose(theirs[sample].toarray(), J[sample].toarray(), rtol=1e-5, atol=1e-6,
                               err_msg=f"{case.id} {wrt}: ours and sparsejac differ")
    del result, theirs
    cache = layer.forward_with_cache(x)[1] if case.op == "maxpool" else None
    t = paired_rounds(dict(ours=lambda: layer.jacobian(x, wrt=wrt, cache=cache),
                           sparsejac=lambda: jac(at).data.block_until_ready()), repeat)
    return t["ours"][0], t["sparsejac"][0]


def measure_peer(cases, build, repeat, scaling_case):
    """The sparsejac column over the layer table (and one 9 M-nonzero scaling layer)."""
    rows = []
    extra = [("scaling 64x64x16 3x3 16->16 pad 1", *scaling_case)] if scaling_case else []
    items = [(case.id, case, *build(case)) for case in cases]
    items += [(name, None, layer, x) for name, layer, x in extra]
    for name, case, layer, x in items:
        op = case.op if case is not None else "conv"
        # the table's conv layers both ways; the extra scaling layer wrt its input (the
        # row the issue quotes)
        for wrt in ("input", "kernel") if case is not None and op == "conv" else ("input",):
            print(f"... sparsejac {name} {wrt}", file=sys.stderr, flush=True)
            cache = layer.forward_with_cache(x)[1] if op == "maxpool" else None
            J = layer.jacobian(x, wrt=wrt, cache=cache)
            shim = type("C", (), {"id": name, "op": op})
            ours, theirs = measure_sparsejac(shim, layer, x, wrt, J, max(3, repeat // 3))
            rows.append(dict(case=name, wrt=wrt, nnz=J.nnz, ours=ours, sparsejac=theirs))
            del J
    return rows


# ---------------------------------------------------------------- teaching-size paths


def measure_show(repeat=3):
    """Wall time of ``jacobian-cnn show conv --input 16x16 --kernel 3x3 --symbolic --latex``
    (a fresh process each time, as a user runs it)."""
    cmd = [sys.executable, "-m", "jacobian_cnn", "show", "conv", "--input", "16x16", "--kernel", "3x3",
           "--symbolic", "--latex"]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), float(np.min(times)), float(np.max(times))


# ---------------------------------------------------------------- report


def span(t):
    median, low, high = t
    return f"{median:8.3f} [{low:.3f}-{high:.3f}]"


def report(result, fmt_ms, verdict):
    blas = "numpy's BLAS limited to 1 thread too" if blas_limit_available() else \
        "numpy's BLAS at its default (threadpoolctl missing)"
    lines = ["issue 16 (next bar): medians [min-max] of paired rounds, ms; torch single-threaded "
             f"(1 thr; {blas}) and with all threads", f"  load average while measuring: {result['load']}"]
    targets = ["targets, issue 16"]
    for (n, t), r in sorted(result["gradients"].items()):
        ratio = r["ours"][0] / r["torch"][0]
        what = "one-sample gradient" if n == 1 else f"batch of {n} gradient "
        lines.append(f"  LeNet-5 {what} torch {t} thr: ours {span(r['ours'])}  torch "
                     f"{span(r['torch'])}  ours/torch {ratio:.2f}")
        bar = 1.0 if n == 1 else 1.5
        targets.append(f"  {verdict(ratio <= bar)}  LeNet-5 {what.strip()} (Chain.backward) <= {bar}x torch "
                       f"fwd+backward, torch {t} thread(s): {ratio:.2f}x")
    shape = result["params_shape"]
    for t, r in sorted(result["params"].items()):
        speedup = r["torch"][0] / r["ours"][0]
        lines.append(f"  LeNet-5 {shape[0]}x{shape[1]} parameter Jacobian, torch {t} thr: ours "
                     f"{span(r['ours'])}  jacrev {span(r['torch'])}  jacrev/ours {speedup:.2f}")
        targets.append(f"  {verdict(speedup >= 3)}  Chain.jacobian(wrt='params') >= 3x faster than "
                       f"torch.func.jacrev on LeNet-5, torch {t} thread(s): {speedup:.2f}x")
    lines.append(f"  batch Jacobians, N = {BATCH} (block-diagonal):")
    for r in result["batch"]:
        ratio = r["build"] / r["bound"]
        lines.append(f"    {r['case']:<34} {r['wrt']:<6} {r['nnz']:>11,} nnz {r['bytes'] / 1e6:7.1f} MB  "
                     f"build {fmt_ms(r['build']):>8} [{fmt_ms(r['low'])}-{fmt_ms(r['high'])}]  "
                     f"bound {fmt_ms(r['bound']):>8}  ratio {ratio:5.2f}"
                     f"  peak {r['peak']:.2f}")
        targets.append(f"  {verdict(ratio <= 1.5)}  batch Jacobian within 1.5x of the fresh-memory bound: "
                       f"{r['case']} ({r['wrt']}, N={BATCH}): {ratio:.2f}x")
    if result["peer"] is None:
        why = "left out (--no-peer)" if result["no_peer"] else "missing (pip install sparsejac)"
        lines.append(f"  sparsejac: {why}")
        targets.append(f"  ----  sparsejac column: {why}")
    else:
        lines.append("  sparsejac (JAX, compiled, given the sparsity pattern), our build in paired rounds:")
        for r in result["peer"]:
            speedup = r["sparsejac"] / r["ours"]
            lines.append(f"    {r['case']:<40} {r['wrt']:<6} {r['nnz']:>11,} nnz  ours {fmt_ms(r['ours']):>8}"
                         f"  sparsejac {fmt_ms(r['sparsejac']):>8}  x faster {speedup:6.1f}")
            targets.append(f"  {verdict(speedup >= 10)}  >= 10x faster than sparsejac: {r['case']} "
                           f"({r['wrt']}, {r['nnz'] / 1e6:.1f} M nnz): {speedup:.1f}x")
    for r in result["layers"]:
        ratio = r["peak"] / r["total"]
        targets.append(f"  {verdict(ratio <= 1.1)}  peak allocation <= 1.1x the finished matrix: "
                       f"{r['case']} ({r['wrt']}): {ratio:.2f}x")
    if result["show"] is not None:
        lines.append(f"  show conv --input 16x16 --kernel 3x3 --symbolic --latex (a fresh process): "
                     f"{span(tuple(1e3 * v for v in result['show']))} ms")
        targets.append(f"  {verdict(result['show'][0] < 2)}  show conv 16x16 3x3 --symbolic --latex "
                       f"under 2 s: {result['show'][0]:.2f} s")
    return lines + [""] + targets
