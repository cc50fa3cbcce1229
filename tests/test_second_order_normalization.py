"""Second-order terms of batch and layer normalization: a hand-computed case, their structure
and two invariances. (The loop definition, finite differences and torch.func.hessian are
checked on the case table in tests/test_second_order_terms.py.)"""

import numpy as np
import pytest

import jacobian_cnn as jc
from jacobian_cnn.second_order import hessian_term

# One channel of three entries x = (-1, 0, 1), eps = 0, gamma = 1, g = (1, 0, 0): mu = 0,
# sigma^2 = 2/3, xhat = (-s, 0, s) with s = sqrt(3/2) = 1/sigma. With m = 3,
# D = I - 11^T/3 - xhat xhat^T/3 = (1, -2, 1)^T (1, -2, 1) / 6, W = g . xhat = -s and
# u = D g = (1/6, -1/3, 1/6). T_ij = -(xhat_j u_i + xhat_i u_j + W D_ij) / (m sigma^2), m sigma^2 = 2:
#   T_11 = -(2 (1/6)(-s) - s/6) / 2 = s/4,   T_12 = -((-s)(-1/3) - s (-1/3)) / 2 = -s/3,
#   T_13 = -((1/6) s + (-s)(1/6) - s/6) / 2 = s/12,   T_22 = -(0 - s (2/3)) / 2 = s/3,
#   T_23 = -((-1/3) s - s (-1/3)) / 2 = 0,   T_33 = -(2 (1/6) s - s/6) / 2 = -s/12.
# The cross block T[q, gamma] = sum_p g_p D_pq / sigma = s u_q.
S = np.sqrt(1.5)
BY_HAND = S * np.array([[1 / 4, -1 / 3, 1 / 12], [-1 / 3, 1 / 3, 0], [1 / 12, 0, -1 / 12]])


def _bn(training=True, channels=1):
    return jc.BatchNorm2D(np.ones(channels), np.zeros(channels), eps=0.0, training=training)


def test_batch_norm_term_by_hand():
    x, g = np.array([-1.0, 0.0, 1.0]).reshape(3, 1, 1), np.array([1.0, 0.0, 0.0])
    T = hessian_term(_bn(), x, g)
    np.testing.assert_allclose(T.toarray(), BY_HAND, rtol=1e-14, atol=1e-15)
    assert T.nnz == 9                                               # a dense block, zeros stored
    cross = hessian_term(_bn(), x, g, wrt=("input", "gamma")).toarray()
    np.testing.assert_allclose(cross, S * np.array([[1 / 6], [-1 / 3], [1 / 6]]), rtol=1e-14)
    np.testing.assert_allclose(hessian_term(_bn(), x, g, wrt=("gamma", "input")).toarray(), cross.T)
    for pair in [("gamma", "gamma"), ("beta", "input"), ("input", "beta"), ("beta", "beta")]:
        assert hessian_term(_bn(), x, g, wrt=pair).nnz == 0


def test_structure_of_the_normalization_terms():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 2, 2))                               # n = 24, 2 channels of m = 12
    g = rng.normal(size=x.size)
    bn = jc.BatchNorm2D(rng.normal(size=2), rng.normal(size=2), running_var=[0.5, 2.0])
    assert hessian_term(bn, x, g).nnz == 24 * 12
    assert hessian_term(bn, x, g, wrt=("input", "gamma")).nnz == 24   # its own channel
    bn.training = False
    assert hessian_term(bn, x, g).nnz == 0                          # linear in x
    eval_cross = hessian_term(bn, x, g, wrt=("input", "gamma")).toarray()
    channel = np.tile(np.repeat([0, 1], 6), 2)                      # vec order of (H, W, C, N)
    expected = np.zeros((24, 2))
    expected[np.arange(24), channel] = g / np.sqrt(np.array([0.5, 2.0])[channel] + bn.eps)
    np.testing.assert_allclose(eval_cross, expected, rtol=1e-14)
    ln = jc.LayerNorm((2, 3, 2), gamma=rng.normal(size=(2, 3, 2)))
    assert hessian_term(ln, x, g).nnz == 24 * 12                    # a block per sample
    assert hessian_term(ln, x, g, wrt=("input", "gamma")).nnz == 24 * 12


@pytest.mark.parametrize("layer", [jc.BatchNorm2D([1.5, -0.5], [0.1, 0.2], eps=0.0),
                                   jc.LayerNorm((2, 3, 2), gamma=np.linspace(-1, 2, 12).reshape(2, 3, 2),
                                                eps=0.0)],
                         ids=["batchnorm", "layernorm"])
def test_invariances(layer):
    """``y`` does not change when a group is shifted (``T 1_group = 0``) or scaled (eps = 0):
    differentiating ``J(x) x_group = 0`` once more gives ``T x_group = -(g J)_group``."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 2, 2))
    g = rng.normal(size=x.size)
    T = hessian_term(layer, x, g).toarray()
    gJ = g @ layer.jacobian(x).toarray()
    groups = (np.tile(np.repeat([0, 1], 6), 2) if isinstance(layer, jc.BatchNorm2D)
              else np.repeat([0, 1], 12))
    for group in (0, 1):
        inside = (groups == group).astype(float)
        np.testing.assert_allclose(T @ inside, 0, atol=1e-12)
        x_group = jc.vec(x) * inside
        np.testing.assert_allclose(T @ x_group, -gJ * inside, atol=1e-12)


def test_size_limit_is_checked_before_the_term_is_built():
    x = np.random.default_rng(2).normal(size=(10, 10, 2))
    with pytest.raises(jc.errors.JacobianTooLargeError, match="BatchNorm2D second-order term"):
        hessian_term(_bn(channels=2), x, np.ones(200), max_bytes=10_000)
    with pytest.raises(jc.errors.JacobianTooLargeError, match="LayerNorm input-gamma term"):
        hessian_term(jc.LayerNorm((10, 10, 2), gamma=np.ones((10, 10, 2))), x, np.ones(200),
                     wrt=("gamma", "input"), max_bytes=10_000)
