"""The seeds' worked examples, reproduced exactly.

Expected values are transcribed from the source documents (as literals; the tests
never read the seeds) or computed by hand, never taken from the package.
"""

import numpy as np
import pytest

import jacobian_cnn as jc
from jacobian_cnn import classical

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


def test_seed004_appendix_a_rep1_window_41_is_wrong_and_rep2_right():
    # rep.1 prints z41's window as [[0, 0], [0, a31]] (so z41 = a31*beta22); the padded rows
    # 4-5, columns 1-2 hold [[0, a31], [0, 0]], and rep.2 says z41 = a31*beta12.
    a, beta, conv = _appendix_a()
    z41 = conv.forward(a)[3, 0]
    assert z41 == a[2, 0] * beta[0, 1]
    assert z41 != a[2, 0] * beta[1, 1]
    np.testing.assert_array_equal(np.pad(a, 1)[3:5, 0:2], [[0, a[2, 0]], [0, 0]])


def test_seed004_appendix_a_column_recipes():
    # "column A_rs = vec(E_rs * beta)" and "column beta_rs = vec(A * E_rs)", same padding/stride.
    a, beta, conv = _appendix_a()
    JA, JB = conv.jacobian(a).toarray(), conv.jacobian(a, wrt="kernel").toarray()
    for r in range(3):
        for s in range(4):
            E = np.zeros((3, 4))
            E[r, s] = 1
            np.testing.assert_array_equal(JA[:, jc.vec_index((r, s), (3, 4))], jc.vec(conv.forward(E)))
    for r in range(2):
        for s in range(2):
            E = np.zeros((2, 2))
            E[r, s] = 1
            column = jc.vec(jc.Conv2D(E, stride=(1, 2), padding=1).forward(a))
            np.testing.assert_array_equal(JB[:, jc.vec_index((r, s), (2, 2))], column)


# --- seed 000 errata --------------------------------------------------------------------

def _seed000_row(g11, g21, g12, g22):
    """The seed's dJ/dvec(A) row (after eq.3), transcribed, including its double 1/4."""
    return np.array([g11 / 4, (g11 + g21 / 4) / 4, g21 / 4, (g11 + g12 / 4) / 4,
                     (g11 + g21 + g12 + g22) / 4, (g21 + g22) / 4, g12 / 4, (g12 + g22) / 4, g22 / 4])


def test_seed000_row_has_a_double_quarter_in_entries_a21_and_a12():
    g11, g21, g12, g22 = 1., 10., 100., 1000.          # digits spell which g's are added
    row = jc.vec([[g11, g12], [g21, g22]]) @ jc.AvgPool2D(2, stride=1).jacobian(np.zeros((3, 3)))
    by_hand = np.array([g11, g11 + g21, g21, g11 + g12, g11 + g21 + g12 + g22, g21 + g22,
                        g12, g12 + g22, g22]) / 4
    np.testing.assert_array_equal(row, by_hand)
    assert np.flatnonzero(_seed000_row(g11, g21, g12, g22) != by_hand).tolist() == [1, 3]
    # The answer's own scalar rule (line "for a12"): dJ/da12 = g11/4 + g12/4.
    assert row[jc.vec_index((0, 1), (3, 3))] == (g11 + g12) / 4


def test_seed000_final_matrix_is_a_row_major_reshape_with_six_wrong_entries():
    g11, g21, g12, g22 = 1., 10., 100., 1000.
    correct = np.array([[g11, g11 + g12, g12],
                        [g11 + g21, g11 + g12 + g21 + g22, g12 + g22],
                        [g21, g21 + g22, g22]]) / 4
    J = jc.AvgPool2D(2, stride=1).jacobian(np.zeros((3, 3)))
    np.testing.assert_array_equal(jc.unvec(jc.vec([[g11, g12], [g21, g22]]) @ J, (3, 3)), correct)
    seed_final = _seed000_row(g11, g21, g12, g22).reshape(3, 3)   # what the seed prints
    wrong = np.argwhere(seed_final != correct).tolist()
    assert wrong == [[0, 1], [0, 2], [1, 0], [1, 2], [2, 0], [2, 1]]


