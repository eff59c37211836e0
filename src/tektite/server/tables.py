"""Server-side printing: ``meta.k8s.io/v1 Table`` with the columns Tekton's CRDs define.

kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` when it prints ``get`` output.
Runs get Tekton's printer columns (Succeeded, Reason, StartTime, CompletionTime); other kinds
get Name and Age, like CRDs without printer columns. Date columns are ages, as the apiserver's
CRD table convertor renders them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tektite.core.conditions import get_condition, parse_time

JSON = dict[str, Any]
RUN_KINDS = ("TaskRun", "PipelineRun", "CustomRun")


def wants_table(accept: str) -> bool:
    return any(
        "as=table" in part.replace(" ", "").lower() and "g=meta.k8s.io" in part.replace(" ", "").lower()
        for part in accept.split(",")
    )


def human_age(ts: str | None, now: datetime | None = None) -> str:
    """Kubernetes' ``duration.HumanDuration`` style: 45s, 12m, 3h4m, 5d."""
    t = parse_time(ts)
    if t is None:
        return "<unknown>"
    secs = int(((now or datetime.now(UTC)) - t).total_seconds())
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        rest = secs % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        rest_m = minutes % 60
        return f"{hours}h{rest_m}m" if rest_m else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def _col(name: str, type_: str = "string", fmt: str = "", desc: str = "") -> JSON:
    return {"name": name, "type": type_, "format": fmt, "description": desc, "priority": 0}


def columns(kind: str) -> list[JSON]:
    name = _col("Name", fmt="name", desc="Name must be unique within a namespace.")
    if kind in RUN_KINDS:
        return [
            name,
            _col("Succeeded", desc='status of the "Succeeded" condition'),
            _col("Reason", desc='reason of the "Succeeded" condition'),
            _col("StartTime", "date", desc=".status.startTime"),
            _col("CompletionTime", "date", desc=".status.completionTime"),
        ]
    return [name, _col("Age", "date", desc="CreationTimestamp")]


def cells(obj: JSON) -> list[Any]:
    meta = obj.get("metadata") or {}
    if obj.get("kind") in RUN_KINDS:
        cond = get_condition(obj) or {}
        status = obj.get("status") or {}
        return [
            meta.get("name", ""),
            cond.get("status", ""),
            cond.get("reason", ""),
            human_age(status.get("startTime")) if status.get("startTime") else None,
            human_age(status.get("completionTime")) if status.get("completionTime") else None,
        ]
    return [meta.get("name", ""), human_age(meta.get("creationTimestamp"))]


def row(obj: JSON, include_object: str = "Metadata") -> JSON:
    out: JSON = {"cells": cells(obj)}
    if include_object == "Object":
        out["object"] = obj
    elif include_object != "None":
        out["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata") or {},
        }
    return out


def table(
    kind: str,
    items: list[JSON],
    resource_version: str = "",
    continue_token: str | None = None,
    include_object: str = "Metadata",
    headers: bool = True,
) -> JSON:
    meta: JSON = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns(kind) if headers else [],
        "rows": [row(o, include_object) for o in items],
    }
