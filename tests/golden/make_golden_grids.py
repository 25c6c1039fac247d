"""Golden dependence of every file in configs/, measured in PyTorch (see dependence.py).

For each file, per layer and spatial dim: the first and last position of the network input
that each output position depends on (forward-mode derivatives), its `level` (its value with
an input of ones: below its phase's where it reads zero padding), and the same with respect
to the file's narrowest tensor (its bottleneck or latent, `relative_to`), with the projective
field there: the most output positions one of its positions reaches.

    python tests/golden/make_golden_grids.py            # rewrites tests/golden/grids_*.json

Needs torch (minutes for the large U-Nets); the tests read the JSON files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parent
ROOT = GOLDEN.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(GOLDEN))

from dependence import levels, measure, projective, spans  # noqa: E402

from convtool.graph import Propagation, load, loads, propagate  # noqa: E402

LINED_UP = {"mismatch_unet": ("[1, 3, 74, 74]", "[1, 3, 76, 76]")}  # the file fails at its own size


def config(name: str) -> Propagation:
    """The file's network (at a size that lines up)."""
    path = ROOT / "configs" / f"{name}.yaml"
    if name in LINED_UP:
        return propagate(loads(path.read_text().replace(*LINED_UP[name])))
    return propagate(load(path))


def narrowest(prop: Propagation) -> int:
    """The last layer with a path and the fewest output positions among the spatial ones (a bottleneck)."""
    spatial = [r for r in prop.layers if len(r.output) > 2 and r.path]
    fewest = min(_positions(r.output) for r in spatial)
    return [r for r in spatial if _positions(r.output) == fewest][-1].index


def _positions(shape: tuple[int, ...]) -> int:
    n = 1
    for v in shape[2:]:
        n *= v
    return n


def _dims(found: Any, values: Any = None) -> Any:
    if found is None:
        return None
    dims = []
    for axis, m in enumerate(found):
        pairs = spans(m)
        dim = {"first": [-1 if s is None else s[0] for s in pairs], "last": [-1 if s is None else s[1] for s in pairs],
               "projective": projective(m)}
        if values is not None:
            dim["level"] = [float(f"{v:.6g}") for v in values[axis]]
        dims.append(dim)
    return dims


def golden(name: str) -> dict[str, Any]:
    prop = config(name)
    source = narrowest(prop)
    from_input = measure(prop) if len(prop.input) > 2 else {r.index: None for r in prop.layers}
    from_source = measure(prop, source)
    ones = levels(prop) if len(prop.input) > 2 else {r.index: None for r in prop.layers}
    return {
        "input": list(prop.input),
        "relative_to": prop.layers[source].path,
        "layers": [{"path": r.path, "input": _dims(from_input[r.index], ones[r.index]),
                    "relative": _dims(from_source[r.index])}
                   for r in prop.layers],
    }


def main(names: list[str]) -> None:
    for name in names or sorted(p.stem for p in (ROOT / "configs").glob("*.yaml")):
        doc = golden(name)
        text = json.dumps(doc, separators=(",", ":"))
        (GOLDEN / f"grids_{name}.json").write_text(text + "\n")
        print(name, len(text), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
