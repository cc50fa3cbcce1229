"""Random window geometries whose axes may be 0 or 1, against PyTorch; and the raw-view guard.

Hypothesis draws convolutions and poolings where every axis can be 0 or 1 (batch N in
{0, 1, 2}, channels, height, width, kernel, stride, padding, dilation) and runs the
same configuration through PyTorch and through this package:

* PyTorch accepts it: the forward results are equal exactly (in our ``(H, W, C, N)``
  layout; integer-valued inputs make every sum exact), and for N > 0 every Jacobian
  equals ``torch.func.jacrev``'s (``tests/torch_reference.py``); for N = 0 each
  Jacobian is empty with the shape ``(0, wrt.size)``.
* PyTorch refuses it: this package refuses it too, with an ``InvalidValueError`` or
  ``InvalidTypeError`` (never another exception, never a crash).

An empty batch is judged by what PyTorch does with one sample: with N = 0 PyTorch
skips some of its checks (it convolves with dilation 0, or a map of height 0 with
padding, and refuses both with one sample), while this package checks its arguments
whatever the batch. Two documented exceptions, where this package refuses what
PyTorch accepts: a kernel without input channels (PyTorch returns 0 output channels,
JAX ``C_out`` channels of bias), and with ``ceil_mode`` a pooling window larger than
the padded input (a parity gap of the geometry, outside the zero-size paths).

The comparisons run in this process. Nothing here can corrupt memory: every raw view
of the package goes through ``_tiles.view``, which checks its bounds (the tests below
hold it to an independent enumeration, and check that it is the only raw view), and
PyTorch's max pooling is never given a window that lies entirely in the padding (it
reads out of bounds there; this package refuses such a window).
"""

import re
from pathlib import Path

import numpy as np
import pytest
from optional import require

hypothesis = require("hypothesis")
torch = require("torch", "torch not installed (pip install torch==2.13.0)")

import torch.nn.functional as F  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import jacobian_cnn as jc  # noqa: E402
from jacobian_cnn._sparse import tiles as _tiles  # noqa: E402
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError  # noqa: E402

SETTINGS = dict(deadline=None, derandomize=True, database=None, print_blob=True)
REFUSALS = (InvalidValueError, InvalidTypeError)
PACKAGE = Path(jc.__file__).parent


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One intra-op thread: on a busy machine torch's pool makes each tiny call take ~50 ms."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _pair(draw, low, high):
    return (draw(st.integers(low, high)), draw(st.integers(low, high)))


def _torch(call):
    """``(output, None)`` or ``(None, exception)`` of a PyTorch call."""
    try:
        return call(), None
    except Exception as exc:  # noqa: BLE001 - RuntimeError, ValueError, IndexError: all refusals
        return None, exc


def _torch_verdict(run, x):
    """PyTorch's output on ``x`` (ours ``(H, W, C, N)``), or its refusal.

    An empty batch is judged by one sample: PyTorch skips some checks when N = 0
    (it convolves with dilation 0, or a map of height 0 with padding, and refuses both
    with one sample), while this package checks its arguments whatever the batch.
    """
    y, error = _torch(lambda: run(_nchw(x)))
    if error is None and x.shape[3] == 0:
        error = _torch(lambda: run(_nchw(np.zeros(x.shape[:3] + (1,)))))[1]
    return y, error


def _ours(call):
    """``(result, None)``, or ``(None, exception)`` for one of this package's refusals."""
    try:
        return call(), None
    except REFUSALS as exc:
        return None, exc


def _nchw(x4):
    return torch.tensor(np.ascontiguousarray(x4.transpose(3, 2, 0, 1)))


def _assert_forward_equal(y, y_torch):
    np.testing.assert_array_equal(y, y_torch.numpy().transpose(2, 3, 1, 0), strict=True)


def _assert_empty(J, shape):
    assert J.shape == shape and J.nnz == 0 and not J.indptr.any(), (J.shape, J.nnz)


