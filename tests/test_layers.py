"""Generic checks run over every case in ``cases.CASES`` and ``cases.PARITY_CASES``.

Each Jacobian (wrt the input and every parameter) is compared with central finite
differences, with the brute-force loop reference of ``reference.py`` and with
``torch.func.jacrev``; the stored entries must be exactly the structural nonzeros.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from cases import CASES, OPS, PARITY_CASES, pick

import jacobian_cnn as jc

ALL_CASES = CASES + PARITY_CASES
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


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.op == "max"], ids=lambda c: c.id)
def test_max_pool_switches_match_reference(case, torch_ref):
    import reference as ref

    o, x = case.options, case.x()
    layer = OPS["max"].make({}, o)
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
