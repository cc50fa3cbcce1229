"""The Python API as a new user meets it: wrong types and values of every layer argument,
``vec``/``unvec``/``vec_index``/``as_parameter_shape``, ``layout`` and ``classical``; caches;
aliasing; casts that overflow; PyTorch's argument forms (issue 11, sections 3 and 5).

Every refusal must name the argument, the value received and what is allowed. Expected
values of accepted inputs come from hand computation.
"""

import numpy as np

import jacobian_cnn as jc
from bad_input.harness import Bad
from jacobian_cnn import classical
from jacobian_cnn.compare import layout
from jacobian_cnn.errors import InvalidTypeError as T
from jacobian_cnn.errors import InvalidValueError as V

K = np.ones((2, 2))
X = np.arange(16.0).reshape(4, 4)


def _equal(expected):
    def check(result):
        got = result.toarray() if hasattr(result, "toarray") else np.asarray(result)
        assert got.shape == np.shape(expected) and np.array_equal(got, expected), got
    return check


def _after_write(make, write, use):
    """Build a layer from arrays, overwrite the caller's arrays, then use the layer."""
    def call():
        arrays = [np.ones((2, 2)), np.zeros(1)]
        layer = make(*arrays)
        write(*arrays)
        return use(layer)
    return call


def _pool_cache(cache):
    return lambda: jc.MaxPool2D(2).jacobian(X, cache=cache)


