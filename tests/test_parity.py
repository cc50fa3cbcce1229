"""Hyperparameter parity with PyTorch and JAX, and the rows of docs/conventions.md.

``test_layers.py`` runs the generic checks (loop reference, finite differences, torch,
forward pass) on ``cases.PARITY_CASES`` (conv ``groups`` / ``padding_mode`` /
``padding="same"``, pooling ``ceil_mode`` / ``divisor_override``); here they are also
compared with JAX, and the named tests after that each back one row of the conventions
table.
"""


import numpy as np
import pytest
import scipy.sparse as sp
from cases import OPS, PARITY_CASES

import jacobian_cnn as jc
from jacobian_cnn.compare import autograd, layout
from jacobian_cnn.ops.geometry import WindowGeometry

CASE_WRTS = [pytest.param(case, wrt, id=f"{case.id}-{wrt}")
             for case in PARITY_CASES for wrt in OPS[case.op].wrts
             if wrt == "input" or wrt in case.params()]


def _tolerance(case):
    return {"atol": 1e-5, "rtol": 1e-5} if case.x_kind == "float32" else {"atol": 1e-10, "rtol": 1e-9}


def _layer(case):
    return OPS[case.op].make(case.params(), case.options)


# --- the parity configurations against JAX (test_layers.py checks them against the
# --- loop reference, finite differences, torch and the forward pass) ---------------

@pytest.mark.parametrize("case, wrt", [  # JAX has no derivative of dilated max pooling
    c for c in CASE_WRTS if not (c.values[0].op == "maxpool" and "dilation" in c.values[0].options)])
def test_matches_jax_autograd(case, wrt, jax_module):
    result = autograd.compare(_layer(case), case.x(), wrt, backend="jax")
    assert result.ok, str(result)


# --- convolution: cross-correlation, "same", groups, copying padding modes ---------

def test_convolution_is_cross_correlation_in_torch_and_jax(torch_ref, jax_module):
    """On a single impulse a cross-correlation shows the kernel rotated by 180 degrees.

    (A true convolution would show the kernel as it is.) PyTorch and JAX agree.
    """
    x = np.zeros((5, 5))
    x[2, 2] = 1.0
    K = np.arange(1.0, 10.0).reshape(3, 3)
    conv = jc.Conv2D(K, padding=1)
    # Cross-correlation: y[p, q] = sum K[r, s] x[p + r - 1, q + s - 1] = K[3 - p, 3 - q] around the
    # impulse, i.e. the kernel appears rotated by 180 degrees (a true convolution would show K).
    np.testing.assert_array_equal(conv.forward(x)[1:4, 1:4], K[::-1, ::-1])
    np.testing.assert_array_equal(torch_ref.conv2d(x, K, padding=1)[1:4, 1:4, 0, 0], K[::-1, ::-1])
    for backend in ("torch", "jax"):
        assert autograd.compare(conv, x, "kernel", backend=backend).ok


def test_same_padding_puts_the_odd_pixel_bottom_right(torch_ref, jax_module):
    """padding="same" pads dilation*(k-1) per axis, the odd one after (PyTorch and JAX's SAME)."""
    conv = jc.Conv2D(np.ones((4, 2, 1, 1)), padding="same", dilation=(1, 3))
    assert conv.padding == ((1, 2), (1, 2))
    x = np.random.default_rng(0).normal(size=(5, 6))
    assert conv.forward(x).shape == x.shape
    for backend in ("torch", "jax"):
        result = autograd.compare(conv, x, backend=backend)
        assert result.ok and "same" in result.reference.lower(), str(result)
    assert jc.Conv2D(np.ones((3, 3)), padding="valid").padding == ((0, 0), (0, 0))


