"""Random LaTeX entries: each is read quickly and either parsed or refused, never anything else.

Hypothesis builds entries from the pieces hand derivations use (numbers in every
spelling, names with subscripts and tags, derivatives, fractions, powers, products,
sums, functions, nesting) and damages some with junk characters. Every entry must
parse to an exact, defined SymPy expression (no float, no ``zoo``/``nan``/``oo``) or be
refused with :class:`LatexParseError` or :class:`SizeLimitError`, within a CPU-time
budget per entry (process time, so that other processes on the machine do not
count; the garbage collector paused), and a wall-clock alarm interrupts a hang.
"""

import gc
import signal
import time

import pytest

sympy = pytest.importorskip("sympy")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from jacobian_cnn.errors import SizeLimitError  # noqa: E402
from jacobian_cnn.symbolic.latex import LatexParseError, parse_expression, parse_matrix  # noqa: E402

CPU_BUDGET = 0.2
"""CPU seconds one entry may take (an idle machine needs a few milliseconds)."""

HANG = 5.0
"""Wall-clock seconds after which an entry counts as hung."""

UNDEFINED = (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo)

digits = st.integers(0, 10**6).map(str)
numbers = st.one_of(
    digits,
    st.tuples(digits, digits).map(lambda t: f"{t[0]}.{t[1]}"),
    st.tuples(digits, st.sampled_from(["e", "E", "e-", "E+", "e+"]), st.integers(0, 400))
    .map(lambda t: f"{t[0]}{t[1]}{t[2]}"),
    st.integers(90, 130).map(lambda n: "7" * n),
    st.sampled_from(["0", "1", "2.5e-1", ".5", "10^{-3}", r"2.5\times 10^{-1}", r"2.5 \cdot 10^{-1}"]),
)
names = st.tuples(
    st.sampled_from(["a", "b", "k", "e", "J", r"\beta", r"\alpha", "w", "z"]),
    st.sampled_from(["", "_{11}", "_{21}", "_1", "_{1,2}", "_{10,2}", "^{[2]}_{12}", "_{i}"]),
).map("".join)
derivatives = st.sampled_from([
    r"\frac{\partial J}{\partial p_{11}}", r"\frac{\mathrm{d}J}{\mathrm{d}p_{21}}",
    "∂J/∂p_{11}", r"\partial a_{11}", r"\frac{\partial z_{32}}{\partial a_{23}}",
])
exponents = st.sampled_from(["2", "-1", "1/2", "0", "3", "90", "9^{9}", "-2", "10^{8}", "101",
                             "-1/3", "a", "{2}", "b+1"])


BINARY = ["{0} + {1}", "{0} - {1}", "{0} {1}", r"{0} \cdot {1}", r"{0} \times {1}", "{0} / {1}",
          r"\frac{{{0}}}{{{1}}}"]
"""Ways to join two entries (``str.format`` templates)."""
UNARY = ["({0})", r"\left({0}\right)", r"\biggl({0}\biggr)", "{{{0}}}", "-{0}", r"\tanh({0})",
         r"\exp({0})", r"\sigma({0})", r"\tanh'({0})"]
"""Ways to wrap one entry."""
POWERS = ["({0})^{{{1}}}", "{0}^{1}"]
"""Ways to raise an entry to an exponent."""


def combine(children):
    two, powered = st.tuples(children, children), st.tuples(children, exponents)
    return st.one_of(*(two.map(lambda t, f=f: f.format(*t)) for f in BINARY),
                     *(children.map(lambda c, f=f: f.format(c)) for f in UNARY),
                     *(powered.map(lambda t, f=f: f.format(*t)) for f in POWERS))


entries = st.recursive(st.one_of(numbers, names, derivatives), combine, max_leaves=24)
deep = st.tuples(st.integers(0, 120), st.sampled_from(["(", "{", r"\tanh(", r"\exp(", "a^{"]),
                 names).map(lambda t: t[1] * t[0] + t[2] + {"(": ")", "{": "}", r"\tanh(": ")",
                                                              r"\exp(": ")", "a^{": "}"}[t[1]] * t[0])
junk = st.text(alphabet="{}()[]^_&\\%$#!?~@`'\"|<>=,;.:-+*/0123456789eE \n∂·αβ", max_size=6)
damaged = st.tuples(entries, junk, st.integers(0, 10**6)).map(
    lambda t: t[0][:t[2] % (len(t[0]) + 1)] + t[1] + t[0][t[2] % (len(t[0]) + 1):])


class _Hung(Exception):
    pass


def _alarm(signum, frame):
    raise _Hung


def read(parse, text):
    """``parse(text)`` under the budget: the value, or the refusal; fails on anything else."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    gc.disable()  # a collection of earlier examples' garbage is not this entry's time
    signal.setitimer(signal.ITIMER_REAL, HANG)
    start = time.process_time()
    try:
        return parse(text)
    except (LatexParseError, SizeLimitError) as exc:
        assert str(exc), text
        return exc
    except _Hung:
        pytest.fail(f"hung (over {HANG} s) on {text!r}")
    finally:
        cpu = time.process_time() - start
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        gc.enable()
        assert cpu < CPU_BUDGET, f"{cpu:.3f} s of CPU (budget {CPU_BUDGET} s) on {text!r}"


def assert_exact_and_defined(value, text):
    if isinstance(value, Exception):
        return
    assert isinstance(value, sympy.Expr), (text, value)
    assert not value.has(*UNDEFINED), (text, value)
    assert not value.atoms(sympy.Float), (text, value)


@pytest.fixture(scope="module", autouse=True)
def warm_up():
    parse_expression(r"\frac{1}{4} \tanh(a_{11}) + 2.5e-1 b")  # imports and SymPy's caches


FUZZ = settings(max_examples=120, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(st.one_of(entries, deep, damaged, junk))
def test_random_entries_are_parsed_or_refused_quickly(text):
    assert_exact_and_defined(read(parse_expression, text), text)


@settings(FUZZ, max_examples=25)
@given(st.lists(st.lists(entries, min_size=1, max_size=3), min_size=1, max_size=3), junk)
def test_random_matrices_are_parsed_or_refused_quickly(rows, extra):
    body = r" \\ ".join(" & ".join(row) for row in rows)
    text = rf"\begin{{bmatrix}} {body} {extra} \end{{bmatrix}}"
    value = read(parse_matrix, text)
    if not isinstance(value, Exception):
        for entry in value:
            assert_exact_and_defined(entry, text)
