"""Verification: the network through the numeric engine with seeded weights (PyTorch's
init), every layer's numeric shape compared with the table; refused before allocating when
its memory estimate is over the limit."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

from ..errors import ConvtoolError, MemoryLimitError
from ..layers import KINDS
from ..params import Shape
from .propagate import ACTIVATION_BYTES, Propagation


@dataclass(frozen=True)
class Verification:
    """The stack run through the numeric engine: per layer, the table's shape and the real one."""

    seed: int
    estimated_bytes: int
    shapes: tuple[tuple[int, Shape, Shape], ...]  # (index, table shape, numeric shape)

    @property
    def ok(self) -> bool:
        return all(table == real for _, table, real in self.shapes)

    @property
    def mismatches(self) -> tuple[int, ...]:
        return tuple(i for i, table, real in self.shapes if table != real)


def _amount(n: int) -> str:
    """`2,048 MiB`, or bytes below one MiB (integer arithmetic: limits may be any size)."""
    return f"{(n + 2**19) // 2**20:,} MiB" if n >= 2**20 else f"{n:,} bytes"


VERIFY_SLACK = 24 << 20  # what numpy and the interpreter allocate beside the arrays (measured: under 10 MiB)


def verify_bytes(prop: Propagation, baseline: int = 0) -> int:
    """Memory a numeric run needs at its peak, estimated before allocating anything.

    `baseline` is what the process already holds. Added to it: every weight (all drawn up
    front), and the largest moment of the walk: the outputs kept for later skips, the layer's
    input and output, and the layer's own workspace (`LayerKind.workspace`), all in float32.
    The random input is drawn in float32 itself, and so are the weights (no float64 copy).
    """
    needed = prop.read_later
    kept = prod(prop.input) if -1 in needed else 0
    kept += sum(prod(shape) for _, shape in prop.inputs[1:])  # further network inputs, held throughout
    peak = 0
    for r in prop.layers:
        work = KINDS[r.type].workspace(r.applied, r.input, r.output)
        peak = max(peak, kept + prod(r.input) + prod(r.output) + work)
        if r.index in needed:
            kept += prod(r.output)
    return baseline + VERIFY_SLACK + ACTIVATION_BYTES * (prop.totals.param_count + peak)


def resident_bytes() -> int:
    """The most memory this process has held so far (its peak resident set)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def input_index_bound(prop: Propagation) -> int | None:
    """The (first) network input's values as class indices in [0, bound): as the file marks it
    (`integers: N`), or when every layer that reads it takes indices (an embedding's rows), the
    bound they all accept; else None."""
    if prop.arch.inputs and prop.arch.inputs[0].integers:
        return prop.arch.inputs[0].integers
    readers = [r for r in prop.layers if r.source == -1 or -1 in r.skips or (r.source is None and r.index == 0)]
    bounds = [KINDS[r.type].index_bound(r.applied) for r in readers]
    if not readers or any(bound is None for bound in bounds):
        return None
    return min(b for b in bounds if b is not None)


class NumericStack:
    """The propagated stack as numpy computations with seeded weights (PyTorch's init)."""

    def __init__(self, prop: Propagation, *, seed: int = 0, dtype: str = "float32") -> None:
        import numpy as np

        self.prop = prop
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.weights = [
            KINDS[r.type].init(r.applied, r.input, self.rng, self.dtype) for r in prop.layers
        ]

    def random_input(self) -> Any:
        """Normal values, or indices when the input holds them (`input_index_bound`)."""
        import numpy as np

        bound = input_index_bound(self.prop)
        if bound is not None:
            return self.rng.integers(0, bound, self.prop.input, dtype=np.int32)
        return self.rng.standard_normal(self.prop.input, dtype=self.dtype)

    def further_inputs(self) -> dict[int, Any]:
        """Random values of the network's further inputs, by id (-2, -3, ...): class indices
        where the file says `integers: N`, else normal floats."""
        arch = self.prop.arch
        values = {}
        for k, ((_, shape), spec) in enumerate(zip(self.prop.inputs[1:], arch.inputs[1:]), start=2):
            values[-k] = (self.rng.integers(0, spec.integers, shape) if spec.integers
                          else self.rng.standard_normal(shape, dtype=self.dtype))
        return values

    def run(self, x: Any, *, keep_all: bool = False, others: dict[int, Any] | None = None) -> list[Any]:
        """Every layer's output (keep_all), or only their shapes, freeing what no skip needs;
        `others`: the further network inputs by id (drawn at random when not given)."""
        needed = self.prop.read_later
        keep: dict[int, Any] = {-1: x} if -1 in needed else {}
        keep.update(self.further_inputs() if others is None else others)
        out: list[Any] = []
        for result, weights in zip(self.prop.layers, self.weights):
            kind = KINDS[result.type]
            first = x if result.source is None else keep[result.source]
            x = kind.forward(result.applied, weights, first, [keep[i] for i in result.skips])
            if result.index in needed:
                keep[result.index] = x
            out.append(x if keep_all else tuple(x.shape))
        return out


def verify(prop: Propagation, *, seed: int = 0, max_memory: int = 2 * 2**30) -> Verification:
    """Run the stack through the numeric engine and compare every layer's shape.

    Refuses (MemoryLimitError) before allocating anything when the estimate of
    `verify_bytes` exceeds `max_memory`.
    """
    try:
        import numpy  # noqa: F401  (its own memory is part of the baseline)
        if any(r.applied.conv is not None for r in prop.layers):
            import convtool.numeric  # noqa: F401
    except ImportError as error:
        raise ConvtoolError(f"--verify needs numpy and the numeric engine, which could not be loaded: {error}") from None
    need = verify_bytes(prop, resident_bytes())
    if need > max_memory:
        raise MemoryLimitError(
            f"--verify would need about {_amount(need)}, more than the limit of {_amount(max_memory)}; "
            "nothing was run",
            hint="raise --max-memory, or verify a smaller --batch or --input-shape",
        )
    try:
        stack = NumericStack(prop, seed=seed)
        shapes = stack.run(stack.random_input())
    except MemoryError:
        raise MemoryLimitError(
            f"--verify ran out of memory (estimated {_amount(need)}): the system could not allocate it",
            hint="lower --max-memory to the memory this machine has free, or verify a smaller --batch",
        ) from None
    return Verification(
        seed=seed,
        estimated_bytes=need,
        shapes=tuple((r.index, r.output, s) for r, s in zip(prop.layers, shapes)),
    )
