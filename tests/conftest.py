"""Fixtures shared by the test files."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def fresh_plans() -> Iterator[None]:
    """The numeric engine's plans are cached: made under patched settings, they must not
    outlive the test."""
    from convtool import numeric  # numpy only for the tests that ask for it

    numeric.make_plan.cache_clear()
    yield
    numeric.make_plan.cache_clear()
