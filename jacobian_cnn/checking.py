"""Checkers users can run on their own Jacobians: finite differences and labelled comparisons.

Index conventions: :mod:`jacobian_cnn.vec`. Labels name entries by meaning, in
0-based NumPy indices of each array's own shape: ``d y[2, 1] / d x[3, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .errors import InvalidValueError
from .vec import unvec, vec

__all__ = ["numerical_jacobian", "compare_jacobians", "assert_jacobian_close",
           "JacobianReport", "entry_label"]


def numerical_jacobian(f, x, *, eps=1e-6):
    """Central finite-difference Jacobian ``d vec(f(x)) / d vec(x)`` (dense, float64).

    Parameters
    ----------
    f : callable
        Maps an array of ``x``'s shape to an array.
    x : array_like
    eps : float
        Step; the truncation error is ``O(eps**2)``.

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
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:  # no entry to perturb: the Jacobian has no column
        return np.zeros((np.size(f(x)), 0))
    columns = []
    for j in range(x.size):
        step = np.zeros(x.size)
        step[j] = eps
        step = unvec(step, x.shape)
        columns.append((vec(f(x + step)) - vec(f(x - step))) / (2 * eps))
    return np.stack(columns, axis=1).astype(np.float64)


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
    """Outcome of :func:`compare_jacobians`; ``str()`` gives a readable report."""

    shape: tuple
    max_abs_error: float
    max_rel_error: float
    structural_mismatches: int
    worst: list
    ok: bool

    def __str__(self):
        lines = [
            f"Jacobian {self.shape}: max abs error {self.max_abs_error:.3e}, "
            f"max rel error {self.max_rel_error:.3e}, "
            f"{self.structural_mismatches} structural mismatches: "
            + ("OK" if self.ok else "MISMATCH")
        ]
        lines += [f"  {label}: got {got!r}, expected {want!r}" for label, got, want in self.worst]
        return "\n".join(lines)


def _dense(J):
    return J.toarray() if sp.issparse(J) else np.asarray(J)


def compare_jacobians(J, J_ref, *, y_shape=None, x_shape=None, names=("y", "x"),
                      atol=1e-7, rtol=1e-6, structure=True, n_worst=5):
    """Compare a Jacobian with a reference, entry by entry.

    Parameters
    ----------
    J, J_ref : array_like or sparse
        Same shape ``(y.size, x.size)``.
    y_shape, x_shape : tuple, optional
        Shapes used to label entries (default: the flat vectors).
    names : (str, str)
        Names of the output and the input in labels.
    atol, rtol : float
        Entry ``(i, j)`` fails if ``|J - J_ref| > atol + rtol * |J_ref|``.
    structure : bool
        If ``J`` is sparse, also count its stored entries that are not nonzero in
        ``J_ref`` (beyond ``atol``) and nonzeros of ``J_ref`` it does not store.

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
    """
    got, want = _dense(J), _dense(J_ref)
    if got.shape != want.shape:
        raise InvalidValueError(f"J has shape {got.shape} but J_ref has shape {want.shape}")
    y_shape = (got.shape[0],) if y_shape is None else tuple(y_shape)
    x_shape = (got.shape[1],) if x_shape is None else tuple(x_shape)
    err = np.abs(got.astype(np.float64) - want.astype(np.float64))
    scale = np.abs(want.astype(np.float64))
    bad = err > atol + rtol * scale
    mismatches = 0
    if structure and sp.issparse(J):
        stored = np.zeros(got.shape, dtype=bool)
        coo = sp.coo_array(J)
        stored[coo.row, coo.col] = True
        mismatches = int(np.sum(stored & (scale <= atol) & (np.abs(got) > atol))
                         + np.sum(~stored & (scale > atol)))
    order = np.argsort(np.where(bad, err, -1), axis=None)[::-1][: min(n_worst, int(bad.sum()))]
    worst = []
    for flat in order:
        i, j = np.unravel_index(flat, got.shape)
        worst.append((entry_label(i, j, y_shape, x_shape, *names),
                      float(got[i, j]), float(want[i, j])))
    rel = err / np.where(scale > 0, scale, 1)
    return JacobianReport(
        shape=got.shape,
        max_abs_error=float(err.max(initial=0.0)),
        max_rel_error=float(rel.max(initial=0.0)),
        structural_mismatches=mismatches,
        worst=worst,
        ok=not bad.any() and mismatches == 0,
    )


def assert_jacobian_close(J, J_ref, **kwargs):
    """Raise ``AssertionError`` with a labelled report unless :func:`compare_jacobians` is OK."""
    report = compare_jacobians(J, J_ref, **kwargs)
    if not report.ok:
        raise AssertionError(str(report))
    return report
