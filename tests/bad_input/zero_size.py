"""Zero-size inputs: empty batches, no channels, empty kernels, weights, labels (issue 11, section 1).

Before the fix, the tiled Jacobian builders wrote through views over 0-byte buffers
(numpy does not bounds-check those) and killed the interpreter: every case that
reaches a builder runs in a fresh interpreter (``isolate=True``).

Expected shapes are reasoned by hand from PyTorch's behaviour, which accepts an empty
batch N = 0 for convolution and pooling (``F.conv2d`` of a ``(0, 1, 4, 4)`` input and a
``(3, 1, 2, 2)`` weight is ``(0, 3, 3, 3)``, ours ``(3, 3, 3, 0)``) and refuses an
input without channels in pooling and a weight with 0 output channels. An output of
``m`` entries over an input of ``n`` has an ``(m, n)`` Jacobian; with N = 0, ``m = 0``.
"""


import numpy as np
import scipy.sparse as sp

import jacobian_cnn as jc
from bad_input.harness import Bad, CLIFailed, cli
from jacobian_cnn._sparse import tiles as _tiles
from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops.activations import softmax


def empty_jacobian(shape, dtype=np.float64):
    """Check: a ``csr_array`` of ``shape`` without any stored entry, valid CSR."""

    def check(J):
        assert isinstance(J, sp.csr_array), type(J)
        assert J.shape == shape, J.shape
        assert J.nnz == 0 and J.dtype == dtype, (J.nnz, J.dtype)
        assert J.indptr.size == shape[0] + 1 and not J.indptr.any(), J.indptr
        assert J.toarray().shape == shape

    return check


def empty_array(shape, dtype=np.float64):
    """Check: an ndarray of ``shape`` (holding nothing) and ``dtype``."""

    def check(y):
        assert isinstance(y, np.ndarray), type(y)
        assert y.shape == shape and y.dtype == dtype, (y.shape, y.dtype)

    return check


def gradients(input_shape, params):
    """Check a :class:`jacobian_cnn.Gradients`: the input rows' shape and every parameter's."""

    def check(g):
        assert g.input.shape == input_shape, g.input.shape
        assert not g.input.any()
        shapes = [{name: rows.shape for name, rows in p.items()} for p in g.params]
        assert shapes == params, shapes
        assert not any(rows.any() for p in g.params for rows in p.values())

    return check


def printed(*fragments):
    """Check a CLI run's standard output for every fragment."""

    def check(result):
        for fragment in fragments:
            assert fragment in result.stdout, (fragment, result.stdout[-500:])

    return check


def _write_out_of_bounds():
    """Write through a view of 6 entries over a 0-entry buffer (memory corruption unchecked)."""
    _tiles.view(np.empty(0), 0, (2, 3), (3, 1))[...] = 1.0


def _net():
    """Conv (2x2, 1->3, bias) -> ReLU -> MaxPool 2 pad 1 -> AvgPool 1 -> Flatten torch -> Dense 12->2."""
    return jc.Chain([jc.Conv2D(np.ones((2, 2, 1, 3)), np.ones(3)), jc.ReLU(),
                     jc.MaxPool2D(2, padding=1), jc.AvgPool2D(1), jc.Flatten("torch"),
                     jc.Dense(np.ones((12, 2)), np.ones(2))])


K = np.ones((2, 2, 1, 3))  # 2x2, 1 -> 3 channels: 12 kernel entries; on 4x4, Ho = Wo = 3
E = np.zeros((4, 4, 1, 0))  # an empty batch of 4x4 single-channel maps
E2 = np.zeros((5, 5, 2, 0))
# Net on a 4x4 input: conv 3x3x3, max pool (pad 1) 2x2x3, flatten 12, dense 2.
NET_PARAMS = [{"kernel": (0, 12), "bias": (0, 3)}, {}, {}, {}, {}, {"weight": (0, 24), "bias": (0, 2)}]
EMPTY_KERNEL = ("kernel must have every axis", "at least 1")

