"""A network drawn as it is, in the style of the U-Net paper's figure.

Every tensor is a box labelled with its channels (above) and spatial size (below), its height
growing with the spatial size and its width with the channels (both on a log scale); layers
that keep the shape and work position by position (activations, batch norm, dropout) join the
box of the tensor they act on. A box sits one row lower per halving of the spatial size, so an
encoder goes down and a decoder comes back up; skip connections arc over the boxes between.
Marks: checkerboard layers (uneven overlap, from the shape engine), merges whose tensors sit at
different places of the input (from the layers' grids), and, when the network does not
line up, the two tensors in red with the fixes beside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from math import log2, prod

from ..graph import Arch, LayerResult, Propagation, StackMismatch, propagate
from ..layers import KINDS
from ..shape import overlap
from ..text import fmt_shape, fmt_size
from .svg import Canvas

GAP = 50  # between boxes: the arrow and the captions below
ROW_GAP = 78  # between rows: labels above and below, and skip lanes
DOWN, UP, CONV, MERGE, OTHER = "#c8453c", "#3a9a4a", "#3b78c2", "#8a8a8a", "#555555"
CHECKER = "#e08a00"
MISALIGNED = "#8e44ad"
FAILED = "#d62728"
SECTION_FILL = {"encoder": "#eef4fb", "decoder": "#eef8ef"}


@dataclass(frozen=True)
class Line:
    """One line of text under a box."""

    text: str
    size: float
    fill: str
    height: float  # how far the next line starts below
    weight: str = "normal"
    italic: bool = False
    cls: str = ""


@dataclass
class Box:
    """One tensor of the diagram and the layers it stands for."""

    shape: tuple[int, ...]
    layers: list[LayerResult]
    section: str | None
    level: float
    colour: str = OTHER  # of the arrow that makes it
    skips: list[tuple[int, bool]] = field(default_factory=list)  # (box it merges in, cropped)
    marks: list[tuple[str, str]] = field(default_factory=list)  # (text, colour)
    failed: bool = False
    culprit: bool = False  # one of the two tensors that do not line up
    x: float = 0.0
    y: float = 0.0  # top
    w: float = 0.0
    h: float = 0.0

    note: tuple[str, ...] = ()  # the caption of a box that stands for no layer result

    @property
    def caption(self) -> list[str]:
        """The layers that make the tensor: the first's type and config, then `+ relu`, ..."""
        if not self.layers:
            return list(self.note)
        first, *rest = self.layers
        lines = [first.type] + ([first.config] if first.config else [])
        return lines + [f"+ {f'{layer.type} {layer.config}'.strip()}" for layer in rest]


def spatial_mean(shape: Sequence[int]) -> float | None:
    """The geometric mean of the spatial dims, None for a tensor without any."""
    return prod(shape[2:]) ** (1 / len(shape[2:])) if len(shape) > 2 else None


def level_step(before: Sequence[int], after: Sequence[int]) -> float:
    """Rows down from `before` to `after`: one per halving of the spatial size, by halves.

    >>> level_step((1, 64, 568, 568), (1, 64, 284, 284)), level_step((1, 3, 572, 572), (1, 64, 570, 570))
    (1.0, 0)
    """
    a, b = spatial_mean(before), spatial_mean(after)
    if a is None or b is None or a <= 0 or b <= 0:
        return 0
    step = log2(a / b)
    return 0 if abs(step) < 0.4 else round(step * 2) / 2


def _colour(layer: LayerResult, step: float) -> str:
    if step > 0:
        return DOWN
    if step < 0:
        return UP
    if KINDS[layer.type].skip:
        return MERGE
    if layer.applied.conv is not None:
        return CONV
    return OTHER


def _fraction(value: Fraction) -> str:
    """`+1/2`, `-3/4`, `0`."""
    return f"{'+' if value > 0 else ''}{value.numerator}" + (f"/{value.denominator}" if value.denominator != 1 else "")


