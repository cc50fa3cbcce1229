"""The network Hessian (every block, cross blocks included) against torch.func.hessian and
finite differences of the chain's gradient, on the seed CNN, LeNet-5 and small chains."""

import numpy as np
import pytest
from optional import require

import jacobian_cnn as jc
from jacobian_cnn.examples import seed_cnn, with_loss
from jacobian_cnn.second_order import hessian_vector_product, network_hessian


def lenet5(rng, label=3):
    """LeNet-5 (tanh, average pooling, no padding) in float64, ending in cross-entropy."""
    u = lambda shape, fan_in: rng.uniform(-1, 1, size=shape) / np.sqrt(fan_in)
    return jc.Chain([
        jc.Conv2D(u((5, 5, 1, 6), 25), u(6, 25)), jc.Tanh(), jc.AvgPool2D(2),
        jc.Conv2D(u((5, 5, 6, 16), 150), u(16, 150)), jc.Tanh(), jc.AvgPool2D(2), jc.Flatten(),
        jc.Dense(u((400, 120), 400), u(120, 400)), jc.Tanh(),
        jc.Dense(u((120, 84), 120), u(84, 120)), jc.Tanh(),
        jc.Dense(u((84, 10), 84), u(10, 84)), jc.SoftmaxCrossEntropy(label),
    ])


NETWORKS = {
    "seed-avg-xent": lambda: (with_loss(seed_cnn(1), jc.SoftmaxCrossEntropy(2)),
                              np.random.default_rng(0).normal(size=(8, 8, 1))),
    "seed-max-batch": lambda: (with_loss(seed_cnn(2, pool="max"), jc.SoftmaxCrossEntropy([1, 3])),
                               np.random.default_rng(1).normal(size=(8, 8, 1, 2))),
    "avgpool-mse": lambda: (jc.Chain([jc.AvgPool2D(2, stride=1), jc.Flatten(),
                                      jc.MSELoss(np.arange(4.0))]),
                            np.random.default_rng(2).normal(size=(3, 3))),
    "dense-softmax-mse": lambda: (jc.Chain([jc.Dense(np.random.default_rng(3).normal(size=(4, 3))),
                                            jc.Sigmoid(), jc.Softmax(), jc.MSELoss(np.ones(3) / 3)]),
                                  np.random.default_rng(4).normal(size=4)),
}


def _close(ours, theirs, what):
    scale = max(np.abs(theirs).max(initial=0), 1e-300)
    assert np.all(np.isfinite(ours)), what
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10 * scale, err_msg=what)


@pytest.mark.parametrize("name", NETWORKS)
def test_every_block_equals_torch_hessian(name):
    require("torch", "torch not installed")
    from second_order_torch import torch_hessian
    net, x = NETWORKS[name]()
    H = network_hessian(net, x, "all")
    theirs = torch_hessian(net.layers, x)
    assert H.variables[0] == "input" and len(H.variables) == len(theirs) ** 0.5
    for a in H.variables:
        for b in H.variables:
            _close(H.block(a, b).toarray(), theirs[a, b], f"{name}: {a}, {b}")
    np.testing.assert_array_equal(H.matrix.toarray(), H.matrix.toarray().T)


def test_lenet5_input_hessian_equals_torch():
    require("torch", "torch not installed")
    from second_order_torch import torch_hessian
    rng = np.random.default_rng(5)
    net, x = lenet5(rng), rng.normal(size=(32, 32))
    H = network_hessian(net, x, "input")
    _close(H.matrix.toarray(), torch_hessian(net.layers, x, only=["input"])["input", "input"],
           "LeNet-5 input Hessian")
    np.testing.assert_array_equal(H.matrix.toarray(), H.matrix.toarray().T)


def test_lenet5_parameter_blocks_equal_torch():
    require("torch", "torch not installed")
    from second_order_torch import torch_hessian
    rng = np.random.default_rng(6)
    net, x = lenet5(rng), rng.normal(size=(32, 32))
    small = [(0, "kernel"), (0, "bias"), (3, "kernel"), (3, "bias"), (9, "bias"), (11, "weight"),
             (11, "bias")]
    H = network_hessian(net, x, small)
    theirs = torch_hessian(net.layers, x, only=small)
    for a in small:
        for b in small:
            _close(H.block(a, b).toarray(), theirs[a, b], f"LeNet-5: {a}, {b}")


