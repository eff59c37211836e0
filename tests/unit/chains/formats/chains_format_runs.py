"""Small builders for finished tekton.dev/v1 runs, shaped as the API serves them."""

from __future__ import annotations

from typing import Any

IMG1 = "docker-pullable://gcr.io/proj/builder@sha256:" + "1" * 64
IMG2 = "gcr.io/proj/pusher@sha256:" + "2" * 64
D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64
D3 = "sha256:" + "c" * 64
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def results(**values: Any) -> list[dict[str, Any]]:
    return [{"name": k, "value": v} for k, v in values.items()]


def taskrun(
    name: str = "build",
    *,
    uid: str = "tr-uid",
    results_: list[dict[str, Any]] | None = None,
    params: list[dict[str, Any]] | None = None,
    steps: list[dict[str, Any]] | None = None,
    spec_steps: list[dict[str, Any]] | None = None,
    param_specs: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    provenance: dict[str, Any] | None = None,
    task_ref: dict[str, Any] | None = None,
    sidecars: list[dict[str, Any]] | None = None,
    completed: bool = True,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "default", "uid": uid}
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    spec: dict[str, Any] = {"serviceAccountName": "default", "params": params or []}
    spec["taskRef"] = task_ref or {"name": "build-task", "kind": "Task"}
    status: dict[str, Any] = {
        "podName": f"{name}-pod",
        "startTime": "2024-05-01T10:00:00Z",
        "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
        "steps": steps
        if steps is not None
        else [
            {"name": "compile", "container": "step-compile", "imageID": IMG1},
            {"name": "push", "container": "step-push", "imageID": IMG2},
        ],
        "results": results_ or [],
        "taskSpec": {
            "params": param_specs or [],
            "steps": spec_steps
            if spec_steps is not None
            else [
                {"name": "compile", "image": "builder", "script": "make"},
                {"name": "push", "image": "pusher", "command": ["crane", "push"], "args": ["a", "b"]},
            ],
        },
    }
    if completed:
        status["completionTime"] = "2024-05-01T10:05:00Z"
    if provenance is not None:
        status["provenance"] = provenance
    if sidecars is not None:
        status["sidecars"] = sidecars
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": metadata,
        "spec": spec,
        "status": status,
    }


def child(name: str, task: str, **kwargs: Any) -> dict[str, Any]:
    return taskrun(name, labels={"tekton.dev/pipelineTask": task}, **kwargs)


def pipelinerun(
    name: str = "release",
    *,
    uid: str = "pr-uid",
    tasks: list[dict[str, Any]] | None = None,
    finally_: list[dict[str, Any]] | None = None,
    results_: list[dict[str, Any]] | None = None,
    params: list[dict[str, Any]] | None = None,
    param_specs: list[dict[str, Any]] | None = None,
    provenance: dict[str, Any] | None = None,
    pipeline_ref: dict[str, Any] | None = None,
) -> dict[str, Any]:
    pipeline_spec: dict[str, Any] = {
        "params": param_specs or [],
        "tasks": tasks if tasks is not None else [{"name": "build", "taskRef": {"name": "build-task"}}],
    }
    if finally_:
        pipeline_spec["finally"] = finally_
    status: dict[str, Any] = {
        "startTime": "2024-05-01T09:59:00Z",
        "completionTime": "2024-05-01T10:06:00Z",
        "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
        "results": results_ or [],
        "pipelineSpec": pipeline_spec,
    }
    if provenance is not None:
        status["provenance"] = provenance
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": "default", "uid": uid},
        "spec": {
            "pipelineRef": pipeline_ref or {"name": "release-pipeline"},
            "params": params or [],
            "taskRunTemplate": {"serviceAccountName": "builder"},
        },
        "status": status,
    }
