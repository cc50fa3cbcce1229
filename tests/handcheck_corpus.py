"""Derivations published by others, transcribed as written, for the hand checker.

Each row is one matrix from a public source: its citation (URL), the problem it answers, the
matrix in the source's own notation (0-based ``w_{0,0}``, ``\\mathbf``/``\\boldsymbol`` names,
row-major listings, ``z = W x`` weights, numbers as printed) and the conventions the source
uses (the :class:`jacobian_cnn.handcheck.Conventions` fields that differ from this package's).
Only facts are taken over: the matrices and numbers, never prose or code. Nothing here is
computed by the package; ``test_handcheck_corpus`` checks that every row is accepted with its
conventions declared, and that with nothing declared exactly those conventions are named.

``transcribed`` says how the matrix was taken: "as printed" (entries copied from the source),
or "from the stated definition" (the source states the rule entry by entry, e.g. a
``convmtx2``-style identity, and the entries are written out from it by hand). ``verified``
says how the transcription was checked against the source's stored text (the source itself,
a copy of it, or nothing: "not re-checked").
"""

from dataclasses import dataclass, field

import numpy as np

import jacobian_cnn as jc
from jacobian_cnn.symbolic import Names


@dataclass(frozen=True)
class CorpusItem:
    """One published derivation.

    Attributes
    ----------
    id, url, what : str
        A short name, the citation and what the matrix is in the source.
    layer, x
        The problem (``x``: the input shape, or its values as the source prints them).
    written : str or list
        The matrix as the source writes it (LaTeX, or numbers as printed).
    conventions : dict
        The source's conventions, as ``check_derivation`` keywords (empty: this package's).
    options : dict
        More keywords: ``names=``, ``wrt=``, ``params=``, ``grad_values=``, ``tolerance=``.
    transcribed : str
        "as printed" or "from the stated definition".
    named : tuple of str or None
        The conventions named when nothing is declared (default: every one of ``conventions``;
        fewer when the source's matrix reads the same under this package's, e.g. a symmetric
        kernel under true convolution).
    verified : str
        How every transcribed number was checked against the source's text.
    """

    id: str
    url: str
    what: str
    layer: object
    x: object
    written: object
    conventions: dict = field(default_factory=dict)
    transcribed: str = "as printed"
    options: dict = field(default_factory=dict)
    named: tuple = None
    verified: str = "not re-checked"

    @property
    def names_when_undeclared(self):
        return tuple(self.conventions) if self.named is None else self.named


def _bmatrix(rows):
    return r"\begin{bmatrix}" + r" \\ ".join(" & ".join(r) for r in rows) + r"\end{bmatrix}"


# A guide to convolution arithmetic for deep learning (Dumoulin & Visin), section 4.1: the 3x3
# kernel on a 4x4 input as a sparse 4x16 matrix C, entries w_{i,j} 0-based, input and output
# unrolled left to right, top to bottom.
_DV_C = _bmatrix([
    ["w_{0,0}", "w_{0,1}", "w_{0,2}", "0", "w_{1,0}", "w_{1,1}", "w_{1,2}", "0", "w_{2,0}", "w_{2,1}",
     "w_{2,2}", "0", "0", "0", "0", "0"],
    ["0", "w_{0,0}", "w_{0,1}", "w_{0,2}", "0", "w_{1,0}", "w_{1,1}", "w_{1,2}", "0", "w_{2,0}",
     "w_{2,1}", "w_{2,2}", "0", "0", "0", "0"],
    ["0", "0", "0", "0", "w_{0,0}", "w_{0,1}", "w_{0,2}", "0", "w_{1,0}", "w_{1,1}", "w_{1,2}", "0",
     "w_{2,0}", "w_{2,1}", "w_{2,2}", "0"],
    ["0", "0", "0", "0", "0", "w_{0,0}", "w_{0,1}", "w_{0,2}", "0", "w_{1,0}", "w_{1,1}", "w_{1,2}",
     "0", "w_{2,0}", "w_{2,1}", "w_{2,2}"],
])

