"""The cells of notebook 06_jacobian_explorer.ipynb: the interactive explorer."""

from ._cell import CONVENTIONS, code, md


def cells():
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
