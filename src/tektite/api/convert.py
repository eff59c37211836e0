"""tekton.dev/v1beta1 -> tekton.dev/v1, as ``migrating-v1beta1-to-v1.md`` describes.

Works on plain JSON objects (a deep copy is converted; the input is left alone). Removed
features (PipelineResources, ``spec.resources``) are reported by validation afterwards,
because the converted object keeps those fields and v1 rejects them.
"""

from __future__ import annotations

import copy
from typing import Any

JSON = dict[str, Any]


def _rename(d: JSON, old: str, new: str) -> None:
    if old in d:
        value = d.pop(old)
        d.setdefault(new, value)


def _container(c: Any) -> None:
    if isinstance(c, dict):
        _rename(c, "resources", "computeResources")


def _ref(ref: Any) -> None:
    """``taskRef.bundle`` -> the bundles resolver."""
    if isinstance(ref, dict) and "bundle" in ref:
        bundle = ref.pop("bundle")
        params = [{"name": "bundle", "value": bundle}]
        if "name" in ref:
            params.append({"name": "name", "value": ref.pop("name")})
        params.append({"name": "kind", "value": str(ref.pop("kind", "Task")).lower()})
        ref["resolver"] = "bundles"
        ref["params"] = params


def _task_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        return
    for step in spec.get("steps") or []:
        _container(step)
    for sc in spec.get("sidecars") or []:
        _container(sc)
    _container(spec.get("stepTemplate"))


def _pipeline_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        return
    for pt in [*(spec.get("tasks") or []), *(spec.get("finally") or [])]:
        if not isinstance(pt, dict):
            continue
        _ref(pt.get("taskRef"))
        _task_spec(pt.get("taskSpec"))
        _pipeline_spec(pt.get("pipelineSpec"))


def _overrides(spec: JSON) -> None:
    _rename(spec, "stepOverrides", "stepSpecs")
    _rename(spec, "sidecarOverrides", "sidecarSpecs")
    for key in ("stepSpecs", "sidecarSpecs"):
        for item in spec.get(key) or []:
            if isinstance(item, dict):
                _rename(item, "resources", "computeResources")


def _taskrun_status(status: Any) -> None:
    if isinstance(status, dict):
        _rename(status, "taskResults", "results")
        status.pop("resourcesResult", None)
        if "taskSpec" in status:
            _task_spec(status["taskSpec"])


def _pipelinerun_status(status: Any) -> None:
    if isinstance(status, dict):
        _rename(status, "pipelineResults", "results")
        status.pop("taskRuns", None)
        status.pop("runs", None)
        if "pipelineSpec" in status:
            _pipeline_spec(status["pipelineSpec"])


def v1beta1_to_v1(obj: JSON) -> JSON:
    """Convert one tekton.dev/v1beta1 object to tekton.dev/v1."""
    out = copy.deepcopy(obj)
    kind = out.get("kind")
    spec = out.get("spec")
    if not isinstance(spec, dict):
        spec = {}
    if "resources" in spec and not spec["resources"]:
        del spec["resources"]  # an empty PipelineResources stanza: nothing to convert
    if kind == "ClusterTask":
        out["kind"] = "Task"
        out["apiVersion"] = "tekton.dev/v1beta1"
    if kind in ("Task", "ClusterTask"):
        _task_spec(spec)
    elif kind == "Pipeline":
        _pipeline_spec(spec)
    elif kind == "TaskRun":
        _ref(spec.get("taskRef"))
        _task_spec(spec.get("taskSpec"))
        _overrides(spec)
        _taskrun_status(out.get("status"))
    elif kind == "PipelineRun":
        _ref(spec.get("pipelineRef"))
        _pipeline_spec(spec.get("pipelineSpec"))
        template: JSON = {}
        if "serviceAccountName" in spec:
            template["serviceAccountName"] = spec.pop("serviceAccountName")
        if "podTemplate" in spec:
            template["podTemplate"] = spec.pop("podTemplate")
        if template:
            spec.setdefault("taskRunTemplate", {}).update(template)
        if "timeout" in spec:
            spec.setdefault("timeouts", {}).setdefault("pipeline", spec.pop("timeout"))
        for trs in spec.get("taskRunSpecs") or []:
            if isinstance(trs, dict):
                _rename(trs, "taskServiceAccountName", "serviceAccountName")
                _rename(trs, "taskPodTemplate", "podTemplate")
                _overrides(trs)
        _pipelinerun_status(out.get("status"))
    elif kind == "StepAction":
        pass
    out["apiVersion"] = "tekton.dev/v1"
    return out
