"""Exact receptive fields (footprints): per output position, the first and last network-input
position it depends on, carried through every layer (transposed layers, pools, resampling,
merges); the textbook additive formula is wrong after transposed layers, so nothing here adds.

Grids: per spatial dim, the exact affine map from a tensor's positions to the network input's
coordinates (where each position is centred), and the words for merges whose inputs' grids differ.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from math import gcd, lcm
from typing import NamedTuple


@dataclass
class Footprint:
    """Per spatial dim and per position: the first and last network-input index it depends on.

    `dims` is None once the tensor is not spatial; `cover` is the union over every
    position (what a global operation, or a linear layer after flatten, depends on);
    both are None when the network's input itself is not spatial.

    >>> fp = Footprint.identity((4, 3))
    >>> fp.field()
    (1, 1)
    """

    dims: tuple[list[tuple[int, int] | None], ...] | None
    cover: tuple[tuple[int, int] | None, ...] | None
    _field: tuple[int, ...] | None = field(default=None, repr=False)

    @classmethod
    def identity(cls, spatial: Sequence[int]) -> Footprint:
        dims: tuple[list[tuple[int, int] | None], ...] = tuple([(i, i) for i in range(n)] for n in spatial)
        return cls(dims, tuple((0, n - 1) for n in spatial))

    @classmethod
    def none(cls) -> Footprint:
        return cls(None, None)

    @classmethod
    def nothing(cls, spatial: Sequence[int], rank: int) -> Footprint:
        """A tensor (of this spatial size; none: not spatial) that depends on no position of a
        tensor with `rank` spatial dims: where footprints started elsewhere than the input begin."""
        dims: tuple[list[tuple[int, int] | None], ...] = tuple([None] * n for n in spatial)
        return cls(dims if spatial else None, (None,) * rank)

    def field(self) -> tuple[int, ...] | None:
        """The receptive field per dim: max over positions of hi - lo + 1 (0: no dependence)."""
        if self.dims is None:
            return None
        if self._field is None:
            self._field = tuple(
                max((iv[1] - iv[0] + 1 for iv in dim if iv is not None), default=0) for dim in self.dims
            )
        return self._field

    def unrelated(self, spatial: Sequence[int]) -> Footprint:
        """A tensor of this spatial size that depends on nothing of the network input this
        footprint measures from (another network input)."""
        if self.cover is None:
            return Footprint.none()
        nothing: tuple[tuple[int, int] | None, ...] = tuple(None for _ in self.cover)
        if len(spatial) != len(self.cover):
            return Footprint(None, nothing)
        return Footprint(tuple([None] * n for n in spatial), nothing)

    def flat(self) -> Footprint:
        """The same dependence, no longer spatial (after flatten)."""
        return Footprint(None, self.cover)

    def everywhere(self, spatial: Sequence[int]) -> Footprint:
        """Every position of a tensor of this spatial size depends on the whole cover."""
        if self.cover is None or len(self.cover) != len(spatial):
            return Footprint(None, self.cover)
        return Footprint(tuple([c] * n for c, n in zip(self.cover, spatial)), self.cover)


def union(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    if a is None:
        return b
    if b is None:
        return a
    return (a[0] if a[0] < b[0] else b[0], a[1] if a[1] > b[1] else b[1])


def span(dim: list[tuple[int, int] | None]) -> tuple[int, int] | None:
    lo = hi = None
    for iv in dim:
        if iv is not None:
            if lo is None or iv[0] < lo:
                lo = iv[0]
            if hi is None or iv[1] > hi:
                hi = iv[1]
    return None if lo is None else (lo, hi)  # type: ignore[return-value]


def gather(dim: list[tuple[int, int] | None], deps: Iterable[Iterable[int]]) -> list[tuple[int, int] | None]:
    """Per output position, the union of the footprints of the input indices it reads.

    >>> gather([(0, 0), (1, 1), (2, 2)], [[0, 1], [2], []])
    [(0, 1), (2, 2), None]
    """
    out: list[tuple[int, int] | None] = []
    append = out.append
    for idx in deps:
        lo = hi = None
        for i in idx:
            iv = dim[i]
            if iv is None:
                continue
            if lo is None or iv[0] < lo:
                lo = iv[0]
            if hi is None or iv[1] > hi:
                hi = iv[1]
        append(None if lo is None else (lo, hi))  # type: ignore[arg-type]
    return out


def map_dims(fp: Footprint, per_dim: Callable[[int, list[tuple[int, int] | None]], list[tuple[int, int] | None]]) -> Footprint:
    if fp.dims is None:
        return fp
    return Footprint(tuple(per_dim(axis, dim) for axis, dim in enumerate(fp.dims)), fp.cover)


def padded_index(j: int, size: int, mode: str) -> int | None:
    """Where padded index j (0-based in the unpadded input) reads from, by padding mode."""
    if 0 <= j < size:
        return j
    if mode == "zeros":
        return None
    if mode == "replicate":
        return 0 if j < 0 else size - 1
    if mode == "circular":
        return j % size
    # reflect (without repeating the edge), as F.pad
    period = 2 * (size - 1)
    j = abs(j) % period if period else 0
    return period - j if j >= size else j


def window_deps(
    size: int, out: int, k: int, s: int, before: int, d: int, mode: str = "zeros"
) -> list[list[int]]:
    """Input indices each output of a sliding window (conv, pool) reads.

    >>> window_deps(5, 3, 3, 2, 1, 1)
    [[0, 1], [1, 2, 3], [3, 4]]
    """
    deps = []
    for o in range(out):
        start = o * s - before
        idx = [padded_index(start + t * d, size, mode) for t in range(k)]
        deps.append([i for i in idx if i is not None])
    return deps


def transpose_deps(size: int, out: int, k: int, s: int, p: int, d: int) -> list[list[int]]:
    """Input indices each output of a transposed convolution receives taps from.

    >>> transpose_deps(2, 5, 3, 2, 0, 1)
    [[0], [0], [1, 0], [1], [1]]
    """
    deps = []
    for o in range(out):
        idx = []
        for t in range(k):
            full = o + p - t * d
            if full % s == 0 and 0 <= full // s < size:
                idx.append(full // s)
        deps.append(idx)
    return deps


# -- grids --------------------------------------------------------------------------------


MAX_PERIOD = 1 << 12  # positions per period of a grid's pattern; beyond it, no grid


@dataclass(frozen=True)
class Axis:
    """One spatial dim's grid, exact: where the receptive field of each position lies in the
    network input, for a tensor too large for its edges to matter.

    The pattern repeats every `period` positions: position o (phase r = o mod period) depends
    on input pixels scale·o + first[r] to scale·o + last[r] (first[r] None: on none). Position o
    is centred, on average over a period, on input coordinate scale·o + offset, the mean of
    the phases' centres: that is where the tensor's positions sit. A layer on its own gives
    the familiar rules (conv/pool: scale·s, offset + scale·(d(k−1)/2 − p); transposed:
    scale/s, offset + scale·(p − d(k−1)/2)/s; ...); composed, a strided layer after an
    upsampling one reads some phases more than others, which only the phases show.

    >>> Axis.identity().window(3, 2, 1, 1).transposed(3, 2, 1, 1).to_dict()  # conv k3 s2 p1, its transpose
    {'scale': '1', 'offset': '0'}
    >>> Axis.identity().window(3, 2, 1, 1).transposed(4, 2, 1, 1).offset  # k4 for the transpose
    Fraction(-1, 2)
    """

    scale: Fraction
    first: tuple[Fraction | None, ...]
    last: tuple[Fraction | None, ...]

    @classmethod
    def identity(cls) -> Axis:
        return cls(Fraction(1), (Fraction(0),), (Fraction(0),))

    @property
    def period(self) -> int:
        return len(self.first)

    @cached_property
    def offset(self) -> Fraction:
        centres = [(a + b) / 2 for a, b in zip(self.first, self.last) if a is not None and b is not None]
        return sum(centres, Fraction(0)) / len(centres)

    def gather(self, step: Fraction, taps: Callable[[int], Iterable[int]]) -> Axis | None:
        """A layer whose output position o reads input positions taps(o) of an unbounded input,
        `step` input positions per output position (taps(o + n) = taps(o) + step·n whenever
        step·n is whole); None when its pattern repeats only beyond MAX_PERIOD positions."""
        u, v = step.numerator, step.denominator
        period = v * self.period // gcd(u, self.period)
        if period > MAX_PERIOD:
            return None
        # exact integer arithmetic in units of 1/(d·v) input pixel (Fractions are slow in a long walk)
        d = lcm(self.scale.denominator, *(f.denominator for f in (*self.first, *self.last) if f is not None))
        scale = self.scale.numerator * (d // self.scale.denominator)  # self.scale in units of 1/d
        ends = [None if a is None or b is None else (a.numerator * (d // a.denominator) * v,
                                                      b.numerator * (d // b.denominator) * v)
                for a, b in zip(self.first, self.last)]
        unit = d * v
        n = self.period
        first: list[Fraction | None] = []
        last: list[Fraction | None] = []
        for r in range(period):
            lo = hi = None
            for i in taps(r):
                end = ends[i % n]
                if end is None:
                    continue
                at = scale * v * i
                if lo is None or at + end[0] < lo:
                    lo = at + end[0]
                if hi is None or at + end[1] > hi:
                    hi = at + end[1]
            shift = scale * u * r
            first.append(None if lo is None else Fraction(lo - shift, unit))
            last.append(None if hi is None else Fraction(hi - shift, unit))
        if all(a is None for a in first):
            return None
        return Axis(self.scale * step, tuple(first), tuple(last))

    def window(self, k: int, s: int, d: int, before: int) -> Axis | None:
        """A convolution or pool: kernel k, stride s, dilation d, `before` padded positions."""
        return self.gather(Fraction(s), lambda o: [o * s - before + t * d for t in range(k)])

    def transposed(self, k: int, s: int, d: int, p: int) -> Axis | None:
        """A transposed convolution: output o gathers input (o + p − t·d) / s over its taps t."""
        return self.gather(Fraction(1, s), lambda o: [(o + p - t * d) // s for t in range(k) if (o + p - t * d) % s == 0])

    def shifted(self, before: int) -> Axis | None:
        """`before` positions added in front (a pad; negative: a crop)."""
        return self if before == 0 else self.gather(Fraction(1), lambda o: [o - before])

    def union(self, other: Axis) -> Axis | None:
        """Each position depends on what it does in both (a merge); None at different scales."""
        if self.scale != other.scale:
            return None
        period = lcm(self.period, other.period)

        def pick(x: Fraction | None, y: Fraction | None, f: Callable[..., Fraction]) -> Fraction | None:
            return x if y is None else y if x is None else f(x, y)

        return Axis(
            self.scale,
            tuple(pick(self.first[r % self.period], other.first[r % other.period], min) for r in range(period)),
            tuple(pick(self.last[r % self.period], other.last[r % other.period], max) for r in range(period)),
        )

    def to_dict(self) -> dict[str, str]:
        return {"scale": str(self.scale), "offset": str(self.offset)}


Grid = tuple[Axis | None, ...] | None  # per spatial dim (None: no affine grid there); None: not spatial


def identity_grid(shape: Sequence[int]) -> Grid:
    """The grid of a network input of this shape (N, C, *spatial): every position is itself."""
    return tuple(Axis.identity() for _ in shape[2:]) if len(shape) > 2 else None


def map_grid(grid: Grid, per_axis: Callable[[int, Axis], Axis | None]) -> Grid:
    """Each dim's grid through `per_axis(axis, grid)`; a dim without a grid stays without."""
    if grid is None:
        return None
    return tuple(None if g is None else per_axis(axis, g) for axis, g in enumerate(grid))


