"""Argument handling of the public layers (issue 11, sections 3 and 5).

PyTorch's argument forms (one-element tuples, an empty pooling stride, a negative
``divisor_override``) checked against torch itself; layers keep copies of their
parameters; casts that overflow are refused; average pooling does not overflow
where the mean is representable; caches passed to ``jacobian`` are checked. The
refusals themselves are catalogued in ``tests/bad_input/api.py``.
"""

import numpy as np
import pytest
from optional import require

import jacobian_cnn as jc
from jacobian_cnn._arguments import float_array
from jacobian_cnn.compare.layout import from_layout, switches_from_torch_indices, to_layout

X = np.arange(1.0, 26.0).reshape(5, 5) * np.array([1, -1, 1, -1, 1])  # no ties, mixed signs


def _torch_forward(fn, x, *args, **kwargs):
    """``fn`` (a torch.nn.functional op) on ``x`` in this package's layout, back in it."""
    torch = require("torch")
    t = torch.from_numpy(to_layout(x, "NCHW"))
    return from_layout(fn(t, *args, **kwargs).numpy(), "NCHW", ndim=x.ndim)


@pytest.mark.parametrize("kwargs", [
    {"padding": (1,)}, {"stride": (1,)}, {"stride": ()}, {"stride": []}, {"padding": [1]},
    {"stride": (2,), "padding": (1,)},
])
@pytest.mark.parametrize("op", ["avg", "max"])
def test_pooling_takes_pytorchs_argument_forms(op, kwargs):
    torch = require("torch")
    F = torch.nn.functional
    fn, layer = {"avg": (F.avg_pool2d, jc.AvgPool2D), "max": (F.max_pool2d, jc.MaxPool2D)}[op]
    expected = _torch_forward(fn, X, 3, **kwargs)
    np.testing.assert_array_equal(layer(3, **kwargs).forward(X), expected)
    if op == "max":
        np.testing.assert_array_equal(jc.MaxPool2D(3, dilation=(2,)).forward(X),
                                      _torch_forward(F.max_pool2d, X, 3, dilation=(2,)))


@pytest.mark.parametrize("kwargs", [
    {"padding": (1,)}, {"stride": (2,)}, {"dilation": (2,)}, {"stride": [2], "padding": [1]},
])
def test_conv_takes_pytorchs_one_element_tuples(kwargs):
    torch = require("torch")
    kernel = np.array([[1.0, -2.0], [3.0, 0.5]])
    expected = from_layout(torch.nn.functional.conv2d(
        torch.from_numpy(to_layout(X, "NCHW")), torch.from_numpy(to_layout(kernel, "OIHW")),
        **kwargs).numpy(), "NCHW", ndim=2)
    np.testing.assert_allclose(jc.Conv2D(kernel, **kwargs).forward(X), expected, rtol=1e-14)


@pytest.mark.parametrize("name", ["stride", "padding", "dilation"])
def test_empty_conv_arguments_are_refused_as_by_pytorch(name):
    torch = require("torch")
    with pytest.raises(RuntimeError):
        torch.nn.functional.conv2d(torch.zeros(1, 1, 3, 3), torch.zeros(1, 1, 2, 2), **{name: ()})
    with pytest.raises(jc.InvalidTypeError, match=f"{name} must be"):
        jc.Conv2D(np.ones((2, 2)), **{name: ()})


@pytest.mark.parametrize("divisor", [-1, -3, 7])
def test_divisor_override_may_be_negative_as_in_pytorch(divisor):
    torch = require("torch")
    expected = _torch_forward(torch.nn.functional.avg_pool2d, X, 2, stride=1,
                              divisor_override=divisor)
    pool = jc.AvgPool2D(2, stride=1, divisor_override=divisor)
    np.testing.assert_allclose(pool.forward(X), expected, rtol=1e-15)
    # Each row holds 1/divisor at the window's four taps (by hand).
    J = pool.jacobian(X)
    assert J.nnz == 16 * 4 and np.all(J.data == 1.0 / divisor)
    with pytest.raises(RuntimeError):
        torch.nn.functional.avg_pool2d(torch.zeros(1, 1, 2, 2), 2, divisor_override=0)


# --- layers keep their own copies -------------------------------------------------------

