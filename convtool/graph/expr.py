"""Block parameters in values: `$name` (the parameter's value, any YAML value) and `$(EXPR)` (an
integer expression over the parameters), evaluated by a small evaluator of our own: a file's
text is never given to Python's `eval`.

The grammar, with Python's floor semantics for `//` and `%`:

    expr   := term (('+' | '-') term)*
    term   := unary (('*' | '//' | '%') unary)*
    unary  := '-' unary | '+' unary | atom
    atom   := INTEGER | NAME | '(' expr ')'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .yaml import MarkedDict, MarkedList

MAX_MAGNITUDE = 10**18  # no layer argument is larger; a bigger value is a mistake in the file
MAX_EXPRESSION = 200  # characters

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(//|[-+*%()]))")


class ExprError(ValueError):
    """A `$` value that cannot be read or evaluated; the message is one sentence, `mark` the
    value's place in the file (set by the innermost mapping or list that holds it)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.mark: tuple[int, int] | None = None


def substitute(value: Any, env: Mapping[str, Any]) -> Any:
    """`value` with every `$name` / `$(EXPR)` replaced, in nested lists and mappings too (marks kept).

    >>> substitute({"k": "$k", "c": "$(c // 2)", "l": [1, "$k"]}, {"k": 3, "c": 64})
    {'k': 3, 'c': 32, 'l': [1, 3]}
    """
    if isinstance(value, str):
        return _one(value, env)
    if isinstance(value, MarkedDict):
        out = MarkedDict((k, _at(v, env, value.value_marks.get(k))) for k, v in value.items())
        out.mark, out.key_marks, out.value_marks = value.mark, value.key_marks, value.value_marks
        return out
    if isinstance(value, MarkedList):
        items = MarkedList(_at(v, env, m) for v, m in zip(value, value.marks))
        items.mark, items.marks = value.mark, value.marks
        return items
    if isinstance(value, dict):
        return {k: substitute(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, env) for v in value]
    return value


def _at(value: Any, env: Mapping[str, Any], mark: tuple[int, int] | None) -> Any:
    try:
        return substitute(value, env)
    except ExprError as error:
        if error.mark is None:
            error.mark = mark
        raise


def _one(text: str, env: Mapping[str, Any]) -> Any:
    if "$" not in text:
        return text
    if text.startswith("$(") and text.endswith(")"):
        return evaluate(text[2:-1], env)
    match = _PARAM.fullmatch(text)
    if match is None:
        raise ExprError(
            f"'{text}' is neither a parameter ($name) nor an expression ($(...)): a `$` stands only at the start "
            "of a whole value"
        )
    return _lookup(match.group(1), env)


def _lookup(name: str, env: Mapping[str, Any]) -> Any:
    if name not in env:
        known = ", ".join(env) if env else "none here"
        raise ExprError(f"unknown parameter '{name}' (parameters: {known})")
    return env[name]


def evaluate(text: str, env: Mapping[str, Any]) -> int:
    """The integer value of EXPR in `$(EXPR)`.

    >>> evaluate("c // 2 + 1", {"c": 64}), evaluate("-7 // 2", {}), evaluate("-7 % 3", {}), evaluate("(1 + 2) * -3", {})
    (33, -4, 2, -9)
    """
    if len(text) > MAX_EXPRESSION:
        raise ExprError(f"an expression longer than {MAX_EXPRESSION} characters")
    tokens = _tokens(text)
    parser = _Parser(tokens, env, text)
    value = parser.expr()
    if parser.at < len(tokens):
        raise ExprError(f"unexpected '{tokens[parser.at]}' in $({text})")
    return value


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    at = 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        match = _TOKEN.match(text, at)
        if match is None:
            bad = text[at:].strip()[0]
            raise ExprError(f"'{bad}' cannot stand in $({text}): only integers, parameters, + - * // % and parentheses")
        tokens.append(match.group(match.lastindex or 0))
        at = match.end()
    if not tokens:
        raise ExprError("an empty expression $()")
    return tokens


class _Parser:
    def __init__(self, tokens: list[str], env: Mapping[str, Any], text: str) -> None:
        self.tokens, self.env, self.text, self.at = tokens, env, text, 0

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ExprError(f"$({self.text}) ends too early")
        self.at += 1
        return token

    def expr(self) -> int:
        value = self.term()
        while self.peek() in ("+", "-"):
            op, right = self.take(), self.term()
            value = _checked(value + right if op == "+" else value - right, self.text)
        return value

    def term(self) -> int:
        value = self.unary()
        while self.peek() in ("*", "//", "%"):
            op, right = self.take(), self.unary()
            if op != "*" and right == 0:
                raise ExprError(f"division by zero in $({self.text})")
            value = _checked(value * right if op == "*" else value // right if op == "//" else value % right, self.text)
        return value

    def unary(self) -> int:
        if self.peek() in ("-", "+"):
            sign = self.take()
            value = self.unary()
            return -value if sign == "-" else value
        return self.atom()

    def atom(self) -> int:
        token = self.take()
        if token == "(":
            value = self.expr()
            if self.take() != ")":
                raise ExprError(f"a '(' without its ')' in $({self.text})")
            return value
        if token.isdigit():
            return _checked(int(token), self.text)
        if token[0].isalpha() or token[0] == "_":
            value = _lookup(token, self.env)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ExprError(f"parameter '{token}' is {value!r}, not an integer, in $({self.text})")
            return value
        raise ExprError(f"unexpected '{token}' in $({self.text})")


def _checked(value: int, text: str) -> int:
    if abs(value) > MAX_MAGNITUDE:
        raise ExprError(f"$({text}) is larger than {MAX_MAGNITUDE:.0e}")
    return value
