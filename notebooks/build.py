"""Build the notebooks from the cell sources in this file and execute them to store their outputs.

    python notebooks/build.py               # build and execute every notebook
    python notebooks/build.py 01 04         # only the notebooks whose name starts with 01 or 04
    python notebooks/build.py --no-execute  # write the sources without outputs

Edit the cells here, never the .ipynb files: tests/test_notebooks.py checks that the committed
notebooks hold exactly these sources, and executes every notebook again (kernel "python3",
this folder as the working directory).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent


def md(text):
    return ("markdown", textwrap.dedent(text).strip())


def code(text):
    return ("code", textwrap.dedent(text).strip())


CONVENTIONS = ("Conventions are stated once, in [`jacobian_cnn/vec.py`](../jacobian_cnn/vec.py): "
               "`vec` is column-major, a Jacobian is `d vec(y) / d vec(x)` of shape "
               "`(y.size, x.size)`, and a gradient is a row pushed through it from the left, "
               "`g_x = g_y @ J`.")


# ---------------------------------------------------------------------------
# 1. overlapping average pooling (seed 000)
# ---------------------------------------------------------------------------

def overlapping_average_pooling():
    return [
        md(f"""
        # 1. Overlapping average pooling: the Jacobian, the gradient row, the reshape

        Seed 000 asks how to send the loss gradient `dL/dP` back through an average pool whose
        windows *overlap*: a 3x3 activation `A`, 2x2 windows, stride 1, so `P` is 2x2 and `a22`
        sits in all four windows. (The seed calls the loss `J`; here `J` is always a Jacobian
        and the loss is `L`, see the [notation table](../derivations/README.md#notation). `P` is
        the seed's name for the pooled map.) The answer is the chain rule in numerator layout:

        `dL/dvec(A) = dL/dvec(P) · dvec(P)/dvec(A)`  (seed 000, eq. 2)

        This notebook follows [derivations/average_pooling.md](../derivations/average_pooling.md)
        §1–2. {CONVENTIONS}
        """),
        code("""
        import numpy as np
        import matplotlib.pyplot as plt

        import jacobian_cnn as jc
        from jacobian_cnn import plots
        from jacobian_cnn.handcheck import check_derivation
        from jacobian_cnn.symbolic import Names

        A = np.arange(1.0, 10.0).reshape(3, 3)
        pool = jc.AvgPool2D(2, stride=1)      # 2x2 windows, stride 1: neighbouring windows overlap
        P = pool.forward(A)
        print("A =\\n", A)
        print("P =\\n", P)
        """),
        md("""
        ## The Jacobian by hand (seed 000, eq. 3)

        Rows follow `vec(P) = (p11, p21, p12, p22)`, columns `vec(A) = (a11, a21, a31, a12, ...)`.
        Output `p_pq` (0-based `p, q`) averages the 2x2 block whose top-left entry is `A[p, q]`,
        so its row holds `1/4` in the columns of `A[p + u, q + v]` for `u, v` in `{0, 1}`
        ([average_pooling.md §1](../derivations/average_pooling.md#1-the-layer-and-its-jacobian)):
        a loop over outputs and window taps. The column of `A[i, j]` is `i + 3 j` (column-major).
        """),
        code("""
        J_hand = np.zeros((4, 9))
        for p in range(2):
            for q in range(2):
                for u in range(2):
                    for v in range(2):
                        J_hand[p + 2 * q, (p + u) + 3 * (q + v)] = 1 / 4
        print("4 * J, built by hand:")
        print(4 * J_hand)
        """),
        md("""
        The package builds the same matrix (sparse: only the 16 entries that are not zero are
        stored). It does not depend on the values of `A`, only on the geometry.
        """),
        code("""
        J = pool.jacobian(A)
        print(J.shape, "with", J.nnz, "stored entries")
        assert np.array_equal(J.toarray(), J_hand)

        a_names = plots.vec_labels(A.shape, "a", seed_style=True)
        p_names = plots.vec_labels(P.shape, "p", seed_style=True)
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 2.6))
        plots.heatmap(J, ax=left, annotate=True, row_labels=p_names, col_labels=a_names,
                      row_name="P", col_name="A", colorbar=False, title="d vec(P) / d vec(A)")
        plots.spy(J, ax=right, row_labels=p_names, col_labels=a_names, row_name="P", col_name="A")
        plt.show()
        """),
        md("""
        ## The gradient row, and the reshape

        Take `dL/dp11 = 1, dL/dp12 = 2, dL/dp21 = 3, dL/dp22 = 4`: in `P`'s shape that is `G`,
        and the row `g = dL/dvec(P)` lists the same numbers in `vec` order, `(1, 3, 2, 4)`. One
        product with `J` gives `dL/dvec(A)`, and `unvec` (column by column) puts it back in
        `A`'s shape. Where windows overlap the contributions **add**:
        `dL/da22 = (1 + 2 + 3 + 4) / 4`.
        """),
        code("""
        G = np.array([[1.0, 2.0], [3.0, 4.0]])     # dL/dP in P's shape
        row = jc.vec(G) @ J                         # (4,) @ (4, 9): the row dL/dvec(A)
        print("dL/dvec(P) =", jc.vec(G))
        print("dL/dvec(A) =", row)
        dL_dA = jc.unvec(row, A.shape)              # the reshape: column-major, like vec
        print("dL/dA =\\n", dL_dA)
        """),
        md("""
        Check it on an actual loss: `L(A) = sum(G * P(A))` has exactly this `dL/dP`, so its
        finite-difference gradient must agree. The "up-sample, then **add** where windows
        overlap" loop below is the same computation written as a loop: it is `J^T` applied to
        `vec(G)`.
        """),
        code("""
        def loss(a):
            return np.sum(G * pool.forward(a))

        finite_differences = jc.unvec(jc.numerical_jacobian(loss, A), A.shape)
        print("max |row - finite differences| =", np.abs(dL_dA - finite_differences).max())
        assert np.allclose(dL_dA, finite_differences, atol=1e-8)

        overlap_add = np.zeros_like(A)
        for p in range(2):
            for q in range(2):
                overlap_add[p:p + 2, q:q + 2] += G[p, q] / 4   # spread dL/dp_pq over its window, ADD
        assert np.allclose(overlap_add, dL_dA)
        """),
        md("""
        ## Why the up-sampling rule that ignores overlap is wrong

        Seed 000 quotes a source (its source 4, eq. 32) whose up-sampled gradient gives every
        entry of `A` a quarter of *one* window's gradient. Written out for this example it
        never uses `dL/dp22`, and gives `a22` only `dL/dp11 / 4` although `a22` feeds all four
        outputs. A quick invariant exposes it: each `p_mn` is an average, so the entries of
        the true `dL/dA` sum to `sum(dL/dP) = 10`. (Copying without adding is right exactly
        when no input lies in two windows:
        [average_pooling.md §1](../derivations/average_pooling.md#1-the-layer-and-its-jacobian).)
        """),
        code("""
        g11, g12, g21, g22 = G[0, 0], G[0, 1], G[1, 0], G[1, 1]
        ignores_overlap = np.array([[g11, g11, g12],
                                    [g11, g11, g12],
                                    [g21, g21, g12]]) / 4      # the matrix quoted in seed 000
        print("sum of dL/dP:", G.sum(), "| sum of the true dL/dA:", dL_dA.sum(),
              "| sum of the overlap-blind rule:", ignores_overlap.sum())

        fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
        for ax, (title, value) in zip(axes, {"dL/dA = unvec(vec(G) @ J)": dL_dA,
                                             "finite differences": finite_differences,
                                             "rule that ignores overlap": ignores_overlap}.items()):
            plots.heatmap(value, ax=ax, annotate=True, colorbar=False, title=title, vmax=2.5,
                          row_labels=["row 1", "row 2", "row 3"], col_labels=["col 1", "col 2", "col 3"])
            ax.set(xlabel="", ylabel="")
        plt.show()
        """),
        md("""
        ## Two slips in the seed's own answer

        The seed's derivation is right, but its printed result has two slips that the
        numbers make visible:

        1. Entries such as `1/4 (dL/dp11 + 1/4 dL/dp21)` carry a stray inner `1/4`; the chain
           rule gives `1/4 (dL/dp11 + dL/dp21)` (here `(1 + 3)/4 = 1`, not `1.75/4`).
        2. Its final 3x3 matrix is filled **row by row** from the column-major vector: its
           first row reads `a11, a21, a31`. That is the transpose of `dL/dA`. The reshape that
           inverts `vec` is `unvec` (Fortran order), not NumPy's default C-order `reshape`.
        """),
        code("""
        print("with the stray 1/4, dL/da21 would be", (g11 + g21 / 4) / 4, "; the chain rule gives", row[1])
        row_by_row = row.reshape(3, 3)              # what the seed's last matrix does
        print(row_by_row)
        print("row-by-row reshape == dL/dA transposed:", np.array_equal(row_by_row, dL_dA.T))
        assert not np.allclose(row_by_row, finite_differences)
        """),
        md("""
        ## Channels and a batch

        Pooling acts on every channel of every sample separately, so the Jacobian of a batch
        `(H, W, C, N)` is block diagonal: dotted lines separate channels, solid lines samples.
        Here 3x3 windows with stride 2 overlap by one row and one column.
        """),
        code("""
        x = np.random.default_rng(0).normal(size=(5, 5, 2, 2))   # 2 channels, 2 samples
        pool3 = jc.AvgPool2D(3, stride=2)
        y = pool3.forward(x)
        fig, ax = plt.subplots(figsize=(10, 2.8))
        plots.spy(pool3.jacobian(x), row_shape=y.shape, col_shape=x.shape, ax=ax)
        plt.show()
        """),
        md("""
        ## Exercises

        Write your answer as a LaTeX `bmatrix` in the cell and run it: `check_derivation`
        computes the same matrix symbolically and names every entry that differs, and the
        systematic mistake behind them when there is one (a row-major reshape, a transpose,
        ...). Each cell starts with a first attempt that contains a typical mistake; correct it
        until the report says `Correct`.

        **Exercise 1.** `AvgPool2D(2, stride=2, padding=1)` on a 2x2 input: every window holds
        one entry of the input and three padding zeros. Write the 4x4 Jacobian
        `d vec(p) / d vec(a)` (the padding zeros count in the divisor: `count_include_pad=True`).
        """),
        code("""
        answer = r\"\"\"
        \\begin{bmatrix}
        1 & 0 & 0 & 0 \\\\
        0 & 1 & 0 & 0 \\\\
        0 & 0 & 1 & 0 \\\\
        0 & 0 & 0 & 1
        \\end{bmatrix}
        \"\"\"
        print(check_derivation(answer, jc.AvgPool2D(2, stride=2, padding=1), (2, 2)))
        """),
        md("""
        **Exercise 2.** `AvgPool2D(2, ceil_mode=True)` on a 3x3 input: with `ceil_mode` the
        output is 2x2, and the windows of the last row and column hang past the input. Write
        the 4x9 Jacobian; the divisor of a window is the number of its taps that exist
        ([average_pooling.md §1](../derivations/average_pooling.md#1-the-layer-and-its-jacobian)).
        """),
        code("""
        answer = r\"\"\"
        \\begin{bmatrix}
        \\frac14 & \\frac14 & 0 & \\frac14 & \\frac14 & 0 & 0 & 0 & 0 \\\\
        0 & 0 & \\frac14 & 0 & 0 & \\frac14 & 0 & 0 & 0 \\\\
        0 & 0 & 0 & 0 & 0 & 0 & \\frac14 & \\frac14 & 0 \\\\
        0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 & \\frac14
        \\end{bmatrix}
        \"\"\"
        print(check_derivation(answer, jc.AvgPool2D(2, ceil_mode=True), (3, 3)))
        """),
        md("""
        **Exercise 3.** Back to the seed's pool (2x2, stride 1, 3x3 input): write `dL/dA` in
        `A`'s shape with the symbols `\\frac{dL}{dp_{mn}}`.
        """),
        code("""
        answer = r\"\"\"
        \\begin{bmatrix}
        \\frac{1}{4}\\frac{dL}{dp_{11}} & \\frac{1}{4}(\\frac{dL}{dp_{11}} + \\frac{dL}{dp_{21}}) & \\frac{1}{4}\\frac{dL}{dp_{21}} \\\\
        \\frac{1}{4}(\\frac{dL}{dp_{11}} + \\frac{dL}{dp_{12}}) & \\frac{1}{4}(\\frac{dL}{dp_{11}} + \\frac{dL}{dp_{21}} + \\frac{dL}{dp_{12}} + \\frac{dL}{dp_{22}}) & \\frac{1}{4}(\\frac{dL}{dp_{21}} + \\frac{dL}{dp_{22}}) \\\\
        \\frac{1}{4}\\frac{dL}{dp_{12}} & \\frac{1}{4}(\\frac{dL}{dp_{12}} + \\frac{dL}{dp_{22}}) & \\frac{1}{4}\\frac{dL}{dp_{22}}
        \\end{bmatrix}
        \"\"\"
        print(check_derivation(answer, pool, A.shape, names=Names(loss="L")))
        """),
    ]


# ---------------------------------------------------------------------------
# 2. convolution as a sparse matrix (seeds 003, 004 appendix A)
# ---------------------------------------------------------------------------

def convolution_as_sparse_matrix():
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


# ---------------------------------------------------------------------------
# 3. max pooling with switches (seeds 003, 004 appendix B)
# ---------------------------------------------------------------------------

def max_pooling_switches():
    return [
        md(f"""
        # 3. Max pooling with switches

        Max pooling copies one entry of each window. The forward pass records which one, the
        *switch* (seed 003): here the `vec` index into the input. The Jacobian is then a 0/1
        matrix with a single 1 per row, at the switch (seed 004, appendix B), built from the
        recorded switches rather than by recomputing the maximum. This notebook follows
        [derivations/max_pooling.md](../derivations/max_pooling.md).

        {CONVENTIONS}
        """),
        code("""
        import numpy as np
        import matplotlib.pyplot as plt

        import jacobian_cnn as jc
        from jacobian_cnn import plots
        from jacobian_cnn.handcheck import check_derivation
        from jacobian_cnn.symbolic import Names
        """),
        md("""
        ## Seed 003: a 4x4 map, 2x2 windows, stride 2

        The values are all different, so that every value names one entry, and chosen so that
        the winners are the seed's bold entries `a21, a14, a31, a43` (seed names are 1-based:
        `a21` is `a[1, 0]`).
        """),
        code("""
        a = np.array([[1.0, 2.0, 3.0, 16.0],
                      [15.0, 4.0, 5.0, 6.0],
                      [14.0, 7.0, 8.0, 9.0],
                      [10.0, 11.0, 13.0, 12.0]])
        assert len(np.unique(a)) == a.size            # no repeated values
        pool = jc.MaxPool2D(2)
        y, switches = pool.forward_with_cache(a)
        names = plots.vec_labels(a.shape, "a", seed_style=True)     # names[i] is the entry at vec index i
        print("y =\\n", y)
        print("output  value  winner  switch (0-based vec index)  1-based vec position")
        for o, (value, switch) in enumerate(zip(jc.vec(y), jc.vec(switches))):
            print(f"{plots.vec_labels(y.shape, 'y', seed_style=True)[o]:>6}  {value:5.0f}  {names[switch]:>6}"
                  f"  {switch:26d}  {switch + 1:20d}")
        """),
        md("""
        ## The Jacobian by hand

        Row `o` of `d vec(y)/d vec(a)` has a single 1, in the column of the entry that wins
        window `o` ([max_pooling.md §1](../derivations/max_pooling.md#1-the-layer-its-switches-and-its-jacobian)).
        By hand: for every window, find its largest entry and put a 1 in that entry's `vec`
        column (`i + 4 j` for `a[i, j]`, 0-based).
        """),
        code("""
        J_hand = np.zeros((4, 16))
        for p in range(2):
            for q in range(2):
                window = a[2 * p:2 * p + 2, 2 * q:2 * q + 2]
                u, v = np.unravel_index(np.argmax(window), window.shape)   # no ties here
                J_hand[p + 2 * q, (2 * p + u) + 4 * (2 * q + v)] = 1
        print(J_hand.astype(int))

        J = pool.jacobian(a, cache=switches)       # built from the switches, no second forward pass
        assert np.array_equal(J.toarray(), J_hand)
        fig, ax = plt.subplots(figsize=(12, 2.4))
        plots.heatmap(J, ax=ax, annotate=True, fmt="{:.0f}", colorbar=False, col_labels=names,
                      row_labels=plots.vec_labels(y.shape, "y", seed_style=True), col_name="a",
                      title="d vec(y) / d vec(a): one 1 per row, at the switch")
        plt.show()
        """),
        md("""
        ## Max unpooling is the row through the 0/1 Jacobian

        The gradient row `vec(G) @ J`, reshaped, puts each `dL/dy` where its maximum came from
        and zeros everywhere else: seed 003's max unpooling. Unpooling the values themselves
        puts `16` back at row 1, column 4, i.e. `a14`; the seed's figure prints `a41` there,
        which is `10`, an entry that won no window.
        """),
        code("""
        G = np.array([[0.1, 0.2], [0.3, 0.4]])     # dL/dy
        print("dL/da =\\n", jc.unvec(jc.vec(G) @ J, a.shape))
        unpooled = jc.unvec(jc.vec(y) @ J, a.shape)
        print("unpooled values =\\n", unpooled)
        assert unpooled[0, 3] == a[0, 3] == 16 and a[3, 0] == 10
        """),
        md("""
        ## Seed 004, appendix B: padding, stride, and the switch arithmetic

        A 3x4 input `I`, a 3x2 window, padding (1, 1), stride (1, 2). The seed pads with zeros
        that take part in the maximum, so padding can *win*; libraries (PyTorch, JAX,
        MatConvNet) never let padding win. `MaxPool2D(pad_value=0.0)` is the seed's rule, the
        default `pad_value=None` the libraries'. Where padding wins the output is 0 and its
        Jacobian row is empty (switch `-1`).
        """),
        code("""
        I = np.array([[-1.0, 4.0, 2.0, -3.0],
                      [5.0, 1.0, 6.0, -2.0],
                      [3.0, 7.0, -4.0, -5.0]])
        window, stride, padding = (3, 2), (1, 2), (1, 1)
        seed_rule = jc.MaxPool2D(window, stride=stride, padding=padding, pad_value=0.0)
        library_rule = jc.MaxPool2D(window, stride=stride, padding=padding)
        A_seed, s_seed = seed_rule.forward_with_cache(I)
        A_lib, s_lib = library_rule.forward_with_cache(I)
        print("seed (zero padding can win):\\n", A_seed, "\\nswitches\\n", s_seed)
        print("libraries (padding never wins):\\n", A_lib, "\\nswitches\\n", s_lib)
        assert A_seed[1, 0] == I[1, 0]             # the seed's example: A21 = max{0, a11, a21, a31} = a21
        """),
        md("""
        The seed locates the 1 of row `A_pq` from `i_pq`, the position of the maximum in the
        window's column-major `vec(Ω)` (eq. b-2.1: block row and column; eq. b-2.2: the
        window's top-left corner in `I`; eq. b-2.3: the position in `I`; then
        `j = (c_i - 1) h_i + r_i`). Implemented literally, it agrees with the recorded switches
        wherever an entry of `I` wins. Where padding wins, the arithmetic points outside `I`
        (row 0 here) and `j` lands on an unrelated entry: that row must stay empty instead.
        """),
        code("""
        def seed_b2(I, window, stride, padding):
            \"\"\"(r_i, c_i) and j of eqs. b-2.1 to b-2.3, 1-based, for every output A_pq.\"\"\"
            (hl, wl), (hs, ws), (hp, wp) = window, stride, padding
            hi, wi = I.shape
            padded = np.pad(I, ((hp, hp), (wp, wp)))       # the seed's zero padding
            ha, wa = (hi + 2 * hp - hl) // hs + 1, (wi + 2 * wp - wl) // ws + 1
            out = {}
            for p in range(1, ha + 1):
                for q in range(1, wa + 1):
                    omega = padded[hs * (p - 1):hs * (p - 1) + hl, ws * (q - 1):ws * (q - 1) + wl]
                    i_pq = int(np.argmax(jc.vec(omega))) + 1                  # first maximum in vec(Ω)
                    c_b = -(-i_pq // hl)                                       # eq. b-2.1
                    r_b = i_pq - (c_b - 1) * hl
                    r_t, c_t = 1 + hs * (p - 1) - hp, 1 + ws * (q - 1) - wp    # eq. b-2.2
                    r_i, c_i = r_b + r_t - 1, c_b + c_t - 1                    # eq. b-2.3
                    out[p, q] = (r_i, c_i), (c_i - 1) * hi + r_i
            return out

        for (p, q), ((r_i, c_i), j) in seed_b2(I, window, stride, padding).items():
            inside = 1 <= r_i <= I.shape[0] and 1 <= c_i <= I.shape[1]
            ours = s_seed[p - 1, q - 1]
            line = f"A{p}{q}: eq. b-2 gives (r_i, c_i) = ({r_i}, {c_i}), j = {j:>2}"
            if inside:
                assert j - 1 == ours                       # j is 1-based, the switch a 0-based vec index
                print(f"{line}: I{r_i}{c_i}, the recorded switch + 1 = {ours + 1} (switches are 0-based)")
            elif 1 <= j <= I.size:
                print(f"{line}: outside I, and j names I{(j - 1) % 3 + 1}{(j - 1) // 3 + 1}, which is "
                      f"not even in the window; recorded switch {ours} (padding won)")
            else:
                print(f"{line}: outside I, and j is past the end of vec(I); recorded switch {ours} "
                      "(padding won)")
        """),
        md("""
        ## Ties

        With two equal maxima the maximum is not differentiable: central finite differences
        give `1/2` to each. Any one-hot choice is a valid subgradient, and implementations
        differ: the default here takes the first maximum in the window's column-major order
        (the seed's `vec(Ω)`, MatConvNet); PyTorch's CPU kernel takes the first in row-major
        order (`tie="row_major"`).

        Which one wins changes only the gradient wrt the pool's input, at the tied entries.
        Whether that reaches anything further back depends on the layer before the pool: ties
        at 0 after a ReLU do not, because a ReLU output 0 comes from a pre-activation `z <= 0`,
        where ReLU'(z) = 0, so every tied entry's gradient is multiplied by 0. Ties at any other
        value (equal positive activations, saturated sigmoids, equal averages, the input image)
        pass on. The same holds for seed 002's mask, which sends the gradient to *every* tied
        entry: [max_pooling.md §4](../derivations/max_pooling.md#4-seed-002-the-tie-mask).
        """),
        code("""
        x = np.array([[1.0, 5.0], [5.0, 2.0]])                 # 5 at (1, 0) and at (0, 1)
        print("vec(x) =", jc.vec(x))
        print("column-major rule:", jc.MaxPool2D(2).jacobian(x).toarray())
        print("row-major rule:   ", jc.MaxPool2D(2, tie="row_major").jacobian(x).toarray())
        print("finite differences:", jc.numerical_jacobian(jc.MaxPool2D(2).forward, x).round(6))
        """),
        md("""
        ## Channels and a batch

        Every channel of every sample is pooled on its own: block diagonal, one 1 per row.
        """),
        code("""
        x = np.random.default_rng(0).normal(size=(6, 6, 3, 2))
        pool = jc.MaxPool2D(2)
        y = pool.forward(x)
        fig, ax = plt.subplots(figsize=(11, 3.5))
        plots.spy(pool.jacobian(x), row_shape=y.shape, col_shape=x.shape, ax=ax)
        plt.show()
        """),
        md("""
        ## Exercises

        Write your answer as a LaTeX `bmatrix` and run the cell: `check_derivation` names every
        entry that differs, and the systematic mistake behind them. Each cell starts with a
        first attempt that contains a typical mistake.

        **Exercise 1.** The 4x16 Jacobian of `MaxPool2D(2)` on the map `a` above (rows
        `y_11, y_21, y_12, y_22`, which the checker calls `p_11, ...`; columns in `vec` order
        `a_11, a_21, a_31, a_41, a_12, ...`).
        """),
        code("""
        answer = r\"\"\"
        \\begin{bmatrix}
        0 & 0 & 0 & 0 & 1 & 0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 \\\\
        0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 & 1 & 0 & 0 & 0 & 0 & 0 & 0 & 0 \\\\
        0 & 0 & 0 & 1 & 0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 \\\\
        0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 & 1 & 0
        \\end{bmatrix}
        \"\"\"
        print(check_derivation(answer, jc.MaxPool2D(2), a))
        """),
        md("""
        **Exercise 2.** Overlapping windows: `MaxPool2D(3, stride=1)` on a 4x4 map of zeros with
        a 9 at `a_22`, so `a_22` wins all four windows. Write `dL/da` in `a`'s shape with the
        symbols `\\frac{dL}{dp_{mn}}` (seed 001 inserts each gradient at its switch; the chain
        rule adds: [max_pooling.md §3](../derivations/max_pooling.md#3-seed-001-max-unpooling-must-add-not-insert)).
        """),
        code("""
        x9 = np.zeros((4, 4))
        x9[1, 1] = 9.0
        answer = r\"\"\"
        \\begin{bmatrix}
        0 & 0 & 0 & 0 \\\\
        0 & \\frac{dL}{dp_{22}} & 0 & 0 \\\\
        0 & 0 & 0 & 0 \\\\
        0 & 0 & 0 & 0
        \\end{bmatrix}
        \"\"\"
        print(check_derivation(answer, jc.MaxPool2D(3, stride=1), x9, names=Names(loss="L")))
        """),
    ]


# ---------------------------------------------------------------------------
# 4. the seed's 3-layer CNN, step by step (seed 004 sections 3.1.1 - 3.1.6)
# ---------------------------------------------------------------------------

def three_layer_cnn():
    return [
        md(f"""
        # 4. The seed's 3-layer CNN, step by step

        Seed 004 derives back-propagation for `conv -> activation -> pool -> conv -> activation
        -> pool -> flatten -> dense` (figure 1) in numerator layout over column-major `vec`.
        This notebook computes every equation of its sections 3.1.1 to 3.1.6 for a small
        network, by hand in the seed's own form (channel-by-channel matrices, convolutions with
        unit kernels, column recipes), and only then matches each against the chain composer.
        At the end everything is checked against torch autograd. The derivations it follows:
        [chain.md §2](../derivations/chain.md#2-a-seed-004-network-by-jacobians-and-by-the-classical-formulas),
        [convolution.md §7](../derivations/convolution.md#7-channels-seed-004-section-315),
        [average_pooling.md §1](../derivations/average_pooling.md#1-the-layer-and-its-jacobian),
        [max_pooling.md §5](../derivations/max_pooling.md#5-seed-004-appendix-b-switches-and-the-column-arithmetic-of-eq-b-2).

        **Where this network departs from the seed's.** The seed's figure uses average pooling
        in both layers, a generic activation (the sigmoid in 3.1.4), and leaves the loss `J`
        abstract (its back-propagation starts from `dL/dZ3`). Here layer 1 is as in the seed
        (sigmoid, average pooling), layer 2 uses ReLU and **max pooling**, and the loss is the
        softmax cross-entropy: that way both pooling layers the seed derives (3.1.3 and
        appendix B) appear in one network, and `dL/dZ3` is a concrete row. None of the seed's
        formulas depends on these choices. The seed calls the loss `J`; here `J` is always a
        Jacobian and the loss is `L` ([notation](../derivations/README.md#notation)).

        {CONVENTIONS}
        """),
        code("""
        import numpy as np
        import matplotlib.pyplot as plt

        import jacobian_cnn as jc
        from jacobian_cnn import examples, plots, training

        rng = np.random.default_rng(4)
        net = examples.seed_cnn(rng, size=8, channels=(1, 2, 3), n_classes=4)
        x = rng.normal(size=(8, 8, 1))
        label = 2
        loss = jc.SoftmaxCrossEntropy(label)
        full = examples.with_loss(net, loss)
        print(full)
        """),
        md("""
        The seed's names for the intermediates: `Z` after a convolution or the dense layer,
        `I` after an activation, `A` after pooling, `B2` the flattened `A2`; `A3 = softmax(Z3)`
        and `L` the cross-entropy.
        """),
        code("""
        names = ["Z1", "I1", "A1", "Z2", "I2", "A2", "B2", "Z3"]
        values = {"A0": x}
        h = x
        for name, layer in zip(names, net.layers):
            h = layer.forward(h)
            values[name] = h
            print(f"{name} = {layer!r:<36} shape {h.shape}")
        print("L =", float(loss.forward(h)))
        """),
        md("""
        ## Helpers, and the trace of the backward pass

        Three small helpers keep the cells below close to the seed's notation:

        * `composer_row(k)`: the row `dL/dvec(input of layer k)`, computed independently by the
          chain composer on the tail `layers[k:]` of the chain (with the loss). Each hand
          result below is compared with it.
        * `channels(row, shape)`: a row over `vec` of an `(h, w, c)` map as the seed's
          `c x (h w)` matrix, whose row `j` is `dL/dvec` of channel `j` (section 3.1.2).
        * `unit(shape, index)`: the matrix `E_pq` with a single 1, for the seed's column
          recipes (a column of a Jacobian is the layer applied to `E_pq`).

        `full.backward(x)` runs the whole backward pass at once; its **trace** lists every
        product `g <- g @ J` it made, last layer first: the layer, what the Jacobian is taken
        with respect to, the Jacobian's shape and its stored entries. The parameter rows
        (`grads.params`) are the products with the kernel, weight and bias Jacobians.
        """),
        code("""
        inputs = ["A0", *names]
        def composer_row(k):
            \"\"\"dL / dvec(input of layer k), from the chain composer on the chain's tail.\"\"\"
            return jc.Chain(full.layers[k:]).backward(values[inputs[k]]).input[0]

        def channels(row, shape):
            \"\"\"A row over vec of an (h, w, c) map as the seed's c x (h w) matrix (row j: channel j).\"\"\"
            h, w, c = shape
            return jc.unvec(row, (h * w, c)).T

        def unit(shape, index):
            e = np.zeros(shape)
            e[index] = 1.0
            return e

        grads = full.backward(x)         # the whole backward pass at once
        print(grads.trace)
        """),
        md("""
        ## 3.1.1 `dL/dW3`, `dL/db3`, `dL/dB2`

        `dL/dZ3 = dL/dA3 · dA3/dZ3` with the full softmax Jacobian `diag(a) - a a^T`; then,
        from `Z3 = W3^T B2 + b3`:
        `dL/dW3 = (dL/dZ3)^T (B2)^T`, `dL/db3 = dL/dZ3`, `dL/dB2 = dL/dZ3 (W3)^T`.
        `dL/dW3` has the shape of `W3^T`: a Jacobian; the gradient in `W3`'s shape is its
        transpose (section 3.2), which is what `as_parameter_shape` returns from the chain's row.
        """),
        code("""
        Z3, B2, fc = values["Z3"], values["B2"], net[7]
        A3 = jc.Softmax().forward(Z3)
        dL_dA3 = np.zeros(4)
        dL_dA3[label] = -1 / A3[label]                    # L = -log a3[label]
        dL_dZ3 = dL_dA3 @ jc.Softmax().jacobian(Z3)
        assert np.allclose(dL_dZ3, loss.gradient(Z3)[0])  # = softmax(Z3) - onehot(label)

        dL_dW3 = np.outer(dL_dZ3, B2)                     # (dL/dZ3)^T (B2)^T: n3 x n2
        dL_db3 = dL_dZ3
        dL_dB2 = dL_dZ3 @ fc.weight.T                     # dL/dZ3 (W3)^T
        print("dL/dZ3 =", dL_dZ3.round(4), "\\ndL/dW3 has shape", dL_dW3.shape, "; W3 has", fc.weight.shape)

        assert np.allclose(jc.as_parameter_shape(grads.params[7]["weight"][0], fc.weight.shape), dL_dW3.T)
        assert np.allclose(grads.params[7]["bias"][0], dL_db3)
        assert np.allclose(composer_row(7), dL_dB2)
        print("3.1.1 matches the chain composer")
        """),
        md("""
        ## 3.1.2 `dL/dvA2`

        `B2` stacks `vec(A2_1), vec(A2_2), ...`, which is `vec(A2)` itself: flattening is the
        identity map on `vec`, with the identity Jacobian. The seed then reshapes the row
        `dL/dB2` into a `c2 x (h w)` matrix whose row `j` is `dL/dvec(A2_j)`.
        """),
        code("""
        A2 = values["A2"]
        assert np.array_equal(net[6].jacobian(A2).toarray(), np.eye(A2.size))   # flatten: the identity
        dL_dvA2 = channels(dL_dB2, A2.shape)
        print(dL_dvA2.round(4))
        assert np.allclose(dL_dvA2.ravel(), composer_row(6))
        """),
        md("""
        ## 3.1.3 `dL/dvI2`: through the pooling layer

        `dL/dvI2 = dL/dvA2 · dvA2/dvI2`. The second pooling layer of this network is max
        pooling: its Jacobian is the 0/1 mask built from the switches (appendix B). For
        average pooling, section 3.1.3 builds the matrix column by column as
        `vec(dI/dI_pq * P)` (the seed's `P` is the pooling kernel, full of `1/4`); that case
        appears in 3.1.6.
        """),
        code("""
        I2, maxpool = values["I2"], net[5]
        switches = maxpool.switches(I2)
        dA2_dI2 = maxpool.jacobian(I2, cache=switches)
        g_I2 = jc.vec(dL_dvA2.T) @ dA2_dI2                 # rows of dL/dvA2, back in vec order
        assert np.allclose(g_I2, composer_row(5))
        print("switches:", jc.vec(switches), "\\n", channels(g_I2, I2.shape).round(3))
        """),
        md("""
        ## 3.1.4 `dL/dvZ2`: through the activation

        The activation's Jacobian depends on the values, so the seed computes it channel by
        channel, `dL/dvZ2_j = dL/dvI2_j · dvI2_j/dvZ2_j`, and stacks the rows. The full
        Jacobian is the block diagonal of these (here ReLU: a 0/1 diagonal).
        """),
        code("""
        Z2 = values["Z2"]
        g_Z2 = g_I2 @ net[4].jacobian(Z2)
        G_I2 = channels(g_I2, I2.shape)
        per_channel = [G_I2[j] @ np.diag((jc.vec(Z2[:, :, j]) > 0).astype(float)) for j in range(Z2.shape[2])]
        assert np.allclose(np.concatenate(per_channel), g_Z2)
        assert np.allclose(g_Z2, composer_row(4))
        G_Z2 = channels(g_Z2, Z2.shape)
        print("dL/dvZ2 is", G_Z2.shape)
        """),
        md("""
        ## 3.1.5 `dL/dvK2`, `dL/db2`, `dL/dvA1`

        *Kernel.* For input channel `i`, the matrix `dvZ2_j/dvK2_ji` has the columns
        `vec(A1_i * dK/dK_pq)` (a convolution with a unit kernel, same padding and stride) and
        does not depend on `j` (figure 4), so `dL/dvK2_{:,i} = dL/dvZ2 · dvZ2_j/dvK2_ji` gives
        all output channels at once: row `j` is `dL/dvec(K2_ji)`.

        *Bias.* `dL/db2 = (dL/dvZ2 · 1)^T`.

        *Input.* `dL/dvA1_i = sum_j dL/dvZ2_j · dvZ2_j/dvA1_i`, whose columns are
        `vec(dA1_i/dA_pq * K2_ji)`.

        The seed writes `A^{[2]}` in a few places of this section where `A^{[1]}` is meant
        (`dvZ_j/dvA_i^{[2]}`, its `h_a^{[2]} w_a^{[2]}` columns, "the i-th channel of
        `A^{[2]}`"), and `c^{[1]}` for the last bias index where it is `c^{[2]}`.
        """),
        code("""
        conv2, A1 = net[3], values["A1"]
        kh, kw, c1, c2 = conv2.kernel.shape
        taps = [np.unravel_index(t, (kh, kw), order="F") for t in range(kh * kw)]   # vec order of a kernel
        dK2 = np.zeros(conv2.kernel.shape)
        for i in range(c1):
            M_i = np.column_stack([jc.vec(jc.Conv2D(unit((kh, kw), pq), padding=1).forward(A1[:, :, i]))
                                   for pq in taps])             # dvZ2_j / dvK2_ji, any j
            rows = G_Z2 @ M_i                                     # c2 x (kh kw)
            for j in range(c2):
                dK2[:, :, i, j] = jc.unvec(rows[j], (kh, kw))
        db2 = G_Z2 @ np.ones(G_Z2.shape[1])

        ha, wa = A1.shape[:2]
        cells = [np.unravel_index(t, (ha, wa), order="F") for t in range(ha * wa)]
        G_A1 = np.zeros((c1, ha * wa))
        for i in range(c1):
            for j in range(c2):
                K2_ji = jc.Conv2D(conv2.kernel[:, :, i, j], padding=1)
                # dvZ2_j / dvA1_i: column pq is vec(dA1_i/dA_pq * K2_ji)
                N_ji = np.column_stack([jc.vec(K2_ji.forward(unit((ha, wa), pq))) for pq in cells])
                G_A1[i] += G_Z2[j] @ N_ji

        assert np.allclose(jc.as_parameter_shape(grads.params[3]["kernel"][0], conv2.kernel.shape), dK2)
        assert np.allclose(grads.params[3]["bias"][0], db2)
        assert np.allclose(G_A1.ravel(), composer_row(3))
        print("3.1.5 matches the chain composer")
        """),
        md("""
        ## 3.1.6 `dL/dvZ1`, `dL/dvK1`, `dL/db1`

        The same steps one layer down. First the average pooling, by the seed's recipe of
        section 3.1.3: the layer is a convolution of each channel with the constant kernel
        full of `1/4` at stride 2 (the seed's `P`), so column `pq` of `dvA1_j/dvI1_j` is
        `vec(E_pq * P)`, the pooled unit matrix, and the matrix is **the same for every
        channel**. Built column by column, it is the diagonal block of the package's Jacobian
        for every channel, with nothing between channels. Then the sigmoid's diagonal, then the
        kernel and bias of the first convolution. (The seed's kernel equation here repeats
        `K^{[2]}` and `Z^{[2]}` where `K^{[1]}` and `Z^{[1]}` are meant.)
        """),
        code("""
        I1, Z1, avgpool, conv1 = values["I1"], values["Z1"], net[2], net[0]
        hi, wi = I1.shape[:2]
        constant_kernel = jc.Conv2D(np.full((2, 2), 1 / 4), stride=2)    # the seed's P
        recipe = np.column_stack([jc.vec(constant_kernel.forward(unit((hi, wi), pq)))
                                  for pq in [np.unravel_index(t, (hi, wi), order="F") for t in range(hi * wi)]])
        print("dvA1_j / dvI1_j is", recipe.shape, "with", np.count_nonzero(recipe), "entries of 1/4")

        dA1_dI1 = avgpool.jacobian(I1)
        n_out, n_in = ha * wa, hi * wi
        blocks = [dA1_dI1[j * n_out:(j + 1) * n_out, j * n_in:(j + 1) * n_in].toarray() for j in range(c1)]
        assert all(np.array_equal(b, recipe) for b in blocks)          # the recipe, for every channel
        assert dA1_dI1.nnz == sum(np.count_nonzero(b) for b in blocks)  # and nothing between channels

        g_I1 = G_A1.ravel() @ dA1_dI1
        g_Z1 = g_I1 @ net[1].jacobian(Z1)                # sigmoid: diag(s (1 - s))
        G_Z1 = channels(g_Z1, Z1.shape)
        kh, kw, c0, c1 = conv1.kernel.shape
        dK1 = np.zeros(conv1.kernel.shape)
        for i in range(c0):
            M_i = np.column_stack([jc.vec(jc.Conv2D(unit((kh, kw), pq), padding=1).forward(x[:, :, i]))
                                   for pq in taps])
            for j, row in enumerate(G_Z1 @ M_i):
                dK1[:, :, i, j] = jc.unvec(row, (kh, kw))
        db1 = G_Z1 @ np.ones(G_Z1.shape[1])

        assert np.allclose(g_Z1, composer_row(1))
        assert np.allclose(jc.as_parameter_shape(grads.params[0]["kernel"][0], conv1.kernel.shape), dK1)
        assert np.allclose(grads.params[0]["bias"][0], db1)
        print("3.1.6 matches the chain composer")
        """),
        md("""
        ## 3.2 Gradients, and torch

        The derivatives above are Jacobians; the gradients are their transposes, reshaped to
        each parameter's shape. The same network run by torch autograd (float64, layouts
        permuted to NCHW inside `training.torch_gradients`) agrees to rounding error.
        """),
        code("""
        reference = training.torch_gradients(net, x, label)
        seed_form = {(0, "kernel"): dK1, (0, "bias"): db1, (3, "kernel"): dK2, (3, "bias"): db2,
                     (7, "weight"): dL_dW3.T, (7, "bias"): dL_db3}
        print(f"{'parameter':<16}{'shape':>14}{'max |chain - seed form|':>26}{'max |chain - torch|':>22}")
        for (i, name), value in seed_form.items():
            chain = jc.as_parameter_shape(grads.params[i][name][0], value.shape)
            print(f"{f'layer {i} {name}':<16}{str(value.shape):>14}{np.abs(chain - value).max():>26.1e}"
                  f"{np.abs(chain - reference.params[i][name]).max():>22.1e}")
        print(f"loss: chain {float(grads.output):.15f}, torch {reference.loss:.15f}")
        assert training.gradient_deviation(grads, reference) < 1e-12
        """),
        md("""
        ## A batch: block-diagonal Jacobians

        The same chain on a batch `(8, 8, 1, 3)`: every layer's Jacobian wrt its input is
        block diagonal (solid lines between samples, dotted between channels), and the loss
        averages over the samples. The gradients still match torch.
        """),
        code("""
        xb, labels = rng.normal(size=(8, 8, 1, 3)), np.array([0, 2, 3])
        grads_b = examples.with_loss(net, jc.SoftmaxCrossEntropy(labels)).backward(xb)
        deviation = training.gradient_deviation(grads_b, training.torch_gradients(net, xb, labels))
        print(f"batch of 3: max |chain - torch| = {deviation:.1e}")
        assert deviation < 1e-12

        fig, axes = plt.subplots(2, 4, figsize=(15, 7.5))
        h = xb
        for ax, layer, name, source in zip(axes.ravel(), net.layers, names, inputs):
            out = layer.forward(h)
            rows = {"row_shape": out.shape} if out.ndim == 4 else {"row_blocks": out.shape[0]}
            cols = {"col_shape": h.shape} if h.ndim == 4 else {"col_blocks": h.shape[0]}
            plots.spy(layer.jacobian(h), ax=ax, title=f"d{name}/d{source}", row_name=name, col_name=source,
                      **rows, **cols)
            h = out
        plt.tight_layout()
        plt.show()
        """),
        md("""
        ## Exercises

        Write your answer as a LaTeX `bmatrix` and run the cell: `check_derivation` names every
        entry that differs, and the systematic mistake behind them. Each cell starts with a
        first attempt that contains a typical mistake. The layer is `z = W^T a` with `W` of
        shape `3 x 2` (seed 004's dense layer, entries `w_{ij}`, input `a_{i}`;
        [dense.md](../derivations/dense.md)).

        **Exercise 1.** The 2x3 Jacobian `dz/da`.
        """),
        code("""
        from jacobian_cnn.handcheck import check_derivation

        dense = jc.Dense(np.ones((3, 2)))
        answer = r\"\"\"
        \\begin{bmatrix}
        w_{11} & w_{12} & w_{13} \\\\
        w_{21} & w_{22} & w_{23}
        \\end{bmatrix}
        \"\"\"
        print(check_derivation(answer, dense, (3,)))
        """),
        md("""
        **Exercise 2.** The 2x6 Jacobian `dz/dvec(W)` (columns `w_11, w_21, w_31, w_12, ...`:
        `vec` runs down the columns of `W`).
        """),
        code("""
        answer = r\"\"\"
        \\begin{bmatrix}
        a_{1} & 0 & a_{2} & 0 & a_{3} & 0 \\\\
        0 & a_{1} & 0 & a_{2} & 0 & a_{3}
        \\end{bmatrix}
        \"\"\"
        print(check_derivation(answer, dense, (3,), wrt="weight"))
        """),
        md("""
        **Exercise 3.** PyTorch flattens an `NCHW` tensor row-major over `(C, H, W)`:
        `Flatten("torch")` of a 2x2x2 map. Write its 8x8 Jacobian over `vec` (columns
        `a_111, a_211, a_121, a_221, a_112, ...`; [reshape.md §3](../derivations/reshape.md#3-row-major-order-and-the-commutation-matrix)).
        """),
        code("""
        answer = r\"\"\"
        \\begin{bmatrix}
        1 & 0 & 0 & 0 & 0 & 0 & 0 & 0 \\\\
        0 & 1 & 0 & 0 & 0 & 0 & 0 & 0 \\\\
        0 & 0 & 1 & 0 & 0 & 0 & 0 & 0 \\\\
        0 & 0 & 0 & 1 & 0 & 0 & 0 & 0 \\\\
        0 & 0 & 0 & 0 & 1 & 0 & 0 & 0 \\\\
        0 & 0 & 0 & 0 & 0 & 1 & 0 & 0 \\\\
        0 & 0 & 0 & 0 & 0 & 0 & 1 & 0 \\\\
        0 & 0 & 0 & 0 & 0 & 0 & 0 & 1
        \\end{bmatrix}
        \"\"\"
        print(check_derivation(answer, jc.Flatten("torch"), (2, 2, 2)))
        """),
    ]


# ---------------------------------------------------------------------------
# 5. training from explicit Jacobians
# ---------------------------------------------------------------------------

def training_from_jacobians():
    return [
        md(f"""
        # 5. Training the seed's CNN with gradients from explicit Jacobians

        Mini-batch gradient descent, `θ := θ - α ∇_θ L` for every parameter `θ` (seed 004,
        section 3, writes the loss as `J`; here `J` is a Jacobian), on
        scikit-learn's bundled 8x8 digits (`load_digits`: nothing is downloaded). Every
        gradient is the row that `Chain.backward` pushes through each layer's explicit sparse
        Jacobian, reshaped into the parameter's shape with `as_parameter_shape`. A mini-batch
        is one `(8, 8, 1, N)` array, so every Jacobian is block diagonal over the batch. At
        every step the gradients are compared with torch autograd on the same weights.

        The same loop runs from the command line: `jacobian-cnn train`.

        {CONVENTIONS}
        """),
        code("""
        import time

        import numpy as np
        import matplotlib.pyplot as plt
        from sklearn.metrics import confusion_matrix

        import jacobian_cnn as jc
        from jacobian_cnn import plots, training

        data = training.load_digits(test_fraction=0.25, seed=0)
        print(data)
        fig, axes = plt.subplots(1, 10, figsize=(10, 1.4))
        for n, ax in enumerate(axes):
            ax.imshow(data.x_train[:, :, 0, n], cmap="gray_r")   # (H, W, C, N): sample n, channel 0
            ax.set_title(int(data.y_train[n]))
            ax.axis("off")
        plt.show()
        """),
        md("""
        ## The network

        The seed's architecture (`examples.seed_cnn`), sized for 8x8 inputs and 10 classes,
        with an initialization plain gradient descent can train (see `training.digits_cnn`).
        """),
        code("""
        net = training.digits_cnn(0, channels=(4, 8))
        print(net)
        """),
        md("""
        ## One step, looked at closely

        A mini-batch of 4 images. The trace lists every product `g <- g @ J` of the backward
        pass, with each Jacobian's shape and stored entries. Below: the first convolution's
        Jacobian wrt its input is block diagonal (one block per sample); the dense layer's
        Jacobian wrt its weight stacks one block per sample, so `g @ J` sums over the batch.
        That last one is built by hand first: for `Z3 = W3^T B2 + b3`, sample `n`'s block is
        `I_10 ⊗ x_n^T`, with `x_n` the flattened features of image `n`
        ([dense.md §1](../derivations/dense.md#1-the-three-jacobians)).
        """),
        code("""
        xb, yb = data.x_train[..., :4], data.y_train[:4]
        grads = training.loss_gradients(net, xb, yb)
        print(f"batch loss {float(grads.output):.4f}")
        print(grads.trace)

        conv1, fc = net[0], net[7]
        B2 = jc.Chain(net.layers[:7]).forward(xb)                # (32, 4): one column per image
        by_hand = np.vstack([np.kron(np.eye(10), B2[:, [n]].T) for n in range(4)])
        assert np.array_equal(fc.jacobian(B2, wrt="weight").toarray(), by_hand)
        fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [1, 1]})
        plots.spy(conv1.jacobian(xb), row_shape=conv1.forward(xb).shape, col_shape=xb.shape, ax=left,
                  title="conv 1, wrt its input: block diagonal")
        plots.spy(fc.jacobian(B2, wrt="weight"), row_blocks=10, ax=right, row_name="Z3", col_name="W3",
                  title="dense, wrt W3: one block per sample")
        plt.show()
        """),
        md("""
        The update of the first kernel: its row `dL/dvec(K1)`, reshaped column-major into
        `K1`'s shape `(3, 3, 1, 4)` (seed 004, section 3.2), compared with torch.
        """),
        code("""
        row = grads.params[0]["kernel"]                       # (1, 36): a Jacobian row over vec(K1)
        step = jc.as_parameter_shape(row[0], conv1.kernel.shape)
        reference = training.torch_gradients(net, xb, yb)
        deviation = np.abs(step - reference.params[0]["kernel"]).max()
        print(row.shape, "->", step.shape, "; max |ours - torch| =", deviation)
        """),
        md("""
        ## Training, checked against torch at every step

        5 epochs of mini-batches of 16, learning rate `0.3 / (1 + 0.5 (epoch - 1))`. Before each
        update, `on_step` runs torch autograd on the same weights and batch and records the
        largest deviation over all parameters.
        """),
        code("""
        deviations = []

        def check_against_torch(net, batch):
            reference = training.torch_gradients(net, batch.x, batch.labels)
            deviations.append(training.gradient_deviation(batch.grads, reference))

        def report(net, r):
            print(f"epoch {r.epoch}: train loss {r.train_loss:.3f}, accuracy {r.train_accuracy:6.1%} | "
                  f"test loss {r.test_loss:.3f}, accuracy {r.test_accuracy:6.1%}")

        start = time.perf_counter()
        history = training.train(net, data, epochs=5, batch_size=16, learning_rate=0.3, decay=0.5, seed=0,
                                 on_step=check_against_torch, on_epoch=report)
        print(f"{len(history.step_loss)} steps in {time.perf_counter() - start:.0f} s")
        print(f"largest |ours - torch| over all {len(deviations)} steps: {max(deviations):.1e}")
        assert history.final.test_accuracy > 0.6      # chance is 10%
        assert max(deviations) < 1e-10
        """),
        code("""
        plots.plot_history(history)
        plt.show()

        fig, ax = plt.subplots(figsize=(10, 2.4))
        ax.semilogy(np.maximum(deviations, 1e-18), ".", markersize=3)
        ax.set(xlabel="step", ylabel="max |ours - torch|", ylim=(1e-18, 1e-12),
               title="gradients from explicit Jacobians vs torch autograd, every step")
        plt.show()
        """),
        md("""
        ## Where it still errs

        The confusion matrix on the 450 held-out digits (rows: true class, columns: predicted).
        """),
        code("""
        predicted = training.predict(net, data.x_test)
        print(f"test accuracy {np.mean(predicted == data.y_test):.1%}")
        print(confusion_matrix(data.y_test, predicted))
        """),
        md("""
        ## Exercises

        The loss of every step above starts from the softmax. Write its Jacobian as a LaTeX
        `bmatrix` in the entries `s_{i}` of the output and run the cell: `check_derivation`
        names every entry that differs ([softmax.md](../derivations/softmax.md)). Each cell
        starts with a first attempt that contains a typical mistake.

        **Exercise 1.** Softmax of 2 logits: the 2x2 Jacobian `d s / d a`.
        """),
        code("""
        from jacobian_cnn.handcheck import check_derivation

        answer = r\"\"\"
        \\begin{bmatrix}
        s_{1}(1 - s_{1}) & s_{1} s_{2} \\\\
        s_{1} s_{2} & s_{2}(1 - s_{2})
        \\end{bmatrix}
        \"\"\"
        print(check_derivation(answer, jc.Softmax(), (2,)))
        """),
        md("""
        **Exercise 2.** Softmax of 3 logits: the 3x3 Jacobian. (Softmax is not elementwise: each
        output depends on every logit.)
        """),
        code("""
        answer = r\"\"\"
        \\begin{bmatrix}
        s_{1}(1 - s_{1}) & 0 & 0 \\\\
        0 & s_{2}(1 - s_{2}) & 0 \\\\
        0 & 0 & s_{3}(1 - s_{3})
        \\end{bmatrix}
        \"\"\"
        print(check_derivation(answer, jc.Softmax(), (3,)))
        """),
    ]

# ---------------------------------------------------------------------------
# 7. checking published derivations: declared and detected conventions
# ---------------------------------------------------------------------------

def checking_published_derivations():
    return [
        md("""
        # Checking published derivations

        `jc.check` compares a matrix derived by hand with the exact result. Published
        derivations use many conventions: 0-based indices, row-major listings, denominator
        layout, `z = W x` weights, true convolution. Declare them and a derivation that is right
        under them is accepted; forget them and the checker names the conventions that make it
        right. The options and exit statuses are in [`docs/checking.md`](../docs/checking.md).
        """),
        code("""
        import numpy as np
        import jacobian_cnn as jc
        from jacobian_cnn.symbolic import Names
        """),
        md("""
        ## 1. The convolution-arithmetic guide's matrix C

        Dumoulin & Visin, *A guide to convolution arithmetic for deep learning*
        (arXiv:1603.07285), section 4.1, write a 3x3 kernel over a 4x4 input as a 4x16 matrix
        `C`: entries `w_{0,0}` to `w_{2,2}` (0-based), input and output unrolled row by row.
        """),
        code(r"""
        rows = [(0, 1, 2, 4, 5, 6, 8, 9, 10), (1, 2, 3, 5, 6, 7, 9, 10, 11),
                (4, 5, 6, 8, 9, 10, 12, 13, 14), (5, 6, 7, 9, 10, 11, 13, 14, 15)]
        C = [["0"] * 16 for _ in rows]
        for r, columns in enumerate(rows):
            for t, c in enumerate(columns):
                C[r][c] = f"w_{{{t // 3},{t % 3}}}"
        conv = jc.Conv2D(np.ones((3, 3)))
        report = jc.check(C, conv, (4, 4), index_base=0, vec_order="C")
        assert report.verdict == "correct"
        report
        """),
        md("""
        Without the two declarations the matrix is still recognised, and the report says in
        one line how to declare what it uses:
        """),
        code(r"""
        undeclared = jc.check(C, conv, (4, 4))
        assert undeclared.verdict == "right_under_other_conventions"
        print(undeclared.detected_line)
        undeclared
        """),
        md("""
        Which entries are right as they are, and which only once read 0-based and row by row
        (the colours of the report above):
        """),
        code(r"""
        import matplotlib.pyplot as plt

        codes = {"right": 0, "convention": 1, "wrong": 2}
        grid = np.vectorize(codes.get)(undeclared.entry_status)
        fig, ax = plt.subplots(figsize=(8, 2.6))
        ax.imshow(grid, cmap="RdYlGn_r", vmin=0, vmax=2)
        ax.set_xticks(range(16), [str(j + 1) for j in range(16)])
        ax.set_yticks(range(4), [str(i + 1) for i in range(4)])
        ax.set_xlabel("column of C")
        ax.set_ylabel("row of C")
        ax.set_title("green: right as read; yellow: right once read 0-based and row-major")
        plt.show()
        """),
        md("""
        ## 2. MATLAB's `convmtx2` example, in numbers

        The `convmtx2` documentation convolves `magic(5)` with `ones(3,3)/9` (full size, a true
        convolution) and prints the result to 4 decimals; the tolerance says so.
        """),
        code(r"""
        magic5 = np.array([[17, 24, 1, 8, 15], [23, 5, 7, 14, 16], [4, 6, 13, 20, 22],
                           [10, 12, 19, 21, 3], [11, 18, 25, 2, 9]], dtype=float)
        Y1 = [[1.8889, 4.5556, 4.6667, 3.6667, 2.6667, 2.5556, 1.6667],
              [4.4444, 7.6667, 8.5556, 6.5556, 6.7778, 5.8889, 3.4444],
              [4.8889, 8.7778, 11.1111, 10.8889, 12.8889, 10.5556, 5.8889],
              [4.1111, 6.6667, 11.0000, 13.0000, 15.0000, 10.6667, 4.5556],
              [2.7778, 6.7778, 13.1111, 15.1111, 14.8889, 8.5556, 3.7778],
              [2.3333, 5.6667, 10.5556, 10.7778, 8.7778, 3.8889, 1.3333],
              [1.2222, 3.2222, 6.0000, 5.0000, 4.0000, 1.2222, 1.0000]]
        average = jc.Conv2D(np.ones((3, 3)) / 9, padding=2)
        report = jc.check(Y1, average, magic5, convolution="true", params="values",
                          tolerance=1e-4, quantity="forward")
        assert report.verdict == "correct"
        print(report)
        """),
        md("""
        ## 3. A Q&A answer on max-pool gradients

        A Cross Validated question ("How to handle maxpool layer backpropagation with recurring
        max values in same position") pools a 3x3 layer with 2x2 windows and stride 1; the 5 wins
        two windows, so it collects both deltas, -1.4 + 0.8 = -0.6.
        """),
        code(r"""
        a = np.array([[3, 4, 2], [1, 5, 0], [8, 6, 4]], dtype=float)
        deltas = [[-1.4, 0.8], [0.2, 0.3]]
        pool = jc.MaxPool2D(2, stride=1)
        answer = r"\begin{bmatrix} 0 & 0 & 0 \\ 0 & -0.6 & 0 \\ 0.2 & 0.3 & 0 \end{bmatrix}"
        report = jc.check(answer, pool, a, grad_values=deltas)
        assert report.verdict == "correct"
        report
        """),
        md("""
        Keeping only the first delta of the shared maximum is a common slip; the checker names
        the entry and both values:
        """),
        code(r"""
        wrong = answer.replace("-0.6", "-1.4")
        report = jc.check(wrong, pool, a, grad_values=deltas)
        assert report.verdict == "wrong" and report.diffs[0].label == "∂J/∂a_{22}"
        report
        """),
        md("""
        ## 4. A denominator-layout identity

        Tables of matrix-calculus identities list `d(Ax)/dx = A^T` (`A` of shape `m x n`, `x` a
        column), the denominator layout, for `z = A x` (for example the notes at
        https://arqamrp.github.io/mononote/files/1_maths/2_linear_algebra/1_matrix_calc.html,
        section 1.1). Here with a 2x3 `A` (the weight named `a`, the input `x`):
        """),
        code(r"""
        At = r"\mathbf{A}^\top = \begin{bmatrix} a_{11} & a_{21} \\ a_{12} & a_{22} \\ a_{13} & a_{23} \end{bmatrix}"
        dense = jc.Dense(np.ones((3, 2)))
        names = Names(input="x", weight="a")
        report = jc.check(At, dense, (3,), names=names)
        assert set(report.detected) == {"layout", "weight_orientation"}
        print(report.detected_line)
        assert jc.check(At, dense, (3,), names=names, layout="denominator",
                        weight_orientation="out_in").verdict == "correct"
        """),
        md("""
        ## 5. A wrong derivation diagnosed

        Average pooling with 2x2 windows and stride 2 on a 4x4 input, derived as if the windows
        moved by one: the checker names the forgotten stride instead of listing nine entries.
        """),
        code(r"""
        forgot_stride = [[f"1/4 (a_{{{m}{n}}} + a_{{{m}{n + 1}}} + a_{{{m + 1}{n}}} + a_{{{m + 1}{n + 1}}})"
                          for n in (1, 2, 3)] for m in (1, 2, 3)]
        report = jc.check(forgot_stride, jc.AvgPool2D(2), (4, 4))
        assert "wrong_stride" in report.kinds
        print(report)
        """),
        md("""
        The same slip when only as many outputs are kept as the strided layer has (a 2x2
        answer, the first windows of a stride-1 pass) is named the same way:
        """),
        code(r"""
        kept = [row[:2] for row in forgot_stride[:2]]
        report = jc.check(kept, jc.AvgPool2D(2), (4, 4))
        assert "wrong_stride" in report.kinds
        print(report.mistakes[0].message)
        """),
        md("""
        ## 6. Through a whole network: `dJ/dK1`

        A small seed-style network, `conv 2x2 -> sigmoid -> average pool 2 -> flatten ->
        dense`, and the gradient of the loss with respect to the first layer's kernel, by hand
        in numbers. `wrt=(0, "kernel")` names the first layer's kernel (`--network net.json
        --wrt kernel --layer 1` on the command line); the upstream gradient is `dJ/dz` at the
        network's output.
        """),
        code(r"""
        rng = np.random.default_rng(3)
        net = jc.Chain([jc.Conv2D(rng.normal(size=(2, 2)), np.array([0.1])), jc.Sigmoid(),
                        jc.AvgPool2D(2), jc.Flatten(), jc.Dense(rng.normal(size=(1, 2)))])
        x = rng.normal(size=(3, 3))
        dJ_dz = np.array([0.5, -1.0])
        # the numeric backward pass gives the vec-order row; in the kernel's shape:
        dJ_dK1 = np.asarray(net.backward(x, dJ_dz).params[0]["kernel"]).reshape(2, 2, order="F")
        report = jc.check(dJ_dK1, net, x, wrt=(0, "kernel"), params="values",
                          grad_values=dJ_dz, tolerance=1e-9)
        assert report.verdict == "correct"
        print(report)
        """),
        md("""
        Filled into the kernel's shape row by row instead of column by column, the checker
        names the reshape:
        """),
        code(r"""
        report = jc.check(dJ_dK1.T, net, x, wrt=(0, "kernel"), params="values",
                          grad_values=dJ_dz, tolerance=1e-9)
        assert report.kinds == {"row_major_reshape"}
        print(report.mistakes[0].message)
        """),
    ]


# ---------------------------------------------------------------------------
# 6. the interactive explorer
# ---------------------------------------------------------------------------

def jacobian_explorer():
    return [
        md(f"""
        # 6. The Jacobian explorer: look instead of read

        `jc.explore(layer, x)` draws the input map, the output map and the Jacobian side by side,
        rows and columns labelled in `vec` order. Hover (or focus with Tab) an entry: its output
        and input pixels light up and the entry is shown by name and by value (`∂p_{{11}}/∂a_{{22}}
        = 1/4 = 0.25`). Hover an output pixel: its row and its receptive field; an input pixel:
        its column and every output it feeds. The button above the matrix toggles column-major
        and row-major `vec` order (the same matrix, rows and columns permuted); the menus
        change window, stride, padding and dilation. The same page is written by
        `jacobian-cnn explore OP ... -o FILE.html` and opens offline; what it shows, its limits
        and its colours: [docs/explorer.md](../docs/explorer.md).

        {CONVENTIONS}
        """),
        code("""
        import numpy as np
        import matplotlib.pyplot as plt

        import jacobian_cnn as jc
        from jacobian_cnn import plots
        """),
        md("""
        ## Overlapping average pooling (seed 000)

        The 3x3 map of notebook 01, 2x2 windows with stride 1. `a22` (vec index 4) feeds all four
        outputs: hover it and all four light up, which is why its gradient is a sum of four terms.
        Try stride 2 in the menu: the windows stop overlapping and every column has one entry.
        """),
        code("""
        A = np.arange(1., 10.).reshape(3, 3)
        pool = jc.AvgPool2D(2, stride=1)
        view = jc.explore(pool, A)
        view
        """),
        md("""
        What the page highlights is data computed from the package's own Jacobian: `view.data`
        holds, per panel, every stored entry `[i, j, value, text]` of `pool.jacobian(A)`.
        """),
        code("""
        panel = view.data["panels"][0]
        J = pool.jacobian(A).toarray()
        assert {(i, j): v for i, j, v, _ in panel["entries"]} == {(i, j): J[i, j] for i, j in zip(*J.nonzero())}
        feeds = sorted(i for i, j, *_ in panel["entries"] if j == 4)
        print("a22 feeds", [panel["output"]["labels"][i] for i in feeds])
        assert feeds == [0, 1, 2, 3]
        print(len(view.data["variants"]), "settings behind the menus;", view.data["left_out"], "refused by the layer")
        """),
        md("""
        ## Convolution with stride and padding (seed 004, appendix A)

        With padding 1 and stride 2 the pattern is no longer a shifted band: hover `z_{11}` and only
        one input remains in its receptive field (the other three taps read padding).
        """),
        code("""
        conv = jc.Conv2D(np.array([[1., -2.], [3., 4.]]), stride=2, padding=1)
        x = np.arange(1., 17.).reshape(4, 4)
        jc.explore(conv, x, controls=False)
        """),
        code("""
        Jc = conv.jacobian(x)
        fig, ax = plt.subplots(figsize=(6, 3.5))
        plots.spy(Jc, row_shape=(3, 3), col_shape=(4, 4), ax=ax, row_name="z", col_name="a",
                  title="the pattern the explorer draws: conv 2x2, stride 2, padding 1")
        plt.show()
        assert Jc[0].nnz == 1    # z11 reads a11 only: three of its taps are padding
        """),
        md("""
        ## Max pooling: the switches

        The green-outlined input pixels are the switches: each output copies one of them, and the
        gradient goes only there. The line under the maps lists them.
        """),
        code("""
        X = np.array([[1., 5, 2, 0], [3, 4, 8, 1], [0, 2, 9, 7], [6, 1, 3, 2]])
        maxpool = jc.MaxPool2D(2)
        view = jc.explore(maxpool, X, controls=False)
        assert view.data["panels"][0]["switches"] == list(jc.vec(maxpool.switches(X)))
        view
        """),
        md("""
        ## A chain: each step's Jacobian and the gradient row moving through it

        A chain ending in a loss gets one panel per step. Right of each matrix stands the row
        that arrives from the loss (`g_y`), under it the row that leaves (`g_x = g_y J`), which
        is the next panel's `g_y`. The button "gradient: next step back" walks from the loss to
        the input.
        """),
        code("""
        net = jc.Chain([jc.Conv2D(np.array([[1., -2.], [3., 4.]]), padding=1), jc.ReLU(), jc.MaxPool2D(2),
                        jc.Flatten(), jc.MSELoss(np.arange(4.))])
        x = np.arange(1., 17.).reshape(4, 4) - 8
        view = jc.explore(net, x)
        first = view.data["panels"][0]["gradient"]["in"]
        assert first == list(net.backward(x).input.ravel())    # the chain's own gradient, bit for bit
        view
        """),
        md("""
        **Exercise.** Before hovering, predict which outputs the input `a_{22}` feeds in a 4x4 map
        pooled by 3x3 windows with stride 1 and padding 1, then check with the page (or with
        `view.data`, as below).
        """),
        code("""
        view = jc.explore(jc.AvgPool2D(3, stride=1, padding=1), np.arange(1., 17.).reshape(4, 4), controls=False)
        panel = view.data["panels"][0]
        a22 = panel["input"]["labels"].index("a_{22}")
        print(sorted(panel["output"]["labels"][i] for i, j, *_ in panel["entries"] if j == a22))
        """),
    ]


# ---------------------------------------------------------------------------
# 8. a ResNet basic block imported from PyTorch
# ---------------------------------------------------------------------------

def resnet_block():
    return [
        md(f"""
        # 8. A ResNet basic block, imported from PyTorch

        A residual block adds two paths fed the same input, `y = body(x) + shortcut(x)`, so its
        Jacobian is a sum: `J = J_body + J_shortcut` ([derivations/residual.md](../derivations/residual.md)).
        Here a torchvision-style basic block (conv-BN-ReLU-conv-BN, a 1x1-conv + BN down-sampling
        shortcut, add, ReLU) is written in PyTorch, imported with `jc.from_torch`, taken apart
        Jacobian by Jacobian, and checked against autograd. Batch norm in training mode has a dense
        block per channel ([derivations/batch_norm.md](../derivations/batch_norm.md)).

        {CONVENTIONS}
        """),
        code("""
        import numpy as np
        import matplotlib.pyplot as plt
        import torch
        from torch import nn

        import jacobian_cnn as jc
        from jacobian_cnn import plots
        from jacobian_cnn.compare.layout import from_layout, jacobian_to_vec, to_layout

        torch.manual_seed(0)


        def conv3x3(c_in, c_out, stride=1):              # as torchvision writes it
            return nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False)


        class BasicBlock(nn.Module):
            def __init__(self, c_in, c_out, stride):
                super().__init__()
                self.conv1, self.bn1 = conv3x3(c_in, c_out, stride), nn.BatchNorm2d(c_out)
                self.relu = nn.ReLU(inplace=True)
                self.conv2, self.bn2 = conv3x3(c_out, c_out), nn.BatchNorm2d(c_out)
                self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                                nn.BatchNorm2d(c_out))

            def forward(self, x):
                identity = self.downsample(x)
                out = self.relu(self.bn1(self.conv1(x)))
                out = self.bn2(self.conv2(out))
                out += identity
                return self.relu(out)


        block = BasicBlock(2, 3, stride=2).double().train()
        """),
        md("""
        ## Import

        `torch.fx` traces the block; the fork at `x` joined by `+=` becomes a `Residual` whose body
        and shortcut are chains. The input shape is PyTorch's `(N, C, H, W)`; the network takes
        ours, `(H, W, C, N)`. `net.torch_names` says where each parameter came from.
        """),
        code("""
        net = jc.from_torch(block, (2, 2, 6, 6))
        print(net)
        residual = net[0]
        print(residual.paths[0])
        print(residual.paths[1])
        for (i, name), source in net.torch_names.items():
            print(f"layer {i} {name:<18} <- {source}")
        """),
        md("""
        ## The Jacobian is a sum

        The body and the shortcut are chains of their own: their Jacobians, added, are the block's.
        The final ReLU multiplies from the left: `J_net = J_relu (J_body + J_shortcut)`.
        """),
        code("""
        rng = np.random.default_rng(1)
        x_torch = rng.normal(size=(2, 2, 6, 6))
        x = from_layout(x_torch, "NCHW")                      # (H, W, C, N)
        body, shortcut = residual.paths
        J_body, J_short = body.jacobian(x), shortcut.jacobian(x)
        J_block = residual.jacobian(x)
        print("J_body", J_body.shape, J_body.nnz, "  J_shortcut", J_short.shape, J_short.nnz,
              "  J_block", J_block.nnz)
        assert abs(J_block - (J_body + J_short)).max() < 1e-12
        J_net = net.jacobian(x)
        h = residual.forward(x)
        assert abs(J_net - net[1].jacobian(h) @ J_block).max() < 1e-12
        """),
        code("""
        fig, axes = plt.subplots(1, 3, figsize=(13, 4))
        shapes = dict(col_shape=x.shape)
        plots.spy(J_short, row_shape=h.shape, ax=axes[0], title="J_shortcut: 1x1 conv, stride 2, BN", **shapes)
        plots.spy(J_body, row_shape=h.shape, ax=axes[1], title="J_body: conv-BN-ReLU-conv-BN", **shapes)
        bn = body[1]
        plots.spy(bn.jacobian(body[0].forward(x)), ax=axes[2], title="training batch norm: a block per channel",
                  row_shape=body[0].forward(x).shape, col_shape=body[0].forward(x).shape)
        plt.tight_layout()
        plt.show()
        """),
        md("""
        Training-mode batch norm couples every entry of a channel across the whole batch, so one
        output of the block depends on the other sample too: the body's Jacobian is dense within
        each output channel. In eval mode the running statistics are constants and batch norm is a
        diagonal: the block's Jacobian keeps the sparsity of its convolutions.
        """),
        code("""
        net_eval = jc.from_torch(block.eval(), (2, 2, 6, 6))
        print("nonzeros, train:", J_net.nnz, "  eval:", net_eval.jacobian(x).nnz)
        assert net_eval.jacobian(x).nnz < J_net.nnz
        _ = block.train()
        """),
        md("""
        ## Against autograd

        Forward, the input Jacobian and the gradient of every parameter, for a random cotangent `g`
        (`Chain.backward` pushes the rows into each path; its trace lists every product).
        """),
        code("""
        xt = torch.tensor(x_torch, requires_grad=True)
        y = block(xt)
        assert np.allclose(to_layout(net.forward(x), "NCHW"), y.detach().numpy(), atol=1e-12)
        J_torch = torch.autograd.functional.jacobian(block, xt.detach()).numpy()
        J_torch = jacobian_to_vec(J_torch, from_layout(y.detach().numpy(), "NCHW").shape, "NCHW", x.shape, "NCHW")
        print("max |J - J_torch| =", np.abs(J_net.toarray() - J_torch).max())
        assert np.abs(J_net.toarray() - J_torch).max() < 1e-10

        g = rng.normal(size=tuple(y.shape))
        (y * torch.tensor(g)).sum().backward()
        grads = net.backward(x, jc.vec(from_layout(g, "NCHW")))
        params = dict(block.named_parameters())
        for (i, name), source in net.torch_names.items():
            ours = jc.as_parameter_shape(grads.params[i][name][0], net[i].params[name].shape)
            ours = ours.transpose(3, 2, 0, 1) if ours.ndim == 4 else ours     # kernels to OIHW
            error = np.abs(ours - params[source].grad.numpy()).max()
            print(f"{source:<20} max |ours - autograd| = {error:.1e}")
            assert error < 1e-10
        print(grads.trace)
        """),
        md("""
        **Exercise.** With an identity shortcut and a body of one dense layer `W`, the block is
        `y = x + W.T x`. Write its Jacobian by hand (a 2x2 matrix), then compare.
        """),
        code("""
        W = np.array([[1., 2.], [3., 4.]])
        mine = np.array([[2., 3.], [2., 5.]])          # I + W.T: edit and re-run
        assert np.array_equal(jc.Residual([jc.Dense(W)]).jacobian(np.zeros(2)).toarray(), mine)
        """),
    ]


# ---------------------------------------------------------------------------
# 9. second order: Hessian, GGN and Fisher of the seed CNN
# ---------------------------------------------------------------------------

def second_order():
    return [
        md(f"""
        # 9. Second order: the Hessian of the seed CNN, its blocks, and the GGN

        The Hessian of a loss is the derivative of its transposed gradient row, over the same
        column-major `vec` as the Jacobians. Composed backwards through a chain it obeys the
        second-order chain rule (Magnus & Neudecker; Dangel, Harmeling & Hennig, AISTATS 2020)

        $$H_x = J^\\top H_y J + \\sum_k g_k \\, \\partial^2 y_k / \\partial x \\, \\partial x^\\top ,$$

        one term per layer, each layer's `hessian_term` an explicit sparse matrix. The
        generalized Gauss-Newton matrix (GGN) keeps only the loss's term. The derivation, with
        every layer's term and the worked examples repeated here:
        [derivations/hessian.md](../derivations/hessian.md).

        {CONVENTIONS}
        """),
        code("""
        import numpy as np
        import matplotlib.pyplot as plt

        import jacobian_cnn as jc
        from jacobian_cnn.examples import seed_cnn, with_loss
        """),
        md("""
        ## Average pooling and MSE, by hand

        `L = mean((pool(a) - t)^2)` over the four outputs of a 2x2 average pool with stride 1 on
        a 3x3 input. Pooling is linear, so the only term is the loss's, `(2/4) I`, and
        `H = J^T (2/4) I J`. Built by hand from the windows:
        """),
        code("""
        J = np.zeros((4, 9))
        for k, (p, q) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)]):   # outputs in vec order
            for r in range(2):
                for s in range(2):
                    J[k, (p + r) + 3 * (q + s)] = 1 / 4                     # vec index of a[p+r, q+s]
        H_by_hand = J.T @ (2 / 4 * np.eye(4)) @ J

        net = jc.Chain([jc.AvgPool2D(2, stride=1), jc.Flatten(), jc.MSELoss(np.zeros(4))])
        H = net.hessian(np.arange(1., 10.).reshape(3, 3))
        assert np.allclose(H.matrix.toarray(), H_by_hand, rtol=1e-15, atol=0)
        print((32 * H_by_hand).astype(int))
        print(H.trace)
        """),
        md("""
        ## The seed CNN: every parameter block at once

        `conv 3x3 -> sigmoid -> avg pool -> conv 3x3 -> relu -> max pool -> flatten -> dense`
        and softmax cross-entropy. `net.hessian(x, "params")` returns the Hessian over all
        parameters (kernels, biases, the dense weight), cross blocks included; the trace lists
        each layer's term and every product that pushed a term back.
        """),
        code("""
        net = with_loss(seed_cnn(0), jc.SoftmaxCrossEntropy(1))
        x = np.random.default_rng(1).normal(size=(8, 8, 1))
        H = net.hessian(x, "params")
        G = net.ggn(x, "params")
        print([(f"{type(net.layers[i]).__name__}[{i}].{n}", H.sizes[(i, n)]) for i, n in H.variables])
        print("\\n".join(str(H.trace).splitlines()[:8]), "\\n  ...")
        """),
        md("""
        The block structure: the Hessian (left), the GGN (middle) and their difference (right),
        the part that the layers' own second-order terms add. Lines separate the parameters.
        """),
        code("""
        offsets = np.cumsum([0] + [H.sizes[k] for k in H.variables])
        fig, axes = plt.subplots(1, 3, figsize=(12, 4))
        for ax, M, title in zip(axes, [H.matrix, G.matrix, H.matrix - G.matrix],
                                ["Hessian", "GGN", "Hessian - GGN"]):
            ax.spy(M.toarray(), markersize=1, precision=1e-14)
            for o in offsets[1:-1]:
                ax.axhline(o - 0.5, color="tab:red", lw=0.6)
                ax.axvline(o - 0.5, color="tab:red", lw=0.6)
            ax.set_title(title)
        plt.show()
        """),
        md("""
        Where does `H - G` live? The sigmoid's term reaches the first convolution's kernel and
        bias only (its input depends on nothing else); the bilinear term of the second
        convolution pairs its kernel with what feeds its input (the first layer's parameters);
        the dense layer's bilinear term pairs its weight with everything below it. ReLU, max
        pooling, average pooling and flatten add nothing: they are piecewise linear. So the
        second convolution's and the dense layer's own blocks of `H - G` are zero:
        """),
        code("""
        D = (H.matrix - G.matrix).toarray()
        def own_block(key):
            i = H.variables.index(key)
            return D[offsets[i]:offsets[i + 1], offsets[i]:offsets[i + 1]]
        for key in H.variables:
            print(f"{str(key):<16} largest |H - G| in its own block: {np.abs(own_block(key)).max():.2e}")
        assert all(np.abs(own_block(key)).max() == 0 for key in H.variables if key[0] > 0)
        """),
        md("""
        The GGN is positive semidefinite (it is `J^T (diag(s) - s s^T) J` with a covariance in
        the middle); the Hessian need not be:
        """),
        code("""
        print("smallest eigenvalue of H:", np.linalg.eigvalsh(H.matrix.toarray()).min())
        print("smallest eigenvalue of G:", np.linalg.eigvalsh(G.matrix.toarray()).min())
        assert np.linalg.eigvalsh(G.matrix.toarray()).min() > -1e-12
        """),
        md("""
        ## When the GGN is the Hessian

        The layer terms are `sum_k g_k d^2 y_k`, weighted by the gradient row arriving at each
        layer. They vanish (1) when every layer is linear in the variables (pooling, flatten,
        a single dense layer in its weight), or (2) where the loss's gradient is zero: a
        perfect fit. With MSE against the network's own output, `g = 0` at every layer and
        `H = G` exactly, sigmoid and bilinear layers included:
        """),
        code("""
        body = seed_cnn(0)
        fit = jc.Chain([*body.layers, jc.MSELoss(body.forward(x))])
        H_fit, G_fit = fit.hessian(x, "params").matrix, fit.ggn(x, "params").matrix
        assert not fit.backward(x).input.any()
        print("max |H - G| at a perfect fit:", abs(H_fit - G_fit).max())
        assert abs(H_fit - G_fit).max() < 1e-15
        """),
        md("""
        For softmax cross-entropy the GGN also equals the true Fisher, averaged over the batch:
        `E_c[(s - e_c)(s - e_c)^T] = diag(s) - s s^T` is the loss's Hessian in the logits. The
        empirical Fisher uses the labels instead and differs:
        """),
        code("""
        batch = np.random.default_rng(2).normal(size=(8, 8, 1, 3))
        net3 = with_loss(seed_cnn(0), jc.SoftmaxCrossEntropy([1, 0, 3]))
        G3 = net3.ggn(batch).matrix.toarray()
        F_true = net3.fisher(batch, kind="true").matrix.toarray()
        F_emp = net3.fisher(batch, kind="empirical").matrix.toarray()
        assert np.allclose(G3, F_true, rtol=0, atol=1e-12 * np.abs(G3).max())
        print("max |GGN - empirical Fisher| / max |GGN|:", np.abs(G3 - F_emp).max() / np.abs(G3).max())
        """),
        md("""
        **Exercise.** Write the second-order term of `tanh` on a 2-vector, `sum_k (dJ/dy_k)
        d^2 y_k / da da^T`, as a LaTeX matrix, and let the checker compare it entry by entry.
        (The version below forgets the factor 2 of `tanh'' = -2 tanh (1 - tanh^2)`.)
        """),
        code('''
        written = r"""\\begin{bmatrix}
        -\\frac{\\partial J}{\\partial y_{1}} \\tanh(a_{1}) (1 - \\tanh(a_{1})^2) & 0 \\\\
        0 & -\\frac{\\partial J}{\\partial y_{2}} \\tanh(a_{2}) (1 - \\tanh(a_{2})^2)
        \\end{bmatrix}"""
        report = jc.check(written, jc.Tanh(), (2,), quantity="hessian")
        print(report)
        assert report.verdict == "wrong" and len(report.diffs) == 2
        '''),
    ]


NOTEBOOKS = {
    "01_overlapping_average_pooling.ipynb": overlapping_average_pooling,
    "02_convolution_as_sparse_matrix.ipynb": convolution_as_sparse_matrix,
    "03_max_pooling_switches.ipynb": max_pooling_switches,
    "04_three_layer_cnn_step_by_step.ipynb": three_layer_cnn,
    "05_training_from_explicit_jacobians.ipynb": training_from_jacobians,
    "06_jacobian_explorer.ipynb": jacobian_explorer,
    "07_checking_published_derivations.ipynb": checking_published_derivations,
    "08_resnet_block_from_pytorch.ipynb": resnet_block,
    "09_second_order_hessians.ipynb": second_order,
}


def make_notebook(name):
    """The unexecuted notebook ``name`` (an ``nbformat`` node) with deterministic cell ids."""
    import nbformat

    cells = []
    for i, (kind, source) in enumerate(NOTEBOOKS[name]()):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cells.append(make(source, id=f"cell-{i:02d}"))
    return nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })


def execute(nb, timeout=600):
    """Run ``nb`` top to bottom in place with the ``python3`` kernel, in this folder."""
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(HERE)}}).execute()
    return nb


def main(argv=None):
    import nbformat

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="build only notebooks whose name starts so")
    parser.add_argument("--no-execute", action="store_true", help="write the sources without outputs")
    args = parser.parse_args(argv)
    for name in NOTEBOOKS:
        if args.prefixes and not any(name.startswith(p) for p in args.prefixes):
            continue
        nb = make_notebook(name)
        if not args.no_execute:
            execute(nb)
        nbformat.write(nb, HERE / name)
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
