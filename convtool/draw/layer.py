"""One layer drawn as it works.

A transposed convolution is drawn as what it equals: a stride-1 convolution over its input
stretched by s - 1 zeros between pixels and padded by d(k-1) - p on each side (a crop when
negative), output_padding added at the end only; each output cell is coloured by how many
kernel taps reach it. A convolution is drawn over its padded input, each input cell coloured
by how many windows read it, the trailing rows it never reads marked. Every size and count
comes from the shape engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import ConvtoolError
from ..params import ConvParams, Spatial
from ..shape import spatial_output, stretched, tap_count, taps_grid, unread
from ..text import fmt_size
from .svg import Canvas, luma, num, ramp

MAX_CELLS = 64  # per dim of the largest grid: beyond it cells are too small to read

KIND_FILL = {
    "input": "#4a86c5",
    "zero": "#eef2f6",
    "pad": "#c9ced6",
    "output_padding": "#f6c177",
    "crop": "#f2dede",
}
KIND_LABEL = {
    "input": "input pixel",
    "zero": "inserted zero (stride - 1 between pixels)",
    "pad": "padding (zeros)",
    "output_padding": "output_padding (zeros, end only)",
    "crop": "cropped (padding > d(k-1))",
}
PRIORITY = ("crop", "output_padding", "pad", "zero", "input")  # a cell is the first kind either dim has
UNREAD = "#d64545"
NONE_FILL = "#f7c6c6"  # no tap reaches the output cell / no window reads the input cell
OUTPUT_FILL = "#7fb77e"


@dataclass(frozen=True)
class Axis:
    """One spatial dim of the picture, in the coordinates of the grid the kernel slides over
    (the stretched input for a transposed layer, the padded input for a convolution)."""

    length: int  # input length
    out: int  # output length
    first: int  # the first drawn coordinate (negative: padding before the input)
    kinds: tuple[str, ...]  # what each drawn coordinate holds
    start: int  # where output 0's window starts
    step: int  # how far the window moves per output position
    taps: tuple[int, ...]  # the kernel taps' offsets from the window start
    counts: tuple[int, ...]  # taps per output position (transposed) or windows per input position (conv)
    unread: int = 0  # conv: trailing input positions no window reads
    reach: int = 0  # transposed: d(k-1) - p, the padding per side (negative: a crop)
    output_padding: int = 0

    def at(self, coordinate: int) -> int:
        """The drawn index of a coordinate."""
        return coordinate - self.first

    @property
    def drawn(self) -> int:
        return len(self.kinds)


def transposed_axis(i: int, out: int, k: int, s: int, p: int, d: int, op: int) -> Axis:
    """One dim of a ConvTranspose in its stretched-input view.

    >>> a = transposed_axis(3, 6, 3, 2, 1, 1, 1)
    >>> ''.join(kind[0] for kind in a.kinds), a.counts
    ('pizizipo', (1, 2, 1, 2, 1, 1))
    """
    length, before, after = stretched(i, k, s, p, d, op)
    first, end = min(0, -before), max(length, length + after)

    def kind(j: int) -> str:
        if j < -before or j >= length + after:
            return "crop"
        if 0 <= j < length:
            return "input" if j % s == 0 else "zero"
        return "pad" if j < 0 or j < length + before else "output_padding"

    return Axis(
        length=i, out=out, first=first, kinds=tuple(kind(j) for j in range(first, end)), start=-before, step=1,
        taps=tuple(t * d for t in range(k)), counts=tuple(tap_count(o, i, k, s, p, d) for o in range(out)),
        reach=before, output_padding=op,
    )


def conv_axis(i: int, out: int, k: int, s: int, pads: tuple[int, int], d: int) -> Axis:
    """One dim of a Conv over its padded input; `counts` are the windows reading each input
    position: the tap counts of the transposed layer with the same parameters (its adjoint).

    >>> a = conv_axis(6, 2, 3, 2, (0, 0), 1)
    >>> a.counts, a.unread
    ((1, 1, 2, 1, 1, 0), 1)
    """
    before, after = pads
    return Axis(
        length=i, out=out, first=-before,
        kinds=tuple("input" if 0 <= j < i else "pad" for j in range(-before, i + after)),
        start=-before, step=s, taps=tuple(t * d for t in range(k)),
        counts=tuple(tap_count(j, out, k, s, before, d) for j in range(i)),
        unread=unread(i, k, s, before, after, d),
    )


def _unit() -> Axis:
    """The height of a 1-D layer: one row that every tap reads once."""
    return Axis(length=1, out=1, first=0, kinds=("input",), start=0, step=1, taps=(0,), counts=(1,))


def axes(params: ConvParams, spatial: Spatial) -> tuple[Axis, Axis]:
    """(rows, cols) of the picture; a 1-D layer has one row."""
    if params.ndim not in (1, 2):
        raise ConvtoolError(
            f"convtool draws 1-D and 2-D layers, but this {params.class_name} has {params.ndim} spatial dims",
            hint="draw one of its planes as a 2-D layer (e.g. the last two dims' values)",
        )
    out = spatial_output(params, spatial)
    dims = []
    for axis in range(params.ndim):
        k, s, d = params.kernel_size[axis], params.stride[axis], params.dilation[axis]
        if params.transposed:
            dims.append(transposed_axis(
                spatial[axis], out[axis], k, s, params.padding[axis], d, params.output_padding[axis]
            ))
        else:
            dims.append(conv_axis(spatial[axis], out[axis], k, s, params.padding_pairs[axis], d))
    largest = max(max(a.drawn, a.out) for a in dims)
    if largest > MAX_CELLS:
        raise ConvtoolError(
            f"a picture holds at most {MAX_CELLS} cells per dim, but this one needs {largest}",
            hint="draw a smaller SIZE: the overlap pattern repeats every stride, so a few pixels show it",
        )
    return (_unit(), dims[0]) if params.ndim == 1 else (dims[0], dims[1])


def cell_kind(row: Axis, col: Axis, r: int, c: int) -> str:
    """The kind of a grid cell: the first of PRIORITY that either of its dims has."""
    kinds = (row.kinds[r], col.kinds[c])
    return next(kind for kind in PRIORITY if kind in kinds)


def small_input(params: ConvParams, spatial: Spatial, target: int = 4) -> Spatial:
    """An input no larger than `spatial` that shows the same pattern in few cells: `target`
    positions per dim where the layer accepts it, else the smallest it accepts above.

    >>> small_input(ConvParams.conv_transpose(2, 2), (28, 28))
    (4, 4)
    """
    chosen = []
    for axis, n in enumerate(spatial):
        pick = n
        for m in range(min(n, target), n + 1):
            # dims are independent: the others stay at their (valid) sizes while this one is probed
            probe = tuple(m if a == axis else v for a, v in enumerate(spatial))
            try:
                spatial_output(params, probe)
            except ConvtoolError:
                continue
            pick = m
            break
        chosen.append(pick)
    return tuple(chosen)


# -- drawing --------------------------------------------------------------------------------


class _Picture:
    def __init__(self, params: ConvParams, spatial: Spatial, animate: bool, prefix: str, note: str) -> None:
        self.params = params
        self.spatial = tuple(spatial)
        self.rows, self.cols = axes(params, self.spatial)
        self.one_d = params.ndim == 1
        self.animate = animate
        self.note = note
        self.c = Canvas(prefix, left=6)
        largest = max(self.rows.drawn, self.cols.drawn, self.cols.out, self.rows.out)
        budget = 900 if self.one_d else 380
        self.cell = float(max(8, min(28, budget // largest)))
        self.taps = taps_grid(self.rows.counts, self.cols.counts)  # per output (conv: per input) position
        self.levels = sorted({n for row in self.taps for n in row})
        positive = [level for level in self.levels if level]
        self.palette = dict(zip(positive, ramp(len(positive)))) if positive else {}

    def colour(self, count: int) -> str:
        return NONE_FILL if count == 0 else self.palette[count]

    # -- grids ------------------------------------------------------------------------------

    def grid(self, x: float, y: float, name: str, rows: int, cols: int, fill: Callable[[int, int], str],
             label: Callable[[int, int], str | None] | None = None, first: tuple[int, int] = (0, 0)) -> None:
        """A grid of cells, colour and text per (row, col); `first` numbers its rows and columns."""
        size = self.cell
        self.c.open(cls="grid", ident=name)
        for r in range(rows):
            for col in range(cols):
                colour = fill(r, col)
                extra = f'data-grid="{name}" data-row="{r + first[0]}" data-col="{col + first[1]}"'
                self.c.rect(x + col * size, y + r * size, size - 1, size - 1, colour, cls="cell", extra=extra)
                text = label(r, col) if label is not None else None
                if text is not None and size >= 14:
                    dark = colour.startswith("#") and luma(colour) < 140
                    self.c.text(x + col * size + (size - 1) / 2, y + r * size + size * 0.68, text,
                                size=size * 0.45, anchor="middle", fill="#ffffff" if dark else "#222")
        self.c.close()

    def window(self, x: float, y: float) -> None:
        """The kernel's footprint at output 0 (moving through every output with --animate)."""
        rows, cols, size = self.rows, self.cols, self.cell
        left = x + cols.at(cols.start) * size
        top = y + rows.at(rows.start) * size
        span_c = (cols.taps[-1] + 1) * size
        span_r = (rows.taps[-1] + 1) * size
        self.c.open(cls="kernel", ident="kernel")
        self.c.rect(left - 2, top - 2, span_c + 3, span_r + 3, "none", stroke="#111", width=2.5, rx=3)
        # a convolution's input cells carry their read counts in the middle: its taps sit in a corner
        at = 0.5 if self.params.transposed else 0.8
        for tr in rows.taps:
            for tc in cols.taps:
                cx, cy = left + (tc + at) * size - 0.5, top + (tr + at) * size - 0.5
                self.c.circle(cx, cy, max(1.5, size * 0.12), "#111")
        if self.animate:
            self._animate(rows.step * size, cols.step * size)
        self.c.close()

    def highlight(self, x: float, y: float) -> None:
        """The output position the kernel's footprint is computing."""
        self.c.open(cls="current", ident="current")
        self.c.rect(x - 1.5, y - 1.5, self.cell + 2, self.cell + 2, "none", stroke="#111", width=2.5, rx=2)
        if self.animate:
            self._animate(self.cell, self.cell)
        self.c.close()

    def _animate(self, dy: float, dx: float) -> None:
        """A discrete translate through every output position, row by row (SMIL, no script)."""
        moves = [f"{num(c * dx)} {num(r * dy)}" for r in range(self.rows.out) for c in range(self.cols.out)]
        step = max(0.08, min(0.6, 40 / len(moves)))
        self.c.raw(
            f'<animateTransform attributeName="transform" type="translate" calcMode="discrete" '
            f'values="{";".join(moves)}" dur="{num(step * len(moves))}s" repeatCount="indefinite"/>'
        )

    # -- the whole picture ------------------------------------------------------------------

    def draw(self) -> str:
        c, p = self.c, self.params
        verb = "transposed convolution" if p.transposed else "convolution"
        c.text(0, 18, f"{p.class_name}: {fmt_size(self.spatial)} → {fmt_size(self.out_spatial)}, the {verb} as it works",
               size=16, weight="bold")
        y = c.lines(0, 38, self.explain(), size=12, fill="#444")
        y += 8
        y = self.panels(y) + 18
        y = self.legend(y) + 6
        c.text(0, y + 14, p.torch_code(), size=13, mono=True, cls="caption")
        if self.note:
            c.text(0, y + 32, self.note, size=11, fill="#555", italic=True)
        return c.render(label=f"{p.class_name} {fmt_size(self.spatial)} to {fmt_size(self.out_spatial)}")

    @property
    def out_spatial(self) -> Spatial:
        return (self.cols.out,) if self.one_d else (self.rows.out, self.cols.out)

    def explain(self) -> list[str]:
        p, dims = self.params, ([self.cols] if self.one_d else [self.rows, self.cols])
        names = ("L",) if self.one_d else ("H", "W")
        if p.transposed:
            parts = []
            for a, s in zip(dims, p.stride):
                side = f"padding {a.reach} per side" if a.reach >= 0 else f"crop {-a.reach} per side"
                op = f", output_padding {a.output_padding} at the end" if a.output_padding else ""
                parts.append(f"{s - 1} zero{'s' if s != 2 else ''} between pixels, {side}{op}")
            shown = (f"{' and '.join(names)}: {parts[0]}" if len(set(parts)) == 1
                     else "; ".join(f"{name}: {part}" for name, part in zip(names, parts)))
            return [
                "= a stride-1 convolution over the input stretched with zeros; padding d(k-1) - p on each side.",
                shown,
                "Output cells are coloured by how many kernel taps land on input pixels: uneven counts = checkerboard.",
            ]
        unread_text = [f"{name}: the last {a.unread} never read" for name, a in zip(names, dims) if a.unread]
        if unread_text:
            reads = " (" + "; ".join(unread_text) + ", marked red)."
        elif 0 in self.levels:
            reads = "; the stride steps over the pink rows."
        else:
            reads = "; every input row is read."
        return [
            "The kernel slides over the padded input with stride " + "x".join(map(str, p.stride)) + ".",
            "Input cells are coloured by how many windows read them" + reads,
        ]

    def panels(self, y: float) -> float:
        return self._column(y) if self.one_d else self._row(y)

    def _slide_fill(self, r: int, col: int) -> str:
        rows, cols = self.rows, self.cols
        kind = cell_kind(rows, cols, r, col)
        if self.params.transposed or kind != "input":
            return KIND_FILL[kind]
        return self.colour(self.taps[r + rows.first][col + cols.first])

    def _slide_label(self, r: int, col: int) -> str | None:
        rows, cols = self.rows, self.cols
        if self.params.transposed:
            return "×" if cell_kind(rows, cols, r, col) == "crop" else None
        j_r, j_c = r + rows.first, col + cols.first
        if 0 <= j_r < rows.length and 0 <= j_c < cols.length:
            return str(self.taps[j_r][j_c])
        return None

    def _out_fill(self, r: int, col: int) -> str:
        if not self.params.transposed:
            return OUTPUT_FILL
        return self.colour(self.taps[r][col])

    def _out_label(self, r: int, col: int) -> str | None:
        return str(self.taps[r][col]) if self.params.transposed else None

    def _slide_name(self) -> str:
        """What the kernel slides over: `stretched input, padded`, `..., cropped`, `padded input`."""
        if not self.params.transposed:
            return "padded input" if any(k == "pad" for a in (self.rows, self.cols) for k in a.kinds) else "input"
        dims = (self.rows, self.cols)
        parts = ["stretched input"]
        if any(a.reach > 0 or a.output_padding for a in dims):
            parts.append("padded")
        if any(a.reach < 0 for a in dims):
            parts.append("cropped")
        return ", ".join(parts)

    def _title(self, x: float, y: float, text: str) -> None:
        self.c.text(x, y, text, size=12, weight="bold", fill="#333")

    def _row(self, y: float) -> float:
        """2-D: input, the grid the kernel slides over, output, side by side."""
        size, rows, cols, p = self.cell, self.rows, self.cols, self.params
        top = y + 18
        x = 0.0
        if p.transposed:
            title = f"input {rows.length}x{cols.length}"
            self._title(x, y + 10, title)
            self.grid(x, top, "input", rows.length, cols.length, lambda r, col: KIND_FILL["input"])
            x += max(cols.length * size, _width(title)) + 52
            self._arrow(x - 46, top + rows.length * size / 2, x - 8, "stretch")
        title = f"{self._slide_name()} {rows.drawn}x{cols.drawn}"
        self._title(x, y + 10, title)
        self.grid(x, top, "slide", rows.drawn, cols.drawn, self._slide_fill, self._slide_label,
                  first=(rows.first, cols.first))
        beside = self._unread_marks(x, top)
        self.window(x, top)
        x += max(cols.drawn * size + beside, _width(title)) + 40
        self._arrow(x - 34, top + rows.drawn * size / 2, x - 6, "")
        self._title(x, y + 10, f"output {rows.out}x{cols.out}")
        self.grid(x, top, "output", rows.out, cols.out, self._out_fill, self._out_label)
        self.highlight(x, top)
        return top + max(rows.drawn, rows.out) * size + (14 if any((rows.unread, cols.unread)) else 0)

    def _column(self, y: float) -> float:
        """1-D: strips one above the other, lines showing where each value goes, the strips'
        names in a column on their right (the lines between strips stay clear)."""
        c, size, a, p = self.c, self.cell, self.cols, self.params
        top = y + 8
        titles: list[tuple[float, str]] = []
        out_left = a.at(a.start) * size if p.transposed else max(0.0, (a.drawn - a.out) * size / 2)
        right = max(a.drawn * size, out_left + a.out * size)
        if p.transposed:
            inputs_left = a.at(0) * size
            self.grid(inputs_left, top, "input", 1, a.length, lambda r, col: KIND_FILL["input"])
            titles.append((top, f"input {a.length}"))
            below = top + size + 30
            for m in range(a.length):
                x1 = inputs_left + m * size + (size - 1) / 2
                x2 = a.at(m * p.stride[0]) * size + (size - 1) / 2
                c.line(x1, top + size, x2, below - 2, "#8aa9c9", width=1)
            top = below
        self.grid(0, top, "slide", 1, a.drawn, self._slide_fill, self._slide_label, first=(0, a.first))
        titles.append((top, f"{self._slide_name()} ({a.drawn})"))
        self._unread_marks(0, top)
        self.window(0, top)
        below = top + size + 34
        for o in (0, a.out - 1):
            x1 = (a.at(a.start + o * a.step) + a.taps[-1] / 2) * size + (size - 1) / 2
            c.line(x1, top + size + 3, out_left + o * size + (size - 1) / 2, below - 3, "#999", dash="3 2")
        self.grid(out_left, below, "output", 1, a.out, self._out_fill, self._out_label)
        titles.append((below, f"output {a.out}"))
        self.highlight(out_left, below)
        for strip_top, title in titles:
            self._title(right + 16, strip_top + size / 2 + 4, title)
        return below + size

    def _arrow(self, x1: float, y: float, x2: float, label: str) -> None:
        self.c.line(x1, y, x2, y, "#666", width=1.5, arrow="#666")
        if label:
            self.c.text((x1 + x2) / 2, y - 6, label, size=9, anchor="middle", fill="#666")

    def _unread_marks(self, x: float, top: float) -> float:
        """Conv: a red bracket under the columns (and beside the rows) no window reads; returns
        the width the marks take beside the grid."""
        rows, cols, size = self.rows, self.cols, self.cell
        if cols.unread:
            left = x + cols.at(cols.length - cols.unread) * size
            bottom = top + rows.drawn * size + 3
            self.c.path([(left, bottom), (left, bottom + 5), (left + cols.unread * size - 1, bottom + 5),
                         (left + cols.unread * size - 1, bottom)], UNREAD, width=2, cls="unread")
            self.c.text(left, bottom + 16, f"never read ({cols.unread})", size=10, fill=UNREAD)
        if rows.unread:
            right = x + cols.drawn * size + 2
            upper = top + rows.at(rows.length - rows.unread) * size
            self.c.path([(right, upper), (right + 5, upper), (right + 5, upper + rows.unread * size - 1),
                         (right, upper + rows.unread * size - 1)], UNREAD, width=2, cls="unread")
            label = f"never read ({rows.unread})"
            self.c.text(right + 9, upper + rows.unread * size / 2 + 3, label, size=10, fill=UNREAD)
            return 12 + _width(label, 10)
        return 0.0

    def legend(self, y: float) -> float:
        c = self.c
        items: list[tuple[str, str]] = []
        p = self.params
        present = {cell_kind(self.rows, self.cols, r, col)
                   for r in range(self.rows.drawn) for col in range(self.cols.drawn)}
        for kind in ("input", "zero", "pad", "output_padding", "crop"):
            if kind in present and (p.transposed or kind != "input"):
                items.append((KIND_FILL[kind], KIND_LABEL[kind] if p.transposed or kind != "pad" else "padding"))
        noun = "tap" if p.transposed else "window"
        for level in self.levels:
            label = f"{level} {noun}{'s' if level != 1 else ''}"
            if p.transposed:
                label += (" reach" if level != 1 else " reaches") + " the output cell" + (
                    " (bias only)" if level == 0 else "")
            else:
                label = f"input read by {label}" + (" (never read)" if level == 0 else "")
            items.append((self.colour(level), label))
        if not p.transposed:
            items.append((OUTPUT_FILL, "output (every output reads the whole kernel)"))
        x = 0.0
        c.open(cls="legend", ident="legend")
        for fill, label in items:
            width = 22 + 6.2 * len(label)
            if x and x + width > max(c.width, 520):
                x, y = 0.0, y + 20
            c.rect(x, y, 14, 14, fill, cls="swatch", stroke="#888", width=0.6)
            c.text(x + 19, y + 11, label, size=11, cls="swatch-label")
            x += width + 14
        c.close()
        return y + 20


def _width(text: str, size: float = 12) -> float:
    """About how wide a line of (bold) text is: titles must not run into the next panel."""
    return 0.62 * size * len(text)


def layer_svg(
    params: ConvParams, spatial: Sequence[int], *, animate: bool = False, prefix: str = "layer", note: str = ""
) -> str:
    """The picture of one 1-D or 2-D layer applied to an input of this spatial size.

    >>> svg = layer_svg(ConvParams.conv_transpose(3, 2, 1, 1), (3, 3))
    >>> svg.startswith('<svg') and 'nn.ConvTranspose2d' in svg
    True
    """
    return _Picture(params, tuple(spatial), animate, prefix, note).draw()
