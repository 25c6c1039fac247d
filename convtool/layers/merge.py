"""Merging layers: concat, add and mul, with their skip connections, and attention."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from math import prod
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, NoInverse
from ..footprint import Footprint, union
from ..params import Shape
from ..text import fmt_size
from .base import Applied, LayerKind
from .keys import Key, OptionError, SkipMismatch, crop_key, dim_key, float_key, names_key
from .reshape import _norm_dim

if TYPE_CHECKING:
    import numpy as np


# What export defines for the merges (torch has no module for them): the skips are
# center-cropped to the current tensor first when the layer crops.
CENTER_CROP = '''
def center_crop(skip: torch.Tensor, like: torch.Tensor, keep: int | None = None) -> torch.Tensor:
    """The center of `skip` with the spatial size of `like`: offset (H - h) // 2 per dim, except along dim `keep`."""
    window = [slice(None), slice(None)]
    for axis, (big, small) in enumerate(zip(skip.shape[2:], like.shape[2:]), start=2):
        start = (big - small) // 2
        window.append(slice(None) if axis == keep else slice(start, start + small))
    return skip[tuple(window)]
'''
CONCAT = '''
class Concat(nn.Module):
    """torch.cat([x, *skips], dim); with crop, the skips are center-cropped to x first (but along dim)."""

    def __init__(self, crop: bool = False, dim: int = 1) -> None:
        super().__init__()
        self.crop, self.dim = crop, dim

    def forward(self, x: torch.Tensor, *skips: torch.Tensor) -> torch.Tensor:
        if self.crop:
            skips = tuple(center_crop(skip, x, keep=self.dim % x.dim()) for skip in skips)
        return torch.cat([x, *skips], dim=self.dim)
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
    """concat (along `dim`, default the channels, in order), add (residual) and mul (gating):
    PyTorch's broadcasting for add and mul; `crop: center` crops every further input to the
    first (concat: in every spatial dim but `dim`)."""

    skip = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.keys = (Key("with", names_key, required=True), Key("crop", crop_key, None))
        if name == "concat":
            self.keys += (Key("dim", dim_key, 1),)
        self.torch_helpers = (CENTER_CROP, {"concat": CONCAT, "add": ADD, "mul": MUL}[name])

    def torch_code(self, applied: Applied, config: Mapping[str, Any]) -> str:
        crop = any(any(offsets) for offsets in applied.crops) or config.get("crop") == "center"
        dim = applied.args.get("dim", 1)
        return f"{self.name.capitalize()}(crop={crop!r}" + ("" if dim == 1 else f", dim={dim!r}") + ")"

    def summary(self, config: Mapping[str, Any], options: Mapping[str, Any]) -> str:
        return "with " + ", ".join(config["with"]) + ("" if config.get("dim", 1) == 1 else f" dim={config['dim']}")

    def references(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(config["with"])

    def compares_sizes(self, config: Mapping[str, Any]) -> bool:
        return config["crop"] is not None

    def merge_fixes(self, config: Mapping[str, Any], x: Shape, other: Shape, label: str) -> list[str]:
        fixes = []
        if other[2:] != x[2:] and config["crop"] != "center" and all(o >= c for o, c in zip(other[2:], x[2:])):
            fixes.append(f"add `crop: center` to {label} to center-crop the skip tensor to {fmt_size(x[2:])} "
                         "(as the original U-Net does)")
        if self.name != "concat" and not _broadcast(other[1:2], x[1:2]):
            fixes.append(f"{self.name} needs equal channels ({x[1]} vs {other[1]}): project one side with a "
                         f"{{type: conv2d, kernel_size: 1, out_channels: {x[1]}}}")
        return fixes

    def inverse(self, applied: Applied, x: Shape, y: Shape) -> list[dict[str, Any]]:
        raise NoInverse(
            f"a skip connection ({self.name}) has no inverse in a plain decoder",
            hint="mirror the encoder without its skip connections, or write the decoder out by hand",
        )

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        if len(x) < 2:
            raise ConfigError(f"{self.name} needs an (N, C, ...) tensor, but got {list(x)}")
        if self.name == "concat":
            return self._concat(config, x, skips)
        crops: list[tuple[int, ...]] = []
        for position, other in enumerate(skips):
            if len(other) != len(x) or other[0] != x[0]:
                raise SkipMismatch(
                    f"{self.name}: tensors of shapes {list(x)} and {list(other)} cannot be combined",
                    skip=position, current=x, other=other,
                )
            offsets = tuple(0 for _ in x[2:])
            if other[2:] != x[2:] and not _broadcast(other[2:], x[2:]):
                if config["crop"] == "center" and all(o >= c for o, c in zip(other[2:], x[2:])):
                    offsets = tuple((o - c) // 2 for o, c in zip(other[2:], x[2:]))
                else:
                    raise SkipMismatch(self._size_message(x, other, position), skip=position, current=x, other=other)
            if not _broadcast(other[1:2], x[1:2]):
                raise SkipMismatch(
                    f"The size of tensor a ({x[1]}) must match the size of tensor b ({other[1]}) at "
                    "non-singleton dimension 1",
                    skip=position, current=x, other=other,
                )
            crops.append(offsets)
        # broadcasting as PyTorch: a size-1 dim takes the other's size
        out = x
        for other in skips:
            spread = _broadcast(other[2:], x[2:])  # else it was cropped to x
            out = tuple(max(a, b) if i < 2 or spread else a for i, (a, b) in enumerate(zip(out, other)))
        cropped = any(any(c) for c in crops)
        return Applied(output=out, config="crop center" if cropped else "", crops=tuple(crops))

    def _concat(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...]) -> Applied:
        """torch.cat along `dim`: every other dim equal (spatial ones after the optional crop)."""
        dim = _norm_dim(config["dim"], len(x))
        crops: list[tuple[int, ...]] = []
        total = x[dim]
        for position, other in enumerate(skips):
            if len(other) != len(x):
                raise SkipMismatch(f"Tensors must have same number of dimensions: got {len(x)} and {len(other)}",
                                   skip=position, current=x, other=other)
            spatial = [a for a in range(2, len(x)) if a != dim]
            cropped = config["crop"] == "center" and all(other[a] >= x[a] for a in spatial)
            offsets = tuple(0 if a == dim or not cropped else (other[a] - x[a]) // 2 for a in range(2, len(x)))
            wrong = [a for a in range(len(x)) if a != dim and other[a] != x[a] and not (cropped and a in spatial)]
            if wrong:
                raise SkipMismatch(
                    f"Sizes of tensors must match except in dimension {dim}. Expected size {x[wrong[0]]} but got "
                    f"size {other[wrong[0]]} for tensor number {position + 1} in the list.",
                    skip=position, current=x, other=other,
                )
            crops.append(offsets)
            total += other[dim]
        out = (*x[:dim], total, *x[dim + 1 :])
        shown = " ".join(p for p in ("crop center" if any(any(c) for c in crops) else "",
                                     "" if dim == 1 else f"dim {dim}") if p)
        return Applied(output=out, config=shown, crops=tuple(crops), args={} if config["dim"] == 1 else {"dim": config["dim"]})

    def _size_message(self, x: Shape, other: Shape, position: int) -> str:
        axis = max(a for a in range(2, len(x)) if x[a] != other[a])
        return (
            f"The size of tensor a ({x[axis]}) must match the size of tensor b ({other[axis]}) at "
            f"non-singleton dimension {axis}"
        )

    def _dim(self, applied: Applied, rank: int) -> int:
        return applied.args.get("dim", 1) % rank

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        dims = fp.dims
        cover = fp.cover
        along = self._dim(applied, len(x)) - 2 if self.name == "concat" else -1  # a spatial dim concatenated
        for other, offsets in zip(skips, applied.crops):
            if cover is not None and other.cover is not None:
                cover = tuple(union(a, b) for a, b in zip(cover, other.cover))
            if dims is None or other.dims is None:
                continue
            dims = tuple(
                mine + theirs if axis == along else
                [union(a, b) for a, b in zip(_spread(mine, n), _spread(theirs[off : off + len(mine)] or theirs, n))]
                for axis, (mine, theirs, off, n) in enumerate(zip(dims, other.dims, offsets, applied.output[2:]))
            )
        return Footprint(dims, cover)

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        import numpy as np

        dim = self._dim(applied, x.ndim)
        parts = []
        for other, offsets in zip(skips, applied.crops):
            window = tuple(slice(None) if axis == dim else slice(o, o + n)
                           for axis, (o, n) in enumerate(zip(offsets, x.shape[2:]), start=2))
            index = (slice(None), slice(None)) + window
            parts.append(other[index])
        if self.name == "concat":
            return np.concatenate([x, *parts], axis=dim)
        total = x
        for part in parts:
            total = total + part if self.name == "add" else total * part
        return total


# What export defines for `attention` (torch's function works on (N, L, C) sequences).
ATTENTION = '''
class Attention(nn.Module):
    """softmax(q k^T * scale) v over the flattened positions of (N, C, *spatial) tensors: (N, C of v, *q's spatial)."""

    def __init__(self, scale: float | None = None) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q_, k_, v_ = (t.flatten(2).transpose(1, 2) for t in (q, k, v))
        y = nn.functional.scaled_dot_product_attention(q_, k_, v_, scale=self.scale)
        return y.transpose(1, 2).reshape(q.shape[0], v.shape[1], *q.shape[2:])
'''


def _positions(x: Shape) -> int:
    return prod(x[2:])


class Attention(LayerKind):
    """attention over `inputs: [q, k, v]`: every position of q reads every position of k and v."""

    name = "attention"
    skip = True
    torch_helpers = (ATTENTION,)
    keys = (Key("with", names_key, required=True), Key("scale", float_key(nullable=True), None))

    def validate(self, config: dict[str, Any]) -> None:
        if len(config["with"]) != 2:
            raise OptionError(
                f"attention reads three tensors, q, k and v, but got {len(config['with']) + 1}",
                key="with", hint="write inputs: [q, k, v]  (. = the layer before)",
            )

    def references(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(config["with"])

    def summary(self, config: Mapping[str, Any], options: Mapping[str, Any]) -> str:
        return "k, v = " + ", ".join(config["with"])

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        q, k, v = x, *skips
        named = f"q {list(q)}, k {list(k)}, v {list(v)}"
        if min(len(q), len(k), len(v)) < 2:
            raise ConfigError(f"attention needs (N, C, ...) tensors, but got {named}")
        # PyTorch's words: q·kᵀ and then (attention weights)·v are batched matrix products
        if not q[0] == k[0] == v[0]:
            other = k[0] if k[0] != q[0] else v[0]
            raise ConfigError(f"attention of {named}: The size of tensor a ({q[0]}) must match the size of tensor b "
                              f"({other}) at non-singleton dimension 0")
        n, lq, lk = q[0], _positions(q), _positions(k)
        if k[1] != q[1]:
            raise ConfigError(f"attention of {named}: Expected size for first two dimensions of batch2 tensor to be: "
                              f"[{n}, {q[1]}] but got: [{n}, {k[1]}].", hint="q and k need the same channels")
        if _positions(v) != lk:
            raise ConfigError(f"attention of {named}: Expected size for first two dimensions of batch2 tensor to be: "
                              f"[{n}, {lk}] but got: [{n}, {_positions(v)}].",
                              hint="k and v need the same number of positions")
        scale = config["scale"]
        return Applied(
            output=(n, v[1], *q[2:]),
            macs=n * lq * lk * (q[1] + v[1]),
            config="" if scale is None else f"scale={scale:g}",
            args={"scale": scale},
        )

    def torch_code(self, applied: Applied, config: Mapping[str, Any]) -> str:
        return f"Attention(scale={applied.args['scale']!r})"

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        cover = fp.cover
        for other in skips:
            cover = None if cover is None or other.cover is None else tuple(
                union(a, b) for a, b in zip(cover, other.cover))
        if fp.dims is None or cover is None or len(cover) != len(fp.dims):
            return Footprint(None, cover)
        # each position of q: its own footprint and everything k and v depend on
        reads: list[tuple[int, int] | None] = [None] * len(cover)
        for other in skips:
            if other.cover is not None:
                reads = [union(a, b) for a, b in zip(reads, other.cover)]
        dims = tuple([union(iv, read) for iv in dim] for dim, read in zip(fp.dims, reads))
        return Footprint(dims, cover)

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        import numpy as np

        k, v = skips
        n = x.shape[0]
        q_ = x.reshape(n, x.shape[1], -1).transpose(0, 2, 1)  # (N, Lq, C)
        k_ = k.reshape(n, k.shape[1], -1)  # (N, C, Lk)
        v_ = v.reshape(n, v.shape[1], -1).transpose(0, 2, 1)  # (N, Lk, Cv)
        scale = applied.args["scale"]
        # in place: the (N, Lq, Lk) scores are the one large array, in the input's dtype
        scores = q_ @ k_
        scores *= 1 / math.sqrt(x.shape[1]) if scale is None else scale
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        y = scores @ v_
        return y.transpose(0, 2, 1).reshape(n, v.shape[1], *x.shape[2:]).astype(x.dtype)

    def workspace(self, applied: Applied, x: Shape, out: Shape) -> int:
        scores = applied.macs // (x[1] + out[1])  # N·Lq·Lk, computed in place
        return scores + 2 * prod(x) + 2 * prod(out)  # and the transposed copies of q, v and the output


# -- the registry ---------------------------------------------------------------------------


KINDS: tuple[LayerKind, ...] = (
    Skip("concat"),
    Skip("add"),
    Skip("mul"),
    Attention(),
)


def _spread(positions: list[Any], n: int) -> list[Any]:
    """A broadcast dim of size 1 read at every one of n positions."""
    return positions * n if len(positions) == 1 and n > 1 else positions
