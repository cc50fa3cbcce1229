"""The classical backward formulas equal the explicit Jacobian products ``g @ J``.

Every algorithm of :mod:`jacobian_cnn.classical` is computed without any Jacobian;
here each is compared with ``unvec(vec(g) @ layer.jacobian(...))`` over many random
geometries (channels, batch, asymmetric padding, stride, dilation) drawn by hypothesis,
plus hand-computed small cases and the error messages.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import jacobian_cnn as jc
from jacobian_cnn import classical

SETTINGS = settings(max_examples=120, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

pairs = lambda lo, hi: st.tuples(st.integers(lo, hi), st.integers(lo, hi))  # noqa: E731


@st.composite
def geometries(draw, max_window=3):
    """A window geometry that gives a non-empty output, and the map's channels/batch."""
    window = draw(pairs(1, max_window))
    stride, dilation = draw(pairs(1, 3)), draw(pairs(1, 2))
    padding = (draw(pairs(0, 2)), draw(pairs(0, 2)))
    size = draw(pairs(1, 7))
    for axis in (0, 1):
        span = dilation[axis] * (window[axis] - 1) + 1
        assume(size[axis] + sum(padding[axis]) >= span)
    channels, batch = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    ndim = draw(st.sampled_from([2, 3, 4])) if (channels, batch) == (1, 1) else 4
    return dict(window=window, stride=stride, dilation=dilation, padding=padding,
                size=size, channels=channels, batch=batch, ndim=ndim)


def _x_shape(geo, channels=None):
    shape = geo["size"] + ((geo["channels"] if channels is None else channels), geo["batch"])
    return shape[: geo["ndim"]] if geo["ndim"] < 4 else shape


def _row_product(g, J, shape):
    """``unvec(vec(g) @ J, shape)``: the explicit Jacobian product in the target's shape."""
    return jc.unvec(jc.vec(g) @ J, shape)


def _conv_case(geo, seed):
    rng = np.random.default_rng(seed)
    c_out = int(rng.integers(1, 4)) if geo["ndim"] == 4 else 1
    kernel = rng.normal(size=geo["window"] + (geo["channels"], c_out))
    conv = jc.Conv2D(kernel, rng.normal(size=c_out), stride=geo["stride"],
                     padding=geo["padding"], dilation=geo["dilation"])
    x = rng.normal(size=_x_shape(geo))
    y = conv.forward(x)
    return conv, x, rng.normal(size=y.shape)


GEOMETRY_KW = ("stride", "padding", "dilation")


@SETTINGS
@given(geometries(), st.integers(0, 2**16))
def test_conv_input_gradient_is_the_transposed_convolution(geo, seed):
    conv, x, g = _conv_case(geo, seed)
    got = classical.conv2d_input_gradient(g, conv.kernel, x.shape,
                                          **{k: geo[k] for k in GEOMETRY_KW})
    assert got.shape == x.shape
    np.testing.assert_allclose(got, _row_product(g, conv.jacobian(x), x.shape), rtol=1e-10, atol=1e-12)


@SETTINGS
@given(geometries(), st.integers(0, 2**16))
def test_conv_kernel_gradient_is_the_dilated_correlation(geo, seed):
    conv, x, g = _conv_case(geo, seed)
    got = classical.conv2d_kernel_gradient(x, g, conv.kernel.shape,
                                           **{k: geo[k] for k in GEOMETRY_KW})
    expected = _row_product(g, conv.jacobian(x, wrt="kernel"), conv.kernel.shape)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@SETTINGS
