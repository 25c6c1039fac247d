"""What every framework module provides, and the pieces they share.

Every framework's transposed convolution is, per spatial dim, the one scatter definition
(x[i] * w[t] lands at i*s + t*d in the full output of length (I-1)*s + d*(k-1) + 1) followed
by keeping the window [begin, begin + length): a start crop and an output length. A framework
module says how its arguments give that window (`crops`), in its own words when they do not,
and how its weights relate to PyTorch's. Nothing here imports numpy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, ConvtoolError

Spatial = tuple[int, ...]


class FrameworkError(ConfigError):
    """A framework refuses a layer; `words` is what that framework itself says."""

    kind = "framework"

    def __init__(self, title: str, words: str, *, hint: str | None = None) -> None:
        super().__init__(f"{title} refuses this layer: {words}", hint=hint)
        self.framework = title
        self.words = words

    def to_dict(self) -> dict[str, object]:
        doc = super().to_dict()
        doc["framework"] = self.framework
        doc["words"] = self.words
        return doc


class PasteError(ConvtoolError):
    """Pasted code that convtool cannot read as one layer."""

    kind = "paste"


class PortError(ConvtoolError):
    """No layer of the target framework computes the source layer, not even with a crop."""

    kind = "port"


class NonLiteral:
    """A pasted argument that is not a literal (kept as its source text, never evaluated)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


REQUIRED = object()  # a signature entry without a default


def bind(
    title: str, signature: Sequence[tuple[str, Any]], args: Sequence[Any], kwargs: dict[str, Any],
    *, r_style: bool = False, open_kwargs: bool = False,
) -> dict[str, Any]:
    """Arguments matched to a signature as the language does (Python's or R's words on failure).

    >>> bind("f", [("a", REQUIRED), ("b", 2)], [1], {"b": 3})
    {'a': 1, 'b': 3}
    """
    names = [name for name, _ in signature]
    bound: dict[str, Any] = {}
    if r_style:  # R: named arguments first (exact names), then positions fill the rest in order
        for key, value in kwargs.items():
            if key not in names:
                raise PasteError(f"Error in {title}: unused argument ({key} = {value!r})")
            bound[key] = value
        free = [name for name in names if name not in bound]
        if len(args) > len(free):
            raise PasteError(f"Error in {title}: unused argument ({args[len(free)]!r})")
        bound.update(zip(free, args))
    else:
        if len(args) > len(names):
            raise PasteError(
                f"{title}() takes at most {len(names)} positional arguments but {len(args)} were given"
            )
        bound.update(zip(names, args))
        for key, value in kwargs.items():
            if key in bound:
                raise PasteError(f"{title}() got multiple values for argument '{key}'")
            if key not in names and not open_kwargs:
                raise PasteError(f"{title}() got an unexpected keyword argument '{key}'")
            bound[key] = value
    missing = [name for name, default in signature if default is REQUIRED and name not in bound]
    if missing:
        if r_style:
            raise PasteError(f'Error in {title}: argument "{missing[0]}" is missing, with no default')
        listed = " and ".join(f"'{m}'" for m in missing)
        raise PasteError(f"{title}() missing {len(missing)} required positional argument"
                         f"{'s' if len(missing) > 1 else ''}: {listed}")
    for name, default in signature:
        bound.setdefault(name, default)
    return bound


def literal(name: str, value: Any) -> Any:
    """The value of a shape-relevant argument; a pasted expression is refused in one sentence."""
    if isinstance(value, NonLiteral) or (
        isinstance(value, (list, tuple)) and any(isinstance(v, NonLiteral) for v in _flatten(value))
    ):
        raise PasteError(
            f"argument {name}={value!r} is not a literal: convtool reads pasted code without running it, "
            "so write the numbers"
        )
    return value


