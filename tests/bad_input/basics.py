"""Layer arguments and inputs that were refused from the start (moved from test_errors.py)."""

import numpy as np

import jacobian_cnn as jc
from bad_input.harness import Bad

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
    ("flatten spatial_ndim", lambda: jc.Flatten(spatial_ndim=4), ValueError, "spatial_ndim"),
    ("flatten spatial_ndim type", lambda: jc.Flatten(spatial_ndim=2.0), TypeError, "spatial_ndim"),
    ("flatten of 1-D maps given 2-D ones", lambda: jc.Flatten(spatial_ndim=1).forward(np.zeros((2, 2, 2, 2))),
     ValueError, "spatial_ndim=1"),
    ("tie rule", lambda: jc.MaxPool2D(2, tie="random"), ValueError, "tie"),
    ("count_include_pad type", lambda: jc.AvgPool2D(2, count_include_pad="yes"), TypeError,
     "count_include_pad"),
    ("all-padding avg window without pad counting",
     lambda: jc.AvgPool2D(2, padding=2, count_include_pad=False).forward(np.ones((1, 1))),
     ValueError, "entirely in padding"),
    ("all-padding max window", lambda: jc.MaxPool2D(2, padding=2).forward(np.ones((1, 1))),
     ValueError, "entirely in padding"),
    ("chain g shape", lambda: jc.Chain([jc.ReLU()]).backward(np.ones(3), np.ones((1, 4))), ValueError, "g must"),
    ("chain of non-layers", lambda: jc.Chain([object()]), TypeError, "layers[0]"),
    ("empty chain", lambda: jc.Chain([]), ValueError, "layers"),
    ("unvec size", lambda: jc.unvec(np.arange(5), (2, 3)), ValueError, "unvec"),
    ("switches out of range", lambda: jc.switches_jacobian(np.array([4]), 4), ValueError, "switches"),
]

CASES = [Bad(id_, call, raises, (fragment,)) for id_, call, raises, fragment in BAD_INPUT]