def test_seed000_quoted_zhang_upsampling_ignores_the_overlap():
    G = np.array([[1., 2.], [3., 5.]])
    g11, g12, g21 = G[0, 0], G[0, 1], G[1, 0]
    quoted = np.array([[g11, g11, g12], [g11, g11, g12], [g21, g21, g12]]) / 4
    correct = np.array([[1, 3, 2], [4, 11, 7], [3, 8, 5]]) / 4          # by hand
    got = classical.avg_pool_upsample(G, (3, 3), 2, stride=1)
    np.testing.assert_array_equal(got, correct)
    assert not np.array_equal(quoted, correct)
    assert got.sum() == G.sum()                                            # rows of J sum to 1
    # Nearest-neighbour up-sampling is right only without overlap (stride = window):
    np.testing.assert_array_equal(classical.avg_pool_upsample(G, (4, 4), 2), np.kron(G, np.ones((2, 2))) / 4)


# --- seed 001 ---------------------------------------------------------------------------

def test_seed001_transposed_convolution_of_the_flipped_kernel_flips_twice():
    K = np.array([[1., 2., 3.], [4., 5., 6.], [7., 8., 10.]])   # not centro-symmetric
    rng = np.random.default_rng(0)
    x, g = rng.normal(size=(5, 5)), rng.normal(size=(3, 3))
    truth = jc.unvec(jc.vec(g) @ jc.Conv2D(K).jacobian(x), (5, 5))
    np.testing.assert_allclose(classical.conv2d_input_gradient(g, K, (5, 5)), truth, atol=1e-12)
    full_correlation = classical.correlate2d(np.pad(g, 2)[:, :, None, None], K[::-1, ::-1, None, None])
    np.testing.assert_allclose(full_correlation[:, :, 0, 0], truth, atol=1e-12)
    seed001 = classical.conv2d_input_gradient(g, K[::-1, ::-1], (5, 5))
    assert np.abs(seed001 - truth).max() > 1


def test_seed001_max_unpool_must_add_not_insert():
    x = np.zeros((4, 4))
    x[1, 1] = 9.                                    # wins all four 3x3 windows (stride 1)
    pool = jc.MaxPool2D(3, stride=1)
    G = np.array([[1., 2.], [3., 4.]])
    assert jc.unvec(jc.vec(G) @ pool.jacobian(x), (4, 4))[1, 1] == 10.
    assert classical.max_unpool(G, pool.switches(x), x.shape)[1, 1] == 10.
    inserted = np.zeros(16)
    inserted[jc.vec(pool.switches(x))] = jc.vec(G)   # the seed's "insert"
    assert inserted[jc.vec_index((1, 1), (4, 4))] == 4.


def test_seed001_average_pool_spreads_8_as_2_and_bias_is_per_channel():
    np.testing.assert_array_equal(classical.avg_pool_upsample([[8.]], (2, 2), 2), np.full((2, 2), 2.))
    Jb = jc.Conv2D(np.ones((2, 2, 1, 3)), bias=np.zeros(3)).jacobian(np.zeros((3, 3)), wrt="bias")
    assert Jb.shape == (12, 3)                      # one scalar per output channel


# --- seed 002 ---------------------------------------------------------------------------

def _seed002_max_backward(a_prev, dA, H=3, W=3):
    """Seed 002's max-pool backward loop (stride 1), with K corrected to W."""
    dA_prev = np.zeros_like(a_prev)
    for i in range(dA.shape[0]):
        for j in range(dA.shape[1]):
            a_prev_slice = a_prev[i:i + H, j:j + W]
            mask = (a_prev_slice == np.max(a_prev_slice))
            dA_prev[i:i + H, j:j + W] += mask * dA[i, j]
    return dA_prev


