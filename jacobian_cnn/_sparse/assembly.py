"""Fast assembly of the window layers' Jacobians (convolution, average pooling).

The builders here return the same CSR arrays as the readable definitions next to each
forward pass (``reference_jacobian`` of :mod:`jacobian_cnn.ops.conv` and
:mod:`jacobian_cnn.ops.pooling`), bit for bit: same ``indptr``, ``indices`` and ``data``
(``tests/test_fast_paths.py`` and ``tests/test_definitions.py`` check this). They serve
zero padding (the copying padding modes, whose repeated taps must be summed, keep a plain
index-arithmetic builder)
and differ only in how the arrays are written, which decides the speed of a memory-bound
job:

* **Tiles instead of a gather** (:mod:`jacobian_cnn._sparse.tiles`). Every row of a tile
  holds the same number of entries, its columns differ from the tile's first row by
  a per-row offset, and its convolution values (the kernel taps of the output
  channel) are the same in every row. Each tile is written with one broadcast per
  array, straight into the final arrays: no COO intermediate, no sort, no 64-bit
  temporary. (The one gather: a kernel Jacobian's values without groups are the input
  at the block's input columns, which the layout caches; ``np.take`` of one block per
  sample is 2-4x faster than the tile-by-tile strided copy of the same values.)
* **One block, then copies.** Only one (sample, channel) block of the pattern is
  computed; the other blocks are copies of it, shifted where their columns move.
* **Cached layout.** The runs depend only on the geometry and are cached per geometry,
  so a new kernel or input only rewrites values.
* **32-bit indices** whenever they fit (scipy copies 64-bit indices it can shrink).
* **Repeated blocks kept once.** A kernel Jacobian's blocks are equal across output
  channels (without groups), an input Jacobian's across samples: the builder writes
  the distinct blocks only, and the :class:`~jacobian_cnn._sparse.blocked.WindowJacobian`
  writes out every copy when its ``data`` is first read (``layer.jacobian``); the
  chain's product reads the distinct blocks (stride 0 along the repeated axis).

The result costs ``nnz * (value + index bytes)`` plus its row pointers, and nothing
larger is allocated on the way. It is a :class:`jacobian_cnn._sparse.blocked.WindowJacobian`:
the CSR arrays plus the layout they were written with, which the chain's product
``rows @ J`` reads block by block. Index conventions: :mod:`jacobian_cnn.vec`;
geometry: :mod:`jacobian_cnn.ops.geometry`.
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn._sparse.blocked import RowTaps, StridedBlocks, WindowJacobian, block_columns
from jacobian_cnn._sparse.csr import index_dtype
from jacobian_cnn._sparse.tiles import block_layout, entry_rows, rows_view, view

__all__ = ["conv_input_jacobian", "conv_kernel_jacobian", "avgpool_jacobian"]


def _repeat_blocks(a, n_copies):
    """Copy the first of ``n_copies`` equal blocks of ``a`` into the others."""
    if n_copies < 2 or a.size == 0:
        return
    blocks = a.reshape(n_copies, -1)
    blocks[1:] = blocks[0]


def conv_input_jacobian(geo, kernel, n_samples, groups=1):
    """``d vec(y) / d vec(x)`` of a zero-padded convolution, ``kernel`` ``(kh, kw, C_in/groups, C_out)``.

    ``kernel`` is in the output precision. Rows ``(o, co, n)``, columns ``(i, j, ci, n)``
    (see :mod:`jacobian_cnn.ops.conv`).
    """
    kh, kw, ci, co = kernel.shape  # ci: input channels per group
    n = n_samples
    shape = (geo.n_out * co * n, geo.n_in * ci * groups * n)
    idx = index_dtype(*shape, geo.jacobian_nnz(ci, co * n))
    layout = block_layout(geo, ci, idx)
    block = layout.nnz
    by_channel = kernel.transpose(3, 2, 1, 0)  # (co, ci, s, r): a row's entry order
    # Every row of a tile holds the same kernel taps, in every sample.
    taps = [np.ascontiguousarray(by_channel[:, :, t.s_lo:t.s_hi, t.r_lo:t.r_hi]).reshape(co, t.row_len)
            for t in layout.tiles]
    if co // groups > 1 and (n == 1 or groups == 1):  # kept once per tile, read in place
        values = RowTaps(taps, co // groups if n == 1 else 0, kernel.dtype)
        return WindowJacobian(None, shape, layout=layout, kind="input", n_groups=n * groups,
                              n_summed=co // groups, out_size=geo.out_size, values=values)
    data = np.empty(block * co * n, kernel.dtype)
    for t, tile_taps in zip(layout.tiles, taps, strict=True):  # one broadcast per tile
        rows_view(data, t, co, block)[...] = tile_taps[:, None, None, :]
    _repeat_blocks(data, n)
    return WindowJacobian(data, shape, layout=layout, kind="input", n_groups=n * groups,
                          n_summed=co // groups, out_size=geo.out_size)


def conv_kernel_jacobian(geo, x4, n_out_channels, groups=1):
    """``d vec(y) / d vec(kernel)`` of a zero-padded convolution at ``x4`` ``(H, W, C_in, N)``.

    ``x4`` is in the output precision. Rows ``(o, co, n)``, columns ``vec(kernel)``:
    ``r + s*kh + ci*kh*kw + co*kh*kw*C_in/groups``.
    """
    h, w, c_in, n = x4.shape
    ci = c_in // groups
    kh, kw = geo.window
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    co = n_out_channels
    per_group = co // groups
    shape = (geo.n_out * co * n, kh * kw * ci * co)
    idx = index_dtype(*shape, geo.jacobian_nnz(ci, co * n))
    layout = block_layout(geo, ci, idx)
    block = layout.nnz
    x = np.ravel(x4, order="F")
    plane = h * w
    data = np.empty(block * co * n, x4.dtype)
    if groups == 1:
        # Block entry e of a sample holds the input value at the block's input column e
        # (cached with the layout): one gather per sample, into the sample's first output
        # channel. The other channels' blocks are the same; they are written (in place)
        # only when the data is read.
        blocks, planes = data.reshape(n, co, block), x.reshape(n, plane * c_in)
        columns = block_columns(layout)[0]
        for s in range(n):
            np.take(planes[s], columns, out=blocks[s, 0], mode="clip")  # "clip": unbuffered
        return WindowJacobian(None, shape, layout=layout, kind="kernel", n_groups=n, n_summed=co,
                              out_size=geo.out_size, values=StridedBlocks(data, (co, 0)))
    for t in layout.tiles:
        # The input windows of the tile, written once per (sample, group) into the block
        # of the group's first output channel.
        n_s, n_r = t.s_hi - t.s_lo, t.r_hi - t.r_lo
        dims = (n, groups, t.n_q, t.n_p, ci, n_s, n_r)
        windows = view(x, t.x_start, dims, (plane * c_in, plane * ci, sw * h, sh, plane, dw * h, dh))
        view(data, t.offset, dims, (block * co, block * per_group, t.q_stride, t.row_len,
                                    n_s * n_r, n_r, 1))[...] = windows
    # The other output channels of a group see the same input values.
    data_blocks = data.reshape(n, groups, per_group, block)
    data_blocks[:, :, 1:] = data_blocks[:, :, :1]
    return WindowJacobian(data, shape, layout=layout, kind="kernel", n_groups=n, n_summed=co,
                          out_size=geo.out_size)


def avgpool_jacobian(geo, x_shape, dtype, divisors):
    """``d vec(y) / d vec(x)`` of zero-padded average pooling over ``x_shape`` ``(H, W, C, N)``.

    ``divisors`` holds the divisor of every output position, ``(n_out,)``.
    """
    h, w, c, n = x_shape
    planes = c * n
    shape = (geo.n_out * planes, geo.n_in * planes)
    idx = index_dtype(*shape, geo.jacobian_nnz(1, planes))
    layout = block_layout(geo, 1, idx)
    block = layout.nnz
    data = np.empty(block * planes, dtype)
    values = (1.0 / np.asarray(divisors)).astype(dtype)
    if values.size and np.all(values == values[0]):
        data.fill(values[0])
    else:
        data[:block] = values[entry_rows(layout)]
        _repeat_blocks(data, planes)
    return WindowJacobian(data, shape, layout=layout, kind="input", n_groups=planes, n_summed=1,
                          out_size=geo.out_size)
