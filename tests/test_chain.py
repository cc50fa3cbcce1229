"""The chain composer against finite differences and torch autograd."""

import numpy as np
import pytest
import scipy.sparse as sp

import jacobian_cnn as jc
from jacobian_cnn.examples import seed_cnn, with_loss
from jacobian_cnn.ops.layer import Layer


def _net(seed=0, pool="avg"):
    return seed_cnn(np.random.default_rng(seed), size=8, pool=pool)


def _torch_forward(torch, net, x_ours, params):
    """The same network written directly in torch; x in our (H, W, C, N) layout."""
    F = torch.nn.functional
    t = torch.as_tensor(x_ours).permute(3, 2, 0, 1)  # -> (N, C, H, W)
    for layer, p in zip(net.layers, params, strict=True):
        if isinstance(layer, jc.Conv2D):
            (top, bottom), (left, right) = layer.padding
            t = F.conv2d(F.pad(t, (left, right, top, bottom)), p["kernel"].permute(3, 2, 0, 1),
                         p.get("bias"), stride=layer.stride, dilation=layer.dilation)
        elif isinstance(layer, jc.Sigmoid):
            t = torch.sigmoid(t)
        elif isinstance(layer, jc.ReLU):
            t = torch.relu(t)
        elif isinstance(layer, jc.AvgPool2D):
            t = F.avg_pool2d(t, layer.window, layer.stride)
        elif isinstance(layer, jc.MaxPool2D):
            t = F.max_pool2d(t, layer.window, layer.stride)
        elif isinstance(layer, jc.Flatten):
            t = t.permute(0, 1, 3, 2).reshape(t.shape[0], -1).T  # per-sample column-major vec
        elif isinstance(layer, jc.Dense):
            t = p["weight"].T @ t + p["bias"][:, None]
        elif isinstance(layer, jc.SoftmaxCrossEntropy):
            t = F.cross_entropy(t.T, torch.tensor(layer.labels.reshape(-1)))
        else:
            raise AssertionError(f"no torch twin for {layer!r}")
    return t


