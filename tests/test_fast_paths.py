"""The fast Jacobian builders give bit-identical CSR arrays to the readable definitions.

``Conv2D.jacobian`` and ``AvgPool2D.jacobian`` write their matrices tile by tile
(:mod:`jacobian_cnn._sparse.assembly`); ``reference_jacobian`` evaluates the readable
definition next to each forward pass entry by entry and is the reference. Over many random
geometries (stride, asymmetric padding, dilation, groups, ceil_mode, divisors,
batches, float32/float64, windows larger than the input) both must agree exactly:
same shape, same ``indptr``, ``indices`` and ``data``, same dtypes, no copy-paste
tolerance. ``switches_jacobian`` is checked against scipy's own COO-to-CSR.
"""

import numpy as np
import pytest
import scipy.sparse as sp

import jacobian_cnn as jc
from jacobian_cnn._sparse import tiles as _tiles


def assert_identical(J, expected):
    assert isinstance(J, sp.csr_array)
    assert J.shape == expected.shape
    for name in ("indptr", "indices", "data"):
        ours, theirs = getattr(J, name), getattr(expected, name)
        assert ours.dtype == theirs.dtype, f"{name}: {ours.dtype} != {theirs.dtype}"
        np.testing.assert_array_equal(ours, theirs, err_msg=name, strict=True)
    assert J.indices.dtype == np.int32  # every test matrix is small enough for 32-bit indices
    assert J.has_canonical_format


def _geometry(rng, max_size=8, max_window=4):
    """Random ``(x_shape (H, W), window, stride, padding, dilation)``."""
    h, w = (int(v) for v in rng.integers(1, max_size + 1, 2))
    window = tuple(int(v) for v in rng.integers(1, max_window + 1, 2))
    stride = tuple(int(v) for v in rng.integers(1, 4, 2))
    dilation = tuple(int(v) for v in rng.integers(1, 3, 2))
    padding = tuple(tuple(int(v) for v in rng.integers(0, 4, 2)) for _ in range(2))
    return (h, w), window, stride, padding, dilation


def _random_conv(seed):
    rng = np.random.default_rng(seed)
    while True:
        (h, w), window, stride, padding, dilation = _geometry(rng)
        groups = int(rng.integers(1, 4))
        c_in_group, c_out_group, n = (int(v) for v in rng.integers(1, 4, 3))
        dtype = (np.float64, np.float32)[seed % 2]
        kernel = rng.normal(size=window + (c_in_group, c_out_group * groups))
        try:
            conv = jc.Conv2D(kernel, stride=stride, padding=padding, dilation=dilation, groups=groups)
            conv.geometry((h, w))
        except ValueError:  # the window does not fit the padded input: draw again
            continue
        shape = (h, w, c_in_group * groups) + ((n,) if n > 1 else ())
        return conv, rng.normal(size=shape).astype(dtype)


