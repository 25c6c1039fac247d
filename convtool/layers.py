"""Every layer kind of an architecture file (SPEC §5.2, §5.3): keys, shape rule, cost,
footprint (exact receptive field) and numeric rule.

Shapes, params and MACs are pure Python; convolutions go through the shape engine
(`convtool.shape`), never a formula of their own. numpy is imported inside the numeric
rules only, so loading and propagating a stack never imports it.

A kind is applied to the incoming tensor shape (and, for concat/add, the skip tensors'
shapes) and returns an `Applied`: output shape, params, MACs, the compact config for
the table, notes, and the explicit PyTorch constructor arguments (channels inferred).

>>> applied = KINDS["conv_transpose2d"].apply(
...     KINDS["conv_transpose2d"].parse({"out_channels": 8, "kernel_size": 3, "stride": 2}),
...     (1, 16, 5, 5))
>>> applied.output, applied.param_count, applied.macs, applied.config
((1, 8, 11, 11), 1160, 28800, 'k3 s2')
"""

from __future__ import annotations

import difflib
import math
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from math import prod
from typing import TYPE_CHECKING, Any

from . import shape as engine
from .errors import ConfigError
from .params import ConvParams
from .text import compact_x, fmt_size

if TYPE_CHECKING:
    import numpy as np

Shape = tuple[int, ...]


# -- errors ---------------------------------------------------------------------------------


class OptionError(ConfigError):
    """A layer option is missing, unknown, of the wrong type or invalid.

    `key` names it (None: the layer as a whole); `where` says which mark to point at:
    the key itself ('key'), its value ('value') or the layer ('layer').
    """

    def __init__(
        self, message: str, *, key: str | None = None, where: str = "value", hint: Any = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.key = key
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
                    f"key '{key}' expects one value or {ndim} values (H, W), but got {len(value)}: {value}",
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
    def fine(v: object) -> bool:
        return _is_number(v) and 0 < v < 2**31  # type: ignore[operator]

    if fine(value):
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, list) and len(value) == 2 and all(fine(v) for v in value):
        return tuple(float(v) for v in value)
    raise _fail(key, value, "a positive (finite) number or a list of 2 of them")


def size_key(nullable_entries: bool = False, full_shape: bool = False) -> Callable[[str, object], object]:
    """An output size: an int, [H, W], or (full_shape, as PyTorch's output_size) [N, C, H, W]."""
    lengths = (2, 4) if full_shape else (2,)

    def check(key: str, value: object) -> object:
        ok = (lambda v: _is_int(v) and v >= 1 or (nullable_entries and v is None))  # noqa: E731
        if _is_int(value) and value >= 1:  # type: ignore[operator]
            return (value, value)
        if isinstance(value, list) and len(value) in lengths and all(ok(v) for v in value):
            return tuple(value)
        extra = " (null keeps the input size)" if nullable_entries else ""
        extra += " or a full [N, C, H, W] shape" if full_shape else ""
        raise _fail(key, value, f"an int >= 1 or a list of 2 such ints{extra}", "int")

    return check


def dim_key(key: str, value: object) -> object:
    if not _is_int(value):
        raise _fail(key, value, "an int (a dimension index, may be negative)", "int")
    return value


def _in_channels_key(key: str, value: object) -> object:
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


# -- footprints (exact receptive field, SPEC §2.6) ------------------------------------------


@dataclass
class Footprint:
    """Per spatial dim and per position: the first and last network-input index it depends on.

    `dims` is None once the tensor is not spatial; `cover` is the union over every
    position (what a global operation, or a linear layer after flatten, depends on);
    both are None when the network's input itself is not spatial.

    >>> fp = Footprint.identity((4, 3))
    >>> fp.field()
    (1, 1)
    """

    dims: tuple[list[tuple[int, int] | None], ...] | None
    cover: tuple[tuple[int, int] | None, ...] | None
    _field: tuple[int, ...] | None = field(default=None, repr=False)

    @classmethod
    def identity(cls, spatial: Sequence[int]) -> Footprint:
        dims: tuple[list[tuple[int, int] | None], ...] = tuple([(i, i) for i in range(n)] for n in spatial)
        return cls(dims, tuple((0, n - 1) for n in spatial))

    @classmethod
    def none(cls) -> Footprint:
        return cls(None, None)

    def field(self) -> tuple[int, ...] | None:
        """The receptive field per dim: max over positions of hi - lo + 1 (0: no dependence)."""
        if self.dims is None:
            return None
        if self._field is None:
            self._field = tuple(
                max((iv[1] - iv[0] + 1 for iv in dim if iv is not None), default=0) for dim in self.dims
            )
        return self._field

    def flat(self) -> Footprint:
        """The same dependence, no longer spatial (after flatten)."""
        return Footprint(None, self.cover)

    def everywhere(self, spatial: Sequence[int]) -> Footprint:
        """Every position of a tensor of this spatial size depends on the whole cover."""
        if self.cover is None or len(self.cover) != len(spatial):
            return Footprint(None, self.cover)
        return Footprint(tuple([c] * n for c, n in zip(self.cover, spatial)), self.cover)


