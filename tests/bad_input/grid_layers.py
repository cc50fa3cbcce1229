"""The 1-D, 3-D and transposed window layers (issue 14, part B) meet the package's bad-input rules.

Wrong types and values of every argument, NaN and inf, empty batches (accepted, as in
PyTorch: ``F.conv1d`` of a ``(0, 2, 5)`` input is ``(0, C_out, L_out)``, ours
``(L_out, C_out, 0)``, with ``(0, n)`` Jacobians), inputs without channels, impossible
geometry, size limits and caches. Expected shapes are reasoned by hand.
"""

import numpy as np

import jacobian_cnn as jc
from bad_input.harness import Bad
from jacobian_cnn.errors import InvalidTypeError as T
from jacobian_cnn.errors import InvalidValueError as V

K1 = np.ones((3, 2, 4))          # Conv1D: k=3, C_in=2, C_out=4
KT = np.ones((2, 2, 3, 1))       # ConvTranspose2D: 2x2, C_in=3, C_out=1
X1 = np.ones((5, 2))             # (L, C)


def _shape(expected):
    def check(result):
        assert np.shape(result) == expected, np.shape(result)
    return check


def _nan(shape):
    x = np.ones(shape)
    x.flat[1] = np.nan
    return x


CASES = [
    Bad("conv1d stride 0", lambda: jc.Conv1D(K1, stride=0), V, ("stride", "positive", "0")),
    Bad("conv1d stride float", lambda: jc.Conv1D(K1, stride=1.5), T, ("stride", "positive int", "1.5")),
    Bad("conv3d stride of two values", lambda: jc.Conv3D(np.ones((2, 2, 2, 1, 1)), stride=(1, 2)), T,
        ("stride", "3 positive ints", "(1, 2)")),
    Bad("conv1d negative padding", lambda: jc.Conv1D(K1, padding=-1), V, ("padding", "non-negative", "-1")),
    Bad("conv1d padding pairs for the wrong number of axes",
        lambda: jc.Conv1D(K1, padding=((1, 0), (0, 1))), V, ("padding", "one (lo, hi) pair per axis")),
    Bad("conv1d kernel of the wrong rank", lambda: jc.Conv1D(np.ones((3, 3))), V,
        ("kernel must be (k1, C_in / groups, C_out)", "(3, 3)")),
    Bad("conv3d kernel with an empty axis", lambda: jc.Conv3D(np.ones((2, 0, 2, 1, 1))), V,
        ("kernel must be", "at least 1", "(2, 0, 2, 1, 1)")),
    Bad("conv1d NaN kernel", lambda: jc.Conv1D(_nan((3, 2, 4))), V, ("kernel", "NaN")),
    Bad("conv1d groups not dividing C_out", lambda: jc.Conv1D(K1, groups=3), V, ("groups=3", "divide")),
    Bad("conv1d groups bool", lambda: jc.Conv1D(K1, groups=True), T, ("groups", "True")),
    Bad("conv1d bias of the wrong length", lambda: jc.Conv1D(K1, np.ones(3)), V, ("bias", "(C_out,) = (4,)")),
    Bad("conv1d kernel reassigned with another shape",
        lambda: setattr(jc.Conv1D(K1), "kernel", np.ones((2, 2, 4))), V, ("keep the layer's shape",)),
    Bad("conv1d NaN input", lambda: jc.Conv1D(K1).forward(_nan((5, 2))), V, ("x", "NaN")),
    Bad("conv1d input of the wrong rank", lambda: jc.Conv1D(K1).forward(np.ones(5)), V,
        ("x must be (L, C)", "(5,)")),
    Bad("conv1d input with the wrong channels", lambda: jc.Conv1D(K1).forward(np.ones((5, 3))), V,
        ("3 channels", "expects 2")),
    Bad("conv1d kernel longer than the padded input", lambda: jc.Conv1D(K1).forward(np.ones((2, 2))), V,
        ("kernel (3,)", "spans 3", "padded input has length 2")),
    Bad("conv1d same padding with stride 2", lambda: jc.Conv1D(K1, padding="same", stride=2), V,
        ("padding='same' needs stride 1",)),
    Bad("conv1d forward on an empty batch", lambda: jc.Conv1D(K1).forward(np.ones((5, 2, 0))), None,
        check=_shape((3, 4, 0))),
    Bad("conv1d input Jacobian on an empty batch", lambda: jc.Conv1D(K1).jacobian(np.ones((5, 2, 0))),
        None, check=_shape((0, 0))),
    Bad("conv1d kernel Jacobian on an empty batch",
        lambda: jc.Conv1D(K1).jacobian(np.ones((5, 2, 0)), wrt="kernel"), None, check=_shape((0, 24))),
    Bad("conv1d wrt unknown", lambda: jc.Conv1D(K1).jacobian(X1, wrt="weight"), V,
        ("wrt must be one of", "'weight'")),
    Bad("convtranspose2d output_padding at the stride",
        lambda: jc.ConvTranspose2D(KT, stride=2, output_padding=2), V,
        ("output_padding (2, 2)", "smaller than the stride")),
    Bad("convtranspose2d negative output_padding", lambda: jc.ConvTranspose2D(KT, output_padding=-1), V,
        ("output_padding", "non-negative", "-1")),
    Bad("convtranspose2d groups not dividing C_in", lambda: jc.ConvTranspose2D(KT, groups=2), V,
        ("groups=2", "divide")),
    Bad("convtranspose2d padding removing every output",
        lambda: jc.ConvTranspose2D(KT, padding=2).forward(np.ones((1, 1, 3))), V, ("no output",)),
    Bad("convtranspose2d on an empty batch", lambda: jc.ConvTranspose2D(KT).forward(np.ones((2, 2, 3, 0))),
        None, check=_shape((3, 3, 1, 0))),
    Bad("convtranspose2d Jacobian over max_bytes",
        lambda: jc.ConvTranspose2D(np.ones((3, 3, 64, 64))).jacobian(np.ones((64, 64, 64)), max_bytes=10**6),
        jc.JacobianTooLargeError, ("ConvTranspose2D input Jacobian", "max_bytes=1,000,000")),
    Bad("conv3d max_bytes not an int", lambda: jc.Conv3D(np.ones((1, 1, 1, 1, 1))).jacobian(
        np.ones((2, 2, 2, 1)), max_bytes="big"), T, ("max_bytes", "positive int")),
    Bad("avgpool1d window 0", lambda: jc.AvgPool1D(0), V, ("window", "positive", "0")),
    Bad("avgpool3d divisor_override 0", lambda: jc.AvgPool3D(2, divisor_override=0), V,
        ("divisor_override", "nonzero int", "0")),
    Bad("avgpool3d divisor_override float", lambda: jc.AvgPool3D(2, divisor_override=2.5), T,
        ("divisor_override", "nonzero int", "2.5")),
    Bad("avgpool1d count_include_pad not a bool", lambda: jc.AvgPool1D(2, count_include_pad=1), T,
        ("count_include_pad", "bool")),
    Bad("avgpool1d window entirely in padding without counting it",
        lambda: jc.AvgPool1D(1, padding=1, count_include_pad=False).forward(X1), V,
        ("entirely in the padding", "0/0")),
    Bad("avgpool1d input without channels", lambda: jc.AvgPool1D(2).forward(np.ones((4, 0))), V,
        ("at least one channel",)),
    Bad("avgpool3d on an empty batch", lambda: jc.AvgPool3D(2).forward(np.ones((2, 2, 2, 1, 0))), None,
        check=_shape((1, 1, 1, 1, 0))),
    Bad("maxpool1d tie rule unknown", lambda: jc.MaxPool1D(2, tie="first"), V, ("tie", "'first'")),
    Bad("maxpool1d inf input", lambda: jc.MaxPool1D(2).forward(np.array([[1.0], [np.inf]])), V,
        ("x", "inf")),
    Bad("maxpool1d cache of floats", lambda: jc.MaxPool1D(2).jacobian(X1[:4], cache=np.zeros((2, 2))), V,
        ("cache", "ints of shape (2, 2)", "float64")),
    Bad("maxpool1d cache outside its window",
        lambda: jc.MaxPool1D(2).jacobian(X1[:4], cache=np.array([[3, 4], [2, 6]])), V,
        ("cache", "its own window",)),
    Bad("maxpool3d Jacobian on an empty batch", lambda: jc.MaxPool3D(2).jacobian(np.ones((2, 2, 2, 1, 0))),
        None, check=_shape((0, 0))),
]
