"""`convtool run --html`: one self-contained page (inline CSS and SVG, nothing fetched, no
script) with the run table — the values of `run --json`, from the same document — the network
diagram and each transposed layer's overlap picture."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConvtoolError
from ..graph import Arch, LayerResult, Propagation, StackMismatch
from ..report import RUN_FOOTER
from ..text import fmt_shape, fmt_size
from .layer import layer_svg, small_input
from .network import mismatch_svg, propagation_svg
from .svg import clean

STYLE = """
body { font-family: DejaVu Sans, Verdana, Arial, sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
h3 { font-size: 14px; margin: 18px 0 6px; font-family: DejaVu Sans Mono, Menlo, monospace; }
p.summary { color: #555; margin: 0 0 12px; }
table { border-collapse: collapse; font-size: 12.5px; }
th, td { border-bottom: 1px solid #dde3ea; padding: 3px 8px; text-align: left; white-space: nowrap; }
th { background: #eef2f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.section td { background: #f7f9fb; font-weight: bold; color: #4b6584; }
tr.failed td { background: #fde2e2; color: #b02020; }
tfoot td { font-weight: bold; border-top: 2px solid #9aa7b5; }
td.notes { color: #a86400; white-space: normal; min-width: 200px; }
.error { border-left: 4px solid #d62728; background: #fff5f5; padding: 8px 12px; white-space: pre-wrap; }
.note { color: #666; font-size: 12px; max-width: 1100px; }
.picture { overflow-x: auto; border: 1px solid #e3e8ee; padding: 8px; margin-bottom: 8px; }
#network svg { max-width: 100%; height: auto; }
"""

COLUMNS = ("#", "name", "type", "config", "input", "output", "params", "MACs", "RF", "notes")


def _cells(layer: Mapping[str, Any]) -> list[tuple[str, str]]:
    """One table row from one `run --json` layer: (text, css class)."""
    field = layer["receptive_field"]
    return [
        (str(layer["index"]), "num"), (layer["name"] or "", ""), (layer["type"], ""), (layer["config"], ""),
        (fmt_shape(layer["input"]), ""), (fmt_shape(layer["output"]), ""),
        (f"{layer['param_count']:,}", "num"), (f"{layer['macs']:,}", "num"),
        ("—" if field is None else fmt_size(field), "num"), ("; ".join(layer["warnings"]), "notes"),
    ]


def _row(cells: Sequence[tuple[str, str]], cls: str = "") -> str:
    tds = "".join(f'<td class="{css}">{clean(text)}</td>' if css else f"<td>{clean(text)}</td>" for text, css in cells)
    return f'<tr class="{cls}">{tds}</tr>' if cls else f"<tr>{tds}</tr>"


def table(doc: Mapping[str, Any]) -> str:
    """The run table of a `run --json` document (or of a StackMismatch's document)."""
    rows: list[str] = []
    section = None
    for layer in doc["layers"]:
        if layer["section"] != section:
            section = layer["section"]
            rows.append(f'<tr class="section"><td></td><td colspan="9">{clean(section or "")}</td></tr>')
        rows.append(_row(_cells(layer)))
    failed = doc.get("failed")
    if failed is not None:
        rows.append(_row([
            (str(failed["index"]), "num"), (failed["name"] or "", ""), (failed["type"], ""), (failed["config"], ""),
            (fmt_shape(failed["input"]), ""), ("does not line up", ""), ("", ""), ("", ""), ("", ""),
            (failed["reason"], "notes"),
        ], "failed"))
    head = "".join(f"<th>{name}</th>" for name in COLUMNS)
    foot = ""
    totals = doc.get("totals")
    if totals is not None:
        foot = (
            f'<tfoot><tr><td></td><td>total</td><td></td><td></td><td></td><td>{clean(fmt_shape(doc["output"]))}</td>'
            f'<td class="num">{totals["param_count"]:,}</td><td class="num">{totals["macs"]:,}</td><td></td>'
            f'<td>activations {totals["activation_bytes"]:,} bytes</td></tr></tfoot>'
        )
    return f'<table id="layers"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>{foot}</table>'


def transposed_pictures(layers: Sequence[LayerResult]) -> list[tuple[str, str]]:
    """(heading, SVG) for every transposed layer, drawn on a small input with its pattern."""
    pictures = []
    for layer in layers:
        conv = layer.applied.conv
        if conv is None or not conv.transposed:
            continue
        heading = f"layer {layer.index}" + (f" '{layer.name}'" if layer.name else "") + f": {conv.torch_code()}"
        spatial = tuple(layer.input[2:])
        svg = ""
        for target in (4, 2, 1):  # fewer input pixels where a wide stride or kernel needs the room
            small = small_input(conv, spatial, target)
            note = "" if small == spatial else (
                f"Drawn for a {fmt_size(small)} input; in the network it gets {fmt_size(spatial)}: "
                "the pattern repeats every stride."
            )
            try:
                svg = layer_svg(conv, small, prefix=f"layer{layer.index}", note=note)
                break
            except ConvtoolError as error:
                svg = f'<p class="note">{clean(error.message)}</p>'
        pictures.append((heading, svg))
    return pictures


def page(doc: Mapping[str, Any], diagram: str, pictures: Sequence[tuple[str, str]], *,
         sizes: str | None = None, error: str | None = None) -> str:
    """The whole page from its parts (every user string escaped here)."""
    title = doc.get("name") or doc.get("file") or "network"
    end = f"output {fmt_shape(doc['output'])}" if doc.get("output") is not None else "does not line up"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # nothing may be fetched: the page stands alone
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>{clean(title)} — convtool run</title><style>{STYLE}</style></head><body>",
        f"<h1>{clean(title)}</h1>",
        f'<p class="summary">{clean(doc.get("file") or "")} · input {clean(fmt_shape(doc["input"]))} → {clean(end)}</p>',
    ]
    if error:
        parts.append(f'<div class="error" id="error">{clean(error)}</div>')
    parts += ["<h2>Layers</h2>", table(doc)]
    if sizes:
        parts.append(f'<p class="note">valid input sizes: {clean(sizes)}</p>')
    check = doc.get("verification")
    if check:
        result = ("the numeric engine gives every layer the shape in the table" if doc.get("verified")
                  else "the numeric engine's shapes differ at layers " + ", ".join(map(str, check["mismatches"])))
        parts.append(f'<p class="note" id="verified">verified (seed {check["seed"]}): {clean(result)}</p>')
    parts.append(f'<p class="note">{clean(RUN_FOOTER)}</p>')
    parts += ["<h2>Network</h2>", f'<div class="picture" id="network">{diagram}</div>']
    if pictures:
        parts.append("<h2>Transposed layers: where the kernel taps overlap</h2>")
        for heading, svg in pictures:
            parts += [f"<h3>{clean(heading)}</h3>", f'<div class="picture">{svg}</div>']
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def run_page(doc: Mapping[str, Any], prop: Propagation, sizes: str | None = None) -> str:
    """The page of a run that lines up; `doc` is its `run --json` document."""
    return page(doc, propagation_svg(prop), transposed_pictures(prop.layers), sizes=sizes)


def mismatch_page(arch: Arch, error: StackMismatch) -> str:
    """The page of a run that stops lining up: the table so far, the failing layer, the fixes."""
    doc = {"name": arch.name, "file": arch.file, "input": list(error.input_shape or ()), "output": None,
           **error.to_dict()}
    text = error.message + (f"\n{error.hint}" if error.hint else "")
    return page(doc, mismatch_svg(arch, error), transposed_pictures(error.layers), error=text)
