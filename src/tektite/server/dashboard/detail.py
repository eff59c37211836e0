"""Everything the run page shows, in one JSON: summary, params, results, workspaces, steps, DAG."""

from __future__ import annotations

from typing import Any

from tektite.controller import caches
from tektite.controller.cluster import Cluster
from tektite.core import cachebinding
from tektite.server.dashboard.graph import build_graph, pipeline_spec
from tektite.server.dashboard.runs import duration_seconds, status_word, summary

JSON = dict[str, Any]


def workspace_rows(bindings: list[JSON], claims: list[JSON] | None = None) -> list[JSON]:
    """One row per workspace binding: its name, what backs it, and the subPath; a cache
    (docs/caches.md) says its key and, from the run's ``claims``, how it started."""
    used = caches.in_use(claims or [])
    rows = []
    for b in bindings:
        if cachebinding.is_cache(b):
            key, restored = used.get(
                b.get("name", ""), ((b["csi"].get("volumeAttributes") or {}).get("key"), None)
            )
            source = f"cache {key or ''}" + (f" ({restored})" if restored else "")
        elif "persistentVolumeClaim" in b:
            source = f"PersistentVolumeClaim {(b['persistentVolumeClaim'] or {}).get('claimName', '')}"
        elif "configMap" in b:
            source = f"ConfigMap {(b['configMap'] or {}).get('name', '')}"
        elif "secret" in b:
            source = f"Secret {(b['secret'] or {}).get('secretName', '')}"
        elif "volumeClaimTemplate" in b:
            source = "volumeClaimTemplate"
        elif "emptyDir" in b:
            source = "emptyDir"
        else:
            source = next((k for k in b if k not in ("name", "subPath")), "")
        rows.append({"name": b.get("name"), "source": source, "subPath": b.get("subPath")})
    return rows


def param_rows(given: list[JSON], declared: list[JSON]) -> list[JSON]:
    """Params the run passed, then declared params left at their default (marked ``default``)."""
    rows = [{"name": p.get("name"), "value": p.get("value"), "default": False} for p in given]
    names = {p.get("name") for p in given}
    for d in declared:
        if d.get("name") not in names and "default" in d:
            rows.append({"name": d.get("name"), "value": d.get("default"), "default": True})
    return rows


def _step_rows(status: JSON) -> list[JSON]:
    rows = []
    for s in status.get("steps") or []:
        if "terminated" in s:
            t = s["terminated"] or {}
            state = "Succeeded" if t.get("exitCode") == 0 else "Failed"
            reason = s.get("terminationReason") or t.get("reason")
            span = {"startTime": t.get("startedAt"), "completionTime": t.get("finishedAt")}
        elif "running" in s:
            state, reason = "Running", "Running"
            span = {"startTime": (s["running"] or {}).get("startedAt")}
        else:
            state, reason = "Pending", ((s.get("waiting") or {}).get("reason") or "Waiting")
            span = {}
        rows.append(
            {
                "name": s.get("name"),
                "container": s.get("container") or f"step-{s.get('name')}",
                "status": state,
                "reason": reason,
                "exitCode": (s.get("terminated") or {}).get("exitCode"),
                "startTime": span.get("startTime"),
                "duration": duration_seconds(span) if span.get("startTime") else None,
            }
        )
    return rows


def run_detail(cluster: Cluster, kind: str, name: str, namespace: str) -> JSON:
    obj = cluster.store.get(kind, name, namespace)
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    out: JSON = {
        "summary": summary(obj),
        "annotations": {
            k: v
            for k, v in ((obj["metadata"].get("annotations") or {}).items())
            if not k.startswith("chains.tekton.dev/")
        },
        "results": [{"name": r.get("name"), "value": r.get("value")} for r in status.get("results") or []],
        "workspaces": workspace_rows(
            spec.get("workspaces") or [],
            cluster.store.list(
                "PersistentVolumeClaim", namespace, label_selector=f"tekton.dev/pipelineRun={name}"
            ).items
            if kind == "PipelineRun"
            else None,
        ),
        "conditions": status.get("conditions") or [],
    }
    if kind == "PipelineRun":
        declared = (pipeline_spec(obj) or {}).get("params") or []
        children = [
            c
            for child_kind in ("TaskRun", "PipelineRun", "CustomRun")
            for c in cluster.store.list(
                child_kind, namespace, label_selector=f"tekton.dev/pipelineRun={name}"
            ).items
            if any(
                o.get("uid") == obj["metadata"].get("uid") for o in c["metadata"].get("ownerReferences") or []
            )
        ]
        out["graph"] = build_graph(obj, children)
        out["children"] = sorted(
            (summary(c) for c in children), key=lambda s: (s.get("startTime") or "~", s.get("name") or "")
        )
        out["skippedTasks"] = status.get("skippedTasks") or []
    else:
        task_spec = status.get("taskSpec") or spec.get("taskSpec") or {}
        declared = task_spec.get("params") or []
        out["steps"] = _step_rows(status)
        out["podName"] = status.get("podName")
        out["retries"] = [
            {
                "status": status_word({"status": r}),
                "reason": next(iter(c.get("reason") for c in r.get("conditions") or []), None),
            }
            for r in status.get("retriesStatus") or []
        ]
    out["params"] = param_rows(spec.get("params") or [], declared)
    return out
