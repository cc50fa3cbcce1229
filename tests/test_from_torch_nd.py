"""``jc.from_torch`` of PyTorch's 1-D, 3-D and transposed convolution and pooling modules, one
option at a time, against autograd (``check_against_torch`` of ``test_nd_architectures``:
forward, ``jacrev`` input Jacobian, every parameter gradient within 1e-10), and the modules
and options it refuses, each named with its path."""

import re
from pathlib import Path

import numpy as np
import pytest

import jacobian_cnn as jc

torch = pytest.importorskip("torch")
nn = torch.nn

from test_nd_architectures import check_against_torch  # noqa: E402

L1, L3 = (2, 4, 7), (1, 2, 4, 5, 3)  # (N, C, L) and (N, C, D, H, W)

MODULES = [
    (nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2), L1),
    (nn.Conv1d(4, 2, 4, padding="same", bias=False), L1),
    (nn.Conv3d(2, 4, (2, 3, 1), stride=(1, 2, 1), padding=(1, 0, 1), groups=2), L3),
    (nn.Conv3d(2, 2, 3, padding="valid", dilation=(1, 2, 1)), (1, 2, 4, 5, 3)),
    (nn.ConvTranspose1d(4, 6, 3, stride=3, padding=1, output_padding=2, groups=2), L1),
    (nn.ConvTranspose1d(4, 2, 2, dilation=3, bias=False), L1),
    (nn.ConvTranspose2d(2, 4, (3, 2), stride=(2, 1), padding=(1, 0), output_padding=(1, 0),
                        dilation=(1, 2), groups=2), (2, 2, 3, 4)),
    (nn.ConvTranspose3d(2, 2, 2, stride=2, padding=(0, 1, 0), output_padding=(1, 0, 0)), L3),
    (nn.MaxPool1d(3, stride=2, padding=1, dilation=2, ceil_mode=True), L1),
    (nn.MaxPool3d((2, 3, 2), stride=1, padding=(1, 1, 0)), L3),
    (nn.MaxPool3d(2, ceil_mode=True), L3),
    (nn.AvgPool1d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), L1),
    (nn.AvgPool1d(2, padding=1), L1),
    (nn.AvgPool3d(3, stride=2, padding=1, count_include_pad=True, divisor_override=5), L3),
    (nn.AvgPool3d((2, 2, 3), ceil_mode=True, count_include_pad=False), L3),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("module, shape", MODULES, ids=[repr(m) for m, _ in MODULES])
def test_each_module_and_option_equals_pytorch(module, shape):
    model = nn.Sequential(module, nn.Tanh(), nn.Flatten())
    net = check_against_torch(model, shape)
    assert type(net[0]).__name__.lower().startswith(type(module).__name__.lower()[:-2])


@pytest.mark.parametrize("model, shape, message", [
    (nn.Sequential(nn.Conv1d(2, 2, 3, padding=1, padding_mode="circular")), L1[:1] + (2, 7),
     r"Conv1d\(padding_mode='circular'\) at 0: Conv1D pads with zeros only"),
    (nn.Sequential(nn.Identity(), nn.Sequential(nn.MaxPool3d(2, return_indices=True))), L3,
     r"MaxPool3d\(return_indices=True\) at 1\.0"),
    (nn.Sequential(nn.MaxPool2d(2, return_indices=True)), (1, 1, 4, 4), r"MaxPool2d\(return_indices=True\)"),
    (nn.Sequential(nn.Conv1d(4, 2, 1), nn.Upsample(scale_factor=2)), L1,
     r"Upsample at 1: it reads \(N, C, H, W\) maps only, and its input here is \(N, C, L\) maps"),
    (nn.Sequential(nn.Conv2d(2, 2, 1)), L3, r"Conv2d at 0: .* its input here is \(N, C, D, H, W\) maps"),
    (nn.Sequential(nn.Conv1d(4, 2, 1), nn.BatchNorm1d(2)), L1, r"BatchNorm1d at 1"),
])
def test_refused_modules_are_named_with_their_path(model, shape, message):
    with pytest.raises(TypeError, match=message):
        jc.from_torch(model, shape)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5, 6, 7), (5,), (2, 0, 3)])
def test_input_shapes_other_than_2_to_5_axes_are_refused(shape):
    with pytest.raises(ValueError, match="input_shape"):
        jc.from_torch(nn.Sequential(nn.ReLU()), shape)


def test_dropout_masks_of_n_d_maps_are_in_pytorchs_layout():
    model = nn.Sequential(nn.Conv3d(1, 2, 1), nn.Dropout(0.25)).train()
    mask = (np.random.default_rng(3).uniform(size=(1, 2, 4, 5, 3)) > 0.25).astype(float)
    net = jc.from_torch(model, L3[:1] + (1,) + L3[2:], dropout_masks={"1": mask})
    np.testing.assert_array_equal(net[1].mask, mask.transpose(2, 3, 4, 1, 0))


def _module_names(text):
    """``{"Conv1d", "ConvTranspose2d", ...}`` named in ``text`` (``MaxPool1d/2d/3d`` spelled out)."""
    names = set()
    for stem, first, more in re.findall(r"\b([A-Z][A-Za-z]+?)(\d?d?)((?:/\dd)*)\b", text):
        names |= {stem + first} | {stem + m for m in more.split("/") if m}
    return names - {"N", "C", "D", "H", "W", "L"}


def test_readme_lists_every_supported_module():
    from jacobian_cnn.compare.torch_modules import SUPPORTED_MODULES

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("`from_torch` converts"):readme.index("`to_torch` builds")]
    supported = _module_names(SUPPORTED_MODULES)
    assert {"Conv1d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "MaxPool1d",
            "MaxPool3d", "AvgPool1d", "AvgPool3d", "Conv2d", "Upsample"} <= supported
    assert supported - _module_names(section) == set()
    assert all(hasattr(nn, name) for name in supported if name not in ("Sequential",))
