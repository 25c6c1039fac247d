"""Renderers: JSON documents (SPEC §6) and rich tables built from engine results.

rich is imported inside the rendering functions only, so `--json` and the import of this
module stay fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import ConvtoolError
from .params import ConvParams
from .shape import LayerReport

if TYPE_CHECKING:
    from rich.console import Console


def console(stderr: bool = False) -> Console:
    """A rich console bound to the current stdout/stderr (late, so CliRunner captures it)."""
    from rich.console import Console

    return Console(file=sys.stderr if stderr else sys.stdout, highlight=False, soft_wrap=True)


def print_json(doc: Any) -> None:
    """Print one JSON document on stdout."""
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


def print_error(error: ConvtoolError, as_json: bool) -> None:
    """One clear sentence on stderr (plus a hint); with --json also the error document on stdout."""
    if as_json:
        print_json({"error": error.to_dict()})
    sys.stderr.write(f"Error: {error.message}\n")
    if error.hint:
        sys.stderr.write(f"Hint: {error.hint}\n")


def fmt_shape(shape: Sequence[int] | None) -> str:
    """`(20, 33, 101, 201)`; an em dash when unknown."""
    if shape is None:
        return "—"
    return f"({shape[0]},)" if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"


def fmt_size(spatial: Sequence[int]) -> str:
    """`101x201`."""
    return "x".join(map(str, spatial))


def fmt_count(n: int | None) -> str:
    """`4,785`, `475.2M`, `1.3G`: exact below a million, then three significant figures."""
    if n is None:
        return "—"
    for unit, scale in (("G", 10**9), ("M", 10**6)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{n:,}"


# -- convtool shape -------------------------------------------------------------------------


def shape_json(report: LayerReport) -> dict[str, Any]:
    """The `shape --json` document of SPEC §6."""
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
    if report.inverts is not None:
        doc["inverts"] = {
            "conv": _conv_of(p).to_dict(),
            "input_sizes": [list(r) for r in report.inverts],
        }
    if report.ignored is not None:
        doc["ignored"] = list(report.ignored)
    doc["warnings"] = list(report.warnings)
    return doc


def _list(values: Sequence[int] | None) -> list[int] | None:
    return None if values is None else list(values)


def _conv_of(p: ConvParams) -> ConvParams:
    """The Conv this ConvTranspose inverts: same k, s, p, d, g, channels swapped."""
    return ConvParams.conv(
        p.kernel_size, p.stride, p.padding, p.dilation, p.groups, p.bias,
        in_channels=p.out_channels, out_channels=p.in_channels,
    )


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
    from rich.table import Table

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

    table = Table(title="Output size per dim", title_justify="left", show_edge=False)
    table.add_column("dim")
    table.add_column("formula", no_wrap=True)
    if report.output_size_range is not None:
        table.add_column("valid output_size (output_padding)")
    if report.ignored is not None:
        table.add_column("never read")
    for axis, name in enumerate(dims):
        row = [name, formula(p, axis, report.input_spatial[axis], report.output_spatial[axis])]
        if report.output_size_range is not None:
            lo, hi = report.output_size_range[0][axis], report.output_size_range[1][axis]
            row.append(", ".join(f"{n} ({n - lo})" for n in range(max(lo, 1), hi + 1)) or "none")
        if report.ignored is not None:
            row.append(str(report.ignored[axis]))
        table.add_row(*row)
    out.print(table)

    if report.weight_shape is not None:
        bias = fmt_shape(report.bias_shape) if report.bias_shape else "none"
        out.print(
            f"weight {fmt_shape(report.weight_shape)}  bias {bias}  params "
            f"{report.param_count:,}  MACs {report.macs:,} ({fmt_count(report.macs)})"
        )
    else:
        out.print("[dim]params and MACs: give --in-channels and --out-channels (or --input-shape)[/]")

    if report.overlap is not None:
        parts = []
        for name, o in zip(dims, report.overlap):
            state = "even" if o.even else ("gaps" if o.gaps else f"uneven, max/min {o.ratio:g}")
            parts.append(f"{name}: {','.join(map(str, o.pattern))} ({state})")
        out.print("overlap (taps per output position, by position mod stride)  " + "   ".join(parts))
    if report.inverts is not None:
        sizes = "  ".join(
            f"{name}: {r.start}..{r.stop - 1}" if len(r) > 1 else f"{name}: {r.start}"
            for name, r in zip(dims, report.inverts)
            if len(r)
        )
        out.print(
            f"inverts {_conv_of(p).torch_code()}: it maps input sizes {sizes} "
            f"to {fmt_size(report.input_spatial)}"
        )
    for warning in report.warnings:
        out.print(f"[yellow]warning:[/] {warning}")


def _dim_names(ndim: int) -> tuple[str, ...]:
    return {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(ndim, tuple(f"d{i}" for i in range(ndim)))


def _tuple(values: Sequence[int]) -> str:
    return "(" + ", ".join(map(str, values)) + ")"
