"""The file format's YAML, read and written: values with the line and column of every key and
item (so every error can name its place), read with `yaml.safe_load` semantics and with
limits on nesting and alias expansion checked before anything is built."""

from __future__ import annotations

from typing import Any

from ..errors import ArchError

Mark = tuple[int, int]  # (line, column), 1-based

MAX_NODES = 200_000  # YAML values after alias expansion (a 1,000-layer file has ~12,000)
MAX_DEPTH = 64


class MarkedDict(dict):  # type: ignore[type-arg]
    """A mapping from the file, with the marks of its keys and values."""

    mark: Mark = (0, 0)
    key_marks: dict[Any, Mark]
    value_marks: dict[Any, Mark]


class MarkedList(list):  # type: ignore[type-arg]
    """A sequence from the file, with the mark of each item."""

    mark: Mark = (0, 0)
    marks: list[Mark]


def _mark(event_mark: Any) -> Mark:
    return (event_mark.line + 1, event_mark.column + 1)


def read_yaml(text: str, file: str = "<string>") -> Any:
    """Parse one YAML document into plain values (MarkedDict/MarkedList keep the marks).

    Only YAML's safe tags are constructed (as `yaml.safe_load`); nesting deeper than
    MAX_DEPTH or expanding to more than MAX_NODES nodes through aliases is refused first.

    >>> doc = read_yaml("a: [1, 2]\\nb: {c: x}\\n")
    >>> doc, doc.key_marks["b"], doc["a"].marks
    ({'a': [1, 2], 'b': {'c': 'x'}}, (2, 1), [(1, 5), (1, 8)])
    """
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    merge_tag = "tag:yaml.org,2002:merge"
    anchors: dict[str, tuple[Any, int]] = {}
    open_anchors: set[str] = set()
    # frame: [container, is_map, pending_key, pending_key_mark, anchor, size, merges]
    stack: list[list[Any]] = []
    result: list[Any] = []
    total = aliased = 0
    documents = 0

    def fail(message: str, mark: Mark, hint: str | None = None) -> ArchError:
        return ArchError(f"{file}:{mark[0]}:{mark[1]}: {message}", file=file, line=mark[0], column=mark[1], hint=hint)

    def add(value: Any, mark: Mark, size: int, is_merge_key: bool = False) -> None:
        if not stack:
            result.append(value)
            return
        frame = stack[-1]
        frame[5] += size
        container = frame[0]
        if not frame[1]:
            container.append(value)
            container.marks.append(mark)
            return
        if frame[2] is _NO_KEY:
            if isinstance(value, (dict, list)):
                raise fail("a mapping key must be a plain value, not a list or mapping", mark)
            frame[2], frame[3] = (_MERGE if is_merge_key else value), mark
            return
        key, key_mark = frame[2], frame[3]
        frame[2] = _NO_KEY
        if key is _MERGE:
            sources = value if isinstance(value, list) else [value]
            if not all(isinstance(s, MarkedDict) for s in sources):
                raise fail("a merge key '<<' needs a mapping or a list of mappings", mark)
            frame[6].extend(sources)
            return
        if key in container:
            first = container.key_marks[key]
            raise fail(f"duplicate key '{key}' (first written at line {first[0]})", key_mark)
        container[key] = value
        container.key_marks[key] = key_mark
        container.value_marks[key] = mark

    try:
        while loader.check_event():
            event = loader.get_event()
            kind = type(event).__name__
            if kind == "DocumentStartEvent":
                documents += 1
                if documents > 1:
                    raise fail(
                        "expected a single YAML document, but found another one (---)", _mark(event.start_mark)
                    )
                continue
            if kind in ("StreamStartEvent", "StreamEndEvent", "DocumentEndEvent"):
                continue
            mark = _mark(event.start_mark)
            if kind == "AliasEvent":
                if event.anchor in open_anchors:
                    raise fail(f"recursive alias *{event.anchor} (it refers to a node that contains it)", mark)
                if event.anchor not in anchors:
                    raise fail(f"found undefined alias *{event.anchor}", mark)
                value, size = anchors[event.anchor]
                total += size
                aliased += size
                if total > MAX_NODES:
                    raise _too_big(fail, mark, aliased)
                add(value, mark, size)
                continue
            total += 1
            if total > MAX_NODES:
                raise _too_big(fail, mark, aliased)
            if kind == "ScalarEvent":
                value, is_merge = _scalar(loader, event, merge_tag, fail, mark)
                if event.anchor:
                    anchors[event.anchor] = (value, 1)
                add(value, mark, 1, is_merge)
            elif kind in ("SequenceStartEvent", "MappingStartEvent"):
                if len(stack) >= MAX_DEPTH:
                    raise fail(f"the document nests deeper than {MAX_DEPTH} levels", mark)
                is_map = kind == "MappingStartEvent"
                standard = "tag:yaml.org,2002:map" if is_map else "tag:yaml.org,2002:seq"
                if event.tag not in (None, "!", standard):
                    raise fail(f"the tag {event.tag} is not allowed (files are read with yaml.safe_load semantics)", mark)
                container: Any = MarkedDict() if is_map else MarkedList()
                container.mark = mark
                if is_map:
                    container.key_marks, container.value_marks = {}, {}
                else:
                    container.marks = []
                if event.anchor:
                    open_anchors.add(event.anchor)
                stack.append([container, is_map, _NO_KEY, None, event.anchor, 1, []])
            elif kind in ("SequenceEndEvent", "MappingEndEvent"):
                container, is_map, _, _, anchor, size, merges = stack.pop()
                if is_map:
                    for source in merges:
                        for key, value in source.items():
                            if key not in container:
                                container[key] = value
                                container.key_marks[key] = source.key_marks[key]
                                container.value_marks[key] = source.value_marks[key]
                if anchor:
                    open_anchors.discard(anchor)
                    anchors[anchor] = (container, size)
                add(container, container.mark, size)
    except yaml.MarkedYAMLError as error:
        problem_mark = error.problem_mark or error.context_mark
        where = _mark(problem_mark) if problem_mark is not None else (1, 1)
        detail = error.problem or "invalid YAML"
        lines = text.splitlines()
        line = lines[where[0] - 1] if 0 < where[0] <= len(lines) else ""
        tabbed = "\t" in line[: len(line) - len(line.lstrip())] or "'\\t'" in detail
        hint = "YAML indents with spaces only: replace the tabs with spaces" if tabbed else None
        if error.context:
            detail += f" ({error.context}" + (
                f" at line {error.context_mark.line + 1}, column {error.context_mark.column + 1})"
                if error.context_mark is not None else ")"
            )
        raise fail(f"YAML syntax error: {detail}", where, hint) from None
    except yaml.YAMLError as error:
        raise ArchError(f"{file}: YAML error: {error}", file=file) from None
    finally:
        loader.dispose()
    return result[0] if result else None