# Hjorth-Jensen, Machine Learning lecture notes (week 44, "CNNs in more detail, simple
# example"): X 3x3 and filter W 2x2 with 0-based entries, X' = vec of X listed row by row, the
# 4x9 matrix W' with Y' = W' X', and the 2x2 result Y.
_HJ_URL = "https://compphysics.github.io/MachineLearning/doc/pub/week44/html/._week44-bs033.html"
_HJ_W = r"""\boldsymbol{W}'=\begin{bmatrix} w_{00} & w_{01} & 0 & w_{10} & w_{11} & 0 & 0 & 0 & 0 \\
0 & w_{00} & w_{01} & 0 & w_{10} & w_{11} & 0 & 0 & 0 \\ 0 & 0 & 0 & w_{00} & w_{01} & 0 & w_{10}
& w_{11} & 0 \\ 0 & 0 & 0 & 0 & w_{00} & w_{01} & 0 & w_{10} & w_{11}\end{bmatrix}"""
_HJ_Y = r"""\boldsymbol{Y}=\begin{bmatrix}x_{00}w_{00}+x_{01}w_{01}+x_{10}w_{10}+x_{11}w_{11} &
x_{01}w_{00}+x_{02}w_{01}+x_{11}w_{10}+x_{12}w_{11} \\ x_{10}w_{00}+x_{11}w_{01}+x_{20}w_{10}+
x_{21}w_{11} & x_{11}w_{00}+x_{12}w_{01}+x_{21}w_{10}+x_{22}w_{11}\end{bmatrix}"""

# MATLAB convmtx2 documentation example: H = ones(3,3)/9, X = magic(5),
# Y1 = reshape(T*X(:), size(H)+[5 5]-1) (the full 2-D convolution), as printed to 4 decimals.
_MAGIC5 = np.array([[17, 24, 1, 8, 15], [23, 5, 7, 14, 16], [4, 6, 13, 20, 22],
                    [10, 12, 19, 21, 3], [11, 18, 25, 2, 9]], dtype=float)
_CONVMTX2_Y1 = [
    [1.8889, 4.5556, 4.6667, 3.6667, 2.6667, 2.5556, 1.6667],
    [4.4444, 7.6667, 8.5556, 6.5556, 6.7778, 5.8889, 3.4444],
    [4.8889, 8.7778, 11.1111, 10.8889, 12.8889, 10.5556, 5.8889],
    [4.1111, 6.6667, 11.0000, 13.0000, 15.0000, 10.6667, 4.5556],
    [2.7778, 6.7778, 13.1111, 15.1111, 14.8889, 8.5556, 3.7778],
    [2.3333, 5.6667, 10.5556, 10.7778, 8.7778, 3.8889, 1.3333],
    [1.2222, 3.2222, 6.0000, 5.0000, 4.0000, 1.2222, 1.0000],
]

# The commutation matrix K(3,2): K vec(A) = vec(A^T) for every 3x2 A (Magnus & Neudecker;
# Octave's commutation_matrix), the 6x6 permutation taking a11 a21 a31 a12 a22 a32 to
# a11 a12 a21 a22 a31 a32.
_K32 = [[1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0], [0, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 1, 0], [0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1]]

# Matrix gradient identities (A an m x n matrix, x an n x 1 column): d(Ax)/dx = A^T, the
# denominator layout; A^T written out for a 2x3 A.
_AX_URL = "https://arqamrp.github.io/mononote/files/1_maths/2_linear_algebra/1_matrix_calc.html"
_AX_DENOMINATOR = (r"\mathbf{A}^\top = \begin{bmatrix} a_{11} & a_{21} \\ a_{12} & a_{22} \\ "
                   r"a_{13} & a_{23} \end{bmatrix}")

# Gradient of D = W X (W: H x m, X: m x n) with respect to W, dL/dW = dL/dD X^T, written out
# for H = 2, m = 3 and one sample (n = 1, its column index dropped): dL/dW_dc = dL/dD_d X_c.
_DW = _bmatrix([[rf"\frac{{\partial L}}{{\partial D_{{{d}}}}} X_{{{c}}}" for c in (1, 2, 3)]
                for d in (1, 2)])

