"""Slicing: one part of a tensor along one dim (`x[..., start:end:step]` as Python's slices)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..footprint import Footprint, span
from ..params import Shape
from .base import Applied, LayerKind
from .keys import Key, OptionError, describe, dim_key
from .reshape import _norm_dim

if TYPE_CHECKING:
    import numpy as np


# What export defines for `slice` (torch has no module for it).
SLICE = '''
class Slice(nn.Module):
    """x[..., start:end:step] along `dim` (Python's slice: negative values count from the end)."""

    def __init__(self, dim: int, start: int = 0, end: int | None = None, step: int = 1) -> None:
        super().__init__()
        self.dim, self.window = dim, slice(start, end, step)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = [slice(None)] * x.dim()
        index[self.dim] = self.window
        return x[tuple(index)]
'''


def _bound(key: str, value: object) -> object:
    """`start`/`end`: an int (negative counts from the end) or null (the end)."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise OptionError(f"key '{key}' expects an int (negative counts from the end) or null, but got {describe(value)}",
                      key=key)


def _step(key: str, value: object) -> object:
    if not isinstance(value, int) or isinstance(value, bool):
        raise OptionError(f"key '{key}' expects an int >= 1, but got {describe(value)}", key=key)
    if value == 0:
        raise OptionError("slice step cannot be zero", key=key)
    if value < 0:
        raise OptionError("step must be greater than zero", key=key,
                          hint="a reversed slice is not a tensor view in PyTorch; use torch.flip")
    return value


def window(config: Mapping[str, Any], size: int) -> range:
    """The indices a slice keeps of a dim of `size`, as Python's `range(size)[start:end:step]`.

    >>> list(window({"start": -3, "end": None, "step": 2}, 7))
    [4, 6]
    """
    return range(size)[slice(config["start"], config["end"], config["step"])]


class Slice(LayerKind):
    """slice: `dim` (default 1), `start`, `end`, `step` as Python's slices; an empty part is refused."""

    name = "slice"
    torch_helpers = (SLICE,)
    keys = (Key("dim", dim_key, 1), Key("start", _bound, 0), Key("end", _bound, None), Key("step", _step, 1))

    def dims_period(self, config: Mapping[str, Any], ndim: int) -> tuple[int, ...]:
        # a step along a spatial dim divides its size
        dim, step = config["dim"], config["step"]
        axis = dim - 2 if dim >= 0 else dim + ndim  # a negative dim counts from the last spatial one
        return tuple(step if a == axis else 1 for a in range(ndim))

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        dim = _norm_dim(config["dim"], len(x))
        kept = window(config, x[dim])
        if not kept:
            end = "the end" if config["end"] is None else config["end"]
            raise ConfigError(
                f"slice of dim {dim} (size {x[dim]}) from {config['start']} to {end} is empty",
                hint=f"start and end are indices of that dim: from {-x[dim]} to {x[dim] - 1} (negative counts from the end)",
            )
        out = (*x[:dim], len(kept), *x[dim + 1 :])
        end = "" if config["end"] is None else config["end"]
        step = "" if config["step"] == 1 else f":{config['step']}"
        args = {"dim": config["dim"], "start": config["start"], "end": config["end"], "step": config["step"]}
        return Applied(output=out, config=f"dim {dim} [{config['start']}:{end}{step}]", args=args)

    def torch_code(self, applied: Applied, config: Mapping[str, Any]) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in applied.args.items())
        return f"Slice({args})"

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        axis = _norm_dim(applied.args["dim"], len(x)) - 2
        if axis < 0 or fp.dims is None:
            return fp
        dims = list(fp.dims)
        dims[axis] = [dims[axis][i] for i in window(applied.args, x[axis + 2])]
        cover = fp.cover
        if cover is not None and len(cover) == len(dims):  # the dropped positions no longer count
            cover = tuple(span(dims[axis]) if a == axis else c for a, c in enumerate(cover))
        return Footprint(tuple(dims), cover)

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        a = applied.args
        index: list[Any] = [slice(None)] * x.ndim
        index[a["dim"]] = slice(a["start"], a["end"], a["step"])
        return x[tuple(index)]


KINDS: tuple[LayerKind, ...] = (Slice(),)
