"""SVG text generation: a canvas of absolute-coordinate shapes, every user string escaped.

Pure string building (no dependency): coordinates are absolute so that a picture can be
measured from its source, and each element carries a class that names what it shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ..palette import luma, ramp  # noqa: F401  (the pictures and the terminal share them)

FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: object) -> str:
    """A user string made safe for XML text and attributes: control characters dropped,
    markup and quotes escaped (here rather than xml.sax, which would slow `convtool shape`).

    >>> clean('a<b & "c"\\x1b[31m')
    'a&lt;b &amp; &quot;c&quot;[31m'
    """
    text = _CONTROL.sub("", str(text))
    for raw, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#x27;")):
        text = text.replace(raw, escaped)
    return text


def attr(value: object) -> str:
    """An attribute value, quoted and escaped (control characters dropped).

    >>> attr('x" onload="y')
    '"x&quot; onload=&quot;y"'
    """
    return f'"{clean(value)}"'


def num(value: float) -> str:
    """A coordinate, short: `12`, `12.5`.

    >>> num(12.0), num(12.25), num(1 / 3)
    ('12', '12.25', '0.33')
    """
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


class Canvas:
    """Collects SVG elements; `prefix` keeps ids unique when several pictures share a page."""

    def __init__(self, prefix: str = "c", left: float = 0) -> None:
        self.prefix = prefix
        self.left = left  # every x is shifted by this margin (an outline may start left of 0)
        self.parts: list[str] = []
        self.defs: list[str] = []
        self.width = 0.0
        self.height = 0.0

    def _grow(self, x: float, y: float) -> None:
        self.width = max(self.width, x)
        self.height = max(self.height, y)

    def id(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def raw(self, element: str) -> None:
        self.parts.append(element)

    def open(self, cls: str = "", ident: str = "") -> None:
        """Start a group."""
        attrs = (f" class={attr(cls)}" if cls else "") + (f" id={attr(self.id(ident))}" if ident else "")
        self.parts.append(f"<g{attrs}>")

    def close(self) -> None:
        self.parts.append("</g>")

    def title(self, text: str) -> None:
        """A tooltip for the enclosing group."""
        self.parts.append(f"<title>{clean(text)}</title>")

    def rect(
        self, x: float, y: float, w: float, h: float, fill: str, *, cls: str = "", stroke: str = "none",
        width: float = 1, rx: float = 0, dash: str = "", opacity: float = 1, extra: str = "",
    ) -> None:
        x += self.left
        self._grow(x + w, y + h)
        parts = [f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}" fill={attr(fill)}']
        if cls:
            parts.append(f"class={attr(cls)}")
        if stroke != "none":
            parts.append(f'stroke={attr(stroke)} stroke-width="{num(width)}"')
        if rx:
            parts.append(f'rx="{num(rx)}"')
        if dash:
            parts.append(f"stroke-dasharray={attr(dash)}")
        if opacity != 1:
            parts.append(f'fill-opacity="{num(opacity)}"')
        if extra:
            parts.append(extra)
        self.parts.append(" ".join(parts) + "/>")

    def text(
        self, x: float, y: float, content: object, *, size: float = 12, anchor: str = "start", fill: str = "#222",
        weight: str = "normal", mono: bool = False, cls: str = "", italic: bool = False,
    ) -> None:
        """One line of text, baseline at y; `content` is escaped here."""
        shown = str(content)
        x += self.left
        # a rough width (0.6 em per character, 0.7 monospaced, as rendered here) so that the canvas holds it
        extent = (0.7 if mono else 0.6) * size * len(shown)
        left = x - extent if anchor == "end" else x - extent / 2 if anchor == "middle" else x
        self._grow(left + extent, y + size * 0.3)
        parts = [f'<text x="{num(x)}" y="{num(y)}" font-size="{num(size)}"']
        parts.append(f"font-family={attr(MONO if mono else FONT)}")
        if anchor != "start":
            parts.append(f'text-anchor="{anchor}"')
        if fill != "#222":
            parts.append(f"fill={attr(fill)}")
        if weight != "normal":
            parts.append(f'font-weight="{weight}"')
        if italic:
            parts.append('font-style="italic"')
        if cls:
            parts.append(f"class={attr(cls)}")
        self.parts.append(" ".join(parts) + f">{clean(shown)}</text>")

    def line(
        self, x1: float, y1: float, x2: float, y2: float, stroke: str = "#444", *, width: float = 1,
        dash: str = "", arrow: str = "", cls: str = "",
    ) -> None:
        self.path([(x1, y1), (x2, y2)], stroke, width=width, dash=dash, arrow=arrow, cls=cls)

    def path(
        self, points: Sequence[tuple[float, float]], stroke: str = "#444", *, width: float = 1, dash: str = "",
        arrow: str = "", cls: str = "",
    ) -> None:
        """A polyline; `arrow` names a colour whose arrowhead ends it."""
        points = [(x + self.left, y) for x, y in points]
        for x, y in points:
            self._grow(x, y)
        d = " ".join(("M" if i == 0 else "L") + f"{num(x)} {num(y)}" for i, (x, y) in enumerate(points))
        parts = [f'<path d="{d}" fill="none" stroke={attr(stroke)} stroke-width="{num(width)}"']
        if dash:
            parts.append(f"stroke-dasharray={attr(dash)}")
        if arrow:
            parts.append(f'marker-end="url(#{self.arrowhead(arrow)})"')
        if cls:
            parts.append(f"class={attr(cls)}")
        self.parts.append(" ".join(parts) + "/>")

    def circle(self, cx: float, cy: float, r: float, fill: str) -> None:
        self._grow(cx + self.left + r, cy + r)
        self.parts.append(f'<circle cx="{num(cx + self.left)}" cy="{num(cy)}" r="{num(r)}" fill={attr(fill)}/>')

    def arrowhead(self, colour: str) -> str:
        """The id of an arrowhead marker of this colour (defined once)."""
        ident = self.id("arrow-" + colour.lstrip("#"))
        if not any(ident in d for d in self.defs):
            self.defs.append(
                f'<marker id="{ident}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                f'orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill={attr(colour)}/></marker>'
            )
        return ident

    def lines(self, x: float, y: float, rows: Iterable[str], *, size: float = 12, fill: str = "#222") -> float:
        """Several lines of text from (x, y) down; returns the y below the last."""
        for row in rows:
            self.text(x, y, row, size=size, fill=fill)
            y += size * 1.35
        return y

    def render(self, margin: float = 12, background: str = "#ffffff", label: str = "") -> str:
        """The finished SVG document (no XML declaration, so it can also sit inside HTML)."""
        w, h = self.width + margin, self.height + margin
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{num(w)}" height="{num(h)}" '
            f'viewBox="0 0 {num(w)} {num(h)}" role="img"'
            + (f" aria-label={attr(label)}" if label else "")
            + ">"
        )
        defs = f"<defs>{''.join(self.defs)}</defs>" if self.defs else ""
        back = f'<rect x="0" y="0" width="{num(w)}" height="{num(h)}" fill={attr(background)}/>'
        return "\n".join([head, defs, back, *self.parts, "</svg>"]) + "\n"
