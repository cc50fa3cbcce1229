# ruff: noqa: E501  (a data table: one configuration per line)
"""PyTorch's own convolution, transposed-convolution and pooling test configurations, as data.

Transcribed (shapes and hyperparameters only) from PyTorch's test suite, repository
pytorch/pytorch:

* ``torch/testing/_internal/common_nn.py``, ``new_module_tests`` (commit 0140b62d8bab):
  the ``Conv1d``, ``ConvTranspose1d``, ``Conv2d``, ``ConvTranspose2d``, ``Conv3d`` and
  ``ConvTranspose3d`` entries;
* ``torch/testing/_internal/common_modules.py``, ``module_inputs_torch_nn_AvgPool1d/2d/3d``
  and ``module_inputs_torch_nn_MaxPool1d/2d/3d``.

Each row is ``(name, torch module, constructor keyword arguments, input shape in PyTorch's
layout)``, the name PyTorch's ``fullname`` or ``module_name`` plus ``desc``. Left out:
``return_indices`` rows (the same configuration as the row before them) and the
``cudnn``/``tf32`` flags (devices). Every configuration here is valid in PyTorch.
"""

CONV = [
    # common_nn.py new_module_tests
    ("Conv1d", "Conv1d", dict(in_channels=4, out_channels=5, kernel_size=3), (2, 4, 10)),
    ("Conv1d_stride", "Conv1d", dict(in_channels=4, out_channels=5, kernel_size=3, stride=2), (2, 4, 10)),
    ("Conv1d_pad1", "Conv1d", dict(in_channels=4, out_channels=5, kernel_size=3, stride=1, padding=1), (2, 4, 10)),
    ("Conv1d_pad2", "Conv1d", dict(in_channels=4, out_channels=5, kernel_size=5, stride=1, padding=2), (2, 4, 10)),
    ("Conv1d_pad1size1", "Conv1d", dict(in_channels=4, out_channels=4, kernel_size=3, stride=1, padding=1), (1, 4, 1)),
    ("Conv1d_pad2size1", "Conv1d", dict(in_channels=4, out_channels=4, kernel_size=5, stride=1, padding=2), (1, 4, 1)),
    ("Conv1d_zero_batch", "Conv1d", dict(in_channels=4, out_channels=5, kernel_size=3), (0, 4, 10)),
    ("Conv1d_dilated", "Conv1d", dict(in_channels=4, out_channels=5, kernel_size=3, dilation=2), (2, 4, 10)),
    ("Conv1d_groups", "Conv1d", dict(in_channels=4, out_channels=6, kernel_size=3, groups=2), (2, 4, 6)),
    ("Conv1d_pad_valid", "Conv1d", dict(in_channels=4, out_channels=5, kernel_size=3, padding="valid"), (2, 4, 10)),
    ("Conv1d_pad_same", "Conv1d", dict(in_channels=4, out_channels=5, kernel_size=3, padding="same"), (2, 4, 10)),
    ("Conv1d_pad_same2", "Conv1d", dict(in_channels=4, out_channels=5, kernel_size=4, padding="same"), (2, 4, 10)),
    ("Conv1d_pad_same_dilated", "Conv1d", dict(in_channels=4, out_channels=5, kernel_size=4, padding="same", dilation=2), (2, 4, 10)),
    ("ConvTranspose1d", "ConvTranspose1d", dict(in_channels=3, out_channels=4, kernel_size=3, stride=3, padding=1, output_padding=1), (1, 3, 7)),
    ("ConvTranspose1d_no_bias", "ConvTranspose1d", dict(in_channels=3, out_channels=4, kernel_size=3, stride=2, padding=1, output_padding=1, groups=1, bias=False), (1, 3, 6)),
    ("ConvTranspose1d_dilated", "ConvTranspose1d", dict(in_channels=3, out_channels=4, kernel_size=3, stride=2, padding=1, output_padding=1, groups=1, bias=True, dilation=2), (1, 3, 6)),
    ("ConvTranspose1d_groups", "ConvTranspose1d", dict(in_channels=4, out_channels=6, kernel_size=3, stride=3, padding=1, output_padding=1, groups=2), (2, 4, 7)),
    ("Conv2d", "Conv2d", dict(in_channels=3, out_channels=4, kernel_size=(3, 2)), (2, 3, 7, 5)),
    ("Conv2d_strided", "Conv2d", dict(in_channels=3, out_channels=4, kernel_size=(3, 3), stride=(2, 2)), (2, 3, 6, 6)),
    ("Conv2d_padding", "Conv2d", dict(in_channels=3, out_channels=4, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1)), (2, 3, 6, 6)),
    ("Conv2d_dilated", "Conv2d", dict(in_channels=3, out_channels=2, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(2, 2)), (2, 3, 8, 8)),
    ("Conv2d_no_bias", "Conv2d", dict(in_channels=3, out_channels=4, kernel_size=(3, 2), stride=1, padding=0, dilation=1, groups=1, bias=False), (2, 3, 6, 5)),
    ("Conv2d_zero_batch", "Conv2d", dict(in_channels=3, out_channels=4, kernel_size=(3, 2)), (0, 3, 7, 5)),
    ("Conv2d_groups", "Conv2d", dict(in_channels=4, out_channels=6, kernel_size=(3, 2), groups=2), (2, 4, 6, 5)),
    ("Conv2d_pad_valid", "Conv2d", dict(in_channels=2, out_channels=4, kernel_size=(3, 4), padding="valid"), (2, 2, 6, 5)),
    ("Conv2d_pad_same", "Conv2d", dict(in_channels=2, out_channels=4, kernel_size=(3, 4), padding="same"), (2, 2, 6, 5)),
    ("Conv2d_pad_same_dilated", "Conv2d", dict(in_channels=2, out_channels=4, kernel_size=(3, 4), padding="same", dilation=2), (2, 2, 6, 5)),
    ("ConvTranspose2d", "ConvTranspose2d", dict(in_channels=3, out_channels=4, kernel_size=3, stride=(3, 2), padding=1, output_padding=(1, 1)), (1, 3, 7, 6)),
    ("ConvTranspose2d_dilated", "ConvTranspose2d", dict(in_channels=3, out_channels=4, kernel_size=3, stride=(2, 3), padding=1, output_padding=(1, 1), groups=1, bias=False, dilation=(2, 2)), (1, 3, 6, 7)),
    ("ConvTranspose2d_no_bias", "ConvTranspose2d", dict(in_channels=3, out_channels=4, kernel_size=3, stride=(2, 3), padding=1, output_padding=(1, 1), groups=1, bias=False), (1, 3, 6, 7)),
    ("ConvTranspose2d_groups", "ConvTranspose2d", dict(in_channels=2, out_channels=4, kernel_size=(2, 3), groups=2), (1, 2, 4, 5)),
    ("Conv2d_depthwise", "Conv2d", dict(in_channels=4, out_channels=4, kernel_size=(3, 3), groups=4), (2, 4, 6, 6)),
    ("Conv2d_depthwise_with_multiplier", "Conv2d", dict(in_channels=4, out_channels=8, kernel_size=(3, 3), groups=4), (2, 4, 6, 6)),
    ("Conv2d_depthwise_strided", "Conv2d", dict(in_channels=4, out_channels=4, kernel_size=(3, 3), stride=(2, 2), groups=4), (2, 4, 6, 6)),
    ("Conv2d_depthwise_padded", "Conv2d", dict(in_channels=4, out_channels=4, kernel_size=(3, 3), padding=(1, 1), groups=4), (2, 4, 6, 6)),
    ("Conv2d_depthwise_dilated", "Conv2d", dict(in_channels=4, out_channels=4, kernel_size=(2, 2), dilation=(2, 2), groups=4), (2, 4, 5, 5)),
    ("Conv3d", "Conv3d", dict(in_channels=2, out_channels=3, kernel_size=(2, 3, 2)), (1, 2, 4, 5, 4)),
    ("Conv3d_no_bias", "Conv3d", dict(in_channels=2, out_channels=3, kernel_size=(2, 3, 4), stride=1, padding=0, dilation=1, groups=1, bias=False), (1, 2, 3, 4, 5)),
    ("Conv3d_1x1x1_no_bias", "Conv3d", dict(in_channels=2, out_channels=3, kernel_size=(1, 1, 1), stride=1, padding=0, dilation=1, groups=1, bias=False), (1, 2, 3, 4, 5)),
    ("Conv3d_stride", "Conv3d", dict(in_channels=3, out_channels=4, kernel_size=2, stride=2), (2, 3, 5, 5, 5)),
    ("Conv3d_stride_padding", "Conv3d", dict(in_channels=3, out_channels=4, kernel_size=2, stride=2, padding=1), (2, 3, 5, 5, 5)),
    ("Conv3d_zero_batch", "Conv3d", dict(in_channels=3, out_channels=4, kernel_size=(2, 3, 4)), (0, 3, 3, 4, 5)),
    ("Conv3d_groups", "Conv3d", dict(in_channels=2, out_channels=4, kernel_size=3, groups=2), (1, 2, 4, 5, 4)),
    ("Conv3d_dilated", "Conv3d", dict(in_channels=3, out_channels=4, kernel_size=2, dilation=2), (2, 3, 5, 5, 5)),
    ("Conv3d_dilated_strided", "Conv3d", dict(in_channels=3, out_channels=4, kernel_size=2, dilation=2, stride=2), (2, 3, 5, 5, 5)),
    ("Conv3d_pad_valid", "Conv3d", dict(in_channels=3, out_channels=4, kernel_size=(2, 3, 4), padding="valid"), (2, 3, 6, 5, 4)),
    ("Conv3d_pad_same", "Conv3d", dict(in_channels=3, out_channels=4, kernel_size=(2, 3, 4), padding="same"), (2, 3, 6, 5, 4)),
    ("Conv3d_pad_same_dilated", "Conv3d", dict(in_channels=3, out_channels=4, kernel_size=(2, 3, 4), padding="same", dilation=2), (2, 3, 6, 5, 4)),
    ("ConvTranspose3d", "ConvTranspose3d", dict(in_channels=2, out_channels=3, kernel_size=(2, 3, 2)), (1, 2, 4, 5, 4)),
    ("ConvTranspose3d_dilated", "ConvTranspose3d", dict(in_channels=2, out_channels=3, kernel_size=(2, 3, 2), stride=1, padding=0, output_padding=0, groups=1, bias=True, dilation=(2, 2, 2)), (1, 2, 4, 5, 4)),
]

