"""The hand checker's mistake catalogue, as data: one :class:`HandCase` per written matrix.

Each row names the layer and input, the written matrix (a seed passage from ``seed_latex``, or a
literal worked out by hand in the comment beside it), the verdict expected (the mistake kinds;
none and no differing entry: correct) and what the report must say. Nothing here is computed by
the package: ``test_handcheck.test_mistake_catalogue`` checks every row.

Conventions (:mod:`jacobian_cnn.vec`): a Jacobian is numerator layout with columns in ``vec``
(column-major) order a11, a21, a31, a12, ...; a gradient "in a's shape" has ``∂J/∂a_ij`` at row i,
column j. Positions in ``diffs`` are 1-based (row, column) of the written matrix.
"""

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from seed_latex import SEED000_EQ3, SEED000_FINAL, SEED000_ROW, SEED000_ZHANG, SEED004_REP2

import jacobian_cnn as jc
from jacobian_cnn.symbolic import Names


@dataclass(frozen=True)
class HandCase:
    """One written matrix and the diagnosis it must get.

    Attributes
    ----------
    id : str
    layer, x
        The problem: ``check_derivation(written, layer, x, **options)``.
    written : str or list
        LaTeX text, or nested lists of numbers / plain-text entries.
    source : str
        Where ``written`` comes from (a seed passage, or "by hand").
    kinds : frozenset of str
        The expected ``report.kinds``; empty (and no ``diffs``): the verdict is "correct".
    quantity : str or None
        What the matrix must be read as (a key of ``QUANTITIES``), if the case says.
    diffs : tuple of (str, (int, int))
        Label and position of every entry that still differs, in report order.
    fragments : tuple of str
        Texts the printed report must contain.
    values : tuple of (str, str, str)
        ``(label, written, correct)`` of differing entries, as plain text compared as expressions.
    notes : tuple of (str, str)
        ``(label, text)``: the note of that differing entry contains the text.
    missing_terms : tuple of str or None
        Labels of the differing entries that only lack terms (overlapping windows not summed).
    n_matching : int or None
        Entries matching under the diagnosis.
    options : dict
        More keyword arguments of ``check_derivation`` (``which=``, ``names=``, ``wrt=``, ...).
    n_diffs : int or None
        With a mistake summarised in one line (a factor, rows in another order), only the
        number of differing entries is given instead of ``diffs``.
    detected : tuple of str
        Right, but only under other conventions: the convention fields the report must name
        (its verdict is then ``"right_under_other_conventions"``, with no differing entry).
    """

    id: str
    layer: object
    x: tuple
    written: object
    source: str
    kinds: frozenset = frozenset()
    quantity: str = None
    diffs: tuple = ()
    fragments: tuple = ()
    values: tuple = ()
    notes: tuple = ()
    missing_terms: tuple = None
    n_matching: int = None
    options: dict = field(default_factory=dict)
    detected: tuple = ()
    n_diffs: int = None

    @property
    def correct(self):
        return not self.kinds and not self.diffs


POOL = jc.AvgPool2D(2, stride=1)          # seed 000: 2x2 windows, stride 1, on a 3x3 input
SEED004_CONV = jc.Conv2D(np.ones((2, 2)), stride=(1, 2), padding=1)   # seed 004 appendix A
CONV = jc.Conv2D(np.ones((2, 2)))         # 2x2 kernel k_rs, stride 1

Q = Fraction(1, 4)
# Seed 000 eq. 3 by hand: p_mn averages its 2x2 window. Rows p11, p21, p12, p22 (vec order),
# columns a11, a21, a31, a12, a22, a32, a13, a23, a33.
EQ3 = [[Q, Q, 0, Q, Q, 0, 0, 0, 0],      # p11: a11 a21 a12 a22
       [0, Q, Q, 0, Q, Q, 0, 0, 0],      # p21: a21 a31 a22 a32
       [0, 0, 0, Q, Q, 0, Q, Q, 0],      # p12: a12 a22 a13 a23
       [0, 0, 0, 0, Q, Q, 0, Q, Q]]      # p22: a22 a32 a23 a33

# EQ3 with a 1/4 at row p12, column a21 (a21 is not in p12's window).
EQ3_ONE_WRONG = [[Q, Q, 0, Q, Q, 0, 0, 0, 0],
                 [0, Q, Q, 0, Q, Q, 0, 0, 0],
                 [0, Q, 0, Q, Q, 0, Q, Q, 0],
                 [0, 0, 0, 0, Q, Q, 0, Q, Q]]

