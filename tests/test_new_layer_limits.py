"""Issue 14's new layers refuse a Jacobian over ``max_bytes`` before allocating it.

Each input is a broadcast view of one number (no memory of its own), large enough that
the Jacobian would take hundreds of MB or more; the refusal must name ``max_bytes`` and
the traced allocations while refusing stay a small fraction of the refused matrix (the
input's finiteness check, a byte per entry, is the largest of them).
"""

import tracemalloc

import numpy as np
import pytest

import jacobian_cnn as jc

MAPS = (128, 128, 4, 32)  # 2 M entries: a 16 MB diagonal, far more for the dense blocks


def _big(*shape):
    return np.broadcast_to(np.float32(0.5), shape)


LAYERS = {
    "batchnorm-train": (lambda: jc.BatchNorm2D(np.ones(4)), MAPS, "input"),
    "batchnorm-train-gamma": (lambda: jc.BatchNorm2D(np.ones(4)), MAPS, "gamma"),
    "batchnorm-eval": (lambda: jc.BatchNorm2D(np.ones(4), training=False), MAPS, "input"),
    "layernorm": (lambda: jc.LayerNorm((128, 128, 4)), MAPS, "input"),
    "dropout": (lambda: jc.Dropout(0.5, mask=np.ones(MAPS)), MAPS, "input"),
    "zeropad": (lambda: jc.ZeroPad2D(1), MAPS, "input"),
    "reflectionpad": (lambda: jc.ReflectionPad2D(2), MAPS, "input"),
    "replicationpad": (lambda: jc.ReplicationPad2D(2), MAPS, "input"),
    "upsample-nearest": (lambda: jc.Upsample(scale_factor=2), MAPS, "input"),
    "upsample-bilinear": (lambda: jc.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
                          MAPS, "input"),
    "adaptiveavgpool": (lambda: jc.AdaptiveAvgPool2D(5), MAPS, "input"),
    "globalavgpool": (lambda: jc.GlobalAvgPool2D(), MAPS, "input"),
    "logsoftmax": (lambda: jc.LogSoftmax(), (4096, 512), "input"),
    "conv1d": (lambda: jc.Conv1D(np.ones((3, 4, 8)), padding=1), (2**16, 4, 8), "input"),
    "conv1d-kernel": (lambda: jc.Conv1D(np.ones((3, 4, 8)), padding=1), (2**16, 4, 8), "kernel"),
    "conv3d": (lambda: jc.Conv3D(np.ones((3, 3, 3, 4, 4)), padding=1), (32, 32, 32, 4, 2), "input"),
    "convtranspose1d": (lambda: jc.ConvTranspose1D(np.ones((4, 4, 4)), stride=2), (2**16, 4, 8), "input"),
    "convtranspose2d": (lambda: jc.ConvTranspose2D(np.ones((4, 4, 4, 4)), stride=2), (128, 128, 4, 8),
                        "kernel"),
    "convtranspose3d": (lambda: jc.ConvTranspose3D(np.ones((2, 2, 2, 4, 4)), stride=2), (32, 32, 32, 4, 2),
                        "input"),
    "avgpool1d": (lambda: jc.AvgPool1D(3, stride=1, padding=1), (2**16, 4, 8), "input"),
    "avgpool3d": (lambda: jc.AvgPool3D(3, stride=1, padding=1), (32, 32, 32, 4, 2), "input"),
    "maxpool1d": (lambda: jc.MaxPool1D(2), (2**16, 4, 8), "input"),
    "maxpool3d": (lambda: jc.MaxPool3D(2), (32, 32, 32, 4, 2), "input"),
    # elementwise: refused before f' is evaluated (an input-sized array)
    "leakyrelu": (lambda: jc.LeakyReLU(0.1), MAPS, "input"),
    "elu": (lambda: jc.ELU(), MAPS, "input"),
    "gelu": (lambda: jc.GELU(), MAPS, "input"),
    "gelu-tanh": (lambda: jc.GELU("tanh"), MAPS, "input"),
    "softplus": (lambda: jc.Softplus(), MAPS, "input"),
    "identity": (lambda: jc.Identity(), MAPS, "input"),
    "tanh": (lambda: jc.Tanh(), MAPS, "input"),
    "sigmoid": (lambda: jc.Sigmoid(), MAPS, "input"),
}


@pytest.mark.parametrize("name", LAYERS)
def test_new_layer_refuses_before_allocating(name):
    make, shape, wrt = LAYERS[name]
    layer, x = make(), _big(*shape)
    limit = 10**5
    tracemalloc.start()
    try:
        with pytest.raises((jc.JacobianTooLargeError, jc.SizeLimitError), match="max_bytes=100,000") as err:
            layer.jacobian(x, wrt=wrt, max_bytes=limit)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "would need about" in str(err.value)
    refused = int(str(err.value).split("would need about ")[1].split(" bytes")[0].replace(",", ""))
    assert refused > 10 * limit, str(err.value)
    # no more than the input's size in bytes of float32 (the refused matrix is several times that)
    assert peak < min(refused / 4, 4 * x.size + 2**20), (name, peak, refused)
