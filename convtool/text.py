"""How shapes and sizes read in every message, table and generated file: one spelling, one place."""

from __future__ import annotations

from collections.abc import Sequence


def fmt_shape(shape: Sequence[int] | None) -> str:
    """`(20, 33, 101, 201)`, `(33,)`; an em dash when unknown.

    >>> fmt_shape((1, 16, 6, 6)), fmt_shape((33,)), fmt_shape(None)
    ('(1, 16, 6, 6)', '(33,)', '—')
    """
    if shape is None:
        return "—"
    return f"({shape[0]},)" if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"


def fmt_size(spatial: Sequence[int]) -> str:
    """`101x201`."""
    return "x".join(map(str, spatial))


def fmt_spatial(shape: Sequence[int]) -> str:
    """The spatial part of a full (N, C, ...) shape as `37x37` (a shape without one as it is)."""
    return fmt_size(shape[2:] if len(shape) > 2 else shape)


def compact_x(values: Sequence[object]) -> str:
    """One value when every dim has it, else `3x5`.

    >>> compact_x((3, 3)), compact_x((3, 5))
    ('3', '3x5')
    """
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


def escape_controls(text: str) -> str:
    """`text` with every control or format character (newlines, ESC, BEL, bidi overrides, line
    separators, ...) written as a Python escape, so that a string from a file can neither
    steer a terminal nor end a line of generated code; backslashes are doubled so the result
    reads back unambiguously.

    >>> escape_controls("a\\nb\\x1b]0;x\\x07 é")
    'a\\\\nb\\\\x1b]0;x\\\\x07 é'
    """
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char.isprintable() or char == " ":
            out.append(char)
        else:
            out.append(repr(char)[1:-1])
    return "".join(out)
