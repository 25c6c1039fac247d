"""Layers that reshape: linear, flatten, unflatten, reshape, embedding."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from math import prod
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..footprint import Footprint, span
from ..params import Shape
from .base import Applied, LayerKind, uniform_weights
from .keys import Key, OptionError, bool_key, describe, dim_key, int_key, shape_key

if TYPE_CHECKING:
    import numpy as np


class Linear(LayerKind):
    name = "linear"
    torch_class = "Linear"
    spatial = False
    tied_to = "last dim"
    keys = (Key("in_features", int_key(1)), Key("out_features", int_key(1), required=True), Key("bias", bool_key, True))

    def inverse(self, applied: Applied, x: Shape, y: Shape) -> list[dict[str, Any]]:
        a = applied.args
        return [{"type": "linear", "in_features": a["out_features"], "out_features": a["in_features"], "bias": a["bias"]}]

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
        last = span(fp.dims[-1])
        return Footprint((*fp.dims[:-1], [last] * applied.output[-1]), fp.cover)

    def init(self, applied: Applied, x: Shape, rng: Any, dtype: Any) -> dict[str, np.ndarray]:
        a = applied.args
        bound = 1 / math.sqrt(a["in_features"])
        weights = {"weight": uniform_weights(rng, bound, (a["out_features"], a["in_features"]), dtype)}
        if a["bias"]:
            weights["bias"] = uniform_weights(rng, bound, (a["out_features"],), dtype)
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
    spatial = False
    keys = (Key("start_dim", dim_key, 1), Key("end_dim", dim_key, -1))

    def inverse(self, applied: Applied, x: Shape, y: Shape) -> list[dict[str, Any]]:
        start, end = applied.args["start_dim"] % len(x), applied.args["end_dim"] % len(x)
        return [{"type": "unflatten", "dim": start, "shape": list(x[start : end + 1])}]

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


# What export defines for `reshape` (torch has no module for it).
RESHAPE = '''
class Reshape(nn.Module):
    """x.reshape(N, *shape): the batch dim is kept."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)
'''


class Unflatten(LayerKind):
    """unflatten (nn.Unflatten(dim, shape)) and reshape (`shape` excludes the batch dim)."""

    spatial = False

    def __init__(self, reshape: bool) -> None:
        self.reshape = reshape
        self.name = "reshape" if reshape else "unflatten"
        self.torch_class = None if reshape else "Unflatten"
        self.torch_helpers = (RESHAPE,) if reshape else ()
        self.keys = (Key("shape", shape_key, required=True),) + (() if reshape else (Key("dim", dim_key, 1),))

    def torch_code(self, applied: Applied, config: Mapping[str, Any]) -> str:
        if self.reshape:
            return f"Reshape(shape={tuple(applied.args['shape'])!r})"
        return super().torch_code(applied, config)

    def inverse(self, applied: Applied, x: Shape, y: Shape) -> list[dict[str, Any]]:
        if self.reshape:
            return [{"type": "reshape", "shape": list(x[1:])}]
        dim = applied.args["dim"] % len(x)
        return [{"type": "flatten", "start_dim": dim, "end_dim": dim + len(applied.args["unflattened_size"]) - 1}]

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


def _padding_idx(key: str, value: object) -> object:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise OptionError(f"key '{key}' expects an int (a row of the table, may be negative) or null, but got "
                      f"{describe(value)}", key=key)


class Embedding(LayerKind):
    """embedding: integer indices of any shape -> that shape + (embedding_dim,), a table lookup."""

    name = "embedding"
    torch_class = "Embedding"
    keys = (
        Key("num_embeddings", int_key(1), required=True),
        Key("embedding_dim", int_key(1), required=True),
        Key("padding_idx", _padding_idx, None),
    )

    def validate(self, config: dict[str, Any]) -> None:
        count, row = config["num_embeddings"], config["padding_idx"]
        if row is not None and not -count <= row < count:
            raise OptionError("Padding_idx must be within num_embeddings", key="padding_idx",
                              hint=f"a row from {-count} to {count - 1}, or null")

    def index_bound(self, applied: Applied) -> int | None:
        return applied.args["num_embeddings"]

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        count, width = config["num_embeddings"], config["embedding_dim"]
        return Applied(
            output=(*x, width),
            param_count=count * width,
            config=f"{count}x{width}",
            args={"num_embeddings": count, "embedding_dim": width, "padding_idx": config["padding_idx"]},
        )

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        return fp.flat()  # the new last dim is not a dim of the network's input

    def init(self, applied: Applied, x: Shape, rng: Any, dtype: Any) -> dict[str, np.ndarray]:
        a = applied.args
        table = rng.standard_normal((a["num_embeddings"], a["embedding_dim"]), dtype=dtype)
        if a["padding_idx"] is not None:  # PyTorch zeroes the padding row
            table[a["padding_idx"]] = 0
        return {"weight": table}

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        import numpy as np

        if not np.issubdtype(x.dtype, np.integer):
            raise ConfigError(
                "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; "
                f"but got {x.dtype.name} instead (while checking arguments for embedding)",
                hint="an embedding reads class indices: mark the network input as integers",
            )
        if x.size and (x.min() < 0 or x.max() >= applied.args["num_embeddings"]):
            raise ConfigError("index out of range in self")
        return weights["weight"][x]

    def workspace(self, applied: Applied, x: Shape, out: Shape) -> int:
        return prod(x)  # the lookup writes the output itself; the indices' range check reads them


KINDS: tuple[LayerKind, ...] = (
    Linear(),
    Flatten(),
    Unflatten(reshape=False),
    Unflatten(reshape=True),
    Embedding(),
)