# Hide Inada, "Calculate CNN backprop with padding and stride set to 2": a 4x4 input a_{ij},
# zero-padded by 1, a 3x3 kernel W, stride 2, a 2x2 output z (forward result written out from
# the post's definition Z = zero_pad(a_prev) *_stride2 W).
_INADA_Z = _bmatrix([
    ["w_{22} a_{11} + w_{23} a_{12} + w_{32} a_{21} + w_{33} a_{22}",
     "w_{21} a_{12} + w_{22} a_{13} + w_{23} a_{14} + w_{31} a_{22} + w_{32} a_{23} + w_{33} a_{24}"],
    ["w_{12} a_{21} + w_{13} a_{22} + w_{22} a_{31} + w_{23} a_{32} + w_{32} a_{41} + w_{33} a_{42}",
     "w_{11} a_{22} + w_{12} a_{23} + w_{13} a_{24} + w_{21} a_{32} + w_{22} a_{33} + w_{23} a_{34}"
     " + w_{31} a_{42} + w_{32} a_{43} + w_{33} a_{44}"],
])

COUNTING_4X4 = np.arange(1.0, 17.0).reshape(4, 4)  # the practice problem's x: 1..16 row by row
QA_A = np.array([[3, 4, 2], [1, 5, 0], [8, 6, 4]], dtype=float)
COURSERA_X = np.array([[1.62434536, -0.61175641, -0.52817175],
                       [-1.07296862, 0.86540763, -2.3015387]])

_GUIDE_SOURCE = ("checked entry by entry against the guide's LaTeX source (vdumoulin/conv_arithmetic, "
                 "conv_arithmetic.tex, section 'Convolution as a matrix operation')")
_COURSE_COPIES = ("checked against the assignment's 'Expected Output' as kept in public copies of the "
                  "notebook (Convolution_model_Step_by_Step)")

