"""The 1-D, 3-D and transposed window layers over the case table's ``GRID_CASES``.

For every case and every ``wrt``: the fast Jacobian equals the readable definition bit for
bit, the independent loop reference of ``reference_nd.py`` exactly (float64), central
finite differences, and ``torch.func.jacrev`` through the package's translation
(:mod:`jacobian_cnn.compare.torch_layers`); the chain's product kernel equals the dense
product. Beyond the table: a transposed convolution's input Jacobian is the transpose of
the matching convolution's (the 2-D one built by ``Conv2D``'s own tiled fast path), and
the bad-input and size rules.
"""

import numpy as np
import pytest
import reference_nd as ref
import scipy.sparse as sp
from test_definitions import assert_same_matrix

import jacobian_cnn as jc
from jacobian_cnn.cases import GRID_CASES

CASE_WRTS = [pytest.param(case, wrt, id=f"{case.id}-{wrt}") for case in GRID_CASES for wrt in case.wrts]


def _reference(case):
    """``(y, {wrt: J})`` of the loop reference for a case."""
    o, x, p = case.options, np.asarray(case.x(), np.float64), case.params()
    d = int(case.op[-2])
    keys = {"conv": ("stride", "padding", "dilation", "groups"),
            "convtranspose": ("stride", "padding", "output_padding", "dilation", "groups"),
            "avgpool": ("stride", "padding", "count_include_pad", "ceil_mode", "divisor_override"),
            "maxpool": ("stride", "padding", "dilation", "ceil_mode", "tie")}[case.op[:-2]]
    kw = {k: o[k] for k in keys if k in o}
    if case.op.startswith("conv"):
        f = ref.conv_transpose_nd if case.op.startswith("convtranspose") else ref.conv_nd
        y, J = f(x, p["kernel"], p.get("bias"), d, **kw)
        return y, {wrt: J[wrt] for wrt in case.wrts}
    f = ref.avgpool_nd if case.op.startswith("avg") else ref.maxpool_nd
    return f(x, d, o["window"], **kw)


@pytest.mark.parametrize("case, wrt", CASE_WRTS)
def test_fast_jacobian_equals_the_definition(case, wrt):
    layer, x = case.layer(), case.x()
    expected = layer.reference_jacobian(x, wrt)
    assert expected.has_canonical_format
    assert_same_matrix(layer.jacobian(x, wrt), expected)


