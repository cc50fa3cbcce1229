"""The cells of notebook 03_max_pooling_switches.ipynb: max pooling with switches (seeds 003, 004 appendix B)."""

from ._cell import CONVENTIONS, code, md


def cells():
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