def test_layers_do_not_alias_the_callers_arrays():
    K, b, W, t, labels = np.ones((2, 2)), np.zeros(1), np.ones((3, 2)), np.zeros(4), np.array([1, 0])
    conv, dense = jc.Conv2D(K, b), jc.Dense(W, np.zeros(2))
    mse, ce = jc.MSELoss(t), jc.SoftmaxCrossEntropy(labels)
    K[0, 0], b[0], W[0, 0], t[0], labels[0] = np.nan, np.nan, np.nan, 5.0, 7
    x = np.ones((3, 3))
    np.testing.assert_array_equal(conv.forward(x), np.full((2, 2), 4.0))   # by hand: 4 ones
    np.testing.assert_array_equal(dense.forward(np.ones(3)), [3.0, 3.0])
    assert float(mse.forward(np.zeros(4))) == 0.0
    assert ce.labels.tolist() == [1, 0]


@pytest.mark.parametrize("layer, name", [
    (jc.Conv2D(np.ones((2, 2)), np.zeros(1)), "kernel"),
    (jc.Conv2D(np.ones((2, 2)), np.zeros(1)), "bias"),
    (jc.Dense(np.ones((3, 2)), np.zeros(2)), "weight"),
    (jc.Dense(np.ones((3, 2)), np.zeros(2)), "bias"),
    (jc.MSELoss(np.zeros(4)), "target"),
    (jc.SoftmaxCrossEntropy([1, 0]), "labels"),
])
def test_parameters_are_read_only_and_checked_when_assigned(layer, name):
    value = getattr(layer, name)
    with pytest.raises(ValueError, match="read-only"):
        value[0] = 1
    if name != "labels":
        bad = np.array(value, dtype=np.float64)
        bad.flat[0] = np.nan
        with pytest.raises(jc.InvalidValueError, match=f"{name} contains NaN"):
            setattr(layer, name, bad)
    replacement = np.array(value) + 1
    setattr(layer, name, replacement)
    replacement.flat[0] = 100  # the layer took a copy
    np.testing.assert_array_equal(getattr(layer, name), np.array(value) + 1)


def test_parameter_shapes_are_kept_on_assignment():
    conv = jc.Conv2D(np.ones((2, 2, 1, 3)))
    with pytest.raises(jc.InvalidValueError, match=r"kernel must keep the layer's shape \(2, 2, 1, 3\)"):
        conv.kernel = np.ones((3, 3, 1, 3))
    with pytest.raises(jc.InvalidValueError, match=r"bias must be None or have shape \(C_out,\) = \(3,\)"):
        conv.bias = np.ones(2)
    with pytest.raises(jc.InvalidValueError, match=r"weight must keep the layer's shape \(3, 2\)"):
        jc.Dense(np.ones((3, 2))).weight = np.ones((2, 3))


# --- casts that overflow --------------------------------------------------------------

def test_a_kernel_that_overflows_float32_is_refused():
    conv = jc.Conv2D(np.full((2, 2), 1e300))
    x32 = np.ones((3, 3), np.float32)
    for call in (lambda: conv.forward(x32), lambda: conv.jacobian(x32)):
        with pytest.raises(jc.InvalidValueError, match=r"kernel holds 1e\+300 .* overflows float32"):
            call()
    assert conv.forward(np.ones((3, 3)))[0, 0] == 4e300  # float64 input: fine (by hand)
    dense = jc.Dense(np.full((2, 1), -1e39), bias=np.zeros(1))
    with pytest.raises(jc.InvalidValueError, match="weight holds -1e\\+39"):
        dense.forward(np.ones(2, np.float32))
    with pytest.raises(jc.InvalidValueError, match="overflows float32"):
        float_array(np.array([1.0, 1e300]), "x", dtype=np.float32)
    ok = float_array(np.array([1.0, 3e38]), "x", dtype=np.float32)
    assert ok.dtype == np.float32 and ok[1] == np.float32(3e38)


# --- average pooling without overflow ---------------------------------------------------

@pytest.mark.parametrize("dtype, big", [(np.float64, 1e308), (np.float32, np.float32(3e38))])
def test_average_pooling_does_not_overflow_when_the_mean_is_representable(dtype, big):
    x = np.full((2, 2), big, dtype)
    assert jc.AvgPool2D(2).forward(x)[0, 0] == big  # the mean of four equal entries
    y = jc.AvgPool2D(2, stride=1).forward(np.array([[big, big, 0], [big, big, -big]], dtype))
    # by hand: [(4 big) / 4, (big + 0 + big - big) / 4]
    np.testing.assert_allclose(y[0], np.array([big, big / 4], dtype), rtol=1e-6)
    with pytest.raises(jc.InvalidValueError, match="overflows"):
        jc.AvgPool2D(2, divisor_override=1).forward(x)  # 4 * big is not representable


