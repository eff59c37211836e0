"""Tekton's defaulting webhook (``SetDefaults``): what Tekton fills in when a run is created, so
stored runs, their status and the provenance made from them look as they do on a cluster.

- TaskRun: ``spec.timeout`` (``default-timeout-minutes``), ``spec.serviceAccountName``
  (``default-service-account``), the ``app.kubernetes.io/managed-by`` label;
- PipelineRun: ``spec.timeouts.pipeline``, ``spec.taskRunTemplate.serviceAccountName``, the label;
- every param declaration gets its ``type`` (inferred from properties or the default, else
  ``string``) and object properties ``type: string``; every result gets its ``type``;
- a ``taskRef`` by name gets ``kind: Task``.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]
MANAGED_BY = "app.kubernetes.io/managed-by"


def _param_specs(params: Any) -> None:
    for p in params or []:
        if not isinstance(p, dict):
            continue
        if not p.get("type"):
            if p.get("properties") is not None:
                p["type"] = "object"
            elif isinstance(p.get("default"), list):
                p["type"] = "array"
            elif isinstance(p.get("default"), dict):
                p["type"] = "object"
            else:
                p["type"] = "string"
        for key, prop in list((p.get("properties") or {}).items()):
            if not isinstance(prop, dict) or not prop.get("type"):
                p["properties"][key] = {"type": "string"}


def _results(results: Any) -> None:
    for r in results or []:
        if not isinstance(r, dict):
            continue
        if not r.get("type"):
            r["type"] = "object" if r.get("properties") is not None else "string"
        for key, prop in list((r.get("properties") or {}).items()):
            if not isinstance(prop, dict) or not prop.get("type"):
                r["properties"][key] = {"type": "string"}


def _task_ref(ref: Any) -> None:
    if (
        isinstance(ref, dict)
        and ref.get("name")
        and not ref.get("resolver")
        and not ref.get("kind")
        and not ref.get("apiVersion")
    ):
        ref["kind"] = "Task"


def task_spec(spec: Any) -> None:
    if not isinstance(spec, dict) or spec.get("kind") or spec.get("apiVersion"):
        return  # a custom task's embedded spec is not Tekton's to default
    _param_specs(spec.get("params"))
    _results(spec.get("results"))
    for step in spec.get("steps") or []:
        if isinstance(step, dict):
            _results(step.get("results"))


def pipeline_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        return
    _param_specs(spec.get("params"))
    for pt in [*(spec.get("tasks") or []), *(spec.get("finally") or [])]:
        if not isinstance(pt, dict):
            continue
        _task_ref(pt.get("taskRef"))
        task_spec(pt.get("taskSpec"))
        pipeline_spec(pt.get("pipelineSpec"))


def set_defaults(obj: JSON, *, timeout: str, service_account: str, managed_by: str) -> None:
    """Apply Tekton's defaults to ``obj`` in place. ``timeout`` is a Go duration ("1h0m0s")."""
    kind = obj.get("kind")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    # Tasks and Pipelines are stored as written (so `kubectl apply` of the same file is
    # "unchanged"); their defaults are applied where Tekton records them: status.taskSpec and
    # status.pipelineSpec (see task_spec/pipeline_spec).
    if kind == "TaskRun":
        spec.setdefault("timeout", timeout)
        if not spec.get("serviceAccountName"):
            spec["serviceAccountName"] = service_account
        _task_ref(spec.get("taskRef"))
        task_spec(spec.get("taskSpec"))
        obj.setdefault("metadata", {}).setdefault("labels", {}).setdefault(MANAGED_BY, managed_by)
    elif kind == "PipelineRun":
        timeouts = spec.setdefault("timeouts", {})
        if timeouts.get("pipeline") is None:
            timeouts["pipeline"] = timeout
        template = spec.setdefault("taskRunTemplate", {})
        if not template.get("serviceAccountName"):
            template["serviceAccountName"] = service_account
        pipeline_spec(spec.get("pipelineSpec"))
        obj.setdefault("metadata", {}).setdefault("labels", {}).setdefault(MANAGED_BY, managed_by)
