"""The fast Jacobian of every case equals its readable definition, bit for bit.

Each op module holds a readable definition of its Jacobians (entries ``(row, column,
term)``, :mod:`jacobian_cnn.ops.layer`), evaluated by ``Layer.reference_jacobian``. For
every case of ``cases.ALL_CASES`` and every ``wrt``, ``layer.jacobian``
must store exactly the same entries (shape, ``indptr``, ``indices``) with exactly the
same values, unless the case table says otherwise (``Case.bit_identical_to``: with a
copying ``padding_mode`` several taps of one window read the same input entry; the
definition adds their kernel values in tap order, the fast path in the order scipy's
``sum_duplicates`` leaves them, so a sum of three or more may round differently). Those
are compared with ``rtol=1e-15``, their pattern still exact.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from cases import ALL_CASES, OPS

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
                       exact="definition" in case.bit_identical_to)


@pytest.mark.parametrize("case", [c for c in ALL_CASES if "definition" not in c.bit_identical_to],
                         ids=lambda c: c.id)
def test_a_case_declared_not_bit_identical_really_differs(case):
    """The table's declaration stays minimal: drop it from a case that became bit-identical."""
    layer, x = OPS[case.op].make(case.params(), case.options), case.x()
    differs = [not np.array_equal(layer.jacobian(x, wrt).data, layer.reference_jacobian(x, wrt).data)
               for wrt in OPS[case.op].wrts if wrt == "input" or wrt in case.params()]
    assert any(differs)
