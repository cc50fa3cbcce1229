"""The two cell kinds and the conventions sentence every notebook opens with."""

import textwrap


def md(text):
    """A markdown cell: ``("markdown", dedented text)``."""
    return ("markdown", textwrap.dedent(text).strip())


def code(text):
    """A code cell: ``("code", dedented source)``."""
    return ("code", textwrap.dedent(text).strip())


CONVENTIONS = ("Conventions are stated once, in [`jacobian_cnn/vec.py`](../jacobian_cnn/vec.py): "
               "`vec` is column-major, a Jacobian is `d vec(y) / d vec(x)` of shape "
               "`(y.size, x.size)`, and a gradient is a row pushed through it from the left, "
               "`g_x = g_y @ J`.")
