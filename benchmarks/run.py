"""Jacobian assembly against the memory bound and against torch autograd: one table, one run.

    python benchmarks/run.py            # the full table, a few minutes
    python benchmarks/run.py --quick    # fewer repeats and no scaling table, for a smoke test
    python benchmarks/run.py --new-layers   # only issue 14's new layers against the bound

Everything is measured in this one process on this machine: times are medians of
repeated runs (the first run of each is a warm-up and is not counted), float32
throughout (torch's default), torch with its default thread count. See
``benchmarks/README.md`` for a captured table and what each column means.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import next_bar  # noqa: E402  (issue 16's rows, benchmarks/next_bar.py)

import jacobian_cnn as jc  # noqa: E402
from jacobian_cnn.cases import BENCHMARK_CASES, GRID_BENCHMARK_CASES, NEW_LAYER_BENCHMARK_CASES  # noqa: E402
from jacobian_cnn.compare.layout import from_layout, to_layout  # noqa: E402
from jacobian_cnn.compare.torch_layers import torch_layer  # noqa: E402
from jacobian_cnn.compare.translation import BACKEND_LAYOUTS, input_kind, param_layout  # noqa: E402

F32 = np.float32
MB = 1e6
JACREV_BUDGET = 4 * 2**30
"""Largest estimated memory of one ``torch.func.jacrev`` call that is attempted (bytes)."""


# ---------------------------------------------------------------- timing helpers


def median_ms(fn, repeat, *, warmup=True):
    """Median wall time of ``fn()`` in ms over ``repeat`` runs, after one warm-up run."""
    return paired_median_ms({"fn": fn}, repeat, warmup=warmup)["fn"]


def paired_median_ms(fns, repeat, *, warmup=True):
    """Median wall times (ms) of several functions measured in alternation.

    Each round runs every function once, so a slow spell of the shared machine hits
    all of them alike instead of whichever happened to be measured then. Each function
    runs once untimed first unless ``warmup=False``. (:func:`next_bar.paired_rounds`
    with its range left out.)
    """
    return {name: t[0] for name, t in next_bar.paired_rounds(fns, repeat, warmup=warmup).items()}


def fresh_write_bandwidth(repeat, n_bytes=256 * 2**20):
    """Bytes per second numpy writes into newly allocated memory (page faults included).

    Each run allocates a new array larger than glibc's largest recycled chunk
    (32 MiB), so it always gets fresh pages from the kernel, as a large Jacobian does.
    """
    def write():
        a = np.empty(n_bytes // 4, F32)
        a.fill(1.0)
        return a
    return n_bytes / (median_ms(write, repeat) / 1e3)


def warm_allocator():
    """Let glibc recycle freed memory below 32 MiB, as it does in any long-running program.

    glibc serves a freshly started process's mid-sized allocations from new pages
    and raises that threshold once it frees a larger mmapped chunk, which every numpy
    program soon does. Without this, the first cache-sized builds of the table would
    pay page faults that repeated builds in a real program do not.
    """
    block = np.ones(30 * 2**20 // 8)
    del block


def peak_bytes(fn):
    """``(result, peak)``: what ``fn()`` returns and the peak of traced allocations during it."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    result = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, peak


def csr_bytes(J):
    return J.data.nbytes + J.indices.nbytes + J.indptr.nbytes


# ---------------------------------------------------------------- torch twins


def torch_flat_index(our_index, our_shape, torch_axes):
    """Flat torch index of entries given by their column-major vec index in our layout.

    ``torch_axes[k]`` is the torch axis of our axis ``k``: ``(1, 2, 0)`` for a map (ours
    ``(H, W, C)``, torch ``(C, H, W)``), ``(2, 3, 1, 0)`` for a kernel (ours
    ``(kh, kw, ci, co)``, torch ``(co, ci, kh, kw)``).
    """
    ours = np.unravel_index(our_index, our_shape, order="F")
    order = np.argsort(torch_axes)  # our axis at each torch axis
    torch_shape = tuple(our_shape[k] for k in order)
    return np.ravel_multi_index(tuple(ours[k] for k in order), torch_shape)


