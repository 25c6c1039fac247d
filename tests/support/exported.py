"""An exported PyTorch file executed and compared with convtool's own table."""

from __future__ import annotations

from typing import Any

import pytest

from convtool.export import class_name, export
from convtool.graph import Propagation


def exported(prop: Propagation) -> dict[str, Any]:
    """Execute the exported source as a module (not as __main__)."""
    namespace: dict[str, Any] = {"__name__": "exported"}
    exec(compile(export(prop), "exported.py", "exec"), namespace)
    return namespace


def check_against_torch(prop: Propagation, device: str = "meta") -> None:
    torch = pytest.importorskip("torch")
    namespace = exported(prop)
    cls = namespace[class_name(prop.arch.name, prop.arch.file)]
    with torch.device(device):
        model = cls().eval()
    rows = [model.get_submodule(path) for path in namespace["ROWS"]] if "ROWS" in namespace else list(model.layers)
    assert len(rows) == len(prop.layers)
    shapes: dict[int, tuple[int, ...]] = {}
    for i, layer in enumerate(rows):
        # a max pool that returns its indices (for a max_unpool) gives (values, indices)
        layer.register_forward_hook(
            lambda m, a, out, i=i: shapes.__setitem__(i, tuple((out[0] if isinstance(out, tuple) else out).shape)))
    with torch.no_grad():
        if "example_inputs" in namespace:  # several inputs
            with torch.device(device):
                y = model(*namespace["example_inputs"]())
        else:
            y = model(torch.zeros(namespace["INPUT_SHAPE"], device=device))
    assert namespace["INPUT_SHAPE"] == prop.input
    ys = y if isinstance(y, tuple) else (y,)
    assert [tuple(t.shape) for t in ys] == [shape for _, _, shape in prop.outputs]
    assert [shapes[i] for i in range(len(prop.layers))] == [r.output for r in prop.layers]
    assert [sum(p.numel() for p in layer.parameters()) for layer in rows] == [
        r.param_count for r in prop.layers
    ]
    assert sum(p.numel() for p in model.parameters()) == prop.totals.param_count
