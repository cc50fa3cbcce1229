"""Property-based parity: random geometries, every Jacobian compared with torch (and a few with JAX).

Hypothesis draws tiny configurations (sizes, channels, groups, kernel, stride, padding
incl. "same"/"valid" and the copying modes, dilation, ceil mode, the average-pool
divisor options, batch) and compares the input, kernel and bias Jacobians with
``torch.func.jacrev`` through ``tests/torch_reference.py``. Runs are derandomized
(the same examples every time) and have no deadline. Locally a missing hypothesis,
torch or JAX skips; in CI (env var CI set) it fails.
"""


import numpy as np
from optional import require

hypothesis = require("hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import jacobian_cnn as jc  # noqa: E402
from jacobian_cnn.compare import autograd  # noqa: E402
from jacobian_cnn.ops.geometry import PADDING_MODES  # noqa: E402

EXAMPLES = {"conv": 500, "avg": 400, "max": 400, "jax": 12}  # about 30 s in all here
"""max_examples per property: 3500 configurations against torch, a handful against JAX."""

SETTINGS = dict(deadline=None, derandomize=True, database=None, print_blob=True)



def _pair(draw, low, high):
    return (draw(st.integers(low, high)), draw(st.integers(low, high)))


@st.composite
def conv_configs(draw):
    """(x, kernel, bias, options) of a small convolution that PyTorch accepts."""
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    (kh, kw), (h, w) = _pair(draw, 1, 3), _pair(draw, 1, 6)
    dilation = _pair(draw, 1, 2)
    mode = draw(st.sampled_from(PADDING_MODES))
    limit = {"zeros": (2, 2), "replicate": (2, 2), "reflect": (min(2, h - 1), min(2, w - 1)),
             "circular": (min(2, h), min(2, w))}[mode]
    kind = draw(st.sampled_from(["same", "valid", "pairs"]))
    stride = (1, 1) if kind == "same" else _pair(draw, 1, 3)
    if kind == "same":
        padding = "same"
        total = [d * (k - 1) for d, k in zip(dilation, (kh, kw), strict=True)]
        hypothesis.assume(all(t - t // 2 <= m for t, m in zip(total, limit, strict=True)))
    elif kind == "valid":
        padding = "valid"
    else:
        padding = tuple((draw(st.integers(0, m)), draw(st.integers(0, m))) for m in limit)
    resolved = jc.Conv2D(np.ones((kh, kw, 1, 1)), padding=padding, dilation=dilation).padding
    for size, k, d, (lo, hi) in zip((h, w), (kh, kw), dilation, resolved, strict=True):
        hypothesis.assume(d * (k - 1) + 1 <= size + lo + hi)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    n = draw(st.integers(1, 2))
    x = rng.normal(size=(h, w, c_in, n))
    kernel = rng.normal(size=(kh, kw, c_in // groups, c_out))
    bias = rng.normal(size=c_out) if draw(st.booleans()) else None
    options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=mode)
    return x, kernel, bias, options


@st.composite
def pool_geometry(draw, dilation):
    """(x shape, window, stride, padding, dilation, ceil_mode) with torch's own padding (<= k/2)."""
    window = _pair(draw, 1, 3)
    stride = _pair(draw, 1, 3)
    dil = _pair(draw, 1, 2) if dilation else (1, 1)
    padding = tuple(draw(st.integers(0, k // 2)) for k in window)
    span = [d * (k - 1) + 1 for d, k in zip(dil, window, strict=True)]
    h = draw(st.integers(max(1, span[0] - 2 * padding[0]), 6))
    w = draw(st.integers(max(1, span[1] - 2 * padding[1]), 6))
    shape = (h, w, draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    ceil_mode = draw(st.booleans())
    # With dilation a window can skip the input and see only padding: no maximum exists (our
    # MaxPool2D refuses; torch 2.13 reads out of bounds and can crash). Draw valid ones only.
    geo = jc.WindowGeometry.from_args(shape[:2], window, stride=stride, padding=padding,
                                      dilation=dil, ceil_mode=ceil_mode)
    hypothesis.assume(geo.valid_counts.min() > 0)
    return shape, window, stride, padding, dil, ceil_mode


def _assert_same(J, expected, atol=1e-10):
    assert J.has_canonical_format
    report = jc.compare_jacobians(J, expected, atol=atol, rtol=1e-9)
    assert report.ok, str(report)


@settings(max_examples=EXAMPLES["conv"], **SETTINGS)
@given(config=conv_configs())
def test_conv_jacobians_match_torch(config, torch_ref):
    x, kernel, bias, o = config
    conv = jc.Conv2D(kernel, bias, **o)
    expected = torch_ref.conv2d_jacobians(x, kernel, bias, o["stride"], o["padding"], o["dilation"],
                                          o["groups"], o["padding_mode"])
    for wrt in conv.params.keys() | {"input"}:
        _assert_same(conv.jacobian(x, wrt=wrt), expected[wrt])


@settings(max_examples=EXAMPLES["avg"], **SETTINGS)
@given(geometry=pool_geometry(dilation=False), count_include_pad=st.booleans(),
       divisor_override=st.one_of(st.none(), st.integers(1, 5)), seed=st.integers(0, 2**16))
def test_avg_pool_jacobians_match_torch(geometry, count_include_pad, divisor_override, seed, torch_ref):
    shape, window, stride, padding, _, ceil_mode = geometry
    x = np.random.default_rng(seed).normal(size=shape)
    pool = jc.AvgPool2D(window, stride=stride, padding=padding, ceil_mode=ceil_mode,
                        count_include_pad=count_include_pad, divisor_override=divisor_override)
    expected = torch_ref.avgpool2d_jacobian(x, window, stride, padding, count_include_pad, ceil_mode,
                                            divisor_override)
    _assert_same(pool.jacobian(x), expected)


@settings(max_examples=EXAMPLES["max"], **SETTINGS)
@given(geometry=pool_geometry(dilation=True), ties=st.booleans(), seed=st.integers(0, 2**16))
def test_max_pool_jacobians_and_switches_match_torch_even_on_ties(geometry, ties, seed, torch_ref):
    """With ties (integers in {-1, 0, 1}) PyTorch's rule, tie="row_major", matches exactly."""
    shape, window, stride, padding, dilation, ceil_mode = geometry
    rng = np.random.default_rng(seed)
    x = rng.integers(-1, 2, size=shape).astype(float) if ties else rng.normal(size=shape)
    pool = jc.MaxPool2D(window, stride=stride, padding=padding, dilation=dilation,
                        ceil_mode=ceil_mode, tie="row_major" if ties else "column_major")
    expected = torch_ref.maxpool2d_jacobian(x, window, stride, padding, dilation, ceil_mode=ceil_mode)
    _assert_same(pool.jacobian(x), expected, atol=0)
    switches = torch_ref.maxpool2d_switches(x, window, stride, padding, dilation, ceil_mode=ceil_mode)
    np.testing.assert_array_equal(jc.vec(pool.switches(x)), jc.vec(switches))


@settings(max_examples=EXAMPLES["jax"], **SETTINGS)
@given(config=conv_configs())
def test_conv_jacobians_match_jax(config, jax_module):
    x, kernel, bias, o = config
    for result in autograd.compare_all(jc.Conv2D(kernel, bias, **o), x, backends=["jax"]):
        assert result.ok, str(result)


@settings(max_examples=EXAMPLES["jax"], **SETTINGS)
@given(geometry=pool_geometry(dilation=False), ties=st.booleans(), count_include_pad=st.booleans(),
       seed=st.integers(0, 2**16))
def test_pool_jacobians_match_jax(geometry, ties, count_include_pad, seed, jax_module):
    shape, window, stride, padding, _, ceil_mode = geometry
    rng = np.random.default_rng(seed)
    x = rng.integers(-1, 2, size=shape).astype(float) if ties else rng.normal(size=shape)
    geo = dict(stride=stride, padding=padding, ceil_mode=ceil_mode)
    for layer in (jc.MaxPool2D(window, tie="row_major", **geo),
                  jc.AvgPool2D(window, count_include_pad=count_include_pad, **geo)):
        result = autograd.compare(layer, x, backend="jax")
        assert result.ok, str(result)
