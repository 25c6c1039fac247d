"""The colours of tap counts, one scale for the terminal grid of `convtool shape` and the
pictures of `convtool draw` (so the two read alike)."""

from __future__ import annotations


def ramp(n: int) -> list[str]:
    """`n` distinct colours from light yellow to dark purple (ordered light to dark).

    >>> ramp(1), len(set(ramp(40)))
    (['#fde68a'], 40)
    """
    stops = [(0xFD, 0xE6, 0x8A), (0xF9, 0x9D, 0x4B), (0xE0, 0x4F, 0x5F), (0x9B, 0x2D, 0x8C), (0x3B, 0x1F, 0x6B)]
    if n == 1:
        return [_hex(stops[0])]
    colours = []
    for i in range(n):
        t = i / (n - 1) * (len(stops) - 1)
        j = min(int(t), len(stops) - 2)
        f = t - j
        rgb = tuple(round(a + (b - a) * f) for a, b in zip(stops[j], stops[j + 1]))
        colours.append(_hex(rgb))
    # rounding may merge two neighbours of a long ramp: nudge until every colour is its own
    seen: set[str] = set()
    for i, colour in enumerate(colours):
        r, g, b = (int(colour[k : k + 2], 16) for k in (1, 3, 5))
        while colour in seen:
            b = (b + 1) % 256
            colour = _hex((r, g, b))
        seen.add(colour)
        colours[i] = colour
    return colours


def _hex(rgb: tuple[int, ...]) -> str:
    return "#" + "".join(f"{v:02x}" for v in rgb)


def luma(colour: str) -> float:
    """The perceived brightness (0-255) of `#rrggbb`: dark fills get light text.

    >>> luma("#ffffff"), luma("#000000")
    (255.0, 0.0)
    """
    r, g, b = (int(colour[k : k + 2], 16) for k in (1, 3, 5))
    return 0.299 * r + 0.587 * g + 0.114 * b
