"""Pointwise layers: activations, dropout, identity, softmax, and scale/shift by a constant."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..footprint import Footprint, span
from ..params import Shape
from .base import Applied, LayerKind, require_rank
from .keys import Key, OptionError, bool_key, choice_key, describe, float_key, int_key

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


def _elu(x: Any, args: Mapping[str, Any]) -> Any:
    import numpy as np

    return np.where(x > 0, x, np.expm1(x) * np.asarray(args["alpha"], dtype=x.dtype))


def _softplus_of(x: Any) -> Any:
    """log(1 + exp(x)) without overflow."""
    import numpy as np

    return np.logaddexp(np.zeros((), dtype=x.dtype), x)


def _mish(x: Any, args: Mapping[str, Any]) -> Any:
    import numpy as np

    return x * np.tanh(_softplus_of(x))


def _hardswish(x: Any, args: Mapping[str, Any]) -> Any:
    import numpy as np

    return x * np.clip(x + 3, 0, 6) / 6


def _softplus(x: Any, args: Mapping[str, Any]) -> Any:
    import numpy as np

    beta, threshold = args["beta"], args["threshold"]
    scaled = x * np.asarray(beta, dtype=x.dtype)
    # above the threshold PyTorch returns x itself (log(1 + e^bx)/b is x to working precision)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(scaled > threshold, x, _softplus_of(scaled) / np.asarray(beta, dtype=x.dtype))


class PReLU(LayerKind):
    """PReLU: max(0, x) + a·min(0, x), with one learnt slope or one per channel (dim 1)."""

    name = "prelu"
    torch_class = "PReLU"
    keys = (Key("num_parameters", int_key(1), 1), Key("init", float_key(), 0.25))
    copy_in_mirror = True
    elementwise = True

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        count = config["num_parameters"]
        channels = x[1] if len(x) >= 2 else 1
        if count != 1 and count != channels:
            raise ConfigError(
                f"Mismatch of parameter numbers and input channel size. Found parameter numbers = {count} and "
                f"channel size = {channels}.",
                hint=f"num_parameters is 1 (one slope) or the channel count ({channels})",
            )
        shown = f"{count} slopes" if count > 1 else ""
        return Applied(output=x, param_count=count, config=shown, args=dict(config))

    def init(self, applied: Applied, x: Shape, rng: Any, dtype: Any) -> dict[str, np.ndarray]:
        import numpy as np

        return {"weight": np.full(applied.args["num_parameters"], applied.args["init"], dtype=dtype)}

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        import numpy as np

        slope = weights["weight"]
        if slope.size > 1:  # one per channel, along dim 1
            slope = slope.reshape((1, -1) + (1,) * (x.ndim - 2))
        return np.where(x >= 0, x, slope * x)


def _softmax_dim(dim: object, rank: int) -> int:
    """The dim softmax normalises over, as PyTorch: negative counts from the end; None is
    PyTorch's deprecated implicit choice (0 for ranks 0, 1 and 3, else 1)."""
    if dim is None:
        return 0 if rank in (0, 1, 3) else 1
    assert isinstance(dim, int)
    if not -rank <= dim < rank:
        raise ConfigError(f"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], but got {dim})")
    return dim % rank


def _nullable_dim(key: str, value: object) -> object:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise OptionError(f"key '{key}' expects an int (a dimension index, may be negative) or null, but got "
                      f"{describe(value)}", key=key)


class Softmax(LayerKind):
    """softmax along `dim`: over a spatial dim, every position along it depends on all of them."""

    name = "softmax"
    torch_class = "Softmax"
    keys = (Key("dim", _nullable_dim, None),)
    copy_in_mirror = True

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        dim = _softmax_dim(config["dim"], len(x))
        notes = () if config["dim"] is not None else (
            f"Implicit dimension choice for softmax has been deprecated (PyTorch takes dim={dim}). Change the call "
            "to include dim=X as an argument.",)
        return Applied(output=x, config=f"dim={dim}", notes=notes, args={"dim": config["dim"]})

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        axis = _softmax_dim(applied.args["dim"], len(x)) - 2
        if axis < 0 or fp.dims is None:
            return fp
        dims = list(fp.dims)
        dims[axis] = [span(dims[axis])] * len(dims[axis])
        return Footprint(tuple(dims), fp.cover)

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        import numpy as np

        axis = _softmax_dim(applied.args["dim"], x.ndim)
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)


def _learnable(key: str, value: object) -> object:
    if value is None or value in ("scalar", "channels"):
        return value
    raise OptionError(
        f"key '{key}' must be 'scalar' (one parameter) or 'channels' (one per channel), or null (a constant), "
        f"but got {describe(value)}", key=key,
    )


