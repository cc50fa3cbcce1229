"""GGN, Fisher and the diagonal Hessian against BackPACK, torch and their definitions."""

import numpy as np
import pytest
from optional import require

import jacobian_cnn as jc
from jacobian_cnn.examples import seed_cnn
from jacobian_cnn.second_order import fisher, ggn, hessian_diagonal, network_hessian
from jacobian_cnn.vec import vec


def _torch_flatten(chain):
    return [jc.Flatten("torch") if isinstance(layer, jc.Flatten) else layer for layer in chain.layers]


def seed_batch(n=3, pool="avg"):
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 4, size=n)
    net = jc.Chain([*_torch_flatten(seed_cnn(12, pool=pool)), jc.SoftmaxCrossEntropy(labels)])
    return net, rng.normal(size=(8, 8, 1, n))


def lenet_batch(n=2):
    from test_second_order_hessian import lenet5
    rng = np.random.default_rng(13)
    net = lenet5(rng)
    labels = rng.integers(0, 10, size=n)
    layers = _torch_flatten(net)[:-1]
    return jc.Chain([*layers, jc.SoftmaxCrossEntropy(labels)]), rng.normal(size=(32, 32, 1, n))


def _backpack(net, x):
    require("backpack", "BackPACK not installed (pip install --no-deps backpack-for-pytorch "
                        "einops unfoldNd)")
    import torch
    from backpack import backpack, extend
    from backpack.extensions import DiagGGNExact, DiagHessian
    from second_order_torch import to_torch_batch, torch_sequential

    body = jc.Chain(net.layers[:-1])
    model, to_ours = torch_sequential(body)
    model, lossfunc = extend(model), extend(torch.nn.CrossEntropyLoss())
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # BackPACK builds helper modules in the default
    try:
        loss = lossfunc(model(to_torch_batch(x)), torch.tensor(net.layers[-1].labels))
        with backpack(DiagGGNExact(), DiagHessian()):
            loss.backward()
    finally:
        torch.set_default_dtype(default)
    modules = [m for m in model if list(m.parameters())]
    owners = [i for i, layer in enumerate(body.layers) if layer.params]
    out = {}
    for i, module in zip(owners, modules, strict=True):
        for name, p in zip(body.layers[i].params, module.parameters(), strict=True):
            out[i, name] = (vec(to_ours[i, name](p.diag_ggn_exact.numpy())),
                            vec(to_ours[i, name](p.diag_h.numpy())))
    return out


@pytest.mark.parametrize("make", [seed_batch, lambda: seed_batch(2, "max"), lenet_batch],
                         ids=["seed-avg", "seed-max", "lenet5"])
def test_diagonals_equal_backpack(make):
    net, x = make()
    theirs = _backpack(net, x)
    diag_ggn = ggn(net, x, form="diagonal")
    diag_h = hessian_diagonal(net, x)
    assert set(theirs) == set(diag_ggn) == set(diag_h)
    for key, (their_ggn, their_h) in theirs.items():
        for ours, expected, what in ((diag_ggn[key], their_ggn, "DiagGGNExact"),
                                     (diag_h[key], their_h, "DiagHessian")):
            assert np.all(np.isfinite(ours))
            np.testing.assert_allclose(ours, expected, rtol=0,
                                       atol=1e-10 * np.abs(expected).max(), err_msg=f"{what} {key}")


def test_ggn_equals_its_definition_with_torch_jacobians():
    torch = require("torch", "torch not installed")
    from second_order_torch import torch_scalar
    from torch.func import hessian, jacrev
    net, x = seed_batch(2)
    body = net.layers[:-1]
    logits, keys, arrays = torch_scalar(body, x)
    tensors = [torch.tensor(a) for a in arrays]
    z = torch.tensor(np.asarray(jc.Chain(body).forward(x)))
    # torch's logits are (N, n_classes); ours vec(z) runs over classes first
    J = jacrev(lambda *p: logits(torch.tensor(x), *p).reshape(-1), argnums=tuple(range(len(keys))))(*tensors)
    labels = torch.tensor(net.layers[-1].labels)
    H_loss = hessian(lambda t: torch.nn.functional.cross_entropy(t, labels))(z.T.contiguous())
    n = z.numel()
    H_loss = H_loss.reshape(n, n).numpy()
    from second_order_torch import vec_block
    blocks = [vec_block(j.numpy(), (n,), arrays[k].shape) for k, j in enumerate(J)]
    Jfull = np.hstack(blocks)
    expected = Jfull.T @ H_loss @ Jfull
    G = ggn(net, x).matrix.toarray()
    np.testing.assert_allclose(G, expected, rtol=0, atol=1e-10 * np.abs(expected).max())


def test_true_fisher_equals_ggn_and_blocks_and_diagonal_agree():
    net, x = seed_batch(3)
    G = ggn(net, x)
    F = fisher(net, x, kind="true")
    np.testing.assert_allclose(F.matrix.toarray(), G.matrix.toarray(), rtol=0,
                               atol=1e-12 * abs(G.matrix).max())
    blocks, diagonal = ggn(net, x, form="blocks"), ggn(net, x, form="diagonal")
    for key in G.variables:
        np.testing.assert_allclose(blocks[key].toarray(), G.block(key).toarray(), atol=1e-14)
        np.testing.assert_allclose(diagonal[key], G.block(key).diagonal(), atol=1e-14)


def test_empirical_fisher_equals_mean_of_gradient_outer_products():
    require("torch", "torch not installed")
    from jacobian_cnn.compare.gradients import torch_gradients
    net, x = seed_batch(3)
    labels = net.layers[-1].labels
    body = jc.Chain(net.layers[:-1])
    F = fisher(net, x, kind="empirical")
    grads = []
    for n in range(x.shape[3]):
        g = torch_gradients(body, x[..., n:n + 1], labels[n:n + 1])
        grads.append(np.concatenate([vec(g.params[i][name]) for i, name in F.variables]))
    grads = np.array(grads)
    expected = grads.T @ grads / len(grads)
    np.testing.assert_allclose(F.matrix.toarray(), expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    diagonal = fisher(net, x, kind="empirical", form="diagonal")
    np.testing.assert_allclose(np.concatenate(list(diagonal.values())), np.diag(expected), atol=1e-14)


def test_ggn_of_a_linear_model_with_mse_is_its_hessian():
    net = jc.Chain([jc.Dense(np.random.default_rng(0).normal(size=(3, 2)), [0.1, 0.2]),
                    jc.MSELoss(np.ones(2))])
    x = np.array([1.0, -2.0, 0.5])
    G = ggn(net, x, "all").matrix.toarray()
    H = network_hessian(net, x, "all").matrix.toarray()
    # the Hessian has the bilinear input-weight cross term, which the GGN drops
    assert np.abs(H - G).max() > 0.1
    params = slice(3, None)
    np.testing.assert_allclose(G[params, params], H[params, params], atol=1e-15)


def test_refusals():
    net, x = seed_batch(2)
    with pytest.raises(jc.errors.InvalidValueError, match="form must be one of"):
        ggn(net, x, form="dense")
    with pytest.raises(jc.errors.InvalidValueError, match="kind must be"):
        fisher(net, x, kind="expected")
    mse = jc.Chain([jc.Dense(np.ones((2, 2))), jc.MSELoss(np.zeros(2))])
    with pytest.raises(jc.errors.InvalidValueError, match="softmax cross-entropy"):
        fisher(mse, np.ones(2))
    with pytest.raises(jc.errors.JacobianTooLargeError, match="the GGN"):
        ggn(net, x, max_bytes=10_000)
