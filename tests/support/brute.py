"""Brute-force oracles over whole networks."""

from __future__ import annotations

from typing import Any

from convtool.errors import ConvtoolError
from convtool.graph import propagate


def lines_up(arch: Any, shape: tuple[int, ...]) -> bool:
    """Whether the whole propagation goes through at this input (a mismatch, or a layer that
    cannot take its tensor, is False; anything else is a bug and raises)."""
    try:
        propagate(arch, shape, receptive_field=False)
    except ConvtoolError:
        return False
    return True