# What export defines for scale and shift (torch has no module for them).
SCALE_SHIFT = '''
class Scale(nn.Module):
    """x * factor: a constant, or a learnt scalar or per-channel (dim 1) parameter starting at it."""

    def __init__(self, factor: float, learnable: str | None = None, channels: int = 1) -> None:
        super().__init__()
        self.learnable = learnable
        if learnable is None:
            self.factor = factor
        else:
            self.weight = nn.Parameter(torch.full((channels,) if learnable == "channels" else (), factor))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.learnable is None:
            return x * self.factor
        return x * self.weight.reshape(-1, *[1] * (x.dim() - 2)) if self.learnable == "channels" else x * self.weight


class Shift(nn.Module):
    """x + value: a constant, or a learnt scalar or per-channel (dim 1) parameter starting at it."""

    def __init__(self, value: float, learnable: str | None = None, channels: int = 1) -> None:
        super().__init__()
        self.learnable = learnable
        if learnable is None:
            self.value = value
        else:
            self.bias = nn.Parameter(torch.full((channels,) if learnable == "channels" else (), value))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.learnable is None:
            return x + self.value
        return x + self.bias.reshape(-1, *[1] * (x.dim() - 2)) if self.learnable == "channels" else x + self.bias
'''


class Affine(LayerKind):
    """scale (x · factor) and shift (x + value): a constant, or a parameter initialised to it,
    one in all (`learnable: scalar`) or one per channel (`learnable: channels`)."""

    copy_in_mirror = True
    elementwise = True
    torch_helpers = (SCALE_SHIFT,)

    def __init__(self, name: str) -> None:
        self.name = name
        self.constant = "factor" if name == "scale" else "value"
        self.parameter = "weight" if name == "scale" else "bias"
        self.keys = (Key(self.constant, float_key(), required=True), Key("learnable", _learnable, None))

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        learnable = config["learnable"]
        if learnable == "channels":
            require_rank(self.name, x, tuple(range(2, 9)), "an (N, C, ...)")
        count = {None: 0, "scalar": 1, "channels": x[1] if len(x) >= 2 else 0}[learnable]
        args: dict[str, Any] = {self.constant: config[self.constant], "learnable": learnable}
        if learnable == "channels":
            args["channels"] = count
        sign = "*" if self.name == "scale" else "+"
        shown = f"{sign}{config[self.constant]:g}" + (f" learnable {learnable}" if learnable else "")
        return Applied(output=x, param_count=count, config=shown, args=args)

    def torch_code(self, applied: Applied, config: Mapping[str, Any]) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in applied.args.items())
        return f"{self.name.capitalize()}({args})"

    def init(self, applied: Applied, x: Shape, rng: Any, dtype: Any) -> dict[str, np.ndarray]:
        import numpy as np

        learnable = applied.args["learnable"]
        if learnable is None:
            return {}
        shape = (applied.args["channels"],) if learnable == "channels" else ()
        return {self.parameter: np.full(shape, applied.args[self.constant], dtype=dtype)}

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        import numpy as np

        if self.parameter in weights:
            amount = weights[self.parameter]
            if amount.ndim:
                amount = amount.reshape((1, -1) + (1,) * (x.ndim - 2))
        else:
            amount = np.asarray(applied.args[self.constant], dtype=x.dtype)
        return (x * amount if self.name == "scale" else x + amount).astype(x.dtype)


KINDS: tuple[LayerKind, ...] = (
    Elementwise("dropout", "Dropout", (Key("p", float_key(), 0.5), _INPLACE), lambda x, a: x, lambda c: f"p={c['p']:g}"),
    Elementwise("relu", "ReLU", (_INPLACE,), _relu),
    Elementwise("leaky_relu", "LeakyReLU", (Key("negative_slope", float_key(), 0.01), _INPLACE), _leaky, lambda c: f"{c['negative_slope']:g}"),
    Elementwise("gelu", "GELU", (Key("approximate", choice_key("none", "tanh"), "none"),), _gelu, lambda c: "tanh" if c["approximate"] == "tanh" else ""),
    Elementwise("silu", "SiLU", (_INPLACE,), _silu),
    Elementwise("sigmoid", "Sigmoid", (), _sigmoid),
    Elementwise("tanh", "Tanh", (), _np("tanh")),
    Elementwise("identity", "Identity", (), lambda x, a: x),
    Elementwise("elu", "ELU", (Key("alpha", float_key(), 1.0), _INPLACE), _elu,
                lambda c: "" if c["alpha"] == 1 else f"alpha={c['alpha']:g}"),
    Elementwise("mish", "Mish", (_INPLACE,), _mish),
    Elementwise("hardswish", "Hardswish", (_INPLACE,), _hardswish),
    Elementwise("softplus", "Softplus", (Key("beta", float_key(), 1.0), Key("threshold", float_key(), 20.0)), _softplus,
                lambda c: "" if (c["beta"], c["threshold"]) == (1, 20) else f"beta={c['beta']:g} threshold={c['threshold']:g}"),
    PReLU(),
    Softmax(),
    Affine("scale"),
    Affine("shift"),
)
