"""The keys a layer kind takes: each key's checker, its message naming the key."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..params import Shape

if TYPE_CHECKING:
    pass


class OptionError(ConfigError):
    """A layer option is missing, unknown, of the wrong type or invalid.

    `key` names it (None: the layer as a whole); `where` says which mark to point at:
    the key itself ('key'), its value ('value') or the layer ('layer').
    """

    def __init__(
        self, message: str, *, key: str | None = None, where: str = "value", hint: Any = None
    ) -> None:
        super().__init__(message, hint=hint, key=key)
        self.where = where


class SkipMismatch(ConfigError):
    """A concat/add whose skip tensor does not fit the current tensor."""

    def __init__(self, message: str, *, skip: int, current: Shape, other: Shape, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.skip = skip  # position in the layer's `with` list
        self.current = current
        self.other = other


# -- option checkers ------------------------------------------------------------------------


def describe(value: object) -> str:
    """How a YAML value reads to a user: `'two' (a string)`.

    >>> describe(True), describe(2.5), describe("x")
    ('true (a boolean)', '2.5 (a float)', "'x' (a string)")
    """
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if value is None:
        return "null"
    kinds = {int: "an int", float: "a float", str: "a string", list: "a list", dict: "a mapping"}
    for typ, label in kinds.items():
        if isinstance(value, typ):
            return f"{_short(value)} ({label})"
    return f"{_short(value)} (a {type(value).__name__})"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_hint(value: object, want: str) -> str | None:
    """The closest valid spelling of a wrongly typed value, when there is one."""
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text)
            return f"write {number} without quotes"
        except ValueError:
            pass
        if want == "int" and "x" in text and all(p.strip().isdigit() for p in text.split("x")):
            return f"write a list: [{', '.join(p.strip() for p in text.split('x'))}]"
    if isinstance(value, bool) and want == "int":
        return "true/false are booleans in YAML; write a number"
    if isinstance(value, float) and want == "int" and value.is_integer():
        return f"write {int(value)} (an int, not a float)"
    return None


@dataclass(frozen=True)
class Key:
    """One option of a layer kind: its checker, default, and what it expects (for errors)."""

    name: str
    check: Callable[[str, object], object]
    default: object = None
    required: bool = False


def _fail(key: str, value: object, expects: str, want: str = "") -> OptionError:
    return OptionError(
        f"key '{key}' expects {expects}, but got {describe(value)}", key=key, hint=_type_hint(value, want)
    )


def int_key(minimum: int = 1) -> Callable[[str, object], object]:
    def check(key: str, value: object) -> object:
        if not _is_int(value):
            raise _fail(key, value, f"an int >= {minimum}", "int")
        if value < minimum:  # type: ignore[operator]
            raise OptionError(f"key '{key}' must be at least {minimum}, but got {value}", key=key)
        return value

    return check


AXES = {1: "(L)", 2: "(H, W)", 3: "(D, H, W)"}  # how a list of per-dim values is read


def spatial_key(minimum: int = 0, strings: tuple[str, ...] = (), ndim: int = 2) -> Callable[[str, object], object]:
    """An int, or a list of `ndim` ints (one per spatial dim); sign limits are left to PyTorch's checks."""

    def check(key: str, value: object) -> object:
        if isinstance(value, str) and value in strings:
            return value
        expects = f"an int or a list of {ndim} ints" + "".join(f" or '{s}'" for s in strings)
        if _is_int(value):
            return value
        if isinstance(value, list) and all(_is_int(v) for v in value):
            if len(value) != ndim:
                raise OptionError(
                    f"key '{key}' expects one value or {ndim} values {AXES[ndim]}, but got {len(value)}: {value}",
                    key=key,
                )
            return tuple(value)
        raise _fail(key, value, expects, "int")

    return check


def bool_key(key: str, value: object) -> object:
    if not isinstance(value, bool):
        hint = None
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
            hint = f"write {value.lower() in ('true', 'yes')!s} without quotes".replace("True", "true").replace(
                "False", "false"
            )
        elif value in (0, 1):
            hint = f"write {'true' if value else 'false'}"
        raise OptionError(f"key '{key}' expects true or false, but got {describe(value)}", key=key, hint=hint)
    return value


