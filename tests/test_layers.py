"""Generic checks run over every case of the table (``cases.ALL_CASES``).

Each Jacobian (wrt the input and every parameter) is compared with central finite
differences, with the brute-force loop reference of ``reference.py`` and with
``torch.func.jacrev``; the stored entries must be exactly the structural nonzeros.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from cases import ALL_CASES, OPS, pick

import jacobian_cnn as jc

CASE_WRTS = [pytest.param(case, wrt, id=f"{case.id}-{wrt}")
             for case in ALL_CASES for wrt in OPS[case.op].wrts
             if wrt == "input" or wrt in case.params()]


def _jacobian(case, wrt):
    op = OPS[case.op]
    params, x = case.params(), case.x()
    return op.make(params, case.options).jacobian(x, wrt=wrt), x, params


def _tolerance(case):
    return {"atol": 1e-5, "rtol": 1e-5} if case.x_kind == "float32" else {"atol": 1e-10, "rtol": 1e-9}


@pytest.mark.parametrize("case, wrt", CASE_WRTS)
def test_matches_bruteforce_reference_exactly_in_structure(case, wrt):
    J, x, params = _jacobian(case, wrt)
    expected = OPS[case.op].reference(np.asarray(x, np.float64), params, case.options)[wrt]
    assert isinstance(J, sp.csr_array) and J.has_canonical_format
    assert J.shape == expected.shape
    report = jc.compare_jacobians(J, expected, **_tolerance(case))
    assert report.ok, str(report)
    if "loop" in case.bit_identical_to and case.x_kind != "float32":  # float32 cases are computed in float32
        np.testing.assert_array_equal(J.toarray(), np.asarray(expected))


@pytest.mark.parametrize("case, wrt", CASE_WRTS)
def test_matches_finite_differences(case, wrt):
    if not case.fd_ok:
        pytest.skip("ties: the function is not differentiable there (checked by the references)")
    op = OPS[case.op]
    params, x = case.params(), np.asarray(case.x(), np.float64)
    if wrt == "input":
        f, at = op.make(params, case.options).forward, x
    else:
        def f(value):
            return op.make({**params, wrt: value}, case.options).forward(x)
        at = params[wrt]
    J = op.make(params, case.options).jacobian(x, wrt=wrt)
    report = jc.compare_jacobians(J, jc.numerical_jacobian(f, at), atol=1e-6, rtol=1e-6,
                                  structure=False)
    assert report.ok, str(report)


@pytest.mark.parametrize("case, wrt", [c for c in CASE_WRTS if c.values[0].torch])
def test_matches_torch_autograd(case, wrt, torch_ref):
    J, x, params = _jacobian(case, wrt)
    expected = OPS[case.op].torch(torch_ref, np.asarray(x, np.float64), params, case.options)[wrt]
    report = jc.compare_jacobians(J, np.asarray(expected), **_tolerance(case))
    assert report.ok, str(report)


@pytest.mark.parametrize("case, wrt", CASE_WRTS)
def test_chain_product_kernel_matches_the_dense_product(case, wrt):
    """``rows @ J`` as the chain computes it (from the CSR arrays, by form) is the plain product."""
    from jacobian_cnn._sparse.products import times as _times

    layer, x = OPS[case.op].make(case.params(), case.options), case.x()
    parts = layer._jacobian_parts(x, wrt=wrt)
    dense = parts.tocsr().toarray().astype(np.float64)
    for k in (0, 1, 3):
        rows = np.random.default_rng(k).normal(size=(k, dense.shape[0])).astype(parts.dtype)
        expected = rows.astype(np.float64) @ dense
        ours = _times(rows, parts)
        assert ours.shape == expected.shape and ours.dtype == parts.dtype
        scale = np.abs(rows).max(initial=1) * np.abs(dense).sum(axis=0).max(initial=1)
        tol = (1e-6 if parts.dtype == np.float32 else 1e-13) * scale
        np.testing.assert_allclose(ours, expected, rtol=0, atol=tol)


def _structure_of_form(form, m, n):
    """The (indptr, indices) a CSR array of ``form`` must have, written out independently."""
    if form == "diagonal":
        return np.arange(n + 1), np.arange(n)
    if form == "dense":
        return np.arange(m + 1) * n, np.tile(np.arange(n), m)
    if form == "row_blocks":
        return np.arange(m + 1) * (n // m), np.arange(n)
    if form == "column_blocks":
        return np.arange(m + 1), np.repeat(np.arange(n), m // n)
    raise AssertionError(f"no structure written for form {form!r}")


def _claimed_form(case, wrt):
    return OPS[case.op].make(case.params(), case.options)._jacobian_parts(case.x(), wrt=wrt).form


# "general" promises nothing beyond canonical CSR (checked everywhere): only the other forms
FORM_CASE_WRTS = [c for c in CASE_WRTS if _claimed_form(*c.values) != "general"]


@pytest.mark.parametrize("case, wrt", FORM_CASE_WRTS)
def test_claimed_form_is_the_stored_structure(case, wrt):
    """A CSRParts' form promises a structure the chain's product relies on: check it."""
    layer, x = OPS[case.op].make(case.params(), case.options), case.x()
    parts = layer._jacobian_parts(x, wrt=wrt)
    J = layer.jacobian(x, wrt=wrt)
    m, n = J.shape
    if parts.form in ("window", "stacked"):  # written from the tile layout / per-sample blocks
        expected = layer.reference_jacobian(x, wrt)
        expected = expected.indptr, expected.indices
    else:
        assert parts.form != "diagonal" or m == n
        assert (n % m if parts.form == "row_blocks" else m % n if parts.form == "column_blocks" else 0) == 0
        expected = _structure_of_form(parts.form, m, n)
    np.testing.assert_array_equal(J.indptr, expected[0])
    np.testing.assert_array_equal(J.indices, expected[1])


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_forward_matches_reference(case):
    """The forward pass agrees with the loop reference, in the input's precision."""
    params, x = case.params(), case.x()
    layer = OPS[case.op].make(params, case.options)
    y = np.asarray(layer.forward(x))
    expected = OPS[case.op].forward(np.asarray(x, np.float64), params, case.options)
    tol = 1e-5 if case.x_kind == "float32" else 1e-12
    np.testing.assert_allclose(jc.vec(y), jc.vec(expected), rtol=tol, atol=tol)
    if case.x_kind == "float32":
        assert y.dtype == np.float32
        assert layer.jacobian(x).dtype == np.float32


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.op == "maxpool"], ids=lambda c: c.id)
def test_max_pool_switches_match_reference(case, torch_ref):
    import reference as ref

    o, x = case.options, case.x()
    layer = OPS["maxpool"].make({}, o)
    args = (o["window"], o.get("stride", o["window"]), o.get("padding", 0))
    kwargs = pick(o, ("dilation", "pad_value", "ceil_mode"))
    _, expected = ref.maxpool2d(np.asarray(x, np.float64), *args, **kwargs,
                                tie=o.get("tie", "column_major"))
    switches = layer.switches(x)
    np.testing.assert_array_equal(jc.vec(switches), jc.vec(expected))
    # The Jacobian is built from the switches the forward pass returns.
    y, cache = layer.forward_with_cache(x)
    np.testing.assert_array_equal(cache, switches)
    won = jc.vec(switches) >= 0
    np.testing.assert_array_equal(jc.vec(y)[won], jc.vec(x)[jc.vec(switches)[won]])
    if case.torch:
        torch_switches = torch_ref.maxpool2d_switches(np.asarray(x, np.float64), *args, **kwargs)
        np.testing.assert_array_equal(jc.vec(switches), jc.vec(torch_switches))


