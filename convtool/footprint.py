"""Exact receptive fields (footprints): per output position, the first and last network-input
position it depends on, carried through every layer (transposed layers, pools, resampling,
merges); the textbook additive formula is wrong after transposed layers, so nothing here adds."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field


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


# -- results --------------------------------------------------------------------------------
