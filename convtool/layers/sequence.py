"""Sequence layers: an LSTM over (N, C, L) tensors, time along L."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from math import prod
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..footprint import Footprint, span, union
from ..params import Shape
from .base import Applied, LayerKind, uniform_weights
from .keys import Key, OptionError, bool_key, describe, float_key, int_key

if TYPE_CHECKING:
    import numpy as np


# What export defines for `lstm`: nn.LSTM reads (N, L, C) with batch_first, so the tensor is
# transposed around it and only the output sequence is kept.
SEQUENCE_LSTM = '''
class SequenceLSTM(nn.Module):
    """nn.LSTM over (N, C, L) tensors, time along L: out (N, (proj_size or hidden_size) * directions, L)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__()
        self.lstm = nn.LSTM(batch_first=True, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(x.transpose(1, 2))
        return y.transpose(1, 2)
'''


def _count(minimum: int, words: str) -> Callable[[str, object], object]:
    """An int of at least `minimum`; below it, PyTorch's own words."""
    is_int = int_key(-(2**63))

    def check(key: str, value: object) -> object:
        is_int(key, value)
        if value < minimum:  # type: ignore[operator]
            raise OptionError(words, key=key)
        return value

    return check


def _batch_first(key: str, value: object) -> object:
    if value is not False:
        raise OptionError(
            f"key 'batch_first' can only be false, but got {describe(value)}: an lstm reads (N, C, L) tensors, "
            "time along L, and export transposes around nn.LSTM itself", key=key,
        )
    return value


class LSTM(LayerKind):
    """lstm on (N, C, L): PyTorch's nn.LSTM along L; out (N, (proj_size or hidden_size)·directions, L)."""

    name = "lstm"
    torch_class = "LSTM"
    torch_helpers = (SEQUENCE_LSTM,)
    keys = (
        Key("input_size", int_key(1)),
        Key("hidden_size", _count(1, "hidden_size must be greater than zero"), required=True),
        Key("num_layers", _count(1, "num_layers must be greater than zero"), 1),
        Key("bias", bool_key, True),
        Key("batch_first", _batch_first, False),
        Key("dropout", float_key(), 0.0),
        Key("bidirectional", bool_key, False),
        Key("proj_size", _count(0, "proj_size should be a positive integer or zero to disable projections"), 0),
    )

    def validate(self, config: dict[str, Any]) -> None:
        if not 0 <= config["dropout"] <= 1:
            raise OptionError("dropout should be a number in range [0, 1] representing the probability of an element "
                              "being zeroed", key="dropout")
        if config["proj_size"] >= config["hidden_size"]:
            raise OptionError("proj_size has to be smaller than hidden_size", key="proj_size")

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        if len(x) != 3:
            if len(x) == 2:
                raise ConfigError(f"lstm reads (N, C, L) sequences, time along L, but got input of size: {list(x)}")
            raise ConfigError(f"LSTM: Expected input to be 2D or 3D, got {len(x)}D instead",
                              hint="lstm reads (N, C, L) sequences, time along L")
        n, channels, length = x
        if config["input_size"] is not None and config["input_size"] != channels:
            raise ConfigError(
                f"input.size(-1) must be equal to input_size. Expected {config['input_size']}, got {channels}",
                hint=f"input_size is inferred from the channels ({channels}); remove it or write input_size: {channels}",
            )
        hidden, proj, layers = config["hidden_size"], config["proj_size"], config["num_layers"]
        directions = 2 if config["bidirectional"] else 1
        real = proj or hidden  # what h holds: the projection when there is one
        params = macs = 0
        width = channels
        for _ in range(layers):
            # per direction: W_ih, W_hh (on h), the two biases, and W_hr when projecting
            matrices = 4 * hidden * width + 4 * hidden * real + proj * hidden
            params += directions * (matrices + (8 * hidden if config["bias"] else 0))
            macs += directions * n * length * matrices
            width = real * directions
        notes: tuple[str, ...] = ()
        if config["dropout"] > 0 and layers == 1:
            notes = ("dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
                     f"num_layers greater than 1, but got dropout={config['dropout']:g} and num_layers=1",)
        parts = [f"h{hidden}"] + ([f"x{layers}"] if layers > 1 else []) + (["bidirectional"] if directions == 2 else [])
        parts += [f"proj {proj}"] if proj else []
        args = {"input_size": channels, "hidden_size": hidden, "num_layers": layers, "bias": config["bias"],
                "dropout": config["dropout"], "bidirectional": config["bidirectional"], "proj_size": proj}
        return Applied(output=(n, real * directions, length), param_count=params, macs=macs,
                       config=" ".join(parts), notes=notes, args=args)

    def torch_code(self, applied: Applied, config: Mapping[str, Any]) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in applied.args.items())
        return f"SequenceLSTM({args})"

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        if fp.dims is None:
            return fp
        (time,) = fp.dims
        if applied.args["bidirectional"]:  # every step reads the whole sequence
            return Footprint(([span(time)] * len(time),), fp.cover)
        causal, seen = [], None
        for interval in time:  # step t reads steps 0..t
            seen = union(seen, interval)
            causal.append(seen)
        return Footprint((causal,), fp.cover)

    def init(self, applied: Applied, x: Shape, rng: Any, dtype: Any) -> dict[str, np.ndarray]:
        a = applied.args
        hidden, proj = a["hidden_size"], a["proj_size"]
        bound = 1 / math.sqrt(hidden)  # PyTorch: every parameter U(-1/sqrt(hidden_size), +)
        weights = {}
        width = a["input_size"]
        for layer in range(a["num_layers"]):
            for suffix in _suffixes(a, layer):
                weights[f"weight_ih{suffix}"] = uniform_weights(rng, bound, (4 * hidden, width), dtype)
                weights[f"weight_hh{suffix}"] = uniform_weights(rng, bound, (4 * hidden, proj or hidden), dtype)
                if a["bias"]:
                    weights[f"bias_ih{suffix}"] = uniform_weights(rng, bound, (4 * hidden,), dtype)
                    weights[f"bias_hh{suffix}"] = uniform_weights(rng, bound, (4 * hidden,), dtype)
                if proj:
                    weights[f"weight_hr{suffix}"] = uniform_weights(rng, bound, (proj, hidden), dtype)
            width = (proj or hidden) * (2 if a["bidirectional"] else 1)
        return weights

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        import numpy as np

        from ..numeric.threads import blas_threads

        a = applied.args
        sequence = x.transpose(2, 0, 1)  # (L, N, C): one step at a time
        # the steps' products are small: BLAS spreading each over the cores costs more than it
        # gains (5x slower, measured), so they run on one core
        blas = blas_threads()
        before = blas.get() if blas is not None else 1
        if blas is not None and before != 1:
            blas.set(1)
        try:
            for layer in range(a["num_layers"]):  # eval mode: no dropout between layers
                outputs = [_run(sequence, weights, suffix, backward=suffix.endswith("_reverse"))
                           for suffix in _suffixes(a, layer)]
                sequence = np.concatenate(outputs, axis=2)
        finally:
            if blas is not None and before != 1:
                blas.set(before)
        return np.ascontiguousarray(sequence.transpose(1, 2, 0)).astype(x.dtype)

    def workspace(self, applied: Applied, x: Shape, out: Shape) -> int:
        # per layer: the input's share of the gates (L·N·4·hidden), each direction's steps, their
        # concatenation and the layer before's sequence (each at most the output's size, or the
        # widest hidden state's), and the transposed copies at the end
        a = applied.args
        n, _, length = x
        widest = max(out[1], (a["proj_size"] or a["hidden_size"]) * (2 if a["bidirectional"] else 1))
        sequence = n * length * widest
        return prod(x) + n * length * 4 * a["hidden_size"] + 4 * sequence + 4 * a["hidden_size"] * (a["hidden_size"] + 2 * n)


def _suffixes(args: Mapping[str, Any], layer: int) -> tuple[str, ...]:
    """PyTorch's parameter-name suffixes of one layer: `_l0`, and `_l0_reverse` when bidirectional."""
    return (f"_l{layer}", f"_l{layer}_reverse") if args["bidirectional"] else (f"_l{layer}",)


def _run(sequence: Any, weights: Mapping[str, Any], suffix: str, backward: bool) -> Any:
    """One direction of one layer over (L, N, C): the hidden state of every step, (L, N, H)."""
    import numpy as np

    def sigmoid(v: Any) -> Any:
        return 0.5 * (1 + np.tanh(0.5 * v))

    w_ih = weights[f"weight_ih{suffix}"]
    hidden = w_ih.shape[0] // 4
    # the input's share of every step's gates at once, biases included
    gates_in = sequence @ w_ih.T
    if f"bias_ih{suffix}" in weights:
        gates_in += weights[f"bias_ih{suffix}"]
        gates_in += weights[f"bias_hh{suffix}"]
    # per step only a small product is left: contiguous transposes make it several times faster
    w_hh = np.ascontiguousarray(weights[f"weight_hh{suffix}"].T)
    w_hr = weights.get(f"weight_hr{suffix}")
    if w_hr is not None:
        w_hr = np.ascontiguousarray(w_hr.T)
    n = sequence.shape[1]
    h = np.zeros((n, w_hh.shape[0]), dtype=sequence.dtype)
    c = np.zeros((n, hidden), dtype=sequence.dtype)
    out = np.empty((sequence.shape[0], n, w_hh.shape[0]), dtype=sequence.dtype)
    steps = range(sequence.shape[0] - 1, -1, -1) if backward else range(sequence.shape[0])
    for t in steps:
        gates = gates_in[t] + h @ w_hh
        i, f, g, o = (gates[:, k * hidden : (k + 1) * hidden] for k in range(4))  # PyTorch's order
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        if w_hr is not None:
            h = h @ w_hr
        out[t] = h
    return out


KINDS: tuple[LayerKind, ...] = (LSTM(),)