def _flatten(value: Any) -> Iterator[Any]:
    for item in value:
        if isinstance(item, (list, tuple)):
            yield from _flatten(item)
        else:
            yield item


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- the layer, the window, the geometry ------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One framework's transposed convolution, in that framework's own terms.

    `padding` is what the framework takes (ints, a string, begin/end pairs); `options` holds the
    framework's other knobs (auto_pad, transpose_kernel, ...). Channels may be unknown (None).
    """

    framework: str
    ndim: int
    kernel_size: Spatial
    stride: Spatial
    dilation: Spatial
    padding: Any
    output_padding: Spatial | None = None
    output_shape: Spatial | None = None
    groups: int = 1
    in_channels: int | None = None
    out_channels: int | None = None
    bias: bool = True
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)

    def replace(self, **changes: Any) -> Layer:
        return dataclasses.replace(self, **changes)

    @property
    def kernel_extent(self) -> Spatial:
        """d*(k-1) + 1 per dim."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation))

    def to_dict(self) -> dict[str, Any]:
        """The layer's parameters in its framework's terms, as JSON."""
        def plain(value: Any) -> Any:
            return [plain(v) for v in value] if isinstance(value, (tuple, list)) else value

        doc: dict[str, Any] = {
            "kernel_size": list(self.kernel_size), "stride": list(self.stride), "dilation": list(self.dilation),
            "padding": plain(self.padding), "output_padding": plain(self.output_padding),
            "output_shape": plain(self.output_shape), "groups": self.groups, "in_channels": self.in_channels,
            "out_channels": self.out_channels, "bias": self.bias,
        }
        doc.update({k: v for k, v in self.options.items() if k != "params"})
        return doc

    def full(self, spatial: Spatial) -> Spatial:
        """The uncropped scatter length per dim: (I-1)*s + d*(k-1) + 1."""
        return tuple((i - 1) * s + e for i, s, e in zip(spatial, self.stride, self.kernel_extent))


@dataclass(frozen=True)
class Window:
    """The start crop (`begin`, negative = zeros before) and `length` of one output dim."""

    begin: int
    length: int

    def end_crop(self, full: int) -> int:
        """Rows dropped at the end; negative = rows that only the bias reaches."""
        return full - self.begin - self.length


@dataclass(frozen=True)
class Result:
    """A layer applied to an input: the windows (None where the output is not a crop of the
    scatter, e.g. a circular wrap), the output size, and warnings in plain words."""

    layer: Layer
    spatial: Spatial
    windows: tuple[Window, ...] | None
    output: Spatial
    warnings: tuple[str, ...] = ()


# -- weight conversions: one list of array steps that both runs and renders ------------------


@dataclass(frozen=True)
class Step:
    """One numpy step on an array: `transpose` (axes), `flip` (axes) or `reshape` (shape)."""

    kind: str
    arg: tuple[int, ...]


def simplify(steps: Sequence[Step]) -> tuple[Step, ...]:
    """The same steps with every run of transposes and flips as one transpose then one flip.

    >>> simplify([Step("flip", (2, 3)), Step("transpose", (2, 3, 0, 1)), Step("transpose", (2, 3, 0, 1))])
    (Step(kind='flip', arg=(2, 3)),)
    """
    out: list[Step] = []
    perm: tuple[int, ...] | None = None
    flips: set[int] = set()

    def flush() -> None:
        if perm is not None and perm != tuple(range(len(perm))):
            out.append(Step("transpose", perm))
        if flips:
            out.append(Step("flip", tuple(sorted(flips))))

    for step in steps:
        if step.kind == "transpose":
            q = step.arg
            flips = {j for j, a in enumerate(q) if a in flips}
            perm = q if perm is None else tuple(perm[a] for a in q)
        elif step.kind == "flip":
            flips ^= set(step.arg)
        else:
            flush()
            perm, flips = None, set()
            if out and out[-1].kind == "reshape":
                out.pop()
            out.append(step)
    flush()
    return tuple(out)


def apply_steps(steps: Sequence[Step], array: Any) -> Any:
    """Run the steps on a numpy array (array methods only: this module needs no numpy)."""
    for step in steps:
        if step.kind == "transpose":
            array = array.transpose(*step.arg)
        elif step.kind == "flip":
            array = array[tuple(slice(None, None, -1) if a in step.arg else slice(None) for a in range(array.ndim))]
        else:
            array = array.reshape(*step.arg)
    return array


def render_steps(steps: Sequence[Step], name: str) -> str:
    """The steps as one Python expression on the array `name`.

    >>> render_steps([Step("transpose", (2, 3, 0, 1)), Step("flip", (0, 1))], "w")
    'w.transpose(2, 3, 0, 1)[::-1, ::-1].copy()'
    """
    text = name
    for step in steps:
        if step.kind == "transpose":
            text += f".transpose({', '.join(map(str, step.arg))})"
        elif step.kind == "flip":
            last = max(step.arg)
            text += "[" + ", ".join("::-1" if a in step.arg else ":" for a in range(last + 1)) + "]"
        else:
            text += f".reshape({', '.join(map(str, step.arg))})"
    if any(step.kind == "flip" for step in steps):
        text += ".copy()"  # a flipped view has negative strides, which torch.from_numpy refuses
    return text


# -- the framework interface --------------------------------------------------------------------


