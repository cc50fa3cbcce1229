"""Bad input gets a clear TypeError/ValueError that names the argument."""

import numpy as np
import pytest

import jacobian_cnn as jc

x3 = np.zeros((4, 4, 2))
K = np.ones((3, 3, 2, 1))

BAD_INPUT = [
    # (id, call, exception, message fragment)
    ("channel mismatch", lambda: jc.Conv2D(np.ones((3, 3, 3, 1))).forward(x3), ValueError, "channels"),
    ("dilated kernel > padded input", lambda: jc.Conv2D(K, dilation=2).forward(x3), ValueError, "kernel"),
    ("window > padded input", lambda: jc.AvgPool2D(5).forward(x3), ValueError, "window"),
    ("max window > padded input", lambda: jc.MaxPool2D(3, padding=(0, 0)).jacobian(np.zeros((2, 5))),
     ValueError, "window"),
    ("zero stride", lambda: jc.Conv2D(K, stride=0), ValueError, "stride"),
    ("negative stride pair", lambda: jc.MaxPool2D(2, stride=(1, -1)), ValueError, "stride"),
    ("float stride", lambda: jc.AvgPool2D(2, stride=1.5), TypeError, "stride"),
    ("zero dilation", lambda: jc.Conv2D(K, dilation=(0, 1)), ValueError, "dilation"),
    ("negative padding", lambda: jc.Conv2D(K, padding=-1), ValueError, "padding"),
    ("negative asymmetric padding", lambda: jc.AvgPool2D(2, padding=((0, 1), (-1, 0))), ValueError, "padding"),
    ("bad padding type", lambda: jc.AvgPool2D(2, padding="lots"), TypeError, "padding"),
    ("zero window", lambda: jc.MaxPool2D(0), ValueError, "window"),
    ("x with 5 dims", lambda: jc.AvgPool2D(2).forward(np.zeros((2, 2, 1, 1, 1))), ValueError, "x must be"),
    ("x with 1 dim", lambda: jc.Conv2D(K).jacobian(np.zeros(4)), ValueError, "x must be"),
    ("kernel with 5 dims", lambda: jc.Conv2D(np.ones((1, 1, 1, 1, 1))), ValueError, "kernel"),
    ("bias shape", lambda: jc.Conv2D(K, bias=np.ones(2)), ValueError, "bias"),
    ("string input", lambda: jc.ReLU().forward(np.array(["a"])), TypeError, "x must be a numeric"),
    ("complex input", lambda: jc.Tanh().forward(np.ones(2) * 1j), TypeError, "real"),
    ("NaN input to max pool", lambda: jc.MaxPool2D(2).switches(np.array([[1, np.nan], [0, 0]])),
     ValueError, "NaN"),
    ("NaN in kernel", lambda: jc.Conv2D(np.array([[np.nan]])), ValueError, "kernel contains NaN"),
    ("inf in dense input", lambda: jc.Dense(np.ones((2, 1))).forward(np.array([1, np.inf])),
     ValueError, "x contains NaN or inf"),
    ("dense x size", lambda: jc.Dense(np.ones((3, 2))).forward(np.ones(4)), ValueError, "n_in=3"),
    ("dense weight ndim", lambda: jc.Dense(np.ones(3)), ValueError, "weight"),
    ("dense bias shape", lambda: jc.Dense(np.ones((3, 2)), bias=np.ones(3)), ValueError, "bias"),
    ("unknown wrt", lambda: jc.Conv2D(K).jacobian(x3, wrt="weight"), ValueError, "wrt"),
    ("bias wrt without bias", lambda: jc.Conv2D(K).jacobian(x3, wrt="bias"), ValueError, "wrt"),
    ("label out of range", lambda: jc.SoftmaxCrossEntropy(4).forward(np.zeros(4)), ValueError, "labels"),
    ("negative label", lambda: jc.SoftmaxCrossEntropy([0, -1]).forward(np.zeros((3, 2))), ValueError, "labels"),
    ("float labels", lambda: jc.SoftmaxCrossEntropy([0.5]), TypeError, "labels"),
    ("label count", lambda: jc.SoftmaxCrossEntropy([0, 1]).forward(np.zeros((3, 3))), ValueError, "labels"),
    ("mse target shape", lambda: jc.MSELoss(np.zeros(3)).forward(np.zeros(4)), ValueError, "target"),
    ("flatten order", lambda: jc.Flatten("K"), ValueError, "order"),
    ("tie rule", lambda: jc.MaxPool2D(2, tie="random"), ValueError, "tie"),
    ("count_include_pad type", lambda: jc.AvgPool2D(2, count_include_pad="yes"), TypeError,
     "count_include_pad"),
    ("all-padding avg window without pad counting",
     lambda: jc.AvgPool2D(2, padding=2, count_include_pad=False).forward(np.ones((1, 1))),
     ValueError, "entirely in padding"),
    ("all-padding max window", lambda: jc.MaxPool2D(2, padding=2).forward(np.ones((1, 1))),
     ValueError, "entirely in padding"),
    ("chain g shape", lambda: jc.Chain([jc.ReLU()]).backward(np.ones(3), np.ones((1, 4))), ValueError, "g must"),
    ("chain of non-layers", lambda: jc.Chain([object()]), TypeError, r"layers\[0\]"),
    ("empty chain", lambda: jc.Chain([]), ValueError, "layers"),
    ("unvec size", lambda: jc.unvec(np.arange(5), (2, 3)), ValueError, "unvec"),
    ("switches out of range", lambda: jc.switches_jacobian(np.array([4]), 4), ValueError, "switches"),
]