CASES = [
    # --- silently wrong before: integers only, caches checked, copies kept, no overflow
    Bad("commutation_matrix of a float", lambda: jc.commutation_matrix(2.5, 3), T,
        ("commutation_matrix: m", "positive int", "2.5")),
    Bad("commutation_matrix of a bool", lambda: jc.commutation_matrix(2, True), T,
        ("commutation_matrix: n", "positive int", "True")),
    Bad("commutation_matrix of zero", lambda: jc.commutation_matrix(0, 3), V,
        ("commutation_matrix: m", "positive int", "0")),
    Bad("commutation_matrix too large", lambda: jc.commutation_matrix(10**6, 10**6),
        jc.JacobianTooLargeError, ("commutation_matrix(1000000, 1000000)", "max_bytes=")),
    Bad("float switches", lambda: jc.switches_jacobian(np.array([0.7, 1.0]), 4), T,
        ("switches must be ints", "float64")),
    Bad("max-pool cache of the wrong shape", _pool_cache(np.array([0, 1, 2])), V,
        ("cache", "ints of shape (2, 2)", "got shape (3,)")),
    Bad("max-pool cache of floats", _pool_cache(np.array([[0.7, 1.0], [2.0, 3.0]])), T,
        ("cache", "ints of shape (2, 2)", "dtype float64")),
    Bad("max-pool cache outside its window", _pool_cache(np.array([[15, 8], [2, 10]])), V,
        ("cache", "got 15 at index (0, 0)", "not an input of that window")),
    Bad("max-pool cache -1 without pad_value", _pool_cache(np.array([[-1, 8], [2, 10]])), V,
        ("cache", "got -1", "only with pad_value")),
    Bad("max-pool cache of its own forward pass",
        lambda: jc.MaxPool2D(2).jacobian(X, cache=jc.MaxPool2D(2).switches(X)), None,
        check=_equal(np.eye(16)[[5, 7, 13, 15]])),  # by hand: the bottom-right of each window
    Bad("softmax cache of the wrong shape",
        lambda: jc.Softmax().jacobian(np.zeros(3), cache=np.ones(2) / 2), V,
        ("cache", "x's shape (3,)", "got shape (2,)")),
    Bad("softmax cache not summing to 1",
        lambda: jc.Softmax().jacobian(np.zeros(2), cache=np.array([0.5, 0.7])), V,
        ("cache", "sum to 1", "summing to 1.2")),
    Bad("softmax cache with NaN",
        lambda: jc.Softmax().jacobian(np.zeros(2), cache=np.array([np.nan, 1.0])), V,
        ("cache contains NaN",)),
    Bad("kernel written after Conv2D(K)",
        _after_write(lambda k, b: jc.Conv2D(k, b), lambda k, b: k.fill(np.nan),
                     lambda layer: layer.forward(np.ones((3, 3)))), None,
        check=_equal(np.full((2, 2), 4.0))),  # 4 ones times 1, bias 0
    Bad("weight written after Dense(W)",
        _after_write(lambda w, b: jc.Dense(w, np.zeros(2)), lambda w, b: w.fill(np.nan),
                     lambda layer: layer.forward(np.ones(2))), None, check=_equal([2.0, 2.0])),
    Bad("target written after MSELoss(t)",
        _after_write(lambda t, b: jc.MSELoss(t), lambda t, b: t.fill(5.0),
                     lambda layer: layer.forward(np.ones((2, 2)))), None, check=_equal(0.0)),
    Bad("kernel of a layer is read-only", lambda: jc.Conv2D(K).kernel.fill(np.nan), ValueError,
        ("read-only",)),
    Bad("NaN kernel assigned", lambda: setattr(jc.Conv2D(K), "kernel", np.full((2, 2), np.nan)), V,
        ("kernel contains NaN",)),
    Bad("kernel of another shape assigned", lambda: setattr(jc.Conv2D(K), "kernel", np.ones((3, 3))), V,
        ("kernel must keep the layer's shape (2, 2, 1, 1)", "(3, 3, 1, 1)")),
    Bad("float64 kernel overflowing float32",
        lambda: jc.Conv2D(np.full((2, 2), 1e300)).forward(np.ones((3, 3), np.float32)), V,
        ("kernel holds 1e+300", "overflows float32", "at most 3.4e+38")),
    Bad("float64 weight overflowing float32",
        lambda: jc.Dense(np.full((2, 1), 1e39)).jacobian(np.ones(2, np.float32)), V,
        ("weight holds 1e+39", "overflows float32")),
    Bad("classical weight overflowing float32",
        lambda: classical.dense_gradients(np.ones(2, np.float32), np.full((2, 2), 1e300),
                                          np.ones(2, np.float32)), V,
        ("weight holds 1e+300", "overflows float32")),
    Bad("average of four 1e308", lambda: jc.AvgPool2D(2).forward(np.full((2, 2), 1e308)), None,
        check=_equal([[1e308]])),
    Bad("average that does overflow",
        lambda: jc.AvgPool2D(2, divisor_override=1).forward(np.full((2, 2), 1e308)), V,
        ("average of the window at output (0, 0)", "overflows float64", "divisor 1")),
    # --- obscure errors before
    Bad("wrt as a list", lambda: jc.Conv2D(K).jacobian(X, wrt=["input"]), T,
        ("wrt must be one of ['input', 'kernel']", "['input']")),
    Bad("wrt unknown", lambda: jc.Dense(np.ones((2, 2))).jacobian(np.ones(2), wrt="kernel"), V,
        ("wrt must be one of ['input', 'weight']", "'kernel'")),
    Bad("max_bytes as a string", lambda: jc.Conv2D(K).jacobian(X, max_bytes="big"), T,
        ("max_bytes", "positive int", "'big'")),
    Bad("max_bytes negative", lambda: jc.AvgPool2D(2).jacobian(X, max_bytes=-1), V,
        ("max_bytes", "positive int", "-1")),
    Bad("max_bytes NaN", lambda: jc.ReLU().jacobian(np.ones(3), max_bytes=float("nan")), V,
        ("max_bytes", "positive int", "nan")),
    Bad("max_bytes 1e8 is an int", lambda: jc.ReLU().jacobian(np.ones(2), max_bytes=1e8), None,
        check=_equal(np.eye(2))),
    Bad("vec_index out of range", lambda: jc.vec_index((3, 0), (3, 4)), V,
        ("vec_index: index[0]", "[0, 3)", "(3, 0)")),
    Bad("vec_index negative", lambda: jc.vec_index((0, -1), (3, 4)), V,
        ("vec_index: index[1]", "[0, 4)", "(0, -1)")),
    Bad("vec_index of a float", lambda: jc.vec_index((1.0, 2), (3, 4)), T,
        ("vec_index: index[0]", "an int", "1.0")),
    Bad("vec_index with too few axes", lambda: jc.vec_index((1,), (3, 4)), T,
        ("vec_index: index", "tuple of 2 ints", "(1,)")),
    Bad("unvec to a negative shape", lambda: jc.unvec(np.arange(6), (-2, -3)), V,
        ("unvec: shape", "non-negative ints", "(-2, -3)")),
    Bad("unvec to a float shape", lambda: jc.unvec(np.arange(6), (2.0, 3)), T,
        ("unvec: shape", "non-negative ints", "(2.0, 3)")),
    Bad("as_parameter_shape of the wrong width", lambda: jc.as_parameter_shape(np.ones((2, 5)), (2, 2)),
        V, ("rows must be (P.size,) or (k, P.size)", "P.size = 4", "(2, 5)")),
    Bad("labels as strings", lambda: jc.SoftmaxCrossEntropy(["cat", "dog"]), T,
        ("labels must be an int or a 1-D array of ints", "['cat', 'dog']")),
    Bad("labels negative", lambda: jc.SoftmaxCrossEntropy([1, -1]), V,
        ("labels must be", "non-negative", "[1, -1]")),
    Bad("pad_value as a string", lambda: jc.MaxPool2D(2, pad_value="0"), T,
        ("pad_value must be None or a finite number", "'0'")),
    Bad("Flatten order as a list", lambda: jc.Flatten(["F"]), V,
        ("order must be one of ['C', 'F', 'torch']", "['F']")),
    Bad("layout as a list", lambda: layout.to_layout(np.ones(3), ["NC"]), V,
        ("layout must be one of", "['NC']")),
    Bad("layout shape negative", lambda: layout.permutation_matrix((2, -1), "NC"), V,
        ("shape must be a tuple of non-negative ints", "(2, -1)")),
    Bad("from_layout ndim as a string", lambda: layout.from_layout(np.ones((2, 2)), "NC", ndim="1"), T,
        ("ndim must be a non-negative int", "'1'")),
    Bad("float torch indices", lambda: layout.switches_from_torch_indices(np.zeros((1, 1, 1, 1)), (2, 2)),
        T, ("indices must be an array of ints", "float64")),
    Bad("classical in_shape of strings", lambda: classical.conv2d_input_gradient(np.ones((1, 1)), K, "ab"),
        T, ("in_shape must be a tuple of positive ints", "'ab'")),
    Bad("classical kernel_shape negative",
        lambda: classical.conv2d_kernel_gradient(np.ones((3, 3)), np.ones((2, 2)), (-2, 2)), V,
        ("kernel_shape must be a tuple of positive ints", "(-2, 2)")),
    Bad("classical count_include_pad as a string",
        lambda: classical.avg_pool_upsample(np.ones((1, 1)), (2, 2), 2, count_include_pad="no"), T,
        ("count_include_pad must be a bool", "'no'")),
    Bad("stride negative", lambda: jc.Conv2D(K, stride=-1), V,
        ("stride must be a positive int or a pair of positive ints, got -1",)),
    Bad("padding a triple", lambda: jc.AvgPool2D(2, padding=(1, 2, 3)), T,
        ("padding must be a non-negative int, a pair (ph, pw) or ((top, bottom), (left, right))",
         "(1, 2, 3)")),
    Bad("kernel with a zero-sized window", lambda: jc.Conv2D(np.ones((0, 2))), V,
        ("kernel must have every axis", "at least 1", "(0, 2, 1, 1)", "kh (kernel height) = 0")),
    Bad("groups a float", lambda: jc.Conv2D(K, groups=1.0), T, ("groups must be an int", "1.0")),
    Bad("switches_jacobian n_inputs a float", lambda: jc.switches_jacobian(np.array([0]), 4.0), T,
        ("n_inputs must be a non-negative int", "4.0")),
    Bad("switches_jacobian dtype unknown", lambda: jc.switches_jacobian(np.array([0]), 4, dtype="half"),
        V, ("dtype must be float32 or float64", "'half'")),
    Bad("padding_mode as an array", lambda: jc.Conv2D(K, padding_mode=np.array(["zeros"])), V,
        ("padding_mode must be one of ('zeros', 'reflect', 'replicate', 'circular')", "array(['zeros']")),
    Bad("divisors of a tuple", lambda: jc.AvgPool2D(2).divisors((3, 3)), T,
        ("geo must be a WindowGeometry", "(3, 3)")),
    Bad("softmax cache of strings", lambda: jc.Softmax().jacobian(np.zeros(2), cache="ab"), T,
        ("cache must be a numeric array", "<U2")),
    Bad("labels of bools", lambda: jc.SoftmaxCrossEntropy([True, False]), T,
        ("labels must be an int or a 1-D array of ints", "[True, False]", "bool")),
    # --- PyTorch's argument forms
    Bad("divisor_override negative (PyTorch accepts it)",
        lambda: jc.AvgPool2D(2, divisor_override=-2).forward(X[:2, :2]), None,
        check=_equal([[-5.0]])),  # (0 + 1 + 4 + 5) / -2
    Bad("divisor_override zero", lambda: jc.AvgPool2D(2, divisor_override=0), V,
        ("divisor_override must be None or a nonzero int, got 0",)),
    Bad("padding=(1,) broadcasts", lambda: jc.AvgPool2D(2, padding=(1,)).forward(np.ones((2, 2))),
        None, check=_equal(np.full((2, 2), 0.25))),  # one input in each padded window
    Bad("pooling stride=() is the window", lambda: jc.MaxPool2D(3, stride=()).forward(X), None,
        check=_equal([[10.0]])),  # one 3x3 window at the origin: max of X[:3, :3]
    Bad("conv stride=() refused as by PyTorch", lambda: jc.Conv2D(K, stride=()), T,
        ("stride must be a positive int or a pair of positive ints, got ()",)),
]
