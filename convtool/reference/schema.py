"""The JSON Schema of architecture files, read off the layer registry.

A key's checker is a function, not a declaration, so its type is found by asking it: each
checker is probed with sample values (ints around its minimum, numbers, booleans, null,
strings its own error message names, lists of each length) and the schema allows what it
accepted. The tests compare the schema and the checkers on other values than these probes,
and the configs and known-bad files against both. Numbers written as strings are allowed in
the plain spellings only (`1e-5`, not `inf` or `1_000`, which Python's float() also reads).
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ConvtoolError
from ..graph.model import SECTIONS, TOP_KEYS
from ..layers import ALIASES, KINDS
from ..layers.keys import Key

SCHEMA_URL = "https://json-schema.org/draft/2020-12/schema"
INT_PROBES = (-(2**31), -2, -1, 0, 1, 2)
LENGTHS = (1, 2, 3, 4, 5, 6)  # lists up to three spatial dims of (before, after) pairs
HUGE = 10**18  # past any bound a key sets
NUMERIC_STRING = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"
# Keys every layer takes beside its kind's keys (the loader reads them itself).
LAYER_KEYS = {
    "type": "the layer kind: snake_case or PyTorch's class name",
    "name": "a unique name that skip connections (`with:`) refer to",
}
# Keys the loader reads on some layers, each with a file that uses it: the schema has a key
# once the loader takes that file.
GRAPH_KEYS = {
    "from": ("the tensor the layer reads: an earlier layer's name, or `input`", {"type": "string", "minLength": 1},
             "layers: [{name: a, type: relu}, {type: relu}, {type: relu, from: a}]"),
    "inputs": ("a merge's tensors, in order: names, `.` (the layer before) or `input`",
               {"type": "array", "minItems": 2, "items": {"type": "string", "minLength": 1}},
               "layers: [{name: a, type: relu}, {type: relu}, {type: add, inputs: [a, .]}]"),
    "repeat": ("chains this many copies of the layer", {"type": "integer", "minimum": 1},
               "layers: [{type: relu, repeat: 2}]"),
}
NAME = r"^[A-Za-z_][A-Za-z0-9_-]*$"


def accepts(key: Key, value: object) -> bool:
    """Whether the key's checker takes `value`.

    >>> from convtool.layers.keys import int_key
    >>> accepts(Key("groups", int_key(1)), 1), accepts(Key("groups", int_key(1)), 0)
    (True, False)
    """
    try:
        key.check(key.name, value)
    except ConvtoolError:
        return False
    return True


def _largest(ok: Any, low: int) -> int | None:
    """The largest int a predicate accepts above `low` (accepted), None when it takes huge ones."""
    if ok(HUGE):
        return None
    high = HUGE
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if ok(middle) else (low, middle)
    return low


def _ints(ok: Any) -> dict[str, Any] | None:
    """The integers a predicate accepts, as far as the probes tell: a minimum plus exceptions,
    and a maximum."""
    taken = [v for v in INT_PROBES if ok(v)]
    if not taken:
        return None
    schema: dict[str, Any] = {"type": "integer"}
    largest = _largest(ok, max(taken))
    if largest is not None:
        schema["maximum"] = largest
    if taken == list(INT_PROBES):
        return schema
    minimum = min(v for v in INT_PROBES if all(ok(u) for u in INT_PROBES if u >= v))
    schema["minimum"] = minimum
    below = [v for v in taken if v < minimum]
    return {"anyOf": [schema, {"enum": below}]} if below else schema


def _numbers(ok: Any) -> dict[str, Any] | None:
    if not ok(0.5):
        return None
    schema: dict[str, Any] = {"type": "number"}
    if not ok(-0.5):
        schema["minimum" if ok(0.0) else "exclusiveMinimum"] = 0
    start = next((v for v in (0, 1) if ok(v)), None)
    largest = None if start is None else _largest(ok, start)
    if largest is not None:
        if ok(largest + 0.5):
            schema["exclusiveMaximum"] = largest + 1
        else:
            schema["maximum"] = largest
    return schema


def _strings(key: Key) -> list[dict[str, Any]]:
    """Any string, numeric strings (YAML 1.1 reads `1e-5` as one), or the strings named in the key's error."""
    if accepts(key, "\x01any name"):
        return [{"type": "string", "minLength": 1}]
    found: list[dict[str, Any]] = []
    if accepts(key, "1e-5"):
        found.append({"type": "string", "pattern": NUMERIC_STRING})
    try:
        key.check(key.name, "\x01")
    except ConvtoolError as error:
        named = [w for w in dict.fromkeys(re.findall(r"'([^'\x01]+)'", error.message)) if accepts(key, w)]
        if named:
            found.append({"enum": named})
    return found


