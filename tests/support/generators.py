"""The golden generators' modules (tests/golden/make_golden_*.py and the dependence oracle),
imported for the live checks: they need torch, so a test without it is skipped."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def generator(module: str) -> ModuleType:
    """tests/golden/`module`.py, imported; skips the calling test where torch is not installed."""
    pytest.importorskip("torch")
    sys.path.insert(0, str(GOLDEN))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(str(GOLDEN))
