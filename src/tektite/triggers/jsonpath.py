"""The JSONPath that TriggerBindings use inside ``$()``: Kubernetes' jsonpath, "relaxed".

``$(body.a.b)``, ``$(.body.a)``, ``$({.body.a})`` all mean ``{.body.a}``. Supported: fields (with
``\\.`` and ``\\/`` escapes for keys holding dots or slashes), ``['key']``, ``[n]`` (negative from
the end), slices ``[a:b]``, ``[*]`` / ``.*``, recursive descent ``..key`` and filters
``[?(@.name == "ssh")]`` (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, or just ``@.key`` for "has").

One result that is a string is printed raw; anything else (numbers, objects, several results) is
printed as Go's ``json.Marshal`` would.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tektite.triggers.gojson import marshal

__all__ = ["JSONPathError", "evaluate", "parse", "render"]


class JSONPathError(ValueError):
    """The expression is malformed or does not resolve against the event."""


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Index:
    index: int


@dataclass(frozen=True)
class Slice:
    start: int | None
    stop: int | None
    step: int | None


@dataclass(frozen=True)
class Wildcard:
    pass


@dataclass(frozen=True)
class Recursive:
    name: str | None  # None: every descendant


@dataclass(frozen=True)
class Filter:
    path: tuple[Step, ...]
    op: str | None
    literal: Any


Step = Field | Index | Slice | Wildcard | Recursive | Filter

_FILTER = re.compile(r"^\s*@(?P<path>[^=!<>]*?)\s*(?:(?P<op>==|!=|<=|>=|<|>)\s*(?P<lit>.+?))?\s*$")


def _relaxed(expr: str) -> str:
    text = expr.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if text.startswith("$"):
        text = text[1:]
    if text.startswith(".") and not text.startswith(".."):
        text = text[1:]
    if not text:
        raise JSONPathError(f'empty JSONPath expression "{expr}"')
    return text


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    try:
        return float(text)
    except ValueError:
        raise JSONPathError(f"invalid literal {text!r} in filter") from None


def _int(text: str, expr: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise JSONPathError(f'invalid array index "{text}" in "{expr}"') from None


def _bracket(inner: str, expr: str) -> Step:
    inner = inner.strip()
    if inner == "*":
        return Wildcard()
    if inner.startswith("?"):
        body = inner[1:].strip()
        if body.startswith("(") and body.endswith(")"):
            body = body[1:-1]
        m = _FILTER.match(body)
        if not m:
            raise JSONPathError(f'unsupported filter "[{inner}]" in "{expr}"; expected [?(@.key == "value")]')
        path = parse(m.group("path").lstrip(".")) if m.group("path").strip(". ") else ()
        op = m.group("op")
        return Filter(path, op, _literal(m.group("lit")) if op else None)
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        return Field(inner[1:-1])
    if ":" in inner:
        parts = inner.split(":")
        if len(parts) > 3:
            raise JSONPathError(f'invalid slice "[{inner}]" in "{expr}"')
        nums = [_int(p, expr) for p in parts] + [None] * (3 - len(parts))
        return Slice(nums[0], nums[1], nums[2])
    idx = _int(inner, expr)
    if idx is None:
        raise JSONPathError(f'empty brackets in "{expr}"')
    return Index(idx)


def _close_bracket(text: str, start: int, expr: str) -> int:
    """Index of the ``]`` closing the ``[`` at ``start`` (quotes and nested parens respected)."""
    depth = 0
    quote = ""
    for i in range(start + 1, len(text)):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")":
            depth -= 1
        elif ch == "]":
            if depth == 0:
                return i
            depth -= 1
    raise JSONPathError(f'unclosed "[" in "{expr}"')


def parse(expr: str) -> tuple[Step, ...]:
    """A relaxed JSONPath (``body.a[0].b``) -> steps."""
    text = _relaxed(expr)
    steps: list[Step] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "[":
            end = _close_bracket(text, i, expr)
            steps.append(_bracket(text[i + 1 : end], expr))
            i = end + 1
            continue
        if ch == ".":
            if i + 1 < n and text[i + 1] == ".":
                i += 2
                name, i = _name(text, i)
                steps.append(Recursive(name or None))
                continue
            i += 1
            continue
        name, i = _name(text, i)
        steps.append(Wildcard() if name == "*" else Field(name))
    return tuple(steps)


def _name(text: str, i: int) -> tuple[str, int]:
    out = []
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch in ".[":
            break
        out.append(ch)
        i += 1
    return "".join(out), i


def _descendants(value: Any) -> list[Any]:
    out = [value]
    if isinstance(value, dict):
        for v in value.values():
            out.extend(_descendants(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(_descendants(v))
    return out


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _keep(item: Any, flt: Filter) -> bool:
    try:
        found = evaluate(item, flt.path) if flt.path else [item]
    except JSONPathError:
        return False
    if flt.op is None:
        return bool(found)
    for value in found:
        left: Any = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        try:
            if _OPS[flt.op](left, flt.literal):
                return True
        except TypeError:
            continue
    return False


def _step(values: list[Any], step: Step, where: str) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if isinstance(step, Field):
            if not isinstance(value, dict):
                raise JSONPathError(f"{where} is not an object, cannot read key {step.name!r}")
            if step.name not in value:
                raise JSONPathError(f"{step.name} is not found at {where}")
            out.append(value[step.name])
        elif isinstance(step, Index):
            if not isinstance(value, list):
                raise JSONPathError(f"{where} is not an array, cannot index [{step.index}]")
            idx = step.index + len(value) if step.index < 0 else step.index
            if not 0 <= idx < len(value):
                raise JSONPathError(f"array index out of bounds: index {step.index}, length {len(value)}")
            out.append(value[idx])
        elif isinstance(step, Slice):
            if not isinstance(value, list):
                raise JSONPathError(f"{where} is not an array, cannot slice")
            if step.step == 0:
                raise JSONPathError("slice step cannot be 0")
            out.extend(value[step.start : step.stop : step.step])
        elif isinstance(step, Wildcard):
            if isinstance(value, dict):
                out.extend(value[k] for k in sorted(value))
            elif isinstance(value, list):
                out.extend(value)
        elif isinstance(step, Recursive):
            for node in _descendants(value):
                if step.name is None:
                    out.append(node)
                elif isinstance(node, dict) and step.name in node:
                    out.append(node[step.name])
        else:
            if isinstance(value, list):
                out.extend(v for v in value if _keep(v, step))
            elif isinstance(value, dict):
                out.extend(value[k] for k in sorted(value) if _keep(value[k], step))
    return out


def evaluate(data: Any, steps: tuple[Step, ...]) -> list[Any]:
    """Every value ``steps`` selects in ``data``; raises :class:`JSONPathError` for a missing key."""
    values = [data]
    where = "$"
    for step in steps:
        values = _step(values, step, where)
        where = f"{where}.{step.name}" if isinstance(step, Field) else f"{where}[...]"
    return values


def render(values: list[Any]) -> str:
    """How Triggers prints a result: one string raw, everything else as Go JSON."""
    if len(values) == 1:
        value = values[0]
        return value if isinstance(value, str) else marshal(value)
    return marshal(values)
