"""TriggerBinding params: ``$(body...)``, ``$(header...)``, ``$(extensions...)``, ``$(context...)``.

Follows Triggers' ``pkg/template/event.go``: each ``$()`` in a param value is a relaxed JSONPath
into the event; ``$($(body.b))`` means the innermost expression; a string result is inserted raw,
anything else as Go JSON. Header names are case-insensitive; ``$(header.X)`` joins several values
with a space and ``$(header.X[1])`` picks one. When an expression cannot be resolved the param
takes the TriggerTemplate's default, if it declares one; otherwise the trigger fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tektite.api.triggers import Param, ParamSpec
from tektite.errors import TektiteError
from tektite.triggers.gojson import marshal
from tektite.triggers.jsonpath import Field, JSONPathError, evaluate, parse, render

__all__ = ["BindingError", "EventData", "find_expressions", "resolve_expression", "resolve_params"]


class BindingError(TektiteError):
    """A binding param could not be resolved against the event."""

    http_status = 422
    reason = "Invalid"


def canonical_header(name: str) -> str:
    """Go's ``textproto.CanonicalMIMEHeaderKey``: ``x-github-event`` -> ``X-Github-Event``."""
    if not name or any(c in name for c in " \t\r\n:"):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


@dataclass
class EventData:
    """What bindings and CEL see of one event."""

    body: Any = None
    headers: dict[str, list[str]] = field(default_factory=dict)  # canonical names
    extensions: dict[str, Any] = field(default_factory=dict)
    context: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_pairs(
        cls,
        body: Any,
        header_pairs: Iterable[tuple[str, str]],
        extensions: Mapping[str, Any] | None = None,
        context: Mapping[str, str] | None = None,
    ) -> EventData:
        headers: dict[str, list[str]] = {}
        for k, v in header_pairs:
            headers.setdefault(canonical_header(k), []).append(v)
        return cls(body, headers, dict(extensions or {}), dict(context or {}))

    def header_values(self, name: str) -> list[str]:
        return self.headers.get(canonical_header(name), [])


def find_expressions(value: str) -> list[tuple[str, str]]:
    """``(original text, innermost expression)`` for every ``$(...)`` in ``value``."""
    out: list[tuple[str, str]] = []
    i = 0
    while True:
        start = value.find("$(", i)
        if start < 0:
            return out
        depth = 0
        quote = ""
        end = -1
        for j in range(start + 1, len(value)):
            ch = value[j]
            if quote:
                if ch == quote:
                    quote = ""
                continue
            if ch in "'\"" and depth > 0:
                quote = ch
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    end = j
                    break
        if end < 0:
            return out
        original = value[start : end + 1]
        inner = original
        while inner.startswith("$(") and inner.endswith(")"):
            inner = inner[2:-1]
        out.append((original, inner))
        i = end + 1


def resolve_expression(event: EventData, expr: str) -> str:
    """The text one ``$()`` expression stands for (raises :class:`JSONPathError`)."""
    steps = parse(expr)
    root = steps[0] if steps else None
    if not isinstance(root, Field):
        raise JSONPathError(f'"{expr}" must start with body, header, extensions or context')
    if root.name == "header":
        if len(steps) == 1:
            return marshal(event.headers)
        key = steps[1]
        if not isinstance(key, Field):
            raise JSONPathError(f'"{expr}": expected a header name after "header."')
        values = event.header_values(key.name)
        if not values:
            raise JSONPathError(f'header "{key.name}" is not in the request')
        if len(steps) == 2:
            return " ".join(values)
        return render(evaluate(values, steps[2:]))
    data = {"body": event.body, "extensions": event.extensions, "context": event.context}
    if root.name not in data:
        raise JSONPathError(f'"{expr}" must start with body, header, extensions or context')
    return render(evaluate(data, steps))


def resolve_params(
    params: Sequence[Param], event: EventData, template_params: Sequence[ParamSpec] = ()
) -> dict[str, str]:
    """Binding params (merged in order; duplicates are an error) resolved, then template defaults."""
    defaults = {p.name: p.default for p in template_params if p.default is not None}
    out: dict[str, str] = {}
    for p in params:
        if p.name in out:
            raise BindingError(f'duplicate param name "{p.name}" across the trigger\'s bindings')
        value = p.value
        for original, expr in find_expressions(p.value):
            try:
                text = resolve_expression(event, expr)
            except JSONPathError as exc:
                if p.name in defaults:
                    value = defaults[p.name]
                    break
                raise BindingError(
                    f'binding param "{p.name}": cannot resolve "{original}": {exc}; '
                    "the TriggerTemplate declares no default for it"
                ) from None
            value = value.replace(original, text)
        out[p.name] = value
    for name, default in defaults.items():
        out.setdefault(name, default)
    return out
