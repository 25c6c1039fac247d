"""Merging layers: concat and add, with their skip connections."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, NoInverse
from ..footprint import Footprint, union
from ..params import Shape
from ..text import fmt_size
from .base import Applied, LayerKind
from .fix import Fix, changes_values, edges, in_block, pairs, set_keys
from .keys import Key, SkipMismatch, crop_key, names_key

if TYPE_CHECKING:
    import numpy as np


# What export defines for the merges (torch has no module for them): the skips are
# center-cropped to the current tensor first when the layer crops.
CENTER_CROP = '''
def center_crop(skip: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The center of `skip` with the spatial size of `like`: offset (H - h) // 2 per dim."""
    window = [slice(None), slice(None)]
    for big, small in zip(skip.shape[2:], like.shape[2:]):
        start = (big - small) // 2
        window.append(slice(start, start + small))
    return skip[tuple(window)]
'''
CONCAT = '''
class Concat(nn.Module):
    """torch.cat([x, *skips], dim=1); with crop, the skips are center-cropped to x first."""

    def __init__(self, crop: bool = False) -> None:
        super().__init__()
        self.crop = crop

    def forward(self, x: torch.Tensor, *skips: torch.Tensor) -> torch.Tensor:
        if self.crop:
            skips = tuple(center_crop(skip, x) for skip in skips)
        return torch.cat([x, *skips], dim=1)
'''
MUL = '''
class Mul(nn.Module):
    """x * skip * ... (elementwise, broadcasting); with crop, the skips are center-cropped to x first."""

    def __init__(self, crop: bool = False) -> None:
        super().__init__()
        self.crop = crop

    def forward(self, x: torch.Tensor, *skips: torch.Tensor) -> torch.Tensor:
        for skip in skips:
            x = x * (center_crop(skip, x) if self.crop else skip)
        return x
'''
ADD = '''
class Add(nn.Module):
    """x + skip + ... (a residual connection); with crop, the skips are center-cropped to x first."""

    def __init__(self, crop: bool = False) -> None:
        super().__init__()
        self.crop = crop

    def forward(self, x: torch.Tensor, *skips: torch.Tensor) -> torch.Tensor:
        for skip in skips:
            x = x + (center_crop(skip, x) if self.crop else skip)
        return x
'''


def _broadcast(a: Sequence[int], b: Sequence[int]) -> bool:
    """Whether two sizes broadcast as PyTorch's elementwise ops do (equal, or one of them 1)."""
    return all(m == n or 1 in (m, n) for m, n in zip(a, b))


class Skip(LayerKind):
    """concat (along channels, in order), add (residual) and mul (gating): PyTorch's
    broadcasting for add and mul; `crop: center` crops every further input to the first."""

    skip = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.keys = (Key("with", names_key, required=True), Key("crop", crop_key, None))
        self.torch_helpers = (CENTER_CROP, {"concat": CONCAT, "add": ADD, "mul": MUL}[name])

    def torch_code(self, applied: Applied, config: Mapping[str, Any]) -> str:
        crop = any(any(offsets) for offsets in applied.crops) or config.get("crop") == "center"
        return f"{self.name.capitalize()}(crop={crop!r})"

    def summary(self, config: Mapping[str, Any], options: Mapping[str, Any]) -> str:
        return "with " + ", ".join(config["with"])

    def references(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(config["with"])

    def compares_sizes(self, config: Mapping[str, Any]) -> bool:
        return config["crop"] is not None

    def merge_fixes(self, config: Mapping[str, Any], x: Shape, skips: Sequence[Shape], path: str, label: str,
                    block: str | None = None) -> list[Fix]:
        """`crop: center` when every further input is at least as large as the first in every dim;
        it drops the skips' outer rows and columns (said in the fix)."""
        if config["crop"] == "center" or all(other[2:] == x[2:] for other in skips):
            return []
        if not all(len(other) == len(x) and all(o >= c for o, c in zip(other[2:], x[2:])) for other in skips):
            return []
        values = {"crop": "center"}
        dropped = {
            edges([(o - c) // 2 for o, c in zip(other[2:], x[2:])], [o - c - (o - c) // 2 for o, c in zip(other[2:], x[2:])])
            for other in skips if other[2:] != x[2:]
        }
        note = "it drops " + " / ".join(sorted(dropped)) + " of the skip tensor"
        text = (f"add `{pairs(values)}` to {label} to center-crop the skip tensor to {fmt_size(x[2:])} "
                f"(as the original U-Net does){in_block(block)}{changes_values(note)}")
        return [Fix(text, ((set_keys(path, values, block),),))]

    def inverse(self, applied: Applied, x: Shape, y: Shape) -> list[dict[str, Any]]:
        raise NoInverse(
            f"a skip connection ({self.name}) has no inverse in a plain decoder",
            hint="mirror the encoder without its skip connections, or write the decoder out by hand",
        )

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
            elementwise = self.name != "concat"
            if other[2:] != x[2:] and not (elementwise and _broadcast(other[2:], x[2:])):
                if config["crop"] == "center" and all(o >= c for o, c in zip(other[2:], x[2:])):
                    offsets = tuple((o - c) // 2 for o, c in zip(other[2:], x[2:]))
                else:
                    raise SkipMismatch(self._size_message(x, other, position), skip=position, current=x, other=other)
            if elementwise and not _broadcast(other[1:2], x[1:2]):
                raise SkipMismatch(
                    f"The size of tensor a ({x[1]}) must match the size of tensor b ({other[1]}) at "
                    "non-singleton dimension 1",
                    skip=position, current=x, other=other,
                )
            crops.append(offsets)
            channels += other[1]
        if self.name != "concat":  # broadcasting as PyTorch: a size-1 dim takes the other's size
            out = x
            for other in skips:
                spread = _broadcast(other[2:], x[2:])  # else it was cropped to x
                out = tuple(max(a, b) if i < 2 or spread else a for i, (a, b) in enumerate(zip(out, other)))
            cropped = any(any(c) for c in crops)
            return Applied(output=out, config="crop center" if cropped else "", crops=tuple(crops))
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
                cover = tuple(union(a, b) for a, b in zip(cover, other.cover))
            if dims is None or other.dims is None:
                continue
            dims = tuple(
                [union(a, b) for a, b in zip(_spread(mine, n), _spread(theirs[off : off + len(mine)] or theirs, n))]
                for mine, theirs, off, n in zip(dims, other.dims, offsets, applied.output[2:])
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
            total = total + part if self.name == "add" else total * part
        return total


# -- the registry ---------------------------------------------------------------------------


KINDS: tuple[LayerKind, ...] = (
    Skip("concat"),
    Skip("add"),
    Skip("mul"),
)


def _spread(positions: list[Any], n: int) -> list[Any]:
    """A broadcast dim of size 1 read at every one of n positions."""
    return positions * n if len(positions) == 1 and n > 1 else positions