def float_key(low: float | None = None, high: float | None = None, nullable: bool = False) -> Callable[[str, object], object]:
    """A number; YAML 1.1 reads `1e-5` as a string, so numeric strings are accepted too."""

    def check(key: str, value: object) -> object:
        if value is None and nullable:
            return None
        number: float | None = None
        if _is_number(value):
            number = float(value)  # type: ignore[arg-type]
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                number = None
        if number is None or math.isnan(number):
            raise _fail(key, value, "a number" + (" or null" if nullable else ""))
        if (low is not None and number < low) or (high is not None and number > high):
            allowed = (f"between {low:g} and {high:g}" if low is not None and high is not None
                       else f"at least {low:g}" if low is not None else f"at most {high:g}")
            raise OptionError(f"key '{key}' must be {allowed}, but got {number:g}", key=key)
        return number

    return check


def choice_key(*options: str) -> Callable[[str, object], object]:
    def check(key: str, value: object) -> object:
        if value not in options or not isinstance(value, str):
            close = difflib.get_close_matches(str(value), options, n=1)
            raise OptionError(
                f"key '{key}' must be one of {', '.join(repr(o) for o in options)}, but got {describe(value)}",
                key=key,
                hint=f"did you mean {close[0]!r}?" if close else None,
            )
        return value

    return check


def names_key(key: str, value: object) -> object:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise _fail(key, value, "a layer name or a list of layer names")


def shape_key(key: str, value: object) -> object:
    """A list of ints >= 1, with at most one -1 (inferred)."""
    if (
        isinstance(value, list)
        and value
        and all(_is_int(v) and (v >= 1 or v == -1) for v in value)
        and sum(1 for v in value if v == -1) <= 1
    ):
        return tuple(value)
    raise _fail(key, value, "a list of ints >= 1 (one of them may be -1)")


def scale_key(key: str, value: object) -> object:
    """A scale factor: a number, or a list of one per spatial dim (1 to 3; the rank checks the count)."""

    def fine(v: object) -> bool:
        return _is_number(v) and 0 < v < 2**31  # type: ignore[operator]

    if fine(value):
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, list) and 1 <= len(value) <= 3 and all(fine(v) for v in value):
        return tuple(float(v) for v in value)
    raise _fail(key, value, "a positive (finite) number or a list of 1 to 3 of them")


def size_key(nullable_entries: bool = False, full_shape: bool = False, ndim: int | None = 2) -> Callable[[str, object], object]:
    """An output size: an int, one int per spatial dim, or (full_shape, as PyTorch's output_size)
    [N, C, *spatial]; `ndim` None: any count from 1 to 3 (the rank of the input checks it), and an
    int stays an int. A `{like: NAME}` is another tensor's spatial size (`like_key`)."""
    lengths = (ndim, ndim + 2) if full_shape and ndim else (ndim,) if ndim else (1, 2, 3)
    shown = {1: "[N, C, L]", 2: "[N, C, H, W]", 3: "[N, C, D, H, W]"}.get(ndim or 0, "")

    def check(key: str, value: object) -> object:
        ok = (lambda v: _is_int(v) and v >= 1 or (nullable_entries and v is None))  # noqa: E731
        if _is_int(value) and value >= 1:  # type: ignore[operator]
            return (value,) * ndim if ndim else value
        if isinstance(value, list) and len(value) in lengths and all(ok(v) for v in value):
            return tuple(value)
        extra = " (null keeps the input size)" if nullable_entries else ""
        extra += f" or a full {shown} shape" if full_shape else ""
        count = f"{ndim} such ints" if ndim else "1 to 3 such ints"
        raise _fail(key, value, f"an int >= 1 or a list of {count}{extra}", "int")

    return check


def like_key(check: Callable[[str, object], object]) -> Callable[[str, object], object]:
    """`check`'s value, or `{like: NAME}`: the spatial size of the earlier tensor NAME (read as a
    further input of the layer, see `LayerKind.references`)."""

    def checked(key: str, value: object) -> object:
        if isinstance(value, dict) and list(value) == ["like"]:
            name = value["like"]
            if isinstance(name, str) and name:
                return Like(name)
            raise _fail(key, name, "the name of an earlier tensor in {like: NAME}")
        return check(key, value)

    return checked


@dataclass(frozen=True)
class Like:
    """A size written `{like: NAME}`: NAME's spatial size, known when the layer is applied."""

    name: str

    def __repr__(self) -> str:
        return f"{{like: {self.name}}}"


def dim_key(key: str, value: object) -> object:
    if not _is_int(value):
        raise _fail(key, value, "an int (a dimension index, may be negative)", "int")
    return value


def in_channels_key(key: str, value: object) -> object:
    return int_key(1)(key, value)


def crop_key(key: str, value: object) -> object:
    if value is None or value is False:
        return None
    if value == "center":
        return "center"
    raise OptionError(
        f"key 'crop' must be 'center' (center-crop the skip tensors to the current size), but got {describe(value)}",
        key=key,
    )
