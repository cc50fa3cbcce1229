"""Size guards: a Jacobian over max_bytes is refused before anything is allocated.

The catalogue of bad inputs is in ``tests/bad_input/``."""

import numpy as np
import pytest

import jacobian_cnn as jc


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
