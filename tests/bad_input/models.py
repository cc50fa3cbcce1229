"""The layers of imported PyTorch models and the branch layers: refusals naming the argument,
the value and what is allowed; size guards that refuse before allocating."""

import numpy as np

import jacobian_cnn as jc
from bad_input.harness import Bad

x = np.zeros((3, 3, 2, 2))
bn = jc.BatchNorm2D(np.ones(2))

BAD_INPUT = [
    # (id, call, exception, message fragments)
    ("batch norm channels", lambda: bn.forward(np.zeros((3, 3, 3))), ValueError, ("C=2", "(3, 3, 3)")),
    ("batch norm gamma shape", lambda: jc.BatchNorm2D(np.ones((2, 2))), ValueError, ("gamma must be (C,)",)),
    ("batch norm beta shape", lambda: jc.BatchNorm2D(np.ones(2), np.ones(3)), ValueError, ("beta", "(2,)")),
    ("batch norm negative running var", lambda: jc.BatchNorm2D(np.ones(2), running_var=[1, -1]),
     ValueError, ("running_var must be >= 0",)),
    ("batch norm training flag", lambda: jc.BatchNorm2D(np.ones(2), training="yes"), TypeError,
     ("training must be True or False",)),
    ("batch norm eps", lambda: jc.BatchNorm2D(np.ones(2), eps=-1.0), ValueError, ("eps", "-1.0")),
    ("batch norm empty batch in training", lambda: bn.jacobian(np.zeros((3, 3, 2, 0))), ValueError,
     ("at least one entry per channel",)),
    ("batch norm wrt", lambda: bn.jacobian(x, wrt="beta"), ValueError, ("wrt must be one of", "'gamma'")),
    ("layer norm input shape", lambda: jc.LayerNorm((3, 3, 2)).forward(np.zeros((3, 2, 2))), ValueError,
     ("x must be (3, 3, 2)",)),
    ("layer norm shape", lambda: jc.LayerNorm((0, 2)), ValueError, ("normalized_shape",)),
    ("dropout p", lambda: jc.Dropout(1.0, mask=[1.0]), ValueError, ("p must be in [0, 1)", "1.0")),
    ("dropout mask values", lambda: jc.Dropout(0.5, mask=[0.5, 1.0]), ValueError, ("only 0s and 1s", "0.5")),
    ("dropout mask shape", lambda: jc.Dropout(0.5, mask=np.ones(3)).forward(np.ones(4)), ValueError,
     ("mask's shape (3,)", "(4,)")),
    ("reflection padding too large", lambda: jc.ReflectionPad2D(2).forward(np.zeros((2, 5))), ValueError,
     ("smaller than the input", "size 2")),
    ("padding negative", lambda: jc.ZeroPad2D(-1), ValueError, ("padding",)),
    ("constant pad value", lambda: jc.ConstantPad2D(1, value=np.inf), ValueError, ("value must be finite",)),
    ("upsample size and scale", lambda: jc.Upsample(size=2, scale_factor=2), ValueError,
     ("exactly one of size and scale_factor",)),
    ("upsample mode", lambda: jc.Upsample(size=2, mode="bicubic"), ValueError, ("mode must be one of",)),
    ("upsample corners with nearest", lambda: jc.Upsample(size=2, align_corners=True), ValueError,
     ("align_corners applies to mode='bilinear'",)),
    ("upsample scale", lambda: jc.Upsample(scale_factor=-2), ValueError, ("scale_factor", "-2")),
    ("upsample to nothing", lambda: jc.Upsample(scale_factor=0.2).forward(np.zeros((2, 2))), ValueError,
     ("output of size 0",)),
    ("adaptive output size", lambda: jc.AdaptiveAvgPool2D(0), ValueError, ("output_size",)),
    ("adaptive empty map", lambda: jc.AdaptiveAvgPool2D(1).forward(np.zeros((0, 2))), ValueError,
     ("at least one row and one column",)),
    ("gelu approximation", lambda: jc.GELU("erf"), ValueError, ("approximate must be one of",)),
    ("softplus beta", lambda: jc.Softplus(beta=0), ValueError, ("beta must be a positive",)),
    ("leaky slope type", lambda: jc.LeakyReLU("0.1"), TypeError, ("negative_slope must be a real number",)),
    ("residual without body", lambda: jc.Residual(None), TypeError, ("body must be",)),
    ("residual body type", lambda: jc.Residual("conv"), TypeError, ("body must be a Chain",)),
    ("add of different shapes", lambda: jc.Add(None, jc.AvgPool2D(2)).forward(np.zeros((4, 4))),
     ValueError, ("one shape to be added",)),
    ("concat of maps and vectors", lambda: jc.Concat(None, jc.Flatten()).forward(np.zeros((2, 2, 1))),
     ValueError, ("all be vectors", "or maps")),
    ("branch wrt", lambda: jc.Residual(jc.ReLU()).jacobian(x, wrt="body.0.kernel"), ValueError, ("wrt",)),
]

CASES = [Bad(id_, call, raises, fragments) for id_, call, raises, fragments in BAD_INPUT] + [
    # training batch norm of a 64x64x4 batch of 8: dense 32768-entry blocks, refused before building
    Bad("batch norm size guard", lambda: jc.BatchNorm2D(np.ones(4)).jacobian(
        np.zeros((64, 64, 4, 8)), max_bytes=2**20), jc.JacobianTooLargeError,
        ("BatchNorm2D input Jacobian", "max_bytes=1,048,576"), megabytes=40),
    Bad("residual path product guard", lambda: jc.Residual([jc.GlobalAvgPool2D(), jc.Upsample(size=64)]).jacobian(
        np.zeros((64, 64, 2)), max_bytes=2**20), jc.JacobianTooLargeError,
        ("the product through layer 1 of a path", "max_bytes=1,048,576"), megabytes=40),
    Bad("upsample size guard", lambda: jc.Upsample(scale_factor=8, mode="bilinear").jacobian(
        np.zeros((64, 64, 4)), max_bytes=2**20), jc.JacobianTooLargeError,
        ("Upsample Jacobian",), megabytes=40),
]
