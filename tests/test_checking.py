"""The checkers fail on NaN and inf, compare sparse Jacobians without densifying them,
and the window geometry's closed-form sizes equal what its tables hold."""

import itertools
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import jacobian_cnn as jc
from jacobian_cnn.ops.geometry import WindowGeometry

NON_FINITE = [np.nan, np.inf, -np.inf]


@pytest.mark.parametrize("bad", NON_FINITE)
@pytest.mark.parametrize("side", ["J", "J_ref"])
@pytest.mark.parametrize("sparse", [False, True])
def test_a_non_finite_entry_fails_and_is_named(bad, side, sparse):
    J, J_ref = np.eye(3), np.eye(3)
    (J if side == "J" else J_ref)[1, 2] = bad
    if sparse:
        J, J_ref = sp.csr_array(J), sp.csr_array(J_ref)
    # Tolerances so wide that any finite pair would pass.
    report = jc.compare_jacobians(J, J_ref, atol=1e300, rtol=1e300)
    assert not report.ok
    assert report.n_non_finite == 1
    label, got, want = report.non_finite[0]
    assert label == "d y[1] / d x[2]"
    assert f"not finite in {side})" in str(report)
    with pytest.raises(AssertionError, match=r"d y\[1\] / d x\[2\]"):
        jc.assert_jacobian_close(J, J_ref, atol=1e300, rtol=1e300)


@pytest.mark.parametrize("bad", NON_FINITE)
def test_equal_non_finite_entries_still_fail(bad):
    J = np.array([[bad, 0.0]])
    report = jc.compare_jacobians(J, J.copy(), structure=False)
    assert not report.ok and "not finite in J and J_ref" in str(report)


def test_nan_does_not_hide_in_the_error_summary():
    report = jc.compare_jacobians(np.array([[np.nan, 1.0]]), np.array([[0.0, 1.0]]))
    assert not report.ok and "MISMATCH" in str(report)
    assert np.isfinite(report.max_abs_error) and np.isfinite(report.max_rel_error)


def _reference_failures(got, want, atol, rtol):
    """Failing entries by a plain loop over every entry (the rule of the docstring)."""
    return {(i, j) for i, j in itertools.product(range(got.shape[0]), range(got.shape[1]))
            if abs(got[i, j] - want[i, j]) > atol + rtol * abs(want[i, j])}


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**32 - 1),
       st.floats(0.0, 0.5), st.floats(0.0, 0.5))
def test_sparse_comparison_on_the_union_equals_the_entrywise_rule(m, n, seed, atol, rtol):
    rng = np.random.default_rng(seed)
    got = rng.normal(size=(m, n)) * (rng.random((m, n)) < 0.5)
    want = got + rng.normal(size=(m, n)) * (rng.random((m, n)) < 0.3)
    expected = _reference_failures(got, want, atol, rtol)
    for J, J_ref in [(sp.csr_array(got), sp.csr_array(want)), (got, want),
                     (sp.coo_array(got), want), (got, sp.csc_array(want))]:
        report = jc.compare_jacobians(J, J_ref, atol=atol, rtol=rtol, structure=False,
                                      n_worst=m * n)
        assert report.ok == (not expected)
        assert len(report.worst) == len(expected)
        abs_err = np.abs(got - want).max()
        assert report.max_abs_error == abs_err


def test_structural_mismatches_counted_on_the_union():
    # J stores a 0.5 where J_ref has nothing, and lacks J_ref's 2.0: two mismatches.
    J = sp.csr_array(([1.0, 0.5], ([0, 0], [0, 1])), shape=(2, 2))
    J_ref = sp.csr_array(([1.0, 2.0], ([0, 1], [0, 1])), shape=(2, 2))
    report = jc.compare_jacobians(J, J_ref, atol=1e-9)
    assert report.structural_mismatches == 2 and not report.ok


def test_sparse_identities_are_compared_without_densifying():
    n = 200_000  # dense copies would take 320 GB
    J, J_ref = sp.eye_array(n, format="csr"), sp.eye_array(n, format="csr")
    tracemalloc.start()
    report = jc.compare_jacobians(J, J_ref)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert report.ok and report.shape == (n, n)
    assert peak < 200 * n  # some arrays of n entries: O(nnz), not O(n**2)


@pytest.mark.parametrize("eps", [0, 0.0, 1e-20, -1e-6, np.nan, np.inf])
def test_numerical_jacobian_refuses_a_useless_step(eps):
    with pytest.raises(ValueError, match="eps must be"):
        jc.numerical_jacobian(np.sin, np.ones(3), eps=eps)


def test_numerical_jacobian_smallest_step_still_works():
    x = np.array([0.3, -1.2])
    eps = jc.checking.min_eps(x)
    J = jc.numerical_jacobian(np.sin, x, eps=eps)
    np.testing.assert_allclose(J, np.diag(np.cos(x)), rtol=1e-2)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 4), st.integers(1, 4),
       st.tuples(st.integers(1, 3), st.integers(1, 3)), st.tuples(st.integers(1, 3), st.integers(1, 3)),
       st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
       st.sampled_from(["zeros", "reflect", "replicate", "circular"]), st.booleans())
def test_closed_form_sizes_equal_the_tables(h, w, kh, kw, stride, dilation, pad, mode, ceil):
    try:
        geo = WindowGeometry.from_args((h, w), (kh, kw), stride=stride, dilation=dilation,
                                       padding=((pad[0], pad[1]), (pad[2], pad[3])),
                                       padding_mode=mode, ceil_mode=ceil)
    except ValueError:
        return
    rows, cols = geo.positions  # the plain (output, tap) -> (row, col) table
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    in_padded = (rows >= -pad[0]) & (rows < h + pad[1]) & (cols >= -pad[2]) & (cols < w + pad[3])
    np.testing.assert_array_equal(geo.in_padded, in_padded)
    reads = in_padded if geo.taps_may_repeat else inside
    np.testing.assert_array_equal(geo.valid, reads)
    np.testing.assert_array_equal(geo.taps[inside], (rows + cols * h)[inside])
    assert geo.n_valid == int(reads.sum())
    np.testing.assert_array_equal(geo.valid_counts, reads.sum(axis=1))
    np.testing.assert_array_equal(geo.padded_counts, in_padded.sum(axis=1))
    assert geo.table_bytes() >= geo.taps.nbytes + geo.valid.nbytes
