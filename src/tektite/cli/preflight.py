"""Checks ``tektite run`` makes before storing anything: every Task/Pipeline a run names by
reference must exist (in the store or in the same files), so a typo fails fast with the file and
line instead of creating a run that can only fail."""

from __future__ import annotations

from difflib import get_close_matches
from typing import Any

from tektite.api.structure import Parsed, describe
from tektite.errors import FieldError, ValidationError
from tektite.store.base import Store

JSON = dict[str, Any]


def _refs(
    parsed: Parsed, by_name: dict[tuple[str, str], JSON]
) -> list[tuple[tuple[str | int, ...], str, str]]:
    """(field path, kind, name) of every by-name reference reachable from a run document."""
    obj = parsed.obj
    spec = obj.get("spec") or {}
    out: list[tuple[tuple[str | int, ...], str, str]] = []
    if obj["kind"] == "TaskRun":
        ref = spec.get("taskRef") or {}
        if ref.get("name") and not ref.get("resolver"):
            out.append((("spec", "taskRef", "name"), "Task", ref["name"]))
        return out
    ref = spec.get("pipelineRef") or {}
    pipeline: JSON | None = spec.get("pipelineSpec")
    base: tuple[str | int, ...] = ("spec", "pipelineSpec")
    if ref.get("name") and not ref.get("resolver"):
        out.append((("spec", "pipelineRef", "name"), "Pipeline", ref["name"]))
        pipeline = (by_name.get(("Pipeline", ref["name"])) or {}).get("spec")
        base = ("spec", "pipelineRef", "name")
    for section in ("tasks", "finally"):
        for i, pt in enumerate((pipeline or {}).get(section) or []):
            tref = pt.get("taskRef") or {}
            if tref.get("name") and not tref.get("resolver") and not tref.get("apiVersion"):
                path = (*base, section, i, "taskRef", "name") if base[-1] == "pipelineSpec" else base
                out.append((path, "Task", tref["name"]))
    return out


def check_references(parsed: list[Parsed], store: Store, namespace: str) -> None:
    in_files = {(p.kind.kind, (p.obj.get("metadata") or {}).get("name", "")): p.obj for p in parsed}
    for p in parsed:
        if p.kind.kind not in ("TaskRun", "PipelineRun"):
            continue
        ns = (p.obj.get("metadata") or {}).get("namespace") or namespace
        by_name = dict(in_files)
        errors = []
        for path, kind, name in _refs(p, by_name):
            if (kind, name) in in_files:
                continue
            found = store.try_get(kind, name, ns)
            if found is not None:
                by_name[(kind, name)] = found
                continue
            known = sorted(
                {n for (k, n) in in_files if k == kind}
                | {o["metadata"]["name"] for o in store.list(kind, ns).items}
            )
            close = get_close_matches(name, known, n=1)
            hint = f'; did you mean "{close[0]}"?' if close else ""
            errors.append(
                FieldError(
                    path,
                    f'{kind} "{name}" not found in namespace "{ns}"{hint}',
                    expected=f"one of: {', '.join(known)}"
                    if known
                    else f"a {kind} applied first (tektite apply -f) or in the same file",
                    line=p.source.line_of(path) if p.source else None,
                )
            )
        if errors:
            raise ValidationError(errors, file=p.source.file if p.source else None, obj=describe(p.obj))
