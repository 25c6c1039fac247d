"""The one exception root of convtool and its kinds.

Messages follow PyTorch's wording where PyTorch has one, so that users can search them.
Context (file, line, layer) is attached once, where user input enters.
"""

from __future__ import annotations

from collections.abc import Sequence


class ConvtoolError(Exception):
    """Root of every error convtool raises on purpose; `kind` names it in JSON output.

    `hint` is one line, or a sequence of lines (shown one under the other; in JSON joined by
    newlines): a string never breaks into lines, so text from a file cannot start a new one.
    """

    kind = "error"

    def __init__(self, message: str, *, hint: str | Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint_lines: tuple[str, ...] = (hint,) if isinstance(hint, str) else tuple(hint or ())

    @property
    def hint(self) -> str | None:
        return "\n".join(self.hint_lines) or None

    def to_dict(self) -> dict[str, object]:
        doc: dict[str, object] = {"message": self.message, "kind": self.kind}
        if self.hint:
            doc["hint"] = self.hint
        return doc


class ConfigError(ConvtoolError, ValueError):
    """A layer's parameters are invalid, or invalid for the given input (PyTorch would raise).

    `key` names the argument at fault where one is (`output_padding`), so that a file's error
    points at the key without reading the message.
    """

    kind = "config"

    def __init__(self, message: str, *, hint: str | Sequence[str] | None = None, key: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.key = key


class OutputSizeError(ConfigError):
    """`output_size` outside the range `forward(x, output_size=...)` accepts."""

    kind = "output_size"


class ArchError(ConvtoolError):
    """An architecture file is malformed; carries where in the file."""

    kind = "architecture"

    def __init__(
        self,
        message: str,
        *,
        hint: str | Sequence[str] | None = None,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        layer_index: int | None = None,
        layer_name: str | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.file = file
        self.line = line
        self.column = column
        self.layer_index = layer_index
        self.layer_name = layer_name
        self.key = key

    def to_dict(self) -> dict[str, object]:
        doc = super().to_dict()
        for attr in ("file", "line", "column", "layer_index", "layer_name", "key"):
            value = getattr(self, attr)
            if value is not None:
                doc[attr] = value
        return doc


class MismatchError(ConvtoolError):
    """A stack does not line up: a layer cannot take the tensor it is given."""

    kind = "mismatch"


class NoInverse(ConfigError):
    """A layer has no inverse that a mirrored decoder could use (the reason says why)."""

    kind = "architecture"


class MemoryLimitError(ConvtoolError):
    """A numeric run would need more memory than allowed, or could not get it."""

    kind = "memory"
