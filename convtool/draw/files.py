"""Writing a picture: `-` is stdout; a file is written whole or not at all, never over an
existing file without `force`, never over the file it was made from; `.png` is converted."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConvtoolError

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def shown(name: str) -> str:
    """A file name as a message shows it: control characters escaped, never sent to the terminal.

    >>> print(shown("a\\x1b[2Jb.svg"))
    a\\x1b[2Jb.svg
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", name)


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
    """Write `text` (an SVG, or an HTML page) to `target`; a `.png` target gets the SVG rendered.
    Returns a short description of what was written, for the message on stderr.

    >>> write_output("-", "<svg/>\\n")
    <svg/>
    'stdout'
    """
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return "stdout"
    path = Path(target)
    for source in sources:
        if path.exists() and Path(source).exists() and path.resolve() == Path(source).resolve():
            raise ConvtoolError(f"refusing to write the picture over its own input file {shown(target)}")
    if path.is_dir():
        raise ConvtoolError(f"{shown(target)} is a directory: give a file name such as {shown(str(path / 'picture.svg'))}")
    if path.exists() and not path.is_file():
        raise ConvtoolError(f"{shown(target)} is not a regular file: convtool only replaces regular files")
    if path.exists() and not force:
        raise ConvtoolError(f"{shown(target)} already exists: add --force to replace it")
    data = png(text) if path.suffix.lower() == ".png" else text.encode("utf-8")
    folder = path.parent if str(path.parent) else Path(".")
    try:
        mode = path.stat().st_mode & 0o777 if path.exists() else _default_mode()
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise ConvtoolError(f"cannot write {shown(target)}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise ConvtoolError(f"cannot write {shown(target)}: {error.strerror}") from None
    return f"{shown(target)} ({len(data):,} bytes)"


def _default_mode() -> int:
    """0o666 less the process's umask, as a newly created file would have."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask
