"""CSRParts: each structured form, written out by hand, as a matrix and as a product kernel.

The layers' own Jacobians of every form are checked in ``test_layers.py`` (stored
structure, and the chain's product against the dense product); here each form is
pinned down on a small matrix whose dense value is written out by hand.
"""

import numpy as np
import pytest

from jacobian_cnn._sparse.csr import CSRParts

# (form, data, shape, the dense matrix by hand)
FORM_CASES = [
    ("diagonal", [2., 3., 4.], (3, 3),
     [[2, 0, 0],
      [0, 3, 0],
      [0, 0, 4]]),
    ("dense", [1., 2., 3., 4., 5., 6.], (2, 3),
     [[1, 2, 3],
      [4, 5, 6]]),
    ("row_blocks", [1., 2., 3., 4., 5., 6.], (2, 6),           # row i holds columns 3i..3i+2
     [[1, 2, 3, 0, 0, 0],
      [0, 0, 0, 4, 5, 6]]),
    ("column_blocks", [1., 2., 3., 4., 5., 6.], (6, 2),        # rows 3j..3j+2 hold column j
     [[1, 0],
      [2, 0],
      [3, 0],
      [0, 4],
      [0, 5],
      [0, 6]]),
    ("diagonal", [7.], (1, 1), [[7]]),
]


@pytest.mark.parametrize("form, data, shape, dense", FORM_CASES, ids=lambda v: str(v)[:14])
def test_form_writes_its_indices_and_multiplies_rows(form, data, shape, dense):
    parts = CSRParts(np.array(data), None, None, shape, form)
    J = parts.tocsr()
    np.testing.assert_array_equal(J.toarray(), np.array(dense, float))
    assert J.has_canonical_format and J.indices.dtype == np.int32 and J.indptr.dtype == np.int32
    for k in (0, 1, 2):
        rows = np.arange(1., 1 + k * shape[0]).reshape(k, shape[0])
        np.testing.assert_allclose(parts.rows_times(rows), rows @ np.array(dense, float))


def test_general_form_needs_its_index_arrays():
    with pytest.raises(ValueError, match="needs its indices and indptr"):
        CSRParts(np.ones(2), None, None, (2, 2))
    with pytest.raises(ValueError, match="form must be one of"):
        CSRParts(np.ones(2), np.arange(2), np.arange(3), (2, 2), "banded")


def test_general_form_multiplies_through_scipy():
    # [[0, 5], [6, 0]]: row 0 stores column 1, row 1 column 0
    parts = CSRParts(np.array([5., 6.]), np.array([1, 0]), np.array([0, 1, 2]), (2, 2))
    np.testing.assert_array_equal(parts.rows_times(np.array([[1., 10.]])), [[60., 5.]])
