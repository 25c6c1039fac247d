"""Every framework's transposed convolution as the one scatter definition (a start crop and an
output length per dim): one module per framework, found here by name."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line reads NAMES at start-up: the frameworks load on first use
    from .base import Framework

NAMES = ("torch", "r", "megengine", "tf", "keras", "onnx", "jax", "flax")


def get(name: str) -> Framework:
    """The framework called `name` (one of NAMES).

    >>> get("keras").title
    'Keras'
    """
    if name not in NAMES:
        from ..errors import ConvtoolError

        raise ConvtoolError(f"unknown framework {name!r}; convtool knows {', '.join(NAMES)}")
    module = import_module(f".{name}", __name__)
    return module.FRAMEWORK  # type: ignore[no-any-return]