def test_seed002_tie_mask_routes_the_gradient_to_every_tied_maximum():
    assert _seed002_max_backward(np.zeros((3, 3)), np.ones((1, 1))).sum() == 9.
    x = np.zeros((4, 4))
    x[0, 0] = x[2, 2] = 5.
    seed = _seed002_max_backward(x, np.ones((2, 2)))
    expected_seed = np.zeros((4, 4))
    expected_seed[0, 0], expected_seed[2, 2] = 1., 4.
    np.testing.assert_array_equal(seed, expected_seed)
    one_winner = np.zeros((4, 4))
    one_winner[0, 0], one_winner[2, 2] = 1., 3.      # each window passes back exactly its 1
    got = jc.unvec(jc.vec(np.ones((2, 2))) @ jc.MaxPool2D(3, stride=1).jacobian(x), (4, 4))
    np.testing.assert_array_equal(got, one_winner)
    # Without ties the loop is right:
    x = np.random.default_rng(0).normal(size=(5, 5))
    dA = np.random.default_rng(1).normal(size=(3, 3))
    np.testing.assert_allclose(_seed002_max_backward(x, dA),
                               jc.unvec(jc.vec(dA) @ jc.MaxPool2D(3, stride=1).jacobian(x), (5, 5)))


def test_seed002_undefined_K_in_the_write_slice():
    m = i = j = c = 0
    H = 3
    dA_prev, dA, mask = np.zeros((1, 4, 4, 1)), np.ones((1, 2, 2, 1)), np.ones((3, 3))
    with pytest.raises(NameError, match="'K'"):
        exec("dA_prev[m, i:(i+H), j:(j+K), c] += mask*dA[m,i,j,c]",
             {"dA_prev": dA_prev, "dA": dA, "mask": mask, "m": m, "i": i, "j": j, "c": c, "H": H})


def test_seed002_average_pool_loop_is_correct():
    rng = np.random.default_rng(2)
    A_prev, dA = rng.normal(size=(2, 5, 5, 2)), rng.normal(size=(2, 3, 3, 2))
    H = W = 3
    dA_prev = np.zeros_like(A_prev)
    for m in range(2):
        for i in range(3):
            for j in range(3):
                for c in range(2):
                    dA_prev[m, i:(i + H), j:(j + W), c] += np.ones((H, W)) * dA[m, i, j, c] / (H * W)
    ours = lambda a: a.transpose(1, 2, 3, 0)  # noqa: E731  (m, h, w, c) -> (h, w, c, m)
    J = jc.AvgPool2D(3, stride=1).jacobian(ours(A_prev))
    np.testing.assert_allclose(ours(dA_prev), jc.unvec(jc.vec(ours(dA)) @ J, (5, 5, 2, 2)))


# --- seed 003 ---------------------------------------------------------------------------

def test_seed003_max_pool_switches_and_unpooling():
    a = np.array([[1., 2., 3., 9.], [8., 0., 4., 5.], [7., 1., 2., 0.], [3., 4., 6., 5.]])
    pool = jc.MaxPool2D(2)
    # [[a21, a14], [a31, a43]]
    np.testing.assert_array_equal(pool.forward(a), [[a[1, 0], a[0, 3]], [a[2, 0], a[3, 2]]])
    G = np.array([[10., 20.], [30., 40.]])
    expected = np.zeros((4, 4))
    expected[0, 3], expected[1, 0], expected[2, 0], expected[3, 2] = 20., 10., 30., 40.
    np.testing.assert_array_equal(jc.unvec(jc.vec(G) @ pool.jacobian(a), (4, 4)), expected)
    values = classical.max_unpool(pool.forward(a), pool.switches(a), a.shape)
    assert values[0, 3] == a[0, 3] != a[3, 0]       # the seed prints a41 at (1,4); it is a14


