"""convtool: shapes, design and verification for transposed convolutions (PyTorch semantics).

The public names load on first use (`convtool.analyze` imports the shape engine then), so
`import convtool` costs almost nothing and never imports numpy.
"""

from __future__ import annotations

# Not `from typing import TYPE_CHECKING`: this module runs before console.main can catch Ctrl-C,
# so it imports nothing (type checkers read any constant of this name as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

_HOMES = {
    "ArchError": "errors", "ConfigError": "errors", "ConvtoolError": "errors", "MismatchError": "errors",
    "OutputSizeError": "errors",
    "ConvParams": "params",
    "analyze": "shape", "conv_length": "shape", "invert_conv": "shape", "output_padding_for": "shape",
    "output_shape": "shape", "output_size_range": "shape", "overlap": "shape", "spatial_output": "shape",
    "transpose_length": "shape",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'convtool' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