class Framework:
    """One framework's transposed convolution: how it reads, its window rule, its checks,
    its code, and its weight layout relative to PyTorch's."""

    name = ""
    title = ""
    channels_last = False
    has_groups = True
    bias_in_layer = True  # False: the op takes no bias (tf.nn, lax); port adds it after
    dims: tuple[int, ...] = (1, 2, 3)
    dilates = True  # False: refuses dilation > 1 (where it runs by default)
    limits = ""  # what its layer cannot express, said once (why a port needs an after-statement)

    # reading
    def from_call(self, func: str, ndim: int, args: list[Any], kwargs: dict[str, Any], given: Given) -> Layer:
        raise NotImplementedError

    def from_options(self, ndim: int, given: Given) -> Layer:
        raise NotImplementedError

    # the rule
    def apply(self, layer: Layer, spatial: Spatial) -> Result:
        """The output windows for this input, after every check the framework makes."""
        raise NotImplementedError

    # writing
    def code(self, layer: Layer, spatial: Spatial | None = None) -> str:
        raise NotImplementedError

    def weight_shape(self, layer: Layer) -> tuple[int, ...] | None:
        raise NotImplementedError

    def bias_shape(self, layer: Layer) -> tuple[int, ...] | None:
        if not layer.bias or layer.out_channels is None or not self.bias_in_layer:
            return None
        return (layer.out_channels,)

    def weight_to_torch(self, layer: Layer) -> tuple[Step, ...]:
        raise NotImplementedError

    def weight_from_torch(self, layer: Layer) -> tuple[Step, ...]:
        raise NotImplementedError

    def bias_to_torch(self, layer: Layer) -> tuple[Step, ...]:
        return ()

    def bias_from_torch(self, layer: Layer) -> tuple[Step, ...]:
        return ()

    # porting
    def candidates(self, geometry: Geometry) -> Iterator[Layer]:
        """Layers of this framework with the geometry's kernel, stride and dilation, the most
        natural first; port keeps the first exact one, else the first that covers the data."""
        raise NotImplementedError

    def data_layout(self, ndim: int) -> str:
        letters = {1: "L", 2: "HW", 3: "DHW"}[ndim]
        return f"N{letters}C" if self.channels_last else f"NC{letters}"

    def refuse(self, words: str, hint: str | None = None) -> FrameworkError:
        return FrameworkError(self.title, words, hint=hint)


@dataclass(frozen=True)
class Given:
    """What the command line adds to a call that does not carry it (tf.nn and lax take arrays)."""

    kernel_size: Any = None
    in_channels: int | None = None
    out_channels: int | None = None
    stride: Any = None
    padding: Any = None
    output_padding: Any = None
    dilation: Any = None
    groups: int | None = None
    pads: Any = None
    auto_pad: str | None = None
    output_shape: Any = None
    bias: bool | None = None


@dataclass(frozen=True)
class Geometry:
    """What a port must reproduce: the source's kernel, stride, dilation, groups, channels,
    bias, input and output windows."""

    spatial: Spatial
    kernel_size: Spatial
    stride: Spatial
    dilation: Spatial
    groups: int
    in_channels: int
    out_channels: int
    bias: bool
    windows: tuple[Window, ...]

    @property
    def ndim(self) -> int:
        return len(self.spatial)

    @property
    def full(self) -> Spatial:
        return tuple((i - 1) * s + d * (k - 1) + 1
                     for i, k, s, d in zip(self.spatial, self.kernel_size, self.stride, self.dilation))

    def layer(self, framework: str, padding: Any, **fields: Any) -> Layer:
        """A layer of `framework` with this geometry's kernel, stride, dilation and channels."""
        base: dict[str, Any] = dict(
            framework=framework, ndim=self.ndim, kernel_size=self.kernel_size, stride=self.stride,
            dilation=self.dilation, padding=padding, groups=self.groups, in_channels=self.in_channels,
            out_channels=self.out_channels, bias=self.bias,
        )
        base.update(fields)
        return Layer(**base)


def per_dim(name: str, value: Any, ndim: int) -> Spatial:
    """An int or a sequence of ints as one int per dim (for frameworks whose messages differ,
    the module checks first); a wrong length is one sentence."""
    if is_int(value):
        return (value,) * ndim
    if isinstance(value, (list, tuple)) and all(is_int(v) for v in value):
        if len(value) == 1:
            return (value[0],) * ndim
        if len(value) == ndim:
            return tuple(value)
    raise ConfigError(f"{name} must be an int or {ndim} ints, but got {value!r}")


def window_sizes(windows: Sequence[Window]) -> Spatial:
    return tuple(w.length for w in windows)
