"""Size guards before any allocation, and checkers that cannot pass on NaN (issue 11, 2-3).

Large inputs are broadcast views of one number (no memory of their own), so a case's
traced memory is what the package allocates. Every refusal must come within 1 s and
200 MB; cases that would blow up without their guard run in a fresh interpreter.
"""

import importlib.util

import numpy as np
import scipy.sparse as sp

import jacobian_cnn as jc
from bad_input.harness import Bad
from jacobian_cnn.compare import autograd
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError, JacobianTooLargeError, SizeLimitError

if importlib.util.find_spec("sympy"):  # imported here so that its import time is not a case's
    import sympy  # noqa: F401

    from jacobian_cnn.symbolic import symbolic_jacobian


def big(*shape, dtype=np.float64):
    """A read-only input of ``shape`` that takes no memory (every entry 0.5)."""
    return np.broadcast_to(np.asarray(0.5, dtype=dtype), shape)


def fast(id_, call, raises, *match, isolate=True):
    """A refusal held to the issue's rule: within 1 s and under 200 MB traced."""
    return Bad(id_, call, raises, match, seconds=1.0, megabytes=200, isolate=isolate)


class WrongShape:
    """A user-defined layer whose Jacobian has one row too few (4 outputs, 3 rows)."""

    params = {}

    def forward(self, x):
        return np.asarray(x) * 2.0

    def jacobian(self, x, wrt="input", *, cache=None, max_bytes=None):
        return sp.csr_array(2.0 * np.eye(4)[:3])


def _failed(*fragments):
    """Check of an accepted comparison: the report is not OK and names ``fragments``."""
    def check(report):
        assert not report.ok, str(report)
        for fragment in fragments:
            assert fragment in str(report), (fragment, str(report))
    return check


def _ok(report):
    assert report.ok and report.max_abs_error == 0, str(report)


def _one_entry_off(report):
    # I and I + 0.5 e_{7,3}: the one failing entry, labelled by hand (0-based, flat).
    assert not report.ok and report.max_abs_error == 0.5, str(report)
    assert report.worst == [("d y[7] / d x[3]", 0.0, 0.5)], report.worst


def _avg_hand(J):
    # Seed 000: 2x2 windows, stride 1, on a 3x3 input; row 0 averages a11, a21, a12, a22.
    assert [str(v) for v in J.matrix[0, :]] == ["1/4", "1/4", "0", "1/4", "1/4", "0", "0", "0", "0"]


def _sparse_eye(n, extra=None):
    """The sparse identity, plus ``value`` at ``(i, j)`` if ``extra = ((i, j), value)``."""
    if extra is None:
        return sp.eye_array(n, format="csr")
    (i, j), value = extra
    return (sp.eye_array(n, format="csr") + sp.csr_array(([value], ([i], [j])), shape=(n, n))).tocsr()


