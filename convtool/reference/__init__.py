"""The users' reference under docs/, generated: the file format's tables from the layer registry,
the CLI reference from every command's --help, the JSON Schema from the key checkers.

The prose of docs/format.md is the template `format.md` beside this module; `{{name}}`
marks where a generated part goes. Regenerate everything with `python -m convtool.reference`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..graph.model import TOP_KEYS
from ..layers import ALIASES, KINDS
from .schema import architecture_schema, graph_keys, key_schema, type_names

TEMPLATE = Path(__file__).with_name("format.md")
REGENERATE = "python -m convtool.reference"
HELP_WIDTH = 100


def schema_text(schema: dict[str, Any]) -> str:
    """A key's type in words, from its JSON Schema.

    >>> schema_text({"anyOf": [{"type": "integer", "minimum": 1}, {"type": "array", "minItems": 2,
    ...     "maxItems": 2, "items": {"type": "integer", "minimum": 1}}]})
    'int ≥ 1, or a list of 2 ints ≥ 1'
    """
    if "anyOf" in schema:
        return ", or ".join(schema_text(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " or ".join(f"`{json.dumps(v)}`" if not isinstance(v, str) else f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    kind = str(schema.get("type"))
    if kind == "object" and "like" in schema.get("properties", {}):
        return "`{like: NAME}` (NAME's spatial size)"
    if kind == "array":
        count = (f"{schema['minItems']}" if schema.get("maxItems") == schema["minItems"]
                 else f"{schema['minItems']} or more")
        once = " (at most one {})".format(schema_text(schema["contains"])) if "contains" in schema else ""
        items = schema["items"]
        if "anyOf" in items:
            each = " or ".join(schema_text(s) for s in items["anyOf"])
            return f"a list of {count} values, each {each}{once}"
        return f"a list of {count} {_plural(schema_text(items))}{once}"
    if kind == "string":
        return "a number written as a string" if "pattern" in schema else "a string"
    words = {"integer": "int", "number": "number", "boolean": "`true`/`false`", "null": "`null`"}[kind]
    if "minimum" in schema:
        words += f" ≥ {schema['minimum']}"
    if "exclusiveMinimum" in schema:
        words += f" > {schema['exclusiveMinimum']}"
    if "maximum" in schema:
        words += f", at most {schema['maximum']}"
    if "exclusiveMaximum" in schema:
        words += f", below {schema['exclusiveMaximum']}"
    return words


def _plural(text: str) -> str:
    if text.startswith(("int", "number")):
        head, _, rest = text.partition(" ")
        return f"{head}s {rest}".rstrip()
    if text == "a string":
        return "strings"
    return f"({text})"


def _default(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return f"`{value}`"
    if isinstance(value, tuple):
        value = list(value)
    return f"`{json.dumps(value)}`"


def kinds_table() -> str:
    """One row per layer kind: its `type:` spellings, PyTorch class, required and optional keys."""
    rows = ["| `type:` | also written | PyTorch | required keys | optional keys |", "|---|---|---|---|---|"]
    for name, kind in KINDS.items():
        aliases = ", ".join(f"`{a}`" for a in type_names(name)[1:]) or "—"
        torch = f"`nn.{kind.torch_class}`" if kind.torch_class else "—"
        required = ", ".join(f"`{k.name}`" for k in kind.keys if k.required) or "—"
        optional = ", ".join(f"`{k.name}`" for k in kind.keys if not k.required) or "—"
        rows.append(f"| [`{name}`](#{name}) | {aliases} | {torch} | {required} | {optional} |")
    return "\n".join(rows)


def kinds_keys() -> str:
    """Per kind, every key with its type, default and whether it is required."""
    parts = []
    for name, kind in KINDS.items():
        head = f"### `{name}`\n\n"
        if kind.torch_class:
            head += f"PyTorch's `nn.{kind.torch_class}`.\n\n"
        implied = [(a, d) for a, (target, d) in ALIASES.items() if target == name and d]
        for alias, defaults in implied:
            head += f"`type: {alias}` implies " + ", ".join(f"`{k}: {json.dumps(v)}`" for k, v in defaults.items()) + ".\n\n"
        if not kind.keys:
            parts.append(head + "No keys beside `type` and `name`.")
            continue
        rows = ["| key | value | default |", "|---|---|---|"]
        for key in kind.keys:
            default = "**required**" if key.required else _default(key.default)
            rows.append(f"| `{key.name}` | {schema_text(key_schema(key))} | {default} |")
        parts.append(head + "\n".join(rows))
    return "\n\n".join(parts)


def layer_graph_keys() -> str:
    """A bullet for each key that says which tensors a layer reads, once the loader takes it."""
    return "".join(f"- `{key}:` (optional) {schema['description']}.\n" for key, schema in graph_keys().items())


def top_keys() -> str:
    return "\n".join(f"- [`{key}:`](#{key})" for key in TOP_KEYS)


PARTS: dict[str, Callable[[], str]] = {
    "top_keys": top_keys, "graph_keys": layer_graph_keys, "kinds_table": kinds_table, "kinds_keys": kinds_keys,
}


TOP_KEY_SECTION = re.compile(r"^### `(\w+):`\n.*?(?=^#)", re.M | re.S)


def format_md() -> str:
    """docs/format.md: the template with its generated parts filled in; the template's sections
    on top-level keys that the loader does not take (yet) are left out."""
    text = TEMPLATE.read_text(encoding="utf-8")
    text = TOP_KEY_SECTION.sub(lambda m: m[0] if m[1] in TOP_KEYS else "", text)
    for name, part in PARTS.items():
        text = text.replace("{{" + name + "}}", part())
    header = f"<!-- Generated by `{REGENERATE}` from convtool/reference/format.md; edit that. -->\n"
    return header + text


def cli_md() -> str:
    """docs/cli.md: every command's --help as a terminal 100 columns wide shows it."""
    import click

    from ..cli import main

    def context(command: click.Command, name: str, parent: click.Context | None) -> click.Context:
        return click.Context(command, info_name=name, parent=parent, terminal_width=HELP_WIDTH,
                             max_content_width=HELP_WIDTH)

    top = context(main, "convtool", None)
    sections = [f"<!-- Generated by `{REGENERATE}` from each command's --help; edit the help. -->\n",
                "# Command line\n", "```text\n$ convtool --help\n" + main.get_help(top) + "\n```\n"]
    for name, command in main.commands.items():  # type: ignore[attr-defined]
        text = command.get_help(context(command, name, top))
        sections.append(f"## `convtool {name}`\n\n```text\n$ convtool {name} --help\n{text}\n```\n")
    return "\n".join(sections)


def schema_json() -> str:
    return json.dumps(architecture_schema(), indent=2, ensure_ascii=False) + "\n"


def outputs() -> dict[str, Callable[[], str]]:
    """Each generated file under docs/ and what writes it."""
    return {"format.md": format_md, "cli.md": cli_md, "convtool.schema.json": schema_json}


def write(docs: Path) -> list[Path]:
    written = []
    for name, make in outputs().items():
        path = docs / name
        path.write_text(make(), encoding="utf-8")
        written.append(path)
    return written
