"""The layout bridge (jacobian_cnn.compare.layout): conversions, permutation matrices, switches.

The NumPy-only properties run everywhere; the ones that feed PyTorch or JAX use
the ``torch_ref`` / ``jax_module`` fixtures (skipped locally without them, a failure
in CI).
"""


import numpy as np
import pytest

import jacobian_cnn as jc
from jacobian_cnn.compare import layout

SHAPES = {"NCHW": (3, 4, 2, 2), "NHWC": (3, 4, 2, 2), "OIHW": (2, 3, 2, 4), "HWIO": (2, 3, 2, 4),
          "NC": (5, 3), "IO": (5, 3), "C": (4,), "CHW": (3, 4, 2), "HWC": (3, 4, 2),
          # 1-D / 3-D maps and kernels, transposed-convolution kernels (issue 14 part B)
          "NCL": (5, 3, 2), "NLC": (5, 3, 2), "OIL": (3, 2, 4), "LIO": (3, 2, 4), "IOL": (3, 2, 4),
          "NCDHW": (3, 4, 2, 2, 3), "NDHWC": (3, 4, 2, 2, 3), "OIDHW": (2, 3, 2, 4, 3),
          "DHWIO": (2, 3, 2, 4, 3), "IODHW": (2, 3, 2, 4, 3), "IOHW": (2, 3, 2, 4)}


@pytest.mark.parametrize("name", sorted(layout.LAYOUTS))
def test_round_trip_and_permutation_matrix(name):
    a = np.random.default_rng(0).normal(size=SHAPES[name])
    theirs = layout.to_layout(a, name)
    assert theirs.flags.c_contiguous
    np.testing.assert_array_equal(layout.from_layout(theirs, name), a)
    P = layout.permutation_matrix(a.shape, name)
    np.testing.assert_array_equal(P @ theirs.ravel(), jc.vec(a))
    np.testing.assert_array_equal(P.T @ jc.vec(a), theirs.ravel())
    assert P.nnz == a.size and (P @ P.T != jc.commutation_matrix(1, a.size)).nnz == 0


def test_missing_trailing_axes_are_singletons():
    x = np.arange(6.).reshape(2, 3)                       # one channel of one sample
    assert layout.to_layout(x, "NCHW").shape == (1, 1, 2, 3)
    assert layout.to_layout(x, "NHWC").shape == (1, 2, 3, 1)
    assert layout.from_layout(layout.to_layout(x, "NCHW"), "NCHW", ndim=2).shape == (2, 3)
    assert layout.to_layout(np.arange(4.), "NC").shape == (1, 4)
    with pytest.raises(ValueError, match="non-singleton"):
        layout.from_layout(np.zeros((2, 1, 2, 3)), "NCHW", ndim=3)
    with pytest.raises(ValueError, match="layout must be one of"):
        layout.to_layout(x, "CHWN")


def test_jacobian_to_vec_is_P_out_J_P_in_transposed():
    rng = np.random.default_rng(1)
    J = rng.normal(size=(2 * 3 * 1 * 2, 3 * 2 * 2 * 2))   # any matrix over their flattenings
    y_shape, x_shape = (2, 3, 1, 2), (3, 2, 2, 2)
    P_y = layout.permutation_matrix(y_shape, "NCHW")
    P_x = layout.permutation_matrix(x_shape, "NHWC")
    expected = P_y @ (P_x @ J.T).T
    np.testing.assert_array_equal(layout.jacobian_to_vec(J, y_shape, "NCHW", x_shape, "NHWC"), expected)
    with pytest.raises(ValueError, match="entries"):
        layout.jacobian_to_vec(J[:-1], y_shape, "NCHW", x_shape, "NHWC")