CORPUS = [
    CorpusItem("dumoulin-visin C", "https://arxiv.org/abs/1603.07285",
               "section 4.1: the convolution of a 3x3 kernel over a 4x4 input as the matrix C",
               jc.Conv2D(np.ones((3, 3))), (4, 4), _DV_C,
               conventions={"index_base": 0, "vec_order": "C"}, verified=_GUIDE_SOURCE),
    CorpusItem("hjorth-jensen W'", _HJ_URL, "the 4x9 matrix W' of a 2x2 filter on a 3x3 X",
               jc.Conv2D(np.ones((2, 2))), (3, 3), _HJ_W,
               conventions={"index_base": 0, "vec_order": "C"}, options={"names": Names(input="x")}),
    CorpusItem("hjorth-jensen Y", _HJ_URL, "the 2x2 result Y of the same filter",
               jc.Conv2D(np.ones((2, 2))), (3, 3), _HJ_Y,
               conventions={"index_base": 0}, options={"names": Names(input="x", output="y")}),
    CorpusItem("matlab convmtx2", "https://www.mathworks.com/help/images/ref/convmtx2.html",
               "Y1 = reshape(T*X(:), size(H)+[5 5]-1) for H = ones(3,3)/9, X = magic(5)",
               jc.Conv2D(np.ones((3, 3)) / 9, padding=2), _MAGIC5, _CONVMTX2_Y1,
               conventions={"convolution": "true"},
               options={"params": "values", "tolerance": 1e-4, "quantity": "forward"},
               named=(),  # the averaging kernel is symmetric: the same under cross-correlation
               verified="all 49 numbers of Y1 checked against the stored documentation page"),
    CorpusItem("commutation K(3,2)", "https://octave.sourceforge.io/octave/function/commutation_matrix.html",
               "K(m,n) vec(A) = vec(A') for a 3x2 A (Magnus & Neudecker), written out",
               jc.Flatten(), (3, 2), _K32, conventions={"flatten_order": "C"},
               transcribed="from the stated definition",
               verified="the definition (K(m,n) * vec(A) = vec(A') for every m x n A) checked in the "
                        "stored Octave page; the 6x6 entries follow from it"),
    CorpusItem("matrix calculus d(Ax)/dx", _AX_URL,
               "identity d(Ax)/dx = A^T (A: m x n, x: n x 1), the denominator layout, for a 2x3 A",
               jc.Dense(np.ones((3, 2))), (3,), _AX_DENOMINATOR,
               conventions={"weight_orientation": "out_in", "layout": "denominator"},
               options={"names": Names(input="x", weight="a")}, transcribed="from the stated definition",
               verified="the identity as printed in the stored page (section 1.1, 'Matrix gradient "
                        "identities'); replaces a Wikipedia citation whose identity table the stored "
                        "copies do not hold"),
    CorpusItem("dL/dW = dL/dD X^T", "https://edwardshu.com/posts/matrix-matrix-gradient",
               "gradient of D = W X with respect to W (W: H x m), one sample",
               jc.Dense(np.ones((3, 2))), (3,), _DW, conventions={"weight_orientation": "out_in"},
               options={"names": Names(input="X", output="D", loss="L"), "wrt": "weight"},
               transcribed="from the stated definition"),
    CorpusItem("inada stride 2 padding 1", "https://hideyukiinada.github.io/cnn_backprop_strides2.html",
               "Z = zero_pad(a_prev) *_stride2 W: 4x4 input, padding 1, 3x3 kernel, stride 2",
               jc.Conv2D(np.ones((3, 3)), stride=2, padding=1), (4, 4), _INADA_Z,
               transcribed="from the stated definition",
               verified="the definition checked in the stored page (Z = zero_pad(a_prev) *_stride2 W, "
                        "a_prev 4x4 with entries a_{11} ... a_{44}, one ring of zeros, Z 2x2 with "
                        "z_{11} ... z_{22}); the entries are written out from it, the kernel's "
                        "names w_{11} ... w_{33} are not in the stored text"),
    CorpusItem("max-pool practice problem",
               "https://prof.lexailabs.com/practice/build-cnn-03-max-pool-2d",
               "max_pool_2d example 1: x = 1..16 (4x4), kernel_size 2, stride 2, output "
               "[[6, 8], [14, 16]] (replaces CS231n's pooling figure, whose numbers are an image)",
               jc.MaxPool2D(2), COUNTING_4X4, [[6, 8], [14, 16]],
               verified="input and output as printed in the stored page"),
    CorpusItem("cross validated max-pool deltas",
               "https://stats.stackexchange.com/search?q=maxpool+backpropagation+recurring+max+values",
               "Cross Validated, 'How to handle maxpool layer backpropagation with recurring max "
               "values in same position': a 3x3 layer a, a 2x2 max pool with stride 1, deltas "
               "[-1.4 0.8; 0.2 0.3]; the delta passed back (a shared maximum collects both)",
               jc.MaxPool2D(2, stride=1), QA_A, [[0, 0, 0], [0, -0.6, 0], [0.2, 0.3, 0]],
               options={"grad_values": [[-1.4, 0.8], [0.2, 0.3]]},
               verified="a, the deltas and the answer checked against a stored copy of the "
                        "question's text"),
    CorpusItem("coursera distribute_value",
               "https://datascience-enthusiast.com/DL/Convolution_model_Step_by_Stepv2.html",
               "distribute_value(2, (2, 2)): average pooling's gradient spread over a 2x2 window",
               jc.AvgPool2D(2), (2, 2), [[0.5, 0.5], [0.5, 0.5]], options={"grad_values": [[2]]},
               verified=_COURSE_COPIES),
    CorpusItem("coursera create_mask_from_window",
               "https://datascience-enthusiast.com/DL/Convolution_model_Step_by_Stepv2.html",
               "create_mask_from_window(x): True where x is the maximum of its (whole 2x3) window",
               jc.MaxPool2D((2, 3)), COURSERA_X, [[1, 0, 0], [0, 0, 0]],
               options={"grad_values": [[1]]}, verified=_COURSE_COPIES + ", x and mask both"),
]
"""The published derivations (at least 12), each with its citation and conventions."""
