"""Second-order terms of the branch layers (Residual, Add, Concat), and network Hessians,
HVPs and GGNs through them: against the loop definition, finite differences of the layer
Jacobian and PyTorch."""

import numpy as np
import pytest
import scipy.sparse as sp
from test_second_order_terms import _perturbed

import jacobian_cnn as jc
from jacobian_cnn.second_order import has_second_order_term, hessian_term, reference_hessian_term

RNG = np.random.default_rng(0)


def _n(*shape, scale=0.7):
    return RNG.normal(size=shape) * scale


BRANCHES = {
    "residual-identity": (lambda: jc.Residual([jc.Dense(_n(3, 3), _n(3)), jc.Tanh(), jc.Dense(_n(3, 3))]),
                          (3,)),
    "residual-shortcut": (lambda: jc.Residual([jc.Dense(_n(3, 3)), jc.Sigmoid()],
                                              [jc.Dense(_n(3, 3), _n(3)), jc.Tanh()]), (3,)),
    "add-three": (lambda: jc.Add(None, [jc.Dense(_n(2, 2)), jc.Softplus()], jc.Tanh()), (2, 2)),
    "concat-vectors": (lambda: jc.Concat([jc.Dense(_n(3, 2)), jc.Tanh()], None, [jc.Sigmoid()]), (3, 2)),
    "residual-conv-bn": (lambda: jc.Residual([jc.Conv2D(_n(1, 2, 2, 2), padding=((0, 0), (0, 1))),
                                              jc.BatchNorm2D(1 + _n(2, scale=0.2), _n(2))]),
                         (2, 3, 2, 2)),
    "nested": (lambda: jc.Residual([jc.Add(None, [jc.Dense(_n(2, 2)), jc.Tanh()]), jc.Sigmoid()]), (2,)),
}


def _case(name):
    make, shape = BRANCHES[name]
    layer = make()
    x = np.random.default_rng(len(name)).normal(size=shape)
    g = np.random.default_rng(len(name) + 1).normal(size=np.size(layer.forward(x)))
    return layer, x, g, ["input", *layer.params]


@pytest.mark.parametrize("name", BRANCHES)
def test_branch_term_equals_loop_definition(name):
    layer, x, g, names = _case(name)
    assert has_second_order_term(layer)
    for a in names:
        for b in names:
            fast = hessian_term(layer, x, g, wrt=(a, b)).toarray()
            loop = reference_hessian_term(layer, x, g, wrt=(a, b)).toarray()
            np.testing.assert_allclose(fast, loop, rtol=1e-12, atol=1e-12, err_msg=f"{a}, {b}")


@pytest.mark.parametrize("name", ["residual-shortcut", "concat-vectors"])
def test_branch_term_equals_finite_differences_of_the_jacobian(name):
    layer, x, g, names = _case(name)
    sizes = {"input": x.size, **{n: np.size(p) for n, p in layer.params.items()}}
    step = 1e-6
    for b in names:
        columns = []
        for j in range(sizes[b]):
            plus, minus = (_perturbed(layer, x, b, j, s) for s in (step, -step))
            columns.append([(g @ plus[0].jacobian(plus[1], wrt=a) - g @ minus[0].jacobian(minus[1], wrt=a))
                            / (2 * step) for a in names])
        for i, a in enumerate(names):
            fd = np.stack([c[i] for c in columns], axis=1)
            ours = hessian_term(layer, x, g, wrt=(a, b)).toarray()
            np.testing.assert_allclose(ours, fd, rtol=1e-6, atol=1e-7, err_msg=f"{a}, {b}")


def test_linear_paths_have_no_term_and_unknown_layers_none():
    block = jc.Residual([jc.Dense(np.eye(2)), jc.ReLU()], [jc.Dense(np.eye(2))])
    T = hessian_term(block, np.array([1.0, -1.0]), np.ones(2), wrt=("input", "body.0.weight"))
    assert T.shape == (2, 4) and T.nnz > 0            # bilinear Dense: a cross term
    assert hessian_term(block, np.array([1.0, -1.0]), np.ones(2)).count_nonzero() == 0

    class Odd(jc.Tanh):
        pass

    assert has_second_order_term(jc.Add(None, Odd()))
    assert not has_second_order_term(jc.Add(None, jc.Chain([jc.Tanh(), _Unknown()])))
    with pytest.raises(NotImplementedError):
        hessian_term(jc.Add(None, _Unknown()), np.zeros(2), np.ones(2))


class _Unknown(jc.Tanh.__mro__[1]):
    """A layer with no second-order term."""

    def forward(self, x):
        return np.asarray(x) ** 3

    def jacobian(self, x, wrt="input", *, cache=None, max_bytes=None):
        return sp.csr_array(sp.diags(3 * np.ravel(x, order="F") ** 2))


# ---------------------------------------------------------------- whole networks

