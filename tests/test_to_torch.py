"""``jc.to_torch``: native ``torch.nn`` modules, a round trip through ``jc.from_torch``, the
model used as any PyTorch model, and the translated fallback for layers no module expresses.

The round trip ``from_torch(to_torch(net, shape), shape)`` must give ``net`` back (same layers,
same parameters, same forward pass and Jacobian); the PyTorch model itself is compared with
autograd by ``check_against_torch`` of ``test_nd_architectures`` (forward, ``jacrev``
Jacobian, every parameter gradient within 1e-10).
"""

import numpy as np
import pytest

import jacobian_cnn as jc

torch = pytest.importorskip("torch")
nn = torch.nn

from test_nd_architectures import _ours, check_against_torch  # noqa: E402

RNG = np.random.default_rng(20)


def _normal(*shape):
    return RNG.normal(size=shape)


def maps_2d():
    return jc.Chain([
        jc.Conv2D(_normal(3, 3, 2, 3), _normal(3), padding=1, padding_mode="reflect"),
        jc.BatchNorm2D(RNG.uniform(0.5, 1.5, 3), _normal(3), running_mean=_normal(3),
                       running_var=RNG.uniform(0.5, 2.0, 3), training=False),
        jc.LeakyReLU(0.1), jc.MaxPool2D(2, tie="row_major"),
        jc.Residual([jc.ReLU(), jc.Conv2D(_normal(3, 3, 3, 3), padding=1)]),
        jc.Concat([jc.Conv2D(_normal(1, 1, 3, 2))], None),
        jc.ConstantPad2D(((1, 0), (0, 1)), value=0.5),
        jc.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
        jc.AdaptiveAvgPool2D((3, 2)), jc.LayerNorm((3, 2, 5), _normal(3, 2, 5), _normal(3, 2, 5)),
        jc.Flatten("torch"), jc.Dense(_normal(30, 4), _normal(4)), jc.GELU("tanh"), jc.LogSoftmax()])


def maps_1d():
    return jc.Chain([
        jc.Conv1D(_normal(3, 2, 4), _normal(4), padding=1, dilation=1), jc.Tanh(),
        jc.MaxPool1D(2, tie="row_major"),
        jc.ConvTranspose1D(_normal(3, 4, 1), _normal(2), stride=2, groups=2),
        jc.AvgPool1D(2, stride=1, padding=1, count_include_pad=False),
        jc.Flatten("torch", spatial_ndim=1), jc.Dense(_normal(12, 3))])


def maps_3d():
    return jc.Chain([
        jc.Conv3D(_normal(2, 2, 2, 1, 2), _normal(2), padding=1), jc.Sigmoid(),
        jc.MaxPool3D(2, ceil_mode=True, tie="row_major"), jc.AvgPool3D(2, stride=1, padding=1),
        jc.ConvTranspose3D(_normal(2, 2, 2, 2, 1), _normal(1), stride=2, padding=1, output_padding=1),
        jc.Flatten("torch", spatial_ndim=3)])


@pytest.mark.parametrize("build, shape", [(maps_2d, (2, 2, 6, 6)), (maps_1d, (2, 2, 5)),
                                          (maps_3d, (1, 1, 3, 3, 3))], ids=["2d", "1d", "3d"])
