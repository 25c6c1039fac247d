"""Writing a picture: `-` is stdout; a file is written whole or not at all, never over an
existing file without `force`, never over the file it was made from; `.png` is converted."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..errors import ConvtoolError
from ..files import write_text
from ..text import escape_controls


def png(svg: str) -> bytes:
    """The SVG rendered to PNG by cairosvg, when it is installed."""
    try:
        import cairosvg
    except (ImportError, OSError):  # OSError: the package is there but the system's libcairo2 is not
        raise ConvtoolError(
            "writing PNG needs cairosvg (pip install cairosvg, which uses the system's libcairo2); "
            "or write an .svg file"
        ) from None
    result: bytes = cairosvg.svg2png(bytestring=svg.encode("utf-8"))
    return result


def write_output(target: str, text: str, *, force: bool = False, sources: Sequence[str] = ()) -> str:
    """Write `text` (an SVG, or an HTML page) to `target` (`files.write_text`'s rules); a `.png`
    target gets the SVG rendered. Returns a short description of what was written, for the
    message on stderr.

    >>> write_output("-", "<svg/>\\n")
    <svg/>
    'stdout'
    """
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return "stdout"
    data = png(text) if target.lower().endswith(".png") else text.encode("utf-8")
    write_text(target, data, force=force, reads=sources)
    return f"{escape_controls(target)} ({len(data):,} bytes)"