@pytest.mark.parametrize("case", [c for c in ALL_CASES if "loop" not in c.bit_identical_to],
                         ids=lambda c: c.id)
def test_a_case_declared_not_bit_identical_to_the_loop_really_differs(case):
    """The table's declaration stays minimal: drop it from a case that became bit-identical."""
    params, x = case.params(), case.x()
    layer, ref = OPS[case.op].make(params, case.options), OPS[case.op].reference(x, params, case.options)
    assert any(not np.array_equal(layer.jacobian(x, wrt=wrt).toarray(), np.asarray(expected))
               for wrt, expected in ref.items())


@pytest.mark.parametrize("make, change", [
    (lambda: jc.AvgPool2D(2, stride=2), {"stride": 1}),
    (lambda: jc.MaxPool2D(2), {"padding": 1, "stride": (1, 2)}),
    (lambda: jc.Conv2D(np.arange(1.0, 7.0).reshape(2, 3), stride=2), {"stride": 1, "dilation": (2, 1)}),
    (lambda: jc.Conv2D(np.arange(1.0, 5.0).reshape(2, 2)), {"padding": 1, "padding_mode": "reflect"}),
], ids=["avg-stride", "max-padding-stride", "conv-stride-dilation", "conv-padding-mode"])
def test_a_window_setting_changed_after_construction_is_used(make, change):
    """Setting stride, padding ... on a built layer re-makes its window (no stale geometry)."""
    layer, x = make(), np.random.default_rng(0).normal(size=(6, 7))
    layer.jacobian(x)  # the first window is in use
    for name, value in change.items():
        setattr(layer, name, value)
    fresh = type(layer)(*([layer.kernel] if isinstance(layer, jc.Conv2D) else [layer.window]),
                        **{k: getattr(layer, k) for k in ("stride", "padding", "dilation")},
                        **({"padding_mode": layer.padding_mode} if isinstance(layer, jc.Conv2D) else {}))
    np.testing.assert_array_equal(layer.jacobian(x).toarray(), fresh.jacobian(x).toarray())
    assert layer.forward(x).shape == fresh.forward(x).shape


def test_a_bad_window_setting_is_refused_when_set():
    pool = jc.AvgPool2D(2)
    with pytest.raises(ValueError, match="stride"):
        pool.stride = 0