def _item(key: Key, n: int) -> dict[str, Any] | None:
    """What each entry of an n-long list may be (probed with the entry first, the rest ones)."""
    def entry(fill: object) -> Any:
        return lambda v: accepts(key, [v] + [fill] * (n - 1))

    choices = [s for s in (_numbers(entry(1)) or _ints(entry(1)),) if s]
    if accepts(key, [None] * n):
        choices.append({"type": "null"})
    if accepts(key, ["\x01a"] * n):
        choices.append({"type": "string", "minLength": 1})
    if not choices:
        return None
    return choices[0] if len(choices) == 1 else {"anyOf": choices}


def _lists(key: Key) -> list[dict[str, Any]]:
    items = {n: item for n in LENGTHS if (item := _item(key, n)) is not None}
    lengths = list(items)
    if not lengths:
        return []
    if lengths == list(LENGTHS) and all(items[n] == items[1] for n in lengths):
        return [{"type": "array", "minItems": 1, "items": items[1], **_once(key, items[1], 2)}]
    return [{"type": "array", "minItems": n, "maxItems": n, "items": items[n], **_once(key, items[n], n)}
            for n in lengths]


def _once(key: Key, item: dict[str, Any], n: int) -> dict[str, Any]:
    """For an entry allowed as an exception (unflatten's one -1): at most once, when twice is refused."""
    special = [v for choice in item.get("anyOf", ()) for v in choice.get("enum", ())]
    if n < 2 or not special or any(accepts(key, [v, v] + [1] * (n - 2)) for v in special):
        return {}
    return {"contains": {"enum": special}, "minContains": 0, "maxContains": 1}


def key_schema(key: Key) -> dict[str, Any]:
    """The JSON Schema of one layer key, from what its checker accepts.

    >>> from convtool.layers.keys import choice_key
    >>> key_schema(Key("mode", choice_key("nearest", "bilinear")))
    {'enum': ['nearest', 'bilinear']}
    """
    choices: list[dict[str, Any]] = []
    if accepts(key, None):
        choices.append({"type": "null"})
    booleans = [b for b in (False, True) if accepts(key, b)]
    if len(booleans) == 2:
        choices.append({"type": "boolean"})
    elif booleans:
        choices.append({"const": booleans[0]})
    scalar = _numbers(lambda v: accepts(key, v)) or _ints(lambda v: accepts(key, v))
    if scalar:
        choices.append(scalar)
    choices += _strings(key)
    choices += _lists(key)
    if accepts(key, {"like": "\x01a"}):  # another tensor's size
        choices.append({"type": "object", "properties": {"like": {"type": "string", "minLength": 1}},
                        "required": ["like"], "additionalProperties": False})
    return choices[0] if len(choices) == 1 else {"anyOf": choices}


def graph_keys() -> dict[str, dict[str, Any]]:
    """The GRAPH_KEYS the loader takes, each with its schema; for a merge only ('inputs') or any layer."""
    from ..graph import loads

    taken = {}
    for key, (words, schema, text) in GRAPH_KEYS.items():
        try:
            loads("input: [1, 1, 4, 4]\n" + text)
        except ConvtoolError:
            continue
        taken[key] = {**schema, "description": words}
    return taken


def kind_schema(name: str) -> dict[str, Any]:
    kind = KINDS[name]
    properties: dict[str, Any] = {
        "type": {"enum": type_names(name)},
        "name": {"type": "string", "minLength": 1, "description": LAYER_KEYS["name"]},
        **{key: schema for key, schema in graph_keys().items() if key != "inputs" or kind.skip},
    }
    for key in kind.keys:
        properties[key.name] = key_schema(key)
        if key.default is not None:
            properties[key.name]["default"] = list(key.default) if isinstance(key.default, tuple) else key.default
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    required = [key.name for key in kind.keys if key.required]
    if "inputs" in properties and "with" in required:  # a merge names its tensors one way or the other
        required.remove("with")
        schema["oneOf"] = [{"required": ["with"]}, {"required": ["inputs"]}]
        schema["not"] = {"required": ["inputs", "from"]}
    if required:
        schema["required"] = required
    return schema


def type_names(name: str) -> list[str]:
    """A kind's `type:` spellings: its own name, then its aliases."""
    return [name, *(alias for alias, (target, _) in ALIASES.items() if target == name)]