# EQ3 transposed (9x4): one row per variable, one column per output (denominator layout).
EQ3_TRANSPOSED = [[0.25, 0, 0, 0], [0.25, 0.25, 0, 0], [0, 0.25, 0, 0],
                  [0.25, 0, 0.25, 0], [0.25, 0.25, 0.25, 0.25], [0, 0.25, 0, 0.25],
                  [0, 0, 0.25, 0], [0, 0, 0.25, 0.25], [0, 0, 0, 0.25]]

# Columns listed row-major: a11, a12, a13, a21, a22, a23, a31, a32, a33.
EQ3_ROW_MAJOR_COLUMNS = [[Q, Q, 0, Q, Q, 0, 0, 0, 0],      # p11: a11 a12 a21 a22
                         [0, 0, 0, Q, Q, 0, Q, Q, 0],      # p21: a21 a22 a31 a32
                         [0, Q, Q, 0, Q, Q, 0, 0, 0],      # p12: a12 a13 a22 a23
                         [0, 0, 0, 0, Q, Q, 0, Q, Q]]      # p22: a22 a23 a32 a33

# Every window one column to the right: p11 covers a12 a22 a13 a23, p21 a22 a32 a23 a33,
# p12 and p22 lose their third column (a13 a23 only, a23 a33 only).
EQ3_SHIFTED_RIGHT = [[0, 0, 0, Q, Q, 0, Q, Q, 0],
                     [0, 0, 0, 0, Q, Q, 0, Q, Q],
                     [0, 0, 0, 0, 0, 0, Q, Q, 0],
                     [0, 0, 0, 0, 0, 0, 0, Q, Q]]

# Seed 004 rep. 2 with beta rotated by 180 degrees (beta11 <-> beta22, beta12 <-> beta21).
SEED004_REP2_FLIPPED = r"""\begin{bmatrix}
a_{11}\beta_{11} & a_{12}\beta_{12} + a_{13}\beta_{11} & a_{14}\beta_{12} \\
a_{11}\beta_{21} + a_{21}\beta_{11} & a_{12}\beta_{22} + a_{13}\beta_{21} + a_{22}\beta_{12} + a_{23}\beta_{11} & a_{14}\beta_{22} + a_{24}\beta_{12} \\
a_{21}\beta_{21} + a_{31}\beta_{11} & a_{22}\beta_{22} + a_{23}\beta_{21} + a_{32}\beta_{12} + a_{33}\beta_{11} & a_{24}\beta_{22} + a_{34}\beta_{12} \\
a_{31}\beta_{21} & a_{32}\beta_{22} + a_{33}\beta_{21} & a_{34}\beta_{22}
\end{bmatrix}"""  # noqa: E501

# Seed 004 rep. 2 transposed by hand (3x4; the output z is 4x3).
SEED004_REP2_TRANSPOSED = r"""\begin{bmatrix}
a_{11}\beta_{22} & a_{11}\beta_{12} + a_{21}\beta_{22} & a_{21}\beta_{12} + a_{31}\beta_{22} & a_{31}\beta_{12} \\
a_{12}\beta_{21} + a_{13}\beta_{22} & a_{12}\beta_{11} + a_{13}\beta_{12} + a_{22}\beta_{21} + a_{23}\beta_{22} & a_{22}\beta_{11} + a_{23}\beta_{12} + a_{32}\beta_{21} + a_{33}\beta_{22} & a_{32}\beta_{11} + a_{33}\beta_{12} \\
a_{14}\beta_{21} & a_{14}\beta_{11} + a_{24}\beta_{21} & a_{24}\beta_{11} + a_{34}\beta_{21} & a_{34}\beta_{11}
\end{bmatrix}"""  # noqa: E501

# dJ/da_ij of CONV on a 3x3 input by hand, ∂J/∂a_ij = Σ_pq ∂J/∂z_pq k_(i-p+1)(j-q+1), written
# with the kernel rotated (k_rs -> k_(3-r)(3-s)): the flipped-kernel mistake of a
# cross-correlation, and the right answer for a true convolution.
CONV_GRADIENT_ROTATED = [
    ["∂J/∂z_{11} k_{22}", "∂J/∂z_{11} k_{21} + ∂J/∂z_{12} k_{22}", "∂J/∂z_{12} k_{21}"],
    ["∂J/∂z_{11} k_{12} + ∂J/∂z_{21} k_{22}",
     "∂J/∂z_{11} k_{11} + ∂J/∂z_{12} k_{12} + ∂J/∂z_{21} k_{21} + ∂J/∂z_{22} k_{22}",
     "∂J/∂z_{12} k_{11} + ∂J/∂z_{22} k_{21}"],
    ["∂J/∂z_{21} k_{12}", "∂J/∂z_{21} k_{11} + ∂J/∂z_{22} k_{12}", "∂J/∂z_{22} k_{11}"],
]