def _sizes(draw, axes, ranges):
    """One draw per axis from ``ranges``, except that at most one axis (chosen at random) is 0.

    Without the choice nearly every draw would hold some 0 and be refused: half the
    draws have no zero axis, the others exactly one.
    """
    zero = draw(st.sampled_from((None,) * len(axes) + axes))
    return {a: 0 if a == zero else draw(st.integers(*ranges.get(a, (1, 2)))) for a in axes}


@st.composite
def conv_configs(draw):
    """A convolution with every axis in small ranges that include 0 and 1; N in {0, 1, 2}."""
    s = _sizes(draw, ("C_in", "C_out", "H", "W", "kh", "kw", "sh", "sw", "dh", "dw"),
               {"H": (1, 5), "W": (1, 5), "kh": (1, 3), "kw": (1, 3), "sh": (1, 3), "sw": (1, 3)})
    groups = draw(st.sampled_from([1, 2]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    n = draw(st.sampled_from([0, 1, 2]))
    x = rng.integers(-3, 4, size=(s["H"], s["W"], s["C_in"] * groups, n)).astype(np.float64)
    kernel = rng.integers(-3, 4, size=(s["kh"], s["kw"], s["C_in"], s["C_out"] * groups))
    bias = rng.integers(-3, 4, size=s["C_out"] * groups).astype(np.float64)
    options = dict(stride=(s["sh"], s["sw"]), padding=_pair(draw, 0, 2),
                   dilation=(s["dh"], s["dw"]), groups=groups)
    return x, kernel.astype(np.float64), bias, options


@settings(max_examples=150, **SETTINGS)
@given(config=conv_configs())
def test_conv_with_empty_and_unit_axes_matches_torch(config, torch_ref):
    x, kernel, bias, o = config
    weight, b = torch.tensor(kernel.transpose(3, 2, 0, 1).copy()), torch.tensor(bias)
    y_torch, torch_error = _torch_verdict(lambda t: F.conv2d(t, weight, b, **o), x)
    conv, error = _ours(lambda: jc.Conv2D(kernel, bias, **o))
    y, error = (None, error) if error else _ours(lambda: conv.forward(x))
    if torch_error is not None or kernel.shape[2] == 0:
        assert error is not None, f"PyTorch: {torch_error}; ours gave shape {np.shape(y)}"
        return
    assert error is None, f"PyTorch accepts it (shape {tuple(y_torch.shape)}); ours: {error}"
    _assert_forward_equal(y, y_torch)
    wrts = {"input": x.size, "kernel": kernel.size, "bias": bias.size}
    if x.shape[3] == 0:
        for wrt, size in wrts.items():
            _assert_empty(conv.jacobian(x, wrt=wrt), (0, size))
        return
    padding = tuple((p, p) for p in o["padding"])
    expected = torch_ref.conv2d_jacobians(x, kernel, bias, o["stride"], padding, o["dilation"],
                                          o["groups"])
    for wrt in wrts:
        np.testing.assert_array_equal(conv.jacobian(x, wrt=wrt).toarray(), expected[wrt],
                                      err_msg=wrt, strict=True)


@st.composite
def pool_configs(draw):
    """A pooling whose axes include 0 and 1, with PyTorch's padding rule (at most half the window)."""
    kind = draw(st.sampled_from(["avg", "max"]))
    s = _sizes(draw, ("C", "H", "W", "kh", "kw", "sh", "sw") + (("dh", "dw") if kind == "max" else ()),
               {"H": (1, 5), "W": (1, 5), "kh": (1, 3), "kw": (1, 3), "sh": (1, 3), "sw": (1, 3)})
    window = (s["kh"], s["kw"])
    options = dict(stride=(s["sh"], s["sw"]), ceil_mode=draw(st.booleans()),
                   padding=tuple(draw(st.integers(0, k // 2)) for k in window))
    if kind == "avg":
        options["count_include_pad"] = draw(st.booleans())
    else:
        options["dilation"] = (s.get("dh", 1), s.get("dw", 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    shape = (s["H"], s["W"], s["C"], draw(st.sampled_from([0, 1, 2])))
    return kind, window, options, rng.integers(-3, 4, size=shape).astype(np.float64)


def _max_pool_reads_out_of_bounds(window, o, shape):
    """Whether some window of a (valid) max pooling lies entirely in the padding.

    PyTorch 2.13 reads outside its input there (and can crash); this package refuses.
    """
    try:
        geo = jc.WindowGeometry.from_args(shape[:2], window, stride=o["stride"], padding=o["padding"],
                                          dilation=o["dilation"], ceil_mode=o["ceil_mode"])
    except REFUSALS:
        return False
    return bool(geo.valid_counts.min() == 0)


def _ceil_window_past_padded_input(window, o, shape):
    """Whether ``ceil_mode`` is on and a window spans more than the padded input.

    PyTorch then still gives one output per axis where its rounding allows (a window of
    2 over 1 entry with stride 2); this package refuses every window larger than the
    padded input (a parity gap outside the zero-size paths, left to the geometry).
    """
    spans = [d * (k - 1) + 1 for d, k in zip(o.get("dilation", (1, 1)), window, strict=True)]
    return o["ceil_mode"] and any(span > n + 2 * p for span, n, p in zip(spans, shape, o["padding"],
                                                                          strict=False))


@settings(max_examples=150, **SETTINGS)
@given(config=pool_configs())
def test_pooling_with_empty_and_unit_axes_matches_torch(config, torch_ref):
    kind, window, o, x = config
    if kind == "avg":
        pool, error = _ours(lambda: jc.AvgPool2D(window, **o))
        y_torch, torch_error = _torch_verdict(lambda t: F.avg_pool2d(t, window, **o), x)
    else:
        pool, error = _ours(lambda: jc.MaxPool2D(window, tie="row_major", **o))
        if error is None and _max_pool_reads_out_of_bounds(window, o, x.shape):
            assert _ours(lambda: pool.forward(x))[1] is not None
            return  # never handed to PyTorch
        y_torch, torch_error = _torch_verdict(lambda t: F.max_pool2d(t, window, **o), x)
    y, error = (None, error) if error else _ours(lambda: pool.forward(x))
    if torch_error is not None or _ceil_window_past_padded_input(window, o, x.shape):
        assert error is not None, f"PyTorch: {torch_error}; ours gave shape {np.shape(y)}"
        return
    assert error is None, f"PyTorch accepts it (shape {tuple(y_torch.shape)}); ours: {error}"
    _assert_forward_equal(y, y_torch)
    J = pool.jacobian(x)
    if x.shape[3] == 0:
        _assert_empty(J, (0, 0))
        if kind == "max":
            assert pool.switches(x).shape == y.shape
        return
    padding = tuple((p, p) for p in o["padding"])
    if kind == "avg":
        expected = torch_ref.avgpool2d_jacobian(x, window, o["stride"], padding,
                                                o["count_include_pad"], o["ceil_mode"])
    else:
        expected = torch_ref.maxpool2d_jacobian(x, window, o["stride"], padding, o["dilation"],
                                                ceil_mode=o["ceil_mode"])
        switches = torch_ref.maxpool2d_switches(x, window, o["stride"], padding, o["dilation"],
                                                ceil_mode=o["ceil_mode"])
        np.testing.assert_array_equal(pool.switches(x), switches)
    np.testing.assert_array_equal(J.toarray(), expected, strict=True)


@st.composite
def views(draw):
    """A buffer size, an offset and up to 3 axes of sizes 0..3 and strides -4..4, in entries."""
    ndim = draw(st.integers(0, 3))
    shape = tuple(draw(st.integers(0, 3)) for _ in range(ndim))
    strides = tuple(draw(st.integers(-4, 4)) for _ in range(ndim))
    return draw(st.integers(0, 12)), draw(st.integers(-2, 14)), shape, strides


@settings(max_examples=400, **SETTINGS)
@given(case=views())
def test_raw_views_are_made_only_inside_their_buffer(case):
    size, offset, shape, strides = case
    # Every entry the view would reach, enumerated independently of _tiles.view.
    reached = [offset + sum(i * s for i, s in zip(index, strides, strict=True))
               for index in np.ndindex(*shape)]
    fits = all(0 <= e < size for e in reached) and (bool(reached) or 0 <= offset <= size)
    buffer = np.arange(float(size))
    if not fits:
        with pytest.raises(_tiles.ViewOutOfBounds, match="reaches"):
            _tiles.view(buffer, offset, shape, strides)
        return
    v = _tiles.view(buffer, offset, shape, strides)
    assert v.shape == shape and np.shares_memory(v, buffer) == bool(reached)
    np.testing.assert_array_equal(v.ravel(), np.array(reached, dtype=float))


def test_every_raw_view_of_the_package_is_the_checked_one():
    """``np.ndarray(..., buffer)``, ``as_strided`` and ``frombuffer`` appear only in ``_tiles.view``."""
    raw = re.compile(r"np\.ndarray\(|as_strided|buffer=|frombuffer")
    hits = [(path.relative_to(PACKAGE).as_posix(), number)
            for path in sorted(PACKAGE.rglob("*.py"))
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if raw.search(line) and not line.lstrip().startswith("#")]
    source = (PACKAGE / "_sparse" / "tiles.py").read_text().splitlines()
    assert [(p, source[n - 1].strip()) for p, n in hits] == [
        ("_sparse/tiles.py",
         "return np.ndarray(shape, a.dtype, a, offset * size, tuple(s * size for s in strides))")
    ], hits


def test_views_over_a_zero_byte_buffer_are_refused():
    """numpy's own check assumes a 0-byte buffer is large enough: ours does not."""
    with pytest.raises(_tiles.ViewOutOfBounds, match="reaches entries 0..5 of a buffer of 0 entries"):
        _tiles.view(np.empty(0), 0, (2, 3), (3, 1))
    assert _tiles.view(np.empty(0), 0, (0, 3), (3, 1)).shape == (0, 3)
    with pytest.raises(_tiles.ViewOutOfBounds, match="reaches no entry of a buffer of 0"):
        _tiles.view(np.empty(0), 1, (0, 3), (3, 1))


def test_a_kernel_without_input_channels_divides_torch_and_jax(jax_module):
    """The row of docs/conventions.md: PyTorch gives 0 output channels, JAX C_out; we refuse."""
    x, kernel = np.zeros((4, 4, 0, 2)), np.zeros((2, 2, 0, 3))
    y_torch = F.conv2d(_nchw(x), torch.tensor(kernel.transpose(3, 2, 0, 1).copy()))
    assert tuple(y_torch.shape) == (2, 0, 3, 3)
    y_jax = jax_module.lax.conv_general_dilated(
        jax_module.numpy.asarray(x.transpose(3, 2, 0, 1)),
        jax_module.numpy.asarray(kernel.transpose(3, 2, 0, 1)), (1, 1), "VALID")
    assert y_jax.shape == (2, 3, 3, 3)
    with pytest.raises(InvalidValueError, match=r"C_in / groups \(input channels\) = 0"):
        jc.Conv2D(kernel)
    # An empty batch is accepted by all three: (0, 3, 3, 3) in NCHW, (3, 3, 3, 0) here.
    x0, kernel0 = np.zeros((4, 4, 1, 0)), np.ones((2, 2, 1, 3))
    w0 = kernel0.transpose(3, 2, 0, 1).copy()
    assert tuple(F.conv2d(_nchw(x0), torch.tensor(w0)).shape) == (0, 3, 3, 3)
    assert jax_module.lax.conv_general_dilated(
        jax_module.numpy.asarray(x0.transpose(3, 2, 0, 1)), jax_module.numpy.asarray(w0), (1, 1),
        "VALID").shape == (0, 3, 3, 3)
    assert jc.Conv2D(kernel0).forward(x0).shape == (3, 3, 3, 0)
