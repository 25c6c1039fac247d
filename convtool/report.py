"""Renderers: JSON documents (docs/json.md) and rich tables built from engine results.

rich is imported inside the rendering functions only, so `--json` and the import of this
module stay fast.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import ConvtoolError
from .params import ConvParams
from .shape import LayerReport, Overlap, taps_grid
from .text import escape_controls, fmt_shape, fmt_size

if TYPE_CHECKING:
    from .design import ConvInverse, Search, Solution, StageSearch


PIPED_WIDTH = 160  # output that goes to a file or a pipe, when COLUMNS does not say otherwise
NARROWEST = 20  # below this no layout reads; lines may then run over


def screen_width(stream: Any = None) -> int:
    """The width human output is laid out for: COLUMNS, else the terminal's, else PIPED_WIDTH."""
    import os

    stream = sys.stdout if stream is None else stream
    value = os.environ.get("COLUMNS", "").strip()
    if value.isdigit() and int(value) > 0:
        return max(int(value), NARROWEST)
    try:
        if stream.isatty():
            return max(os.get_terminal_size(stream.fileno()).columns, NARROWEST)
    except (OSError, ValueError, AttributeError):  # not a real file (a test's buffer), or closed
        pass
    return PIPED_WIDTH


class Screen:
    """Human output laid out for the screen's width: each line of text wraps at spaces (a shape
    only after a comma, a number never), its continuation lines indented under it; nothing is
    cut. Tables and pictures (rich renderables) are printed as they were laid out."""

    def __init__(self, stream: Any) -> None:
        from rich.console import Console

        self.width = screen_width(stream)
        # emoji=False: a name like `:smile:` in a file prints as written (and rich's emoji table never loads)
        self.console = Console(file=stream, highlight=False, width=self.width, soft_wrap=True, emoji=False)

    def print(self, item: Any, indent: int = 0) -> None:
        """`item`: rich markup (wrapped, its lines indented by `indent`) or a rich renderable."""
        from rich.text import Text

        if not isinstance(item, str):
            self.console.print(item)
            return
        lead = Text(" " * indent)
        for paragraph in Text.from_markup(item, emoji=False).split("\n", allow_blank=True):
            paragraph.rstrip()
            inner = len(paragraph.plain) - len(paragraph.plain.lstrip(" ")) + HANG
            pieces = _breaks(paragraph.plain, self.width - indent, self.width - indent - inner)
            for n, (a, b) in enumerate(pieces):
                self.console.print(lead + (Text(" " * inner) if n else Text()) + paragraph[a:b])


HANG = 2  # how far a wrapped line's continuation is indented


def console(stderr: bool = False) -> Screen:
    """The screen on the current stdout/stderr (late, so CliRunner captures it)."""
    return Screen(sys.stderr if stderr else sys.stdout)


def _breaks(text: str, first: int, rest: int) -> list[tuple[int, int]]:
    """Where `text` breaks into lines of at most `first` (then `rest`) characters: at spaces only,
    at the shallowest parenthesis depth that fits (a shape or a call stays whole where it can,
    and breaks only after a comma where it cannot). Only a word longer than a whole line (a
    name, a path) is split inside, after a '.', '_', '-' or '/' in its second half if it has one.

    >>> _breaks("in (1, 64, 570, 570)", 14, 18)
    [(0, 2), (3, 20)]
    >>> _breaks("in (1, 64, 570, 570)", 14, 12)
    [(0, 2), (3, 15), (16, 20)]
    >>> _breaks("use encoder.stage_one.conv", 12, 12)
    [(0, 3), (4, 12), (12, 22), (22, 26)]
    """
    import re

    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    if not words:
        return [(0, len(text))]
    depth, level, at = [], 0, 0
    for begin, _ in words:
        level += text.count("(", at, begin) + text.count("[", at, begin)
        level -= text.count(")", at, begin) + text.count("]", at, begin)
        depth.append(max(level, 0))
        at = begin
    lines: list[tuple[int, int]] = []
    start, i = 0, 0
    while True:
        limit = max(rest if lines else first, 1)
        if words[i][1] - start > limit:  # a word longer than the line: split inside it
            soft = max(text.rfind(c, start + 1, start + limit) for c in "._-/")
            cut = soft + 1 if soft + 1 > start + limit // 2 else start + limit
            lines.append((start, cut))
            start = cut
            continue
        j = i
        while j + 1 < len(words) and words[j + 1][1] - start <= limit:
            j += 1
        if j == len(words) - 1:
            lines.append((start, words[j][1]))
            return lines
        best = min(range(i, j + 1), key=lambda k: (depth[k + 1], -k))  # break before word k + 1
        lines.append((start, words[best][1]))
        start, i = words[best + 1][0], best + 1


def wrap_lines(text: str, width: int, indent: str = "") -> list[str]:
    """`text` in lines of at most `width` characters, broken as `_breaks` says, continuation
    lines indented by `indent`.

    >>> wrap_lines("shapes (1, 64, 570, 570) and (1, 64, 568, 568)", 24, "  ")
    ['shapes (1, 64, 570, 570)', '  and (1, 64, 568, 568)']
    """
    if len(text) <= width:
        return [text]
    pieces = _breaks(text, width, width - len(indent))
    return [(indent if n else "") + text[a:b] for n, (a, b) in enumerate(pieces)]


def say(text: str) -> None:
    """A plain message (no markup) on stderr, wrapped on a terminal or to COLUMNS; otherwise (a
    log, a program reading it) each message stays one line."""
    import os

    width = screen_width(sys.stderr) if _isatty(sys.stderr) or "COLUMNS" in os.environ else 0
    indent = " " * (len(text) - len(text.lstrip(" ")) + HANG)  # under the line's own start
    sys.stderr.write("".join(line + "\n" for line in (wrap_lines(text, width, indent) if width else [text])))


def _markup(text: str) -> str:
    """Text from a file inside a rich markup string: control characters and markup escaped."""
    from rich.markup import escape

    return escape(escape_controls(text))


def print_json(doc: Any) -> None:
    """Print one JSON document on stdout."""
    import json  # here, not at the top: the tables never need it

    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


def print_error(error: ConvtoolError, as_json: bool) -> None:
    """One clear sentence on stderr (plus a hint); with --json also the error document on stdout."""
    if as_json:
        print_json({"error": error.to_dict()})
    say(f"Error: {escape_controls(error.message)}")
    for i, line in enumerate(error.hint_lines):
        say(f"{'Hint: ' if i == 0 else ''}{escape_controls(line)}")


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (ValueError, AttributeError):
        return False


SHOWN = 64  # rows of a long list that the human view prints


