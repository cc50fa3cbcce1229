"""The cells of notebook 02_convolution_as_sparse_matrix.ipynb: convolution as a sparse matrix (seeds 003, 004 appendix A)."""

from ._cell import CONVENTIONS, code, md


def cells():
    return [
        md(f"""
        # 2. Convolution as a sparse matrix

        A convolution is linear in its input and in its kernel, so `vec(Z) = W vec(A)` for a
        sparse `W` built from the kernel (seed 003), and `vec(Z) = M vec(K)` for a sparse `M`
        built from the input. These are the two Jacobians `d vec(Z)/d vec(A)` and
        `d vec(Z)/d vec(K)` (seed 004, appendix A). "Convolution" means cross-correlation, as
        in every deep-learning library; kernels are `(kh, kw, C_in, C_out)`. This notebook
        follows [derivations/convolution.md](../derivations/convolution.md) §2–4 and §6.

        {CONVENTIONS}
        """),
        code("""
        import numpy as np
        import matplotlib.pyplot as plt

        import jacobian_cnn as jc
        from jacobian_cnn import plots
        from jacobian_cnn.handcheck import check_derivation
        """),
        md("""
        ## Seed 004, appendix A

        A 3x4 input, a 2x2 kernel `β`, padding (1, 1), stride (1, 2): `Z` is 4x3. The entries
        are chosen so that they name themselves (1-based, as in the seed): `a_ij = 10 i + j`
        (so `a23 = 23`) and `β_uv = u.v` (so `β21 = 2.1`). Then every entry of `dZ/dA` is a `β`
        and every entry of `dZ/dβ` is an `a`.
        """),
        code("""
        A = np.array([[10.0 * r + c for c in range(1, 5)] for r in range(1, 4)])
        beta = np.array([[1.1, 1.2], [2.1, 2.2]])
        conv = jc.Conv2D(beta, stride=(1, 2), padding=1)
        Z = conv.forward(A)
        print("A =\\n", A, "\\nZ =\\n", Z)
        assert Z[0, 0] == A[0, 0] * beta[1, 1]       # rep.2: z11 = a11 β22
        """),
        md("""
        ## Both Jacobians by hand: the tap table

        Output `(p, q)` (0-based) reads, through kernel tap `(u, v)`, the input entry
        `(p s_h + u - top, q s_w + v - left)`, or a padding zero when that falls outside `A`
        ([convolution.md §2](../derivations/convolution.md#2-the-tap-table-where-padding-stride-and-dilation-enter)).
        So row `p + q H_o` of `dZ/dA` holds `β[u, v]` in the column of that input entry, and
        row `p + q H_o` of `dZ/dβ` holds that input entry in the column `u + v k_h` of `β[u, v]`
        (§3 and §4). Zero padding stores nothing.
        """),
        code("""
        (H, W_in), (kh, kw), (Ho, Wo) = A.shape, beta.shape, Z.shape
        (sh, sw), top, left = (1, 2), 1, 1
        J_A_hand, J_beta_hand = np.zeros((Ho * Wo, H * W_in)), np.zeros((Ho * Wo, kh * kw))
        for p, q, u, v in np.ndindex(Ho, Wo, kh, kw):
            i, j = p * sh + u - top, q * sw + v - left        # the input entry this tap reads
            if 0 <= i < H and 0 <= j < W_in:                  # else: a padding zero, nothing stored
                J_A_hand[p + q * Ho, i + j * H] = beta[u, v]
                J_beta_hand[p + q * Ho, u + v * kh] = A[i, j]
        print("d vec(Z) / d vec(A), by hand:\\n", J_A_hand)
        """),
        md("""
        The package's two Jacobians are the same matrices:
        """),
        code("""
        J_A = conv.jacobian(A)                    # d vec(Z) / d vec(A), 12 x 12
        J_beta = conv.jacobian(A, wrt="kernel")   # d vec(Z) / d vec(β), 12 x 4
        z_names = plots.vec_labels(Z.shape, "z", seed_style=True)
        fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [12, 5]})
        plots.heatmap(J_A, ax=left, annotate=True, fmt="{:.1f}", colorbar=False, row_labels=z_names,
                      col_labels=plots.vec_labels(A.shape, "a", seed_style=True), row_name="Z", col_name="A",
                      title="d vec(Z) / d vec(A): the entries are β's (eq. a2-1)")
        plots.heatmap(J_beta, ax=right, annotate=True, fmt="{:.0f}", colorbar=False, row_labels=z_names,
                      col_labels=plots.vec_labels(beta.shape, "β", seed_style=True), row_name="Z", col_name="β",
                      title="d vec(Z) / d vec(β): the a's (eq. a1-1)")
        plt.show()
        assert np.array_equal(J_A.toarray(), J_A_hand) and np.array_equal(J_beta.toarray(), J_beta_hand)
        """),
        md("""
        The seed's worked entries, and its column-by-column recipe: the column of `β21` is
        `vec(A * dβ/dβ21)` (eq. a1-3) and the column of `a23` is `vec(dA/da23 * β)` (eq. a2-3),
        each convolution with the layer's own padding and stride. (The first line of eq. a2-2
        has a typo, `a23 A12` for `a23 β12`; the result `β12` is right.)
        """),
        code("""
        def unit(shape, index):
            e = np.zeros(shape)
            e[index] = 1.0
            return e

        z32 = jc.vec_index((2, 1), Z.shape)            # 0-based (2, 1) is the seed's z32
        print("dz32/dβ21 =", J_beta[z32, jc.vec_index((1, 0), beta.shape)], "= a32 =", A[2, 1])
        print("dz32/da23 =", J_A[z32, jc.vec_index((1, 2), A.shape)], "= β12 =", beta[0, 1])

        column_beta21 = jc.Conv2D(unit((2, 2), (1, 0)), stride=(1, 2), padding=1).forward(A)
        assert np.array_equal(J_beta.toarray()[:, jc.vec_index((1, 0), beta.shape)], jc.vec(column_beta21))
        entries = [np.unravel_index(k, A.shape, order="F") for k in range(A.size)]   # a11, a21, a31, a12, ...
        by_columns = np.column_stack([jc.vec(conv.forward(unit(A.shape, rc))) for rc in entries])
        assert np.array_equal(by_columns, J_A.toarray())       # eq. a2-3 for every column
        """),
        md("""
        ## Seed 003: a 4x4 input and a 3x3 kernel as a 4x16 matrix

        Seed 003 flattens row by row. Its printed matrix repeats `k11 k12 k13` where the
        second kernel row `k21 k22 k23` belongs, so it is worth rebuilding. Our `J` is over
        column-major `vec`; the commutation matrices `T(m, n)` (`T vec(A) = vec(A^T)`,
        `jc.commutation_matrix`) turn it into the row-major matrix the seed meant:
        `W = T(2,2) J T(4,4)^T`. With `k_uv = 10 u + v` (1-based) the first row reads `k11 k12 k13 0 k21 k22 k23 0 k31 k32 k33 0 0 0 0 0`.
        """),
        code("""
        k = np.array([[11.0, 12.0, 13.0], [21.0, 22.0, 23.0], [31.0, 32.0, 33.0]])
        a = np.random.default_rng(0).normal(size=(4, 4))
        J = jc.Conv2D(k).jacobian(a)
        print("over column-major vec (rows z11, z21, z12, z22; columns a11, a21, a31, a41, a12, ...):")
        print(J.toarray().astype(int))
        W = jc.commutation_matrix(2, 2) @ J @ jc.commutation_matrix(4, 4).T
        print("the seed's row-major W (columns a11, a12, a13, a14, a21, ...):")
        print(W.toarray().astype(int))
        assert np.allclose(J @ jc.vec(a), jc.vec(jc.Conv2D(k).forward(a)))   # the forward pass is a product
        """),
        md("""
        ## The transposed-convolution identity

        The backward pass through the input is the row `vec(G) @ J`, i.e. `W^T` applied to the
        gradient `G = dL/dZ` (seed 003, eq. 2, calls the loss `F`;
        [convolution.md §6](../derivations/convolution.md#61-input-gradient--transposed-convolution)). As a convolution: pad `G` by `kh - 1` and
        cross-correlate with the kernel flipped both ways. With stride 2, first insert a zero
        row and column between the entries of `G` (seed 003, the 5x5 example). The kernel's
        gradient is the input cross-correlated with `G`, with dilation equal to the stride.
        """),
        code("""
        rng = np.random.default_rng(1)
        kernel = rng.normal(size=(3, 3))
        flipped = jc.Conv2D(np.flip(kernel), padding=2)

        a4, G = rng.normal(size=(4, 4)), rng.normal(size=(2, 2))        # stride 1
        conv1 = jc.Conv2D(kernel)
        dA = jc.unvec(jc.vec(G) @ conv1.jacobian(a4), a4.shape)
        assert np.allclose(dA, flipped.forward(G))
        dK = jc.unvec(jc.vec(G) @ conv1.jacobian(a4, wrt="kernel"), kernel.shape)
        assert np.allclose(dK, jc.Conv2D(G).forward(a4))

        a5 = rng.normal(size=(5, 5))                                       # stride 2
        conv2 = jc.Conv2D(kernel, stride=2)
        dA = jc.unvec(jc.vec(G) @ conv2.jacobian(a5), a5.shape)
        G_spread = np.zeros((3, 3))
        G_spread[::2, ::2] = G                                             # zeros between the entries
        print("G with zeros inserted:\\n", G_spread.round(2))
        assert np.allclose(dA, flipped.forward(G_spread))
        dK = jc.unvec(jc.vec(G) @ conv2.jacobian(a5, wrt="kernel"), kernel.shape)
        assert np.allclose(dK, jc.Conv2D(G, dilation=2).forward(a5))
        print("input and kernel gradients match the transposed/dilated convolutions, stride 1 and 2")
        """),
        md("""
        ## Padding, stride and dilation, seen in the sparsity pattern

        A 6x6 input and a 3x3 kernel. Top: the pattern of `d vec(Z)/d vec(A)`, one row per
        output; taps that fall into padding store nothing. Bottom: the stored entries of each
        column, i.e. how many outputs read each input entry, in the input's shape. These are
        the terms that *add up* in the backward row `vec(G) @ J`. Without padding a corner is
        read once and the centre nine times; padding evens this out; stride 2 reads some
        entries once and others four times; dilation 2 on a 6x6 input reads every entry
        exactly once.

        The stride-2 pattern is not symmetric, and the reason is the output size: per axis
        `floor((6 + 1 + 1 - 3) / 2) + 1 = 3` windows, starting at rows `-1, 1, 3` and covering
        rows `-1` to `5`. The top padding row is read, the bottom one (row 6) never: the
        division by the stride drops it. Rows 1 and 3 lie in two windows, the others in one,
        so the counts along each axis are `1 2 1 2 1 1`, and each entry of the picture is the
        product of its row's and its column's count.
        """),
        code("""
        x = np.zeros((6, 6))
        settings = {"no padding": {}, "padding 1": {"padding": 1},
                    "stride 2, padding 1": {"stride": 2, "padding": 1}, "dilation 2": {"dilation": 2}}
        fig, axes = plt.subplots(2, 4, figsize=(15, 7))
        for (top, bottom), (title, options) in zip(axes.T, settings.items()):
            layer = jc.Conv2D(np.arange(1.0, 10.0).reshape(3, 3), **options)
            out_shape = layer.forward(x).shape
            J = layer.jacobian(x)
            plots.spy(J, ax=top, title=f"{title}: Z is {out_shape[0]}x{out_shape[1]}")
            reads = jc.unvec(np.diff(J.tocsc().indptr), x.shape)      # stored entries per column
            bottom.imshow(reads, cmap="Greens", vmin=0, vmax=9)
            for (r, c), n in np.ndenumerate(reads):
                bottom.text(c, r, n, ha="center", va="center")
            bottom.set_title("outputs reading each input entry", fontsize="medium")
            bottom.set_xticks(range(6))
            bottom.set_yticks(range(6))
        plt.tight_layout()
        plt.show()

        rows_read = [sum(p * 2 - 1 + u == i for p in range(3) for u in range(3))
                     for i in range(6)]                   # windows whose rows 2p - 1 + u include row i
        print("stride 2, padding 1, per axis:", rows_read)
        stride2 = jc.Conv2D(np.ones((3, 3)), stride=2, padding=1).jacobian(x)
        assert np.array_equal(jc.unvec(np.diff(stride2.tocsc().indptr), x.shape), np.outer(rows_read, rows_read))
        """),
        md("""
        ## Channels and a batch

        With 2 input channels, 3 output channels and 2 samples, `d vec(Z)/d vec(A)` is block
        diagonal over samples (solid lines), each block a 3x2 grid of per-channel convolution
        matrices (dotted lines). `d vec(Z)/d vec(K)` stacks one block per sample; its columns
        are grouped by input channel (dotted) and output channel (solid).
        """),
        code("""
        rng = np.random.default_rng(2)
        x = rng.normal(size=(5, 5, 2, 2))
        layer = jc.Conv2D(rng.normal(size=(3, 3, 2, 3)), padding=1)
        y = layer.forward(x)
        fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [2, 1]})
        plots.spy(layer.jacobian(x), row_shape=y.shape, col_shape=x.shape, ax=left,
                  title="d vec(Z) / d vec(A)", row_name="Z", col_name="A")
        plots.spy(layer.jacobian(x, wrt="kernel"), row_shape=y.shape, col_shape=layer.kernel.shape,
                  ax=right, title="d vec(Z) / d vec(K)", row_name="Z", col_name="K")
        plt.show()
        """),
        md("""
        ## Exercises

        Write your answer as a LaTeX `bmatrix` (kernel entries `k_{uv}`, input entries `a_{ij}`,
        1-based) and run the cell: `check_derivation` names every entry that differs, and the
        systematic mistake behind them (a flipped kernel, a transpose, a row-major order, ...).
        Each cell starts with a first attempt that contains a typical mistake.

        **Exercise 1.** `Conv2D` with a 2x2 kernel on a 3x3 input, no padding: the 4x9
        Jacobian wrt the input.
        """),
        code("""
        answer = r\"\"\"
        \\begin{bmatrix}
        k_{22} & k_{12} & 0 & k_{21} & k_{11} & 0 & 0 & 0 & 0 \\\\
        0 & k_{22} & k_{12} & 0 & k_{21} & k_{11} & 0 & 0 & 0 \\\\
        0 & 0 & 0 & k_{22} & k_{12} & 0 & k_{21} & k_{11} & 0 \\\\
        0 & 0 & 0 & 0 & k_{22} & k_{12} & 0 & k_{21} & k_{11}
        \\end{bmatrix}
        \"\"\"
        print(check_derivation(answer, jc.Conv2D(np.ones((2, 2))), (3, 3)))
        """),
        md("""
        **Exercise 2.** The same kernel on a 2x2 input with `padding=((0, 1), (0, 1))` and
        `padding_mode="replicate"`: the bottom row and the right column of the padding copy
        the input's last row and column, so some inputs feed two or four taps of one window
        ([convolution.md §3.1](../derivations/convolution.md#31-copying-paddings-the-padding-as-a-matrix-p-before-the-convolution)).
        The 4x4 Jacobian wrt the input:
        """),
        code("""
        answer = r\"\"\"
        \\begin{bmatrix}
        k_{11} & k_{21} & k_{12} & k_{22} \\\\
        0 & k_{11} & 0 & k_{12} \\\\
        0 & 0 & k_{11} & k_{21} \\\\
        0 & 0 & 0 & k_{11}
        \\end{bmatrix}
        \"\"\"
        replicate = jc.Conv2D(np.ones((2, 2)), padding=((0, 1), (0, 1)), padding_mode="replicate")
        print(check_derivation(answer, replicate, (2, 2)))
        """),
        md("""
        **Exercise 3.** A 2x2 kernel at stride 2 on a 4x4 input: the 4x4 Jacobian wrt the
        kernel (rows `z_11, z_21, z_12, z_22`, columns `k_11, k_21, k_12, k_22`).
        """),
        code("""
        answer = r\"\"\"
        \\begin{bmatrix}
        a_{11} & a_{31} & a_{13} & a_{33} \\\\
        a_{21} & a_{41} & a_{23} & a_{43} \\\\
        a_{12} & a_{32} & a_{14} & a_{34} \\\\
        a_{22} & a_{42} & a_{24} & a_{44}
        \\end{bmatrix}
        \"\"\"
        print(check_derivation(answer, jc.Conv2D(np.ones((2, 2)), stride=2), (4, 4), wrt="kernel"))
        """),
    ]