def _seed003_kernel_gradient(i, j, replace=None):
    """Seed 003: dF/dk_ij = Σ_{i'j'} dF/dh_{i'j'} a_(i+i'-1)(j+j'-1) (4x4 input, 3x3 kernel)."""
    text = " + ".join(f"∂F/∂h_{{{ip}{jp}}} a_{{{i + ip - 1}{j + jp - 1}}}" for ip in (1, 2) for jp in (1, 2))
    return text.replace(*replace) if replace else text


SEED003_KERNEL_GRADIENT = [[_seed003_kernel_gradient(i, j) for j in (1, 2, 3)] for i in (1, 2, 3)]
# the same with a_{23} for a_{22} in dF/dk_11
SEED003_ONE_TERM_WRONG = [[_seed003_kernel_gradient(i, j, ("a_{22}", "a_{23}") if (i, j) == (1, 1) else None)
                           for j in (1, 2, 3)] for i in (1, 2, 3)]
SEED003_OPTIONS = {"wrt": "kernel", "names": Names(output="h", loss="F")}

# EQ3 with 1/2 for every 1/4 (one factor 2 throughout), and EQ3 with rows p11 and p21 swapped.
EQ3_HALF = [[2 * v for v in row] for row in EQ3]
EQ3_ROWS_SWAPPED = [EQ3[1], EQ3[0], EQ3[2], EQ3[3]]
# EQ3 transposed with a 1/4 at row a11, column p21 (a11 is not in p21's window).
EQ3_TRANSPOSED_ONE_WRONG = [list(row) for row in EQ3_TRANSPOSED]
EQ3_TRANSPOSED_ONE_WRONG[0][1] = 0.25

# 2x2 average windows on a 4x4 input moved by one (the stride 2 forgotten): p_mn averages
# a_mn, a_m(n+1), a_(m+1)n, a_(m+1)(n+1) for m, n = 1..3.
AVG_STRIDE_FORGOTTEN = [[f"1/4 (a_{{{m}{n}}} + a_{{{m}{n + 1}}} + a_{{{m + 1}{n}}} + a_{{{m + 1}{n + 1}}})"
                         for n in (1, 2, 3)] for m in (1, 2, 3)]

# dJ/da of CONV on a 3x3 input, by hand: ∂J/∂a_ij = Σ_pq ∂J/∂z_pq k_(i-p+1)(j-q+1) over the
# outputs p, q = 1..2 whose window holds a_ij (1 <= i-p+1 <= 2, 1 <= j-q+1 <= 2).
CONV_INPUT_GRADIENT = [[" + ".join(f"∂J/∂z_{{{p}{q}}} k_{{{i - p + 1}{j - q + 1}}}"
                                   for p in (1, 2) for q in (1, 2)
                                   if 1 <= i - p + 1 <= 2 and 1 <= j - q + 1 <= 2)
                        for j in (1, 2, 3)] for i in (1, 2, 3)]

# The convolution-arithmetic guide's matrix C (0-based w_{i,j}, rows and columns row-major),
# with w_{0,1} written for w_{0,0} in row 1, column 1.
_C_ROWS = [(0, 1, 2, 4, 5, 6, 8, 9, 10), (1, 2, 3, 5, 6, 7, 9, 10, 11), (4, 5, 6, 8, 9, 10, 12, 13, 14),
           (5, 6, 7, 9, 10, 11, 13, 14, 15)]
DV_C_ONE_WRONG = [["0"] * 16 for _ in range(4)]
for _r, _cols in enumerate(_C_ROWS):
    for _t, _c in enumerate(_cols):
        DV_C_ONE_WRONG[_r][_c] = f"w_{{{_t // 3},{_t % 3}}}"
DV_C_ONE_WRONG[0][0] = "w_{0,1}"

# The commutation matrix K(2,3): vec(A) = a11 a21 a12 a22 a13 a23 to vec(A^T) = a11 a12 a13 a21
# a22 a23 (the Jacobian of a row-major flatten of a 2x3 input).
K23 = [[1, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0],
       [0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 1]]

CS231N_X = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=float)
COUNTING_4X4 = np.arange(1.0, 17.0).reshape(4, 4)  # 1..16 row by row
TIE = np.array([[1.0, 5.0], [5.0, 2.0]])  # 5 at (2,1) first in column-major order, (1,2) in row-major


