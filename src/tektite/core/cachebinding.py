"""What a keyed cache binding may say (a ``csi`` workspace binding with driver :data:`DRIVER`),
checked where a run is admitted (core/validation.py) and where it starts (controller/caches.py)."""

from __future__ import annotations

import re
from typing import Any

DRIVER = "cache.tektite.dev"
POLICIES = ("pull-push", "pull", "push")
ATTRIBUTES = ("key", "fallbackKeys", "policy")
RESULT_REF = re.compile(r"\$\(tasks\.([^.)]+)\.[^)]*\)")  # a task's result in a key; group 1: the task


def is_cache(binding: Any) -> bool:
    """Whether a workspace binding (or volume) is a cache: ``csi.driver`` is :data:`DRIVER`."""
    csi = binding.get("csi") if isinstance(binding, dict) else None
    return isinstance(csi, dict) and csi.get("driver") == DRIVER


def result_tasks(binding: Any) -> set[str]:
    """The pipeline tasks whose results a cache binding's attributes name."""
    attrs = ((binding.get("csi") or {}).get("volumeAttributes") if isinstance(binding, dict) else None) or {}
    if not isinstance(attrs, dict):
        return set()
    return {m.group(1) for v in attrs.values() if isinstance(v, str) for m in RESULT_REF.finditer(v)}


def problems(csi: Any) -> list[tuple[tuple[str, ...], str, str, str]]:
    """(path under the binding, problem, expected, found) for what is wrong whatever the run's
    variables are: the attributes' shape, a missing key, an unknown attribute or policy."""
    attrs = csi.get("volumeAttributes") if isinstance(csi, dict) else None
    where = ("csi", "volumeAttributes")
    if not isinstance(attrs, dict):
        return [
            (where, "a cache needs its attributes", "a map with key (and fallbackKeys, policy)", repr(attrs))
        ]
    out: list[tuple[tuple[str, ...], str, str, str]] = []
    for name in sorted(set(attrs) - set(ATTRIBUTES)):
        out.append(((*where, name), "unknown cache attribute", ", ".join(ATTRIBUTES), repr(name)))
    for name in ATTRIBUTES:
        if name in attrs and not isinstance(attrs[name], str):
            out.append(((*where, name), "a cache attribute is a string", "a string", repr(attrs[name])))
    key = attrs.get("key")
    if not (isinstance(key, str) and key.strip()):
        out.append(
            ((*where, "key"), f"a cache needs its key (driver {DRIVER})", "a non-empty string", repr(key))
        )
    policy = attrs.get("policy")
    if isinstance(policy, str) and "$(" not in policy and policy.strip() not in ("", *POLICIES):
        out.append(((*where, "policy"), "unknown cache policy", ", ".join(POLICIES), f'"{policy}"'))
    return out
