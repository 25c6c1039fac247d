"""Each benchmark owns one section of benchmarks/results.md, between markers, and rewrites only it."""

from __future__ import annotations

import platform
import re
from pathlib import Path

RESULTS = Path(__file__).with_name("results.md")
HEADER = "# convtool benchmark results\n\nWritten by the scripts in benchmarks/; each owns one section.\n"


def machine() -> str:
    """One line naming the machine the figures come from."""
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section `name` of results.md with `markdown`."""
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    block = f"<!-- {name} -->\n{markdown.rstrip()}\n<!-- /{name} -->\n"
    pattern = re.compile(rf"<!-- {re.escape(name)} -->\n.*?<!-- /{re.escape(name)} -->\n", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    RESULTS.write_text(text)
