"""Resampling: upsample (interpolate), pixel shuffle and unshuffle."""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..footprint import Footprint, gather, map_dims
from ..params import Shape
from ..text import compact_x
from .base import Applied, LayerKind, require_rank
from .conv import per_dim_arg
from .keys import Key, Like, OptionError, bool_key, choice_key, int_key, like_key, scale_key, size_key
from .pool import AdaptivePool, per_dim

if TYPE_CHECKING:
    import numpy as np


def _f32(value: float) -> float:
    """Round to float32, as PyTorch's float kernels compute source indices."""
    return struct.unpack("f", struct.pack("f", value))[0]


MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")  # the modes that take align_corners
MODE_RANKS = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}  # the others take 3D to 5D
CUBIC = -0.75  # the cubic convolution's A, as PyTorch's bicubic kernel


class Upsample(LayerKind):
    """nn.Upsample / F.interpolate in 1, 2 or 3 spatial dims (the input's rank), every mode but
    lanczos; `size: {like: NAME}` takes NAME's spatial size."""

    name = "upsample"
    torch_class = "Upsample"
    keys = (
        Key("size", like_key(size_key(ndim=None))),
        Key("scale_factor", scale_key),
        Key("mode", choice_key(*MODES), "nearest"),
        Key("align_corners", lambda k, v: None if v is None else bool_key(k, v), None),
        Key("recompute_scale_factor", lambda k, v: None if v is None else bool_key(k, v), None),
    )

    def validate(self, config: dict[str, Any]) -> None:
        if config["size"] is None and config["scale_factor"] is None:
            raise OptionError("either size or scale_factor should be defined", where="layer")
        if config["size"] is not None and config["scale_factor"] is not None:
            raise OptionError("only one of size or scale_factor should be defined", key="scale_factor")
        if config["mode"] not in INTERPOLATING and config["align_corners"] is not None:
            raise OptionError(
                "align_corners option can only be set with the interpolating modes: "
                "linear | bilinear | bicubic | trilinear",
                key="align_corners",
            )

    def references(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        return (config["size"].name,) if isinstance(config["size"], Like) else ()

    def period(self, config: Mapping[str, Any]) -> tuple[int, ...]:
        if config["scale_factor"] is None:
            return (1,)  # a fixed output size, or another tensor's
        # floor(n * f) repeats when n grows by f's denominator (f as the float PyTorch uses)
        factors = config["scale_factor"]
        return tuple(Fraction(float(f)).denominator for f in (factors if isinstance(factors, tuple) else (factors,)))

    def inverse(self, applied: Applied, x: Shape, y: Shape) -> list[dict[str, Any]]:
        return [{"type": f"adaptive_avg_pool{len(x) - 2}d", "output_size": list(x[2:])}]

    def check_rank(self, config: Mapping[str, Any], x: Shape) -> None:
        """PyTorch's refusals of an input rank the mode (or the written size) does not fit."""
        spatial = list(x[2:])
        for key, given, form in (("size", "output size of", "output size in (o1, o2, ...,oK)"),
                                 ("scale_factor", "scale_factor of shape", "scale_factor in (s1, s2, ...,sK)")):
            value = config[key]
            if isinstance(value, tuple) and len(value) != len(spatial):
                what = "output" if key == "size" else key
                shown = list(value) if key == "size" else value  # F.interpolate's list, nn.Upsample's floats
                raise ConfigError(
                    f"Input and {what} must have the same number of spatial dimensions, but got input with "
                    f"spatial dimensions of {spatial} and {given} {shown}. Please provide input tensor in "
                    f"(N, C, d1, d2, ...,dK) format and {form} format."
                )
        mode = config["mode"]
        if len(x) in (3, 4, 5) and mode in MODE_RANKS and len(x) != MODE_RANKS[mode] and mode != "bicubic":
            raise ConfigError(f"Got {len(x)}D input, but {mode} mode needs {MODE_RANKS[mode]}D input")
        if len(x) not in (3, 4, 5) or (mode == "bicubic" and len(x) != 4):
            raise ConfigError(
                f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {len(x)}D) for the modes: "
                f"nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact (got {mode})",
                hint="upsample takes (N, C, L), (N, C, H, W) or (N, C, D, H, W) tensors" + (
                    "; bicubic takes (N, C, H, W) only" if mode == "bicubic" else ""),
            )

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        self.check_rank(config, x)
        n = len(x) - 2
        size = config["size"]
        if isinstance(size, Like):
            size = skips[0][2:]
            if len(size) != n:
                raise ConfigError(f"size like {config['size'].name} has {len(size)} spatial dims, but the input "
                                  f"of upsample has {n}")
        if size is not None:
            out = per_dim(size, n)
            shown = f"to {'x'.join(map(str, out))}"
        else:
            sf = per_dim(config["scale_factor"], n)
            out = tuple(math.floor(float(i * f)) for i, f in zip(x[2:], sf))
            shown = f"x{compact_x([f'{f:g}' for f in sf])}"
        if any(o < 1 for o in out) and config["mode"] != "area":  # area is adaptive pooling: it returns empty maps
            names = "W" if n == 1 else "HW" if n == 2 else "DHW"
            joint = " and" if n == 1 else ""
            given = ", ".join(f"{a}: {v}" for a, v in zip(names, x[2:]))
            got = ", ".join(f"{a}: {v}" for a, v in zip(names, out))
            raise ConfigError(f"Input and output sizes should be greater than 0, but got input ({given}){joint} output ({got})")
        if any(o < 1 for o in out):
            raise ConfigError(f"upsample in area mode gives an empty output {list(out)} from {list(x[2:])}",
                              hint="use a larger input or scale_factor")
        args: dict[str, Any] = {}
        if isinstance(config["size"], Like):
            args["size"] = per_dim_arg(out)
        elif config["size"] is not None:
            args["size"] = per_dim_arg(per_dim(config["size"], n))
        else:
            args["scale_factor"] = per_dim_arg(per_dim(config["scale_factor"], n))
        args["mode"] = config["mode"]
        if config["mode"] in INTERPOLATING:
            args["align_corners"] = bool(config["align_corners"])
        if config["recompute_scale_factor"] is not None:
            args["recompute_scale_factor"] = config["recompute_scale_factor"]
        if isinstance(config["size"], Like):
            shown = f"like {config['size'].name} ({'x'.join(map(str, out))})"
        config_text = f"{shown} {config['mode']}" + (" align_corners" if config["align_corners"] else "")
        return Applied(output=(x[0], x[1], *out), config=config_text, args=args)

    def torch_code(self, applied: Applied, config: Mapping[str, Any]) -> str:
        if isinstance(config.get("size"), Like):
            args = ", ".join(f"{key}={value!r}" for key, value in applied.args.items() if key != "size")
            return f"UpsampleLike({args})"
        return super().torch_code(applied, config)

    def helpers(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        return (UPSAMPLE_LIKE,) if isinstance(config.get("size"), Like) else ()

    def taps(self, applied: Applied, axis: int, i: int) -> list[list[tuple[int, float]]]:
        """Per output index along one axis: (input index, weight) pairs, PyTorch's float32 rule
        (every mode is separable: a box's mean, or a product of per-dim weights)."""
        a = applied.args
        o = applied.output[2 + axis]
        n = len(applied.output) - 2
        scales = a.get("scale_factor") if not a.get("recompute_scale_factor") else None
        given = per_dim(scales, n)[axis] if scales is not None else None
        mode = a["mode"]
        if mode == "area":
            return [[(j, 1.0 / (end - start)) for j in range(start, end)] for start, end in AdaptivePool.bounds(i, o)]
        if mode in ("nearest", "nearest-exact"):
            exact = mode == "nearest-exact"
            if o == i:
                return [[(j, 1.0)] for j in range(o)]
            if o == 2 * i and not exact:
                return [[(j >> 1, 1.0)] for j in range(o)]
            scale = _f32(1.0 / given) if given else _f32(i / o)
            return [[(min(int(math.floor(_f32(_f32(j + 0.5 * exact) * scale))), i - 1), 1.0)] for j in range(o)]
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
                if mode != "bicubic":
                    src = max(src, 0.0)
            if mode == "bicubic":
                result.append(_cubic_taps(src, i))
                continue
            i0 = min(int(src), i - 1)
            lam = _f32(src - i0) if i0 < i - 1 else 0.0
            pairs = [(i0, _f32(1.0 - lam))]
            if lam > 0:
                pairs.append((i0 + 1, lam))
            result.append(pairs)
        return result

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        return map_dims(
            fp, lambda ax, dim: gather(dim, ([j for j, w in t if w] for t in self.taps(applied, ax, x[2 + ax])))
        )

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        import numpy as np

        result = x
        for axis in range(x.ndim - 2):
            taps = self.taps(applied, axis, x.shape[2 + axis])
            matrix = np.zeros((len(taps), x.shape[2 + axis]), dtype=np.float64)
            for j, pairs in enumerate(taps):
                for i, w in pairs:
                    matrix[j, i] += w
            result = np.moveaxis(np.tensordot(matrix.astype(x.dtype), result, axes=([1], [2 + axis])), 0, 2 + axis)
        return np.ascontiguousarray(result)


def _cubic_taps(src: float, size: int) -> list[tuple[int, float]]:
    """Bicubic's four taps around `src` (indices clamped to the edge, as PyTorch reads them).

    >>> [(j, round(w, 4)) for j, w in _cubic_taps(1.5, 4)]
    [(0, -0.0938), (1, 0.5938), (2, 0.5938), (3, -0.0938)]
    """
    floor = min(math.floor(src), size - 1)
    t = min(max(_f32(src - floor), 0.0), 1.0)

    def near(d: float) -> float:  # |d| <= 1
        return ((CUBIC + 2) * d - (CUBIC + 3)) * d * d + 1

    def far(d: float) -> float:  # 1 < |d| < 2
        return ((CUBIC * d - 5 * CUBIC) * d + 8 * CUBIC) * d - 4 * CUBIC

    weights = (far(t + 1), near(t), near(1 - t), far(2 - t))
    return [(min(max(floor - 1 + k, 0), size - 1), w) for k, w in enumerate(weights)]


# What export defines: nn.Upsample takes a fixed size; this one reads it off another tensor.
UPSAMPLE_LIKE = '''
class UpsampleLike(nn.Module):
    """F.interpolate of x to the spatial size of `like`."""

    def __init__(self, mode: str = "nearest", align_corners: bool | None = None) -> None:
        super().__init__()
        self.mode, self.align_corners = mode, align_corners

    def forward(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(x, size=like.shape[2:], mode=self.mode, align_corners=self.align_corners)
'''


class PixelShuffle(LayerKind):
    def __init__(self, unshuffle: bool) -> None:
        self.unshuffle = unshuffle
        self.name = "pixel_unshuffle" if unshuffle else "pixel_shuffle"
        self.torch_class = "PixelUnshuffle" if unshuffle else "PixelShuffle"
        self.factor_key = "downscale_factor" if unshuffle else "upscale_factor"
        self.keys = (Key(self.factor_key, int_key(1), required=True),)

    def period(self, config: Mapping[str, Any]) -> tuple[int, ...]:
        return (config[self.factor_key],) if self.unshuffle else (1,)

    def inverse(self, applied: Applied, x: Shape, y: Shape) -> list[dict[str, Any]]:
        factor = applied.args[self.factor_key]
        if self.unshuffle:
            return [{"type": "pixel_shuffle", "upscale_factor": factor}]
        return [{"type": "pixel_unshuffle", "downscale_factor": factor}]

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        require_rank(self.name, x, (4,), "a 4D (N, C, H, W)")
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
            return map_dims(fp, lambda ax, dim: gather(dim, (range(o * r, o * r + r) for o in range(len(dim) // r))))
        return map_dims(fp, lambda ax, dim: [dim[o // r] for o in range(len(dim) * r)])

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        r = applied.args[self.factor_key]
        n, c, h, w = x.shape
        if self.unshuffle:
            y = x.reshape(n, c, h // r, r, w // r, r).transpose(0, 1, 3, 5, 2, 4)
            return y.reshape(n, c * r * r, h // r, w // r)
        y = x.reshape(n, c // (r * r), r, r, h, w).transpose(0, 1, 4, 2, 5, 3)
        return y.reshape(n, c // (r * r), h * r, w * r)


KINDS: tuple[LayerKind, ...] = (
    Upsample(),
    PixelShuffle(unshuffle=False),
    PixelShuffle(unshuffle=True),
)
