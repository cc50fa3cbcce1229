"""The fast Jacobian of every case equals its readable definition, bit for bit.

Each op module holds a readable definition of its Jacobians (entries ``(row, column,
term)``, :mod:`jacobian_cnn.ops.layer`), evaluated by ``Layer.reference_jacobian``. For
every case of ``cases.CASES + cases.PARITY_CASES`` and every ``wrt``, ``layer.jacobian``
must store exactly the same entries (shape, ``indptr``, ``indices``) with exactly the
same values.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from cases import CASES, OPS, PARITY_CASES

ALL_CASES = CASES + PARITY_CASES

SUMMED_IN_ANOTHER_ORDER = {
    ("conv-reflect", "input"),
    ("conv-replicate", "input"),
}
"""Cases whose values may differ in the last bits, and why.

With a copying ``padding_mode`` several taps of one window read the same input entry,
and the input Jacobian's entry is their kernel values' sum. The definition adds them
in tap order; the fast path adds them in the order scipy's ``sum_duplicates`` leaves
them after sorting the columns (an unstable sort), so a sum of three or more taps may
be rounded differently. These are compared with ``rtol=1e-15`` (pattern still exact).
"""

CASE_WRTS = [pytest.param(case, wrt, id=f"{case.id}-{wrt}")
             for case in ALL_CASES for wrt in OPS[case.op].wrts
             if wrt == "input" or wrt in case.params()]


def assert_same_matrix(J, expected, *, exact=True):
    assert isinstance(J, sp.csr_array) and J.has_canonical_format
    assert J.shape == expected.shape
    assert J.dtype == expected.dtype
    np.testing.assert_array_equal(J.indptr, expected.indptr, err_msg="indptr", strict=False)
    np.testing.assert_array_equal(J.indices, expected.indices, err_msg="indices")
    if exact:
        np.testing.assert_array_equal(J.data, expected.data, err_msg="data", strict=True)
    else:
        np.testing.assert_allclose(J.data, expected.data, rtol=1e-15, atol=0)


@pytest.mark.parametrize("case, wrt", CASE_WRTS)
def test_fast_jacobian_equals_the_definition(case, wrt):
    layer, x = OPS[case.op].make(case.params(), case.options), case.x()
    expected = layer.reference_jacobian(x, wrt)
    assert expected.has_canonical_format
    assert_same_matrix(layer.jacobian(x, wrt), expected,
                       exact=(case.id, wrt) not in SUMMED_IN_ANOTHER_ORDER)


def test_the_inexact_list_names_real_cases_the_table_calls_inexact():
    ids = {(case.id, wrt) for case in ALL_CASES for wrt in OPS[case.op].wrts}
    assert set(SUMMED_IN_ANOTHER_ORDER) <= ids
    inexact = {case.id for case in ALL_CASES if not case.exact}
    assert {case_id for case_id, _ in SUMMED_IN_ANOTHER_ORDER} <= inexact
