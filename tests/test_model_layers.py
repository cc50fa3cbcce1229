"""Branch layers in chains, batch-norm running statistics, and the structure of the new Jacobians.

The case table (``MODEL_CASES``) checks each new layer against finite differences, a loop
reference and torch; here: what the table cannot say.
"""

import numpy as np
import pytest
import scipy.sparse as sp

import jacobian_cnn as jc

rng = np.random.default_rng(0)


def _block():
    body = [jc.Conv2D(rng.normal(size=(3, 3, 2, 2)), rng.normal(size=2), padding=1),
            jc.BatchNorm2D(rng.uniform(0.5, 1.5, size=2), rng.normal(size=2)), jc.ELU()]
    return jc.Residual(body, [jc.Conv2D(rng.normal(size=(1, 1, 2, 2)))])


def test_chain_backward_through_a_branch_equals_the_rows_times_its_jacobians():
    """The rows pushed through each path equal g @ J of the branch layer's own (full) Jacobians."""
    block = _block()
    net = jc.Chain([block, jc.Flatten(), jc.Dense(rng.normal(size=(4 * 4 * 2, 3)))])
    x = rng.normal(size=(4, 4, 2, 2))
    g = rng.normal(size=(2, 6))
    grads = net.backward(x, g)
    h = block.forward(x)
    rows_at_h = g @ net[2].jacobian(net[1].forward(h)).toarray() @ net[1].jacobian(h).toarray()
    np.testing.assert_allclose(grads.input, rows_at_h @ block.jacobian(x).toarray(), rtol=1e-12, atol=1e-12)
    assert list(grads.params[0]) == list(block.params) == [
        "body.0.kernel", "body.0.bias", "body.1.gamma", "body.1.beta", "shortcut.0.kernel"]
    for name in block.params:
        np.testing.assert_allclose(grads.params[0][name], rows_at_h @ block.jacobian(x, name).toarray(),
                                   rtol=1e-12, atol=1e-12, err_msg=name)


def test_a_branch_jacobian_is_the_sum_of_its_paths_and_equals_its_definition():
    block = _block()
    x = rng.normal(size=(4, 4, 2, 2))
    body, shortcut = block.paths
    expected = body.jacobian(x) + shortcut.jacobian(x)
    J = block.jacobian(x)
    assert isinstance(J, sp.csr_array) and J.has_canonical_format
    np.testing.assert_allclose(J.toarray(), expected.toarray(), rtol=1e-13, atol=1e-13)
    for wrt in ("input", *block.params):
        reference = block.reference_jacobian(x, wrt)
        J = block.jacobian(x, wrt)
        np.testing.assert_array_equal(J.indices, reference.indices)
        np.testing.assert_array_equal(J.data, reference.data)
    numeric = jc.numerical_jacobian(block.forward, x)
    np.testing.assert_allclose(block.jacobian(x).toarray(), numeric, atol=1e-6)


def test_the_trace_lists_the_products_inside_each_path():
    net = jc.Chain([_block(), jc.GlobalAvgPool2D()])
    trace = net.trace(rng.normal(size=(4, 4, 2, 1)))
    labels = [(step.layer_index, step.layer.split(" ")[0], step.wrt) for step in trace]
    assert labels == [(1, "GlobalAvgPool2D()", "input"),
                      (0, "body.2", "input"), (0, "body.1", "gamma"), (0, "body.1", "beta"),
                      (0, "body.1", "input"), (0, "body.0", "kernel"), (0, "body.0", "bias"),
                      (0, "body.0", "input"), (0, "shortcut.0", "kernel"), (0, "shortcut.0", "input")]


def test_concat_places_each_path_in_its_channels():
    conv = jc.Conv2D(rng.normal(size=(1, 1, 2, 3)))
    cat = jc.Concat(None, conv)
    x = rng.normal(size=(2, 3, 2, 2))
    y = cat.forward(x)
    np.testing.assert_array_equal(y[:, :, :2], x)
    np.testing.assert_array_equal(y[:, :, 2:], conv.forward(x))
    J = cat.jacobian(x).toarray()
    rows = np.arange(y.size).reshape(y.shape, order="F")
    np.testing.assert_array_equal(J[jc.vec(rows[:, :, :2])], np.eye(x.size))
    np.testing.assert_allclose(J[jc.vec(rows[:, :, 2:])], conv.jacobian(x).toarray(), rtol=0, atol=0)


def test_batch_norm_running_statistics_follow_pytorch_and_stay_out_of_forward():
    torch = pytest.importorskip("torch")
    x = rng.normal(size=(3, 4, 2, 5))
    layer = jc.BatchNorm2D(np.ones(2), momentum=0.3)
    before = layer.running_mean.copy()
    layer.forward(x), layer.jacobian(x)
    np.testing.assert_array_equal(layer.running_mean, before)  # forward and jacobian do not update
    module = torch.nn.BatchNorm2d(2, momentum=0.3).double()
    module(torch.tensor(x.transpose(3, 2, 0, 1)))
    layer.update_running_statistics(x)
    np.testing.assert_allclose(layer.running_mean, module.running_mean.numpy(), rtol=1e-14)
    np.testing.assert_allclose(layer.running_var, module.running_var.numpy(), rtol=1e-14)


def test_training_batch_norm_has_one_dense_block_per_channel():
    x = rng.normal(size=(2, 3, 2, 2))  # 12 entries per channel, 2 channels
    J = jc.BatchNorm2D(np.ones(2)).jacobian(x)
    assert J.nnz == 2 * 12 * 12
    channel = jc.vec(np.broadcast_to(np.arange(2)[None, None, :, None], x.shape))
    rows, cols = J.nonzero()
    assert np.all(channel[rows] == channel[cols])
    eval_J = jc.BatchNorm2D(np.ones(2), training=False).jacobian(x)
    assert eval_J.nnz == x.size and np.all(eval_J.diagonal() > 0)


def test_dropout_stores_only_the_kept_units():
    mask = np.array([[1., 0.], [0., 1.]])
    J = jc.Dropout(0.25, mask).jacobian(np.ones((2, 2)))
    assert J.nnz == 2
    np.testing.assert_array_equal(J.diagonal(), jc.vec(mask) / 0.75)
