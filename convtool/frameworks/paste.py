"""Read a layer pasted from a program: Python calls through the `ast` module, R calls through a
small parser of its own. Nothing is evaluated: literals are read, anything else is kept as its
text and refused where the layer's shape depends on it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from . import get
from .base import Given, Layer, NonLiteral, PasteError

# (pattern on the dotted name, framework or None for "torch unless told megengine", ndim group)
PYTHON_CALLS = (
    (r"(?:.*\.)?ConvTranspose([123])d", None),
    (r"(?:.*\.)?Conv([123])d", None),
    (r"(?:.*\.)?Conv([123])DTranspose", "keras"),
    (r"(?:.*\.)?conv([123])d_transpose", "tf"),
    (r"(?:jax\.)?(?:lax\.)?conv_transpose()", "jax"),
    (r"(?:flax\.)?(?:linen\.|nn\.)?ConvTranspose()", "flax"),
    (r"(?:onnx\.)?(?:helper\.)?make_node()", "onnx"),
)
R_CALL = re.compile(r"\s*(?:torch::)?(nn_conv_transpose([123])d)\s*\(")
KNOWN = ("nn.ConvTranspose{1,2,3}d, nn.Conv{1,2,3}d, megengine.module.ConvTranspose{2,3}d, "
         "nn_conv_transpose{1,2,3}d (R), layers.Conv{1,2,3}DTranspose, tf.nn.conv{1,2,3}d_transpose, "
         "jax.lax.conv_transpose, nn.ConvTranspose (Flax), helper.make_node('ConvTranspose', ...)")


MAX_TEXT = 10_000  # one layer's call; far longer text is not a pasted layer


@dataclass(frozen=True)
class Call:
    """A pasted call: its dotted name, positional and keyword arguments (literals or NonLiteral)."""

    name: str
    args: list[Any]
    kwargs: dict[str, Any]


def read(text: str, framework: str | None = None, given: Given | None = None) -> Layer:
    """The layer a pasted call builds, read by its framework (named by the call, or `framework`).

    >>> read("nn.ConvTranspose2d(16, 33, 3, stride=2)").stride
    (2, 2)
    >>> read("nn_conv_transpose2d(16, 33, c(3, 5), stride = c(2, 1))").kernel_size
    (3, 5)
    """
    given = given or Given()
    if len(text) > MAX_TEXT:
        raise PasteError(f"a pasted layer is at most {MAX_TEXT:,} characters (got {len(text):,})")
    match = R_CALL.match(text)
    if match:
        call = parse_r(text)
        name, ndim = "r", int(match.group(2))
        if framework not in (None, "r"):
            raise PasteError(f"this is R torch code ({match.group(1)}), but the framework given is {framework}")
        return get(name).from_call(match.group(1), ndim, call.args, call.kwargs, given)
    call = parse_python(text)
    for pattern, owner in PYTHON_CALLS:
        found = re.fullmatch(pattern, call.name)
        if not found:
            continue
        ndim = int(found.group(1)) if found.group(1) else 0
        if owner is None:
            owner = "megengine" if call.name.startswith(("megengine.", "mge.")) else (framework or "torch")
            if owner not in ("torch", "megengine"):
                raise PasteError(f"{call.name} is PyTorch's (or MegEngine's) layer, not {framework}'s")
            if owner == "megengine" and "Transpose" not in call.name:
                raise PasteError("convtool reads MegEngine's ConvTranspose2d/3d only")
        elif framework not in (None, owner):
            raise PasteError(f"{call.name} is {get(owner).title} code, but the framework given is {framework}")
        if owner == "onnx":
            layer = get("onnx").from_call(call.name, ndim, call.args, call.kwargs, given)
        else:
            layer = get(owner).from_call(call.name, ndim or 2, call.args, call.kwargs, given)
        if not 1 <= layer.ndim <= 3:  # Flax, JAX and ONNX take any number of spatial dims
            raise PasteError(f"this layer has {layer.ndim} spatial dims; convtool works with 1, 2 or 3")
        return layer
    raise PasteError(f"convtool does not know the call {call.name}(...); it reads {KNOWN}")


# -- Python -------------------------------------------------------------------------------------


def parse_python(text: str) -> Call:
    """One call, alone or as the value of an assignment (`self.up = nn.ConvTranspose2d(...)`)."""
    try:
        tree = ast.parse(text.strip(), mode="exec")
    except SyntaxError as error:
        raise PasteError(f"cannot read the pasted layer as Python: {error.msg} (column {error.offset})") from None
    except (ValueError, RecursionError, MemoryError) as error:  # null bytes, absurd nesting
        raise PasteError(f"cannot read the pasted layer as Python: {error}") from None
    if len(tree.body) != 1:
        raise PasteError("paste one layer: one call such as nn.ConvTranspose2d(16, 33, 3, stride=2)")
    statement = tree.body[0]
    node = statement.value if isinstance(statement, (ast.Expr, ast.Assign, ast.AnnAssign)) else None
    if not isinstance(node, ast.Call):
        raise PasteError("paste one layer: one call such as nn.ConvTranspose2d(16, 33, 3, stride=2)")
    name = dotted(node.func)
    if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
        raise PasteError(f"{name}(...) unpacks arguments (*args or **kwargs): write them out")
    return Call(name, [value(a) for a in node.args], {k.arg: value(k.value) for k in node.keywords if k.arg})


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    raise PasteError(f"cannot tell which layer {ast.unparse(node)}(...) builds: call it by its name")


def value(node: ast.AST) -> Any:
    """A literal's value (numbers, strings, True/False/None, tuples, lists); else its text."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List)):
        items = [value(e) for e in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else items
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = value(node.operand)
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return -inner if isinstance(node.op, ast.USub) else inner
    return NonLiteral(ast.unparse(node))


# -- R ------------------------------------------------------------------------------------------

R_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?L?|\.\d+)|(?P<string>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')"
    r"|(?P<name>[A-Za-z.][A-Za-z0-9._]*(?:::[A-Za-z.][A-Za-z0-9._]*)?)|(?P<punct>[(),=-]))"
)