CASES = [
    # --- window geometry: nnz and tables estimated in closed form, refused before any table
    fast("avg 3000^2 jacobian under max_bytes=1e8",
         lambda: jc.AvgPool2D(3).jacobian(big(3000, 3000), max_bytes=10**8),
         JacobianTooLargeError, "AvgPool2D Jacobian", "9,000,000 nonzeros", "max_bytes=100,000,000"),
    fast("avg 6000^2 jacobian under max_bytes=1e8",
         lambda: jc.AvgPool2D(3).jacobian(big(6000, 6000, dtype=np.float32), max_bytes=10**8),
         JacobianTooLargeError, "36,000,000 nonzeros", "max_bytes=100,000,000"),
    fast("conv kernel jacobian 4000^2 default limit",
         lambda: jc.Conv2D(np.ones((3, 3, 1, 8))).jacobian(big(4000, 4000, 1), wrt="kernel"),
         JacobianTooLargeError, "Conv2D kernel Jacobian", "max_bytes=2,147,483,648"),
    fast("max pool jacobian refused before its forward pass",
         lambda: jc.MaxPool2D(2).jacobian(big(3000, 3000, 4), max_bytes=10**7),
         JacobianTooLargeError, "MaxPool2D Jacobian", "max_bytes=10,000,000"),
    fast("avg jacobian small but its tap table huge (all-padding taps)",
         lambda: jc.AvgPool2D(1000, stride=1, padding=999).jacobian(np.ones((1, 1))),
         SizeLimitError, "window tables", "outputs x 1,000,000 taps", "max_bytes=2,147,483,648"),
    fast("conv forward with a table of 2.5 * 10^11 taps",
         lambda: jc.Conv2D(np.ones((1000, 1000)), padding=500).forward(big(500, 500)),
         SizeLimitError, "Conv2D forward pass", "window tables", "max_bytes="),
    fast("conv forward table over padding",
         lambda: jc.Conv2D(np.ones((999, 999)), padding=998).forward(np.ones((2, 2))),
         SizeLimitError, "Conv2D forward pass", "max_bytes="),
    fast("avg forward 500 window stride 1",
         lambda: jc.AvgPool2D(500, stride=1).forward(big(1000, 1000)),
         SizeLimitError, "AvgPool2D forward pass", "251,001 outputs x 250,000 taps"),
    fast("max forward 500 window stride 1",
         lambda: jc.MaxPool2D(500, stride=1).forward(big(1000, 1000)),
         SizeLimitError, "MaxPool2D forward pass", "pass a larger max_bytes"),
    fast("forward max_bytes knob refuses a small table",
         lambda: jc.AvgPool2D(2).forward(np.ones((4, 4)), max_bytes=10),
         SizeLimitError, "AvgPool2D forward pass", "over max_bytes=10", isolate=False),
    Bad("forward max_bytes knob raised accepts", lambda: jc.MaxPool2D(2).forward(
        np.arange(16.).reshape(4, 4, order="F"), max_bytes=10**6), None,
        check=lambda y: np.testing.assert_array_equal(y, [[5., 13.], [7., 15.]])),
    fast("max_bytes a string", lambda: jc.AvgPool2D(2).jacobian(np.ones((4, 4)), max_bytes="big"),
         InvalidTypeError, "max_bytes must be None or a positive int (bytes), got 'big'",
         isolate=False),
    fast("max_bytes nan", lambda: jc.Conv2D(np.ones((2, 2))).forward(np.ones((4, 4)), max_bytes=np.nan),
         InvalidValueError, "max_bytes must be", "got nan", isolate=False),
    # --- Chain: products, identity rows, shapes, g
    fast("chain jacobian product over max_bytes names the step",
         lambda: jc.Chain([jc.Conv2D(np.ones((3, 3)), padding=1),
                           jc.Conv2D(np.ones((3, 3)), padding=1)]).jacobian(np.ones((100, 100)),
                                                                           max_bytes=2_000_000),
         JacobianTooLargeError, "step layers[0] = Conv2D", "max_bytes=2,000,000", "nonzeros at most"),
    fast("chain backward identity rows of 40,000 outputs",
         lambda: jc.Chain([jc.ReLU()]).backward(big(200, 200)),
         JacobianTooLargeError, "40,000 identity rows", "12,800,000,000 bytes", "pass g",
         "max_bytes=2,147,483,648"),
    fast("chain backward identity rows over a small max_bytes",
         lambda: jc.Chain([jc.Tanh()]).backward(np.zeros(100), max_bytes=1000),
         JacobianTooLargeError, "100 identity rows", "80,000 bytes", "max_bytes=1,000", isolate=False),
    fast("chain backward many g rows times a layer over max_bytes",
         lambda: jc.Chain([jc.Dense(np.ones((3000, 10)))]).backward(np.ones(3000),
                                                                    np.ones((2000, 10)),
                                                                    max_bytes=10**7),
         JacobianTooLargeError, "step layers[0] = Dense", "(wrt 'weight')", "480,000,000 bytes",
         "max_bytes=10,000,000"),
    fast("chain layer jacobian of the wrong shape", lambda: jc.Chain([WrongShape()]).jacobian(np.ones(4)),
         InvalidValueError, "layers[0]", "shape (3, 4)", "must have shape (4, 4)", isolate=False),
    fast("chain backward layer jacobian of the wrong shape",
         lambda: jc.Chain([jc.ReLU(), WrongShape()]).backward(np.ones(4), np.ones(4)),
         InvalidValueError, "layers[1]", "shape (3, 4)", "(4, 4)", isolate=False),
    fast("chain complex g", lambda: jc.Chain([jc.ReLU()]).backward(np.ones(3), np.ones(3) * (1 + 2j)),
         InvalidTypeError, "g must be real", "complex128", isolate=False),
    fast("chain g with nan", lambda: jc.Chain([jc.ReLU()]).backward(np.ones(3), [1.0, np.nan, 0.0]),
         InvalidValueError, "g contains NaN or inf", "(0, 1)", isolate=False),
    fast("chain g with inf", lambda: jc.Chain([jc.Tanh()]).backward(np.ones(2), [[np.inf, 0.0]]),
         InvalidValueError, "g contains NaN or inf", "inf", isolate=False),
    fast("chain g of strings", lambda: jc.Chain([jc.ReLU()]).backward(np.ones(2), ["a", "b"]),
         InvalidTypeError, "g must be a real numeric array", isolate=False),
    # --- checkers: NaN/inf fail, sparse inputs are never densified, arguments validated
    Bad("compare nan in J fails", lambda: jc.compare_jacobians(np.array([[1.0, np.nan]]),
                                                               np.array([[1.0, 0.0]])),
        None, check=_failed("d y[0] / d x[1]", "got nan", "not finite in J")),
    Bad("compare inf in sparse J_ref fails",
        lambda: jc.compare_jacobians(_sparse_eye(3), _sparse_eye(3, ((2, 0), np.inf))),
        None, check=_failed("d y[2] / d x[0]", "expected inf", "not finite in J_ref")),
    Bad("compare nan on both sides fails",
        lambda: jc.compare_jacobians(np.full((1, 1), np.nan), np.full((1, 1), np.nan)),
        None, check=_failed("not finite in J and J_ref")),
    fast("assert close on nan raises", lambda: jc.assert_jacobian_close(
        sp.csr_array(np.array([[np.nan]])), np.array([[np.nan]]), atol=1.0, rtol=1.0),
        AssertionError, "1 non-finite entries", "MISMATCH", isolate=False),
    Bad("compare sparse identities of 40,000 without densifying",
        lambda: jc.compare_jacobians(_sparse_eye(40_000), sp.eye_array(40_000, format="coo")),
        None, check=_ok, seconds=1.0, megabytes=50, isolate=True),
    Bad("compare sparse union finds the one entry off",
        lambda: jc.compare_jacobians(_sparse_eye(10), _sparse_eye(10, ((7, 3), 0.5))),
        None, check=_one_entry_off),
    fast("compare huge dense refused before work arrays",
         lambda: jc.compare_jacobians(big(20_000, 20_000), big(20_000, 20_000)),
         SizeLimitError, "20,000 x 20,000", "max_bytes=2,147,483,648", "sparse arrays"),
    fast("compare atol nan", lambda: jc.compare_jacobians(np.eye(2), np.eye(2), atol=np.nan),
         InvalidValueError, "atol must be a finite non-negative number, got nan", isolate=False),
    fast("compare rtol negative", lambda: jc.compare_jacobians(np.eye(2), np.eye(2), rtol=-1e-3),
         InvalidValueError, "rtol must be a finite non-negative number, got -0.001", isolate=False),
    fast("compare atol a string", lambda: jc.assert_jacobian_close(np.eye(2), np.eye(2), atol="0"),
         InvalidTypeError, "atol must be", "got '0'", isolate=False),
    fast("compare complex J", lambda: jc.compare_jacobians(np.eye(2) * 1j, np.eye(2)),
         InvalidTypeError, "J must be real", isolate=False),
    fast("numerical jacobian eps 0", lambda: jc.numerical_jacobian(np.sin, np.ones(3), eps=0),
         InvalidValueError, "eps must be a finite number of at least", "got 0", isolate=False),
    fast("numerical jacobian eps 1e-20", lambda: jc.numerical_jacobian(np.sin, np.ones(3), eps=1e-20),
         InvalidValueError, "eps must be", "got 1e-20", "lost in rounding", isolate=False),
    fast("numerical jacobian eps too small for the scale of x",
         lambda: jc.numerical_jacobian(np.sin, np.full(2, 1e6), eps=1e-10),
         InvalidValueError, "at least 2.27e-07", "max(1, max |x|)", isolate=False),
    fast("numerical jacobian eps inf", lambda: jc.numerical_jacobian(np.sin, np.ones(2), eps=np.inf),
         InvalidValueError, "eps must be", "got inf", isolate=False),
    fast("numerical jacobian eps a string", lambda: jc.numerical_jacobian(np.sin, np.ones(2), eps="1e-6"),
         InvalidTypeError, "eps must be a finite positive number", isolate=False),
    # --- autograd: the dense reference is sized before torch or JAX is called
    fast("autograd compare 200x200 conv",
         lambda: autograd.compare(jc.Conv2D(np.ones((3, 3)), padding=1), big(200, 200)),
         JacobianTooLargeError, "40,000 x 40,000", "12,800,000,000 bytes", "max_bytes=2,147,483,648"),
    fast("autograd jacobian over a small max_bytes",
         lambda: autograd.jacobian(jc.Dense(np.ones((30, 20))), np.ones(30), wrt="weight",
                                   max_bytes=10_000),
         JacobianTooLargeError, "20 x 600", "96,000 bytes", "max_bytes=10,000", isolate=False),
]