K_DIGITS = np.array([[11., 12., 13.], [21., 22., 23.], [31., 32., 33.]])   # k_ij = 10 i + j

SEED003_W_ROW_MAJOR = np.array([   # by hand: kernel rows laid over input rows, row-major flatten
    [11, 12, 13, 0, 21, 22, 23, 0, 31, 32, 33, 0, 0, 0, 0, 0],
    [0, 11, 12, 13, 0, 21, 22, 23, 0, 31, 32, 33, 0, 0, 0, 0],
    [0, 0, 0, 0, 11, 12, 13, 0, 21, 22, 23, 0, 31, 32, 33, 0],
    [0, 0, 0, 0, 0, 11, 12, 13, 0, 21, 22, 23, 0, 31, 32, 33],
])


def test_seed003_conv_as_a_4x16_matrix_in_both_orders():
    J = jc.Conv2D(K_DIGITS).jacobian(np.zeros((4, 4)))
    W = (jc.commutation_matrix(2, 2) @ J @ jc.commutation_matrix(4, 4).T).toarray()
    np.testing.assert_array_equal(W, SEED003_W_ROW_MAJOR)
    # The seed's rows 1, 2 and 4 as printed (k11 k12 k13 where k21 k22 k23 belongs; zeros at 6, 7):
    printed = {0: [11, 12, 13, 0, 11, 12, 13, 0], 1: [0, 11, 12, 13, 0, 11, 12, 13],
               3: [0, 0, 0, 0, 0, 0, 0]}
    wrong = sorted((r + 1, c + 1) for r, row in printed.items() for c, v in enumerate(row) if v != W[r, c])
    assert wrong == [(1, 5), (1, 6), (1, 7), (2, 6), (2, 7), (2, 8), (4, 6), (4, 7)]


def test_seed003_transpose_rows_5_to_8_and_16():
    J = jc.Conv2D(K_DIGITS).jacobian(np.zeros((4, 4)))
    WT = (jc.commutation_matrix(2, 2) @ J @ jc.commutation_matrix(4, 4).T).toarray().T
    assert WT.shape == (16, 4)                      # so dF/dh needs 4 entries, not 3
    np.testing.assert_array_equal(WT[4:8], [[21, 0, 11, 0], [22, 21, 12, 11],
                                            [23, 22, 13, 12], [0, 23, 0, 13]])
    np.testing.assert_array_equal(WT[15], [0, 0, 0, 33])          # seed: [0, 0, 0, k23]
    np.testing.assert_array_equal(WT, SEED003_W_ROW_MAJOR.T)


def test_seed003_stride_1_backward_is_padded_correlation_with_the_flipped_kernel():
    g = np.array([[1., 2.], [3., 4.]])
    truth = jc.unvec(jc.vec(g) @ jc.Conv2D(K_DIGITS).jacobian(np.zeros((4, 4))), (4, 4))
    full = classical.correlate2d(np.pad(g, 2)[:, :, None, None], K_DIGITS[::-1, ::-1, None, None])
    np.testing.assert_array_equal(full[:, :, 0, 0], truth)
    assert truth[1, 1] == 22 * 1 + 21 * 2 + 12 * 3 + 11 * 4     # a22: taps k22, k21, k12, k11


def test_seed003_stride_2_transposed_convolution_with_zero_insertion():
    g = np.array([[1., 2.], [3., 4.]])
    by_hand = np.array([[11, 12, 35, 24, 26],     # sum over windows covering a_ij of g * k_tap
                        [21, 22, 65, 44, 46],
                        [64, 68, 178, 112, 118],
                        [63, 66, 153, 88, 92],
                        [93, 96, 223, 128, 132]])
    truth = jc.unvec(jc.vec(g) @ jc.Conv2D(K_DIGITS, stride=2).jacobian(np.zeros((5, 5))), (5, 5))
    np.testing.assert_array_equal(truth, by_hand)
    spread = np.pad(classical.zero_insert(g, 2), 2)
    np.testing.assert_array_equal(spread.shape, (7, 7))
    full = classical.correlate2d(spread[:, :, None, None], K_DIGITS[::-1, ::-1, None, None])
    np.testing.assert_array_equal(full[:, :, 0, 0], by_hand)
    no_zeros = classical.correlate2d(np.pad(g, 2)[:, :, None, None], K_DIGITS[::-1, ::-1, None, None])
    assert no_zeros.shape[:2] == (4, 4)             # without zero insertion: wrong size