def _random_avg(seed):
    rng = np.random.default_rng(seed)
    while True:
        (h, w), window, stride, padding, dilation = _geometry(rng)
        padding = tuple((min(a, window[0] // 2), min(b, window[1] // 2)) for a, b in padding)
        options = dict(stride=stride, padding=padding, dilation=dilation,
                       ceil_mode=bool(rng.integers(2)), count_include_pad=bool(rng.integers(2)),
                       divisor_override=None if rng.integers(3) else int(rng.integers(1, 10)))
        c, n = (int(v) for v in rng.integers(1, 4, 2))
        pool = jc.AvgPool2D(window, **options)
        x = rng.normal(size=(h, w, c, n)).astype((np.float64, np.float32)[seed % 2])
        try:
            pool.divisors(pool.geometry((h, w)))
        except ValueError:  # no output, or a window all in padding with count_include_pad=False
            continue
        return pool, x


def assert_block_product_matches(parts, seed):
    """The tile-by-tile product ``rows @ J`` (``_blocked``) equals the dense product."""
    assert parts.form == "window"
    dense = parts.tocsr().toarray().astype(np.float64)
    rows = np.random.default_rng(seed).normal(size=(1 + seed % 4, dense.shape[0]))
    rows = rows.astype(parts.dtype)
    ours = parts.rows_times(rows)
    assert ours.dtype == parts.dtype
    scale = np.abs(rows).max() * max(1, np.abs(dense).sum(0).max())
    tol = (1e-5 if parts.dtype == np.float32 else 1e-13) * scale
    np.testing.assert_allclose(ours, rows.astype(np.float64) @ dense, rtol=0, atol=tol)


@pytest.mark.parametrize("seed", range(150))
def test_conv_fast_path_is_bit_identical(seed):
    conv, x = _random_conv(seed)
    for wrt in ("input", "kernel"):
        assert_identical(conv.jacobian(x, wrt=wrt), conv.reference_jacobian(x, wrt))
        assert_block_product_matches(conv._jacobian_parts(x, wrt=wrt), seed)


@pytest.mark.parametrize("seed", range(150))
def test_avgpool_fast_path_is_bit_identical(seed):
    pool, x = _random_avg(seed)
    assert_identical(pool.jacobian(x), pool.reference_jacobian(x))
    assert_block_product_matches(pool._jacobian_parts(x), seed)


@pytest.mark.parametrize("kernel, x_shape, options", [
    ((5, 5, 1, 6), (32, 32, 1), {}),                                   # LeNet conv1: one tile
    ((3, 3, 3, 16), (32, 32, 3), {"padding": 1}),                        # nine tiles
    ((3, 3, 8, 16), (17, 15, 8, 2), {"padding": 1, "stride": 2}),        # odd sizes, a batch
    ((3, 3, 1, 8), (12, 12, 8), {"padding": "same", "groups": 8}),       # depthwise
    ((7, 3, 2, 4), (9, 11, 2), {"padding": ((3, 0), (1, 2)), "dilation": (1, 2)}),
    ((4, 4, 2, 2), (3, 3, 2), {"padding": 3}),                           # window larger than the input
])
def test_conv_fast_path_on_network_shapes(kernel, x_shape, options):
    rng = np.random.default_rng(sum(kernel))
    conv = jc.Conv2D(rng.normal(size=kernel).astype(np.float32), **options)
    x = rng.normal(size=x_shape).astype(np.float32)
    for wrt in ("input", "kernel"):
        assert_identical(conv.jacobian(x, wrt=wrt), conv.reference_jacobian(x, wrt))
        assert_block_product_matches(conv._jacobian_parts(x, wrt=wrt), len(x_shape))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_copying_padding_modes_sum_repeated_taps(mode):
    """The same entries as the definition; repeated taps are summed in another order
    (scipy's ``sum_duplicates``), so values agree to rounding, the kernel's exactly."""
    rng = np.random.default_rng(0)
    conv = jc.Conv2D(rng.normal(size=(3, 3, 2, 2)), padding=1, padding_mode=mode)
    x = rng.normal(size=(5, 2, 2))  # 2 columns: every window reads one of them twice
    assert conv.geometry((5, 2)).taps_may_repeat
    J, expected = conv.jacobian(x), conv.reference_jacobian(x)
    assert J.nnz < 9 * 2 * 2 * 5 * 2  # repeated taps were summed into one entry
    for name in ("indptr", "indices"):
        np.testing.assert_array_equal(getattr(J, name), getattr(expected, name), strict=True)
    np.testing.assert_allclose(J.data, expected.data, rtol=1e-15, atol=0)
    assert_identical(conv.jacobian(x, wrt="kernel"), conv.reference_jacobian(x, "kernel"))


@pytest.mark.parametrize("seed", range(20))
def test_switches_jacobian_matches_coo_to_csr(seed):
    rng = np.random.default_rng(seed)
    n_inputs = int(rng.integers(1, 50))
    switches = rng.integers(-1 if seed % 2 else 0, n_inputs, size=tuple(rng.integers(1, 5, 3)))
    J = jc.switches_jacobian(switches, n_inputs, dtype=(np.float64, np.float32)[seed % 3 == 0])
    s = jc.vec(switches)
    won = np.flatnonzero(s >= 0)
    expected = sp.csr_array(sp.coo_array((np.ones(won.size, J.dtype), (won, s[won])),
                                         shape=(s.size, n_inputs)))
    expected.indptr = expected.indptr.astype(np.int32)
    expected.indices = expected.indices.astype(np.int32)
    assert_identical(J, expected)


def test_layouts_are_cached_per_geometry_and_stay_small():
    conv = jc.Conv2D(np.ones((3, 3, 4, 8), np.float32), padding=1)
    geo = conv.geometry((64, 64))
    assert conv.geometry((64, 64)) is geo  # equal arguments share one geometry
    layout = _tiles.block_layout(geo, 4, np.dtype(np.int32))
    assert _tiles.block_layout(geo, 4, np.dtype(np.int32)) is layout
    assert len(layout.tiles) == 9  # interior, four edges, four corners
    cached = sum(a.nbytes for t in layout.tiles for a in (t.input_base, t.input_pattern, t.kernel_pattern))
    assert cached + layout.indptr.nbytes < 0.1 * layout.nnz * 8 * 8  # far below one Jacobian


def test_no_intermediate_larger_than_the_matrix():
    import tracemalloc

    conv = jc.Conv2D(np.ones((3, 3, 16, 32), np.float32), padding=1, stride=2)
    x = np.ones((48, 48, 16), np.float32)
    for wrt in ("input", "kernel"):
        conv.jacobian(x, wrt=wrt)  # the layout is cached on the first call
        tracemalloc.start()
        J = conv.jacobian(x, wrt=wrt)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        size = J.data.nbytes + J.indices.nbytes + J.indptr.nbytes
        assert J.data.nbytes == 4 * J.nnz and J.indices.nbytes == 4 * J.nnz
        assert peak < 1.1 * size, (wrt, peak, size)


def test_chain_jacobian_keeps_the_smaller_form():
    """Few output rows: a dense block while it is smaller; many: CSR, as the plain product."""
    rng = np.random.default_rng(3)
    conv = jc.Conv2D(rng.normal(size=(3, 3, 2, 4)), padding=1)
    x = rng.normal(size=(12, 12, 2))
    wide = jc.Chain([conv, jc.Tanh(), jc.AvgPool2D(2)])        # 144 outputs: stays sparse
    expected = jc.AvgPool2D(2).jacobian(conv.forward(x)) @ jc.Tanh().jacobian(conv.forward(x)) \
        @ conv.jacobian(x)
    J = wide.jacobian(x)
    assert J.nnz == expected.nnz
    np.testing.assert_allclose(J.toarray(), expected.toarray(), rtol=1e-12, atol=1e-15)
    narrow = jc.Chain([*wide.layers, jc.Flatten(), jc.Dense(rng.normal(size=(144, 3)))])
    np.testing.assert_allclose(narrow.jacobian(x).toarray(),
                               narrow.layers[-1].weight.T @ expected.toarray(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("seed", range(10))
def test_block_product_in_chunks_of_rows(seed, monkeypatch):
    """With a tiny working-array limit the rows go through one at a time: same product."""
    from jacobian_cnn._sparse import blocked as _blocked

    conv, x = _random_conv(seed)
    pool, x_pool = _random_avg(seed)
    monkeypatch.setattr(_blocked, "WORKING_ENTRIES", 1)
    for parts in (conv._jacobian_parts(x), conv._jacobian_parts(x, wrt="kernel"),
                  pool._jacobian_parts(x_pool)):
        assert_block_product_matches(parts, seed + 3)
