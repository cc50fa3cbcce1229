"""The cells of notebook 05_training_from_explicit_jacobians.ipynb: training from explicit Jacobians."""

from ._cell import CONVENTIONS, code, md


def cells():
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
