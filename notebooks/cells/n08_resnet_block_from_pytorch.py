"""The cells of notebook 08_resnet_block_from_pytorch.ipynb: a ResNet basic block imported from PyTorch."""

from ._cell import CONVENTIONS, code, md


def cells():
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