if importlib.util.find_spec("sympy"):
    CASES += [
        fast("symbolic conv on a 120x120 input",
             lambda: symbolic_jacobian(jc.Conv2D(np.ones((3, 3))), (120, 120)),
             SizeLimitError, "SymPy entries", "max_entries=20,000"),
        fast("symbolic softmax of 5000",
             lambda: symbolic_jacobian(jc.Softmax(), (5000,)),
             SizeLimitError, "25,010,000", "max_entries=20,000", "pass a larger max_entries"),
        fast("symbolic chain product bound",
             lambda: symbolic_jacobian(jc.Chain([jc.Conv2D(np.ones((3, 3))), jc.Flatten(),
                                                 jc.Softmax()]), (30, 30)),
             SizeLimitError, "max_entries=20,000"),
        fast("symbolic input over MAX_SYMBOLIC_SIZE",
             lambda: symbolic_jacobian(jc.ReLU(), (300, 300), max_entries=10**9),
             SizeLimitError, "90,000 entries", "MAX_SYMBOLIC_SIZE=20,000"),
        fast("symbolic max_entries small", lambda: symbolic_jacobian(
            jc.AvgPool2D(2, stride=1), (3, 3), max_entries=20),
            SizeLimitError, "about 29 SymPy entries", "max_entries=20", isolate=False),
        fast("symbolic max_entries a string", lambda: symbolic_jacobian(
            jc.ReLU(), (2, 2), max_entries="many"),
            InvalidTypeError, "max_entries must be None or a positive int, got 'many'", isolate=False),
        fast("symbolic max_entries 0", lambda: symbolic_jacobian(jc.ReLU(), (2, 2), max_entries=0),
             InvalidValueError, "max_entries must be", "got 0", isolate=False),
        Bad("symbolic max_entries raised accepts",
            lambda: symbolic_jacobian(jc.AvgPool2D(2, stride=1), (3, 3), max_entries=100),
            None, check=_avg_hand),
    ]