def _union(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    if a is None:
        return b
    if b is None:
        return a
    return (a[0] if a[0] < b[0] else b[0], a[1] if a[1] > b[1] else b[1])


def _span(dim: list[tuple[int, int] | None]) -> tuple[int, int] | None:
    lo = hi = None
    for iv in dim:
        if iv is not None:
            if lo is None or iv[0] < lo:
                lo = iv[0]
            if hi is None or iv[1] > hi:
                hi = iv[1]
    return None if lo is None else (lo, hi)  # type: ignore[return-value]


def gather(dim: list[tuple[int, int] | None], deps: Iterable[Iterable[int]]) -> list[tuple[int, int] | None]:
    """Per output position, the union of the footprints of the input indices it reads.

    >>> gather([(0, 0), (1, 1), (2, 2)], [[0, 1], [2], []])
    [(0, 1), (2, 2), None]
    """
    out: list[tuple[int, int] | None] = []
    append = out.append
    for idx in deps:
        lo = hi = None
        for i in idx:
            iv = dim[i]
            if iv is None:
                continue
            if lo is None or iv[0] < lo:
                lo = iv[0]
            if hi is None or iv[1] > hi:
                hi = iv[1]
        append(None if lo is None else (lo, hi))  # type: ignore[arg-type]
    return out


def _map_fp(fp: Footprint, per_dim: Callable[[int, list[tuple[int, int] | None]], list[tuple[int, int] | None]]) -> Footprint:
    if fp.dims is None:
        return fp
    return Footprint(tuple(per_dim(axis, dim) for axis, dim in enumerate(fp.dims)), fp.cover)


def _padded_index(j: int, size: int, mode: str) -> int | None:
    """Where padded index j (0-based in the unpadded input) reads from, by padding mode."""
    if 0 <= j < size:
        return j
    if mode == "zeros":
        return None
    if mode == "replicate":
        return 0 if j < 0 else size - 1
    if mode == "circular":
        return j % size
    # reflect (without repeating the edge), as F.pad
    period = 2 * (size - 1)
    j = abs(j) % period if period else 0
    return period - j if j >= size else j


def window_deps(
    size: int, out: int, k: int, s: int, before: int, d: int, mode: str = "zeros"
) -> list[list[int]]:
    """Input indices each output of a sliding window (conv, pool) reads.

    >>> window_deps(5, 3, 3, 2, 1, 1)
    [[0, 1], [1, 2, 3], [3, 4]]
    """
    deps = []
    for o in range(out):
        start = o * s - before
        idx = [_padded_index(start + t * d, size, mode) for t in range(k)]
        deps.append([i for i in idx if i is not None])
    return deps


def transpose_deps(size: int, out: int, k: int, s: int, p: int, d: int) -> list[list[int]]:
    """Input indices each output of a transposed convolution receives taps from.

    >>> transpose_deps(2, 5, 3, 2, 0, 1)
    [[0], [0], [1, 0], [1], [1]]
    """
    deps = []
    for o in range(out):
        idx = []
        for t in range(k):
            full = o + p - t * d
            if full % s == 0 and 0 <= full // s < size:
                idx.append(full // s)
        deps.append(idx)
    return deps


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """A layer kind applied to one input: what the table shows and what export/numeric need.

    `args` are the explicit PyTorch constructor arguments, channels inferred (empty for
    concat/add, which are operations in `forward`); `conv` is the resolved ConvParams
    of a convolution (output_size already turned into output_padding).
    """

    output: Shape
    param_count: int = 0
    macs: int = 0
    config: str = ""
    notes: tuple[str, ...] = ()
    args: Mapping[str, Any] = field(default_factory=dict)
    conv: ConvParams | None = None
    crops: tuple[tuple[int, ...], ...] = ()  # concat/add: per skip, the crop offset per dim


# -- layer kinds ----------------------------------------------------------------------------


CONV_TILE_ELEMENTS = 16 << 20  # bound on one thread's columns (64 MiB in float32)


class LayerKind:
    """One `type:` of an architecture file. Subclasses set the keys and the rules."""

    name = ""
    torch_class: str | None = None  # `nn.<class>` for export; None for concat/add
    keys: tuple[Key, ...] = ()
    skip = False  # concat/add: takes `with:`
    elementwise = False  # output shape == input shape and position-wise dependence

    def key_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)

    def parse(self, options: Mapping[str, object]) -> dict[str, Any]:
        """Check the options written in the file (type, name excluded); fill defaults."""
        known = {k.name: k for k in self.keys}
        for key in options:
            if key not in known:
                close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
                listing = ", ".join(known) or "no options"
                raise OptionError(
                    f"unknown key '{key}' for {self.name}",
                    key=key,
                    where="key",
                    hint=(f"did you mean '{close[0]}'? " if close else "") + f"{self.name} takes: {listing}",
                )
        config: dict[str, Any] = {}
        for spec in self.keys:
            if spec.name in options:
                config[spec.name] = spec.check(spec.name, options[spec.name])
            elif spec.required:
                raise OptionError(
                    f"missing key '{spec.name}' for {self.name}",
                    key=spec.name,
                    where="layer",
                    hint=f"{self.name} needs: {', '.join(k.name for k in self.keys if k.required)}",
                )
            else:
                config[spec.name] = spec.default
        self.validate(config)
        return config

    def validate(self, config: dict[str, Any]) -> None:
        """Input-free checks across keys (PyTorch's constructor checks)."""

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        raise NotImplementedError

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        return fp

    def period(self, config: Mapping[str, Any]) -> tuple[int, ...]:
        """Per spatial dim, the factor the layer divides sizes by (a stride, a downscale):
        the valid input sizes of a stack repeat with the product of these (SPEC §5.4)."""
        return (1, 1)

    # numeric rule: parameters (seeded, PyTorch's init) and forward
    def init(self, applied: Applied, x: Shape, rng: Any, dtype: Any) -> dict[str, np.ndarray]:
        return {}

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        raise NotImplementedError

    def workspace(self, applied: Applied, x: Shape, out: Shape) -> int:
        """Elements `forward` allocates beside its input and output, at most (for --verify's
        memory estimate; measured with the peak resident set, see the tests)."""
        return prod(x) + prod(out)


def _require_rank(name: str, x: Shape, ranks: tuple[int, ...], what: str | None = None) -> None:
    if len(x) not in ranks:
        allowed = " or ".join(f"{r}D" for r in ranks)
        raise ConfigError(
            f"{name} expects {what or allowed} input, but got input of size: {list(x)}",
            hint="only flatten/linear/unflatten/reshape work on non-spatial tensors"
            if len(x) < min(ranks)
            else None,
        )


_KEY_OF_MESSAGE = (
    ("padding_mode", "padding_mode"),
    ("output padding", "output_padding"),
    ("output_padding", "output_padding"),
    ("padding", "padding"),
    ("stride", "stride"),
    ("dilation", "dilation"),
    ("kernel", "kernel_size"),
    ("in_channels", "in_channels"),
    ("out_channels", "out_channels"),
    ("groups", "groups"),
)


def _key_of(message: str) -> str | None:
    lowered = message.lower()
    for needle, key in _KEY_OF_MESSAGE:
        if needle in lowered:
            return key
    return None


def _as_option_error(error: ConfigError) -> OptionError:
    return OptionError(error.message, key=_key_of(error.message), hint=error.hint_lines)


def _uniform(rng: Any, bound: float, shape: Sequence[int], dtype: Any) -> np.ndarray:
    from .numeric import uniform

    return uniform(rng, bound, tuple(shape), dtype)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


class Conv(LayerKind):
    """conv2d and conv_transpose2d: all of PyTorch's arguments; output_size for the latter."""

    def __init__(self, transposed: bool) -> None:
        self.transposed = transposed
        self.name = "conv_transpose2d" if transposed else "conv2d"
        self.torch_class = "ConvTranspose2d" if transposed else "Conv2d"
        keys = [
            Key("in_channels", _in_channels_key),
            Key("out_channels", int_key(1), required=True),
            Key("kernel_size", spatial_key(), required=True),
            Key("stride", spatial_key(), 1),
            Key("padding", spatial_key(strings=() if transposed else ("same", "valid")), 0),
        ]
        if transposed:
            keys += [Key("output_padding", spatial_key(), 0), Key("output_size", size_key(full_shape=True))]
        keys += [
            Key("dilation", spatial_key(), 1),
            Key("groups", int_key(1), 1),
            Key("bias", bool_key, True),
            Key("padding_mode", choice_key("zeros", "reflect", "replicate", "circular"), "zeros"),
        ]
        self.keys = tuple(keys)

    def params(self, config: Mapping[str, Any], in_channels: int | None = None) -> ConvParams:
        common = dict(
            in_channels=in_channels if in_channels is not None else config["in_channels"],
            out_channels=config["out_channels"],
            ndim=2,
        )
        if self.transposed:
            return ConvParams.conv_transpose(
                config["kernel_size"], config["stride"], config["padding"], config["output_padding"],
                config["groups"], config["bias"], config["dilation"], config["padding_mode"], **common,
            )
        return ConvParams.conv(
            config["kernel_size"], config["stride"], config["padding"], config["dilation"],
            config["groups"], config["bias"], config["padding_mode"], **common,
        )

    def period(self, config: Mapping[str, Any]) -> tuple[int, ...]:
        return (1, 1) if self.transposed else self.params(config).stride

    def validate(self, config: dict[str, Any]) -> None:
        if self.transposed and config["output_size"] is not None and config["output_padding"] != 0:
            raise OptionError(
                "give output_padding or output_size, not both (PyTorch ignores output_padding "
                "when output_size is given)",
                key="output_size",
            )
        try:
            # a Conv2d checks its numbers in forward; a file is better told at load time
            self.params(config).check_numbers()
        except ConfigError as error:
            raise _as_option_error(error) from None

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        if len(x) == 3:  # PyTorch would take it as unbatched; files keep the batch dim
            raise ConfigError(
                f"{self.name} in an architecture file needs an (N, C, H, W) input, but got input of size: {list(x)}",
                hint="give the input as [N, C, H, W]",
            )
        if len(x) != 4:
            raise ConfigError(
                f"Expected 3D (unbatched) or 4D (batched) input to {self.name}, but got input of size: {list(x)}",
                hint="architecture files are 2-D: a conv2d needs an (N, C, H, W) tensor",
            )
        written = self.params(config)
        if written.in_channels is not None and written.in_channels != x[1]:
            engine.output_shape(written, x)  # raises PyTorch's message
        params = self.params(config, in_channels=x[1])
        notes: list[str] = []
        if self.transposed and config["output_size"] is not None:
            op = engine.output_padding_for(params, x, config["output_size"])
            params = params.replace(output_padding=op)
            notes.append(f"output_size {fmt_size(config['output_size'][-2:])} -> output_padding {compact_x(op)}")
        out = engine.output_shape(params, x)
        notes += self._notes(params, x[2:])
        config_text = params.compact()
        if params.padding_mode != "zeros":
            config_text += f" {params.padding_mode}"
        return Applied(
            output=out,
            param_count=engine.param_count(params) or 0,
            macs=engine.macs(params, x[0], x[2:], out[2:]) or 0,
            config=config_text,
            notes=tuple(notes),
            args=_conv_args(params),
            conv=params,
        )

    def _notes(self, params: ConvParams, spatial: Shape) -> list[str]:
        if self.transposed:
            notes = []
            pattern = engine.overlap(params)
            if any(o.gaps for o in pattern):
                notes.append("gaps: some outputs get no kernel tap")
            elif not all(o.even for o in pattern):
                shown = " x ".join(",".join(map(str, o.pattern)) for o in pattern)
                notes.append(f"checkerboard: uneven overlap {shown}")
            if any(op >= s for op, s in zip(params.output_padding, params.stride)):
                notes.append("output_padding >= stride (legal through dilation)")
            return notes
        ignored = [
            engine.unread(i, k, s, a, b, d)
            for i, k, s, (a, b), d in zip(
                spatial, params.kernel_size, params.stride, params.padding_pairs, params.dilation
            )
        ]
        return _ignored_note(ignored)

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        p = applied.conv
        assert p is not None
        out = applied.output[2:]

        def per_dim(axis: int, dim: list[tuple[int, int] | None]) -> list[tuple[int, int] | None]:
            k, s, d = p.kernel_size[axis], p.stride[axis], p.dilation[axis]
            if p.transposed:
                return gather(dim, transpose_deps(x[2 + axis], out[axis], k, s, p.padding[axis], d))
            before = p.padding_pairs[axis][0]
            return gather(dim, window_deps(x[2 + axis], out[axis], k, s, before, d, p.padding_mode))

        return _map_fp(fp, per_dim)

    def workspace(self, applied: Applied, x: Shape, out: Shape) -> int:
        """Copies of the input and output (padding, layouts) plus each thread's tile of columns:
        a tile holds at most every tap's copy of the input and output, and never more than
        CONV_TILE_ELEMENTS (the sweep in the tests measures the numeric engine against this)."""
        from .numeric import get_num_threads

        moved = prod(x) + prod(out)
        taps = prod(applied.conv.kernel_size) if applied.conv is not None else 1
        return 2 * moved + get_num_threads() * min(taps * moved, CONV_TILE_ELEMENTS)

    def init(self, applied: Applied, x: Shape, rng: Any, dtype: Any) -> dict[str, np.ndarray]:
        p = applied.conv
        assert p is not None
        w_shape = engine.weight_shape(p)
        assert w_shape is not None
        bound = 1 / math.sqrt(prod(w_shape[1:])) if prod(w_shape[1:]) else 0.0
        weights = {"weight": _uniform(rng, bound, w_shape, dtype)}
        if p.bias:
            weights["bias"] = _uniform(rng, bound, (p.out_channels or 0,), dtype)
        return weights

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        from . import numeric

        p = applied.conv
        assert p is not None
        bias = weights.get("bias")
        if p.transposed:
            return numeric.conv_transpose2d(
                x, weights["weight"], bias, p.stride, p.padding, p.output_padding, p.groups, p.dilation
            )
        pairs = p.padding_pairs
        if p.padding_mode == "zeros" and all(a == b for a, b in pairs):
            return numeric.conv2d(x, weights["weight"], bias, p.stride, tuple(a for a, _ in pairs), p.dilation, p.groups)
        import numpy as np

        mode: Any = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[p.padding_mode]
        padded = np.pad(x, ((0, 0), (0, 0), *pairs), mode=mode)
        return numeric.conv2d(padded, weights["weight"], bias, p.stride, 0, p.dilation, p.groups)


def _ignored_note(ignored: Sequence[int]) -> list[str]:
    if not any(ignored):
        return []
    parts = []
    if ignored[0]:
        parts.append(_plural(ignored[0], "row"))
    if len(ignored) > 1 and ignored[1]:
        parts.append(_plural(ignored[1], "col"))
    return [f"never reads the last {' and '.join(parts)}"]


def _arg(values: Sequence[Any]) -> Any:
    """PyTorch-style argument: an int when every dim agrees, else a tuple."""
    return values[0] if len(set(values)) == 1 else tuple(values)


def _conv_args(p: ConvParams) -> dict[str, Any]:
    args: dict[str, Any] = {
        "in_channels": p.in_channels,
        "out_channels": p.out_channels,
        "kernel_size": _arg(p.kernel_size),
        "stride": _arg(p.stride),
        "padding": p.padding_string or _arg(p.padding),
    }
    if p.transposed:
        args["output_padding"] = _arg(p.output_padding)
    args.update(dilation=_arg(p.dilation), groups=p.groups, bias=p.bias)
    if not p.transposed:
        args["padding_mode"] = p.padding_mode
    return args


# -- pooling --------------------------------------------------------------------------------


class Pool(LayerKind):
    """max_pool2d and avg_pool2d."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = f"{kind}_pool2d"
        self.torch_class = "MaxPool2d" if kind == "max" else "AvgPool2d"
        keys = [
            Key("kernel_size", spatial_key(), required=True),
            Key("stride", lambda k, v: None if v is None else spatial_key()(k, v), None),
            Key("padding", spatial_key(), 0),
        ]
        if kind == "max":
            keys.append(Key("dilation", spatial_key(), 1))
        keys.append(Key("ceil_mode", bool_key, False))
        if kind == "avg":
            keys += [Key("count_include_pad", bool_key, True), Key("divisor_override", int_key(1), None)]
        self.keys = tuple(keys)

    def dims(self, config: Mapping[str, Any]) -> tuple[Shape, Shape, Shape, Shape]:
        def two(v: Any) -> Shape:
            return (v, v) if isinstance(v, int) else tuple(v)

        k = two(config["kernel_size"])
        s = two(config["stride"]) if config["stride"] is not None else k
        return k, s, two(config["padding"]), two(config.get("dilation", 1))

    def period(self, config: Mapping[str, Any]) -> tuple[int, ...]:
        return self.dims(config)[1]

    def validate(self, config: dict[str, Any]) -> None:
        k, s, p, d = self.dims(config)
        if any(v <= 0 for v in k):
            raise OptionError(f"kernel size should be greater than zero, but got kH: {k[0]} kW: {k[1]}", key="kernel_size")
        if any(v <= 0 for v in s):
            raise OptionError("stride should not be zero", key="stride")
        if any(v < 0 for v in p):
            raise OptionError("pad must be non-negative", key="padding")
        if any(v <= 0 for v in d):
            raise OptionError(
                f"dilation should be greater than zero, but got dilationH: {d[0]} dilationW: {d[1]}", key="dilation"
            )
        for kk, pp, dd in zip(k, p, d):
            if pp > ((kk - 1) * dd + 1) // 2:
                raise OptionError(
                    f"pad should be at most half of effective kernel size, but got pad={pp}, "
                    f"kernel_size={kk} and dilation={dd}",
                    key="padding",
                )
        if any(pp > kk // 2 for kk, pp in zip(k, p)):  # then the kernel itself, dilation aside
            raise OptionError(
                "pad should be smaller than or equal to half of kernel size, but got "
                f"padW = {p[1]}, padH = {p[0]}, kW = {k[1]}, kH = {k[0]}",
                key="padding",
            )

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        _require_rank(self.name, x, (4,), "a 4D (N, C, H, W)")
        k, s, p, d = self.dims(config)
        ceil = config["ceil_mode"]
        out = tuple(engine.pool_length(i, kk, ss, pp, dd, ceil) for i, kk, ss, pp, dd in zip(x[2:], k, s, p, d))
        if any(o < 1 for o in out):
            raise ConfigError(
                f"Given input size: ({x[1]}x{x[2]}x{x[3]}). Calculated output size: "
                f"({x[1]}x{out[0]}x{out[1]}). Output size is too small",
                hint="use a larger input, or a smaller kernel or stride",
            )
        parts = [f"k{compact_x(k)}"]
        if s != k:
            parts.append(f"s{compact_x(s)}")
        if any(p):
            parts.append(f"p{compact_x(p)}")
        if any(v != 1 for v in d):
            parts.append(f"d{compact_x(d)}")
        if ceil:
            parts.append("ceil")
        notes = [] if ceil else _ignored_note(
            [engine.unread(i, kk, ss, pp, pp, dd) for i, kk, ss, pp, dd in zip(x[2:], k, s, p, d)]
        )
        args: dict[str, Any] = {"kernel_size": _arg(k), "stride": _arg(s), "padding": _arg(p)}
        if self.kind == "max":
            args["dilation"] = _arg(d)
        args["ceil_mode"] = ceil
        if self.kind == "avg":
            args["count_include_pad"] = config["count_include_pad"]
            args["divisor_override"] = config["divisor_override"]
        return Applied(output=(x[0], x[1], *out), config=" ".join(parts), notes=tuple(notes), args=args)

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        a = applied.args
        k, s, p = _pair(a["kernel_size"]), _pair(a["stride"]), _pair(a["padding"])
        d = _pair(a.get("dilation", 1))
        out = applied.output[2:]
        return _map_fp(fp, lambda ax, dim: gather(dim, window_deps(x[2 + ax], out[ax], k[ax], s[ax], p[ax], d[ax])))

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        import numpy as np
        from numpy.lib.stride_tricks import sliding_window_view

        a = applied.args
        k, s, p = _pair(a["kernel_size"]), _pair(a["stride"]), _pair(a["padding"])
        d = _pair(a.get("dilation", 1))
        out = applied.output[2:]
        extent = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
        # pad right far enough for every (ceil_mode) window; clipped windows are handled below
        right = [max(0, (o - 1) * ss + e - pp - i) for o, ss, e, pp, i in zip(out, s, extent, p, x.shape[2:])]
        pads = ((0, 0), (0, 0), (p[0], right[0]), (p[1], right[1]))
        if self.kind == "max":
            fill = -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
            xp = np.pad(x, pads, constant_values=fill)
            win = sliding_window_view(xp, extent, axis=(2, 3))[:, :, :: s[0], :: s[1], :: d[0], :: d[1]]
            return win[:, :, : out[0], : out[1]].max(axis=(4, 5))
        xp = np.pad(x, pads)
        win = sliding_window_view(xp, extent, axis=(2, 3))[:, :, :: s[0], :: s[1]]
        total = win[:, :, : out[0], : out[1]].sum(axis=(4, 5))
        if a["divisor_override"]:
            return (total / a["divisor_override"]).astype(x.dtype)
        counts = []
        for axis in range(2):
            starts = np.arange(out[axis]) * s[axis] - p[axis]
            ends = np.minimum(starts + k[axis], x.shape[2 + axis] + p[axis])
            if a["count_include_pad"]:
                counts.append(ends - starts)
            else:
                counts.append(np.minimum(ends, x.shape[2 + axis]) - np.maximum(starts, 0))
        divisor = counts[0][:, None] * counts[1][None, :]
        return (total / divisor).astype(x.dtype)


def _pair(value: Any) -> tuple[Any, ...]:
    return (value, value) if isinstance(value, (int, float)) else tuple(value)


class AdaptiveAvgPool(LayerKind):
    name = "adaptive_avg_pool2d"
    torch_class = "AdaptiveAvgPool2d"
    keys = (Key("output_size", size_key(nullable_entries=True), required=True),)

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        _require_rank(self.name, x, (4,), "a 4D (N, C, H, W)")
        out = tuple(o if o is not None else i for o, i in zip(config["output_size"], x[2:]))
        return Applied(
            output=(x[0], x[1], *out),
            config=f"out {'x'.join(map(str, out))}",
            args={"output_size": _arg(config["output_size"])},
        )

    @staticmethod
    def bounds(i: int, o: int) -> list[tuple[int, int]]:
        """[start, end) of each output's window, as PyTorch's adaptive pooling."""
        return [((j * i) // o, -(-((j + 1) * i) // o)) for j in range(o)]

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        out = applied.output[2:]
        return _map_fp(
            fp, lambda ax, dim: gather(dim, (range(a, b) for a, b in self.bounds(x[2 + ax], out[ax])))
        )

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        import numpy as np

        out = applied.output[2:]
        rows = self.bounds(x.shape[2], out[0])
        cols = self.bounds(x.shape[3], out[1])
        result = np.empty((*x.shape[:2], *out), dtype=x.dtype)
        for r, (a, b) in enumerate(rows):
            band = x[:, :, a:b].mean(axis=2)
            for c, (e, f) in enumerate(cols):
                result[:, :, r, c] = band[:, :, e:f].mean(axis=2)
        return result


def _f32(value: float) -> float:
    """Round to float32, as PyTorch's float kernels compute source indices."""
    return struct.unpack("f", struct.pack("f", value))[0]


class Upsample(LayerKind):
    """nn.Upsample / F.interpolate with mode nearest or bilinear."""

    name = "upsample"
    torch_class = "Upsample"
    keys = (
        Key("size", size_key()),
        Key("scale_factor", scale_key),
        Key("mode", choice_key("nearest", "bilinear"), "nearest"),
        Key("align_corners", lambda k, v: None if v is None else bool_key(k, v), None),
        Key("recompute_scale_factor", lambda k, v: None if v is None else bool_key(k, v), None),
    )

    def validate(self, config: dict[str, Any]) -> None:
        if config["size"] is None and config["scale_factor"] is None:
            raise OptionError("either size or scale_factor should be defined", where="layer")
        if config["size"] is not None and config["scale_factor"] is not None:
            raise OptionError("only one of size or scale_factor should be defined", key="scale_factor")
        if config["mode"] == "nearest" and config["align_corners"] is not None:
            raise OptionError(
                "align_corners option can only be set with the interpolating modes: "
                "linear | bilinear | bicubic | trilinear",
                key="align_corners",
            )

    def period(self, config: Mapping[str, Any]) -> tuple[int, ...]:
        if config["scale_factor"] is None:
            return (1, 1)  # a fixed output size
        # floor(n * f) repeats when n grows by f's denominator (f as the float PyTorch uses)
        return tuple(Fraction(float(f)).denominator for f in _pair(config["scale_factor"]))

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        _require_rank(self.name, x, (4,), "a 4D (N, C, H, W)")
        if config["size"] is not None:
            out = tuple(config["size"])
            shown = f"to {'x'.join(map(str, out))}"
        else:
            sf = _pair(config["scale_factor"])
            out = tuple(math.floor(float(i * f)) for i, f in zip(x[2:], sf))
            shown = f"x{compact_x([f'{f:g}' for f in sf])}"
        if any(o < 1 for o in out):
            raise ConfigError(
                f"Input and output sizes should be greater than 0, but got input (H: {x[2]}, W: {x[3]}) "
                f"output (H: {out[0]}, W: {out[1]})"
            )
        args: dict[str, Any] = {}
        if config["size"] is not None:
            args["size"] = _arg(config["size"])
        else:
            args["scale_factor"] = _arg(_pair(config["scale_factor"]))
        args["mode"] = config["mode"]
        if config["mode"] == "bilinear":
            args["align_corners"] = bool(config["align_corners"])
        if config["recompute_scale_factor"] is not None:
            args["recompute_scale_factor"] = config["recompute_scale_factor"]
        config_text = f"{shown} {config['mode']}" + (" align_corners" if config["align_corners"] else "")
        return Applied(output=(x[0], x[1], *out), config=config_text, args=args)

    def taps(self, applied: Applied, axis: int, i: int) -> list[list[tuple[int, float]]]:
        """Per output index along one axis: (input index, weight) pairs, PyTorch's float32 rule."""
        a = applied.args
        o = applied.output[2 + axis]
        scales = a.get("scale_factor") if not a.get("recompute_scale_factor") else None
        given = _pair(scales)[axis] if scales is not None else None
        if a["mode"] == "nearest":
            if o == i:
                return [[(j, 1.0)] for j in range(o)]
            if o == 2 * i:
                return [[(j >> 1, 1.0)] for j in range(o)]
            scale = _f32(1.0 / given) if given else _f32(i / o)
            return [[(min(int(math.floor(_f32(j * scale))), i - 1), 1.0)] for j in range(o)]
        if a["align_corners"]:
            scale = _f32((i - 1) / (o - 1)) if o > 1 else 0.0
        else:
            scale = _f32(1.0 / given) if given else _f32(i / o)
        result = []
        for j in range(o):
            if a["align_corners"]:
                src = _f32(scale * j)
            else:
                src = _f32(_f32(scale * _f32(j + 0.5)) - 0.5)
                src = max(src, 0.0)
            i0 = min(int(src), i - 1)
            lam = _f32(src - i0) if i0 < i - 1 else 0.0
            pairs = [(i0, _f32(1.0 - lam))]
            if lam > 0:
                pairs.append((i0 + 1, lam))
            result.append(pairs)
        return result

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        return _map_fp(
            fp, lambda ax, dim: gather(dim, ([j for j, w in t if w] for t in self.taps(applied, ax, x[2 + ax])))
        )

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        import numpy as np

        result = x
        for axis in range(2):
            taps = self.taps(applied, axis, x.shape[2 + axis])
            matrix = np.zeros((len(taps), x.shape[2 + axis]), dtype=np.float64)
            for j, pairs in enumerate(taps):
                for i, w in pairs:
                    matrix[j, i] += w
            result = np.moveaxis(np.tensordot(matrix.astype(x.dtype), result, axes=([1], [2 + axis])), 0, 2 + axis)
        return np.ascontiguousarray(result)


class PixelShuffle(LayerKind):
    def __init__(self, unshuffle: bool) -> None:
        self.unshuffle = unshuffle
        self.name = "pixel_unshuffle" if unshuffle else "pixel_shuffle"
        self.torch_class = "PixelUnshuffle" if unshuffle else "PixelShuffle"
        self.factor_key = "downscale_factor" if unshuffle else "upscale_factor"
        self.keys = (Key(self.factor_key, int_key(1), required=True),)

    def period(self, config: Mapping[str, Any]) -> tuple[int, ...]:
        return (config[self.factor_key],) * 2 if self.unshuffle else (1, 1)

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        _require_rank(self.name, x, (4,), "a 4D (N, C, H, W)")
        r = config[self.factor_key]
        n, c, h, w = x
        if self.unshuffle:
            for label, size, dim in (("height", h, -2), ("width", w, -1)):
                if size % r:
                    raise ConfigError(
                        f"pixel_unshuffle expects {label} to be divisible by downscale_factor, but "
                        f"input.size({dim})={size} is not divisible by {r}"
                    )
            out = (n, c * r * r, h // r, w // r)
        else:
            if c % (r * r):
                raise ConfigError(
                    "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square "
                    f"of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}"
                )
            out = (n, c // (r * r), h * r, w * r)
        return Applied(output=out, config=f"r{r}", args={self.factor_key: r})

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        r = applied.args[self.factor_key]
        if self.unshuffle:
            return _map_fp(fp, lambda ax, dim: gather(dim, (range(o * r, o * r + r) for o in range(len(dim) // r))))
        return _map_fp(fp, lambda ax, dim: [dim[o // r] for o in range(len(dim) * r)])

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        r = applied.args[self.factor_key]
        n, c, h, w = x.shape
        if self.unshuffle:
            y = x.reshape(n, c, h // r, r, w // r, r).transpose(0, 1, 3, 5, 2, 4)
            return y.reshape(n, c * r * r, h // r, w // r)
        y = x.reshape(n, c // (r * r), r, r, h, w).transpose(0, 1, 4, 2, 5, 3)
        return y.reshape(n, c // (r * r), h * r, w * r)


class Linear(LayerKind):
    name = "linear"
    torch_class = "Linear"
    keys = (Key("in_features", int_key(1)), Key("out_features", int_key(1), required=True), Key("bias", bool_key, True))

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        features = x[-1]
        out_f = config["out_features"]
        if config["in_features"] is not None and config["in_features"] != features:
            raise ConfigError(
                f"mat1 and mat2 shapes cannot be multiplied ({prod(x[:-1])}x{features} and "
                f"{config['in_features']}x{out_f})",
                hint=f"in_features is inferred from the incoming tensor ({features}); remove it or write "
                f"in_features: {features}",
            )
        rows = prod(x[:-1])
        params = features * out_f + (out_f if config["bias"] else 0)
        note = () if len(x) == 2 else (f"applies to the last dim of a {len(x)}-D tensor",)
        return Applied(
            output=(*x[:-1], out_f),
            param_count=params,
            macs=rows * features * out_f,
            config=f"{features}->{out_f}",
            notes=note,
            args={"in_features": features, "out_features": out_f, "bias": config["bias"]},
        )

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        if fp.dims is None:
            return fp
        # on a spatial tensor, linear mixes the last dim entirely
        last = _span(fp.dims[-1])
        return Footprint((*fp.dims[:-1], [last] * applied.output[-1]), fp.cover)

    def init(self, applied: Applied, x: Shape, rng: Any, dtype: Any) -> dict[str, np.ndarray]:
        a = applied.args
        bound = 1 / math.sqrt(a["in_features"])
        weights = {"weight": _uniform(rng, bound, (a["out_features"], a["in_features"]), dtype)}
        if a["bias"]:
            weights["bias"] = _uniform(rng, bound, (a["out_features"],), dtype)
        return weights

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        y = x @ weights["weight"].T
        if "bias" in weights:
            y = y + weights["bias"]
        return y


def _norm_dim(dim: int, rank: int) -> int:
    if not -rank <= dim < rank:
        raise ConfigError(f"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], but got {dim})")
    return dim % rank


class Flatten(LayerKind):
    name = "flatten"
    torch_class = "Flatten"
    keys = (Key("start_dim", dim_key, 1), Key("end_dim", dim_key, -1))

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        start, end = _norm_dim(config["start_dim"], len(x)), _norm_dim(config["end_dim"], len(x))
        if start > end:
            raise ConfigError("flatten() has invalid args: start_dim cannot come after end_dim")
        out = (*x[:start], prod(x[start : end + 1]), *x[end + 1 :])
        shown = "" if (config["start_dim"], config["end_dim"]) == (1, -1) else f"dims {start}..{end}"
        return Applied(output=out, config=shown, args={"start_dim": config["start_dim"], "end_dim": config["end_dim"]})

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        end = _norm_dim(applied.args["end_dim"], len(x))
        if end < 2 or fp.dims is None:
            return fp  # N and C only: positions untouched
        return fp.flat()

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        return x.reshape(applied.output)


def _infer_shape(sizes: Sequence[int], total: int) -> tuple[int, ...] | None:
    known = prod(v for v in sizes if v != -1)
    if -1 in sizes:
        if known == 0 or total % known:
            return None
        return tuple(total // known if v == -1 else v for v in sizes)
    return tuple(sizes) if known == total else None


class Unflatten(LayerKind):
    """unflatten (nn.Unflatten(dim, shape)) and reshape (`shape` excludes the batch dim)."""

    def __init__(self, reshape: bool) -> None:
        self.reshape = reshape
        self.name = "reshape" if reshape else "unflatten"
        self.torch_class = None if reshape else "Unflatten"
        self.keys = (Key("shape", shape_key, required=True),) + (() if reshape else (Key("dim", dim_key, 1),))

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        sizes = config["shape"]
        if self.reshape:
            inferred = _infer_shape(sizes, prod(x[1:]))
            if inferred is None:
                raise ConfigError(
                    f"shape '{[x[0], *sizes]}' is invalid for input of size {prod(x)}",
                    hint=f"reshape keeps the batch dim; the other dims must multiply to {prod(x[1:])}",
                )
            out = (x[0], *inferred)
            args: dict[str, Any] = {"shape": inferred}
        else:
            dim = _norm_dim(config["dim"], len(x))
            inferred = _infer_shape(sizes, x[dim])
            if inferred is None:
                raise ConfigError(
                    f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {config['dim']} "
                    f"({x[dim]}) in the input tensor"
                )
            out = (*x[:dim], *inferred, *x[dim + 1 :])
            args = {"dim": config["dim"], "unflattened_size": inferred}
        return Applied(output=out, config="to " + "x".join(map(str, out[1:])), args=args)

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        # a reshape has no position correspondence: every new position depends on all the old
        if len(applied.output) < 3:
            return fp.flat()
        return fp.flat().everywhere(applied.output[2:])

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        return x.reshape(applied.output)


class Norm(LayerKind):
    """batch_norm2d/1d, instance_norm2d, group_norm — eval mode."""

    def __init__(self, name: str, torch_class: str, ranks: tuple[int, ...], affine: bool, track: bool) -> None:
        self.name = name
        self.torch_class = torch_class
        self.ranks = ranks
        self.group = name == "group_norm"
        channel_key = "num_channels" if self.group else "num_features"
        self.channel_key = channel_key
        keys = [Key("num_groups", int_key(1), required=True)] if self.group else []
        keys += [Key(channel_key, int_key(1)), Key("eps", float_key(0.0), 1e-5)]
        if not self.group:
            keys += [Key("momentum", float_key(nullable=True), 0.1), Key("track_running_stats", bool_key, track)]
        keys.append(Key("affine", bool_key, affine))
        self.keys = tuple(keys)
        self.elementwise = not self.group and name != "instance_norm2d"

    def validate(self, config: dict[str, Any]) -> None:
        if self.group and config["num_channels"] is not None and config["num_channels"] % config["num_groups"]:
            raise OptionError(
                f"num_channels ({config['num_channels']}) must be divisible by num_groups ({config['num_groups']})",
                key="num_groups",
            )

    def global_stats(self, args: Mapping[str, Any]) -> bool:
        """Eval mode still normalises with the map's own statistics (every position mixes)."""
        return self.group or (self.name == "instance_norm2d" and not args["track_running_stats"])

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        if len(x) not in self.ranks:
            wanted = " or ".join(f"{r}D" for r in self.ranks)
            raise ConfigError(f"expected {wanted} input (got {len(x)}D input)")
        c = x[1]
        written = config[self.channel_key]
        if written is not None and written != c:
            if self.group:
                raise ConfigError(
                    "Expected weight to be a vector of size equal to the number of channels in input, "
                    f"but got weight of shape [{written}] and input of shape {list(x)}",
                    hint=f"num_channels is inferred ({c}); remove it or write num_channels: {c}",
                )
            raise ConfigError(
                f"running_mean should contain {c} elements not {written}",
                hint=f"num_features is inferred ({c}); remove it or write num_features: {c}",
            )
        if self.group and c % config["num_groups"]:
            raise ConfigError(f"num_channels ({c}) must be divisible by num_groups ({config['num_groups']})")
        args: dict[str, Any] = {"num_groups": config["num_groups"]} if self.group else {}
        args[self.channel_key] = c
        args["eps"] = config["eps"]
        if not self.group:
            args["momentum"] = config["momentum"]
        args["affine"] = config["affine"]
        if not self.group:
            args["track_running_stats"] = config["track_running_stats"]
        parts = [f"g{config['num_groups']}"] if self.group else []
        if config["affine"] != (self.name != "instance_norm2d"):
            parts.append("affine" if config["affine"] else "no affine")
        notes = ("per-map statistics: every position mixes",) if self.global_stats(args) else ()
        return Applied(
            output=x,
            param_count=2 * c if config["affine"] else 0,
            config=" ".join(parts),
            notes=notes,
            args=args,
        )

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        if not self.global_stats(applied.args) or fp.dims is None:
            return fp
        spans = [_span(dim) for dim in fp.dims]
        return Footprint(tuple([s] * len(dim) for s, dim in zip(spans, fp.dims)), fp.cover)

    def init(self, applied: Applied, x: Shape, rng: Any, dtype: Any) -> dict[str, np.ndarray]:
        import numpy as np

        c = x[1]
        weights: dict[str, np.ndarray] = {}
        if applied.args["affine"]:
            weights["weight"] = np.ones(c, dtype=dtype)
            weights["bias"] = np.zeros(c, dtype=dtype)
        if applied.args.get("track_running_stats"):
            weights["running_mean"] = np.zeros(c, dtype=dtype)
            weights["running_var"] = np.ones(c, dtype=dtype)
        return weights

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        import numpy as np

        eps = applied.args["eps"]
        c = x.shape[1]
        bshape = (1, c) + (1,) * (x.ndim - 2)
        if self.global_stats(applied.args):
            groups = applied.args["num_groups"] if self.group else c
            g = x.reshape(x.shape[0], groups, -1)
            mean = g.mean(axis=2, keepdims=True)
            var = g.var(axis=2, keepdims=True)
            y = ((g - mean) / np.sqrt(var + eps)).reshape(x.shape)
        elif "running_mean" in weights:
            y = (x - weights["running_mean"].reshape(bshape)) / np.sqrt(weights["running_var"].reshape(bshape) + eps)
        else:  # batch norm without running stats uses batch statistics even in eval
            axes = (0, *range(2, x.ndim))
            y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
        if "weight" in weights:
            y = y * weights["weight"].reshape(bshape) + weights["bias"].reshape(bshape)
        return y.astype(x.dtype)


class Elementwise(LayerKind):
    """Activations, dropout (eval: identity) and identity: shape and footprint unchanged."""

    elementwise = True

    def __init__(self, name: str, torch_class: str, keys: tuple[Key, ...], fn: Callable[[Any, Mapping[str, Any]], Any], show: Callable[[Mapping[str, Any]], str] = lambda c: "") -> None:
        self.name = name
        self.torch_class = torch_class
        self.keys = keys
        self.fn = fn
        self.show = show

    def validate(self, config: dict[str, Any]) -> None:
        if self.name == "dropout" and not 0 <= config["p"] <= 1:
            raise OptionError(f"dropout probability has to be between 0 and 1, but got {config['p']:g}", key="p")

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        return Applied(output=x, config=self.show(config), args=dict(config))

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        return self.fn(x, applied.args)


def _gelu(x: Any, args: Mapping[str, Any]) -> Any:
    import numpy as np

    if args["approximate"] == "tanh":
        return (0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))).astype(x.dtype)
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return (0.5 * x * (1 + erf(x / math.sqrt(2)))).astype(x.dtype)


def _sigmoid(x: Any, args: Mapping[str, Any]) -> Any:
    import numpy as np

    return (0.5 * (1 + np.tanh(0.5 * x))).astype(x.dtype)


def _np(name: str) -> Callable[[Any, Mapping[str, Any]], Any]:
    def fn(x: Any, args: Mapping[str, Any]) -> Any:
        import numpy as np

        return getattr(np, name)(x)

    return fn


_INPLACE = Key("inplace", bool_key, False)


def _relu(x: Any, args: Mapping[str, Any]) -> Any:
    return x * (x > 0)


def _leaky(x: Any, args: Mapping[str, Any]) -> Any:
    import numpy as np

    return np.where(x >= 0, x, x * np.asarray(args["negative_slope"], dtype=x.dtype))


def _silu(x: Any, args: Mapping[str, Any]) -> Any:
    return x * _sigmoid(x, args)


class Skip(LayerKind):
    """concat (along channels, current tensor first) and add (residual), SPEC §5.3."""

    skip = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.keys = (Key("with", names_key, required=True), Key("crop", crop_key, None))

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        if len(x) < 2:
            raise ConfigError(f"{self.name} needs an (N, C, ...) tensor, but got {list(x)}")
        crops: list[tuple[int, ...]] = []
        channels = x[1]
        for position, other in enumerate(skips):
            if len(other) != len(x) or other[0] != x[0]:
                raise SkipMismatch(
                    f"{self.name}: tensors of shapes {list(x)} and {list(other)} cannot be combined",
                    skip=position, current=x, other=other,
                )
            offsets = tuple(0 for _ in x[2:])
            if other[2:] != x[2:]:
                if config["crop"] == "center" and all(o >= c for o, c in zip(other[2:], x[2:])):
                    offsets = tuple((o - c) // 2 for o, c in zip(other[2:], x[2:]))
                else:
                    raise SkipMismatch(self._size_message(x, other, position), skip=position, current=x, other=other)
            if self.name == "add" and other[1] != x[1]:
                raise SkipMismatch(
                    f"The size of tensor a ({x[1]}) must match the size of tensor b ({other[1]}) at "
                    "non-singleton dimension 1",
                    skip=position, current=x, other=other,
                )
            crops.append(offsets)
            channels += other[1]
        out = (x[0], channels if self.name == "concat" else x[1], *x[2:])
        cropped = any(any(c) for c in crops)
        return Applied(output=out, config="crop center" if cropped else "", crops=tuple(crops))

    def _size_message(self, x: Shape, other: Shape, position: int) -> str:
        if self.name == "concat":
            axis = next(a for a in range(2, len(x)) if x[a] != other[a])
            return (
                "Sizes of tensors must match except in dimension 1. Expected size "
                f"{x[axis]} but got size {other[axis]} for tensor number {position + 1} in the list."
            )
        axis = max(a for a in range(2, len(x)) if x[a] != other[a])
        return (
            f"The size of tensor a ({x[axis]}) must match the size of tensor b ({other[axis]}) at "
            f"non-singleton dimension {axis}"
        )

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        dims = fp.dims
        cover = fp.cover
        for other, offsets in zip(skips, applied.crops):
            if cover is not None and other.cover is not None:
                cover = tuple(_union(a, b) for a, b in zip(cover, other.cover))
            if dims is None or other.dims is None:
                continue
            dims = tuple(
                [_union(a, b) for a, b in zip(mine, theirs[off : off + len(mine)])]
                for mine, theirs, off in zip(dims, other.dims, offsets)
            )
        return Footprint(dims, cover)

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        import numpy as np

        parts = []
        for other, offsets in zip(skips, applied.crops):
            window = tuple(slice(o, o + n) for o, n in zip(offsets, x.shape[2:]))
            index = (slice(None), slice(None)) + window
            parts.append(other[index])
        if self.name == "concat":
            return np.concatenate([x, *parts], axis=1)
        total = x
        for part in parts:
            total = total + part
        return total


# -- the registry ---------------------------------------------------------------------------


def _registry() -> dict[str, LayerKind]:
    kinds: list[LayerKind] = [
        Conv(transposed=False),
        Conv(transposed=True),
        Pool("max"),
        Pool("avg"),
        AdaptiveAvgPool(),
        Upsample(),
        PixelShuffle(unshuffle=False),
        PixelShuffle(unshuffle=True),
        Linear(),
        Flatten(),
        Unflatten(reshape=False),
        Unflatten(reshape=True),
        Norm("batch_norm2d", "BatchNorm2d", (4,), affine=True, track=True),
        Norm("batch_norm1d", "BatchNorm1d", (2, 3), affine=True, track=True),
        Norm("instance_norm2d", "InstanceNorm2d", (3, 4), affine=False, track=False),
        Norm("group_norm", "GroupNorm", (2, 3, 4, 5), affine=True, track=False),
        Elementwise("dropout", "Dropout", (Key("p", float_key(), 0.5), _INPLACE), lambda x, a: x,
                    lambda c: f"p={c['p']:g}"),
        Elementwise("relu", "ReLU", (_INPLACE,), _relu),
        Elementwise("leaky_relu", "LeakyReLU", (Key("negative_slope", float_key(), 0.01), _INPLACE), _leaky,
                    lambda c: f"{c['negative_slope']:g}"),
        Elementwise("gelu", "GELU", (Key("approximate", choice_key("none", "tanh"), "none"),), _gelu,
                    lambda c: "tanh" if c["approximate"] == "tanh" else ""),
        Elementwise("silu", "SiLU", (_INPLACE,), _silu),
        Elementwise("sigmoid", "Sigmoid", (), _sigmoid),
        Elementwise("tanh", "Tanh", (), _np("tanh")),
        Elementwise("identity", "Identity", (), lambda x, a: x),
        Skip("concat"),
        Skip("add"),
    ]
    return {kind.name: kind for kind in kinds}


KINDS: dict[str, LayerKind] = _registry()

# PyTorch class names (and a few common spellings) -> (kind, defaults that the class implies)
ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    **{kind.torch_class: (name, {}) for name, kind in KINDS.items() if kind.torch_class},
    "Dropout2d": ("dropout", {}),
    "dropout2d": ("dropout", {}),
    "UpsamplingNearest2d": ("upsample", {"mode": "nearest"}),
    "UpsamplingBilinear2d": ("upsample", {"mode": "bilinear", "align_corners": True}),
    "interpolate": ("upsample", {}),
    "cat": ("concat", {}),
}


def resolve_type(name: str) -> tuple[LayerKind, dict[str, Any]] | None:
    """The kind a `type:` names (snake_case or a PyTorch class name) and the defaults it implies.

    >>> kind, defaults = resolve_type("ConvTranspose2d")
    >>> kind.name, defaults
    ('conv_transpose2d', {})
    """
    if name in KINDS:
        return KINDS[name], {}
    if name in ALIASES:
        kind, defaults = ALIASES[name]
        return KINDS[kind], dict(defaults)
    return None


def closest_type(name: str) -> str | None:
    """The valid type closest to a misspelt one.

    >>> closest_type("conv_tranpose2d"), closest_type("Convtranspose2D")
    ('conv_transpose2d', 'conv_transpose2d')
    """
    candidates = list(KINDS) + list(ALIASES)
    folded = {c.lower().replace("_", ""): c for c in candidates}
    key = name.lower().replace("_", "")
    if key in folded:
        found = folded[key]
        return ALIASES[found][0] if found in ALIASES else found
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not close:
        close = [folded[c] for c in difflib.get_close_matches(key, list(folded), n=1, cutoff=0.6)]
    return close[0] if close else None