def jacrev_estimate(n_out, n_in, itemsize=4):
    """Bytes of one jacrev call: the dense Jacobian, the identity basis and a vmapped copy."""
    return itemsize * (n_out * n_out + 2 * n_out * n_in)


# ---------------------------------------------------------------- layer cases


# The rows are the package's case table (jacobian_cnn.cases.BENCHMARK_CASES): float32, no bias.
LAYER_CASES = BENCHMARK_CASES


def build(case):
    """``(layer, x)``: the case's own input and parameters, the kernel scaled by 1/sqrt(fan-in), float32."""
    params = {name: (value / np.sqrt(np.prod(value.shape[:3]))).astype(F32)
              for name, value in case.params().items()}
    return case.layer(params), case.x()


def torch_fn(torch, case, layer, x, wrt):
    """``(f, at)`` for jacrev: the layer through the package's one torch translation
    (:func:`jacobian_cnn.compare.torch_layers.torch_layer`, the code the tests hold to
    ``layer.jacobian``), as a function of the input or of the kernel, in float32."""
    fn = torch_layer(layer, "maps", x.shape)[0]
    params = {name: torch.tensor(to_layout(value, BACKEND_LAYOUTS["torch"][name]))
              for name, value in layer.params.items()}
    xt = torch.tensor(to_layout(x, "NCHW"))
    if wrt == "input":
        return (lambda t: fn(t, params)), xt
    return (lambda k: fn(xt, {**params, wrt: k})), params[wrt]


CACHE_SIZED = LAYER_CASES[:3]
BIG_CASE = LAYER_CASES[3]


def measure_layer(case, torch, repeat, bandwidth):
    """One row per Jacobian of ``case``: sizes, build time, bound, jacrev."""
    layer, x = build(case)
    wrts = ("input", "kernel") if case.op == "conv" else ("input",)
    return [measure_jacobian(case, layer, x, wrt, torch, repeat, bandwidth) for wrt in wrts]