class _Sentinel:
    pass


_NO_KEY: Any = _Sentinel()
_MERGE: Any = _Sentinel()


def _too_big(fail: Any, mark: Mark, aliased: int) -> ArchError:
    """The refusal of a document past MAX_NODES values; aliases are blamed only when they
    brought it there (`aliased`: the values they copied)."""
    if aliased * 2 > MAX_NODES:
        return fail(
            f"the document has more than {MAX_NODES:,} values once its aliases are expanded "
            f"({aliased:,} of them copied by aliases); refusing to read it",
            mark,
            hint="YAML aliases (*name) copy whole subtrees; nested ones grow exponentially",
        )
    return fail(
        f"the document has more than {MAX_NODES:,} values; convtool reads architecture files up to that "
        f"size (some {MAX_NODES // 12:,} layers)",
        mark,
    )


def _scalar(loader: Any, event: Any, merge_tag: str, fail: Any, mark: Mark) -> tuple[Any, bool]:
    import yaml

    node = yaml.ScalarNode(None, event.value, event.start_mark, event.end_mark, event.style)
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag == merge_tag:
        return None, True
    node.tag = tag
    constructor = loader.yaml_constructors.get(tag)
    if constructor is None:
        raise fail(
            f"could not determine a constructor for the tag {tag} "
            "(files are read with yaml.safe_load semantics)",
            mark,
        )
    try:
        return constructor(loader, node), False
    except (yaml.YAMLError, ValueError) as error:
        raise fail(f"invalid {tag.rsplit(':', 1)[-1]} value {event.value!r}: {error}", mark) from None


# -- writing: values that yaml.safe_load reads back as they are -------------------------------


def plain_value(value: Any) -> Any:
    """A parsed value as the file writes it (tuples as lists)."""
    return list(value) if isinstance(value, tuple) else value
