"""Each layer's second-order term against its loop definition, finite differences of the
layer's Jacobian, and torch.func.hessian, on every small case of the case table."""

import copy
import importlib.util

import numpy as np
import pytest
import scipy.sparse as sp
from optional import require

import jacobian_cnn as jc
from jacobian_cnn.cases import ALL_CASES
from jacobian_cnn.second_order import has_second_order_term, hessian_term, reference_hessian_term


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One intra-op thread for torch.func.hessian's many tiny ops (much faster on the shared
    cores); nothing when torch is missing."""
    if importlib.util.find_spec("torch") is None:
        yield
        return
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SMALL = [c for c in ALL_CASES if np.prod(c.x_shape) <= 400 and has_second_order_term(c.layer())]


def _g(case, layer, x):
    y = np.asarray(layer.forward(x))
    return np.random.default_rng(case.seed + 7).normal(size=y.size).astype(x.dtype)


def _pairs(case):
    return [(a, b) for a in case.wrts for b in case.wrts]


@pytest.mark.parametrize("case", SMALL, ids=lambda c: c.id)
def test_fast_term_equals_loop_definition(case):
    layer, x = case.layer(), case.x()
    g = _g(case, layer, x)
    for a, b in _pairs(case):
        fast = hessian_term(layer, x, g, wrt=(a, b))
        loop = reference_hessian_term(layer, x, g, wrt=(a, b))
        assert fast.shape == loop.shape
        assert fast.has_canonical_format and loop.has_canonical_format
        np.testing.assert_array_equal(fast.indptr, loop.indptr, err_msg=f"{a}, {b}")
        np.testing.assert_array_equal(fast.indices, loop.indices, err_msg=f"{a}, {b}")
        rtol = 1e-5 if x.dtype == np.float32 else 1e-13
        np.testing.assert_allclose(fast.data, loop.data, rtol=rtol, atol=rtol * 1e-3,
                                   err_msg=f"{a}, {b}")


def _row(layer, x, g, a):
    return g @ layer.jacobian(x, wrt=a).toarray()


def _perturbed(layer, x, b, j, step):
    """The layer and input with entry ``j`` of ``vec(b)`` moved by ``step`` (``b`` may name a
    parameter inside a branch layer's path, ``"<path>.<layer index>.<name>"``)."""
    if b == "input":
        flat = x.ravel(order="F").copy()
        flat[j] += step
        return layer, flat.reshape(x.shape, order="F")
    moved = copy.deepcopy(layer)
    owner, name = moved, b
    if "." in b:
        path, index, name = b.split(".", 2)
        owner = moved.paths[moved.path_names.index(path)].layers[int(index)]
    value = np.asarray(getattr(owner, name))
    flat = value.ravel(order="F").copy()
    flat[j] += step
    setattr(owner, name, flat.reshape(value.shape, order="F"))
    return moved, x


@pytest.mark.parametrize("case", [c for c in SMALL if c.fd_ok and c.x_kind != "float32"],
                         ids=lambda c: c.id)
def test_term_equals_finite_differences_of_the_jacobian(case):
    layer, x = case.layer(), case.x()
    g = _g(case, layer, x)
    sizes = {"input": x.size, **{n: np.size(p) for n, p in layer.params.items()}}
    step = 1e-6
    for a, b in _pairs(case):
        fd = np.empty((sizes[a], sizes[b]))
        for j in range(sizes[b]):
            plus = _row(*_perturbed(layer, x, b, j, step), g, a)
            minus = _row(*_perturbed(layer, x, b, j, -step), g, a)
            fd[:, j] = (plus - minus) / (2 * step)
        ours = hessian_term(layer, x, g, wrt=(a, b)).toarray()
        np.testing.assert_allclose(ours, fd, rtol=1e-6, atol=1e-7, err_msg=f"{case.id}: {a}, {b}")


@pytest.mark.parametrize("case", [c for c in SMALL if c.torch and c.x_kind != "float32"],
                         ids=lambda c: c.id)
def test_term_equals_torch_hessian(case):
    require("torch", "torch not installed")
    from second_order_torch import torch_hessian
    layer, x = case.layer(), case.x()
    g = _g(case, layer, x)
    theirs = torch_hessian([layer], x, None if np.ndim(layer.forward(x)) == 0 else g)
    name = {"input": "input", **{n: (0, n) for n in layer.params}}
    scale = g[0] if np.ndim(layer.forward(x)) == 0 else 1.0
    for a, b in _pairs(case):
        ours = hessian_term(layer, x, g, wrt=(a, b)).toarray()
        expected = scale * theirs[name[a], name[b]]
        if b == "input" and a != "input" and isinstance(layer, (jc.BatchNorm2D, jc.LayerNorm)):
            # torch.func's forward-mode second derivatives of native batch/layer norm are wrong
            # in the (parameter, input) blocks (not the transpose of the (input, parameter) block;
            # reverse-over-reverse torch.autograd.grad agrees with ours; pytorch/pytorch#196699,
            # #196700): use the transposed (input, parameter) block
            expected = scale * theirs[name[b], name[a]].T
        np.testing.assert_allclose(ours, expected, rtol=1e-10,
                                   atol=1e-10 * max(1.0, np.abs(expected).max(initial=0)),
                                   err_msg=f"{case.id}: {a}, {b}")


def test_structure_of_the_terms():
    x = np.array([[0.5, -1.0, 2.0]])
    g = np.array([1.0, 0.0, 2.0])
    tanh = hessian_term(jc.Tanh(), x, g).toarray()
    t = np.tanh(x.ravel())
    np.testing.assert_allclose(np.diag(tanh), g * -2 * t * (1 - t ** 2), rtol=1e-15)
    assert hessian_term(jc.Tanh(), x, g).nnz == 3          # structural, also where g is 0
    assert hessian_term(jc.ReLU(), x, g).nnz == 0
    dense = jc.Dense(np.arange(6.).reshape(3, 2))
    cross = hessian_term(dense, x.ravel(), [1.0, 10.0], wrt=("input", "weight")).toarray()
    # z_j = sum_i W[i, j] x_i: d2 z_j / dx_i dW[i, j] = 1, and vec(W)[i + 3 j] = W[i, j]
    expected = np.hstack([np.eye(3) * 1.0, np.eye(3) * 10.0])
    np.testing.assert_array_equal(cross, expected)
    back = hessian_term(dense, x.ravel(), [1.0, 10.0], wrt=("weight", "input"))
    np.testing.assert_array_equal(back.toarray(), expected.T)
    assert hessian_term(dense, x.ravel(), [1.0, 10.0], wrt=("weight", "weight")).nnz == 0
    assert sp.issparse(hessian_term(jc.MSELoss(np.zeros(3)), x.ravel(), [1.0]))


def test_bad_arguments_are_refused():
    with pytest.raises(jc.errors.InvalidValueError, match="g must be one row"):
        hessian_term(jc.Tanh(), np.zeros(3), np.zeros(4))
    with pytest.raises(jc.errors.InvalidValueError, match="NaN"):
        hessian_term(jc.Tanh(), np.zeros(2), [np.nan, 0.0])
    with pytest.raises(jc.errors.InvalidValueError, match="wrt must be one of"):
        hessian_term(jc.Tanh(), np.zeros(2), [1.0, 0.0], wrt=("input", "kernel"))
    with pytest.raises(jc.errors.InvalidValueError, match="pair"):
        hessian_term(jc.Tanh(), np.zeros(2), [1.0, 0.0], wrt="input")
    with pytest.raises(jc.errors.JacobianTooLargeError):
        hessian_term(jc.Softmax(), np.zeros(50), np.ones(50), max_bytes=1000)
