"""Golden dependence of every file in configs/, measured in PyTorch (see dependence.py).

For each file, per layer and spatial dim: the first and last position of the network input
that each output position depends on (forward-mode derivatives; norms taken per position, as
grids take them), `border` (1 where it reads padding along that dim), and the same with respect
to the file's narrowest tensor (its bottleneck or latent, `relative_to`), with the projective
field there: the most output positions one of its positions reaches.

    python tests/golden/make_golden_grids.py            # rewrites tests/golden/grids_*.json.gz

A file whose input is over LARGE positions in a dim (the original U-Net, 572), or 3-D, is measured one dim
at a time on a copy whose other dims are as small as line up: each layer acts on one dim at a
time, so the dependence along the measured dim is the same (checked on the small files).

Needs torch (minutes for the large U-Nets); the tests read the JSON files.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parent
ROOT = GOLDEN.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(GOLDEN))

from dependence import borders, measure, projective, spans  # noqa: E402

from convtool.errors import ConvtoolError  # noqa: E402
from convtool.graph import Propagation, load, loads, propagate  # noqa: E402

LINED_UP = {"mismatch_unet": ("[1, 3, 74, 74]", "[1, 3, 76, 76]")}  # the file fails at its own size


def config(name: str) -> Propagation:
    """The file's network (at a size that lines up)."""
    path = ROOT / "configs" / f"{name}.yaml"
    if name in LINED_UP:
        return propagate(loads(path.read_text().replace(*LINED_UP[name])))
    return propagate(load(path))


def narrowest(prop: Propagation) -> int:
    """The last layer with a path and the fewest output positions among the spatial marks (a bottleneck)."""
    spatial = [r for r in prop.layers if len(r.output) > 2 and r.path]
    fewest = min(_positions(r.output) for r in spatial)
    return [r for r in spatial if _positions(r.output) == fewest][-1].index


def _positions(shape: tuple[int, ...]) -> int:
    n = 1
    for v in shape[2:]:
        n *= v
    return n


def _dims(found: Any, border: Any = None) -> Any:
    if found is None:
        return None
    dims = []
    for axis, m in enumerate(found):
        pairs = spans(m)
        dim = {"first": [-1 if s is None else s[0] for s in pairs], "last": [-1 if s is None else s[1] for s in pairs],
               "projective": projective(m)}
        if border is not None:
            dim["border"] = border[axis]
        dims.append(dim)
    return dims


LARGE = 300  # above this many input positions in a dim, each dim is measured on a narrower copy


def narrower(prop: Propagation, axis: int) -> Propagation:
    """The network on its input with every other spatial dim as small as lines up: each op acts
    on one dim at a time, so what depends on what along `axis` is the same, for less work."""
    for small in range(1, max(prop.input[2:]) + 1):
        shape = [prop.input[i] if i in (0, 1, 2 + axis) else small for i in range(len(prop.input))]
        try:
            return propagate(prop.arch, shape)
        except ConvtoolError:
            continue
    return prop


def by_dim(prop: Propagation, source: int = -1, positions: bool = False) -> tuple[dict[int, Any], dict[int, Any]]:
    """What depends on `source`, and what reads padding, each dim measured on its narrower copy."""
    spatial = len(prop.input) - 2
    found: dict[int, Any] = {r.index: None if len(r.output) != len(prop.input) else [None] * spatial
                             for r in prop.layers}
    marks: dict[int, Any] = {i: None if v is None else [None] * spatial for i, v in found.items()}
    for axis in range(spatial):
        copy = narrower(prop, axis)
        assert [r.path for r in copy.layers] == [r.path for r in prop.layers]
        measured, values = measure(copy, source, axes=[axis], positions=positions), borders(copy)
        for i in found:
            if found[i] is not None:
                found[i][axis] = measured[i][axis]  # type: ignore[index]
                marks[i][axis] = values[i][axis]  # type: ignore[index]
    return found, marks


def golden(name: str) -> dict[str, Any]:
    prop = config(name)
    source = narrowest(prop)
    if len(prop.input) < 3:
        from_input = marks = {r.index: None for r in prop.layers}
        from_source = measure(prop, source)
    elif len(prop.input) > 4 or max(prop.input[2:]) > LARGE:
        from_input, marks = by_dim(prop, positions=True)
        from_source = by_dim(prop, source)[0]
    else:
        from_input, marks = measure(prop, positions=True), borders(prop)
        from_source = measure(prop, source)
    return {
        "input": list(prop.input),
        "relative_to": prop.layers[source].path,
        "layers": [{"path": r.path, "input": _dims(from_input[r.index], marks[r.index]),
                    "relative": _dims(from_source[r.index])}
                   for r in prop.layers],
    }


def main(names: list[str]) -> None:
    for name in names or sorted(p.stem for p in (ROOT / "configs").glob("*.yaml")):
        doc = golden(name)
        text = json.dumps(doc, separators=(",", ":")) + "\n"
        (GOLDEN / f"grids_{name}.json.gz").write_bytes(gzip.compress(text.encode(), 9, mtime=0))
        print(name, len(text), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