CASES = [
    # The root cause: a raw view that does not fit its buffer is refused before it is made.
    Bad("raw view past a 0-byte buffer", _write_out_of_bounds, AssertionError,
        ("reaches entries 0..5 of a buffer of 0 entries",), isolate=True),
    # Convolution over an empty batch (PyTorch: (0, 3, 3, 3)).
    Bad("conv forward on an empty batch", lambda: jc.Conv2D(K).forward(E), None,
        check=empty_array((3, 3, 3, 0)), isolate=True),
    Bad("conv input Jacobian on an empty batch", lambda: jc.Conv2D(K).jacobian(E), None,
        check=empty_jacobian((0, 0)), isolate=True),
    Bad("conv kernel Jacobian on an empty batch", lambda: jc.Conv2D(K).jacobian(E, wrt="kernel"),
        None, check=empty_jacobian((0, 12)), isolate=True),
    Bad("conv bias Jacobian on an empty batch",
        lambda: jc.Conv2D(K, bias=np.ones(3)).jacobian(E, wrt="bias"), None,
        check=empty_jacobian((0, 3)), isolate=True),
    # 3x3 dilated 2 spans 5; (5 + 2 - 5) // 2 + 1 = 2; kernel 3*3*1*4 = 36 entries.
    Bad("grouped strided dilated conv kernel Jacobian on an empty float32 batch",
        lambda: jc.Conv2D(np.ones((3, 3, 1, 4)), groups=2, stride=2, padding=1, dilation=2)
        .jacobian(E2.astype(np.float32), wrt="kernel"), None,
        check=empty_jacobian((0, 36), np.float32), isolate=True),
    Bad("reflect-padded conv input Jacobian on an empty batch",
        lambda: jc.Conv2D(K, padding=1, padding_mode="reflect").jacobian(E), None,
        check=empty_jacobian((0, 0)), isolate=True),
    Bad("conv kernel with 0 output channels", lambda: jc.Conv2D(np.ones((2, 2, 1, 0))),
        InvalidValueError, EMPTY_KERNEL + ("(2, 2, 1, 0)", "C_out (output channels) = 0"),
        isolate=True),
    Bad("conv kernel with 0 input channels", lambda: jc.Conv2D(np.ones((2, 2, 0, 3))),
        InvalidValueError, EMPTY_KERNEL + ("(2, 2, 0, 3)", "C_in / groups (input channels) = 0"),
        isolate=True),
    Bad("conv kernel of height 0", lambda: jc.Conv2D(np.ones((0, 2))), InvalidValueError,
        EMPTY_KERNEL + ("(0, 2, 1, 1)", "kh (kernel height) = 0")),
    Bad("conv input without channels", lambda: jc.Conv2D(K).jacobian(np.zeros((4, 4, 0))),
        InvalidValueError, ("x has 0 channels", "C_in", "(4, 4, 0)"), isolate=True),
    Bad("conv input of height 0", lambda: jc.Conv2D(K).forward(np.zeros((0, 4, 1))),
        InvalidValueError, ("input spatial size", "positive", "(0, 4)")),
    # Pooling over an empty batch (PyTorch: (0, 1, 2, 2)); no channels is refused, as in PyTorch.
    Bad("avg pool forward on an empty batch", lambda: jc.AvgPool2D(2).forward(E), None,
        check=empty_array((2, 2, 1, 0)), isolate=True),
    Bad("avg pool Jacobian on an empty batch", lambda: jc.AvgPool2D(2).jacobian(E), None,
        check=empty_jacobian((0, 0)), isolate=True),
    Bad("padded ceil-mode avg pool Jacobian on an empty float32 batch",
        lambda: jc.AvgPool2D(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        .jacobian(E2.astype(np.float32)), None, check=empty_jacobian((0, 0), np.float32),
        isolate=True),
    Bad("avg pool without channels", lambda: jc.AvgPool2D(2).jacobian(np.zeros((4, 4, 0))),
        InvalidValueError, ("x must have at least one channel", "(4, 4, 0)"), isolate=True),
    Bad("avg pool of a batch without channels", lambda: jc.AvgPool2D(2).forward(np.zeros((4, 4, 0, 2))),
        InvalidValueError, ("x must have at least one channel", "(4, 4, 0, 2)")),
    Bad("max pool forward on an empty batch", lambda: jc.MaxPool2D(2).forward(E), None,
        check=empty_array((2, 2, 1, 0))),
    Bad("max pool switches on an empty batch", lambda: jc.MaxPool2D(2, padding=1).switches(E), None,
        check=empty_array((3, 3, 1, 0), np.int64)),
    Bad("max pool Jacobian on an empty batch", lambda: jc.MaxPool2D(2).jacobian(E), None,
        check=empty_jacobian((0, 0))),
    Bad("max pool without channels", lambda: jc.MaxPool2D(2).switches(np.zeros((4, 4, 0))),
        InvalidValueError, ("x must have at least one channel", "(4, 4, 0)")),
    # Flatten: torch's nn.Flatten of an empty (0, 2, 4, 4) batch is (0, 32); ours (32, 0).
    Bad("torch-order flatten of an empty batch", lambda: jc.Flatten("torch").forward(np.zeros((4, 4, 2, 0))),
        None, check=empty_array((32, 0))),
    Bad("row-major flatten Jacobian of an empty batch", lambda: jc.Flatten("C").jacobian(E), None,
        check=empty_jacobian((0, 0))),
    Bad("flatten of a map without channels", lambda: jc.Flatten("torch").forward(np.zeros((3, 3, 0))),
        None, check=empty_array((0,))),
    # Dense over an empty batch of columns; an empty weight is refused.
    Bad("dense weight Jacobian on an empty batch",
        lambda: jc.Dense(np.ones((5, 3))).jacobian(np.zeros((5, 0)), wrt="weight"), None,
        check=empty_jacobian((0, 15))),
    Bad("dense forward on an empty batch", lambda: jc.Dense(np.ones((5, 3)), np.ones(3)).forward(np.zeros((5, 0))),
        None, check=empty_array((3, 0))),
    Bad("dense with no outputs", lambda: jc.Dense(np.ones((3, 0))), InvalidValueError,
        ("weight must be (n_in, n_out) with n_in >= 1 and n_out >= 1", "(3, 0)")),
    Bad("dense with no inputs", lambda: jc.Dense(np.ones((0, 3))), InvalidValueError,
        ("n_in >= 1", "(0, 3)")),
    # Activations and softmax.
    Bad("relu Jacobian of an empty batch", lambda: jc.ReLU().jacobian(E), None,
        check=empty_jacobian((0, 0))),
    Bad("softmax of an empty vector", lambda: jc.Softmax().forward(np.zeros(0)), InvalidValueError,
        ("x must have at least one class", "(0,)")),
    Bad("softmax Jacobian with no class", lambda: jc.Softmax().jacobian(np.zeros((0, 2))),
        InvalidValueError, ("x must have at least one class", "(0, 2)")),
    Bad("softmax function of an empty vector", lambda: softmax(np.zeros(0)), InvalidValueError,
        ("softmax needs at least one class", "(0,)")),
    Bad("softmax Jacobian of an empty batch", lambda: jc.Softmax().jacobian(np.zeros((3, 0))), None,
        check=empty_jacobian((0, 0))),
    # Losses: a mean over nothing is undefined.
    Bad("cross-entropy without labels", lambda: jc.SoftmaxCrossEntropy(np.zeros(0, int)),
        InvalidValueError, ("labels must hold at least one label", "(0,)")),
    Bad("cross-entropy without classes", lambda: jc.SoftmaxCrossEntropy(0).forward(np.zeros(0)),
        InvalidValueError, ("z must have at least one class", "(0,)")),
    Bad("mse with an empty target", lambda: jc.MSELoss(np.zeros((2, 0))), InvalidValueError,
        ("target must hold at least one entry", "(2, 0)")),
    # A chain over an empty batch.
    Bad("chain forward on an empty batch", lambda: _net().forward(E), None,
        check=empty_array((2, 0)), isolate=True),
    Bad("chain backward on an empty batch", lambda: _net().backward(E), None,
        check=gradients((0, 0), NET_PARAMS), isolate=True),
    Bad("chain backward of given rows on an empty batch", lambda: _net().backward(E, np.zeros((3, 0))),
        None, check=gradients((3, 0), [{k: (3, v[1]) for k, v in p.items()} for p in NET_PARAMS]),
        isolate=True),
    Bad("chain Jacobian on an empty batch", lambda: _net().jacobian(E), None,
        check=empty_jacobian((0, 0)), isolate=True),
    # The command line. Its budget includes importing torch in the fresh interpreter (a few
    # seconds) and the first torch.func.jacrev of the process (about a second).
    Bad("cli verify avg pool on an empty batch",
        cli("verify", "--no-builtin", "--backends", "torch", "-c", "avg", "x=4x4x1x0", "window=2"),
        None, check=printed("(0, 0)", "1 of 1 Jacobians agree"), seconds=15.0, isolate=True),
    Bad("cli verify conv on an empty batch",
        cli("verify", "--no-builtin", "--backends", "torch", "-c", "conv", "x=4x4x1x0",
            "kernel=2x2x1x3", "bias=true"), None,
        check=printed("(0, 12)", "(0, 3)", "3 of 3 Jacobians agree"), seconds=15.0, isolate=True),
    Bad("cli verify chain on an empty batch",
        cli("verify", "--no-builtin", "-c", "chain", "x=8x8x1x0"), CLIFailed,
        ("exit 2", "labels must hold at least one label"), isolate=True),
]
