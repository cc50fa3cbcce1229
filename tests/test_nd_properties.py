"""Hypothesis sweeps of random N-dimensional geometries (1-D, 2-D, 3-D).

For every drawn convolution, transposed convolution and pool: the fast Jacobians equal the
readable definition bit for bit and the independent loop reference (``reference_nd.py``)
exactly; a transposed convolution's input Jacobian is the transpose of its matching
convolution's.
"""

import numpy as np
import reference_nd as ref
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_definitions import assert_same_matrix

import jacobian_cnn as jc

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONV = {1: jc.Conv1D, 2: jc.Conv2D, 3: jc.Conv3D}
TRANSPOSED = {1: jc.ConvTranspose1D, 2: jc.ConvTranspose2D, 3: jc.ConvTranspose3D}


@st.composite
def geometries(draw, transposed=False):
    d = draw(st.integers(1, 3))
    k = tuple(draw(st.integers(1, 3)) for _ in range(d))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(d))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(d))
    padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(d))
    groups = draw(st.sampled_from([1, 2]))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    if transposed:
        size = tuple(draw(st.integers(1, 4)) for _ in range(d))
        out_pad = tuple(draw(st.integers(0, max(s, dl) - 1)) for s, dl in zip(stride, dilation, strict=True))
        out = [(n - 1) * s - lo - hi + dl * (kk - 1) + op + 1 for n, s, (lo, hi), dl, kk, op in zip(
            size, stride, padding, dilation, k, out_pad, strict=True)]
        if min(out) < 1:
            padding = tuple((0, 0) for _ in range(d))
        return d, size, k, stride, padding, dilation, groups, c_in, c_out, out_pad
    size = tuple(draw(st.integers(dl * (kk - 1) + 1, dl * (kk - 1) + 4)) for kk, dl in zip(k, dilation,
                                                                                             strict=True))
    return d, size, k, stride, padding, dilation, groups, c_in, c_out, None


def _arrays(seed, x_shape, kernel_shape, n_bias):
    rng = np.random.default_rng(seed)
    return rng.normal(size=x_shape), rng.normal(size=kernel_shape), rng.normal(size=n_bias)


def _check(layer, x, reference):
    for wrt in ("input", *layer.params):
        J = layer.jacobian(x, wrt)
        assert_same_matrix(J, layer.reference_jacobian(x, wrt))
        np.testing.assert_array_equal(J.toarray(), reference[wrt])


@SETTINGS
@given(geometries(), st.integers(1, 2), st.integers(0, 10**6))
def test_random_convolutions(geometry, n, seed):
    d, size, k, stride, padding, dilation, groups, c_in, c_out, _ = geometry
    x, kernel, bias = _arrays(seed, size + (c_in, n), k + (c_in // groups, c_out), c_out)
    layer = CONV[d](kernel, bias, stride=stride, padding=padding,
                    dilation=dilation, groups=groups)
    _check(layer, x, ref.conv_nd(x, kernel, bias, d, stride, padding, dilation, groups)[1])


@SETTINGS
@given(geometries(transposed=True), st.integers(1, 2), st.integers(0, 10**6))
def test_random_transposed_convolutions(geometry, n, seed):
    d, size, k, stride, padding, dilation, groups, c_in, c_out, out_pad = geometry
    x, kernel, bias = _arrays(seed, size + (c_in, n), k + (c_in, c_out // groups), c_out)
    layer = TRANSPOSED[d](kernel, bias, stride=stride, padding=padding, output_padding=out_pad,
                          dilation=dilation, groups=groups)
    _check(layer, x, ref.conv_transpose_nd(x, kernel, bias, d, stride, padding, out_pad, dilation, groups)[1])
    if all(op < s for op, s in zip(out_pad, stride, strict=True)):
        y = layer.forward(x)
        conv = CONV[d](np.swapaxes(kernel, -1, -2), stride=stride, padding=padding, dilation=dilation,
                       groups=groups)
        J_conv = conv.jacobian(np.zeros(y.shape))
        assert (layer.jacobian(x) != J_conv.T.tocsr()).nnz == 0


@SETTINGS
@given(st.integers(1, 3), st.data(), st.integers(0, 10**6))
def test_random_pools(d, data, seed):
    window = tuple(data.draw(st.integers(1, 3)) for _ in range(d))
    stride = tuple(data.draw(st.integers(1, 3)) for _ in range(d))
    padding = tuple(data.draw(st.integers(0, w // 2)) for w in window)  # PyTorch's limit
    size = tuple(data.draw(st.integers(w, w + 3)) for w in window)
    ceil_mode = data.draw(st.booleans())
    x = np.random.default_rng(seed).normal(size=size + (2, 2))
    if d == 2:
        avg, mx = jc.AvgPool2D, jc.MaxPool2D
    else:
        avg, mx = {1: (jc.AvgPool1D, jc.MaxPool1D), 3: (jc.AvgPool3D, jc.MaxPool3D)}[d]
    include = data.draw(st.booleans())
    layer = avg(window, stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=include)
    _check(layer, x, ref.avgpool_nd(x, d, window, stride, padding, include, ceil_mode)[1])
    layer = mx(window, stride=stride, padding=padding, ceil_mode=ceil_mode)
    _check(layer, x, ref.maxpool_nd(x, d, window, stride, padding, 1, ceil_mode)[1])
