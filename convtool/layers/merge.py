"""Merging layers: concat and add, with their skip connections."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, NoInverse
from ..footprint import Footprint, union
from ..params import Shape
from .base import Applied, LayerKind
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


class Skip(LayerKind):
    """concat (along channels, current tensor first) and add (residual), SPEC §5.3."""

    skip = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.keys = (Key("with", names_key, required=True), Key("crop", crop_key, None))
        self.torch_helpers = (CENTER_CROP, CONCAT if name == "concat" else ADD)

    def torch_code(self, applied: Applied, config: Mapping[str, Any]) -> str:
        crop = any(any(offsets) for offsets in applied.crops) or config.get("crop") == "center"
        return f"{'Concat' if self.name == 'concat' else 'Add'}(crop={crop!r})"

    def summary(self, config: Mapping[str, Any], options: Mapping[str, Any]) -> str:
        return "with " + ", ".join(config["with"])

    def merge_fixes(self, x: Shape, other: Shape) -> list[str]:
        if self.name != "add" or other[1] == x[1]:
            return []
        return [f"add needs equal channels ({x[1]} vs {other[1]}): project one side with a "
                f"{{type: conv2d, kernel_size: 1, out_channels: {x[1]}}}"]

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
                cover = tuple(union(a, b) for a, b in zip(cover, other.cover))
            if dims is None or other.dims is None:
                continue
            dims = tuple(
                [union(a, b) for a, b in zip(mine, theirs[off : off + len(mine)])]
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


KINDS: tuple[LayerKind, ...] = (
    Skip("concat"),
    Skip("add"),
)