def fmt_count(n: int | None) -> str:
    """`4,785`, `475.2M`, `1.3G`: exact below a million, then three significant figures."""
    if n is None:
        return "—"
    if n >= 10**15:  # integer arithmetic: counts may exceed a float's range
        exponent = len(str(n)) - 3
        mantissa = (n + 5 * 10 ** (exponent - 1)) // 10**exponent  # three digits, rounded
        if mantissa >= 1000:
            mantissa, exponent = mantissa // 10, exponent + 1
        return f"{mantissa // 100}.{mantissa % 100:02d}e+{exponent + 2:02d}"
    for unit, scale in (("T", 10**12), ("G", 10**9), ("M", 10**6)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{n:,}"


# -- convtool shape -------------------------------------------------------------------------


def shape_json(report: LayerReport) -> dict[str, Any]:
    """The `shape --json` document (docs/json.md)."""
    p = report.params
    doc: dict[str, Any] = {
        "op": p.op,
        "input": {"spatial": list(report.input_spatial), "shape": _list(report.input_shape)},
        "params": p.to_dict(),
        "output": {"spatial": list(report.output_spatial), "shape": _list(report.output_shape)},
    }
    if report.output_size_range is not None:
        mins, maxs = report.output_size_range
        doc["output_size_range"] = {"min": list(mins), "max": list(maxs)}
    else:
        doc["output_size_range"] = None
    doc["weight_shape"] = _list(report.weight_shape)
    doc["bias_shape"] = _list(report.bias_shape)
    doc["param_count"] = report.param_count
    doc["macs"] = report.macs
    doc["overlap"] = [o.to_dict() for o in report.overlap] if report.overlap is not None else None
    if report.inverts is not None and report.inverted is not None:
        doc["inverts"] = {
            "conv": report.inverted.to_dict(),
            "input_sizes": [list(r) for r in report.inverts],
        }
    if report.ignored is not None:
        doc["ignored"] = list(report.ignored)
    doc["warnings"] = list(report.warnings)
    return doc


def _list(values: Sequence[int] | None) -> list[int] | None:
    return None if values is None else list(values)


def formula(p: ConvParams, axis: int, i: int, out: int) -> str:
    """The output-size formula of one dim, worked out with the layer's numbers.

    >>> formula(ConvParams.conv_transpose(3, 2), 0, 50, 101)
    '(50 - 1)*2 - 2*0 + 1*(3 - 1) + 0 + 1 = 101'
    """
    k, s, d = p.kernel_size[axis], p.stride[axis], p.dilation[axis]
    if p.transposed:
        pad, op = p.padding[axis], p.output_padding[axis]
        return f"({i} - 1)*{s} - 2*{pad} + {d}*({k} - 1) + {op} + 1 = {out}"
    before, after = p.padding_pairs[axis]
    pads = f"2*{before}" if before == after else f"{before} + {after}"
    return f"floor(({i} + {pads} - {d}*({k} - 1) - 1) / {s}) + 1 = {out}"


def render_shape(report: LayerReport) -> None:
    """The human view of `convtool shape`."""
    out = console()
    p = report.params
    dims = _dim_names(p.ndim)
    out.print(f"[bold]{p.torch_code()}[/bold]")
    out.print(
        f"input  {fmt_shape(report.input_shape) if report.input_shape else fmt_size(report.input_spatial)}"
        f"   ->   output [bold green]"
        f"{fmt_shape(report.output_shape) if report.output_shape else fmt_size(report.output_spatial)}[/]"
    )
    if report.output_padding_from_size is not None:
        out.print(
            f"output_size {fmt_size(report.output_spatial)} -> output_padding="
            f"{_tuple(report.output_padding_from_size)} (what forward(x, output_size=...) picks)"
        )

    columns = [Column("dim"), Column("formula", wrap=True, squeeze=24)]
    if report.output_size_range is not None:
        columns.append(Column("valid output_size (output_padding)", wrap=True, squeeze=24))
    if report.ignored is not None:
        columns.append(Column("never read", "right", wrap=True))
    rows: list[list[Cell]] = []
    for axis, name in enumerate(dims):
        row = [name, formula(p, axis, report.input_spatial[axis], report.output_spatial[axis])]
        if report.output_size_range is not None:
            lo, hi = report.output_size_range[0][axis], report.output_size_range[1][axis]
            reach = lo + max(p.stride[axis], p.dilation[axis]) - 1  # explicit output_padding's reach
            shown = [f"{n} ({n - lo})" if n <= hi else f"{n} ({n - lo}*)" for n in range(max(lo, 1), min(reach, lo + 8) + 1)]
            if reach > lo + 8:  # a long range: its ends
                shown[-1:] = ["...", f"{hi} ({hi - lo})" + (f", ... {reach} ({reach - lo}*)" if reach > hi else "")]
            row.append(", ".join(shown) or "none")
        if report.ignored is not None:
            row.append(str(report.ignored[axis]))
        rows.append([(text, "") for text in row])
    out.print("Output size per dim")
    _table(out, rows, columns, "use --json")
    if report.output_size_range is not None and any(d > s for s, d in zip(p.stride, p.dilation)):
        out.print(
            "* only through an explicit output_padding (below max(stride, dilation)): "
            "forward(x, output_size=...) accepts up to min + stride - 1"
        )

    if report.weight_shape is not None:
        bias = fmt_shape(report.bias_shape) if report.bias_shape else "none"
        out.print(
            f"weight {fmt_shape(report.weight_shape)}  bias {bias}  params "
            f"{report.param_count:,}  MACs {report.macs:,}"
            + (f" ({fmt_count(report.macs)})" if (report.macs or 0) >= 10**6 else "")
        )
    else:
        out.print("[dim]params and MACs: give --in-channels and --out-channels (or --input-shape)[/]")

    if report.overlap is not None:
        parts = []
        for name, o in zip(dims, report.overlap):
            state = "even" if o.even else ("gaps" if o.gaps else f"uneven, max/min {o.ratio:g}")
            taps = ",".join(map(str, o.pattern[:16])) + (f",... ({len(o.pattern)} phases)" if len(o.pattern) > 16 else "")
            parts.append(f"{name}: {taps} ({state})")
        out.print("overlap (taps per output position, by position mod stride)  " + "   ".join(parts))
        if p.ndim <= 2:
            out.print(_overlap_grid(report.overlap))
    if report.inverted is not None and report.inverts is not None and not all(len(r) for r in report.inverts):
        out.print(f"inverts no {report.inverted.class_name}: none maps an input to {fmt_size(report.input_spatial)}")
    elif report.inverted is not None and report.inverts is not None:
        sizes = "  ".join(
            f"{name}: {r.start}..{r.stop - 1}" if len(r) > 1 else f"{name}: {r.start}"
            for name, r in zip(dims, report.inverts)
            if len(r)
        )
        out.print(
            f"inverts {report.inverted.torch_code()}: it maps input sizes {sizes} "
            f"to {fmt_size(report.input_spatial)}"
        )
    for warning in report.warnings:
        out.print(f"[yellow]warning:[/] {warning}")
    if report.weight_shape is not None:
        out.print("[dim]MACs: multiply-accumulates for the whole batch, bias excluded.[/]")


def _overlap_grid(overlaps: Sequence[Overlap]) -> Any:
    """The interior overlap as a small grid of tap counts, coloured as `convtool draw` colours
    them: two periods per dim from position 0 (at most 16 cells), rows H, columns W."""
    from rich.text import Text

    from .palette import luma, ramp

    def tiled(o: Overlap) -> list[int]:
        return [o.pattern[i % len(o.pattern)] for i in range(min(2 * len(o.pattern), 16))]

    rows = tiled(overlaps[0]) if len(overlaps) == 2 else [1]
    grid = taps_grid(rows, tiled(overlaps[-1]))
    levels = sorted({n for row in grid for n in row if n})
    colours = dict(zip(levels, ramp(len(levels))))
    width = max(len(str(n)) for row in grid for n in row)
    text = Text("  ")
    for r, row in enumerate(grid):
        for n in row:
            colour = colours.get(n)
            ink = "white" if colour and luma(colour) < 140 else "black"
            text.append(f" {n:>{width}} ", style=f"{ink} on {colour}" if colour else "bold red")
        if r < len(grid) - 1:
            text.append("\n  ")
    return text


def _dim_names(ndim: int) -> tuple[str, ...]:
    return {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(ndim, tuple(f"d{i}" for i in range(ndim)))


def _tuple(values: Sequence[int]) -> str:
    return "(" + ", ".join(map(str, values)) + ")"


# -- convtool invert (issue 4) --------------------------------------------------------------


def invert_json(inverse: ConvInverse) -> dict[str, Any]:
    """The first-form `invert --json` document of docs/json.md (plus code and output_size reach)."""
    return {
        "conv": {**inverse.conv.to_dict(), "input": list(inverse.size), "output": list(inverse.conv_output)},
        "transpose": inverse.transpose.to_dict(),
        "restores": list(inverse.restores),
        "output_size_reachable": inverse.output_size_reachable,
        "alternatives": [
            {"size": list(a.size), "output_padding": list(a.output_padding),
             "output_size_reachable": a.output_size_reachable}
            for a in inverse.alternatives
        ],
        "code": {"conv": inverse.conv.torch_code(), "transpose": _up_code(inverse.transpose)},
    }


def _up_code(up: ConvParams) -> str:
    """The inverse's code; unknown channels are named after the Conv's (they swap)."""
    return up.torch_code(
        in_channels=up.in_channels or "out_channels", out_channels=up.out_channels or "in_channels"
    )


def render_invert(inverse: ConvInverse) -> None:
    """The human view of `convtool invert SIZE -k K ...`: the pair of layers, then the other sizes."""
    out = console()
    conv, up = inverse.conv, inverse.transpose
    plain = up.replace(output_padding=(0,) * up.ndim)
    out.print(f"conv = {conv.torch_code()}   [dim]# {fmt_size(inverse.size)} -> {fmt_size(inverse.conv_output)}[/]")
    out.print(
        f"[bold]up = {_up_code(up)}[/]   [dim]# {fmt_size(inverse.conv_output)} -> "
        f"{fmt_size(inverse.restores)}[/]"
    )
    if any(up.output_padding):
        out.print(
            f"output_padding={_tuple(up.output_padding)} = (SIZE + 2p - d(k-1) - 1) mod s: the rows/cols the "
            "Conv never reads, which the ConvTranspose has to add back"
        )
        out.print(
            f"or, without output_padding: up = {_up_code(plain)} called as "
            f"up(x, output_size={_tuple(inverse.size)})"
        )
    if not inverse.alternatives:
        out.print(f"No other size maps to {fmt_size(inverse.conv_output)}: this inverse is unique.")
        return
    out.print(f"Other sizes the {conv.class_name} maps to {fmt_size(inverse.conv_output)}")
    rows: list[list[Cell]] = []
    for alt in inverse.alternatives[:SHOWN]:
        reach = f"up(x, output_size={_tuple(alt.size)})" if alt.output_size_reachable else "no (output_padding >= stride)"
        rows.append([(fmt_size(alt.size), ""), (_tuple(alt.output_padding), ""), (reach, "")])
    columns = (Column("size", wrap=True), Column("output_padding", wrap=True),
               Column("or forward(x, output_size=...)", wrap=True, squeeze=24))
    _table(out, rows, columns, "use --json")
    if len(inverse.alternatives) > SHOWN:
        out.print(f"... and {len(inverse.alternatives) - SHOWN} more (--json lists them all)")


def search_json(found: Search, best: Sequence[Solution]) -> dict[str, Any]:
    """The `invert --to --json` document of docs/json.md (plus size, target, total and nearest)."""
    return {
        "size": list(found.size),
        "target": list(found.target),
        "space": [space.describe() for space in found.space],
        "total": found.total,
        "solutions": [solution.to_dict() for solution in best],
        "nearest": [list(n) for n in found.nearest()],
    }


def render_search(found: Search, best: Sequence[Solution]) -> None:
    """The human view of `convtool invert SIZE --to TARGET`: the best layers as PyTorch code."""
    out = console()
    nd = len(found.size)
    route = f"{fmt_size(found.size)} -> {fmt_size(found.target)}"
    spaces = {space.describe() for space in found.space}
    where = spaces.pop() if len(spaces) == 1 else "; ".join(
        f"{name}: {space.describe()}" for name, space in zip(_dim_names(nd), found.space)
    )
    if not best:
        out.print(f"No ConvTranspose{nd}d maps {route} exactly in the search space ({where}).")
        nearest = found.nearest()
        if nearest:
            out.print("Nearest reachable targets: " + ", ".join(fmt_size(n) for n in nearest))
            out.print("[dim]Or widen the space: --max-kernel, --max-stride, --max-dilation.[/]")
        else:
            out.print("No target at all is reachable: the constraints leave no valid layer.")
        return
    out.print(
        f"{found.total:,} ConvTranspose{nd}d layer{'s' if found.total != 1 else ''} map {route} "
        f"({where}); best {len(best)}:"
    )
    names = _dim_names(nd)
    width = len(str(len(best)))
    for rank, solution in enumerate(best, 1):
        out.print(f"{rank:>{width}}. [bold]{solution.params.torch_code()}[/]")
        pattern = "  ".join(f"{name} {','.join(map(str, o.pattern))}" for name, o in zip(names, solution.overlap))
        details = [f"overlap {pattern}", f"cost {solution.cost:.3g}"]
        notes = _search_notes(solution)
        out.print(" " * (width + 2) + " · ".join(details) + (f" · [yellow]{notes}[/]" if notes else ""))
    for paragraph in SEARCH_TERMS:
        out.print(f"[dim]{paragraph}[/]")
    out.print("[dim]Ranked: no checkerboard, no output_padding, smaller kernel, dilation 1, smaller "
              "padding (see --help).[/]")


SEARCH_TERMS = (
    "overlap: how many kernel taps land on each output position, for positions 0, 1, ... stride - 1 "
    "(the pattern repeats every stride positions); unequal counts make checkerboard artifacts.",
    "cost: MACs (multiply-accumulates) per output pixel per (in, out) channel pair.",
)


def _search_notes(solution: Solution) -> str:
    notes = []
    if solution.gaps:
        where = [
            f"{name} {dim.bias_only}" for name, dim in zip(_dim_names(len(solution.dims)), solution.dims) if dim.bias_only
        ]
        notes.append("gaps: positions with bias only (" + ", ".join(where) + ")")
    elif not solution.even:
        notes.append("uneven: checkerboard artifacts")
    if not solution.output_size_reachable:
        notes.append("output_padding >= stride: output_size cannot ask for it")
    return "; ".join(notes)


# -- convtool run (issue 5) -------------------------------------------------------------------

if TYPE_CHECKING:
    from .graph import (
        FailedLayer,
        InputSizes,
        LayerResult,
        Propagation,
        StackMismatch,
        UseResult,
        Verification,
    )
    from .graph.relative import Relative

RUN_TERMS = (
    "Shapes are (N, C, L), (N, C, H, W) or (N, C, D, H, W) as in PyTorch: batch, channels, then the "
    "spatial sizes.",
    "params: the layer's weights and biases. MACs: multiply-accumulates for the whole batch, bias "
    "excluded, transposed layers counted per input pixel (= torch.utils.flop_counter FLOPs / 2); "
    "only conv, linear, attention and lstm layers count, every other layer is 0. "
    "Memory: MiB (2^20 bytes) of float32 activations, every layer's output (the input excluded).",
    "RF: receptive field, how many input pixels (per spatial dim) one output pixel depends on, exact: the "
    "widest span of input positions any one output position reads; none once flattened.",
)
RUN_FOOTER = " ".join(RUN_TERMS)


GRID_TERM = (
    "grid: where a tensor's positions sit in the input image. Each layer moves them: a stride spaces "
    "them out, padding and kernel sizes shift them by fractions of a pixel. A merge of tensors whose "
    "positions sit at different places adds or stacks features of different places, even when the "
    "shapes match; --json gives each layer's grid (position i sits at input pixel scale x i + offset)."
)


def relative_terms(relative: Relative) -> str:
    """What RF and PF mean in a table measured in the positions of another tensor."""
    name = escape_controls(relative.path)
    return (f"RF: receptive field in the positions of {name} (not the input's): how many of its positions "
            f"(H x W) one output position depends on, exact; — where a layer does not depend on {name}. "
            f"PF: projective field: how many positions of a layer's output one position of {name} reaches, "
            f"exact, the most over all of its positions.")


def _run_terms(layers: Sequence[LayerResult | FailedLayer], relative: Relative | None = None) -> tuple[str, ...]:
    """The footer's paragraphs: the conventions, and what overlap and grids mean when a note
    speaks of them; with `relative`, what the fields measured from that tensor mean."""
    from .footprint import MIXES

    notes = [note for layer in layers for note in getattr(layer, "notes", ())]
    terms = RUN_TERMS if relative is None else (*RUN_TERMS[:-1], relative_terms(relative))
    if any("overlap" in note for note in notes):
        terms = (*terms, SEARCH_TERMS[0])
    if any(MIXES in note for note in notes):
        terms = (*terms, GRID_TERM)
    return terms


def run_json(
    prop: Propagation, verification: Verification | None = None, sizes: InputSizes | None = None,
    restored: InputSizes | None = None, relative: Relative | None = None,
) -> dict[str, Any]:
    """The `run --json` document (docs/json.md)."""
    layers = [layer.to_dict() for layer in prop.layers]
    if relative is not None:  # `run --relative-to NAME`
        for layer in layers:
            layer["relative"] = relative.layer_dict(layer["index"])
    doc: dict[str, Any] = {
        "name": prop.arch.name,
        "file": prop.arch.file,
        "input": list(prop.input),
        "output": list(prop.output),
        "layers": layers,
        "totals": prop.totals.to_dict(),
        "valid_input_sizes": [d.to_dict() for d in sizes.dims] if sizes and sizes.dims else None,
        "verified": bool(verification is not None and verification.ok),
    }
    if sizes is not None and sizes.reason:
        doc["valid_input_sizes_note"] = sizes.reason
    if prop.inputs:  # several network inputs: each one's shape, by name
        doc["inputs"] = {name: list(shape) for name, shape in prop.inputs}
    if prop.arch.uses:  # a file with blocks: one entry per block use
        from .graph import uses

        doc["blocks"] = [use.to_dict() for use in uses(prop)]
    if prop.arch.outputs:  # a file that names its outputs: every one, with its path
        doc["outputs"] = [{"path": path, "shape": list(shape)} for _, path, shape in prop.outputs]
    if restored is not None:  # an autoencoder: the input sizes it gives back as they came
        doc["restores"] = [d.to_dict() for d in restored.dims] if restored.dims else None
    if relative is not None:
        doc["relative_to"] = relative.path
    if verification is not None:
        doc["verification"] = {
            "seed": verification.seed,
            "estimated_bytes": verification.estimated_bytes,
            "mismatches": list(verification.mismatches),
        }
    return doc


def _mib(n: int) -> str:
    """`1,136.5 MiB` (tenths, integer arithmetic: sizes may exceed a float's range)."""
    tenths = (n * 10 + 2**19) // 2**20
    return f"{tenths // 10:,}.{tenths % 10} MiB"


def _field(field: Sequence[int] | None) -> str:
    return "—" if field is None else "x".join(map(str, field))


@dataclass(frozen=True)
class Column:
    """One column of a hand-laid table: how it is justified, whether it may wrap, and when it
    gives way to the others on a narrow screen."""

    header: str
    justify: str = "left"  # "left" | "right"
    wrap: bool = False  # at spaces: a shape only after a comma, a number never
    squeeze: int | None = None  # the width it is narrowed to before a column is dropped (None: whole)
    drop: int = 0  # 0: always shown; else dropped when the screen is too narrow, the highest first
    below: bool = False  # dropped, its text goes on its own lines under the row instead


class Label(NamedTuple):
    """A row that is one label across the table (a section's name)."""

    text: str
    style: str


Cell = tuple[str, str]  # (text, rich style)
Row = list[Cell] | Label
SECTION_RULE: list[Cell] = []
SEPARATOR = 3  # " │ "
LONG_WORD = 24  # a column that wraps narrows to split a longer word (a name, a path), never a shorter one


def _grid(
    rows: Sequence[Row], columns: Sequence[Column], width: int
) -> tuple[Any, list[str]]:
    """A table as rich Text at most `width` columns wide, and the headers of the columns it left
    out. Laid out here: rich's Table measures every cell (seconds for a 1,000-layer stack) and
    costs its import on every `shape`; this is linear and keeps rich's look. Columns are dropped
    by their `drop` rank, then narrowed (cells wrap onto more lines, never cut)."""
    from rich.text import Text

    kept, widths, full = _layout(rows, columns, width)
    shown = [columns[i] for i in kept]
    below = [i for i, c in enumerate(columns) if c.below and i not in kept]
    dropped = [c.header for i, c in enumerate(columns) if i not in kept and not c.below and i in full]
    last = len(kept) - 1
    indent = widths[0] + SEPARATOR if len(kept) > 1 else 0

    def lines(cells: Sequence[Cell], sep: str) -> list[Text]:
        split = [_cell_lines(cells[i][0] if i < len(cells) else "", w, c.wrap)
                 for i, c, w in zip(kept, shown, widths)]
        out = []
        for n in range(max(len(parts) for parts in split)):
            text = Text()
            for j, (parts, column, w) in enumerate(zip(split, shown, widths)):
                piece = parts[n] if n < len(parts) else ""
                if j:
                    text.append(sep)
                if column.justify == "right":
                    text.append(" " * (w - len(piece)))
                style = cells[kept[j]][1] if kept[j] < len(cells) else ""
                text.append(piece, style=style or None)
                if column.justify == "left" and j < last:
                    text.append(" " * (w - len(piece)))
            text.rstrip()
            out.append(text)
        for i in below if sep == " │ " else ():  # (a header's own name is in the "not shown" line)
            if i < len(cells) and cells[i][0]:
                for piece in wrap_lines(cells[i][0], max(width - indent, 1)):
                    out.append(Text(" " * indent) + Text(piece, style=cells[i][1] or ""))
        return out

    def label(row: Label) -> list[Text]:
        bar = " " * widths[0] + " │ " if len(kept) > 1 else ""
        return [Text(bar) + Text(piece, style=row.style or "")
                for piece in wrap_lines(row.text, max(width - len(bar), 1))]

    def rule(cross: str, horizontal: str) -> Text:
        return Text(cross.join(horizontal * (w + (1 if j == 0 or j == last else 2))
                               for j, w in enumerate(widths)))

    out = lines([(c.header, "bold") for c in columns], " ┃ ")
    out.append(rule("╇", "━"))
    for row in rows:
        if row is SECTION_RULE:
            out.append(rule("┼", "─"))
        elif isinstance(row, Label):
            out.extend(label(row))
        else:
            out.extend(lines(row, " │ "))
    return Text("\n").join(out), dropped


def _layout(
    rows: Sequence[Row], columns: Sequence[Column], width: int
) -> tuple[list[int], list[int], set[int]]:
    """Which columns a table shows within `width`, how wide each is, and which have any text."""
    natural = [len(c.header) for c in columns]
    narrowest = [max(map(len, c.header.split())) if c.wrap else len(c.header) for c in columns]
    filled = [False] * len(columns)
    for row in rows:
        if isinstance(row, Label):
            continue
        for i, (text, _) in enumerate(row):
            filled[i] = filled[i] or bool(text)
            if len(text) > natural[i]:
                natural[i] = len(text)
            if columns[i].wrap and len(text) > narrowest[i]:
                narrowest[i] = max(narrowest[i], *(min(len(word), LONG_WORD) for word in text.split()))
            elif not columns[i].wrap:
                narrowest[i] = natural[i]
    wanted = [min(n, max(low, c.squeeze)) if c.squeeze is not None else n
              for c, n, low in zip(columns, natural, narrowest)]

    def total(widths: dict[int, int]) -> int:
        return sum(widths.values()) + SEPARATOR * (len(widths) - 1)

    chosen = {i: w for i, w in enumerate(wanted) if filled[i] or not columns[i].drop}  # empty: not worth a word
    while total(chosen) > width and any(columns[i].drop for i in chosen):
        del chosen[max((i for i in chosen if columns[i].drop), key=lambda i: columns[i].drop)]
    for i in chosen:  # room left: wrapped columns widen back, the most important first
        chosen[i] += max(0, min(natural[i] - chosen[i], width - total(chosen)))
    while total(chosen) > width:  # still too wide: narrow the widest column that can wrap
        i = max((i for i in chosen if chosen[i] > narrowest[i]), key=lambda i: chosen[i], default=None)
        if i is None:
            break  # nothing narrows further: the screen is narrower than any reading of the table
        chosen[i] -= 1
    kept = sorted(chosen)
    return kept, [chosen[i] for i in kept], {i for i in range(len(columns)) if filled[i]}


def _cell_lines(text: str, width: int, wrap: bool) -> list[str]:
    return wrap_lines(text, width) if wrap else [text]


def _table(out: Screen, rows: Sequence[Row], columns: Sequence[Column], more: str) -> None:
    """Print a table laid out for the console's width, then say once what it left out."""
    grid, dropped = _grid(rows, columns, out.width)
    out.print(grid)
    if dropped:
        out.print(f"[dim]columns not shown at {out.width} columns: {', '.join(dropped)}; "
                  f"widen the terminal or {more}[/]")


RUN_COLUMNS = (
    Column("#", "right"),
    Column("name", wrap=True, squeeze=12, drop=6),
    Column("type", wrap=True),  # a block's type is the user's name for it
    Column("config", wrap=True, drop=3),
    Column("input", wrap=True),
    Column("output", wrap=True),
    Column("params", "right", drop=4),
    Column("MACs", "right", drop=5),
    Column("RF", "right", drop=7),
    Column("notes", wrap=True, squeeze=24, drop=8, below=True),
)


def _run_columns(relative: Relative | None) -> tuple[Column, ...]:
    """The run table's columns; with --relative-to, RF and PF (what was asked for) never give way
    on a narrow screen (the shapes wrap instead)."""
    if relative is None:
        return RUN_COLUMNS
    assert RUN_COLUMNS[-2].header == "RF"
    return (*RUN_COLUMNS[:-2], Column("RF", "right"), Column("PF", "right"), RUN_COLUMNS[-1])


def _measured_from(cells: list[Cell], relative: Relative | None, index: int | None = None) -> list[Cell]:
    """A row as the table with --relative-to shows it: RF in the positions of that tensor, then
    PF, for the layer `index` (None: a row without fields)."""
    if relative is None:
        return cells
    rf = pf = ""
    if index is not None:
        rf, pf = _field(relative.receptive[index]), _field(relative.projective[index])
    return [*cells[:-2], (rf, ""), (pf, ""), cells[-1]]


def _output_index(use: UseResult, layers: Sequence[LayerResult | FailedLayer]) -> int | None:
    """The index of the layer that makes a block use's (first) output (None: one of its inputs)."""
    return next((r.index for r in layers if getattr(r, "path", None) == use.use.output), None)


def _layer_cells(layer: LayerResult, exact: bool = False) -> list[Cell]:
    """One layer's row: counts in short (`187.1M`) on screen, exact in files (`exact`)."""
    count = (lambda n: f"{n:,}") if exact else fmt_count
    return [
        (str(layer.index), ""), (escape_controls(layer.shown_name or ""), ""), (layer.type, ""), (layer.config, ""),
        (fmt_shape(layer.input), ""), (fmt_shape(layer.output), ""),
        (count(layer.param_count) if layer.param_count else "0", ""),
        (count(layer.macs) if layer.macs else "0", ""), (_field(layer.receptive_field), ""),
        (escape_controls("; ".join(layer.notes)), "yellow"),
    ]


def _failed_cells(failed: FailedLayer) -> list[Cell]:
    """The row of the layer where the stack stops lining up (its input column a shape only, so
    that the column keeps the width of the others)."""
    reason = failed.reason
    if failed.skip_from is not None:
        index, name, _ = failed.skip_from
        reason += f"; '{name}' is the output of layer {index}"
    return [
        (str(failed.index), "bold red"), (escape_controls(failed.name or ""), "bold red"), (failed.type, ""),
        (failed.config, ""), (fmt_shape(failed.input), ""), ("does not line up", "bold red"),
        ("", ""), ("", ""), ("", ""), (escape_controls(reason), "red"),
    ]


def _use_cells(use: UseResult, exact: bool = False) -> list[Cell]:
    """A block use collapsed to one row (`run --depth`): its leaves' range and totals."""
    count = (lambda n: f"{n:,}") if exact else fmt_count
    repeat = f" x{use.use.repeat}" if use.use.repeat else ""
    return [
        (f"{use.use.first}-{use.use.stop - 1}", ""), (escape_controls(use.use.path), ""),
        (escape_controls(use.use.block) + repeat, "cyan"), (f"{len(use.layers)} layers", ""),
        (fmt_shape(use.input), ""), (fmt_shape(use.output), ""),
        (count(use.param_count) if use.param_count else "0", ""), (count(use.macs) if use.macs else "0", ""),
        (_field(use.receptive_field), ""),
        (escape_controls("; ".join(n for r in use.layers for n in r.notes)), "yellow"),
    ]


def _total_cells(prop: Propagation, exact: bool = False) -> list[Cell]:
    """The totals row ("total" under type, which every screen shows; the memory is on the line
    under the table)."""
    t = prop.totals
    count = (lambda n: f"{n:,}") if exact else fmt_count
    return [
        ("", ""), ("", ""), ("total", "bold"), ("", ""), ("", ""), (fmt_shape(prop.output), ""),
        (count(t.param_count), "bold"), (count(t.macs), "bold"), ("", ""), ("", ""),
    ]


def _sections(
    layers: Sequence[LayerResult | FailedLayer], collapsed: Sequence[UseResult] = (), exact: bool = False,
    relative: Relative | None = None,
) -> list[Row]:
    """The rows of `layers`, a rule and the section's name where a new section starts; the
    leaves of each use in `collapsed` as one row (its fields are its output's)."""
    rows: list[Row] = []
    section = None
    for layer, cells in _row_cells(layers, collapsed, exact, relative):
        if layer.section != section:
            if section is not None:
                rows.append(SECTION_RULE)
            section = layer.section
            if section:
                rows.append(Label(escape_controls(section), "bold cyan"))
        rows.append(cells)
    return rows


def _row_cells(
    layers: Sequence[LayerResult | FailedLayer], collapsed: Sequence[UseResult], exact: bool,
    relative: Relative | None,
) -> Iterator[tuple[LayerResult | FailedLayer, list[Cell]]]:
    """Each row of the run table with its cells: a layer, the failed layer, or a use in
    `collapsed` in place of its leaves (its fields are its output's)."""
    from .graph import FailedLayer

    starts = {use.use.first: use for use in collapsed}
    skip_to = -1
    for layer in layers:
        if layer.index < skip_to:
            continue
        if isinstance(layer, FailedLayer):
            yield layer, _measured_from(_failed_cells(layer), relative)
        elif layer.index in starts:
            skip_to = starts[layer.index].use.stop
            yield layer, _measured_from(_use_cells(starts[layer.index], exact), relative,
                                        _output_index(starts[layer.index], layers))
        else:
            yield layer, _measured_from(_layer_cells(layer, exact), relative, layer.index)


def collapsed_uses(prop: Propagation, depth: int | None) -> list[UseResult]:
    """The block uses `run --depth N` shows as one row each: those N levels down (None: none)."""
    if depth is None:
        return []
    from .graph import uses

    return [use for use in uses(prop) if use.use.depth == depth]


RUN_MORE = "use --format markdown"  # what prints every column


def render_run(
    prop: Propagation, verification: Verification | None = None, sizes: InputSizes | None = None,
    fmt: str = "table", restored: InputSizes | None = None, depth: int | None = None,
    relative: Relative | None = None,
) -> None:
    """The human view of `convtool run` (`fmt` table), or the table as markdown or csv."""
    lines = []
    t = prop.totals
    lines.append(f"params {t.param_count:,}   MACs {t.macs:,}   activation memory {_mib(t.activation_bytes)}")
    if sizes is not None:
        from .graph.valid_sizes import describe as describe_sizes

        lines.append(f"valid input sizes: {describe_sizes(sizes, prop.input[2:])}")
    if restored is not None:
        lines.append(_restore_line(prop, restored))
    title = escape_controls(prop.arch.name or prop.arch.file)
    shapes = f"{fmt_shape(prop.input)} -> {fmt_shape(prop.output)}"
    if fmt != "table":
        if verification is not None:
            lines.append(_verified(verification))
        _print_file_table(fmt, title, shapes, prop.layers, _measured_from(_total_cells(prop, exact=True), relative),
                          lines, collapsed_uses(prop, depth), relative)
        return
    out = console()
    out.print(f"[bold]{_markup(prop.arch.name or prop.arch.file)}[/]  {shapes}")
    rows = _sections(prop.layers, collapsed_uses(prop, depth), relative=relative)
    rows += [SECTION_RULE, _measured_from(_total_cells(prop), relative)]
    _table(out, rows, _run_columns(relative), RUN_MORE)
    for line in lines:
        out.print(line)
    if verification is not None:
        colour = "green" if verification.ok else "red"
        out.print(f"[{colour}]{_markup(_verified(verification))}[/]")
    for paragraph in _run_terms(prop.layers, relative):
        out.print(f"[dim]{_markup(paragraph)}[/]")


def _restore_line(prop: Propagation, restored: InputSizes) -> str:
    """An autoencoder's summary: the sizes it restores, and a warning with the fix when the file's
    own input is not one of them."""
    from .graph.valid_sizes import describe as describe_sizes

    shown = describe_sizes(restored, prop.input[2:])
    if prop.output[2:] == prop.input[2:]:
        return f"restores its input for: {shown}"
    restores = f"it restores: {shown}" if restored.dims else shown  # else the reason says "it restores no ..."
    warning = (f"[yellow]warning:[/] the output {fmt_shape(prop.output)} does not restore the input "
               f"{fmt_shape(prop.input)}; {restores}")
    if any(r.source is not None or r.skips for r in prop.layers):  # a graph: invert mirrors chains only
        return warning
    return (f"{warning}. `convtool invert {_markup(prop.arch.file)}` mirrors the encoder into a decoder that "
            "restores it exactly")


def _verified(verification: Verification) -> str:
    if verification.ok:
        return (f"verified: the numeric engine (seed {verification.seed}, estimated "
                f"{_mib(verification.estimated_bytes)}) gives every layer the shape in the table")
    return f"numeric shapes differ at layers {list(verification.mismatches)}"


def render_mismatch(error: StackMismatch, fmt: str = "table") -> None:
    """The table up to the layer where the stack stops lining up, that layer marked."""
    title = escape_controls(error.file or "")
    shapes = f"input {fmt_shape(error.input_shape)}"
    if fmt != "table":
        _print_file_table(fmt, title, shapes, [*error.layers, error.failed], None, [])
        return
    out = console()
    out.print(f"[bold]{_markup(error.file or '')}[/]  {shapes}")
    _table(out, _sections([*error.layers, error.failed]), RUN_COLUMNS, RUN_MORE)


def _print_file_table(
    fmt: str, title: str, shapes: str, layers: Sequence[LayerResult | FailedLayer],
    total: list[Cell] | None, lines: Sequence[str], collapsed: Sequence[UseResult] = (),
    relative: Relative | None = None,
) -> None:
    """`run --format markdown|csv`: every column, exact counts, one line per row, never wrapped,
    so that a table can be kept in a repository and diffed."""
    columns = _run_columns(relative)
    headers = [c.header for c in columns]
    rows = [[layer.section or "", *(text for text, _ in cells)]
            for layer, cells in _row_cells(layers, collapsed, True, relative)]
    if fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["section", *headers])
        for row in rows:  # counts without separators and no dash for "none", for a program
            row[7:9] = [text.replace(",", "") for text in row[7:9]]
            row[9:-1] = ["" if text == "—" else text for text in row[9:-1]]  # RF (and PF)
            writer.writerow(row)
        return
    cell = lambda text: text.replace("|", "\\|")  # noqa: E731  (a bar would end the cell)
    sections = any(row[0] for row in rows)
    shown = ["section", *headers] if sections else headers
    out = [f"**{cell(title)}**  {shapes}", "", "| " + " | ".join(shown) + " |",
           "|" + "|".join("---:" if c.justify == "right" else "---" for c in columns[:len(shown)]) + "|"]
    if sections:
        out[-1] = "|---" + out[-1]
    for row in rows + ([["", *(text for text, _ in total)]] if total else []):
        out.append("| " + " | ".join(cell(text) for text in (row if sections else row[1:])) + " |")
    out += ["", *lines] if lines else []
    out += ["", *_run_terms(layers, relative)] if total else []
    sys.stdout.write("".join(line + "\n" for line in out))


# -- convtool invert --factor / --stages ------------------------------------------------------


def render_factor(found: Search, best: Sequence[Solution]) -> None:
    """The human view of `convtool invert SIZE --factor F`: what a factor means, then the search's view."""
    from .text import compact_x

    shown = compact_x(found.factor or ())
    console().print(
        f"Factor {shown}: out = {shown} * in for every input length (stride {shown} and "
        f"d(k-1) - 2p + output_padding + 1 = {shown})."
    )
    if not found.total:
        console().print("[dim]Widen the space (--max-kernel, --max-dilation) or split the factor with --stages.[/]")
    render_search(found, best)


def _factor_text(factor: Sequence[int]) -> str:
    return "x" + (str(factor[0]) if len(set(factor)) == 1 else "(" + ",".join(map(str, factor)) + ")")


def stages_json(found: StageSearch, top: int) -> dict[str, Any]:
    """`invert --stages --json`: the split factor and the best `top` chains, each stage ranked."""
    return {
        "size": list(found.size),
        "target": list(found.target),
        "factor": list(found.factor) if found.factor else None,
        "stages": found.stages,
        "max_stage_factor": found.max_factor,
        "splits": found.splits,
        "too_big": [list(f) for f in found.too_big],
        "total": len(found.chains),
        "chains": [chain.to_dict() for chain in found.chains[:top]],
    }


def render_stages(found: StageSearch, top: int) -> None:
    """The human view of `convtool invert ... --stages N`: the best chains, each stage's best layer
    as PyTorch code with the next ones in short."""
    out = console()
    nd = len(found.size)
    route = f"{fmt_size(found.size)} -> {fmt_size(found.target)}"
    what = (_factor_text(found.factor) if found.factor else route) + f" over {found.stages} stage{'s' if found.stages != 1 else ''}"
    if found.too_big:
        from .design import MAX_SPACE

        out.print(
            f"Not searched, their space is too big (over {MAX_SPACE:,} layers per dim): "
            + ", ".join(_factor_text(f) for f in found.too_big)
            + " [dim](fix -k or -d, lower --max-kernel or --max-stride)[/]"
        )
    if not found.chains:
        out.print(
            f"No split of {what} has every stage upsampling by at most x{found.max_factor}." if not found.splits
            else f"No split of {what} (each stage at most x{found.max_factor}, every stage upsampling) has a "
            f"ConvTranspose{nd}d in every stage's space ({found.splits:,} split{'s' if found.splits != 1 else ''} tried)."
        )
        out.print("[dim]Use fewer --stages, raise --max-stride, or widen the space (--max-kernel, --max-dilation).[/]")
        return
    shown = found.chains[:top]
    out.print(
        f"{len(found.chains):,} way{'s' if len(found.chains) != 1 else ''} to split {what} "
        + (f"({route}, " if found.factor else "(the first stage a plain search, then ")
        + f"each stage at most x{found.max_factor}); best {len(shown)}:"
    )
    width = len(str(len(shown)))
    for rank, chain in enumerate(shown, 1):
        factors = " then ".join(_factor_text(s.factor) if s.factor else f"to {fmt_size(s.target)}" for s in chain.stages)
        sizes = " -> ".join(fmt_size(s) for s in chain.sizes)
        out.print(f"{rank:>{width}}. [bold]{factors}[/]   {sizes}   cost {chain.cost:.3g}")
        for stage in chain.stages:
            best = stage.solutions(3)
            more = ", ".join(s.params.compact() for s in best[1:])
            notes = _search_notes(best[0])
            out.print(
                " " * (width + 4) + best[0].params.torch_code()
                + (f"  [yellow]{notes}[/]" if notes else "")
                + (f"  [dim]next: {more} ({stage.total:,} in all)[/]" if more else "")
            )
    out.print(
        "[dim]Each stage: its best layer (ranked as `invert --to`), then the next ones. cost: MACs "
        "(multiply-accumulates) per output pixel per (in, out) channel pair, all stages together. Chains "
        "ranked by their worst stage, then cost, then larger factors first (see --help).[/]"
    )

# -- other frameworks: `convtool shape` with a pasted layer or --framework, `convtool port` --

if TYPE_CHECKING:
    from .frameworks.port import Ported
    from .frameworks.shape import FrameworkShape


def framework_shape_json(shape: FrameworkShape) -> dict[str, Any]:
    """`shape --json` for another framework's layer: the shape keys plus framework, code, crop, torch."""
    from math import prod

    from .frameworks import get

    result = shape.result
    layer = result.layer
    framework = get(layer.framework)
    full = layer.full(result.spatial)
    crop = None
    if result.windows is not None:
        crop = {"begin": [w.begin for w in result.windows], "end": [w.end_crop(f) for w, f in zip(result.windows, full)]}
    return {
        "op": f"conv_transpose{layer.ndim}d",
        "framework": framework.name,
        "code": shape.code,
        "data_layout": framework.data_layout(layer.ndim),
        "input": {"spatial": list(result.spatial), "shape": _framework_tensor(shape, result.spatial, layer.in_channels)},
        "params": layer.to_dict(),
        "output": {"spatial": list(result.output), "shape": _framework_tensor(shape, result.output, layer.out_channels)},
        "weight_shape": _list(shape.weight_shape),
        "bias_shape": _list(shape.bias_shape),
        "param_count": None if shape.weight_shape is None else prod(shape.weight_shape) + (
            prod(shape.bias_shape) if shape.bias_shape else 0),
        "crop": crop,
        "torch": None if shape.torch_code is None else {"code": shape.torch_code, "after": shape.torch_after},
        "torch_missing": shape.torch_reason,
        "warnings": list(shape.warnings),
    }


def _framework_tensor(shape: FrameworkShape, spatial: Sequence[int], channels: int | None) -> list[int] | None:
    """A whole tensor in the framework's layout, when batch and channels are known."""
    from .frameworks import get

    if shape.batch is None or channels is None:
        return None
    if get(shape.framework).channels_last:
        return [shape.batch, *spatial, channels]
    return [shape.batch, channels, *spatial]


def render_framework_shape(shape: FrameworkShape) -> None:
    """The human view of `convtool shape` for another framework's layer, PyTorch's beside it."""
    from .frameworks import get

    out = console()
    result = shape.result
    framework = get(shape.framework)
    out.print(f"[bold]{escape(shape.code)}[/bold]   ({framework.title}, {framework.data_layout(result.layer.ndim)})")
    tensor_in = _framework_tensor(shape, result.spatial, result.layer.in_channels)
    tensor_out = _framework_tensor(shape, result.output, result.layer.out_channels)
    out.print(f"input  {fmt_shape(tensor_in) if tensor_in else fmt_size(result.spatial)}   ->   output [bold green]"
              f"{fmt_shape(tensor_out) if tensor_out else fmt_size(result.output)}[/]")
    if result.windows is not None:
        full = result.layer.full(result.spatial)
        parts = [f"{name}: {w.begin} at the start, {w.end_crop(f)} at the end of {f}"
                 for name, w, f in zip(_dim_names(result.layer.ndim), result.windows, full)]
        out.print("crop of the full scatter  " + "   ".join(parts))
    weight = fmt_shape(shape.weight_shape) if shape.weight_shape else "— (give --in-channels)"
    bias = fmt_shape(shape.bias_shape) if shape.bias_shape else "none"
    out.print(f"weight {weight}  bias {bias}  ({framework.title}'s layout)")
    if shape.torch_code is not None:
        out.print(f"PyTorch: [bold]{escape(shape.torch_code)}[/bold]"
                  + (f"  then  {escape(shape.torch_after)}" if shape.torch_after else "  (exact: same size and values)"))
    else:
        out.print(f"PyTorch: no equivalent: {escape(shape.torch_reason or '')}")
    for warning in shape.warnings:
        out.print(f"[yellow]warning:[/] {escape(warning)}")


def render_port(answer: Ported) -> None:
    """The human view of `convtool port`."""
    doc = answer.to_dict()
    source, target = doc["source"], doc["target"]
    out = console()
    out.print(f"from {source['framework']}: {escape(source['code'])}   {source['data_layout']}, "
              f"{fmt_size(source['input'])} -> {fmt_size(source['output'])}")
    out.print(f"to   {target['framework']}: [bold]{escape(target['code'])}[/bold]   {target['data_layout']}, "
              f"{fmt_size(target['input'])} -> {fmt_size(target['output'])}")
    out.print(f"after:  {escape(target['after']) if target['after'] else 'nothing (exact as it is)'}")
    out.print(f"weight: {escape(target['weight'])}")
    out.print(f"bias:   {escape(target['bias']) if target['bias'] else 'none'}")
    out.print(escape(doc["note"]))
    out.print(f"[dim]checked: both run on a random input with the numeric engine; largest difference "
              f"{doc['checked']['max_abs_difference']:.1e}[/]")


def escape(text: str) -> str:
    """Text for rich markup: brackets shown as they are."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)
