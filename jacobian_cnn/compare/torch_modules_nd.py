"""PyTorch's 1-D / 3-D and transposed convolution and pooling modules -> this package's layers.

Part of :func:`~jacobian_cnn.compare.torch_modules.convert_module` (the 2-D modules are in
:mod:`jacobian_cnn.compare.torch_modules`). Kernels move from PyTorch's layouts to ours:
``Conv1d``/``Conv3d`` weights ``(C_out, C_in / groups, k...)`` -> ``(k..., C_in / groups,
C_out)``, ``ConvTranspose{1,2,3}d`` weights ``(C_in, C_out / groups, k...)`` ->
``(k..., C_in, C_out / groups)``; max pooling keeps PyTorch's ties (``tie="row_major"``).
The N-D layers pad with zeros only, so another ``padding_mode`` is refused; so is
``return_indices``. torch is imported by the caller.
"""

from __future__ import annotations

from jacobian_cnn.ops.conv_nd import Conv1D, Conv3D
from jacobian_cnn.ops.conv_transpose import ConvTranspose1D, ConvTranspose2D, ConvTranspose3D
from jacobian_cnn.ops.pooling_nd import AvgPool1D, AvgPool3D, MaxPool1D, MaxPool3D

__all__ = ["nd_converters", "ND_MODULES"]

ND_MODULES = ("Conv1d, Conv3d (zero padding), ConvTranspose1d/2d/3d, MaxPool1d/3d, AvgPool1d/3d "
              "(inputs (N, C, L) and (N, C, D, H, W))")
"""The part of :data:`~jacobian_cnn.compare.torch_modules.SUPPORTED_MODULES` converted here."""


def _array(t):
    return None if t is None else t.detach().cpu().double().numpy()


def _kernel(weight):
    """A convolution's ``(C_out, C_in / groups, k...)`` -> ``(k..., C_in / groups, C_out)``."""
    w = _array(weight)
    return w.transpose(tuple(range(2, w.ndim)) + (1, 0))


def _transposed_kernel(weight):
    """A transposed convolution's ``(C_in, C_out / groups, k...)`` -> ``(k..., C_in, C_out / groups)``."""
    w = _array(weight)
    return w.transpose(tuple(range(2, w.ndim)) + (0, 1))


def _refuse(m, path, refused, why):
    from jacobian_cnn.compare.torch_modules import unsupported

    return unsupported(f"{type(m).__name__}({refused})", path, why)


def _conv(cls):
    def convert(m, path):
        if m.padding_mode != "zeros":
            raise _refuse(m, path, f"padding_mode={m.padding_mode!r}",
                          f"{cls.__name__} pads with zeros only (padding_mode='zeros')")
        return cls(_kernel(m.weight), _array(m.bias), stride=m.stride, padding=m.padding,
                   dilation=m.dilation, groups=m.groups)
    return convert


def _conv_transpose(cls):
    def convert(m, path):
        if m.padding_mode != "zeros":  # PyTorch refuses it too; kept for a subclass that would not
            raise _refuse(m, path, f"padding_mode={m.padding_mode!r}", "zero padding only")
        return cls(_transposed_kernel(m.weight), _array(m.bias), stride=m.stride, padding=m.padding,
                   output_padding=m.output_padding, dilation=m.dilation, groups=m.groups)
    return convert


def _max_pool(cls):
    def convert(m, path):
        if m.return_indices:
            raise _refuse(m, path, "return_indices=True", "the indices are no tensor to differentiate")
        return cls(m.kernel_size, stride=m.stride, padding=m.padding, dilation=m.dilation,
                   ceil_mode=m.ceil_mode, tie="row_major")
    return convert


def _avg_pool(cls):
    def convert(m, path):
        return cls(m.kernel_size, stride=m.stride, padding=m.padding, ceil_mode=m.ceil_mode,
                   count_include_pad=m.count_include_pad,
                   divisor_override=getattr(m, "divisor_override", None))
    return convert


def nd_converters(nn):
    """``[(torch.nn class, convert(module, path)), ...]`` of the modules converted here."""
    return [
        (nn.Conv1d, _conv(Conv1D)),
        (nn.Conv3d, _conv(Conv3D)),
        (nn.ConvTranspose1d, _conv_transpose(ConvTranspose1D)),
        (nn.ConvTranspose2d, _conv_transpose(ConvTranspose2D)),
        (nn.ConvTranspose3d, _conv_transpose(ConvTranspose3D)),
        (nn.MaxPool1d, _max_pool(MaxPool1D)),
        (nn.MaxPool3d, _max_pool(MaxPool3D)),
        (nn.AvgPool1d, _avg_pool(AvgPool1D)),
        (nn.AvgPool3d, _avg_pool(AvgPool3D)),
    ]