@pytest.mark.parametrize("call, exception, fragment",
                         [pytest.param(c, e, f, id=i) for i, c, e, f in BAD_INPUT])
def test_bad_input_is_named(call, exception, fragment):
    with pytest.raises(exception, match=fragment):
        call()


def test_too_large_jacobian_is_refused_before_allocation():
    x = np.zeros((64, 64, 32))
    conv = jc.Conv2D(np.zeros((3, 3, 32, 64)), padding=1)
    with pytest.raises(jc.JacobianTooLargeError, match=r"bytes .*max_bytes=1,000,000") as info:
        conv.jacobian(x, max_bytes=1_000_000)
    # nnz = 64*64 outputs * 64 channels * 32 inputs * 9 taps, less the taps in padding:
    nnz = (62 * 62 * 9 + 4 * 62 * 6 + 4 * 4) * 32 * 64
    assert f"{nnz:,} nonzeros" in str(info.value)
    assert isinstance(info.value, MemoryError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("layer, x", [
    (jc.AvgPool2D(2), np.zeros((8, 8, 4))),
    (jc.MaxPool2D(2), np.zeros((8, 8, 4))),
    (jc.Dense(np.zeros((10, 10))), np.zeros(10)),
    (jc.Flatten("C"), np.zeros((4, 4, 2))),
    (jc.Sigmoid(), np.zeros(100)),
    (jc.Softmax(), np.zeros((10, 3))),
])
def test_every_builder_honours_max_bytes(layer, x):
    with pytest.raises(jc.JacobianTooLargeError, match="bytes"):
        layer.jacobian(x, max_bytes=64)
    assert layer.jacobian(x).shape[1] == x.size


def test_max_bytes_reaches_layers_through_the_chain():
    net = jc.Chain([jc.Conv2D(np.ones((3, 3, 1, 2)), padding=1), jc.ReLU()])
    with pytest.raises(jc.JacobianTooLargeError):
        net.backward(np.ones((16, 16)), np.ones((1, 512)), max_bytes=1000)
    with pytest.raises(jc.JacobianTooLargeError):
        net.jacobian(np.ones((16, 16)), max_bytes=1000)