def parse_r(text: str) -> Call:
    """An R call: `f(16, 33, c(3, 5), stride = 2, bias = FALSE)`, named arguments with `=`.

    >>> parse_r('nn_conv_transpose2d(16, 33, c(3, 5), stride = 2, bias = FALSE)').kwargs
    {'stride': 2, 'bias': False}
    """
    tokens = []
    position = 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = R_TOKEN.match(stripped, position)
        if not match or match.end() == position:
            raise PasteError(f"cannot read the pasted R call at position {position + 1}: {stripped[position:position + 12]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind)))
        position = match.end()
    try:
        return _read_r_call(_RReader(tokens, stripped))
    except RecursionError:
        raise PasteError("cannot read the pasted R call: it nests too deeply") from None


def _read_r_call(reader: _RReader) -> Call:
    tokens = reader.tokens
    name = reader.expect("name")
    reader.expect("punct", "(")
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    if not reader.peek("punct", ")"):
        while True:
            if reader.peek("name") and reader.peek("punct", "=", ahead=1):
                key = reader.expect("name")
                reader.expect("punct", "=")
                if key in kwargs:
                    raise PasteError(f"Error in {name}: formal argument \"{key}\" matched by multiple actual arguments")
                kwargs[key] = reader.expression()
            else:  # R allows positions after names: they fill the remaining formals in order
                args.append(reader.expression())
            if reader.peek("punct", ")"):
                break
            reader.expect("punct", ",")
    reader.expect("punct", ")")
    if reader.index != len(tokens):
        raise PasteError("paste one R call: there is text after its closing parenthesis")
    return Call(name, args, kwargs)


class _RReader:
    def __init__(self, tokens: list[tuple[str, str, int]], text: str) -> None:
        self.tokens = tokens
        self.text = text
        self.index = 0

    def peek(self, kind: str, text: str | None = None, ahead: int = 0) -> bool:
        if self.index + ahead >= len(self.tokens):
            return False
        token = self.tokens[self.index + ahead]
        return token[0] == kind and (text is None or token[1] == text)

    def expect(self, kind: str, text: str | None = None) -> str:
        if not self.peek(kind, text):
            where = self.tokens[self.index][2] + 1 if self.index < len(self.tokens) else len(self.text) + 1
            wanted = repr(text) if text else f"a {kind}"
            raise PasteError(f"cannot read the pasted R call: expected {wanted} at position {where}")
        self.index += 1
        return self.tokens[self.index - 1][1]

    def expression(self) -> Any:
        if self.peek("punct", "-"):
            self.index += 1
            number = self.expression()
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                return -number
            return NonLiteral(f"-{number!r}")
        if self.peek("number"):
            text = self.expect("number").rstrip("L")
            number = float(text)
            return int(number) if number.is_integer() else number
        if self.peek("string"):
            raw = self.expect("string")[1:-1]
            return re.sub(r"\\(.)", r"\1", raw)
        name = self.expect("name")
        if name in ("TRUE", "T"):
            return True
        if name in ("FALSE", "F"):
            return False
        if name == "NULL":
            return None
        if self.peek("punct", "("):
            self.index += 1
            items = []
            while not self.peek("punct", ")"):
                items.append(self.expression())
                if not self.peek("punct", ")"):
                    self.expect("punct", ",")
            self.index += 1
            if name != "c":
                return NonLiteral(f"{name}(...)")
            return items[0] if len(items) == 1 else tuple(items)
        return NonLiteral(name)