def test_seed003_kernel_gradients_stride_1_and_dilation_2_for_stride_2():
    g = np.array([[1., 2.], [3., 4.]])
    A4 = np.arange(16.).reshape(4, 4)
    got = jc.unvec(jc.vec(g) @ jc.Conv2D(K_DIGITS).jacobian(A4, wrt="kernel"), (3, 3))
    assert got[0, 0] == 1 * A4[0, 0] + 2 * A4[0, 1] + 3 * A4[1, 0] + 4 * A4[1, 1]   # sum g_i'j' a_i'j'
    assert got[0, 1] == 1 * A4[0, 1] + 2 * A4[0, 2] + 3 * A4[1, 1] + 4 * A4[1, 2]   # sum g a_i',j'+1
    A5 = np.arange(25.).reshape(5, 5)
    got = jc.unvec(jc.vec(g) @ jc.Conv2D(K_DIGITS, stride=2).jacobian(A5, wrt="kernel"), (3, 3))
    by_hand = 10 * (5 * np.arange(3)[:, None] + np.arange(3)[None, :]) + 82.   # 82 = 0+2*2+3*10+4*12
    np.testing.assert_array_equal(got, by_hand)
    dilated = classical.correlate2d(A5[:, :, None, None], g[:, :, None, None], dilation=2)
    np.testing.assert_array_equal(dilated[:, :, 0, 0], by_hand)


# --- seed 004 appendix B ----------------------------------------------------------------

SEED004_B_I = np.array([[2., 9., 4., 1.], [8., 3., 6., 5.], [7., 12., 11., 10.]])
# By hand from rep.2 (zero padding): A11 = max{0, I11, I21} = 8 (I21), A21 = I21 (i21 = 5, the
# seed's example), A12 = max{0, I12, I22, I13, I23} = 9, A22 = 12 (I32), A13 = 5, A23 = 10 ...
SEED004_B_A = np.array([[8., 9., 5.], [8., 12., 10.], [8., 12., 10.]])
SEED004_B_I_PQ = [6, 5, 4, 2, 3, 2, 3, 3, 2]             # vec(A) order, 1-based in vec(Omega)
SEED004_B_COLUMNS = [2, 2, 2, 4, 6, 6, 11, 12, 12]       # 1-based columns of the 1s (eq. b-2)


