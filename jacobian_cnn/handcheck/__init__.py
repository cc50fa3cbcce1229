"""The hand-derivation checker: reads a written matrix and names its mistakes (extra ``symbolic``)."""

from jacobian_cnn.handcheck.check import (
    QUANTITIES,
    CheckReport,
    EntryDiff,
    Mistake,
    as_written_matrix,
    check_derivation,
)
from jacobian_cnn.handcheck.conventions import Conventions

__all__ = ["check_derivation", "as_written_matrix", "CheckReport", "Mistake", "EntryDiff",
           "QUANTITIES", "Conventions"]