class Diagram:
    """Boxes, their places, and the drawing."""

    def __init__(self, name: str, input_shape: tuple[int, ...], layers: Sequence[LayerResult],
                 mismatch: StackMismatch | None, prefix: str) -> None:
        self.name = name
        self.input = input_shape
        self.layers = tuple(layers)
        self.mismatch = mismatch
        self.c = Canvas(prefix)
        self.boxes: list[Box] = [Box(shape=input_shape, layers=[], section=layers[0].section if layers else None,
                                     level=0, note=("input",))]
        self.of_layer: dict[int, int] = {}
        self.build()

    # -- model ------------------------------------------------------------------------------

    def build(self) -> None:
        for layer in self.layers:
            last = self.boxes[-1]
            kind = KINDS[layer.type]
            if kind.elementwise and not kind.skip and layer.output == last.shape and last.layers:
                last.layers.append(layer)
            else:
                step = level_step(last.shape, layer.output)
                box = Box(shape=layer.output, layers=[layer], section=layer.section, level=last.level + step,
                          colour=_colour(layer, step))
                box.skips = [(self.of_layer[s] if s >= 0 else 0, any(c))  # a network input: the first box
                             for s, c in zip(layer.skips, layer.applied.crops)]
                self.boxes.append(box)
                self._checkerboard(box, layer)
            self.of_layer[layer.index] = len(self.boxes) - 1
        self._misaligned()
        if self.mismatch is not None:
            failed = self.mismatch.failed
            self.boxes[-1].culprit = True
            box = Box(shape=failed.input, layers=[], section=failed.section, level=self.boxes[-1].level,
                      colour=FAILED, failed=True, note=(failed.type, failed.config))
            if failed.skip_from is not None and failed.skip_from[0] in self.of_layer:
                source = self.of_layer.get(failed.skip_from[0], 0)  # a network input: the first box
                self.boxes[source].culprit = True
                box.skips = [(source, False)]
            self.boxes.append(box)

    def _checkerboard(self, box: Box, layer: LayerResult) -> None:
        conv = layer.applied.conv
        if conv is None or not conv.transposed:
            return
        patterns = overlap(conv)
        if any(o.gaps for o in patterns):
            box.marks.append(("gaps: outputs\nno tap reaches", CHECKER))
        elif not all(o.even for o in patterns):
            shown = " x ".join(",".join(map(str, o.pattern)) for o in patterns)
            box.marks.append((f"checkerboard\ntaps {shown}", CHECKER))

    def _misaligned(self) -> None:
        for layer in self.layers:
            for off in layer.misaligned:
                if off.steps_differ:
                    shown = "steps differ"
                else:
                    shifts = off.shifts()
                    every = _fraction(shifts[0]) if off.every_dim and len(set(shifts)) == 1 else " x ".join(
                        f"{_fraction(v)} {name}" for (name, _, _), v in zip(off.dims, shifts))
                    shown = f"skip offset {every} px"
                self.boxes[self.of_layer[layer.index]].marks.append((f"misaligned:\n{shown}", MISALIGNED))

    # -- layout -----------------------------------------------------------------------------

    def layout(self, top: float) -> float:
        for box in self.boxes:
            mean = spatial_mean(box.shape)
            box.h = 16 + 11 * log2(mean) if mean and mean >= 1 else 16
            channels = box.shape[1] if len(box.shape) > 1 else 1
            box.w = 10 + 3.4 * log2(max(channels, 1))
        levels = sorted({box.level for box in self.boxes})
        tallest = {lv: max(b.h for b in self.boxes if b.level == lv) for lv in levels}
        centre: dict[float, float] = {}
        y = top
        for lv in levels:
            centre[lv] = y + tallest[lv] / 2
            y += tallest[lv] + ROW_GAP
        x = 30.0
        for box in self.boxes:
            box.x, box.y = x, centre[box.level] - box.h / 2
            x += box.w + GAP
        return y

    # -- drawing ----------------------------------------------------------------------------

    def draw(self) -> str:
        c = self.c
        c.text(0, 20, self.name, size=17, weight="bold")
        last = self.boxes[-2] if self.boxes[-1].failed else self.boxes[-1]
        shapes = f"input {fmt_shape(self.input)} → " + (
            f"output {fmt_shape(last.shape)}" if self.mismatch is None else "does not line up"
        )
        c.text(0, 40, shapes + f"   (N = {self.input[0]})", size=12, fill="#444")
        lanes = self._lanes()
        lane_room = 26 + 12 * max((lane for lane in lanes.values()), default=0)
        bottom = self.layout(70 + lane_room)
        self._sections()
        for i, box in enumerate(self.boxes[1:], 1):
            self._flow(self.boxes[i - 1], box)
        for i, box in enumerate(self.boxes):
            for source, cropped in box.skips:
                self._skip(self.boxes[source], box, cropped, lanes[(source, i)])
        for i, box in enumerate(self.boxes):
            self._box(i, box)
        if self.mismatch is not None:
            self._fixes()
        self._legend(bottom + 10)
        return c.render(label=self.name)

    def _lanes(self) -> dict[tuple[int, int], int]:
        """A lane number per skip arrow so that arrows over the same boxes stay apart."""
        lanes: dict[tuple[int, int], int] = {}
        spans: list[tuple[int, int, int]] = []
        for target, box in enumerate(self.boxes):
            for source, _ in box.skips:
                lane = 0
                while any(lo < target and source < hi and lv == lane for lo, hi, lv in spans):
                    lane += 1
                spans.append((source, target, lane))
                lanes[(source, target)] = lane
        return lanes

    def _sections(self) -> None:
        """A tinted frame around each section's boxes and the lines under them; where two
        sections meet, the frames part in the middle of the gap between their boxes."""
        names: list[str] = []
        for box in self.boxes:
            if box.section and box.section not in names:
                names.append(box.section)
        members = {name: [b for b in self.boxes if b.section == name] for name in names}
        lefts = {name: min(min(b.x, b.x + b.w / 2 - self._half_width(b)) for b in members[name]) - 14
                 for name in names}
        rights = {name: max(max(b.x + b.w, b.x + b.w / 2 + self._half_width(b)) for b in members[name]) + 14
                  for name in names}
        for before, after in zip(names, names[1:]):
            last, first = members[before][-1], members[after][0]
            middle = (last.x + last.w + first.x) / 2
            rights[before] = min(rights[before], middle - 3)
            lefts[after] = max(lefts[after], middle + 3)
        for name in names:
            boxes, left, right = members[name], lefts[name], rights[name]
            top = min(b.y for b in boxes) - 34
            bottom = max(b.y + b.h + 13 + sum(line.height for line in self._below(b)) for b in boxes) + 24
            self.c.rect(left, top, right - left, bottom - top, SECTION_FILL.get(name, "#f4f4f4"), rx=10,
                        stroke="#c9d3de", dash="5 4", cls="section")
            # the bottom corner the boxes leave free: the left one where the section goes down
            falls = boxes[-1].level >= boxes[0].level
            self.c.text(left + 8 if falls else right - 8, bottom - 8, name, size=13, weight="bold", fill="#6b7a8c",
                        anchor="start" if falls else "end", cls="section-name")

    def _flow(self, before: Box, box: Box) -> None:
        x1, y1 = before.x + before.w, before.y + before.h / 2
        x2, y2 = box.x - 2, box.y + box.h / 2
        colour = FAILED if box.failed else box.colour
        dash = "5 3" if box.failed else ""
        if abs(y1 - y2) < 0.5:
            self.c.line(x1, y1, x2, y2, colour, width=2, arrow=colour, dash=dash, cls="flow")
        else:
            mid = (x1 + x2) / 2
            self.c.path([(x1, y1), (mid, y1), (mid, y2), (x2, y2)], colour, width=2, arrow=colour, dash=dash,
                        cls="flow")

    def _skip(self, source: Box, target: Box, cropped: bool, lane: int) -> None:
        colour = FAILED if target.failed else (MISALIGNED if any(m[1] == MISALIGNED for m in target.marks) else MERGE)
        between = [b for b in self.boxes if source.x <= b.x <= target.x]
        lane_y = min(b.y for b in between) - 22 - 12 * lane
        x1, y1 = source.x + source.w, source.y + min(8, source.h / 3)
        x2, y2 = target.x - 2, target.y + min(8, target.h / 3)
        points = [(x1, y1), (x1 + 12, y1), (x1 + 12, lane_y), (x2 - 12, lane_y), (x2 - 12, y2), (x2, y2)]
        self.c.path(points, colour, width=1.6, dash="6 3", arrow=colour, cls="skip")
        label = "copy and crop" if cropped else ("copy" if not target.failed else "does not line up")
        self.c.text((x1 + x2) / 2, lane_y - 4, label, size=9, anchor="middle", fill=colour)

    def _box(self, index: int, box: Box) -> None:
        c = self.c
        stroke = FAILED if (box.failed or box.culprit) else ("#333" if not box.marks else box.marks[0][1])
        fill = "#ffffff" if box.failed else ("#fde2e2" if box.culprit else _fill(box))
        c.open(cls="tensor" + (" failed" if box.failed else "") + (" culprit" if box.culprit else ""),
               ident=f"t{index}")
        names = [layer.name for layer in box.layers if layer.name]
        c.title(f"{fmt_shape(box.shape)}" + (f" — {', '.join(names)}" if names else ""))
        c.rect(box.x, box.y, box.w, box.h, fill, stroke=stroke, width=2 if stroke != "#333" else 1,
               dash="5 3" if box.failed else "", cls="box")
        centre = box.x + box.w / 2
        channels = str(box.shape[1]) if len(box.shape) > 1 else str(box.shape[0])
        c.text(centre, box.y - 5, "?" if box.failed else channels, size=10, anchor="middle",
               fill=FAILED if (box.failed or box.culprit) else "#222", cls="channels")
        y = box.y + box.h + 13
        for line in self._below(box):
            c.text(centre, y, line.text, size=line.size, anchor="middle", fill=line.fill, weight=line.weight,
                   italic=line.italic, cls=line.cls)
            y += line.height
        c.close()

    def _half_width(self, box: Box) -> float:
        """About half the width of the widest line under a box (0.55 em per character)."""
        return max((0.55 * line.size * len(line.text) / 2 for line in self._below(box)), default=0)

    def _below(self, box: Box) -> list[Line]:
        """The lines under a box: its size, names, layers and marks."""
        colour = FAILED if (box.failed or box.culprit) else "#222"
        lines: list[Line] = []
        if len(box.shape) > 2 and not box.failed:
            lines.append(Line(fmt_size(box.shape[2:]), 10, colour, 12, weight="bold", cls="spatial"))
        names = ", ".join(layer.name for layer in box.layers if layer.name)
        if names:
            lines.append(Line(names, 9, "#3b5a80", 11, italic=True, cls="name"))
        if box.failed:
            lines.append(Line("does not line up", 9, FAILED, 11, weight="bold"))
        for text in box.caption[:4] + (["+ ..."] if len(box.caption) > 4 else []):
            lines.append(Line(text, 8, "#666", 10, cls="op"))
        for text, mark in box.marks:
            lines += [Line(part, 8.5, mark, 11, weight="bold", cls="mark") for part in text.split("\n")]
        return lines

    def _fixes(self) -> None:
        assert self.mismatch is not None
        box = self.boxes[-1]
        x = box.x + box.w + 24
        y = box.y + 4
        failed = self.mismatch.failed
        lines = [f"layer {failed.index}" + (f" '{failed.name}'" if failed.name else "") + f" ({failed.type}):",
                 failed.reason]
        if self.mismatch.fixes:
            lines.append("fix, one of:")
            lines += [f"• {fix}" for fix in self.mismatch.fixes]
        self.c.open(cls="fixes", ident="fixes")
        for i, line in enumerate(lines):
            for j, part in enumerate(_wrap(line, 70)):
                self.c.text(x + (10 if j else 0), y + 10, part, size=10.5,
                            fill=FAILED if i < 2 else "#222", weight="bold" if i == 0 else "normal")
                y += 14
        self.c.close()

    def _legend(self, y: float) -> None:
        c = self.c
        items = [(CONV, "convolution"), (DOWN, "downsampling (a row down per halving)"),
                 (UP, "upsampling (a row up per doubling)"), (MERGE, "merge / skip connection"),
                 (OTHER, "other layer")]
        c.open(cls="legend", ident="legend")
        x = 0.0
        for colour, label in items:
            c.line(x, y + 6, x + 26, y + 6, colour, width=2, arrow=colour)
            c.text(x + 32, y + 10, label, size=10.5)
            x += 44 + 6 * len(label)
        y += 20
        c.text(0, y + 10, "Box: one tensor; height grows with log2 of its spatial size, width with log2 of its "
               "channels; channels above, H x W below; activations, norms and dropout join the box they act on.",
               size=10.5, fill="#444")
        marks = [(CHECKER, "checkerboard: a transposed layer with uneven overlap"),
                 (MISALIGNED, "misaligned: a skip whose positions sit elsewhere in the input")]
        if self.mismatch is not None:
            marks.append((FAILED, "the two tensors that do not line up"))
        x = 0.0
        y += 20
        for colour, label in marks:
            c.rect(x, y, 12, 12, "#ffffff", stroke=colour, width=2)
            c.text(x + 18, y + 10, label, size=10.5, fill=colour)
            x += 40 + 6 * len(label)
        c.close()


