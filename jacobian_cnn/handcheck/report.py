"""What the hand checker reports: the quantities it compares, a systematic :class:`Mistake`, one
differing entry (:class:`EntryDiff`) and the whole :class:`CheckReport` with its text."""

from __future__ import annotations

from dataclasses import dataclass, field

from jacobian_cnn.symbolic.latex import to_text

QUANTITIES = {
    "jacobian": "the Jacobian in numerator layout",
    "jacobian_labels": "the entry labels of the Jacobian",
    "gradient": "the gradient reshaped into the variable's shape",
    "gradient_row": "the gradient as a row over vec order",
    "gradient_labels": "the entry labels of the gradient, in the variable's shape",
    "gradient_row_labels": "the entry labels of the gradient row",
    "forward": "the forward result",
    "hessian": "a layer's second-order term; only when asked for",
}
"""What :func:`check_derivation` can compare, by name (``quantity=``)."""


@dataclass(frozen=True)
class Mistake:
    """A systematic mistake: ``kind`` (a short name) and a message for a person."""

    kind: str
    message: str

    def __str__(self):
        return self.message


@dataclass(frozen=True)
class EntryDiff:
    """One entry that differs, labelled by what it means.

    Attributes
    ----------
    position : (int, int)
        1-based row and column in the written matrix.
    label : str
        What the entry is, e.g. ``"∂p_{12}/∂a_{21}"`` or ``"∂J/∂a_{21}"`` (after
        undoing the diagnosed systematic mistakes).
    written, correct : sympy.Expr
    note : str
        How they differ (missing terms, a stray factor, ...), or ``""``.
    """

    position: tuple
    label: str
    written: object
    correct: object
    note: str = ""
    kinds: tuple = ()

    def __str__(self):
        note = f"; {self.note}" if self.note else ""
        return (f"{self.label}: you wrote {to_text(self.written)}, correct is "
                f"{to_text(self.correct)}{note}  [row {self.position[0]}, column {self.position[1]}]")


@dataclass
class CheckReport:
    """Outcome of :func:`check_derivation`; ``str()`` is the report for a person.

    Attributes
    ----------
    quantity : str
        Key of :data:`QUANTITIES` the written matrix was read as.
    title : str
        That quantity for this problem, e.g. ``"d vec(p) / d vec(a)"``.
    problem : str
        The layer and input, e.g. ``"AvgPool2D(2x2, stride=1) on a 3x3 input"``.
    shape : (int, int)
        Shape of the written matrix.
    mistakes : list of Mistake
        Systematic mistakes (empty if none).
    diffs : list of EntryDiff
        Entries that still differ once the systematic mistakes are undone.
    n_entries, n_matching : int
        Entries in total, and matching under the diagnosis.
    source : str
        Where the matrix came from (for LaTeX text with several matrices).
    declared : Conventions
        The conventions the matrix was declared in (resolved against the problem).
    read_under : Conventions
        The conventions of the reading that explains it best.
    detected : tuple of str
        When the matrix is right, but only under conventions other than the declared ones: the
        fields that differ (``ok`` is then ``False`` and :attr:`verdict` is
        ``"right_under_other_conventions"``).
    entry_status : numpy.ndarray of str
        Per written entry ``"right"``, ``"wrong"`` or ``"convention"``.
    """

    quantity: str
    title: str
    problem: str
    shape: tuple
    mistakes: list = field(default_factory=list)
    diffs: list = field(default_factory=list)
    n_entries: int = 0
    n_matching: int = 0
    source: str = ""
    declared: object = None
    read_under: object = None
    detected: tuple = ()
    detected_kinds: set = field(default_factory=set)
    detected_notes: list = field(default_factory=list)
    entry_status: object = None
    relevant: tuple = ("index_base", "vec_order", "layout")
    renamed: dict = field(default_factory=dict)
    written: object = None

    @property
    def ok(self):
        """``True`` when the written matrix is exactly right under the declared conventions."""
        return not self.mistakes and not self.diffs and not self.detected

    @property
    def verdict(self):
        """``"correct"``, ``"right_under_other_conventions"`` or ``"wrong"``."""
        if self.ok:
            return "correct"
        return "right_under_other_conventions" if self.detected else "wrong"

    @property
    def kinds(self):
        """The set of mistake kinds, e.g. ``{"row_major_reshape", "stray_factor"}`` (with the
        kinds of the conventions detected, e.g. ``{"denominator_layout"}``)."""
        return {m.kind for m in self.mistakes} | set(self.detected_kinds)

    @property
    def detected_line(self):
        """The one line naming the conventions the matrix is right under, or ``""``."""
        if not self.detected:
            return ""
        from jacobian_cnn.handcheck.wording import detected_line

        return detected_line(self.read_under, self.declared, list(self.detected))

    def _repr_html_(self):
        from jacobian_cnn.handcheck.display import report_html

        return report_html(self)

    def _repr_markdown_(self):
        from jacobian_cnn.handcheck.display import report_markdown

        return report_markdown(self)

    def _repr_latex_(self):
        from jacobian_cnn.handcheck.display import report_latex

        return report_latex(self)

    def _conventions_line(self):
        if self.declared is None:
            return ""
        fields = [f for f in self.relevant if getattr(self.declared, f) is not None]
        names = "".join(f"\nNames: {theirs} read as the {role} {ours} (--{role}-name {theirs} "
                        f"declares it)" for theirs, (role, ours) in self.renamed.items())
        return f"\nConventions: {self.declared.describe(fields)}{names}"

    def __str__(self):
        head = (f"Checked: a {self.shape[0]}x{self.shape[1]} matrix{self.source}, read as "
                f"{self.title} ({QUANTITIES[self.quantity]})\nProblem: {self.problem}"
                f"{self._conventions_line()}")
        if self.ok:
            return f"{head}\nCorrect: all {self.n_entries} entries match."
        if self.detected:
            notes = "".join(f"\n  as declared, that would be: {n}" for n in self.detected_notes)
            return f"{head}\n{self.detected_line}{notes}"
        lines = [head]
        if self.mistakes:
            lines.append("Mistakes:")
            lines += [f"  - {m.message}" for m in self.mistakes]
        if self.diffs:
            undone = " once the systematic mistakes are undone" if any(
                m.kind in _STRUCTURAL for m in self.mistakes) else ""
            lines.append(f"Entries that differ{undone} ({len(self.diffs)} of {self.n_entries}):")
            summarised = self.kinds & {"rows_permuted", "uniform_factor"}
            shown = self.diffs[:2] if summarised else self.diffs
            lines += [f"  {d}" for d in shown]
            if len(shown) < len(self.diffs):
                lines.append(f"  ... and {len(self.diffs) - len(shown)} more, each explained by "
                             "the one mistake above")
        else:
            lines.append(f"Every entry matches once the mistakes above are undone "
                         f"({self.n_entries} entries).")
        return "\n".join(lines)


_STRUCTURAL = {"row_major_reshape", "row_major_order", "denominator_layout", "transposed",
               "kernel_flip", "window_shift"}