def test_ordinary_average_pooling_is_unchanged_bit_for_bit():
    x = np.random.default_rng(0).normal(size=(7, 6, 2, 3))
    pool = jc.AvgPool2D(3, stride=2, padding=1)
    geo = pool.geometry((7, 6))
    taps = np.concatenate([x.reshape(42, 2, 3, order="F"), np.zeros((1, 2, 3))])[geo.taps]
    expected = (taps.sum(axis=1) / pool.divisors(geo)[:, None, None]).reshape(
        geo.out_size + (2, 3), order="F")
    np.testing.assert_array_equal(pool.forward(x), expected)


# --- caches ------------------------------------------------------------------------------

def test_max_pool_cache_is_checked_and_a_right_one_is_used():
    pool = jc.MaxPool2D(2, stride=1)
    x = np.random.default_rng(1).normal(size=(4, 4, 2))
    y, switches = pool.forward_with_cache(x)
    J = pool.jacobian(x)
    assert (pool.jacobian(x, cache=switches) != J).nnz == 0
    with pytest.raises(jc.InvalidValueError, match=r"ints of shape \(3, 3, 2\).*got shape \(3, 3\)"):
        pool.jacobian(x, cache=switches[:, :, 0])
    with pytest.raises(jc.InvalidTypeError, match="got dtype float64"):
        pool.jacobian(x, cache=switches.astype(float))
    moved = switches.copy()
    moved[0, 0, 0] = switches[2, 2, 0]  # an input of another window
    with pytest.raises(jc.InvalidValueError, match=r"at index \(0, 0, 0\), not an input of that window"):
        pool.jacobian(x, cache=moved)
    moved = switches.copy()
    moved[0, 0, 1] = switches[0, 0, 0]  # the same position in the other channel
    with pytest.raises(jc.InvalidValueError, match=r"at index \(0, 0, 1\), not an input"):
        pool.jacobian(x, cache=moved)
    padded = switches.copy()
    padded[0, 0, 0] = -1
    with pytest.raises(jc.InvalidValueError, match="only with pad_value"):
        pool.jacobian(x, cache=padded)


def test_max_pool_cache_from_pytorchs_indices():
    torch = require("torch")
    x = np.random.default_rng(2).normal(size=(5, 4, 2, 3))
    _, indices = torch.nn.functional.max_pool2d(torch.from_numpy(to_layout(x, "NCHW")), 2,
                                                stride=1, padding=1, return_indices=True)
    pool = jc.MaxPool2D(2, stride=1, padding=1, tie="row_major")
    switches = switches_from_torch_indices(indices.numpy(), x.shape)
    assert (pool.jacobian(x, cache=switches) != pool.jacobian(x)).nnz == 0


def test_max_pool_cache_may_hold_padding_wins_with_pad_value():
    pool = jc.MaxPool2D(2, padding=1, pad_value=0.0)
    x = -np.arange(1.0, 10.0).reshape(3, 3)  # all negative: the padding wins where it can
    _, switches = pool.forward_with_cache(x)
    assert switches[0, 0] == -1 and switches[1, 1] == 4  # by hand: (1, 1) window is x[1:3, 1:3]
    assert (pool.jacobian(x, cache=switches) != pool.jacobian(x)).nnz == 0
    inner = switches.copy()
    inner[1, 1] = -1  # this window holds no padding
    with pytest.raises(jc.InvalidValueError, match=r"at index \(1, 1\)"):
        pool.jacobian(x, cache=inner)


def test_softmax_cache_is_checked():
    z = np.array([[0.0, 1.0], [np.log(3.0), 1.0]])
    s = np.array([[0.25, 0.5], [0.75, 0.5]])  # by hand
    sm = jc.Softmax()
    assert (sm.jacobian(z, cache=s) != sm.jacobian(z)).nnz == 0
    with pytest.raises(jc.InvalidValueError, match=r"shape \(2, 2\).*got shape \(4,\)"):
        sm.jacobian(z, cache=s.ravel())
    with pytest.raises(jc.InvalidValueError, match="summing to 1.5"):
        sm.jacobian(z, cache=np.array([[0.75, 0.5], [0.75, 0.5]]))
    with pytest.raises(jc.InvalidValueError, match=r"values in \[-0.5, 1.5\]"):
        sm.jacobian(z, cache=np.array([[-0.5, 0.5], [1.5, 0.5]]))
