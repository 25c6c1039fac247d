"""Pointwise layers: activations, dropout, identity."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..params import Shape
from .base import Applied, LayerKind
from .keys import Key, OptionError, bool_key, choice_key, float_key

if TYPE_CHECKING:
    import numpy as np


class Elementwise(LayerKind):
    """Activations, dropout (eval: identity) and identity: shape and footprint unchanged."""

    copy_in_mirror = True

    elementwise = True

    def __init__(self, name: str, torch_class: str, keys: tuple[Key, ...], fn: Callable[[Any, Mapping[str, Any]], Any], show: Callable[[Mapping[str, Any]], str] = lambda c: "") -> None:
        self.name = name
        self.torch_class = torch_class
        self.keys = keys
        self.fn = fn
        self.show = show

    def validate(self, config: dict[str, Any]) -> None:
        if self.name == "dropout" and not 0 <= config["p"] <= 1:
            raise OptionError(f"dropout probability has to be between 0 and 1, but got {config['p']:g}", key="p")

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        return Applied(output=x, config=self.show(config), args=dict(config))

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        return self.fn(x, applied.args)


def _gelu(x: Any, args: Mapping[str, Any]) -> Any:
    import numpy as np

    if args["approximate"] == "tanh":
        return (0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))).astype(x.dtype)
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return (0.5 * x * (1 + erf(x / math.sqrt(2)))).astype(x.dtype)


def _sigmoid(x: Any, args: Mapping[str, Any]) -> Any:
    import numpy as np

    return (0.5 * (1 + np.tanh(0.5 * x))).astype(x.dtype)


def _np(name: str) -> Callable[[Any, Mapping[str, Any]], Any]:
    def fn(x: Any, args: Mapping[str, Any]) -> Any:
        import numpy as np

        return getattr(np, name)(x)

    return fn


_INPLACE = Key("inplace", bool_key, False)


def _relu(x: Any, args: Mapping[str, Any]) -> Any:
    return x * (x > 0)


def _leaky(x: Any, args: Mapping[str, Any]) -> Any:
    import numpy as np

    return np.where(x >= 0, x, x * np.asarray(args["negative_slope"], dtype=x.dtype))


def _silu(x: Any, args: Mapping[str, Any]) -> Any:
    return x * _sigmoid(x, args)


KINDS: tuple[LayerKind, ...] = (
    Elementwise("dropout", "Dropout", (Key("p", float_key(), 0.5), _INPLACE), lambda x, a: x, lambda c: f"p={c['p']:g}"),
    Elementwise("relu", "ReLU", (_INPLACE,), _relu),
    Elementwise("leaky_relu", "LeakyReLU", (Key("negative_slope", float_key(), 0.01), _INPLACE), _leaky, lambda c: f"{c['negative_slope']:g}"),
    Elementwise("gelu", "GELU", (Key("approximate", choice_key("none", "tanh"), "none"),), _gelu, lambda c: "tanh" if c["approximate"] == "tanh" else ""),
    Elementwise("silu", "SiLU", (_INPLACE,), _silu),
    Elementwise("sigmoid", "Sigmoid", (), _sigmoid),
    Elementwise("tanh", "Tanh", (), _np("tanh")),
    Elementwise("identity", "Identity", (), lambda x, a: x),
)