def _fill(box: Box) -> str:
    return "#dbe8f6" if box.layers else "#f3e7c9"


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(" "), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else lines


def propagation_svg(prop: Propagation, *, prefix: str = "net") -> str:
    """The diagram of a network that lines up."""
    return Diagram(prop.arch.name or prop.arch.file, prop.input, prop.layers, None, prefix).draw()


def mismatch_svg(arch: Arch, error: StackMismatch, *, prefix: str = "net") -> str:
    """The diagram of a network up to the layer where it stops lining up, the two tensors in red."""
    start = tuple(error.input_shape or arch.input or ())
    return Diagram(arch.name or arch.file, start, error.layers, error, prefix).draw()


@dataclass(frozen=True)
class NetworkPicture:
    """A network's diagram, and the StackMismatch when it does not line up."""

    svg: str
    propagation: Propagation | None
    mismatch: StackMismatch | None


def network(arch: Arch, input_shape: Sequence[int] | None = None, batch: int | None = None, *,
            prefix: str = "net") -> NetworkPicture:
    """Propagate the file's network and draw it; a network that does not line up is drawn up to
    the failing layer, the two tensors in red.

    >>> from convtool.graph import loads
    >>> pic = network(loads("input: [1, 3, 8, 8]\\nlayers: [{type: conv2d, out_channels: 4, kernel_size: 3}]"))
    >>> '6x6' in pic.svg and pic.mismatch is None
    True
    """
    try:
        prop = propagate(arch, input_shape, batch)
    except StackMismatch as error:
        return NetworkPicture(mismatch_svg(arch, error, prefix=prefix), None, error)
    return NetworkPicture(propagation_svg(prop, prefix=prefix), prop, None)
