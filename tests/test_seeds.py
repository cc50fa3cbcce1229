"""The seeds' worked examples, reproduced exactly.

Expected values are transcribed from the source documents (as literals; the tests
never read the seeds) or computed by hand, never taken from the package.
"""

import numpy as np

import jacobian_cnn as jc

# --- seed 000: overlapping 2x2 average pool, stride 1, on a 3x3 input ----------------

SEED000_EQ3 = np.array([  # eq.3, rows p11, p21, p12, p22; columns a11, a21, a31, a12, ...
    [1, 1, 0, 1, 1, 0, 0, 0, 0],
    [0, 1, 1, 0, 1, 1, 0, 0, 0],
    [0, 0, 0, 1, 1, 0, 1, 1, 0],
    [0, 0, 0, 0, 1, 1, 0, 1, 1],
]) / 4


def test_seed000_eq3_jacobian():
    J = jc.AvgPool2D(2, stride=1).jacobian(np.zeros((3, 3)))
    assert J.shape == (4, 9) and J.nnz == 16
    np.testing.assert_array_equal(J.toarray(), SEED000_EQ3)


def test_seed000_gradient_row_and_reshape():
    # dJ/dP = [[g11, g12], [g21, g22]] = [[1, 2], [3, 5]]; by hand, each a_ij receives
    # 1/4 of the sum of g over the windows containing it (a22 is in all four).
    G = np.array([[1., 2.], [3., 5.]])
    row = jc.vec(G) @ jc.AvgPool2D(2, stride=1).jacobian(np.zeros((3, 3)))
    by_hand = np.array([[1, 1 + 2, 2], [1 + 3, 1 + 2 + 3 + 5, 2 + 5], [3, 3 + 5, 5]]) / 4
    np.testing.assert_array_equal(jc.unvec(row, (3, 3)), by_hand)
    # The seed's final matrix reshapes the column-major row row-major: it is the transpose.
    assert not np.array_equal(row.reshape(3, 3), by_hand)
    np.testing.assert_array_equal(row.reshape(3, 3), by_hand.T)


# --- seed 004 appendix A: 3x4 input, 2x2 kernel beta, padding (1, 1), stride (1, 2) ---

# rep.2, transcribed: z_pq = sum of a_ij * beta_rs, as ((p, q), [((i, j), (r, s)), ...]), 1-based.
SEED004_REP2 = [
    ((1, 1), [((1, 1), (2, 2))]),
    ((1, 2), [((1, 2), (2, 1)), ((1, 3), (2, 2))]),
    ((1, 3), [((1, 4), (2, 1))]),
    ((2, 1), [((1, 1), (1, 2)), ((2, 1), (2, 2))]),
    ((2, 2), [((1, 2), (1, 1)), ((1, 3), (1, 2)), ((2, 2), (2, 1)), ((2, 3), (2, 2))]),
    ((2, 3), [((1, 4), (1, 1)), ((2, 4), (2, 1))]),
    ((3, 1), [((2, 1), (1, 2)), ((3, 1), (2, 2))]),
    ((3, 2), [((2, 2), (1, 1)), ((2, 3), (1, 2)), ((3, 2), (2, 1)), ((3, 3), (2, 2))]),
    ((3, 3), [((2, 4), (1, 1)), ((3, 4), (2, 1))]),
    ((4, 1), [((3, 1), (1, 2))]),
    ((4, 2), [((3, 2), (1, 1)), ((3, 3), (1, 2))]),
    ((4, 3), [((3, 4), (1, 1))]),
]


def _appendix_a():
    a = np.arange(1., 13.).reshape(3, 4) * np.array([1, -1, 1, -1])  # a_ij, any values
    beta = np.array([[2., -3.], [5., 7.]])
    return a, beta, jc.Conv2D(beta, stride=(1, 2), padding=(1, 1))


def _expected_from_rep2(a, beta):
    """Z, dvec(Z)/dvec(A) and dvec(Z)/dvec(beta) built from the seed's rep.2 table."""
    Z = np.zeros((4, 3))
    JA, JB = np.zeros((12, 12)), np.zeros((12, 4))
    for (p, q), terms in SEED004_REP2:
        row = jc.vec_index((p - 1, q - 1), (4, 3))
        for (i, j), (r, s) in terms:
            Z[p - 1, q - 1] += a[i - 1, j - 1] * beta[r - 1, s - 1]
            JA[row, jc.vec_index((i - 1, j - 1), (3, 4))] += beta[r - 1, s - 1]
            JB[row, jc.vec_index((r - 1, s - 1), (2, 2))] += a[i - 1, j - 1]
    return Z, JA, JB


def test_seed004_appendix_a_forward_matches_rep2():
    a, beta, conv = _appendix_a()
    Z, _, _ = _expected_from_rep2(a, beta)
    assert conv.forward(a).shape == (4, 3)
    np.testing.assert_allclose(conv.forward(a), Z, rtol=0, atol=1e-12)


def test_seed004_appendix_a_jacobians_match_rep2():
    a, beta, conv = _appendix_a()
    _, JA, JB = _expected_from_rep2(a, beta)
    np.testing.assert_array_equal(conv.jacobian(a).toarray(), JA)
    np.testing.assert_array_equal(conv.jacobian(a, wrt="kernel").toarray(), JB)
    # The entries the seed works out by hand: dz32/dbeta21 = a32 (eq.a1-2), dz32/dA23 = beta12 (eq.a2-2).
    z32 = jc.vec_index((2, 1), (4, 3))
    assert conv.jacobian(a, wrt="kernel").toarray()[z32, jc.vec_index((1, 0), (2, 2))] == a[2, 1]
    assert conv.jacobian(a).toarray()[z32, jc.vec_index((1, 2), (3, 4))] == beta[0, 1]
    # Structure: exactly the 24 (z, a) pairs that rep.2 lists, nothing stored for padding.
    assert conv.jacobian(a).nnz == sum(len(t) for _, t in SEED004_REP2) == 24
