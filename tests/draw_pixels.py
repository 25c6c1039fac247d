"""Reading a picture as a person does: render the SVG to pixels, find each cell's colour, and
read what that colour means from the legend's swatches and their labels.

Geometry (where the cells, swatches and kernel outline are) comes from the SVG source;
meaning comes from the pixels: a cell's sampled colour matched to a swatch's sampled colour.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pytest

cairosvg = pytest.importorskip("cairosvg", reason="rendering SVG needs cairosvg (pip install cairosvg)")
Image = pytest.importorskip("PIL.Image", reason="reading pixels needs Pillow (cairosvg's dependency)")

SVG = "{http://www.w3.org/2000/svg}"


def render(svg: str) -> object:
    """The SVG as an RGB image at 1 px per unit."""
    png = cairosvg.svg2png(bytestring=svg.encode("utf-8"))
    return Image.open(io.BytesIO(png)).convert("RGB")


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float


def _box(element: ET.Element) -> Box:
    return Box(*(float(element.get(key, "0")) for key in ("x", "y", "width", "height")))


class Picture:
    """A rendered picture: cells per grid with their sampled colours, and the legend."""

    def __init__(self, svg: str) -> None:
        self.svg = svg
        self.root = ET.fromstring(svg)
        self.image = render(svg)
        # the colours of the cells under the kernel's outline and the current-cell frame, as one
        # sees them past those overlays: sampled from a rendering without them
        bare = ET.fromstring(svg)
        for parent in list(bare.iter()):
            for child in list(parent):
                if child.get("class") in ("kernel", "current"):
                    parent.remove(child)
        self.cell_image = render(ET.tostring(bare, encoding="unicode"))
        self.cells: dict[str, dict[tuple[int, int], Box]] = {}
        for rect in self.root.iter(f"{SVG}rect"):
            if rect.get("class") == "cell":
                grid = self.cells.setdefault(rect.get("data-grid"), {})
                grid[(int(rect.get("data-row")), int(rect.get("data-col")))] = _box(rect)
        self.legend: dict[tuple[int, int, int], str] = {}
        for group in self.root.iter(f"{SVG}g"):
            if group.get("class") != "legend":
                continue
            children = list(group)
            for swatch, label in zip(children, children[1:]):
                if swatch.get("class") == "swatch" and label.get("class") == "swatch-label":
                    colour = self.sample(_box(swatch), 0.5, 0.5)
                    assert colour not in self.legend, f"two legend entries share the colour {colour}"
                    self.legend[colour] = label.text or ""

    def sample(self, box: Box, fx: float = 0.3, fy: float = 0.2, image: object = None) -> tuple[int, int, int]:
        """The colour inside a box, away from the centre where a cell's number sits."""
        return (image or self.image).getpixel((int(box.x + box.w * fx), int(box.y + box.h * fy)))

    def meaning(self, grid: str) -> dict[tuple[int, int], str]:
        """Every cell of a grid -> the legend label of its colour."""
        found = {}
        for key, box in self.cells[grid].items():
            colour = self.sample(box, image=self.cell_image)
            assert colour in self.legend, f"{grid} cell {key}: colour {colour} is not in the legend {self.legend}"
            found[key] = self.legend[colour]
        return found

    def group_rects(self, cls: str) -> list[Box]:
        for group in self.root.iter(f"{SVG}g"):
            if group.get("class") == cls:
                return [_box(r) for r in group.iter(f"{SVG}rect")]
        raise AssertionError(f"no group of class {cls}")

    def texts(self) -> list[str]:
        return ["".join(t.itertext()) for t in self.root.iter(f"{SVG}text")]


def count_of(label: str) -> int:
    """`2 taps reach the output cell` -> 2; `input read by 1 window` -> 1."""
    words = label.replace("input read by ", "").split()
    return int(words[0])


def ink(image: object) -> float:
    """The share of pixels that are not white."""
    histogram = image.convert("L").histogram()
    return sum(histogram[:245]) / sum(histogram)