POOL = [
    # common_modules.py module_inputs_torch_nn_AvgPool1d / 2d / 3d
    ("AvgPool1d_no_batch_dim", "AvgPool1d", dict(kernel_size=2), (3, 6)),
    ("AvgPool1d", "AvgPool1d", dict(kernel_size=2), (2, 3, 6)),
    ("AvgPool1d_stride", "AvgPool1d", dict(kernel_size=(2,), stride=(2,)), (2, 3, 6)),
    ("AvgPool1d_stride_pad", "AvgPool1d", dict(kernel_size=2, stride=2, padding=1), (2, 3, 6)),
    ("AvgPool2d_no_batch_dim", "AvgPool2d", dict(kernel_size=(2, 2)), (3, 6, 6)),
    ("AvgPool2d", "AvgPool2d", dict(kernel_size=(2, 2)), (2, 3, 6, 6)),
    ("AvgPool2d_stride", "AvgPool2d", dict(kernel_size=(2, 2), stride=(2, 2)), (2, 3, 6, 6)),
    ("AvgPool2d_stride_pad", "AvgPool2d", dict(kernel_size=(2, 2), stride=(2, 2), padding=(1, 1)), (2, 3, 6, 6)),
    ("AvgPool2d_divisor", "AvgPool2d", dict(kernel_size=(2, 2), divisor_override=1), (2, 3, 6, 6)),
    ("AvgPool2d_divisor_stride", "AvgPool2d", dict(kernel_size=(2, 2), stride=(2, 2), divisor_override=1), (2, 3, 6, 6)),
    ("AvgPool2d_divisor_stride_pad", "AvgPool2d", dict(kernel_size=(2, 2), stride=(2, 2), padding=(1, 1), divisor_override=1), (2, 3, 6, 6)),
    ("AvgPool3d_no_batch_dim", "AvgPool3d", dict(kernel_size=(2, 2, 2)), (3, 4, 4, 4)),
    ("AvgPool3d", "AvgPool3d", dict(kernel_size=(2, 2, 2)), (2, 3, 4, 4, 4)),
    ("AvgPool3d_stride", "AvgPool3d", dict(kernel_size=2, stride=(2, 2, 2)), (2, 3, 5, 5, 5)),
    ("AvgPool3d_stride_pad", "AvgPool3d", dict(kernel_size=2, stride=2, padding=(1, 1, 1)), (2, 3, 5, 5, 5)),
    ("AvgPool3d_stride_pad_gpu_fixedkw_output", "AvgPool3d", dict(kernel_size=4, stride=2, padding=(1, 2, 1)), (2, 3, 5, 5, 5)),
    ("AvgPool3d_stride_pad_gpu_general_output", "AvgPool3d", dict(kernel_size=(2, 4, 8), stride=1, padding=(1, 1, 2)), (2, 3, 2, 4, 8)),
    ("AvgPool3d_stride1_pad0_gpu_input", "AvgPool3d", dict(kernel_size=3, stride=1, padding=0), (2, 3, 4, 4, 4)),
    ("AvgPool3d_stride_pad_gpu_input_nooverlap", "AvgPool3d", dict(kernel_size=2, stride=2, padding=(1, 1, 1)), (2, 3, 4, 4, 4)),
    ("AvgPool3d_divisor", "AvgPool3d", dict(kernel_size=(2, 2, 2), divisor_override=1), (2, 3, 4, 4, 4)),
    ("AvgPool3d_divisor_stride", "AvgPool3d", dict(kernel_size=2, stride=(2, 2, 2), divisor_override=1), (2, 3, 5, 5, 5)),
    ("AvgPool3d_divisor_stride_pad", "AvgPool3d", dict(kernel_size=2, stride=2, padding=(1, 1, 1), divisor_override=1), (2, 3, 5, 5, 5)),
    ("AvgPool3d_divisor_stride_pad_gpu_fixedkw_output", "AvgPool3d", dict(kernel_size=4, stride=2, padding=(1, 2, 1), divisor_override=1), (2, 3, 5, 5, 5)),
    ("AvgPool3d_divisor_stride_pad_gpu_general_output", "AvgPool3d", dict(kernel_size=(2, 4, 8), stride=1, padding=(1, 1, 2), divisor_override=1), (2, 3, 2, 4, 8)),
    ("AvgPool3d_divisor_stride1_pad0_gpu_input", "AvgPool3d", dict(kernel_size=3, stride=1, padding=0, divisor_override=1), (2, 3, 4, 4, 4)),
    ("AvgPool3d_divisor_stride_pad_gpu_input_nooverlap", "AvgPool3d", dict(kernel_size=2, stride=2, padding=(1, 1, 1), divisor_override=1), (2, 3, 4, 4, 4)),
    # common_modules.py module_inputs_torch_nn_MaxPool1d / 2d / 3d
    ("MaxPool1d_3d_input", "MaxPool1d", dict(kernel_size=4), (2, 10, 4)),
    ("MaxPool1d_stride", "MaxPool1d", dict(kernel_size=4, stride=4), (2, 10, 4)),
    ("MaxPool2d_3d_input", "MaxPool2d", dict(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1)), (3, 7, 7)),
    ("MaxPool2d_4d_input", "MaxPool2d", dict(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1)), (1, 3, 7, 7)),
    ("MaxPool3d", "MaxPool3d", dict(kernel_size=(2, 2, 2)), (2, 3, 5, 5, 5)),
    ("MaxPool3d_stride", "MaxPool3d", dict(kernel_size=2, stride=(2, 2, 2)), (2, 3, 5, 5, 5)),
    ("MaxPool3d_stride_padding", "MaxPool3d", dict(kernel_size=2, stride=2, padding=(1, 1, 1)), (2, 3, 5, 5, 5)),
]