def top_schemas() -> dict[str, dict[str, Any]]:
    """The value of every top-level key this schema describes (the schema keeps those in TOP_KEYS)."""
    layers = {"$ref": "#/$defs/layers"}
    shape = {"type": "array", "minItems": 1, "maxItems": 5, "items": {"type": "integer", "minimum": 1}}
    return {
        "name": {"type": "string", "description": "a title for the table and the export"},
        "input": {
            "type": "array", "minItems": 2, "maxItems": 5, "items": {"type": "integer", "minimum": 1},
            "description": "the input shape [N, C, H, W] (a latent vector: [N, features])",
        },
        "inputs": {
            "type": "object", "minProperties": 1, "propertyNames": {"pattern": r"^[^.]+$", "not": {"const": "input"}},
            "additionalProperties": {"anyOf": [shape, {
                "type": "object", "required": ["shape"], "additionalProperties": False,
                "properties": {"shape": shape, "integers": {"type": "integer", "minimum": 1}},
            }]},
            "description": "several named inputs (instead of `input:`): shapes, or {shape, integers: N} for class indices",
        },
        "layers": layers,
        "encoder": layers,
        "blocks": {
            "type": "object", "propertyNames": {"pattern": r"^[^.]+$", "not": {"enum": sorted(all_types())}},
            "additionalProperties": {"$ref": "#/$defs/block"},
            "description": "reusable parts of the network, used as layers by their names",
        },
        "outputs": {
            "anyOf": [{"type": "string", "minLength": 1},
                      {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}],
            "description": "the layers whose outputs the network gives (default: the last layer)",
        },
        "restores": {
            "anyOf": [{"type": "string", "minLength": 1}, {"const": False}],
            "description": "the network input whose spatial size the output gives back (an autoencoder), or false",
        },
        "decoder": {"anyOf": [layers, {
            "type": "object", "properties": {"mirror": {"const": "encoder"}}, "required": ["mirror"],
            "additionalProperties": False,
        }]},
    }


def all_types() -> list[str]:
    """Every `type:` spelling of every kind."""
    return [t for name in KINDS for t in type_names(name)]


def architecture_schema() -> dict[str, Any]:
    """The whole schema (draft 2020-12): top-level keys, then one subschema per layer kind.

    A file without `blocks:` takes layer kinds only; with blocks, a layer whose type is no kind
    is a block use (any parameters), and a block's own layers are checked loosely, since their
    values may be `$parameters`."""
    tops = top_schemas()
    missing = [key for key in TOP_KEYS if key not in tops]
    if missing:
        raise RuntimeError(f"top-level keys without a schema: {missing} (add them to convtool/reference/schema.py)")
    words = {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": r"^[^.]+$"}}
    use = {
        "type": "object", "required": ["type"],
        "properties": {"type": {"type": "string", "pattern": r"^[^.]+$", "not": {"enum": all_types()},
                                "description": "a block's name"},
                       "name": {"type": "string", "minLength": 1, "description": LAYER_KEYS["name"]},
                       **graph_keys()},
    }
    strict = {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/layer"}}
    defs: dict[str, Any] = {
        "layers": {"type": "array", "minItems": 1, "items": {"anyOf": [{"$ref": "#/$defs/layer"}, {"$ref": "#/$defs/use"}]}},
        "use": use,
        "block": {
            "type": "object", "required": ["layers"], "additionalProperties": False,
            "properties": {
                "inputs": {"anyOf": [{"type": "string"}, words]},
                "params": {"type": "object", "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}},
                "layers": {"type": "array", "minItems": 1,
                           "items": {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}}},
                "outputs": {"anyOf": [{"type": "string"}, words]},
            },
        },
        "layer": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"enum": all_types(),
                                    "description": LAYER_KEYS["type"]}},
            "allOf": [
                {"if": {"properties": {"type": {"enum": type_names(name)}}, "required": ["type"]},
                 "then": {"$ref": f"#/$defs/{name}"}}
                for name in KINDS
            ],
        },
    }
    defs.update({name: kind_schema(name) for name in KINDS})
    sections = list(SECTIONS)
    return {
        "$schema": SCHEMA_URL,
        "title": "convtool architecture file",
        "type": "object",
        "properties": {key: tops[key] for key in TOP_KEYS},
        "additionalProperties": False,
        "anyOf": [{"required": ["layers"]}, {"required": [sections[0]]}],
        "dependentSchemas": {"inputs": {"not": {"required": ["input"]}}},
        "if": {"not": {"required": ["blocks"]}},  # no blocks: every layer is a kind
        "then": {"properties": {"layers": strict, sections[0]: strict,
                                sections[1]: {"anyOf": [strict, {"type": "object"}]}}},
        "not": {"anyOf": [{"required": ["layers", section]} for section in sections]},
        "dependentRequired": {sections[1]: [sections[0]]},
        "$defs": defs,
    }