def test_hessian_equals_finite_differences_of_the_gradient():
    net, x = NETWORKS["seed-avg-xent"]()
    H = network_hessian(net, x, "input").matrix.toarray()
    step, flat = 1e-6, x.ravel(order="F")
    for j in range(0, x.size, 7):
        moved = [flat.copy(), flat.copy()]
        moved[0][j] += step
        moved[1][j] -= step
        plus, minus = (net.backward(m.reshape(x.shape, order="F")).input[0] for m in moved)
        np.testing.assert_allclose(H[:, j], (plus - minus) / (2 * step), rtol=1e-6, atol=1e-8)


def test_trace_lists_terms_and_products():
    net, x = NETWORKS["avgpool-mse"]()
    trace = network_hessian(net, x).trace
    text = str(trace)
    assert text.splitlines()[0].split()[:3] == ["#", "layer", "action"]
    assert [(s.layer_index, s.action, s.term_of) for s in trace] == [
        (2, "term", 2), (1, "push", 2), (0, "push", 2)]
    assert trace[0].shape == (4, 4) and trace[-1].shape == (4, 9)


def test_refusals():
    net, x = NETWORKS["seed-avg-xent"]()
    with pytest.raises(jc.errors.JacobianTooLargeError, match="64 x 64 dense"):
        network_hessian(net, x, "input", max_bytes=1000)
    with pytest.raises(jc.errors.InvalidValueError, match="scalar output"):
        network_hessian(seed_cnn(1), x, "input")
    with pytest.raises(jc.errors.InvalidValueError, match="unknown variable"):
        network_hessian(net, x, (1, "kernel"))
    with pytest.raises(jc.errors.InvalidValueError, match="wrt must be"):
        network_hessian(net, x, "everything")


@pytest.mark.parametrize("name", NETWORKS)
@pytest.mark.parametrize("wrt", ["input", "all"])
def test_hessian_vector_product_equals_the_matrix_times_v(name, wrt):
    net, x = NETWORKS[name]()
    H = network_hessian(net, x, wrt).matrix
    v = np.random.default_rng(7).normal(size=H.shape[0])
    expected = H @ v
    np.testing.assert_allclose(hessian_vector_product(net, x, v, wrt), expected, rtol=0,
                               atol=1e-12 * np.abs(expected).max())


def test_lenet5_hessian_vector_product_equals_torch():
    torch = require("torch", "torch not installed")
    from second_order_torch import torch_scalar
    from torch.func import grad, jvp
    rng = np.random.default_rng(8)
    net, x = lenet5(rng), rng.normal(size=(32, 32))
    v = rng.normal(size=x.size)
    phi, _, arrays = torch_scalar(net.layers, x)
    params = [torch.tensor(a) for a in arrays]
    direction = torch.tensor(v.reshape(x.shape, order="F"))
    _, hv = jvp(grad(lambda t: phi(t, *params)), (torch.tensor(x),), (direction,))
    theirs = hv.numpy().ravel(order="F")
    ours = hessian_vector_product(net, x, v)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10 * np.abs(theirs).max())


def test_hessian_vector_product_refuses_a_wrong_v():
    net, x = NETWORKS["avgpool-mse"]()
    with pytest.raises(jc.errors.InvalidValueError, match="vector over the 9 entries"):
        hessian_vector_product(net, x, np.zeros(8))
    with pytest.raises(jc.errors.InvalidValueError, match="NaN"):
        hessian_vector_product(net, x, np.full(9, np.nan))


def test_chain_methods_delegate():
    net, x = NETWORKS["seed-avg-xent"]()
    H = net.hessian(x, "all")
    np.testing.assert_array_equal(H.matrix.toarray(), network_hessian(net, x, "all").matrix.toarray())
    v = np.ones(H.matrix.shape[0])
    np.testing.assert_array_equal(net.hessian_vector_product(x, v, "all"),
                                  hessian_vector_product(net, x, v, "all"))
    G = net.ggn(x, form="diagonal")
    F = net.fisher(x, form="diagonal")
    for key in G:
        np.testing.assert_allclose(G[key], F[key], rtol=1e-12, atol=1e-15)


def test_float32_input_computes_in_float32():
    net, x = NETWORKS["seed-avg-xent"]()
    H64 = network_hessian(net, x, "all").matrix.toarray()
    H32 = network_hessian(net, x.astype(np.float32), "all").matrix
    assert H32.dtype == np.float32
    np.testing.assert_allclose(H32.toarray(), H64, rtol=0, atol=1e-5 * np.abs(H64).max())
    v = np.ones(H64.shape[0])
    hv = hessian_vector_product(net, x.astype(np.float32), v, "all")
    assert hv.dtype == np.float32
    np.testing.assert_allclose(hv, H64 @ v, rtol=0, atol=1e-4 * np.abs(H64 @ v).max())
