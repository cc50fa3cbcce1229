"""The fast second-order paths against the readable ones: ``input_hessian`` (composed
forwards) and ``hessian_blocks`` (square-root rows) against ``network_hessian``, torch, and
the grouped Gram product against its dense definition."""

import numpy as np
import pytest
import scipy.sparse as sp
from optional import require
from test_second_order_hessian import NETWORKS, _close

import jacobian_cnn as jc
from jacobian_cnn.second_order import network_hessian
from jacobian_cnn.second_order.forward import _window, grouped_gram, input_hessian
from jacobian_cnn.second_order.roots import hessian_blocks, signed_roots


def small_tanh_cnn(rng):
    """Two conv + tanh blocks: the second conv's rows see an 8x8 window of the input (the
    one-block-at-a-time path of ``grouped_gram``), the first's a 3x3 one (the ``bincount``
    path); the dense layer's rows are dense (the square-root rows)."""
    u = lambda *shape: rng.uniform(-1, 1, size=shape)
    return jc.Chain([jc.Conv2D(u(3, 3, 1, 2), u(2)), jc.Tanh(), jc.AvgPool2D(2),
                     jc.Conv2D(u(3, 3, 2, 3), u(3)), jc.Sigmoid(), jc.Flatten("torch"),
                     jc.Dense(u(27, 4), u(4)), jc.Tanh(), jc.SoftmaxCrossEntropy(1)])


@pytest.mark.parametrize("name", NETWORKS)
def test_input_hessian_equals_network_hessian(name):
    net, x = NETWORKS[name]()
    ours = input_hessian(net, x).matrix.toarray()
    _close(ours, network_hessian(net, x, "input").matrix.toarray(), name)
    np.testing.assert_array_equal(ours, ours.T)


def test_input_hessian_of_a_tanh_cnn_equals_torch():
    require("torch", "torch not installed")
    from second_order_torch import torch_hessian
    rng = np.random.default_rng(21)
    net, x = small_tanh_cnn(rng), rng.normal(size=(12, 12))
    H = input_hessian(net, x)
    _close(H.matrix.toarray(), torch_hessian(net.layers, x, only=["input"])["input", "input"],
           "tanh CNN input Hessian")
    assert [step.action for step in H.trace].count("term") == 4  # tanh, sigmoid, tanh, loss


@pytest.mark.parametrize("name", NETWORKS)
def test_hessian_blocks_equal_network_hessian_blocks(name):
    net, x = NETWORKS[name]()
    full = network_hessian(net, x, "all")
    blocks = hessian_blocks(net, x, "all")
    assert list(blocks) == full.variables
    for key, block in blocks.items():
        _close(block.toarray(), full.block(key).toarray(), f"{name}: {key}")


def test_hessian_blocks_of_a_tanh_cnn_equal_network_hessian():
    rng = np.random.default_rng(22)
    net, x = small_tanh_cnn(rng), rng.normal(size=(12, 12))
    keys = [(0, "kernel"), (3, "bias"), (6, "weight")]
    full = network_hessian(net, x, keys)
    for key, block in hessian_blocks(net, x, keys).items():
        _close(block.toarray(), full.block(key).toarray(), str(key))


def test_grouped_gram_equals_the_dense_product():
    rng = np.random.default_rng(23)
    n = 100
    window = (np.arange(9)[:, None] * 10 + np.arange(9)).ravel()  # 81 columns: a 9x9 window
    supports = [window, window + 11, rng.choice(n, 5, replace=False), np.arange(3),
                rng.choice(n, 70, replace=False)]  # windows and scattered sets, small and large
    rows, cols = [], []
    for support in supports:
        for _ in range(rng.integers(1, 4)):  # one to three rows share each set
            rows.append(len(rows))
            cols.append(np.sort(support))
    M = sp.csr_array((rng.normal(size=sum(map(len, cols))),
                      (np.repeat(rows, [len(c) for c in cols]), np.concatenate(cols))),
                     shape=(len(rows), n))
    d = rng.normal(size=len(rows))
    H = np.zeros((n, n))
    grouped_gram(M, d, H)
    dense = M.toarray()
    np.testing.assert_allclose(H, dense.T @ (d[:, None] * dense), rtol=0, atol=1e-12)


def test_window_recognises_image_rectangles_only():
    assert _window(np.array([3, 4, 5, 13, 14, 15])) == (3, 2, 3, 10)
    assert _window(np.arange(4, 9)) == (4, 1, 5, 0)
    assert _window(np.array([0, 1, 5, 6, 7])) is None  # runs of unequal length
    assert _window(np.array([0, 1, 5, 6, 12, 13])) is None  # unequal strides


def test_signed_roots_of_an_indefinite_diagonal_and_block():
    for T in (sp.diags_array([2.0, 0.0, -3.0]).tocsr(), np.array([[1.0, 2.0], [2.0, 1.0]])):
        R, s = signed_roots(T)
        dense = T.toarray() if sp.issparse(T) else T
        np.testing.assert_allclose(R.T @ (s[:, None] * R), dense, atol=1e-14)
        assert set(s) == {-1.0, 1.0}


def test_refusals():
    net, x = NETWORKS["seed-avg-xent"]()
    with pytest.raises(jc.errors.JacobianTooLargeError, match="64 x 64 dense"):
        input_hessian(net, x, max_bytes=1000)
    with pytest.raises(jc.errors.InvalidValueError, match="wrt must be"):
        hessian_blocks(net, x, "weights")
    with pytest.raises(jc.errors.InvalidValueError, match="scalar output"):
        input_hessian(jc.Chain(net.layers[:-1]), x)


def test_chain_hessian_method_forward_is_the_input_hessian_and_other_methods_are_refused():
    net = jc.Chain([jc.Conv2D(np.linspace(-1, 1, 8).reshape(2, 2, 1, 2)), jc.Tanh(), jc.Flatten(),
                    jc.Dense(np.linspace(-1, 1, 36).reshape(18, 2)), jc.SoftmaxCrossEntropy(1)])
    x = np.linspace(-1, 1, 16).reshape(4, 4)
    forward, backward = net.hessian(x, method="forward"), net.hessian(x)
    np.testing.assert_allclose(forward.matrix.toarray(), backward.matrix.toarray(), rtol=1e-12, atol=1e-14)
    assert [step.action for step in forward.trace].count("pull") >= 1
    for method, wrt in [("forward", "params"), ("sideways", "input")]:
        with pytest.raises(ValueError, match=f"method must be .*got method='{method}'"):
            net.hessian(x, wrt, method=method)


def test_grouped_gram_refuses_an_H_it_could_not_add_to_in_place():
    M = sp.csr_array(np.array([[1., 2., 0.], [3., 4., 0.]]))
    d = np.ones(2)
    read_only = np.zeros((3, 3))
    read_only.flags.writeable = False
    for H in (np.zeros((3, 3)).T[:, ::-1], np.ones((4, 4)), np.zeros((3, 3), int), read_only, [[0.] * 3] * 3):
        with pytest.raises(ValueError, match="H must be a writeable C-contiguous float array of shape"):
            grouped_gram(M, d, H)
    with pytest.raises(ValueError, match=r"d must hold one weight per row of M, shape \(2,\); got \(3,\)"):
        grouped_gram(M, np.ones(3), np.zeros((3, 3)))