def measure_jacobian(case, layer, x, wrt, torch, repeat, bandwidth):
    # The max pool's Jacobian is built from the switches its forward pass records (as
    # Chain does); that forward pass is timed separately. The peak is that of a repeated
    # build (the first one also fills the per-geometry caches).
    cache, forward = None, None
    if case.op == "maxpool":
        cache = layer.forward_with_cache(x)[1]
        forward = median_ms(lambda: layer.forward_with_cache(x), repeat)
    build = median_ms(lambda: layer.jacobian(x, wrt=wrt, cache=cache), repeat)
    J, peak = peak_bytes(lambda: layer.jacobian(x, wrt=wrt, cache=cache))
    value_index = J.data.itemsize + J.indices.itemsize
    row = dict(case=case.id, kind=case.op, wrt=wrt, shape=J.shape, nnz=J.nnz,
               bytes=J.nnz * value_index, index=J.indices.dtype.name, total=csr_bytes(J),
               peak=peak, build=build, bound=J.nnz * value_index / bandwidth * 1e3,
               jacrev=None, jacrev_note="", forward=forward)
    need = jacrev_estimate(*J.shape)
    if need > JACREV_BUDGET:
        row["jacrev_note"] = f"infeasible ({need / 2**30:.0f} GiB)"
        return row
    from torch.func import jacrev

    fn, at = torch_fn(torch, case, layer, x, wrt)
    jac = jacrev(fn)
    J_torch = jac(at)
    check_against_torch(J, J_torch, layer, x, wrt, case.id)
    del J, J_torch  # that call was the warm-up
    row["jacrev"] = median_ms(lambda: jac(at), max(3, repeat // 4), warmup=False)
    return row


def measure_grid_layer(case, repeat, bandwidth, torch=None, *, paired_bound=False, column_major=False):
    """Rows of a large N-D or new layer (``GRID_BENCHMARK_CASES``, ``NEW_LAYER_BENCHMARK_CASES``):
    every Jacobian against the bound.

    Their dense Jacobians are far beyond ``torch.func.jacrev``; with ``torch`` given, a
    sample of rows is first checked against torch's vector-Jacobian products
    (:func:`check_rows_against_torch`). A max pool's Jacobian is built from the switches its
    forward pass records, as in :func:`measure_jacobian`. With ``paired_bound`` the bound is
    timed in the same rounds as the build; with ``column_major`` the input is laid out in
    memory in ``vec`` order (Fortran order), so that reading it as ``vec`` is no transpose."""
    layer, x = build(case)
    x = np.asfortranarray(x) if column_major else x
    wrts = ("input", "kernel") if "kernel" in layer.params else ("input",)
    cache, forward = None, None
    if case.op.startswith("maxpool"):
        cache = layer.forward_with_cache(x)[1]
        forward = median_ms(lambda: layer.forward_with_cache(x), repeat)
    rows = []
    for wrt in wrts:
        if torch is not None:
            check_rows_against_torch(torch, layer.jacobian(x, wrt=wrt, cache=cache), layer, x, wrt, case.id)
        J, peak = peak_bytes(lambda wrt=wrt: layer.jacobian(x, wrt=wrt, cache=cache))
        value_index = J.data.itemsize + J.indices.itemsize
        n_bytes = J.nnz * value_index
        del J
        # On a shared machine the bound is measured in the same rounds as the build: a fresh
        # array of the matrix's bytes written once (as fresh_write_bandwidth does).
        times = next_bar.paired_rounds({"build": lambda wrt=wrt: layer.jacobian(x, wrt=wrt, cache=cache),
                                        "write": lambda n=n_bytes: np.empty(n // 4, F32).fill(1.0)}, repeat)
        build_ms = times["build"]
        J = layer.jacobian(x, wrt=wrt, cache=cache)
        rows.append(dict(case=case.id, kind=case.op, wrt=wrt, shape=J.shape, nnz=J.nnz,
                         bytes=n_bytes, index=J.indices.dtype.name, total=csr_bytes(J),
                         peak=peak, build=build_ms[0], range=build_ms[1:],
                         bound=times["write"][0] if paired_bound else n_bytes / bandwidth * 1e3,
                         jacrev=None, jacrev_note="n/a (dense)", forward=forward if wrt == "input" else None))
        del J
    return rows


def check_rows_against_torch(torch, J, layer, x, wrt, name, n_rows=12):
    """A sample of ``J``'s rows equal torch's vector-Jacobian products with unit vectors.

    The layer runs through the package's one torch translation
    (:func:`~jacobian_cnn.compare.torch_layers.torch_layer`, held to ``layer.jacobian`` by the
    tests), in float64 (the translation's constants are float64); row ``r`` is the gradient of
    output entry ``r`` (column-major vec)."""
    kind = input_kind([layer], x)
    fn, out_kind, _ = torch_layer(layer, kind, x.shape)
    y_layout = BACKEND_LAYOUTS["torch"][kind if out_kind == "same" else out_kind]
    params = {n: torch.tensor(to_layout(v, param_layout(layer, n, "torch")), dtype=torch.float64)
              for n, v in layer.params.items()}
    xt = torch.tensor(to_layout(x, BACKEND_LAYOUTS["torch"][kind]), dtype=torch.float64)
    target = xt if wrt == "input" else params[wrt]
    target.requires_grad_(True)
    y = fn(xt, params)
    y_shape = np.shape(layer.forward(x))
    rows = np.random.default_rng(0).choice(J.shape[0], size=min(n_rows, J.shape[0]), replace=False)
    for r in np.sort(rows):
        unit = np.zeros(J.shape[0])
        unit[r] = 1
        cot = torch.tensor(to_layout(unit.reshape(y_shape, order="F"), y_layout))
        (grad,) = torch.autograd.grad(y, target, cot, retain_graph=True)
        layout = BACKEND_LAYOUTS["torch"][kind] if wrt == "input" else param_layout(layer, wrt, "torch")
        theirs = from_layout(grad.numpy(), layout).ravel(order="F")
        np.testing.assert_allclose(J[[r]].toarray()[0], theirs, rtol=1e-4, atol=1e-5,
                                   err_msg=f"{name} {wrt}, row {r}: ours and torch differ")


def grid_target_lines(grid, what="N-D"):
    """The N-D and new layers' target: each Jacobian over 50 MB within 2x of the fresh-memory bound."""
    return [f"  {verdict(r['build'] / r['bound'] <= 2)}  {what} Jacobian over 50 MB within 2x of the "
            f"fresh-memory bound: {r['case']} ({r['wrt']}, {r['bytes'] / MB:.0f} MB): "
            f"{r['build'] / r['bound']:.2f}x" for r in grid if r["bytes"] > 50 * MB]


def check_against_torch(J, J_torch, layer, x, wrt, name):
    """The benchmark times what the tests check: equal Jacobians (on a sample of rows)."""
    out_shape = tuple(J_torch.shape[2:4]) + (J_torch.shape[1],)  # ours (Ho, Wo, C)
    if wrt == "input":
        in_shape, in_axes = x.shape, (1, 2, 0)
    else:
        in_shape, in_axes = layer.kernel.shape, (2, 3, 1, 0)
    rows = np.random.default_rng(0).choice(J.shape[0], size=min(256, J.shape[0]), replace=False)
    theirs = J_torch.reshape(J.shape).numpy()[torch_flat_index(rows, out_shape, (1, 2, 0))]
    theirs = theirs[:, torch_flat_index(np.arange(J.shape[1]), in_shape, in_axes)]
    np.testing.assert_allclose(J[rows].toarray(), theirs, rtol=1e-5, atol=1e-6,
                               err_msg=f"{name} {wrt}: ours and torch differ")


# ---------------------------------------------------------------- LeNet-5


def lenet5(rng):
    """Classic LeNet-5 on a 32x32 input (LeCun et al. 1998: no padding, tanh, average pooling).

    conv 5x5 1->6 (28x28) -> tanh -> avg 2 -> conv 5x5 6->16 (10x10) -> tanh -> avg 2
    -> flatten (400) -> dense 120 -> tanh -> dense 84 -> tanh -> dense 10.
    Returns ``(chain, torch_params)`` with the same parameters.
    """
    def uniform(shape, fan_in):
        return (rng.uniform(-1, 1, size=shape) / np.sqrt(fan_in)).astype(F32)
    k1, b1 = uniform((5, 5, 1, 6), 25), uniform(6, 25)
    k2, b2 = uniform((5, 5, 6, 16), 150), uniform(16, 150)
    w1, c1 = uniform((400, 120), 400), uniform(120, 400)
    w2, c2 = uniform((120, 84), 120), uniform(84, 120)
    w3, c3 = uniform((84, 10), 84), uniform(10, 84)
    net = jc.Chain([
        jc.Conv2D(k1, b1), jc.Tanh(), jc.AvgPool2D(2),
        jc.Conv2D(k2, b2), jc.Tanh(), jc.AvgPool2D(2), jc.Flatten(),
        jc.Dense(w1, c1), jc.Tanh(), jc.Dense(w2, c2), jc.Tanh(), jc.Dense(w3, c3),
    ])
    params = [k1.transpose(3, 2, 0, 1), b1, k2.transpose(3, 2, 0, 1), b2, w1.T, c1, w2.T, c2, w3.T, c3]
    return net, [np.ascontiguousarray(p) for p in params]


def torch_lenet5(torch, t, p):
    """LeNet-5 in torch, written out call by call (``measure_lenet`` checks it against ours).

    The same torch calls as :func:`jacobian_cnn.compare.torch_layers.torch_layer` makes of
    the chain's layers, kept by hand because that translation's per-layer closures and
    keyword arguments add about 10 microseconds to torch's 0.3 ms forward pass, which the
    one-sample gradient target compares with.
    """
    F = torch.nn.functional
    t = F.avg_pool2d(torch.tanh(F.conv2d(t, p[0], p[1])), 2)
    t = F.avg_pool2d(torch.tanh(F.conv2d(t, p[2], p[3])), 2)
    t = t.permute(0, 1, 3, 2).reshape(t.shape[0], -1)  # column-major vec of (H, W, C), as ours
    t = torch.tanh(F.linear(t, p[4], p[5]))
    t = torch.tanh(F.linear(t, p[6], p[7]))
    return F.linear(t, p[8], p[9])


def measure_lenet(torch, repeat, rng):
    from torch.func import jacrev

    net, params = lenet5(rng)
    x = rng.normal(size=(32, 32)).astype(F32)
    label = 3
    p_t = [torch.tensor(p) for p in params]
    x_t = torch.tensor(x)[None, None]

    jac = jacrev(lambda t: torch_lenet5(torch, t, p_t))
    J, J_t = net.jacobian(x), jac(x_t)
    columns = torch_flat_index(np.arange(1024), (32, 32), (0, 1))
    J_t = J_t.reshape(10, 1024).numpy()[:, columns]
    np.testing.assert_allclose(J.toarray(), J_t, rtol=1e-4, atol=1e-6,
                               err_msg="LeNet-5 Jacobian: ours and torch differ")

    with_loss = jc.Chain([*net.layers, jc.SoftmaxCrossEntropy(label)])
    torch_gradient = next_bar.torch_gradient_fn(torch, torch_lenet5, x_t, p_t, [label])

    ours = with_loss.backward(x)
    theirs = torch_gradient()
    np.testing.assert_allclose(ours.input[0], jc.vec(theirs[0][0, 0].numpy()), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(jc.as_parameter_shape(ours.params[0]["kernel"][0], (5, 5, 1, 6)),
                               theirs[1][0].numpy().transpose(2, 3, 1, 0), rtol=1e-4, atol=1e-6)

    return dict(
        **paired_median_ms(dict(jacobian=lambda: net.jacobian(x), jacrev=lambda: jac(x_t)), repeat),
        **paired_median_ms(dict(backward=lambda: with_loss.backward(x), torch_backward=torch_gradient),
                           repeat),
        **paired_median_ms(dict(forward=lambda: with_loss.forward(x),
                                torch_forward=lambda: torch_lenet5(torch, x_t, p_t)), repeat),
        shape=J.shape, nnz=J.nnz,
        products=sum(1 for _ in ours.trace),
    )


# ---------------------------------------------------------------- scaling


SCALING = [  # (H, C): a 3x3 conv, padding 1, C -> C channels, on an H x H x C input
    (16, 16), (32, 16), (64, 16), (128, 16),
    (32, 4), (32, 8), (32, 32), (32, 64),
]


def measure_scaling(repeat, bandwidth, rng):
    rows = []
    for h, c in SCALING:
        conv = jc.Conv2D(rng.normal(size=(3, 3, c, c)).astype(F32), padding=1)
        x = rng.normal(size=(h, h, c)).astype(F32)
        J = conv.jacobian(x)
        nnz, value_index = J.nnz, J.data.itemsize + J.indices.itemsize
        del J
        build = median_ms(lambda conv=conv, x=x: conv.jacobian(x), repeat)
        rows.append(dict(h=h, c=c, nnz=nnz, bytes=nnz * value_index, build=build,
                         bound=nnz * value_index / bandwidth * 1e3))
    return rows


# ---------------------------------------------------------------- report


def verdict(ok):
    return "PASS" if ok else "MISS"


def fmt_ms(ms):
    return f"{ms:.3f}" if ms < 10 else f"{ms:.2f}" if ms < 100 else f"{ms:.1f}"


def layer_table(layers):
    head = (f"{'layer':<40} {'wrt':<6} {'nnz':>10} {'MB':>6} {'idx':>5} {'build ms':>9} "
            f"{'bound ms':>9} {'ratio':>6} {'Mnnz/s':>6} {'peak':>5} {'jacrev ms':>10} {'x faster':>8}")
    lines = [head, "-" * len(head)]
    for r in layers:
        if r["jacrev"] is None:
            jacrev, speedup = r["jacrev_note"].replace("infeasible ", "n/a "), "-"
        else:
            jacrev, speedup = fmt_ms(r["jacrev"]), f"{r['jacrev'] / r['build']:.0f}"
        lines.append(
            f"{r['case']:<40} {r['wrt']:<6} {r['nnz']:>10,} {r['bytes'] / MB:6.1f} "
            f"{r['index'].replace('int', 'i'):>5} {fmt_ms(r['build']):>9} {fmt_ms(r['bound']):>9} "
            f"{r['build'] / r['bound']:6.2f} {r['nnz'] / r['build'] / 1e3:6.0f} "
            f"{r['peak'] / r['total']:5.2f} {jacrev:>10} {speedup:>8}"
            + ("" if "range" not in r else f"  [{fmt_ms(r['range'][0])}-{fmt_ms(r['range'][1])}]"))
    for r in layers:
        if r["forward"] is not None:
            lines.append(f"({r['case']}: built from the switches its forward pass records; "
                         f"that forward pass takes {fmt_ms(r['forward'])} ms)")
    return lines


def lenet_lines(lenet):
    ratio_j = lenet["jacobian"] / lenet["jacrev"]
    ratio_g = lenet["backward"] / lenet["torch_backward"]
    return [
        "LeNet-5, 32x32 input (classic: no padding, tanh, average pooling), float32",
        f"  full {lenet['shape'][0]}x{lenet['shape'][1]} Jacobian    ours Chain.jacobian "
        f"{fmt_ms(lenet['jacobian']):>7} ms   torch.func.jacrev {fmt_ms(lenet['jacrev']):>7} ms"
        f"   ours/torch {ratio_j:.2f}",
        f"  one-sample gradient      ours Chain.backward {fmt_ms(lenet['backward']):>7} ms   "
        f"torch fwd+backward {fmt_ms(lenet['torch_backward']):>7} ms   ours/torch {ratio_g:.2f}",
        f"    (softmax cross-entropy wrt the input and all 10 parameters; ours = forward + "
        f"{lenet['products']} explicit Jacobian builds and products)",
        f"  forward pass alone       ours {fmt_ms(lenet['forward']):>7} ms   "
        f"torch {fmt_ms(lenet['torch_forward']):>7} ms",
    ]


def scaling_lines(scaling):
    lines = ["scaling: conv 3x3, padding 1, C -> C on an H x H x C input, Jacobian wrt the input",
             f"{'H':>5} {'C':>4} {'nnz':>12} {'MB':>8} {'build ms':>9} {'ns/nnz':>7} {'ratio':>6}"]
    for r in scaling:
        lines.append(f"{r['h']:>5} {r['c']:>4} {r['nnz']:>12,} {r['bytes'] / MB:8.1f} "
                     f"{fmt_ms(r['build']):>9} {r['build'] * 1e6 / r['nnz']:7.2f} "
                     f"{r['build'] / r['bound']:6.2f}")
    return lines


def target_lines(layers, lenet, scaling):
    lines = ["targets"]
    conv = [r for r in layers if r["kind"] == "conv"]
    big = [(f"{r['case']} ({r['wrt']})", r) for r in conv if r["bytes"] > 50 * MB]
    big += [(f"scaling H={r['h']} C={r['c']}", r) for r in scaling if r["bytes"] > 50 * MB]
    for name, r in big:
        ratio = r["build"] / r["bound"]
        lines.append(f"  {verdict(ratio <= 1.5)}  conv Jacobian over 50 MB within 1.5x of the fresh-memory "
                     f"bound: {name}, {r['bytes'] / MB:.0f} MB: {ratio:.2f}x")
    small_names = {c.id for c in CACHE_SIZED}
    for r in (r for r in conv if r["case"] in small_names):
        rate = r["nnz"] / r["build"] / 1e3
        lines.append(f"  {verdict(rate >= 300)}  cache-sized conv Jacobian at >= 300 M nnz/s: "
                     f"{r['case']} ({r['wrt']}, {r['bytes'] / MB:.1f} MB): {rate:.0f} M nnz/s")
    r = next((r for r in conv if r["case"] == LAYER_CASES[1].id and r["wrt"] == "input"), None)
    if r is not None and r["jacrev"] is not None:
        speedup = r["jacrev"] / r["build"]
        lines.append(f"  {verdict(speedup >= 1000)}  >= 1000x faster than torch.func.jacrev: "
                     f"{r['case']} (input): {speedup:.0f}x")
    if lenet:
        ratio = lenet["jacobian"] / lenet["jacrev"]
        lines.append(f"  {verdict(ratio <= 1)}  LeNet-5 full Jacobian in no more time than jacrev: "
                     f"{fmt_ms(lenet['jacobian'])} vs {fmt_ms(lenet['jacrev'])} ms ({ratio:.2f}x)")
        ratio = lenet["backward"] / lenet["torch_backward"]
        lines.append(f"  {verdict(ratio <= 2)}  one-sample gradient within 2x of torch's backward: "
                     f"{fmt_ms(lenet['backward'])} vs {fmt_ms(lenet['torch_backward'])} ms ({ratio:.2f}x)")
    for r in (r for r in conv if r["case"] == BIG_CASE.id):
        lines.append(f"  {verdict(r['build'] <= 60)}  {r['case']} ({r['wrt']}, {r['nnz'] / 1e6:.1f} M nnz) "
                     f"in <= 60 ms: {fmt_ms(r['build'])} ms")
    if not layers:
        return lines
    worst = max(layers, key=lambda r: r["peak"] / r["total"])
    idx32 = all(r["index"] == "int32" for r in layers)
    ok = idx32 and worst["peak"] / worst["total"] <= 2
    where = "in every matrix" if idx32 else "NOT everywhere"
    lines.append(f"  {verdict(ok)}  memory: 32-bit indices {where}; peak allocation while building "
                 f"<= {worst['peak'] / worst['total']:.2f}x the finished matrix "
                 f"(worst: {worst['case']}, {worst['wrt']})")
    return lines


def print_report(info, bandwidth, layers, lenet, scaling, grid=(), new=()):
    layer_part = [] if not layers else [
        f"fresh-memory write bandwidth (numpy, new 256 MiB array, median): {bandwidth / 1e9:.2f} GB/s",
        "bound = nnz x (value + index bytes) / that bandwidth: writing the matrix once into fresh memory",
        "ratio = build / bound; peak = largest traced allocation during a build / the finished matrix",
        "",
        *layer_table(layers),
        "",
    ]
    grid_part = [] if not grid else ["1-D / 3-D / transposed layers (ops/window_nd.py)",
                                     *layer_table(grid), ""]
    new_part = [] if not new else ["issue 14's new layers: build median [min-max] ms; rows checked "
                                   "against torch's vector-Jacobian products before timing; input in "
                                   "column-major memory order; bound = writing the matrix's bytes "
                                   "into a fresh array, timed in the same rounds as the build",
                                   *layer_table(new), ""]
    lines = [
        f"jacobian_cnn benchmark: {info}",
        "",
        *layer_part,
        *grid_part,
        *new_part,
        *(lenet_lines(lenet) + [""] if lenet else []),
        *(scaling_lines(scaling) + [""] if scaling else []),
        *target_lines(layers, lenet, scaling),
        *grid_target_lines(grid),
        *grid_target_lines(new, "new-layer"),
    ]
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no scaling table")
    parser.add_argument("--lenet", action="store_true",
                        help="only the LeNet-5 chain (Jacobian and gradient) and its two targets")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per measurement")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch.set_num_threads (default: torch's own default)")
    parser.add_argument("--next-bar", action="store_true",
                        help="only issue 16's rows (gradients, batches, parameter Jacobian, sparsejac)")
    parser.add_argument("--no-peer", action="store_true", help="leave out the sparsejac column")
    parser.add_argument("--new-layers", action="store_true",
                        help="only issue 14's new layers (normalization, resampling, padding, 1-D/3-D, "
                             "transposed) against the fresh-memory bound")
    parser.add_argument("--only", default="",
                        help="with --new-layers: only rows whose name has one of these (comma-separated)")
    args = parser.parse_args(argv)
    repeat = args.repeat or (5 if args.quick else 15)
    lenet_repeat = max(2 * repeat, 41)

    import scipy
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    info = (f"{os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}, "
            f"scipy {scipy.__version__}, torch {torch.__version__} with {torch.get_num_threads()} "
            f"threads; medians of {repeat} runs, {lenet_repeat} for LeNet-5")
    rng = np.random.default_rng(0)
    bandwidth = None if args.lenet else fresh_write_bandwidth(repeat)
    warm_allocator()
    if args.new_layers:
        new = []
        for case in (c for c in NEW_LAYER_BENCHMARK_CASES if any(o in c.id for o in args.only.split(","))):
            print(f"... {case.id}", file=sys.stderr, flush=True)
            new += measure_grid_layer(case, repeat, bandwidth, torch, paired_bound=True,
                                      column_major=True)
            gc.collect()
        print_report(info.replace(", {lenet_repeat} for LeNet-5", ""), bandwidth, [], None, [], new=new)
        return
    layers = []
    for case in [] if args.lenet or args.next_bar else LAYER_CASES:
        print(f"... {case.id}", file=sys.stderr, flush=True)
        layers += measure_layer(case, torch, repeat, bandwidth)
    grid = []
    for case in [] if args.lenet or args.next_bar else GRID_BENCHMARK_CASES:
        print(f"... {case.id}", file=sys.stderr, flush=True)
        grid += measure_grid_layer(case, repeat, bandwidth)
    lenet, scaling, bar = None, [], None
    if not args.next_bar:
        print("... LeNet-5", file=sys.stderr, flush=True)
        lenet = measure_lenet(torch, lenet_repeat, rng)
    if not (args.quick or args.lenet or args.next_bar):
        print("... scaling", file=sys.stderr, flush=True)
        scaling = measure_scaling(max(5, repeat * 2 // 3), bandwidth, rng)
    if not args.lenet:
        bar = measure_next_bar(torch, args, repeat, lenet_repeat, bandwidth, layers, rng)
    print_report(info, bandwidth, layers, lenet, scaling, grid)
    if bar is not None:
        print("\n" + "\n".join(next_bar.report(bar, fmt_ms, verdict)))


def measure_next_bar(torch, args, repeat, lenet_repeat, bandwidth, layers, rng):
    """Issue 16's rows (:mod:`next_bar`): every torch comparison single-threaded and with all threads."""
    threads = sorted({1, os.cpu_count() or 1})
    lenet = lenet5(np.random.default_rng(0))
    print("... issue 16: gradients", file=sys.stderr, flush=True)
    result = dict(load=open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg")
                  else "unknown", layers=layers)
    result["gradients"] = next_bar.measure_gradients(torch, lenet, torch_lenet5, lenet_repeat, rng, threads)
    print("... issue 16: parameter Jacobian", file=sys.stderr, flush=True)
    result["params"], result["params_shape"] = next_bar.measure_params_jacobian(
        torch, lenet, torch_lenet5, lenet_repeat, rng, threads, torch_flat_index)
    print("... issue 16: batch Jacobians", file=sys.stderr, flush=True)
    result["batch"] = next_bar.measure_batch_jacobians(
        [LAYER_CASES[0], LAYER_CASES[4], LAYER_CASES[6]], build, repeat, bandwidth, peak_bytes)
    result["peer"], result["no_peer"] = None, args.no_peer
    if not args.no_peer and next_bar.sparsejac_available():
        big = None if args.quick else (jc.Conv2D(rng.normal(size=(3, 3, 16, 16)).astype(F32), padding=1),
                                       rng.normal(size=(64, 64, 16)).astype(F32))
        cases = [c for c in LAYER_CASES if not (args.quick and c is BIG_CASE)]
        result["peer"] = next_bar.measure_peer(cases, build, repeat, big)
    result["show"] = None if args.quick else next_bar.measure_show()
    return result

if __name__ == "__main__":
    main()
