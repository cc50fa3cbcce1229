"""Checkers users can run on their own Jacobians: finite differences and labelled comparisons.

Index conventions: :mod:`jacobian_cnn.vec`. Labels name entries by meaning, in
0-based NumPy indices of each array's own shape: ``d y[2, 1] / d x[3, 1]``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from jacobian_cnn._arguments import as_array, byte_limit, float_array
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError, SizeLimitError
from jacobian_cnn.vec import unvec, vec

__all__ = ["numerical_jacobian", "compare_jacobians", "assert_jacobian_close",
           "JacobianReport", "entry_label", "min_eps"]


def numerical_jacobian(f, x, *, eps=1e-6):
    """Central finite-difference Jacobian ``d vec(f(x)) / d vec(x)`` (dense, float64).

    Parameters
    ----------
    f : callable
        Maps an array of ``x``'s shape to an array.
    x : array_like
        Real and finite; computed in float64.
    eps : float
        Step, a finite number of at least :func:`min_eps` (``2**10`` float64
        epsilons times ``max(1, max |x|)``): a smaller step is lost in rounding
        (``x + eps == x``) or leaves mostly rounding error. The truncation error
        is ``O(eps**2)``.

    Examples
    --------
    >>> import numpy as np
    >>> from jacobian_cnn.checking import numerical_jacobian
    >>> np.round(numerical_jacobian(lambda a: a.T, np.zeros((2, 2))), 6)
    array([[1., 0., 0., 0.],
           [0., 0., 1., 0.],
           [0., 1., 0., 0.],
           [0., 0., 0., 1.]])
    """
    x = float_array(x, "x", dtype=np.float64)
    _check_eps(eps, x)
    if x.size == 0:  # no entry to perturb: the Jacobian has no column
        return np.zeros((np.size(f(x)), 0))
    columns = []
    for j in range(x.size):
        step = np.zeros(x.size)
        step[j] = eps
        step = unvec(step, x.shape)
        columns.append((vec(f(x + step)) - vec(f(x - step))) / (2 * eps))
    return np.stack(columns, axis=1).astype(np.float64)


def min_eps(x):
    """Smallest finite-difference step :func:`numerical_jacobian` accepts at ``x``."""
    scale = max(1.0, float(np.max(np.abs(x), initial=0.0)))
    return 2.0**10 * np.finfo(np.float64).eps * scale


def _check_eps(eps, x):
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, (numbers.Real, np.floating,
                                                                   np.integer)):
        raise InvalidTypeError(f"eps must be a finite positive number, got {eps!r}")
    smallest = min_eps(x)
    if not (np.isfinite(eps) and eps >= smallest):
        raise InvalidValueError(
            f"eps must be a finite number of at least {smallest:.3g} (2**10 float64 epsilons "
            f"times max(1, max |x|)), got {eps!r}: a smaller step is lost in rounding"
        )


def entry_label(i, j, y_shape, x_shape, y_name="y", x_name="x"):
    """``"d y[p, q] / d x[r, s]"`` for entry ``(i, j)`` of a Jacobian over vec order.

    Examples
    --------
    >>> from jacobian_cnn.checking import entry_label
    >>> entry_label(2, 3, (2, 2), (3, 3), "p", "a")
    'd p[0, 1] / d a[0, 1]'
    """
    yi = np.unravel_index(i, tuple(y_shape), order="F")
    xj = np.unravel_index(j, tuple(x_shape), order="F")
    fmt = lambda idx: ", ".join(str(int(k)) for k in idx)
    return f"d {y_name}[{fmt(yi)}] / d {x_name}[{fmt(xj)}]"


@dataclass
class JacobianReport:
    """Outcome of :func:`compare_jacobians`; ``str()`` gives a readable report.

    ``max_abs_error`` and ``max_rel_error`` are taken over the entries finite on both
    sides; ``non_finite`` lists ``(label, got, expected)`` of every entry (up to
    ``n_worst``) that is NaN or inf on either side, and any such entry makes ``ok``
    False. ``n_non_finite`` counts them all.
    """

    shape: tuple
    max_abs_error: float
    max_rel_error: float
    structural_mismatches: int
    worst: list
    ok: bool
    non_finite: list = field(default_factory=list)
    n_non_finite: int = 0

    def __str__(self):
        lines = [
            f"Jacobian {self.shape}: max abs error {self.max_abs_error:.3e}, "
            f"max rel error {self.max_rel_error:.3e}, "
            f"{self.structural_mismatches} structural mismatches"
            + (f", {self.n_non_finite} non-finite entries" if self.n_non_finite else "")
            + ": " + ("OK" if self.ok else "MISMATCH")
        ]
        for label, got, want in self.non_finite:
            sides = " and ".join(side for side, v in (("J", got), ("J_ref", want))
                                 if not np.isfinite(v))
            lines.append(f"  {label}: got {got!r}, expected {want!r} (not finite in {sides})")
        lines += [f"  {label}: got {got!r}, expected {want!r}" for label, got, want in self.worst]
        return "\n".join(lines)


DENSE_COMPARE_BYTES = 2 * 1024**3
"""Default limit (``max_bytes``) of the work arrays of a dense comparison (about 64
bytes per entry)."""


def _tolerance(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating,
                                                                     np.integer)):
        raise InvalidTypeError(f"{name} must be a finite non-negative number, got {value!r}")
    if not (np.isfinite(value) and value >= 0):
        raise InvalidValueError(f"{name} must be a finite non-negative number, got {value!r}")
    return float(value)


def _matrix(J, name):
    """``J`` as a real 2-D sparse array (kept sparse) or ndarray, validated."""
    if sp.issparse(J):
        M = J
    else:
        M = as_array(J, name, "a 2-D numeric array or a sparse array")
    dtype = M.dtype
    if dtype.kind == "c":
        raise InvalidTypeError(f"{name} must be real, got dtype {dtype}")
    if dtype.kind not in "biuf":
        raise InvalidTypeError(f"{name} must be a numeric array, got dtype {dtype}")
    if M.ndim != 2:
        raise InvalidValueError(f"{name} must be 2-D (y.size, x.size), got shape {M.shape}")
    return M


def _entries(M, n_cols):
    """Sorted flat keys ``i * n_cols + j`` and float64 values of ``M``'s stored entries."""
    coo = sp.coo_array(M)
    keys = coo.row.astype(np.int64) * n_cols + coo.col.astype(np.int64)
    values = coo.data.astype(np.float64)
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    if keys.size and np.any(keys[1:] == keys[:-1]):  # duplicates are summed, as scipy does
        keys, start = np.unique(keys, return_index=True)
        values = np.add.reduceat(values, start)
    return keys, values