def test_groups_connect_each_output_channel_to_its_group_only():
    """Depthwise (groups = C_in): d y[.., c] / d x[.., c'] is zero unless c' == c."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 4, 3))
    J = jc.Conv2D(rng.normal(size=(3, 3, 1, 3)), groups=3, padding=1).jacobian(x).toarray()
    blocks = J.reshape(3, 16, 3, 16)  # (c_out, o, c_in, i) in vec order
    for c_out in range(3):
        for c_in in range(3):
            assert np.any(blocks[c_out, :, c_in]) == (c_out == c_in)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_copying_padding_sums_the_taps_that_read_one_input(mode, torch_ref):
    """A padding that copies input entries makes one input feed several taps: J sums them."""
    x = np.random.default_rng(2).normal(size=(2, 2))    # a 3x3 window is wider than the input
    K = np.arange(1.0, 10.0).reshape(3, 3)
    conv = jc.Conv2D(K, padding=1, padding_mode=mode)
    J = conv.jacobian(x)
    assert J.has_canonical_format          # sorted, one entry per (row, column)
    # Output (0, 0): taps (r, s) read padded rows/cols r-1, s-1; which input does each copy?
    copy = {"reflect": {-1: 1, 0: 0, 1: 1}, "replicate": {-1: 0, 0: 0, 1: 1},
            "circular": {-1: 1, 0: 0, 1: 1}}[mode]
    expected = np.zeros((2, 2))
    for r in range(3):
        for s in range(3):
            expected[copy[r - 1], copy[s - 1]] += K[r, s]
    np.testing.assert_array_equal(jc.unvec(J[[0], :].toarray(), (2, 2)), expected)
    assert expected.max() > K.max()         # several taps landed on one input and were added
    report = jc.compare_jacobians(J, torch_ref.conv2d_jacobians(x, K, padding=1, padding_mode=mode)["input"],
                                  atol=1e-12)
    assert report.ok, str(report)


def test_replicate_on_a_single_pixel_gives_the_kernel_sum():
    conv = jc.Conv2D(np.arange(1.0, 10.0).reshape(3, 3), padding=1, padding_mode="replicate")
    J = conv.jacobian(np.ones((1, 1)))
    assert J.nnz == 1 and J[0, 0] == 45.0


def test_copying_modes_keep_the_fast_path_for_zero_padding():
    assert not WindowGeometry.from_args((4, 4), 3, padding=1).taps_may_repeat
    assert not WindowGeometry.from_args((4, 4), 3, padding_mode="reflect").taps_may_repeat
    assert WindowGeometry.from_args((4, 4), 3, padding=1, padding_mode="circular").taps_may_repeat


def test_conv_refuses_what_torch_refuses():
    K = np.ones((3, 3, 2, 4))
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        jc.Conv2D(K, stride=2, padding="same")
    with pytest.raises(ValueError, match="groups=3 must be positive and divide C_out=4"):
        jc.Conv2D(K, groups=3)
    with pytest.raises(TypeError, match="groups must be an int"):
        jc.Conv2D(K, groups=2.0)
    with pytest.raises(ValueError, match="C_in = kernel.shape\\[2\\] \\* groups = 2 \\* 2 = 4"):
        jc.Conv2D(K, groups=2).forward(np.zeros((5, 5, 2)))
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        jc.Conv2D(K, padding_mode="mirror")
    with pytest.raises(ValueError, match="padding must be a number, a pair, 'same' or 'valid'"):
        jc.Conv2D(K, padding="full")
    with pytest.raises(ValueError, match="padding_mode='reflect' must be smaller than the input"):
        jc.Conv2D(K, padding=3, padding_mode="reflect").jacobian(np.zeros((3, 5, 2)))
    with pytest.raises(ValueError, match="padding_mode='circular' must be at most the input"):
        jc.Conv2D(K, padding=4, padding_mode="circular").forward(np.zeros((3, 5, 2)))
    jc.Conv2D(K, padding=3, padding_mode="circular").forward(np.zeros((3, 5, 2)))  # == size: allowed


def test_conv_repr_names_the_new_options():
    conv = jc.Conv2D(np.ones((3, 3, 1, 4)), groups=4, padding="same", padding_mode="reflect")
    assert repr(conv) == "Conv2D(3x3, 4->4, padding='same', groups=4, padding_mode='reflect', no bias)"


# --- pooling: ceil mode, the average-pool divisor, max-pool padding and ties -------

GEOMETRIES = [(h, k, s, p) for h in range(1, 9) for k in (1, 2, 3, 4) for s in (1, 2, 3)
              for p in range(0, k // 2 + 1) if k <= h + 2 * p]


def test_ceil_mode_output_size_matches_torch(torch_ref):
    """Ceil mode rounds up, but drops a last window that would start in the right padding."""
    import torch
    import torch.nn.functional as F

    dropped = 0
    for h, k, s, p in GEOMETRIES:
        for ceil in (False, True):
            expected = F.max_pool2d(torch.zeros(1, 1, h, 1), (k, 1), (s, 1), (p, 0),
                                    ceil_mode=ceil).shape[2]
            geo = WindowGeometry.from_args((h, 1), (k, 1), stride=(s, 1), padding=((p, p), (0, 0)),
                                           ceil_mode=ceil)
            assert geo.out_size[0] == expected, (h, k, s, p, ceil)
            dropped += ceil and -(-(h + 2 * p - k) // s) + 1 != expected
    assert dropped > 0  # the rule was exercised
    assert jc.AvgPool2D(2, stride=3, padding=1, ceil_mode=True).forward(np.zeros((4, 4))).shape == (2, 2)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("divisor_override", [None, 5])
def test_avg_pool_divisor_matches_torch_in_every_combination(count_include_pad, ceil_mode,
                                                             divisor_override, torch_ref):
    """PyTorch's divisor: taps in the padded input (overhang never counted) / in the input / override."""
    import torch
    import torch.nn.functional as F

    for h, k, s, p in GEOMETRIES:
        pool = jc.AvgPool2D((k, 2), stride=(s, 1), padding=(p, 1), ceil_mode=ceil_mode,
                            count_include_pad=count_include_pad, divisor_override=divisor_override)
        geo = pool.geometry((h, 3))
        # torch's output on ones is (number of in-input taps) / divisor
        y = F.avg_pool2d(torch.ones(1, 1, h, 3, dtype=torch.float64), (k, 2), (s, 1), (p, 1),
                         ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                         divisor_override=divisor_override)
        torch_divisors = geo.valid_counts / jc.vec(y[0, 0].numpy())
        np.testing.assert_allclose(pool.divisors(geo), torch_divisors, rtol=1e-12,
                                   err_msg=str((h, k, s, p)))