# The stride 2 of 2x2 windows on a 4x4 input forgotten, but only the 2x2 outputs of the strided
# layer kept: the windows start at (1,1), (1,2), (2,1), (2,2) instead of (1,1), (1,3), (3,1), (3,3).
AVG_STRIDE_CROPPED = [[f"1/4 (a_{{{m}{n}}} + a_{{{m}{n + 1}}} + a_{{{m + 1}{n}}} + a_{{{m + 1}{n + 1}}})"
                       for n in (1, 2)] for m in (1, 2)]
# its input gradient: ∂J/∂a_ij = 1/4 Σ ∂J/∂p_mn over the kept windows (m, n in 1..2) holding a_ij
AVG_STRIDE_CROPPED_GRADIENT = [
    ["1/4 (" + " + ".join(f"∂J/∂p_{{{m}{n}}}" for m in (1, 2) for n in (1, 2)
                          if m <= i <= m + 1 and n <= j <= n + 1) + ")" if i <= 3 and j <= 3 else "0"
     for j in (1, 2, 3, 4)] for i in (1, 2, 3, 4)]

# Through a whole network: z = w_11 * mean of the 2x2 conv output (k_rs on a 3x3 input), so
# dJ/dk_rs = 1/4 w_11 ∂J/∂z_1 (a_(r)(s) + a_(r)(s+1) + a_(r+1)(s) + a_(r+1)(s+1)).
NETWORK = jc.Chain([jc.Conv2D(np.ones((2, 2))), jc.AvgPool2D(2), jc.Flatten(), jc.Dense(np.ones((1, 1)))])
NETWORK_DJ_DK1 = [[f"1/4 w_{{11}} ∂J/∂z_{{1}} (a_{{{r}{s}}} + a_{{{r}{s + 1}}} + a_{{{r + 1}{s}}} + "
                   f"a_{{{r + 1}{s + 1}}})" for s in (1, 2)] for r in (1, 2)]
NETWORK_DJ_DK1_WRONG = [row[:] for row in NETWORK_DJ_DK1]
NETWORK_DJ_DK1_WRONG[1][1] = NETWORK_DJ_DK1[1][1].replace("1/4 ", "")

# Two channels, one bmatrix each: channel 1 [[1, 5], [3, 2]] peaks at a_{121}, channel 2
# [[7, 0], [0, 1]] at a_{112}; a 2x2 max pool with upstream gradient 1 (channel 1), 2 (channel 2).
TWO_CHANNELS = np.dstack([[[1, 5], [3, 2]], [[7, 0], [0, 1]]]).astype(float)
TWO_CHANNEL_GRADIENT = (r"\begin{bmatrix} 0 & 1 \\ 0 & 0 \end{bmatrix} "
                        r"\begin{bmatrix} 2 & 0 \\ 0 & 0 \end{bmatrix}")
TWO_CHANNEL_GRADIENT_SWAPPED = (r"\begin{bmatrix} 0 & 2 \\ 0 & 0 \end{bmatrix} "
                                r"\begin{bmatrix} 1 & 0 \\ 0 & 0 \end{bmatrix}")