@pytest.mark.parametrize("case, wrt", CASE_WRTS)
def test_matches_the_loop_reference(case, wrt):
    layer, x = case.layer(), case.x()
    J = layer.jacobian(x, wrt)
    y_ref, J_ref = _reference(case)
    assert J.shape == J_ref[wrt].shape and J.dtype == np.asarray(x).dtype
    if case.x_kind == "float32":
        np.testing.assert_allclose(J.toarray(), J_ref[wrt], rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(J.toarray(), J_ref[wrt])
        # exactly the structural nonzeros (a kernel entry may be 0 only by chance: none here)
        assert J.nnz == np.count_nonzero(J_ref[wrt]) or case.x_kind in ("ties", "zeros")
    y = layer.forward(x)
    np.testing.assert_allclose(jc.vec(y), jc.vec(y_ref), rtol=1e-6 if case.x_kind == "float32" else 1e-12,
                               atol=1e-6 if case.x_kind == "float32" else 1e-12)


@pytest.mark.parametrize("case, wrt", [p for p in CASE_WRTS if p.values[0].fd_ok])
def test_matches_finite_differences(case, wrt):
    params, x = case.params(), np.asarray(case.x(), np.float64)
    if wrt == "input":
        f, at = case.layer(params).forward, x
    else:
        def f(value):
            return case.layer({**params, wrt: value}).forward(x)
        at = params[wrt]
    report = jc.compare_jacobians(case.layer(params).jacobian(x, wrt), jc.numerical_jacobian(f, at),
                                  atol=1e-6, rtol=1e-6, structure=False)
    assert report.ok, str(report)


@pytest.mark.parametrize("case, wrt", [p for p in CASE_WRTS if p.values[0].torch])
def test_matches_torch(case, wrt, torch_ref):
    from jacobian_cnn.compare import jacobians

    layer, x = case.layer(), case.x()
    result = jacobians.compare(layer, x, wrt, backend="torch")
    assert result.ok, str(result)
    assert result.forward_error < (1e-5 if case.x_kind == "float32" else 1e-12)


@pytest.mark.parametrize("case, wrt", [p for p in CASE_WRTS if p.values[0].jax])
def test_matches_jax(case, wrt, jax_module):
    from jacobian_cnn.compare import jacobians

    result = jacobians.compare(case.layer(), case.x(), wrt, backend="jax")
    assert result.ok, str(result)
    assert result.forward_error < (1e-5 if case.x_kind == "float32" else 1e-12)


def test_transposed_convolutions_translate_to_jax_and_branches_do_not(jax_module):
    from jacobian_cnn.compare import jacobians

    result = jacobians.compare(jc.ConvTranspose1D(np.ones((2, 1, 1))), np.ones((3, 1)), backend="jax")
    assert result.ok and "lhs_dilation=(1,)" in result.reference
    with pytest.raises(TypeError, match="no jax equivalent"):
        jacobians.compare(jc.Residual(jc.Chain([jc.ReLU()])), np.ones((3, 1)), backend="jax")


@pytest.mark.parametrize("order", ["torch", "C", "F"])
@pytest.mark.parametrize("shape, spatial_ndim", [((5, 3, 2), 1), ((2, 3, 2, 3), 3)], ids=["1d-batch", "3d"])
def test_flatten_of_1d_and_3d_maps_agrees_with_jax(order, shape, spatial_ndim, jax_module):
    """The JAX translation flattens ``(N, *S, C)`` maps in the layer's order (the 2-D ones are
    in the case table); the permutation itself is held to torch by the imported 1-D/3-D models."""
    from jacobian_cnn.compare import jacobians

    x = np.random.default_rng(5).normal(size=shape)
    result = jacobians.compare(jc.Flatten(order, spatial_ndim=spatial_ndim), x, backend="jax")
    assert result.ok, str(result)


@pytest.mark.parametrize("case, wrt", CASE_WRTS)
def test_chain_product_kernel_matches_the_dense_product(case, wrt):
    from jacobian_cnn._sparse.products import times as _times

    layer, x = case.layer(), case.x()
    parts = layer._jacobian_parts(x, wrt=wrt)
    dense = parts.tocsr().toarray().astype(np.float64)
    rows = np.random.default_rng(3).normal(size=(3, dense.shape[0])).astype(parts.dtype)
    np.testing.assert_allclose(_times(rows, parts), rows.astype(np.float64) @ dense, rtol=1e-5, atol=1e-6)


MATCHING = [c for c in GRID_CASES if c.op.startswith("convtranspose")
            and all(op < s for op, s in zip(c.layer().output_padding, c.layer().stride, strict=True))]


@pytest.mark.parametrize("case", MATCHING, ids=lambda c: c.id)
def test_transposed_input_jacobian_is_the_matching_convolutions_transposed(case):
    """``J_T = J_conv^T``: the same stride, padding, dilation and groups, the kernel's channel
    axes swapped, on the transposed layer's output size (2-D: ``Conv2D``'s tiled fast path)."""
    layer, x = case.layer(), case.x()
    d = layer.spatial_ndim
    conv_class = {1: jc.Conv1D, 2: jc.Conv2D, 3: jc.Conv3D}[d]
    kernel = np.swapaxes(layer.kernel, -1, -2)
    geometry = dict(stride=layer.stride, dilation=layer.dilation, groups=layer.groups,
                    padding=layer.padding)
    conv = conv_class(kernel, **geometry)
    y = layer.forward(x)
    J_conv = conv.jacobian(np.zeros(y.shape[:d] + y.shape[d:d + 1] + np.shape(x)[d + 1:], y.dtype))
    J_T = layer.jacobian(x)
    assert J_conv.shape == J_T.shape[::-1]
    assert (J_T != J_conv.T.tocsr()).nnz == 0 and J_T.nnz == J_conv.nnz


def test_transposed_convolution_output_padding_rules():
    with pytest.raises(ValueError, match="output_padding"):
        jc.ConvTranspose2D(np.ones((3, 3, 1, 1)), stride=2, output_padding=2)
    layer = jc.ConvTranspose1D(np.ones((3, 1, 1)), stride=1, dilation=2, output_padding=1)
    assert layer.forward(np.ones((4, 1))).shape == (4 - 1 + 2 * 2 + 1 + 1, 1)  # allowed: op < dilation
    with pytest.raises(ValueError, match="no output"):
        jc.ConvTranspose1D(np.ones((1, 1, 1)), padding=1).forward(np.ones((1, 1)))


@pytest.mark.parametrize("make, x_shape, match", [
    (lambda: jc.Conv1D(np.ones((2, 3, 1))), (5, 2), "channels"),
    (lambda: jc.Conv3D(np.ones((2, 2, 2, 1, 1))), (3, 3, 1), "must be"),
    (lambda: jc.ConvTranspose3D(np.ones((2, 2, 2, 2, 1))), (2, 2, 2, 3), "channels"),
    (lambda: jc.MaxPool1D(2, padding=((2, 0),)), (3, 1), "entirely in the padding"),
    (lambda: jc.AvgPool3D(4), (3, 5, 5, 1), "spans 4"),
])
def test_bad_inputs_are_refused_with_a_message(make, x_shape, match):
    with pytest.raises(ValueError, match=match):
        make().forward(np.ones(x_shape))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="kernel must be"):
        jc.Conv1D(np.ones((2, 2)))
    with pytest.raises(ValueError, match="groups"):
        jc.ConvTranspose1D(np.ones((2, 3, 1)), groups=2)
    with pytest.raises(TypeError, match="stride"):
        jc.MaxPool3D(2, stride=(1, 2))
    with pytest.raises(ValueError, match="padding='same'"):
        jc.Conv1D(np.ones((2, 1, 1)), padding="same", stride=2)


