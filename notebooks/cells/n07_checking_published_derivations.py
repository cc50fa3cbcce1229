"""The cells of notebook 07_checking_published_derivations.ipynb: checking published derivations: declared and detected conventions."""

from ._cell import code, md


def cells():
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