def compare_jacobians(J, J_ref, *, y_shape=None, x_shape=None, names=("y", "x"),
                      atol=1e-7, rtol=1e-6, structure=True, n_worst=5, max_bytes=None):
    """Compare a Jacobian with a reference, entry by entry.

    Parameters
    ----------
    J, J_ref : array_like or sparse
        Same shape ``(y.size, x.size)``. When both are sparse they are compared on
        the union of their stored entries, never densified.
    y_shape, x_shape : tuple, optional
        Shapes used to label entries (default: the flat vectors).
    names : (str, str)
        Names of the output and the input in labels.
    atol, rtol : float
        Finite, non-negative. Entry ``(i, j)`` fails if
        ``|J - J_ref| > atol + rtol * |J_ref|``, and whenever it is NaN or inf on
        either side.
    structure : bool
        If ``J`` is sparse, also count its stored entries that are not nonzero in
        ``J_ref`` (beyond ``atol``) and nonzeros of ``J_ref`` it does not store.
    n_worst : int
        How many failing entries the report lists.
    max_bytes : int, optional
        Limit of the work arrays when either side is dense (about 64 bytes per
        entry; default :data:`DENSE_COMPARE_BYTES`), refused before they are made.

    Returns
    -------
    JacobianReport

    Examples
    --------
    >>> import numpy as np
    >>> from jacobian_cnn.checking import compare_jacobians
    >>> report = compare_jacobians(np.eye(2), np.array([[1., 0.], [0.5, 1.]]))
    >>> report.ok
    False
    >>> print(report)
    Jacobian (2, 2): max abs error 5.000e-01, max rel error 1.000e+00, 0 structural mismatches: MISMATCH
      d y[1] / d x[0]: got 0.0, expected 0.5

    A NaN is never within tolerance:

    >>> report = compare_jacobians(np.array([[np.nan]]), np.array([[1.0]]))
    >>> report.ok, report.non_finite
    (False, [('d y[0] / d x[0]', nan, 1.0)])
    >>> print(str(report).splitlines()[1])
      d y[0] / d x[0]: got nan, expected 1.0 (not finite in J)
    """
    atol, rtol = _tolerance(atol, "atol"), _tolerance(rtol, "rtol")
    if isinstance(n_worst, (bool, np.bool_)) or not isinstance(n_worst, numbers.Integral):
        raise InvalidTypeError(f"n_worst must be a non-negative int, got {n_worst!r}")
    if n_worst < 0:
        raise InvalidValueError(f"n_worst must be a non-negative int, got {n_worst!r}")
    got_m, want_m = _matrix(J, "J"), _matrix(J_ref, "J_ref")
    shape = tuple(int(d) for d in got_m.shape)
    if shape != tuple(want_m.shape):
        raise InvalidValueError(f"J has shape {shape} but J_ref has shape {tuple(want_m.shape)}")
    y_shape = (shape[0],) if y_shape is None else tuple(y_shape)
    x_shape = (shape[1],) if x_shape is None else tuple(x_shape)
    for name, sub, n in (("y_shape", y_shape, shape[0]), ("x_shape", x_shape, shape[1])):
        if int(np.prod(sub)) != n:
            raise InvalidValueError(f"{name} {sub} has {int(np.prod(sub))} entries but J has "
                                    f"{n} {'rows' if name == 'y_shape' else 'columns'}")
    m, n = shape
    if sp.issparse(got_m) and sp.issparse(want_m):
        keys_got, values_got = _entries(got_m, n)
        keys_want, values_want = _entries(want_m, n)
        keys = np.union1d(keys_got, keys_want)
        got, want = np.zeros(keys.size), np.zeros(keys.size)
        got[np.searchsorted(keys, keys_got)] = values_got
        want[np.searchsorted(keys, keys_want)] = values_want
        stored = np.zeros(keys.size, dtype=bool)
        stored[np.searchsorted(keys, keys_got)] = True
    else:
        limit = DENSE_COMPARE_BYTES if max_bytes is None else byte_limit(max_bytes)
        estimate = 64 * m * n
        if estimate > limit:
            raise SizeLimitError(
                f"comparing {m:,} x {n:,} Jacobians densely would need about {estimate:,} "
                f"bytes of work arrays, over max_bytes={limit:,}; pass a larger max_bytes, "
                "or both Jacobians as sparse arrays"
            )
        keys = None
        got = (got_m.toarray() if sp.issparse(got_m) else got_m).astype(np.float64).ravel()
        want = (want_m.toarray() if sp.issparse(want_m) else want_m).astype(np.float64).ravel()
        stored = None
        if sp.issparse(got_m):
            stored = np.zeros(m * n, dtype=bool)
            stored[_entries(got_m, n)[0]] = True
    finite = np.isfinite(got) & np.isfinite(want)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(finite, np.abs(got - want), 0.0)
        scale = np.where(finite, np.abs(want), 0.0)
    bad = finite & (err > atol + rtol * scale)
    mismatches = 0
    if structure and stored is not None:
        mismatches = int(np.sum(stored & finite & (scale <= atol) & (np.abs(got) > atol))
                         + np.sum(~stored & finite & (scale > atol)))

    def label(position):
        flat = int(position if keys is None else keys[position])
        i, j = divmod(flat, n)
        return (entry_label(i, j, y_shape, x_shape, *names), float(got[position]),
                float(want[position]))

    not_finite = np.flatnonzero(~finite)
    failing = np.flatnonzero(bad)
    order = failing[np.argsort(-err[failing], kind="stable")][:n_worst]
    rel = err / np.where(scale > 0, scale, 1)
    return JacobianReport(
        shape=shape,
        max_abs_error=float(err.max(initial=0.0)),
        max_rel_error=float(rel.max(initial=0.0)),
        structural_mismatches=mismatches,
        worst=[label(p) for p in order],
        ok=not bad.any() and mismatches == 0 and not_finite.size == 0,
        non_finite=[label(p) for p in not_finite[:n_worst]],
        n_non_finite=int(not_finite.size),
    )


def assert_jacobian_close(J, J_ref, **kwargs):
    """Raise ``AssertionError`` with a labelled report unless :func:`compare_jacobians` is OK.

    A NaN or inf on either side always fails.
    """
    report = compare_jacobians(J, J_ref, **kwargs)
    if not report.ok:
        raise AssertionError(str(report))
    return report
