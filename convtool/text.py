"""How shapes and sizes read in every message, table and generated file: one spelling, one place;
and values as YAML flow text that `yaml.safe_load` reads back as they are."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any


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


# -- YAML: values that yaml.safe_load reads back as they are ------------------------------------

_PLAIN = re.compile(r"\.|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*")  # `.`, a name, or a path `use.name`
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def yaml_value(value: Any) -> str:
    """A value in YAML flow style that `yaml.safe_load` reads back as the same value.

    >>> yaml_value({"type": "relu", "inplace": False, "p": 0.5, "shape": [3, 4], "x": None, "s": "a b"})
    '{type: relu, inplace: false, p: 0.5, shape: [3, 4], x: null, s: "a b"}'
    >>> yaml_value({"from": "enc.out", "to": "yes", "inputs": [".", "up_padded"]})  # a word YAML reads otherwise
    '{from: enc.out, to: "yes", inputs: [., up_padded]}'
    """
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return yaml_float(value)
    if isinstance(value, int):
        return repr(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    import json  # only to quote: the shape path never needs it

    return json.dumps(text)


def yaml_float(value: float) -> str:
    """YAML 1.1 reads `1e-05` as a string: the mantissa needs a dot (`1.0e-05`).

    >>> yaml_float(1e-05), yaml_float(0.2), yaml_float(float("inf"))
    ('1.0e-05', '0.2', '.inf')
    """
    if math.isinf(value) or math.isnan(value):
        return {"inf": ".inf", "-inf": "-.inf"}.get(repr(value), ".nan")
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return text
