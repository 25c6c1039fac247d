"""Reading and writing the user's files safely: one home for every rule about them.

- Only regular files are read: a directory, FIFO, socket or device is refused by name, before
  it is opened (so nothing blocks), and so is a file larger than MAX_READ_BYTES.
- Text is UTF-8 (a byte-order mark is accepted); UTF-16 and other encodings are refused with
  the reason, never guessed.
- A file is written to a temporary file in the same folder and renamed over the target, so a
  failure (a full disk, a size limit, Ctrl-C) leaves any old file as it was; an existing file
  is replaced only when the caller says so, and the files a command reads are never targets.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import ConvtoolError

MAX_READ_BYTES = 16 << 20


class FileError(ConvtoolError):
    """A file cannot be read or written as asked."""

    kind = "file"


def _kind_of(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    for test, words in (
        (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return words
    return "not a regular file"


def check_readable(path: str | os.PathLike[str]) -> None:
    """Refuse, without opening it, what `read_text` would refuse for being no regular file.

    >>> check_readable("/")
    Traceback (most recent call last):
    ...
    convtool.files.FileError: '/' is a directory, not a file convtool can read
    """
    name = os.fspath(path)
    try:
        mode = os.stat(name).st_mode
    except FileNotFoundError:
        raise FileError(f"{name!r} does not exist") from None
    except OSError as error:
        raise FileError(f"cannot read {name!r}: {error.strerror}") from None
    what = _kind_of(mode)
    if what is not None:
        raise FileError(f"{name!r} is {what}, not a file convtool can read")


def read_text(path: str | os.PathLike[str]) -> str:
    """The UTF-8 text of a regular file of at most MAX_READ_BYTES (a BOM is dropped)."""
    name = os.fspath(path)
    check_readable(name)
    try:
        # O_NONBLOCK: should the file have been swapped for a FIFO since the check, opening
        # it still does not wait for a writer (and the check below refuses it).
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise FileError(f"cannot read {name!r}: {error.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        what = _kind_of(info.st_mode)
        if what is not None:
            raise FileError(f"{name!r} is {what}, not a file convtool can read")
        if info.st_size > MAX_READ_BYTES:
            raise FileError(
                f"{name!r} is {info.st_size:,} bytes; convtool reads files of at most {MAX_READ_BYTES >> 20} MiB"
            )
        raw = handle.read(MAX_READ_BYTES + 1)
    if len(raw) > MAX_READ_BYTES:
        raise FileError(f"{name!r} grew past {MAX_READ_BYTES >> 20} MiB while it was read")
    return decode(raw, name)


def decode(raw: bytes, name: str) -> str:
    """UTF-8 text (a BOM accepted); UTF-16/32 and other encodings refused with the reason.

    >>> decode(b"\\xef\\xbb\\xbfa: 1", "f.yaml")
    'a: 1'
    >>> decode("a: 1".encode("utf-16"), "f.yaml")
    Traceback (most recent call last):
    ...
    convtool.files.FileError: 'f.yaml' is UTF-16 text; convtool reads UTF-8 only
    """
    for bom, encoding in (
        (b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
        (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"),
    ):
        if raw.startswith(bom):
            raise FileError(f"{name!r} is {encoding} text; convtool reads UTF-8 only",
                            hint="save the file as UTF-8, e.g. `iconv -f UTF-16 -t UTF-8`")
    if b"\x00" in raw[:4096]:
        even, odd = raw[0:4096:2].count(0), raw[1:4096:2].count(0)
        encoding = "UTF-16" if max(even, odd) > len(raw[:4096]) // 4 else "binary data"
        raise FileError(f"{name!r} looks like {encoding}, not UTF-8 text",
                        hint="save the file as UTF-8" if encoding == "UTF-16" else None)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise FileError(
            f"{name!r} is not UTF-8 text: byte 0x{raw[error.start]:02x} at line {line} cannot be decoded",
            hint="save the file as UTF-8",
        ) from None


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def write_text(path: str, data: str | bytes, *, force: bool = False, reads: Iterable[str] = ()) -> None:
    """Write `data` (text as UTF-8, or bytes) to `path` atomically: a temporary file in the same
    folder, renamed over it.

    An existing `path` is replaced only with `force`, and keeps its permissions; a path among
    `reads` (the files the command reads) never is. On any failure the temporary file is removed
    and an existing file is left as it was.
    """
    if not path:
        raise FileError("the output file name is empty")
    for source in reads:
        if _same_file(path, source):
            raise FileError(f"{path!r} is the file being read; write the output somewhere else")
    target = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        raise FileError(f"cannot write {path!r}: {error.strerror}") from None
    if mode is not None:
        what = _kind_of(mode)
        if what is not None:
            raise FileError(f"cannot write {path!r}: it is {what}")
        if not force:
            raise FileError(f"{path!r} already exists: add --force to replace it")
    permissions = mode & 0o777 if mode is not None else 0o666 & ~_umask()
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        raise FileError(f"cannot write {path!r}: {error.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, permissions)
        os.replace(temporary, path)
    except BaseException as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if isinstance(error, OSError):
            raise FileError(f"cannot write {path!r}: {error.strerror or error}; nothing was changed") from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