def test_round_trip_gives_the_network_back(build, shape):
    net = build()
    model = jc.to_torch(net, shape)
    assert not any(type(m).__name__ == "Translated" for m in model.modules())  # all native
    back = check_against_torch(model, shape)  # the torch model against autograd, imported
    assert repr(back) == repr(net)
    x = _ours(RNG.normal(size=shape))
    np.testing.assert_allclose(back.forward(x), net.forward(x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(back.jacobian(x).toarray(), net.jacobian(x).toarray(), rtol=0, atol=1e-12)
    for ours, theirs in zip(net.layers, back.layers, strict=True):
        assert ours.params.keys() == theirs.params.keys()
        for name, value in ours.params.items():
            np.testing.assert_array_equal(theirs.params[name], value, err_msg=name)


def more_2d():
    return jc.Chain([
        jc.Conv2D(_normal(2, 3, 2, 4), padding="same"),
        jc.AvgPool2D(2, ceil_mode=True, divisor_override=3), jc.ZeroPad2D(((0, 1), (2, 0))),
        jc.ReflectionPad2D(1), jc.ReplicationPad2D(((1, 0), (0, 1))),
        jc.Add(jc.Conv2D(_normal(1, 1, 4, 4)), None, [jc.Tanh(), jc.Conv2D(_normal(3, 3, 4, 4), padding=1)]),
        jc.ConvTranspose2D(_normal(3, 2, 4, 3), _normal(3), stride=(2, 1), padding=(1, 0),
                           output_padding=(1, 0)),
        jc.Upsample(size=(5, 4)), jc.BatchNorm2D(_normal(3), training=False), jc.GlobalAvgPool2D(),
        jc.Flatten("torch"), jc.Dense(_normal(3, 4)), jc.LayerNorm((4,), _normal(4)), jc.Softmax()])


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # PyTorch's, on the even kernel
def test_round_trip_of_more_layers_is_the_same_function():
    """An Add of three paths comes back as nested sums, GlobalAvgPool2D as AdaptiveAvgPool2D."""
    net, shape = more_2d(), (2, 2, 5, 5)
    model = jc.to_torch(net, shape)
    assert not any(type(m).__name__ == "Translated" for m in model.modules())
    back = check_against_torch(model, shape)
    x = _ours(RNG.normal(size=shape))
    np.testing.assert_allclose(back.forward(x), net.forward(x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(back.jacobian(x).toarray(), net.jacobian(x).toarray(), rtol=0, atol=1e-12)


def test_the_model_is_an_ordinary_torch_model():
    net = maps_1d()
    model = jc.to_torch(net, (2, 2, 5))
    state = model.state_dict()
    assert state["0.weight"].shape == (4, 2, 3) and state["3.weight"].shape == (4, 1, 3)  # OIL, IOL
    np.testing.assert_array_equal(state["0.weight"].numpy(), net[0].kernel.transpose(2, 1, 0))
    twin = jc.to_torch(maps_1d(), (2, 2, 5))
    twin.load_state_dict(state)
    x = torch.tensor(RNG.normal(size=(2, 2, 5)))
    torch.testing.assert_close(twin(x), model(x), rtol=0, atol=0)
    torch.optim.SGD(model.parameters(), lr=0.1).zero_grad()  # parameters an optimizer takes
    assert sum(p.numel() for p in model.parameters()) == sum(
        np.size(v) for layer in net.layers for v in layer.params.values())


def test_layers_without_a_native_module_run_their_translation():
    mask = (RNG.uniform(size=(4, 4, 2, 2)) > 0.3).astype(float)
    net = jc.Chain([jc.Conv2D(_normal(2, 2, 2, 2), padding=((1, 0), (0, 1))),  # asymmetric
                    jc.Dropout(0.3, mask), jc.MaxPool2D(2, pad_value=0.0), jc.Flatten("C"),
                    jc.Dense(_normal(8, 3))])
    model = jc.to_torch(net, (2, 2, 4, 4))
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Translated", "Translated", "Translated", "Translated", "Linear"]
    assert "F.pad" in repr(model[0]) and [n for n, _ in model.named_parameters()][0] == "0.kernel"
    x = RNG.normal(size=(2, 2, 4, 4))
    y = model(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(y.T, net.forward(_ours(x)), rtol=0, atol=1e-12)
    with pytest.raises(TypeError, match="from_torch cannot convert the graph operation"):
        jc.from_torch(model, (2, 2, 4, 4))


@pytest.mark.parametrize("spatial_ndim", [1, 3])
@pytest.mark.parametrize("order", ["F", "C", "torch"])
def test_flatten_of_n_d_maps_against_torch_and_the_loop_reference(spatial_ndim, order):
    from jacobian_cnn.compare.jacobians import compare

    layer = jc.Flatten(order, spatial_ndim=spatial_ndim)
    x = RNG.normal(size=(3, 2, 2, 3, 2)[3 - spatial_ndim:])  # (*S, C, N)
    assert compare(jc.Chain([layer, jc.Tanh()]), x, backend="torch").ok
    np.testing.assert_array_equal(layer.jacobian(x).toarray(), layer.reference_jacobian(x).toarray())
    if order == "torch":  # PyTorch's nn.Flatten of the (N, C, *S) batch, written out
        theirs = np.moveaxis(x, (-1, -2), (0, 1)).reshape(x.shape[-1], -1)
        np.testing.assert_array_equal(layer.forward(x), theirs.T)
    if spatial_ndim == 1:  # the symbolic rule reads the same (*S, C, N) axes (one sample: N = 1)
        from jacobian_cnn.symbolic import symbolic_jacobian

        one = x[..., 0]
        matrix = np.array(symbolic_jacobian(layer, one).matrix.tolist(), dtype=float)
        np.testing.assert_array_equal(matrix, layer.jacobian(one).toarray())
    with pytest.raises(ValueError, match=f"spatial_ndim={spatial_ndim}"):
        layer.forward(np.zeros((2,) * (spatial_ndim + 3)))
