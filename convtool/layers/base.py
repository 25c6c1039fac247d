"""What every layer kind is: the `LayerKind` protocol, and `Applied`, one kind applied to a shape."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from math import prod
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, NoInverse
from ..footprint import Footprint
from ..params import ConvParams, Shape
from .keys import Key, OptionError

if TYPE_CHECKING:
    import numpy as np


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
    spatial = True  # False: the layer ties the input's spatial size to a constant (linear, flatten, ...)
    tied_to = "flattened size"  # what a non-spatial layer fixes (valid input sizes keep it)
    copy_in_mirror = False  # a mirrored decoder copies the layer as it is (its output shape is its input's)
    channel_key: str | None = None  # the key that holds the channel count, set anew when copied
    torch_helpers: tuple[str, ...] = ()  # source of what export defines for a kind torch has no class for
    reads_indices = False  # max_unpool: its first reference is a max pool, whose indices it reads

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
        the valid input sizes of a stack repeat with the product of these. Entries that are all
        alike stand for every dim (a dims-free kind does not know its input's rank)."""
        return (1,)

    def dims_period(self, config: Mapping[str, Any], ndim: int) -> tuple[int, ...]:
        """`period` for an input of `ndim` spatial dims (a kind whose period depends on the rank
        says so here)."""
        return dims_period(self.period(config), ndim)

    # numeric rule: parameters (seeded, PyTorch's init) and forward
    def init(self, applied: Applied, x: Shape, rng: Any, dtype: Any) -> dict[str, np.ndarray]:
        return {}

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        raise NotImplementedError

    def index_bound(self, applied: Applied) -> int | None:
        """For a layer that reads integer indices (an embedding's rows): they lie in [0, this)."""
        return None

    def references(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        """The names of the further tensors the layer reads, in order (a merge's inputs, the
        tensor a pad or crop takes its size from); they reach `apply` as `skips`."""
        return ()

    def reference_rate(self, config: Mapping[str, Any], position: int) -> tuple[int, ...]:
        """Per spatial dim, how much faster than its first input the tensor a size-comparing layer
        references at `position` (of `references`) must grow for it to keep lining up (1: alike, as
        a pad to a skip's size; a transposed convolution sized like another tensor: its stride).
        Alike entries stand for every dim."""
        return (1,)

    def compares_sizes(self, config: Mapping[str, Any]) -> bool:
        """Whether the layer lines up only when its inputs' sizes compare one way (a center crop
        of a larger skip, a pad to a larger tensor): valid sizes check those grow alike."""
        return False

    def inverse(self, applied: Applied, x: Shape, y: Shape) -> list[dict[str, Any]]:
        """The layers (in the file's schema) that take `y` back to `x` in a mirrored decoder;
        NoInverse says why there are none."""
        raise NoInverse("convtool knows no inverse for this layer type")

    def resize_fix(self, applied: Applied, x: Shape, want: Sequence[int]) -> str | None:
        """The change of this layer's own arguments that makes its output's spatial size
        `want` (a fix for a merge that does not line up), or None."""
        return None

    def merge_fixes(self, config: Mapping[str, Any], x: Shape, other: Shape, label: str) -> list[str]:
        """For a merge (`label` names it) of `x` and `other` that do not line up: the fixes of its
        own options."""
        return []

    def summary(self, config: Mapping[str, Any], options: Mapping[str, Any]) -> str:
        """The compact config as far as it is known without an input (`options` as written)."""
        return " ".join(f"{k}={v}" for k, v in options.items())

    def torch_code(self, applied: Applied, config: Mapping[str, Any]) -> str:
        """The PyTorch expression that builds this layer, explicit arguments included."""
        args = ", ".join(f"{key}={value!r}" for key, value in applied.args.items())
        return f"nn.{self.torch_class}({args})"

    def helpers(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        """The helper definitions export writes for this layer as configured (`config` as written;
        empty when export only knows the applied layer)."""
        return self.torch_helpers

    def workspace(self, applied: Applied, x: Shape, out: Shape) -> int:
        """Elements `forward` allocates beside its input and output, at most (for --verify's
        memory estimate; measured with the peak resident set, see the tests)."""
        return prod(x) + prod(out)


def dims_period(period: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    """A kind's period for an input of `ndim` spatial dims (alike entries stand for every dim).

    >>> dims_period((1,), 3), dims_period((2, 2), 1), dims_period((2, 3), 2)
    ((1, 1, 1), (2,), (2, 3))
    """
    if len(period) == ndim:
        return period
    if len(set(period)) == 1:
        return (period[0],) * ndim
    return (1,) * ndim  # written for another rank: the layer refuses this input anyway


def require_rank(name: str, x: Shape, ranks: tuple[int, ...], what: str | None = None) -> None:
    if len(x) not in ranks:
        allowed = " or ".join(f"{r}D" for r in ranks)
        raise ConfigError(
            f"{name} expects {what or allowed} input, but got input of size: {list(x)}",
            hint="only flatten/linear/unflatten/reshape work on non-spatial tensors"
            if len(x) < min(ranks)
            else None,
        )


def as_option_error(error: ConfigError) -> OptionError:
    """A parameter error of the layer as an error of the key that holds the parameter."""
    return OptionError(error.message, key=error.key, hint=error.hint_lines)


def uniform_weights(rng: Any, bound: float, shape: Sequence[int], dtype: Any) -> np.ndarray:
    from ..numeric import uniform

    return uniform(rng, bound, tuple(shape), dtype)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