def _seed004_eq_b2(i, p, q, h_l=3, h_i=3, h_s=1, w_s=2, h_p=1, w_p=1):
    """Eq. b-2.1 to b-2.3 and j = (c_i - 1) h_i + r_i, transcribed (1-based throughout)."""
    c_b = -(-i // h_l)
    r_b = i - (c_b - 1) * h_l
    r_t, c_t = 1 + h_s * (p - 1) - h_p, 1 + w_s * (q - 1) - w_p
    return (c_b + c_t - 1 - 1) * h_i + (r_b + r_t - 1)


def _seed004_windows(inputs):
    padded = np.pad(inputs, 1)
    return [jc.vec(padded[p:p + 3, 2 * q:2 * q + 2]) for q in range(3) for p in range(3)]


def test_seed004_appendix_b_switches_and_eq_b2():
    pool = jc.MaxPool2D((3, 2), stride=(1, 2), padding=1, pad_value=0.0)
    np.testing.assert_array_equal(pool.forward(SEED004_B_I), SEED004_B_A)
    assert [int(np.argmax(w)) + 1 for w in _seed004_windows(SEED004_B_I)] == SEED004_B_I_PQ
    pq = [(p, q) for q in (1, 2, 3) for p in (1, 2, 3)]
    columns = [_seed004_eq_b2(i, p, q) for i, (p, q) in zip(SEED004_B_I_PQ, pq, strict=True)]
    assert columns == SEED004_B_COLUMNS
    assert (jc.vec(pool.switches(SEED004_B_I)) + 1).tolist() == SEED004_B_COLUMNS
    expected = np.zeros((9, 12))
    expected[np.arange(9), np.array(SEED004_B_COLUMNS) - 1] = 1
    np.testing.assert_array_equal(pool.jacobian(SEED004_B_I).toarray(), expected)
    # The seed's worked index: A21 window [0, 0, 0, I11, I21, I31], i21 = 5 -> column 2 (I21).
    assert _seed004_eq_b2(5, 2, 1) == 2


def test_seed004_appendix_b_eq_b2_is_right_for_every_non_padding_tap():
    geo = jc.MaxPool2D((3, 2), stride=(1, 2), padding=1).geometry((3, 4))
    checked = 0
    for o in range(9):
        for t in range(6):
            if geo.taps[o, t] >= 0:
                assert _seed004_eq_b2(t + 1, o % 3 + 1, o // 3 + 1) == geo.taps[o, t] + 1
                checked += 1
    assert checked == (2 + 3 + 2) * (1 + 2 + 1)     # rows inside per window row x columns inside


def test_seed004_appendix_b_padding_winner_gives_an_empty_row():
    I_neg = -SEED004_B_I
    pool = jc.MaxPool2D((3, 2), stride=(1, 2), padding=1, pad_value=0.0)
    i_pq = [int(np.argmax(w)) + 1 for w in _seed004_windows(I_neg)]
    assert i_pq == [1, 1, 1, 1, 2, 3, 1, 4, 3]                 # first padding zero, except A22
    assert _seed004_eq_b2(i_pq[0], 1, 1) == -3                  # A11: outside the matrix
    assert _seed004_eq_b2(i_pq[5], 3, 2) == 7                   # A32: the wrong input, I13
    switches = pool.switches(I_neg)
    expected = -np.ones((3, 3), int)
    expected[1, 1] = jc.vec_index((1, 1), (3, 4))               # A22 = max of no padding = I22
    np.testing.assert_array_equal(switches, expected)
    J = pool.jacobian(I_neg)
    assert J.nnz == 1 and J[4, 4] == 1
    # Padding that never wins (PyTorch's -inf): one 1 per row.
    assert jc.MaxPool2D((3, 2), stride=(1, 2), padding=1).jacobian(I_neg).nnz == 9


# --- seed 004 sections 3.1.5 / 3.2 -------------------------------------------------------

def test_seed004_layer2_block_dimensions_and_bias_length():
    rng = np.random.default_rng(3)
    conv = jc.Conv2D(rng.normal(size=(2, 3, 2, 3)), np.zeros(3), stride=(1, 2), padding=(1, 0))
    A1 = rng.normal(size=(5, 6, 2))                     # c1 = 2 channels of 5x6
    assert conv.forward(A1).shape == (6, 2, 3)          # h_z w_z = 12, c2 = 3
    J = conv.jacobian(A1)
    assert J[12 * 2:12 * 3, 30:60].shape == (12, 30)    # d vZ_3 / d vA_2^[1]: h_z w_z x h_a^[1] w_a^[1]
    assert conv.jacobian(A1, wrt="bias").shape[1] == 3  # c2 entries, not c1
    g = rng.normal(size=36)
    gb = g @ conv.jacobian(A1, wrt="bias")
    np.testing.assert_allclose(gb, g.reshape(3, 12).sum(axis=1))   # (dJ/dvZ 1)^T, per channel