def test_avg_pool_options_are_validated():
    with pytest.raises(ValueError, match="divisor_override must be None or a nonzero int, got 0"):
        jc.AvgPool2D(2, divisor_override=0)
    with pytest.raises(TypeError, match="divisor_override must be None or a nonzero int"):
        jc.AvgPool2D(2, divisor_override=2.5)
    with pytest.raises(TypeError, match="ceil_mode must be a bool"):
        jc.AvgPool2D(2, ceil_mode=1)
    with pytest.raises(TypeError, match="ceil_mode must be a bool"):
        jc.MaxPool2D(2, ceil_mode="yes")
    assert repr(jc.AvgPool2D(3, stride=2, ceil_mode=True, divisor_override=4)) == \
        "AvgPool2D(3x3, stride=2, ceil_mode=True, divisor_override=4)"


def test_max_pool_padding_never_wins_in_torch_and_jax(torch_ref, jax_module):
    """On negative input the padding (0 in the seed's convention) would win; nowhere else does."""
    x = -1.0 - np.random.default_rng(3).random((4, 5, 2))
    never = jc.MaxPool2D(3, stride=2, padding=1, ceil_mode=True)
    assert np.all(never.switches(x) >= 0)
    for backend in ("torch", "jax"):
        assert autograd.compare(never, x, backend=backend).ok
    seed = jc.MaxPool2D(3, stride=2, padding=1, pad_value=0.0)   # seed 004 appendix B
    x = x[:3, :3]                                   # every window touches the padding
    assert np.all(seed.forward(x) == 0) and np.all(seed.switches(x) == -1)
    assert seed.jacobian(x).nnz == 0


def test_a_max_pool_window_entirely_in_padding_is_refused():
    """Dilation lets a window skip the input: it has no maximum. (torch 2.13 does not refuse
    it and reads out of bounds, so nothing is compared here.)"""
    pool = jc.MaxPool2D((2, 3), stride=1, padding=(1, 0), dilation=(2, 1))
    with pytest.raises(ValueError, match="lies entirely in padding"):
        pool.jacobian(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="lies entirely in padding"):
        autograd.compare(pool, np.zeros((1, 4)))      # refused before any backend runs


def test_max_pool_ties_row_major_equals_torch_and_jax_exactly(torch_ref, jax_module):
    """tie="row_major" reproduces PyTorch's CPU rule (and JAX's) on deliberate ties."""
    rng = np.random.default_rng(4)
    for x in (np.zeros((6, 5, 2, 2)), rng.integers(-1, 2, size=(6, 5, 2, 2)).astype(float)):
        for options in ({"padding": 1, "stride": 1}, {"stride": 2, "ceil_mode": True},
                        {"stride": 1, "dilation": (2, 1)}):
            pool = jc.MaxPool2D(3, tie="row_major", **options)
            expected = torch_ref.maxpool2d_jacobian(x, 3, pool.stride, options.get("padding", 0),
                                                    pool.dilation, ceil_mode=pool.ceil_mode)
            assert (sp.csr_array(expected) != pool.jacobian(x)).nnz == 0
            if pool.dilation == (1, 1):
                assert autograd.compare(pool, x, backend="jax").report.max_abs_error == 0


def test_max_pool_default_tie_rule_is_column_major_and_differs_from_torch(torch_ref):
    """The package default picks the first maximum in column-major (vec(Omega)) order."""
    x = np.array([[1.0, 5.0], [5.0, 2.0]])         # 5 at (1, 0) and at (0, 1)
    assert jc.MaxPool2D(2).switches(x)[0, 0] == 1   # (1, 0): first in column-major order
    assert jc.MaxPool2D(2, tie="row_major").switches(x)[0, 0] == 2
    torch_switch = torch_ref.maxpool2d_switches(x, 2, 2)
    assert torch_switch[0, 0, 0, 0] == 2            # PyTorch: (0, 1), first in row-major order
    assert not autograd.compare(jc.MaxPool2D(2), x).ok


def test_flatten_orders_match_torch_and_jax(torch_ref, jax_module):
    """Flatten "torch" is PyTorch's NCHW flatten; "C" is JAX/flax's NHWC reshape; "F" is vec."""
    import jax
    import torch

    x = np.random.default_rng(5).normal(size=(2, 3, 4, 2))
    torch_flat = torch.from_numpy(layout.to_layout(x, "NCHW")).flatten(1).numpy()   # (N, D)
    np.testing.assert_array_equal(jc.Flatten("torch").forward(x), torch_flat.T)
    with jax.enable_x64(True):
        jax_flat = np.asarray(jax.numpy.asarray(layout.to_layout(x, "NHWC")).reshape(2, -1))
    np.testing.assert_array_equal(jc.Flatten("C").forward(x), jax_flat.T)
    np.testing.assert_array_equal(jc.Flatten("F").forward(x), x.reshape(-1, 2, order="F"))
    assert (jc.Flatten("F").jacobian(x) != sp.eye_array(x.size)).nnz == 0
