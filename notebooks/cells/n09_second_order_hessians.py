"""The cells of notebook 09_second_order_hessians.ipynb: second order: Hessian, GGN and Fisher of the seed CNN."""

from ._cell import CONVENTIONS, code, md


def cells():
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