@given(geometries(), st.integers(0, 2**16))
def test_conv_bias_gradient_is_the_sum(geo, seed):
    conv, x, g = _conv_case(geo, seed)
    expected = jc.vec(g) @ conv.jacobian(x, wrt="bias")
    np.testing.assert_allclose(classical.conv2d_bias_gradient(g), expected, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(geometries(), st.integers(0, 2**16), st.booleans())
def test_avg_pool_upsample_adds_where_windows_overlap(geo, seed, include_pad):
    pool = jc.AvgPool2D(geo["window"], count_include_pad=include_pad,
                        **{k: geo[k] for k in GEOMETRY_KW})
    rng = np.random.default_rng(seed)
    x = rng.normal(size=_x_shape(geo))
    try:
        y = pool.forward(x)
    except ValueError:  # count_include_pad=False and a window entirely in padding
        assume(False)
    g = rng.normal(size=y.shape)
    got = classical.avg_pool_upsample(g, x.shape, geo["window"], count_include_pad=include_pad,
                                      **{k: geo[k] for k in GEOMETRY_KW})
    np.testing.assert_allclose(got, _row_product(g, pool.jacobian(x), x.shape), rtol=1e-12, atol=1e-14)


@SETTINGS
@given(geometries(), st.integers(0, 2**16), st.sampled_from([None, 0.0]),
       st.sampled_from(["column_major", "row_major"]), st.booleans())
def test_max_unpool_scatter_adds_at_the_switches(geo, seed, pad_value, tie, ties):
    pool = jc.MaxPool2D(geo["window"], pad_value=pad_value, tie=tie,
                        **{k: geo[k] for k in GEOMETRY_KW})
    rng = np.random.default_rng(seed)
    shape = _x_shape(geo)
    x = rng.integers(-2, 3, size=shape).astype(float) if ties else rng.normal(size=shape)
    try:
        y, switches = pool.forward_with_cache(x)
    except ValueError:  # pad_value=None and a window entirely in padding
        assume(False)
    g = rng.normal(size=y.shape)
    got = classical.max_unpool(g, switches, x.shape)
    np.testing.assert_allclose(got, _row_product(g, pool.jacobian(x), x.shape), rtol=1e-12, atol=1e-14)


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(st.integers(1, 6), st.integers(1, 5), st.integers(1, 3), st.integers(0, 2**16))
def test_dense_gradients_equal_the_kronecker_products(n_in, n_out, batch, seed):
    rng = np.random.default_rng(seed)
    W, b = rng.normal(size=(n_in, n_out)), rng.normal(size=n_out)
    x = rng.normal(size=(n_in, batch)) if batch > 1 else rng.normal(size=n_in)
    layer = jc.Dense(W, b)
    g = rng.normal(size=layer.forward(x).shape)
    gx, gW, gb = classical.dense_gradients(x, W, g)
    np.testing.assert_allclose(gx, _row_product(g, layer.jacobian(x), x.shape), rtol=1e-12)
    np.testing.assert_allclose(gW, _row_product(g, layer.jacobian(x, wrt="weight"), W.shape), rtol=1e-12)
    np.testing.assert_allclose(gb, jc.vec(g) @ layer.jacobian(x, wrt="bias"), rtol=1e-12)


def test_correlate2d_matches_the_layer_forward():
    rng = np.random.default_rng(0)
    x, K = rng.normal(size=(7, 6, 2, 3)), rng.normal(size=(3, 2, 2, 4))
    got = classical.correlate2d(x, K, stride=(2, 1), dilation=(1, 2))
    expected = jc.Conv2D(K, stride=(2, 1), dilation=(1, 2)).forward(x)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


# --- small cases computed by hand ----------------------------------------------------

def test_zero_insert_by_hand():
    a = np.array([[1., 2.], [3., 4.]])
    expected = np.array([[1, 0, 0, 2], [0, 0, 0, 0], [3, 0, 0, 4]])
    np.testing.assert_array_equal(classical.zero_insert(a, (2, 3)), expected)


def test_transposed_convolution_by_hand_with_stride_and_padding():
    # 1-D in effect: input 1x5, kernel [1, 10], stride 2, padding (0, 1) on the width:
    # padded [x0..x4, 0], windows at 0, 2, 4 read (x0, x1), (x2, x3), (x4, pad).
    g = np.array([[1., 2., 3.]])
    got = classical.conv2d_input_gradient(g, np.array([[1., 10.]]), (1, 5), stride=(1, 2),
                                          padding=((0, 0), (0, 1)))
    np.testing.assert_array_equal(got, [[1., 10., 2., 20., 3.]])


def test_kernel_gradient_by_hand_with_dilation():
    # x = [0, 1, 2, 3, 4, 5], kernel taps 2 apart (dilation 2), stride 1: windows (x0, x2),
    # (x1, x3), (x2, x4), (x3, x5); dL/dk0 = sum g*x[o], dL/dk1 = sum g*x[o+2].
    x = np.arange(6.)[None, :]
    g = np.array([[1., 1., 1., 1.]])
    got = classical.conv2d_kernel_gradient(x, g, (1, 2), dilation=(1, 2))
    np.testing.assert_array_equal(got, [[0 + 1 + 2 + 3, 2 + 3 + 4 + 5]])


def test_avg_pool_upsample_divisor_without_padding_count():
    # 1x3 input, window 2, stride 2, padding right 1: windows (x0, x1) and (x2, pad);
    # count_include_pad=False divides the second by 1.
    got = classical.avg_pool_upsample([[4., 6.]], (1, 3), (1, 2), stride=(1, 2),
                                      padding=((0, 0), (0, 1)), count_include_pad=False)
    np.testing.assert_array_equal(got, [[2., 2., 6.]])


def test_max_unpool_adds_for_a_repeated_switch():
    np.testing.assert_array_equal(classical.max_unpool([[1., 2., 3.]], np.array([[0, 0, -1]]), (1, 2)),
                                  [[3., 0.]])


def test_float32_stays_float32():
    x = np.ones((4, 4, 1, 1), np.float32)
    g = np.ones((3, 3, 1, 1), np.float32)
    assert classical.conv2d_input_gradient(g, np.ones((2, 2)), x.shape).dtype == np.float32
    assert classical.conv2d_kernel_gradient(x, g, (2, 2, 1, 1)).dtype == np.float32
    assert classical.avg_pool_upsample(g, x.shape, 2, stride=1).dtype == np.float32
    assert classical.max_unpool(g, np.zeros((3, 3, 1, 1), int), x.shape).dtype == np.float32
    assert classical.dense_gradients(np.ones(3, np.float32), np.ones((3, 2)),
                                     np.ones(2, np.float32))[1].dtype == np.float32


# --- bad input ------------------------------------------------------------------------

@pytest.mark.parametrize("call, match", [
    (lambda: classical.conv2d_input_gradient(np.ones((2, 2)), np.ones((2, 2)), (4, 4)),
     r"shape of the convolution output, \(3, 3, 1, 1\)"),
    (lambda: classical.conv2d_input_gradient(np.ones((2, 2)), np.ones((2, 2, 2)), (3, 3, 1)),
     "channels but the kernel expects 2"),
    (lambda: classical.conv2d_input_gradient(np.ones((1, 1)), np.ones((5, 5)), (3, 3)),
     "output would be empty"),
    (lambda: classical.conv2d_input_gradient(np.ones((2, 2)), np.ones((2, 2)), (3,)),
     "input shape must be"),
    (lambda: classical.conv2d_kernel_gradient(np.ones((3, 3, 2)), np.ones((2, 2)), (2, 2, 1)),
     "x has 2 channels"),
    (lambda: classical.conv2d_kernel_gradient(np.ones((3, 3)), np.ones((2, 2)), (2,)),
     "kernel_shape must be"),
    (lambda: classical.avg_pool_upsample(np.ones((2, 2)), (3, 3), 2), r"shape of the pooling output"),
    (lambda: classical.avg_pool_upsample(np.ones((3, 3)), (1, 1), 1, padding=1,
                                         count_include_pad=False), "entirely in padding"),
    (lambda: classical.max_unpool(np.ones((1, 2)), np.array([[0, 9]]), (2, 2)), r"lie in \[-1, 4\)"),
    (lambda: classical.max_unpool(np.ones((1, 2)), np.array([[0]]), (2, 2)), "switches shape"),
    (lambda: classical.dense_gradients(np.ones(3), np.ones((2, 2)), np.ones(2)), "n_in=2"),
    (lambda: classical.dense_gradients(np.ones(2), np.ones((2, 3)), np.ones(2)), "shape of z"),
    (lambda: classical.correlate2d(np.ones((3, 3, 2, 1)), np.ones((2, 2, 1, 1))), "same C"),
    (lambda: classical.zero_insert(np.ones(3), 2), "at least 2 axes"),
    (lambda: classical.conv2d_input_gradient(np.full((2, 2), np.nan), np.ones((2, 2)), (3, 3)),
     "NaN"),
])
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_non_integer_switches_raise_type_error():
    with pytest.raises(TypeError, match="switches must be integers"):
        classical.max_unpool(np.ones((1, 1)), np.array([[0.0]]), (2, 2))