def test_a_torch_jacobian_converted_by_hand_equals_ours(torch_ref):
    """The README's recipe: J_ours = P_out @ J_torch @ P_in.T."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(2)
    x, K = rng.normal(size=(5, 4, 2, 2)), rng.normal(size=(3, 2, 1, 4))
    conv = jc.Conv2D(K, groups=2, padding=1, padding_mode="reflect")
    xt = torch.from_numpy(layout.to_layout(x, "NCHW"))
    wt = torch.from_numpy(layout.to_layout(K, "OIHW"))
    f = lambda t: F.conv2d(F.pad(t, (1, 1, 1, 1), mode="reflect"), wt, groups=2)
    J_torch = torch.func.jacrev(f)(xt).reshape(f(xt).numel(), xt.numel()).numpy()
    y = conv.forward(x)
    P_out, P_in = layout.permutation_matrix(y.shape, "NCHW"), layout.permutation_matrix(x.shape, "NCHW")
    J_by_hand = (P_out @ (P_in @ J_torch.T).T)
    report = jc.compare_jacobians(conv.jacobian(x), J_by_hand, atol=1e-12)
    assert report.ok, str(report)
    np.testing.assert_allclose(layout.from_layout(f(xt).numpy(), "NCHW"), y, atol=1e-12)


def test_a_jax_jacobian_converted_by_hand_equals_ours(jax_module):
    jax = jax_module
    rng = np.random.default_rng(3)
    x, K = rng.normal(size=(5, 4, 2, 2)), rng.normal(size=(2, 3, 2, 3))
    conv = jc.Conv2D(K, padding="same", dilation=(2, 1))
    with jax.enable_x64(True):
        xt = jax.numpy.asarray(layout.to_layout(x, "NHWC"))
        f = lambda t: jax.lax.conv_general_dilated(t, layout.to_layout(K, "HWIO"), (1, 1), "SAME",
                                                   rhs_dilation=(2, 1),
                                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
        J = np.asarray(jax.jacrev(f)(xt))
    y = conv.forward(x)
    J_ours = layout.jacobian_to_vec(J, y.shape, "NHWC", x.shape, "NHWC")
    report = jc.compare_jacobians(conv.jacobian(x), J_ours, atol=1e-12)
    assert report.ok, str(report)


@pytest.mark.parametrize("x_shape", [(4, 5), (4, 5, 3), (5, 4, 2, 3)])
def test_switches_round_trip_through_torch_indices(x_shape):
    x = np.random.default_rng(4).integers(-2, 3, size=x_shape).astype(float)
    pool = jc.MaxPool2D(3, stride=2, padding=1, ceil_mode=True, tie="row_major")
    switches = pool.switches(x)
    indices = layout.switches_to_torch_indices(switches, x.shape)
    back = layout.switches_from_torch_indices(indices, x.shape)
    np.testing.assert_array_equal(back, switches)
    assert back.shape == switches.shape


def test_torch_return_indices_are_our_switches(torch_ref):
    """return_indices -> switches (and back), on ties, with padding, dilation, ceil_mode."""
    import torch
    import torch.nn.functional as F

    x = np.random.default_rng(5).integers(-1, 2, size=(7, 6, 2, 2)).astype(float)
    pool = jc.MaxPool2D(3, stride=2, padding=1, dilation=(1, 2), ceil_mode=True, tie="row_major")
    y, indices = F.max_pool2d(torch.from_numpy(layout.to_layout(x, "NCHW")), 3, 2, 1, (1, 2),
                              ceil_mode=True, return_indices=True)
    switches = layout.switches_from_torch_indices(indices.numpy(), x.shape)
    np.testing.assert_array_equal(switches, pool.switches(x))
    np.testing.assert_array_equal(layout.switches_to_torch_indices(pool.switches(x), x.shape),
                                  indices.numpy())
    # torch's indices as the cache of our Jacobian: the same matrix as from our own forward
    J = pool.jacobian(x, cache=switches)
    assert (J != pool.jacobian(x)).nnz == 0


def test_switch_conversion_refuses_what_torch_cannot_express():
    x = -np.ones((3, 3))
    s = jc.MaxPool2D(2, stride=2, padding=1, pad_value=0.0).switches(x)   # padding wins: -1
    with pytest.raises(ValueError, match="padding won"):
        layout.switches_to_torch_indices(s, x.shape)
    with pytest.raises(ValueError, match="another channel"):
        layout.switches_to_torch_indices(np.array([[[9, 0]]]), (3, 3, 2))   # channel 0 -> x[.., 1]
    with pytest.raises(ValueError, match=r"\(N, C, Ho, Wo\)"):
        layout.switches_from_torch_indices(np.zeros((2, 2), dtype=int), (3, 3))
    with pytest.raises(ValueError, match=r"\[0, H\*W\)"):
        layout.switches_from_torch_indices(np.full((1, 1, 1, 1), 9), (3, 3))


def test_a_permutation_too_large_is_refused_before_its_columns_are_computed():
    """permutation_csr checks the size first: the columns of a refused matrix are never made."""
    from jacobian_cnn.permutations import permutation_csr

    def columns():
        raise AssertionError("the columns were computed for a refused matrix")
    with pytest.raises(jc.JacobianTooLargeError, match="P of 10\\^9"):
        permutation_csr(10**9, columns, "P of 10^9", max_bytes=10**6)
    P = permutation_csr(3, lambda: np.array([1, 2, 0]), "P")
    assert np.array_equal(P @ np.array([10., 20., 30.]), [20., 30., 10.])
