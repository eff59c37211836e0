"""Kubernetes label selectors: ``app=web,tier!=db,env in (a,b),!legacy``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from tektite.errors import TektiteError

_TERM = re.compile(
    r"""\s*(?:
        (?P<not>!)\s*(?P<nkey>[\w./-]+) |
        (?P<skey>[\w./-]+)\s*(?P<setop>in|notin)\s*\((?P<vals>[^)]*)\) |
        (?P<key>[\w./-]+)\s*(?:(?P<op>==|!=|=)\s*(?P<val>[\w./-]*))?
    )\s*(?:,|$)""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if self.op == "=":
            return value == self.values[0]
        if self.op == "!=":
            return value != self.values[0]
        if self.op == "in":
            return value in self.values
        return value not in self.values  # notin


def parse_selector(text: str | None) -> list[Requirement]:
    if not text or not text.strip():
        return []
    out: list[Requirement] = []
    pos = 0
    while pos < len(text):
        m = _TERM.match(text, pos)
        if not m or m.end() == pos:
            raise TektiteError(
                f'invalid label selector "{text}" at "{text[pos:]}"; '
                "expected terms like key=value, key!=value, key in (a,b), key, !key"
            )
        if m.group("not"):
            out.append(Requirement(m.group("nkey"), "!"))
        elif m.group("setop"):
            vals = tuple(v.strip() for v in m.group("vals").split(",") if v.strip())
            out.append(Requirement(m.group("skey"), m.group("setop"), vals))
        elif m.group("op"):
            op = "=" if m.group("op") in ("=", "==") else "!="
            out.append(Requirement(m.group("key"), op, (m.group("val"),)))
        else:
            out.append(Requirement(m.group("key"), "exists"))
        pos = m.end()
    return out


def matches(selector: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in selector)
