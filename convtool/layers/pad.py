"""Padding and cropping: `pad` (F.pad's per-side amounts, or `to: NAME`, the common U-Net's pad
of the upsampled tensor to its skip's size) and `crop` (per-side amounts, or `to: NAME`, a
center crop), each in every spatial dim."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..footprint import Footprint, gather, map_dims, padded_index
from ..params import Shape
from .base import Applied, LayerKind, require_rank
from .conv import SHAPES
from .keys import Key, OptionError, choice_key, describe, float_key

if TYPE_CHECKING:
    import numpy as np

MODES = ("constant", "reflect", "replicate", "circular")

# What export defines: torch has no module that pads or crops to another tensor's size.
PAD_TO = '''
class PadTo(nn.Module):
    """F.pad of x to the spatial size of `like`: (H - h) // 2 before, the rest after, per dim."""

    def __init__(self, mode: str = "constant", value: float = 0.0) -> None:
        super().__init__()
        self.mode, self.value = mode, value

    def forward(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        pads: list[int] = []
        for big, small in zip(reversed(like.shape[2:]), reversed(x.shape[2:])):
            pads += [(big - small) // 2, big - small - (big - small) // 2]
        return nn.functional.pad(x, pads, mode=self.mode, value=self.value if self.mode == "constant" else None)
'''
PAD = '''
class Pad(nn.Module):
    """F.pad(x, padding, mode, value), as a module."""

    def __init__(self, padding: tuple[int, ...], mode: str = "constant", value: float = 0.0) -> None:
        super().__init__()
        self.padding, self.mode, self.value = padding, mode, value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pad(x, self.padding, mode=self.mode, value=self.value if self.mode == "constant" else None)
'''
CROP = '''
class Crop(nn.Module):
    """x[..., b:-a or None, ...]: `cropping` per side, last dim first (F.pad's order)."""

    def __init__(self, cropping: tuple[int, ...]) -> None:
        super().__init__()
        self.cropping = cropping

    def forward(self, x: torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:
        window = [slice(None)] * x.dim()
        for i in range(len(self.cropping) // 2):
            before, after = self.cropping[2 * i], self.cropping[2 * i + 1]
            window[x.dim() - 1 - i] = slice(before, x.shape[x.dim() - 1 - i] - after)
        return x[tuple(window)]
'''
CROP_TO = '''
class CropTo(nn.Module):
    """The center of x with the spatial size of `like`: offset (H - h) // 2 per dim."""

    def forward(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        window = [slice(None), slice(None)]
        for big, small in zip(x.shape[2:], like.shape[2:]):
            start = (big - small) // 2
            window.append(slice(start, start + small))
        return x[tuple(window)]
'''


def amounts_key(key: str, value: object) -> object:
    """Per-side amounts as F.pad takes them: (left, right, top, bottom, ...), last dim first."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if (isinstance(value, list) and len(value) in (2, 4, 6)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        return tuple(value)
    raise OptionError(f"key '{key}' expects an int or a list of 2, 4 or 6 ints (F.pad's order: last dim "
                      f"first, before then after), but got {describe(value)}", key=key)


def name_key(key: str, value: object) -> object:
    if isinstance(value, str) and value:
        return value
    raise OptionError(f"key '{key}' expects the name of an earlier tensor, but got {describe(value)}", key=key)


def _sides(amounts: int | tuple[int, ...], spatial: int) -> list[tuple[int, int]]:
    """(before, after) per spatial dim, first dim first, from F.pad's last-dim-first order."""
    if isinstance(amounts, int):
        return [(amounts, amounts)] * spatial
    pairs = [(amounts[i], amounts[i + 1]) for i in range(0, len(amounts), 2)]
    if len(pairs) > spatial:
        raise ConfigError(f"Padding length must be divisible by 2 and at most twice the number of spatial dims "
                          f"({spatial}), but got {len(amounts)} values")
    return [(0, 0)] * (spatial - len(pairs)) + pairs[::-1]


def _to_sides(x: Shape, like: Shape, grow: bool) -> list[tuple[int, int]]:
    """The center pad (grow) or crop that takes x's spatial size to like's: diff // 2 before."""
    sides = []
    for a, b in zip(x[2:], like[2:]):
        diff = b - a if grow else a - b
        if diff < 0:
            raise ConfigError(
                f"{'pad' if grow else 'crop'} to a tensor of spatial size {list(like[2:])} from {list(x[2:])}: "
                f"it is {'smaller' if grow else 'larger'}; {'crop' if grow else 'pad'} instead"
            )
        sides.append((diff // 2, diff - diff // 2))
    return sides


class Pad(LayerKind):
    """F.pad: `padding` per side (constant mode may crop with negative amounts), or `to: NAME`."""

    name = "pad"

    def __init__(self) -> None:
        self.keys = (Key("padding", amounts_key), Key("to", name_key), Key("mode", choice_key(*MODES), "constant"),
                     Key("value", float_key(), 0.0))
        self.torch_helpers = (PAD, PAD_TO)

    def validate(self, config: dict[str, Any]) -> None:
        if (config["padding"] is None) == (config["to"] is None):
            raise OptionError("pad takes `padding:` or `to:`, one of them", key="padding", where="layer")

    def references(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        return (config["to"],) if config["to"] is not None else ()

    def compares_sizes(self, config: Mapping[str, Any]) -> bool:
        return config["to"] is not None

    def sides(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...]) -> list[tuple[int, int]]:
        if len(x) < 3:
            raise ConfigError(f"pad needs an (N, C, *spatial) tensor, but got {list(x)}")
        amounts = config["padding"]
        if config["mode"] != "constant" and isinstance(amounts, tuple) and len(amounts) != 2 * (len(x) - 2):
            raise ConfigError(f"Padding size {len(amounts)} is not supported for {len(x)}D input tensor.",
                              hint=f"{config['mode']} padding takes one (before, after) pair per spatial dim: "
                              f"{2 * (len(x) - 2)} values here")
        sides = _to_sides(x, skips[0], grow=True) if config["to"] is not None else _sides(amounts, len(x) - 2)
        for axis in reversed(range(len(sides))):  # PyTorch checks the last dim first
            (before, after), n = sides[axis], x[2 + axis]
            if config["mode"] != "constant" and min(before, after) < 0:
                raise ConfigError(f"negative padding crops only in constant mode, not in {config['mode']} mode")
            if config["mode"] == "reflect" and max(before, after) >= n:
                argument = 4 + 2 * (len(sides) - 1 - axis)
                raise ConfigError(f"Argument #{argument}: Padding size should be less than the corresponding input "
                                  f"dimension, but got: padding ({before}, {after}) at dimension {2 + axis} of input "
                                  f"{list(x)}")
            if config["mode"] == "circular" and max(before, after) > n:
                raise ConfigError("Padding value causes wrapping around more than once.")
        return sides

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        sides = self.sides(config, x, skips)
        out = (*x[:2], *(n + before + after for n, (before, after) in zip(x[2:], sides)))
        if any(n < 1 for n in out[2:]):
            raise ConfigError(f"padding {sides} leaves an empty tensor from {list(x)}")
        flat = tuple(v for before, after in reversed(sides) for v in (before, after))
        shown = f"to {config['to']}" if config["to"] is not None else "p" + ",".join(map(str, flat))
        mode = "" if config["mode"] == "constant" else f" {config['mode']}"
        return Applied(output=out, config=shown + mode, args={"padding": flat, "mode": config["mode"],
                                                               "value": config["value"]})

    def torch_code(self, applied: Applied, config: Mapping[str, Any]) -> str:
        mode, value = applied.args["mode"], applied.args["value"]
        if config.get("to") is not None:
            return f"PadTo(mode={mode!r}, value={value!r})"
        return f"Pad(padding={applied.args['padding']!r}, mode={mode!r}, value={value!r})"

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        flat = applied.args["padding"]
        befores = [flat[2 * i] for i in range(len(flat) // 2)][::-1]
        mode = {"constant": "zeros"}.get(applied.args["mode"], applied.args["mode"])

        def per_dim(axis: int, dim: list[tuple[int, int] | None]) -> list[tuple[int, int] | None]:
            size, before = x[2 + axis], befores[axis]
            out = applied.output[2 + axis]
            return gather(dim, [[j] if (j := padded_index(o - before, size, mode)) is not None else []
                                for o in range(out)])

        return map_dims(fp, per_dim)

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray,
                skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        import numpy as np

        flat = applied.args["padding"]
        sides = [(flat[2 * i], flat[2 * i + 1]) for i in range(len(flat) // 2)][::-1]
        window = [slice(None)] * 2 + [slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(sides, x.shape[2:])]
        x = x[tuple(window)]  # negative amounts crop first
        widths = [(max(b, 0), max(a, 0)) for b, a in sides]
        if applied.args["mode"] == "constant":
            return np.pad(x, [(0, 0), (0, 0), *widths], mode="constant", constant_values=applied.args["value"])
        from ..numeric import pad

        return pad(x, widths, applied.args["mode"])


class Crop(LayerKind):
    """A crop: `cropping` per side (F.pad's order, as `y[..., b:-a]`), or `to: NAME` (center)."""

    name = "crop"

    def __init__(self) -> None:
        self.keys = (Key("cropping", amounts_key), Key("to", name_key))
        self.torch_helpers = (CROP, CROP_TO)

    def validate(self, config: dict[str, Any]) -> None:
        if (config["cropping"] is None) == (config["to"] is None):
            raise OptionError("crop takes `cropping:` or `to:`, one of them", key="cropping", where="layer")
        amounts = config["cropping"]
        if amounts is not None and min((amounts,) if isinstance(amounts, int) else amounts) < 0:
            raise OptionError("key 'cropping' takes amounts >= 0 (pad with `pad`)", key="cropping")

    def references(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        return (config["to"],) if config["to"] is not None else ()

    def compares_sizes(self, config: Mapping[str, Any]) -> bool:
        return config["to"] is not None

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        if len(x) < 3:
            raise ConfigError(f"crop needs an (N, C, *spatial) tensor, but got {list(x)}")
        sides = _to_sides(x, skips[0], grow=False) if config["to"] is not None else _sides(config["cropping"], len(x) - 2)
        out = (*x[:2], *(n - before - after for n, (before, after) in zip(x[2:], sides)))
        if any(n < 1 for n in out[2:]):
            raise ConfigError(f"cropping {sides} leaves an empty tensor from {list(x)}")
        flat = tuple(v for before, after in reversed(sides) for v in (before, after))
        shown = f"to {config['to']}" if config["to"] is not None else "c" + ",".join(map(str, flat))
        return Applied(output=out, config=shown, args={"cropping": flat})

    def torch_code(self, applied: Applied, config: Mapping[str, Any]) -> str:
        return "CropTo()" if config.get("to") is not None else f"Crop(cropping={applied.args['cropping']!r})"

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        flat = applied.args["cropping"]
        befores = [flat[2 * i] for i in range(len(flat) // 2)][::-1]

        def per_dim(axis: int, dim: list[tuple[int, int] | None]) -> list[tuple[int, int] | None]:
            return gather(dim, [[o + befores[axis]] for o in range(applied.output[2 + axis])])

        return map_dims(fp, per_dim)

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray,
                skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        flat = applied.args["cropping"]
        sides = [(flat[2 * i], flat[2 * i + 1]) for i in range(len(flat) // 2)][::-1]
        return x[(slice(None), slice(None), *(slice(b, n - a) for (b, a), n in zip(sides, x.shape[2:])))]


class PadModule(Pad):
    """PyTorch's padding classes (ReflectionPad2d, ZeroPad1d, ConstantPad3d, ...): `pad` with the
    class's mode, for a tensor of the class's rank, written back as the class."""

    CLASSES = {"reflection": ("Reflection", "reflect"), "replication": ("Replication", "replicate"),
               "zero": ("Zero", "constant"), "constant": ("Constant", "constant"), "circular": ("Circular", "circular")}

    def __init__(self, family: str, dims: int) -> None:
        prefix, self.mode = self.CLASSES[family]
        self.dims = dims
        self.name = f"{family}_pad{dims}d"
        self.torch_class = f"{prefix}Pad{dims}d"
        self.keys = (Key("padding", self.padding_key, required=True),)
        if family == "constant":
            self.keys += (Key("value", float_key(), required=True),)
        self.torch_helpers = ()

    def padding_key(self, key: str, value: object) -> object:
        """An int, or 2 per spatial dim (F.pad's order: last dim first, before then after)."""
        amounts = amounts_key(key, value)
        if isinstance(amounts, tuple) and len(amounts) != 2 * self.dims:
            raise OptionError(f"key '{key}' of {self.name} expects an int or a list of {2 * self.dims} ints (last "
                              f"dim first, before then after), but got {describe(value)}", key=key)
        return amounts

    def validate(self, config: dict[str, Any]) -> None:
        pass

    def references(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        return ()

    def compares_sizes(self, config: Mapping[str, Any]) -> bool:
        return False

    def as_pad(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"padding": config["padding"], "to": None, "mode": self.mode, "value": config.get("value", 0.0)}

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        require_rank(self.name, x, (self.dims + 2,), f"a {self.dims + 2}D {SHAPES[self.dims]}")
        return super().apply(self.as_pad(config), x, skips)

    def torch_code(self, applied: Applied, config: Mapping[str, Any]) -> str:
        value = f", value={applied.args['value']!r}" if self.name.startswith("constant") else ""
        return f"nn.{self.torch_class}(padding={applied.args['padding']!r}{value})"


KINDS: tuple[LayerKind, ...] = (
    Pad(), Crop(), *(PadModule(family, dims) for family in PadModule.CLASSES for dims in (1, 2, 3)),
)