@pytest.fixture
def torch_one_thread():
    """torch on one thread: its many tiny second-derivative ops run several times faster
    without threads contending for the shared cores."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(before)


def _vector_net():
    """Concat of a tanh and a sigmoid path and an identity, then a dense layer and MSE."""
    d1, d2, d3 = jc.Dense(_n(3, 2), _n(2)), jc.Dense(_n(3, 2)), jc.Dense(_n(7, 2), _n(2))
    net = jc.Chain([jc.Concat([d1, jc.Tanh()], [d2, jc.Sigmoid()], None), d3, jc.Tanh(),
                    jc.MSELoss(np.array([0.3, -0.2]))])
    return net, (d1, d2, d3)


def _torch_output(torch, flat, net):
    """The network output before the loss in torch, from one flat vector of
    ``(x, W1, b1, W2, W3, b3)``, each a column-major vec as ours."""
    shapes = [(3,)] + [np.shape(p) for layer in net.layers for p in layer.params.values()]
    parts = torch.split(flat, [int(np.prod(s)) for s in shapes])
    x, w1, b1, w2, w3, b3 = (p.reshape(tuple(reversed(s))).T if len(s) == 2 else p
                             for p, s in zip(parts, shapes, strict=True))
    h = torch.cat([torch.tanh(w1.T @ x + b1), torch.sigmoid(w2.T @ x), x])
    return torch.tanh(w3.T @ h + b3)


def test_concat_network_hessian_hvp_and_ggn_equal_torch(torch_one_thread):
    torch = torch_one_thread
    net, _ = _vector_net()
    x = np.array([0.4, -1.1, 0.8])
    H = net.hessian(x, wrt="all")
    assert H.variables == ["input", (0, "0.0.weight"), (0, "0.0.bias"), (0, "1.0.weight"),
                           (1, "weight"), (1, "bias")]
    flat = np.concatenate([x] + [np.ravel(net[k].params[n], order="F") for k, n in H.variables[1:]])
    target = torch.tensor([0.3, -0.2], dtype=torch.float64)

    def loss(v):
        return ((_torch_output(torch, v, net) - target) ** 2).mean()
    expected = torch.func.hessian(loss)(torch.tensor(flat)).numpy()
    np.testing.assert_allclose(H.matrix.toarray(), expected, rtol=1e-10, atol=1e-12)
    v = np.random.default_rng(3).normal(size=flat.size)
    np.testing.assert_allclose(net.hessian_vector_product(x, v, wrt="all"), expected @ v,
                               rtol=1e-10, atol=1e-12)
    # the GGN over the parameters: J^T (2/2 I) J with torch's Jacobian of the output (MSE over 2)
    J = torch.func.jacrev(lambda p: _torch_output(torch, torch.cat([torch.tensor(x), p]), net))(
        torch.tensor(flat[3:])).numpy()
    G = net.ggn(x, wrt="params")
    np.testing.assert_allclose(G.matrix.toarray(), J.T @ J, rtol=1e-10, atol=1e-13)


# ---------------------------------------------------------------- imported torch models

def _torch_order(net, x_shape, torch_shapes, keys):
    """For each of our variables ``keys``, the positions in torch's flat vector (the input,
    then ``torch_shapes`` in order) of its vec entries."""
    from jacobian_cnn.compare.layout import from_layout

    offsets = np.cumsum([0, int(np.prod(x_shape))] + [int(np.prod(s)) for s in torch_shapes.values()])
    where = dict(zip(["input", *torch_shapes], offsets[:-1].tolist(), strict=True))
    order = [jc.vec(from_layout(np.arange(int(np.prod(x_shape))).reshape(x_shape), "NCHW")).astype(int)]
    for key in keys[1:]:
        torch_name = net.torch_names[key]
        index = np.arange(int(np.prod(torch_shapes[torch_name]))).reshape(torch_shapes[torch_name])
        ours = {4: (2, 3, 1, 0), 3: (1, 2, 0), 1: (0,)}[index.ndim]  # OIHW -> (kh, kw, I, O); CHW -> HWC
        order.append(where[torch_name] + jc.vec(index.transpose(ours)).astype(int))
    return np.concatenate(order)


def _resnet(c_in, c_out, stride):
    from test_from_torch import BasicBlock

    return BasicBlock(c_in, c_out, stride), c_in


def _normalizations(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2), nn.Tanh(),
                         nn.LayerNorm([2, 4, 4]), nn.Sigmoid()), 2


@pytest.mark.parametrize("model, training", [(lambda torch: _resnet(2, 2, 2), True),
                                             (lambda torch: _resnet(2, 2, 1), False),
                                             (_normalizations, True)],
                         ids=["resnet-downsample-train", "resnet-identity-eval", "conv-bn-tanh-ln-train"])
def test_imported_model_hessian_equals_torch(model, training, torch_one_thread):
    """Chain.hessian over the input and every parameter of an imported model (a ResNet basic
    block; conv, batch norm, layer norm) with MSE, its HVP and its GGN, against torch.

    torch.func.hessian (forward over reverse) gets blocks of the batch-norm parameters wrong in
    training mode (forward-mode second derivatives of native batch norm, pytorch/pytorch#196699;
    tests/test_second_order_terms.py), so the full reference is
    torch.autograd.functional.hessian (reverse over reverse, double backward, vectorized: the
    same numbers as its loop over rows); torch.func.hessian is the reference of the input block,
    and of everything in eval mode."""
    torch = torch_one_thread
    from test_from_torch import _randomized

    from jacobian_cnn.compare.layout import from_layout

    module, c_in = model(torch)
    model = _randomized(module, seed=1).train(training)
    x_shape = (2, c_in, 4, 4)
    net = jc.from_torch(model, x_shape)
    x_t = np.random.default_rng(2).normal(size=x_shape)
    y_t = model(torch.tensor(x_t)).detach().numpy()
    target_t = np.random.default_rng(3).normal(size=y_t.shape)
    chain = jc.Chain([*net.layers, jc.MSELoss(from_layout(target_t, "NCHW"))])
    names = [n for n, _ in model.named_parameters()]
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    flat = np.concatenate([x_t.ravel()] + [p.detach().numpy().ravel() for p in model.parameters()])
    sizes = [int(np.prod(x_shape))] + [int(np.prod(s)) for s in shapes.values()]

    def output(v):
        x, *params = torch.split(v, sizes)
        params = {n: p.reshape(shapes[n]) for n, p in zip(names, params, strict=True)}
        buffers = {n: b.clone() for n, b in model.named_buffers()}   # updated in place in training
        return torch.func.functional_call(model, {**params, **buffers}, (x.reshape(x_shape),))

    def loss(v):
        return ((output(v) - torch.tensor(target_t)) ** 2).mean()

    H = chain.hessian(from_layout(x_t, "NCHW"), wrt="all")
    assert sorted(H.variables[1:]) == sorted(net.torch_names) and len(H.variables) == len(sizes)
    order = _torch_order(net, x_shape, shapes, H.variables)
    expected = torch.autograd.functional.hessian(loss, torch.tensor(flat), vectorize=True).numpy()
    expected = expected[np.ix_(order, order)]
    scale = np.abs(expected).max()
    np.testing.assert_allclose(H.matrix.toarray(), expected, rtol=1e-10, atol=1e-10 * scale)
    n_x = sizes[0]
    if not training:
        everything = torch.func.hessian(loss)(torch.tensor(flat)).numpy()[np.ix_(order, order)]
        np.testing.assert_allclose(H.matrix.toarray(), everything, rtol=1e-10, atol=1e-10 * scale)
    input_block = torch.func.hessian(lambda x: loss(torch.cat([x, torch.tensor(flat[n_x:])])))(
        torch.tensor(flat[:n_x])).numpy()[np.ix_(order[:n_x], order[:n_x])]
    np.testing.assert_allclose(H.block("input").toarray(), input_block, rtol=1e-10, atol=1e-10 * scale)

    v = np.random.default_rng(4).normal(size=order.size)
    np.testing.assert_allclose(chain.hessian_vector_product(from_layout(x_t, "NCHW"), v, wrt="all"),
                               expected @ v, rtol=1e-10, atol=1e-10 * scale * np.abs(v).sum())
    J = torch.func.jacrev(output)(torch.tensor(flat)).numpy().reshape(y_t.size, -1)[:, order[n_x:]]
    G = chain.ggn(from_layout(x_t, "NCHW"), wrt="params")
    np.testing.assert_allclose(G.matrix.toarray(), J.T @ J * (2 / y_t.size), rtol=1e-10,
                               atol=1e-10 * scale)


def test_a_changed_inner_layer_is_not_served_from_the_remembered_term():
    bn = jc.BatchNorm2D(np.ones(1), np.zeros(1), running_var=[0.5])
    block = jc.Residual([jc.Conv2D(np.ones((1, 1, 1, 1))), bn])
    x, g = np.random.default_rng(0).normal(size=(2, 2, 1, 2)), np.arange(8.0)
    assert hessian_term(block, x, g).count_nonzero() > 0          # training: curved in x
    bn.training = False                                           # eval: linear in x
    assert hessian_term(block, x, g).count_nonzero() == 0


def test_an_input_hessian_forms_no_parameter_blocks_of_the_paths():
    """A 300 x 300 weight: its block (90,000 squared) is far over the size limit, the input
    block is not; the input Hessian equals the path's own, from the chain without the branch."""
    w = np.random.default_rng(5).normal(size=(300, 300)) / 20
    x = np.random.default_rng(6).normal(size=300)
    net = jc.Chain([jc.Residual([jc.Dense(w), jc.Tanh()]), jc.MSELoss(np.zeros(300))])
    H = net.hessian(x, max_bytes=10_000_000).matrix.toarray()
    # y = x + tanh(W^T x), L = mean(y^2): H = J^T (2/n) J + sum_k (2 y_k / n) W[:, k] t''_k W[:, k]^T
    z = w.T @ x
    t = np.tanh(z)
    y = x + t
    J = np.eye(300) + (1 - t ** 2)[:, None] * w.T
    expected = J.T @ J * (2 / 300) + (w * (2 * y / 300 * -2 * t * (1 - t ** 2))) @ w.T
    np.testing.assert_allclose(H, expected, rtol=1e-10, atol=1e-14)
    with pytest.raises(jc.errors.JacobianTooLargeError):
        net.hessian(x, wrt="all", max_bytes=10_000_000)
