"""The errors this package raises on purpose.

Every deliberate refusal (bad input, an impossible geometry, a size over its limit)
is a :class:`JacobianCNNError`, and also the built-in exception a caller would expect
(``ValueError``, ``TypeError``, ``MemoryError``), so ``except ValueError`` keeps
working. The message names the argument, the value received and what is allowed.
Anything else that escapes the package is a bug: the command line prints its
traceback instead of hiding it behind a one-line message.
"""

from __future__ import annotations

__all__ = ["JacobianCNNError", "InvalidValueError", "InvalidTypeError", "SizeLimitError",
           "JacobianTooLargeError"]


class JacobianCNNError(Exception):
    """Base of every error the package raises on purpose."""


class InvalidValueError(JacobianCNNError, ValueError):
    """An argument has an allowed type but a value that is not allowed."""


class InvalidTypeError(JacobianCNNError, TypeError):
    """An argument has a type that is not allowed."""


class SizeLimitError(JacobianCNNError, MemoryError, ValueError):
    """A problem's estimated size exceeds a limit; raised before any large allocation.

    The message names the estimate, the limit and the argument (or option) that raises it.
    """


class JacobianTooLargeError(SizeLimitError):
    """A Jacobian's estimated size exceeds ``max_bytes``; raised before any allocation."""