def union_grid(grids: Sequence[Grid]) -> Grid:
    """Per dim, what every one of the grids depends on (a merge); None where their scales differ."""
    if any(g is None or len(g) != len(grids[0]) for g in grids):  # type: ignore[arg-type]
        return None
    result = []
    for axes in zip(*grids):  # type: ignore[misc]
        found: Axis | None = axes[0]
        for other in axes[1:]:
            found = None if found is None or other is None else found.union(other)
        result.append(found)
    return tuple(result)


def grid_json(grid: Grid) -> list[dict[str, str] | None] | None:
    """`[{"scale": "1/2", "offset": "-1/4"}, ...]` (docs/json.md)."""
    return None if grid is None else [None if g is None else g.to_dict() for g in grid]


DIM_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
MIXES = "the merge mixes features from different places"


def _pixels(value: Fraction) -> str:
    sign = "+" if value > 0 else ""
    return f"{sign}{value} input pixel" + ("" if abs(value) <= 1 else "s")


class Misalignment(NamedTuple):
    """One input of a merge that sits elsewhere than the merge's first: per dim where the two
    grids differ, (dim name, the first's axis, this one's)."""

    label: str
    against: str
    dims: tuple[tuple[str, Axis, Axis], ...]
    every_dim: bool  # the grids differ in every dim

    @property
    def steps_differ(self) -> bool:
        return any(a.scale != b.scale for _, a, b in self.dims)

    def shifts(self) -> tuple[Fraction, ...]:
        """Per dim where they differ, how far this input sits from the first, in input pixels."""
        return tuple(b.offset - a.offset for _, a, b in self.dims)

    def sentence(self) -> str:
        if self.steps_differ:
            steps = ", ".join(f"{b.scale} against {a.scale} in {name}" for name, a, b in self.dims if a.scale != b.scale)
            what = f"steps a different number of input pixels per position ({steps})"
        else:
            shifts = self.shifts()
            if len(set(shifts)) == 1 and self.every_dim:
                what = f"is offset by {_pixels(shifts[0])}"
            else:
                what = "is offset by " + " and ".join(f"{_pixels(v)} in {name}" for (name, _, _), v in zip(self.dims, shifts))
        return f"{self.label} {what} against {self.against}: {MIXES}"


def misalignments(grids: Sequence[Grid], labels: Sequence[str]) -> tuple[Misalignment, ...]:
    """The inputs of a merge (grids as the merge lines them up, `labels` their names) that sit on
    other places of the network input than the first.

    >>> half = (Axis(Fraction(1), (Fraction(1, 2),), (Fraction(1, 2),)),) * 2
    >>> [m.sentence() for m in misalignments([identity_grid((1, 1, 4, 4)), half], ["up3", "enc3"])]
    ['enc3 is offset by +1/2 input pixel against up3: the merge mixes features from different places']
    """
    found = []
    first = grids[0]
    for grid, label in zip(grids[1:], labels[1:]):
        if first is None or grid is None:
            continue
        names = DIM_NAMES.get(len(first), tuple(f"dim {i}" for i in range(len(first))))
        dims = tuple((name, a, b) for name, a, b in zip(names, first, grid)
                     if a is not None and b is not None and (a.scale, a.offset) != (b.scale, b.offset))
        if dims:
            found.append(Misalignment(label, labels[0], dims, len(dims) == len(first)))
    return tuple(found)


# -- results --------------------------------------------------------------------------------
