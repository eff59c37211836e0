"""Tekton's ``$(...)`` variable substitution.

A reference such as ``$(params['img'])``, ``$(params.arr[*])``, ``$(tasks.build.results.out.key)``
is parsed into segments (``params``, ``img``) and looked up in a tree of values. References
that do not resolve are left exactly as written (shell ``$(date)`` survives), as Tekton does.

Values are strings, lists of strings or string maps. A field whose whole text is one
reference to an array/object takes that value (``value: $(params.arr[*])``); inside a list
such an element expands in place (``args: ["$(params.flags[*])"]``).

Substitution runs in passes like Tekton's reconciler: params first, then everything else, so
a param value that itself mentions ``$(context.taskRun.name)`` is resolved too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Value = str | list[str] | dict[str, str]
Segment = str | int

_REF = re.compile(r"\$\(([^()$]+)\)")
_SEG = re.compile(
    r"""\.?(?:
        \[\s*'(?P<sq>[^']*)'\s*\]   |
        \[\s*"(?P<dq>[^"]*)"\s*\]   |
        \[\s*(?P<idx>\*|\d+)\s*\]   |
        (?P<bare>[^.\[\]'"\s]+)
    )""",
    re.VERBOSE,
)

STAR = "*"


def parse_ref(expr: str) -> tuple[Segment, ...] | None:
    """``params['a.b'][0]`` -> ``("params", "a.b", 0)``; ``None`` if not a variable reference."""
    expr = expr.strip()
    pos, out = 0, []
    while pos < len(expr):
        m = _SEG.match(expr, pos)
        if not m or m.end() == pos:
            return None
        if m.group("sq") is not None:
            out.append(m.group("sq"))
        elif m.group("dq") is not None:
            out.append(m.group("dq"))
        elif m.group("idx") is not None:
            idx = m.group("idx")
            out.append(STAR if idx == STAR else int(idx))
        else:
            out.append(m.group("bare"))
        pos = m.end()
    return tuple(out) if out and isinstance(out[0], str) else None


def find_refs(text: str) -> list[tuple[str, tuple[Segment, ...]]]:
    """All parseable ``$(...)`` references in ``text``: (full match, segments)."""
    out = []
    for m in _REF.finditer(text):
        segs = parse_ref(m.group(1))
        if segs is not None:
            out.append((m.group(0), segs))
    return out


class Missing:
    """Sentinel: the reference did not resolve."""


MISSING = Missing()


def lookup_tree(tree: Mapping[str, Any], segs: tuple[Segment, ...]) -> Any:
    """Walk ``tree`` along ``segs``; ``[*]`` returns the whole list/map. MISSING if absent."""
    cur: Any = tree
    for i, seg in enumerate(segs):
        if seg == STAR:
            return cur if isinstance(cur, list | dict) and i == len(segs) - 1 else MISSING
        if isinstance(seg, int):
            if isinstance(cur, list) and 0 <= seg < len(cur):
                cur = cur[seg]
                continue
            return MISSING
        if isinstance(cur, Mapping) and seg in cur:
            cur = cur[seg]
            continue
        if callable(cur):
            cur = cur(segs[i:])
            return cur
        return MISSING
    return cur


Resolver = Callable[[tuple[Segment, ...]], Any]


class Substituter:
    """Applies one set of variables to strings, lists and whole object trees."""

    def __init__(
        self,
        tree: Mapping[str, Any],
        roots: Iterable[str] | None = None,
        on_missing: Callable[[str, tuple[Segment, ...]], None] | None = None,
    ) -> None:
        self.tree = tree
        self.roots = set(roots) if roots is not None else None
        self.on_missing = on_missing

    def resolve(self, segs: tuple[Segment, ...], text: str = "") -> Any:
        root = segs[0]
        if self.roots is not None and root not in self.roots:
            return MISSING
        value = lookup_tree(self.tree, segs)
        if value is MISSING and self.on_missing is not None:
            self.on_missing(text, segs)
        return value

    def string(self, text: str) -> str:
        if "$(" not in text:
            return text

        def repl(m: re.Match[str]) -> str:
            segs = parse_ref(m.group(1))
            if segs is None:
                return m.group(0)
            value = self.resolve(segs, m.group(0))
            if isinstance(value, str):
                return value
            if isinstance(value, bool | int | float):
                return str(value)
            return m.group(0)

        return _REF.sub(repl, text)

    def value(self, text: str) -> Any:
        """Like :meth:`string`, but a text that is exactly one array/object reference becomes it."""
        m = _REF.fullmatch(text.strip()) if "$(" in text else None
        if m:
            segs = parse_ref(m.group(1))
            if segs is not None:
                value = self.resolve(segs, m.group(0))
                if isinstance(value, list):
                    return list(value)
                if isinstance(value, dict):
                    return dict(value)
        return self.string(text)

    def list(self, items: list[Any], value_fields: frozenset[str] = frozenset()) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if isinstance(item, str):
                v = self.value(item)
                if isinstance(v, list):
                    out.extend(v)
                elif isinstance(v, dict):
                    out.append(item)
                else:
                    out.append(v)
            else:
                out.append(self.apply(item, value_fields))
        return out

    def apply(self, obj: Any, value_fields: frozenset[str] = frozenset({"value", "default"})) -> Any:
        """Substitute every string in a JSON tree. Keys named in ``value_fields`` may take arrays/objects."""
        if isinstance(obj, str):
            return self.string(obj)
        if isinstance(obj, list):
            return self.list(obj, value_fields)
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                if isinstance(v, str):
                    out[k] = self.value(v) if k in value_fields else self.string(v)
                else:
                    out[k] = self.apply(v, value_fields)
            return out
        return obj


def apply_passes(obj: Any, tree: Mapping[str, Any], passes: Iterable[Iterable[str] | None]) -> Any:
    """Apply ``tree`` in passes, each limited to some roots (``None`` = all roots)."""
    for roots in passes:
        obj = Substituter(tree, roots).apply(obj)
    return obj


def params_first(obj: Any, tree: Mapping[str, Any]) -> Any:
    """Tekton's order: ``params`` first, then every other variable."""
    return apply_passes(obj, tree, (("params",), None))


def references(obj: Any, root: str | None = None) -> list[tuple[str, tuple[Segment, ...]]]:
    """Every variable reference in a JSON tree (optionally only under ``root``)."""
    out: list[tuple[str, tuple[Segment, ...]]] = []

    def walk(o: Any) -> None:
        if isinstance(o, str):
            if "$(" in o:
                out.extend(r for r in find_refs(o) if root is None or r[1][0] == root)
        elif isinstance(o, list):
            for i in o:
                walk(i)
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)

    walk(obj)
    return out
