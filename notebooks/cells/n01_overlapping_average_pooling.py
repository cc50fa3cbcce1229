"""The cells of notebook 01_overlapping_average_pooling.ipynb: overlapping average pooling (seed 000)."""

from ._cell import CONVENTIONS, code, md


def cells():
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