@pytest.mark.parametrize("n, pool", [(1, "avg"), (3, "avg"), (2, "max")])
def test_backward_matches_torch(n, pool, torch_ref):
    import torch

    rng = np.random.default_rng(n)
    net = with_loss(_net(n, pool), jc.SoftmaxCrossEntropy(rng.integers(0, 4, size=n)))
    x = rng.normal(size=(8, 8, 1, n))
    grads = net.backward(x)

    params = [{k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
              for layer in net.layers]
    xt = torch.tensor(x, requires_grad=True)
    loss = _torch_forward(torch, net, xt, params)
    loss.backward()
    assert float(grads.output) == pytest.approx(float(loss.detach()), rel=1e-12)
    np.testing.assert_allclose(grads.input[0], jc.vec(xt.grad.numpy()), rtol=1e-9, atol=1e-12)
    for ours, theirs, layer in zip(grads.params, params, net.layers, strict=True):
        assert set(ours) == set(theirs)
        for name, rows in ours.items():
            as_shape = jc.as_parameter_shape(rows[0], getattr(layer, name).shape)
            np.testing.assert_allclose(as_shape, theirs[name].grad.numpy(), rtol=1e-9, atol=1e-12,
                                       err_msg=f"{layer!r} {name}")


def test_end_to_end_jacobian_matches_torch_and_finite_differences(torch_ref):
    import torch
    from torch.func import jacrev

    net = _net(5)
    x = np.random.default_rng(5).normal(size=(8, 8, 1))
    J = net.jacobian(x)
    assert isinstance(J, sp.csr_array) and J.shape == (4, 64)
    params = [{k: torch.tensor(v) for k, v in layer.params.items()} for layer in net.layers]
    J_torch = jacrev(lambda t: _torch_forward(torch, net, t, params))(torch.tensor(x[..., None]))
    # Output (4, 1) and input (8, 8, 1, 1) are already in our layout: flatten column-major.
    J_torch = J_torch.numpy().reshape(4, 1, 8, 8, 1, 1)[:, 0].reshape(4, -1, order="F")
    jc.assert_jacobian_close(J, J_torch, atol=1e-12, rtol=1e-9, structure=False)
    jc.assert_jacobian_close(J, jc.numerical_jacobian(net.forward, x), atol=1e-7, rtol=1e-6,
                             structure=False)


def test_jacobian_is_the_left_to_right_product_of_layer_jacobians():
    net = _net(2)
    x = np.random.default_rng(2).normal(size=(8, 8, 1))
    product, h = None, x
    layer_jacobians = []
    for layer in net.layers:
        layer_jacobians.append(layer.jacobian(h))
        h = layer.forward(h)
    for J in reversed(layer_jacobians):
        product = J if product is None else product @ J
    np.testing.assert_allclose(net.jacobian(x).toarray(), product.toarray(), rtol=1e-12, atol=1e-15)


def test_batch_jacobian_is_block_diagonal_with_the_single_sample_blocks():
    net = _net(3)
    xs = np.random.default_rng(3).normal(size=(8, 8, 1, 3))
    J = net.jacobian(xs).toarray()
    assert J.shape == (12, 192)
    for i in range(3):
        for j in range(3):
            block = J[4 * i:4 * i + 4, 64 * j:64 * j + 64]
            if i == j:
                np.testing.assert_allclose(block, net.jacobian(xs[..., i]).toarray(), rtol=1e-12,
                                           atol=1e-15)  # products summed in another order
            else:
                assert not block.any()


def test_rows_are_pushed_independently():
    net = _net(4)
    x = np.random.default_rng(4).normal(size=(8, 8, 1))
    g = np.random.default_rng(40).normal(size=(3, 4))
    grads = net.backward(x, g)
    assert grads.input.shape == (3, 64)
    assert grads.params[0]["kernel"].shape == (3, net.layers[0].kernel.size)
    for r in range(3):
        single = net.backward(x, g[r])
        np.testing.assert_allclose(grads.input[r], single.input[0], rtol=1e-12, atol=1e-15)
    # Identity rows (g=None, vector output) give the full Jacobian.
    np.testing.assert_allclose(net.backward(x).input, net.jacobian(x).toarray(), rtol=1e-12, atol=1e-15)


def test_trace_lists_every_product():
    net = with_loss(_net(1), jc.SoftmaxCrossEntropy(2))
    grads = net.backward(np.zeros((8, 8, 1)))
    expected = [(i, w) for i in reversed(range(len(net))) for w in [*net[i].params, "input"]]
    assert [(s.layer_index, s.wrt) for s in grads.trace] == expected
    for step in grads.trace:
        assert step.rows_shape == (1, step.jacobian_shape[1])
    text = str(grads.trace)
    assert text.splitlines()[0].split()[:3] == ["#", "layer", "wrt"]
    assert len(text.splitlines()) == len(expected) + 1


def test_float32_stays_float32_through_the_chain():
    net = _net(6)
    x = np.random.default_rng(6).normal(size=(8, 8, 1)).astype(np.float32)
    assert net.forward(x).dtype == np.float32
    assert net.jacobian(x).dtype == np.float32
    np.testing.assert_allclose(net.jacobian(x).toarray(), net.jacobian(x.astype(np.float64)).toarray(),
                               rtol=1e-4, atol=1e-6)


def test_non_contiguous_input_gives_the_same_jacobians():
    big = np.random.default_rng(7).normal(size=(12, 10, 4, 2))
    x = big[::2, ::-1, 1:3, :]  # strided, reversed: neither C- nor F-contiguous
    assert not x.flags.c_contiguous and not x.flags.f_contiguous
    conv = jc.Conv2D(np.random.default_rng(8).normal(size=(3, 2, 2, 3)), stride=(2, 1), padding=1)
    for wrt in ("input", "kernel"):
        np.testing.assert_array_equal(conv.jacobian(x, wrt=wrt).toarray(),
                                      conv.jacobian(np.array(x), wrt=wrt).toarray())
    pool = jc.MaxPool2D(2, stride=1)
    np.testing.assert_array_equal(pool.switches(x), pool.switches(np.array(x)))


def test_integer_input_is_promoted_to_float64():
    J = jc.AvgPool2D(2).jacobian(np.arange(16).reshape(4, 4))
    assert J.dtype == np.float64
    assert jc.Conv2D(np.ones((2, 2))).forward(np.arange(9).reshape(3, 3)).dtype == np.float64


class _Scale(Layer):
    """A subclass of the layers' base class that overrides jacobian (not _jacobian_parts)."""

    def __init__(self, factor):
        self.factor = factor

    def forward(self, x):
        return self.factor * np.asarray(x)

    def jacobian(self, x, wrt="input", *, cache=None, max_bytes=None):
        return sp.diags_array(np.full(np.size(x), self.factor)).tocsr()


class _Shift:
    """Not a jc.Layer at all: any object with forward, jacobian and params."""

    params = {}

    def forward(self, x):
        return np.asarray(x) + 1.0

    def jacobian(self, x, wrt="input", *, cache=None, max_bytes=None):
        return sp.eye_array(np.size(x), format="csr")


def test_user_layers_take_part_with_their_own_jacobians():
    net = _net(7)
    x = np.random.default_rng(7).normal(size=(8, 8, 1))
    wrapped = jc.Chain([_Shift(), *net.layers, _Scale(3.0)])
    np.testing.assert_allclose(wrapped.jacobian(x).toarray(), 3.0 * net.jacobian(x + 1.0).toarray(),
                               rtol=1e-12, atol=1e-15)
    ours, plain = wrapped.backward(x, np.ones((1, 4))), net.backward(x + 1.0, 3.0 * np.ones((1, 4)))
    np.testing.assert_allclose(ours.input, plain.input, rtol=1e-12, atol=1e-15)


def _torch_parameter_jacobian(torch, net, x, params):
    """``d vec(y) / d vec(P)`` of every parameter by ``torch.func.jacrev``, in our vec order:
    the torch twin above takes the parameters in our layouts, so only the axes of the output
    ``(n_classes, N)`` and of each parameter need flattening column-major."""
    from torch.func import jacrev

    xt = torch.tensor(x)
    jac = jacrev(lambda ps: _torch_forward(torch, net, xt, ps))(params)
    n_out = int(np.prod(x.shape[3:])) * net.forward(x[..., :1]).shape[0]
    blocks = []
    for layer_jac, layer_params in zip(jac, params, strict=True):
        for name in layer_params:  # the order of layer.params
            J = layer_jac[name].numpy()
            blocks.append(J.reshape(-1, *J.shape[J.ndim - layer_params[name].ndim:], order="F")
                          .reshape(n_out, -1, order="F"))
    return np.hstack(blocks)


@pytest.mark.parametrize("pool", ["avg", "max"])
def test_parameter_jacobian_and_empirical_ntk_match_torch_func(pool, torch_ref):
    import torch

    net = _net(11, pool)
    rng = np.random.default_rng(11)
    x1, x2 = rng.normal(size=(8, 8, 1, 3)), rng.normal(size=(8, 8, 1, 2))
    params = [{k: torch.tensor(v) for k, v in layer.params.items()} for layer in net.layers]
    J1, J2 = net.jacobian(x1, wrt="params"), net.jacobian(x2, wrt="params")
    n_params = sum(np.size(v) for layer in net.layers for v in layer.params.values())
    assert isinstance(J1, sp.csr_array) and J1.shape == (4 * 3, n_params)
    T1, T2 = (_torch_parameter_jacobian(torch, net, x, params) for x in (x1, x2))
    jc.assert_jacobian_close(J1, T1, atol=1e-12, rtol=1e-9, structure=False)
    # The empirical NTK of the two batches: (4*3) x (4*2), sample-major blocks of 4 classes.
    ntk = (J1 @ J2.T).toarray()
    np.testing.assert_allclose(ntk, T1 @ T2.T, rtol=1e-9, atol=1e-12)
    assert np.abs(ntk).min() > 0  # every pair of outputs shares parameters: no block is empty


def test_parameter_jacobian_columns_are_the_layer_parameter_jacobians_in_order():
    net = _net(12)
    x = np.random.default_rng(12).normal(size=(8, 8, 1))
    h, inputs = x, []
    for layer in net.layers:
        inputs.append(h)
        h = layer.forward(h)
    ours = net.jacobian(x, wrt="params").toarray()
    column = 0
    for i, layer in enumerate(net.layers):
        downstream = sp.eye_array(4, format="csr")  # d y / d h_{i+1}, from the public layer.jacobian
        for later, h in reversed(list(zip(net.layers[i + 1:], inputs[i + 1:], strict=True))):
            downstream = downstream @ later.jacobian(h)
        for name, value in layer.params.items():
            expected = (downstream @ layer.jacobian(inputs[i], wrt=name)).toarray()
            np.testing.assert_allclose(ours[:, column:column + value.size], expected,
                                       rtol=1e-12, atol=1e-15, err_msg=f"layers[{i}] {name}")
            column += value.size
    assert column == ours.shape[1]


def test_parameter_jacobian_without_parameters_and_bad_wrt():
    net = jc.Chain([jc.AvgPool2D(2), jc.Flatten()])
    J = net.jacobian(np.ones((4, 4)), wrt="params")
    assert J.shape == (4, 0) and J.nnz == 0
    with pytest.raises(jc.InvalidValueError, match=r"wrt must be one of \['input', 'params'\], got 'kernel'"):
        net.jacobian(np.ones((4, 4)), wrt="kernel")
