"""The cells of notebook 04_three_layer_cnn_step_by_step.ipynb: the seed's 3-layer CNN, step by step (seed 004 sections 3.1.1 - 3.1.6)."""

from ._cell import CONVENTIONS, code, md


def cells():
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
