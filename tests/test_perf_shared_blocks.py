"""Window Jacobians whose repeated blocks are kept once (a kernel Jacobian's output channels,
an input Jacobian's samples): the chain's product reads them in place, and must give
exactly what the same product gives over every block written out."""

import numpy as np
import pytest
from test_fast_paths import _random_conv

import jacobian_cnn as jc
from jacobian_cnn._sparse.blocked import WindowJacobian


def _written_out(parts):
    """The same Jacobian with every block written out (``parts.data``), nothing shared."""
    return WindowJacobian(parts.data.copy(), parts.shape, layout=parts.layout, kind=parts.kind,
                          n_groups=parts.n_groups, n_summed=parts.n_summed, out_size=parts.out_size)


@pytest.mark.parametrize("seed", range(60))
def test_product_over_shared_blocks_is_bit_identical_to_the_written_out_product(seed):
    conv, x = _random_conv(seed)
    for wrt in ("input", "kernel"):
        parts = conv._jacobian_parts(x, wrt=wrt)
        full = _written_out(parts)
        for k in (1, 3):
            rows = np.random.default_rng(seed + k).normal(size=(k, parts.shape[0])).astype(parts.dtype)
            np.testing.assert_array_equal(parts.rows_times(rows), full.rows_times(rows))


def test_blocks_are_shared_where_they_repeat_and_written_out_on_first_read():
    rng = np.random.default_rng(0)
    conv = jc.Conv2D(rng.normal(size=(3, 3, 2, 4)), padding=1)
    x = rng.normal(size=(5, 6, 2, 3))
    kernel = conv._jacobian_parts(x, wrt="kernel")
    block = kernel.layout.nnz
    # one block per sample is written (into its first channel); the products read it for
    # every channel (stride 0), and the other channels are filled only when data is read
    assert kernel.values.strides == (4, 0) and kernel._data is None
    assert kernel.nnz == 3 * 4 * block  # nnz needs no writing out
    inputs = conv._jacobian_parts(x, wrt="input")
    # one row of kernel taps per tile and output channel, not per (sample, channel, row)
    assert sum(taps.size for taps in inputs.values.taps) == 4 * sum(t.row_len for t in inputs.layout.tiles)
    assert inputs._data is None
    # Written out, every copy is there: the public CSR equals the readable definition.
    for wrt in ("input", "kernel"):
        J, ref = conv.jacobian(x, wrt=wrt), conv.reference_jacobian(x, wrt)
        np.testing.assert_array_equal(J.data, ref.data)
        np.testing.assert_array_equal(J.indices, ref.indices)
        np.testing.assert_array_equal(J.indptr, ref.indptr)