def test_size_limits_are_checked_before_allocating():
    conv = jc.Conv3D(np.ones((3, 3, 3, 4, 8)), padding=1)
    with pytest.raises(jc.JacobianTooLargeError, match="max_bytes"):
        conv.jacobian(np.ones((8, 8, 8, 4)), max_bytes=10_000)
    with pytest.raises(jc.SizeLimitError, match="max_bytes"):
        jc.ConvTranspose2D(np.ones((3, 3, 1, 1))).forward(np.ones((30, 30)), max_bytes=1000)


def test_a_window_setting_changed_after_construction_is_used():
    pool = jc.AvgPool1D(2)
    x = np.arange(6.).reshape(6, 1)
    assert pool.forward(x).shape == (3, 1)
    pool.stride = 1
    assert pool.forward(x).shape == (5, 1)
    up = jc.ConvTranspose1D(np.ones((2, 1, 1)))
    up.stride = 3
    assert up.forward(np.ones((2, 1))).shape == (5, 1)


def test_a_one_channel_map_keeps_the_output_channels():
    """As ``Conv2D``: an ``(H, W)`` input gives ``(Ho, Wo)`` for one output channel, else ``(Ho, Wo, C)``."""
    x = np.arange(4.).reshape(2, 2)
    one = jc.ConvTranspose2D(np.ones((2, 2, 1, 1))).forward(x)
    assert one.shape == (3, 3)
    y = jc.ConvTranspose2D(np.ones((2, 2, 1, 3))).forward(x)
    assert y.shape == (3, 3, 3) and np.array_equal(y[..., 2], one)


def test_max_pool_switches_pass_back_as_cache():
    pool, x = jc.MaxPool3D(2, stride=1), np.random.default_rng(0).normal(size=(3, 3, 3, 2))
    y, switches = pool.forward_with_cache(x)
    np.testing.assert_array_equal(jc.vec(y), jc.vec(x)[jc.vec(switches)])
    J = pool.jacobian(x, cache=switches)
    assert (J != pool.jacobian(x)).nnz == 0
    with pytest.raises(ValueError, match="its own window"):
        pool.jacobian(x, cache=np.zeros_like(switches))


def test_jacobians_are_canonical_csr_in_the_input_precision():
    x = np.ones((4, 4, 4, 2), np.float32)
    for layer in (jc.Conv3D(np.ones((2, 2, 2, 2, 3))), jc.AvgPool3D(2), jc.MaxPool3D(2)):
        J = layer.jacobian(x)
        assert isinstance(J, sp.csr_array) and J.has_canonical_format and J.dtype == np.float32
