"""Normalisation layers (eval mode)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..footprint import Footprint, span
from ..params import Shape
from .base import Applied, LayerKind
from .keys import Key, OptionError, bool_key, float_key, int_key

if TYPE_CHECKING:
    import numpy as np


class Norm(LayerKind):
    """batch_norm{1,2,3}d, instance_norm{1,2,3}d, group_norm — eval mode."""

    copy_in_mirror = True

    def __init__(self, name: str, torch_class: str, ranks: tuple[int, ...], affine: bool, track: bool) -> None:
        self.name = name
        self.torch_class = torch_class
        self.ranks = ranks
        self.group = name == "group_norm"
        self.instance = name.startswith("instance_norm")
        channel_key = "num_channels" if self.group else "num_features"
        self.channel_key = channel_key
        keys = [Key("num_groups", int_key(1), required=True)] if self.group else []
        keys += [Key(channel_key, int_key(1)), Key("eps", float_key(0.0), 1e-5)]
        if not self.group:
            keys += [Key("momentum", float_key(nullable=True), 0.1), Key("track_running_stats", bool_key, track)]
        keys.append(Key("affine", bool_key, affine))
        self.keys = tuple(keys)
        self.elementwise = not self.group and not self.instance

    def validate(self, config: dict[str, Any]) -> None:
        if self.group and config["num_channels"] is not None and config["num_channels"] % config["num_groups"]:
            raise OptionError(
                f"num_channels ({config['num_channels']}) must be divisible by num_groups ({config['num_groups']})",
                key="num_groups",
            )

    def global_stats(self, args: Mapping[str, Any]) -> bool:
        """Eval mode still normalises with the map's own statistics (every position mixes)."""
        return self.group or (self.instance and not args["track_running_stats"])

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        if len(x) not in self.ranks:
            wanted = " or ".join(f"{r}D" for r in self.ranks)
            raise ConfigError(f"expected {wanted} input (got {len(x)}D input)")
        if self.instance and len(x) == min(self.ranks):
            # PyTorch reads it as one unbatched sample, its first dim as the channels
            raise ConfigError(
                f"{self.name} in an architecture file needs a batched {max(self.ranks)}D input, but got input "
                f"of size: {list(x)}",
                hint=f"PyTorch would read this {len(x)}D tensor as one sample without its batch dim",
            )
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
        if config["affine"] != (not self.instance):
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
        spans = [span(dim) for dim in fp.dims]
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


# the ranks PyTorch takes: batch norm's are batched, instance norm's batched or not
KINDS: tuple[LayerKind, ...] = (
    Norm("batch_norm2d", "BatchNorm2d", (4,), affine=True, track=True),
    Norm("batch_norm1d", "BatchNorm1d", (2, 3), affine=True, track=True),
    Norm("batch_norm3d", "BatchNorm3d", (5,), affine=True, track=True),
    Norm("instance_norm1d", "InstanceNorm1d", (2, 3), affine=False, track=False),
    Norm("instance_norm2d", "InstanceNorm2d", (3, 4), affine=False, track=False),
    Norm("instance_norm3d", "InstanceNorm3d", (4, 5), affine=False, track=False),
    Norm("group_norm", "GroupNorm", (2, 3, 4, 5), affine=True, track=False),
)
