"""What the report says about conventions: the line that names the conventions a matrix is
right under, and the explanation of a convention that differs from the declared one when the
matrix has other mistakes too. Every sentence names the option that declares the convention."""

from __future__ import annotations

from jacobian_cnn.handcheck.conventions import Conventions

KINDS = {
    ("vec_order", "C"): "row_major_order", ("vec_order", "F"): "column_major_order",
    ("layout", "denominator"): "denominator_layout", ("layout", "numerator"): "numerator_layout",
    ("convolution", "true"): "kernel_flip", ("convolution", "cross"): "kernel_flip",
    ("index_base", 0): "index_base", ("index_base", 1): "index_base",
}
"""The mistake kind of a convention that differs from the declared one, by (field, value read)."""


def kind(field, value):
    """The report kind for ``field`` read as ``value`` (``"weight_orientation"``, ...)."""
    return KINDS.get((field, value), {"tie": "tie_rule"}.get(field, field))


def declare_hint(conventions, fields):
    """``declare it with --vec-order C (Python: vec_order='C')``."""
    return (f"declare it with {conventions.options(fields)} "
            f"(Python: {conventions.keywords(fields)})")


def detected_line(read, declared, fields):
    """The one line of a matrix right under conventions other than the declared ones."""
    return (f"Right under {read.describe(fields)}, not under the declared "
            f"{declared.describe(fields)}: {declare_hint(read, fields)}.")


def field_message(field, read: Conventions, declared: Conventions, problem, quantity, hint=True):
    """Why the convention ``field`` read differs from the declared one, for a person (with the
    option that declares it when ``hint``)."""
    value = getattr(read, field)
    out, var = problem.names.output, problem.names.input
    if field == "vec_order":
        text = ("rows and columns listed in row-major order, but vec lists them column by column"
                f" ({var}_{{11}}, {var}_{{21}}, ...)" if value == "C" else
                "entries listed in column-major order, but row-major order was declared")
    elif field == "layout":
        text = ("transposed: that is denominator layout (one row per variable); numerator layout "
                "has one row per output entry" if value == "denominator" else
                "one row per output entry: that is numerator layout, but denominator layout was "
                "declared")
    elif field == "convolution":
        text = _flip_text(value == "true", declared.convolution == "true", quantity)
    elif field == "index_base":
        text = (f"indices read as 0-based ({var}_{{00}} is {var}_{{11}} here)" if value == 0 else
                "indices are 1-based, but 0-based was declared")
    elif field == "weight_orientation":
        text = ("weights as in z = W x (w_{ij} joins input j to output i; W is n_out x n_in)"
                if value == "out_in" else "weights as in z = W^T x (w_{ij} joins input i to "
                "output j), but z = W x was declared")
    elif field == "tie":
        text = (f"a max-pool tie decided by the first maximum in "
                f"{value.replace('_', '-')} order, not in {declared.tie.replace('_', '-')} order "
                "(the tie rule decides which of two equal entries of a window gets its gradient)")
    elif field == "count_include_pad":
        text = ("windows that overlap the padding divided by "
                + ("the whole window size" if value else "only their taps inside the input")
                + ", not by " + ("the taps inside the input" if value else "the whole window size"))
    else:
        text = (f"{out} listed in the order of a "
                f"{Conventions(flatten_order=value).describe(['flatten_order'])}, not of a "
                f"{Conventions(flatten_order=declared.flatten_order).describe(['flatten_order'])}")
    if not hint:
        return text
    return f"{text}; if your source uses it on purpose, {declare_hint(read, [field])}"


def _flip_text(read_true, declared_true, quantity):
    if declared_true:
        return ("kernel not flipped: this operation is a true convolution, which uses the "
                "kernel rotated by 180 degrees")
    text = ("kernel flipped (rotated by 180 degrees) where it should not be: Conv2D is a "
            "cross-correlation, z_pq = Σ_rs k_rs a_(p+r-1)(q+s-1)")
    if quantity.startswith("gradient"):
        text += (" (the input gradient is a full convolution of ∂J/∂z with the rotated "
                 "kernel, but written out entry by entry the rotation is already in the "
                 "indices: ∂J/∂a_ij = Σ_pq ∂J/∂z_pq k_(i-p+1)(j-q+1))")
    return text