CASES = [
    # --- right answers
    HandCase("seed000 eq3 values", POOL, (3, 3), SEED000_EQ3, "seed 000 eq. 3 (seed_latex.SEED000_EQ3)",
             quantity="jacobian", n_matching=36,
             fragments=("Correct: all 36 entries match.", "matrix 4 of 4")),
    HandCase("seed000 eq3 labels", POOL, (3, 3), SEED000_EQ3, "seed 000 eq. 3, its labels",
             quantity="jacobian_labels", options={"which": 2}),
    HandCase("seed004 rep2 forward", SEED004_CONV, (3, 4), SEED004_REP2, "seed 004 appendix A rep. 2",
             quantity="forward", options={"names": Names(kernel="beta")}),
    HandCase("seed003 kernel gradient", jc.Conv2D(np.ones((3, 3))), (4, 4), SEED003_KERNEL_GRADIENT,
             "seed 003's formula for dF/dk", options=SEED003_OPTIONS),
    HandCase("rotated kernel is right for a true convolution", CONV, (3, 3), CONV_GRADIENT_ROTATED,
             "by hand", options={"flip_kernel": True}),
    # --- mistakes
    # Seed 000's final answer: the vec-order row filled into a's shape row by row (the
    # transpose of unvec), and stray 1/4s in dJ/da21 and dJ/da12 (only 7 of 9 entries match).
    HandCase("seed000 final: reshape error and stray quarters", POOL, (3, 3), SEED000_FINAL,
             "seed 000's final answer", kinds=frozenset({"row_major_reshape", "stray_factor"}),
             quantity="gradient", diffs=(("∂J/∂a_{21}", (1, 2)), ("∂J/∂a_{12}", (2, 1))),
             values=(("∂J/∂a_{21}", "1/4 dJ/dp_11 + 1/16 dJ/dp_21", "1/4 (dJ/dp_11 + dJ/dp_21)"),
                     ("∂J/∂a_{12}", "1/4 dJ/dp_11 + 1/16 dJ/dp_12", "1/4 (dJ/dp_11 + dJ/dp_12)")),
             notes=(("∂J/∂a_{21}", "stray factor 1/4"),),
             fragments=("reshaped row-major",
                        "your entry (1, 2) is ∂J/∂a_{21}, where ∂J/∂a_{12} belongs",
                        "stray factor 1/4 on 2 terms"),
             n_matching=7),
    # The same row before the reshape: only the stray factors, at vec positions 2 (a21), 4 (a12).
    HandCase("seed000 row: stray quarters", POOL, (3, 3), SEED000_ROW, "seed 000, dJ/dvec(A)",
             kinds=frozenset({"stray_factor"}), quantity="gradient_row",
             diffs=(("∂J/∂a_{21}", (1, 2)), ("∂J/∂a_{12}", (1, 4)))),
    # Zhang eq. 32: a12, a21, a22, a23, a32 keep one window's term; a33 has dJ/dp12 for dJ/dp22.
    HandCase("seed000 zhang: overlap not summed", POOL, (3, 3), SEED000_ZHANG,
             "seed 000 quoting Zhang eq. 32",
             kinds=frozenset({"overlap_not_summed", "wrong_entries"}), quantity="gradient",
             diffs=(("∂J/∂a_{12}", (1, 2)), ("∂J/∂a_{21}", (2, 1)), ("∂J/∂a_{22}", (2, 2)),
                    ("∂J/∂a_{23}", (2, 3)), ("∂J/∂a_{32}", (3, 2)), ("∂J/∂a_{33}", (3, 3))),
             missing_terms=("∂J/∂a_{12}", "∂J/∂a_{21}", "∂J/∂a_{22}", "∂J/∂a_{23}", "∂J/∂a_{32}"),
             values=(("∂J/∂a_{33}", "1/4 dJ/dp_12", "1/4 dJ/dp_22"),),
             fragments=("overlapping windows not summed in 5 entries",)),
    HandCase("seed004 rep2 with a flipped kernel", SEED004_CONV, (3, 4), SEED004_REP2_FLIPPED,
             "seed 004 rep. 2, beta rotated by hand", kinds=frozenset({"kernel_flip"}),
             quantity="forward", detected=("convolution",),
             fragments=("Right under true convolution", "kernel flipped"),
             options={"names": Names(kernel="beta")}),
    HandCase("seed004 rep2 transposed", SEED004_CONV, (3, 4), SEED004_REP2_TRANSPOSED,
             "seed 004 rep. 2, transposed by hand", kinds=frozenset({"transposed"}), quantity="forward",
             fragments=("transposed: you wrote 3x4, the shape is 4x3",),
             options={"names": Names(kernel="beta")}),
    HandCase("one wrong entry", POOL, (3, 3), EQ3_ONE_WRONG, "eq. 3 by hand, one entry changed",
             kinds=frozenset({"wrong_entries"}), quantity="jacobian",
             diffs=(("∂p_{12}/∂a_{21}", (3, 2)),),
             fragments=("∂p_{12}/∂a_{21}: you wrote 1/4, correct is 0  [row 3, column 2]",)),
    HandCase("denominator layout", POOL, (3, 3), EQ3_TRANSPOSED, "eq. 3 by hand, transposed",
             kinds=frozenset({"denominator_layout"}), detected=("layout",),
             fragments=("Right under denominator layout, not under the declared numerator layout: "
                        "declare it with --layout denominator",)),
    HandCase("columns in row-major order", POOL, (3, 3), EQ3_ROW_MAJOR_COLUMNS, "eq. 3 by hand",
             kinds=frozenset({"row_major_order"}),
             fragments=("listed in row-major order, but vec lists them column by column",)),
    HandCase("windows shifted one column", POOL, (3, 3), EQ3_SHIFTED_RIGHT, "by hand",
             kinds=frozenset({"window_shift"}), fragments=("one column right",)),
    HandCase("kernel flip in the input gradient", CONV, (3, 3), CONV_GRADIENT_ROTATED, "by hand",
             kinds=frozenset({"kernel_flip"}), quantity="gradient", detected=("convolution",),
             fragments=("Right under true convolution", "--convolution true",
                        "kernel flipped (rotated by 180 degrees) where it should not be",
                        "the input gradient is a full convolution")),
    HandCase("seed003 kernel gradient, one term wrong", jc.Conv2D(np.ones((3, 3))), (4, 4),
             SEED003_ONE_TERM_WRONG, "seed 003's formula, a_{23} for a_{22} in dF/dk_11",
             kinds=frozenset({"wrong_entries"}), diffs=(("∂F/∂k_{11}", (1, 1)),),
             notes=(("∂F/∂k_{11}", "missing ∂F/∂h_{22} a_{22}"),), options=SEED003_OPTIONS),
    # --- summarised across entries
    HandCase("one factor 2 throughout", POOL, (3, 3), EQ3_HALF, "eq. 3 by hand, 1/2 for 1/4",
             kinds=frozenset({"uniform_factor"}), quantity="jacobian", n_matching=20, n_diffs=16,
             fragments=("every nonzero entry is 2 times the correct one",
                        "... and 14 more, each explained by the one mistake above")),
    HandCase("two rows swapped", POOL, (3, 3), EQ3_ROWS_SWAPPED, "eq. 3 by hand, rows 1 and 2 swapped",
             kinds=frozenset({"rows_permuted"}), quantity="jacobian", n_matching=28, n_diffs=8,
             fragments=("2 rows in the wrong order", "your row 1 is the row of p_{21}",
                        "your row 2 is the row of p_{11}")),
    HandCase("denominator layout and a wrong entry", POOL, (3, 3), EQ3_TRANSPOSED_ONE_WRONG,
             "eq. 3 transposed by hand, one entry changed",
             kinds=frozenset({"denominator_layout", "wrong_entries"}),
             diffs=(("∂p_{21}/∂a_{11}", (1, 2)),), values=(("∂p_{21}/∂a_{11}", "1/4", "0"),),
             fragments=("that is denominator layout", "declare it with --layout denominator")),
    # --- mistakes in the problem
    HandCase("forgotten stride", jc.AvgPool2D(2), (4, 4), AVG_STRIDE_FORGOTTEN,
             "by hand: stride 1 where the windows move by 2", kinds=frozenset({"wrong_stride"}),
             quantity="forward", fragments=("the windows move by 1 (stride 1), but the stride is 2",
                                            "forgotten stride")),
    HandCase("forgotten stride, outputs kept", jc.AvgPool2D(2), (4, 4), AVG_STRIDE_CROPPED,
             "by hand: windows moved by 1, the first 2x2 kept", kinds=frozenset({"wrong_stride"}),
             quantity="forward", fragments=("you kept the first windows of a stride-1 pass",
                                            "forgotten stride")),
    HandCase("forgotten stride, outputs kept, input gradient", jc.AvgPool2D(2), (4, 4),
             AVG_STRIDE_CROPPED_GRADIENT, "by hand: the gradient of the same windows",
             kinds=frozenset({"wrong_stride"}), quantity="gradient",
             fragments=("you kept the first windows of a stride-1 pass",)),
    # 1..16 max-pooled by 2x2 windows moved by 1: 6, 7 / 10, 11 instead of 6, 8 / 14, 16
    HandCase("forgotten stride, outputs kept, numeric max pool", jc.MaxPool2D(2), COUNTING_4X4,
             [[6, 7], [10, 11]], "by hand", kinds=frozenset({"wrong_stride"}), quantity="forward",
             fragments=("the stride is 2",)),
    HandCase("padding forgotten", jc.Conv2D(np.ones((2, 2)), padding=1), (2, 2),
             [["a_{11} k_{11} + a_{12} k_{12} + a_{21} k_{21} + a_{22} k_{22}"]],
             "by hand: the 2x2 kernel on the unpadded 2x2 input", kinds=frozenset({"wrong_padding"}),
             quantity="forward", fragments=("no padding, but the padding is 1",)),
    HandCase("input gradient where the kernel gradient was asked", CONV, (3, 3), CONV_INPUT_GRADIENT,
             "by hand", kinds=frozenset({"wrt_confused"}), options={"wrt": "kernel"},
             fragments=("this is the gradient with respect to the input, but the one with respect "
                        "to the kernel was asked (--wrt input checks it as it is)",)),
    HandCase("bias gradient misses an output", jc.Conv2D(np.ones((2, 2)), np.zeros(1)), (3, 3),
             [["∂J/∂z_{11} + ∂J/∂z_{21} + ∂J/∂z_{12}"]], "by hand: ∂J/∂z_22 left out",
             kinds=frozenset({"bias_not_summed"}), options={"wrt": "bias"},
             diffs=(("∂J/∂b_{1}", (1, 1)),), notes=(("∂J/∂b_{1}", "missing ∂J/∂z_{22}"),),
             fragments=("a bias is added to every output entry of its channel",)),
    # --- conventions: right under another one, or declared and still wrong
    HandCase("max-pool tie decided row-major", jc.MaxPool2D(2), TIE, [[0, 1], [0, 0]],
             "by hand: the gradient to the first 5 in reading order", kinds=frozenset({"tie_rule"}),
             detected=("tie",), options={"grad_values": [[1]]},
             fragments=("Right under max-pool ties to the first maximum in row-major order",
                        "declare it with --tie row_major")),
    HandCase("z = W x weights", jc.Dense(np.ones((3, 2))), (3,),
             [["w_{11}", "w_{12}", "w_{13}"], ["w_{21}", "w_{22}", "w_{23}"]],
             "by hand: dz/da = W for z = W x", kinds=frozenset({"weight_orientation"}),
             detected=("weight_orientation",), quantity="jacobian",
             fragments=("declare it with --weight-orientation out_in",)),
    # 2x2 windows, stride 2, padding 1 on a 2x2 input: each window holds one input entry, so
    # p_mn = a_mn when only the taps inside the input count, a_mn / 4 when the padding counts.
    HandCase("padding left out of the average", jc.AvgPool2D(2, padding=1), (2, 2),
             [["a_{11}", "a_{12}"], ["a_{21}", "a_{22}"]], "by hand",
             kinds=frozenset({"count_include_pad"}), detected=("count_include_pad",),
             quantity="forward", fragments=("declare it with --no-count-include-pad",)),
    HandCase("row-major flatten", jc.Flatten(), (2, 3), K23, "the commutation matrix K(2,3)",
             kinds=frozenset({"flatten_order"}), detected=("flatten_order",),
             fragments=("declare it with --flatten-order C",)),
    HandCase("0-based guide matrix with a wrong entry", jc.Conv2D(np.ones((3, 3))), (4, 4), DV_C_ONE_WRONG,
             "the guide's C with w_{0,1} for w_{0,0}", kinds=frozenset({"wrong_entries"}),
             diffs=(("∂z_{11}/∂a_{11}", (1, 1)),), values=(("∂z_{11}/∂a_{11}", "k_{12}", "k_{11}"),),
             options={"index_base": 0, "vec_order": "C"},
             fragments=("Conventions: 0-based indices, row-major vec order",
                        "Names: w read as the kernel k")),
    # --- more operations and quantities, one slip each (expected entries by hand)
    # dJ/dw_ij = a_i ∂J/∂z_j for z = W^T a (W: 3x2); ∂J/∂z_2 written for ∂J/∂z_1 in dJ/dw_11
    HandCase("dense weight gradient, one entry", jc.Dense(np.ones((3, 2))), (3,),
             [["a_{1} ∂J/∂z_{2}", "a_{1} ∂J/∂z_{2}"], ["a_{2} ∂J/∂z_{1}", "a_{2} ∂J/∂z_{2}"],
              ["a_{3} ∂J/∂z_{1}", "a_{3} ∂J/∂z_{2}"]], "by hand", kinds=frozenset({"wrong_entries"}),
             quantity="gradient", options={"wrt": "weight"}, diffs=(("∂J/∂w_{11}", (1, 1)),),
             values=(("∂J/∂w_{11}", "a_{1} ∂J/∂z_{2}", "a_{1} ∂J/∂z_{1}"),)),
    # softmax: ∂s_i/∂a_j = s_i (δ_ij - s_j); the diagonal alone misses the six -s_i s_j
    HandCase("softmax Jacobian without its off-diagonal", jc.Softmax(), (3,),
             [["s_{1}(1 - s_{1})", "0", "0"], ["0", "s_{2}(1 - s_{2})", "0"],
              ["0", "0", "s_{3}(1 - s_{3})"]], "by hand", kinds=frozenset({"wrong_entries"}),
             quantity="jacobian",
             diffs=(("∂s_{1}/∂a_{2}", (1, 2)), ("∂s_{1}/∂a_{3}", (1, 3)), ("∂s_{2}/∂a_{1}", (2, 1)),
                    ("∂s_{2}/∂a_{3}", (2, 3)), ("∂s_{3}/∂a_{1}", (3, 1)), ("∂s_{3}/∂a_{2}", (3, 2))),
             values=(("∂s_{1}/∂a_{2}", "0", "-s_{1} s_{2}"),)),
    # ReLU at a = (1, -2, 3): diag(1, 0, 1); the identity keeps the inactive unit
    HandCase("ReLU Jacobian with an inactive unit kept", jc.ReLU(), np.array([1.0, -2.0, 3.0]),
             [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "by hand", kinds=frozenset({"wrong_entries"}),
             quantity="jacobian", diffs=(("∂y_{2}/∂a_{2}", (2, 2)),),
             values=(("∂y_{2}/∂a_{2}", "1", "0"),)),
    # a 2x2 kernel on a 2x2 input: z_11 = a11 k11 + a12 k12 + a21 k21 + a22 k22, one sign flipped
    HandCase("conv forward with a wrong sign", CONV, (2, 2),
             [["a_{11} k_{11} + a_{12} k_{12} + a_{21} k_{21} - a_{22} k_{22}"]], "by hand",
             kinds=frozenset({"wrong_entries"}), quantity="forward", diffs=(("z_{11}", (1, 1)),),
             notes=(("z_{11}", "(wrong sign)"),)),
    # max pooling's gradient sent to every entry of the window (as average pooling without the
    # 1/4) instead of the maximum a_22 only
    HandCase("max-pool gradient to the whole window", jc.MaxPool2D(2), np.array([[1.0, 2.0], [3.0, 4.0]]),
             [[1, 1], [1, 1]], "by hand", kinds=frozenset({"wrong_entries"}), quantity="gradient",
             options={"grad_values": [[1]]},
             diffs=(("∂J/∂a_{11}", (1, 1)), ("∂J/∂a_{12}", (1, 2)), ("∂J/∂a_{21}", (2, 1))),
             values=(("∂J/∂a_{12}", "1", "0"),)),
    # ∂z_11/∂k_rs = a_rs, columns k11 k21 k12 k22: a_{21} written again for a_{22}
    HandCase("conv kernel Jacobian, one entry", CONV, (2, 2),
             [["a_{11}", "a_{21}", "a_{12}", "a_{21}"]], "by hand", kinds=frozenset({"wrong_entries"}),
             quantity="jacobian", options={"wrt": "kernel"}, diffs=(("∂z_{11}/∂k_{22}", (1, 4)),),
             values=(("∂z_{11}/∂k_{22}", "a_{21}", "a_{22}"),)),
    # --- through a whole network, and several channels
    HandCase("network dJ/dK1", NETWORK, (3, 3), NETWORK_DJ_DK1, "by hand", quantity="gradient",
             options={"wrt": (0, "kernel")}, fragments=("Problem: Chain(Conv2D",)),
    HandCase("network dJ/dK1, a factor dropped", NETWORK, (3, 3), NETWORK_DJ_DK1_WRONG, "by hand",
             kinds=frozenset({"stray_factor"}), quantity="gradient",
             options={"wrt": (0, "kernel")}, diffs=(("∂J/∂k_{22}", (2, 2)),),
             fragments=("stray factor 4 on 4 terms",)),
    HandCase("two channels, one bmatrix each", jc.MaxPool2D(2), TWO_CHANNELS, TWO_CHANNEL_GRADIENT,
             "by hand", quantity="gradient", options={"which": "channels", "grad_values": [[[1, 2]]]},
             fragments=("2 matrices, one per channel, side by side",)),
    HandCase("two channels, gradients swapped", jc.MaxPool2D(2), TWO_CHANNELS,
             TWO_CHANNEL_GRADIENT_SWAPPED, "by hand: channel 1's gradient sent with channel 2's",
             kinds=frozenset({"wrong_entries"}), quantity="gradient",
             options={"which": "channels", "grad_values": [[[1, 2]]]},
             diffs=(("∂J/∂a_{121}", (1, 2)), ("∂J/∂a_{112}", (1, 3)))),
    # --- numbers
    HandCase("numeric max pool, one entry", jc.MaxPool2D(2), CS231N_X, [[6, 7], [3, 4]],
             "by hand: 7 for 8", kinds=frozenset({"wrong_entries"}), quantity="forward",
             diffs=(("p_{12}", (1, 2)),), values=(("p_{12}", "7", "8"),),
             fragments=("p_{12}: you wrote 7, correct is 8",)),
    HandCase("numeric average-pool gradient, factor 2", jc.AvgPool2D(2), (2, 2), [[1, 1], [1, 1]],
             "by hand: dz = 2 spread as 2/2 instead of 2/4", kinds=frozenset({"uniform_factor"}),
             quantity="gradient", options={"grad_values": [[2]]}, n_diffs=4,
             fragments=("every nonzero entry is 2 times the correct one",)),
]
