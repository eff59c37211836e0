"""What the dashboard says about one run: a status word, times, a duration, and who it belongs to.

The status word is one of :data:`STATUSES`; it is also the value of the :data:`STATUS_LABEL`
label the store indexes for every run, which makes "runs with status X" an indexed query.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tektite.controller.rerun import reused_taskrun
from tektite.core import conditions
from tektite.core.conditions import get_condition, parse_time

JSON = dict[str, Any]

RUN_KINDS = ("PipelineRun", "TaskRun")
STATUS_LABEL = "tektite.dev/status"
PIPELINE_LABEL = "tekton.dev/pipeline"
STATUSES = ("Pending", "Running", "Succeeded", "Failed", "Cancelled", "TimedOut")


def status_word(obj: JSON) -> str:
    """``Pending``, ``Running``, ``Succeeded``, ``Failed``, ``Cancelled`` or ``TimedOut`` (the same
    word the store indexes as ``tektite.dev/status``)."""
    return conditions.status_word(obj)


def duration_seconds(status: JSON, now: datetime | None = None) -> float | None:
    """``completionTime - startTime``; up to ``now`` while running; None before the start."""
    start = parse_time(status.get("startTime"))
    if start is None:
        return None
    end = parse_time(status.get("completionTime")) or now or datetime.now(UTC)
    return max(0.0, (end - start).total_seconds())


def pipeline_name(obj: JSON) -> str | None:
    """The Pipeline a run belongs to: Tekton's ``tekton.dev/pipeline`` label, else the pipelineRef."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if labels.get(PIPELINE_LABEL):
        return str(labels[PIPELINE_LABEL])
    if obj.get("kind") == "PipelineRun":
        ref = (obj.get("spec") or {}).get("pipelineRef") or {}
        if ref.get("name"):
            return str(ref["name"])
    return None


def task_name(obj: JSON) -> str | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if labels.get("tekton.dev/task"):
        return str(labels["tekton.dev/task"])
    ref = (obj.get("spec") or {}).get("taskRef") or {}
    return str(ref["name"]) if ref.get("name") else None


def summary(obj: JSON) -> JSON:
    """The fields the runs list shows: small, whatever the size of the run's status."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    labels = meta.get("labels") or {}
    cond = get_condition(obj) or {}
    return {
        "kind": obj.get("kind"),
        "namespace": meta.get("namespace", "default"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "created": meta.get("creationTimestamp"),
        "startTime": status.get("startTime"),
        "completionTime": status.get("completionTime"),
        "duration": duration_seconds(status),
        "status": status_word(obj),
        "reason": cond.get("reason"),
        "message": cond.get("message"),
        "pipeline": pipeline_name(obj),
        "task": task_name(obj),
        "pipelineRun": labels.get("tekton.dev/pipelineRun"),
        "pipelineTask": labels.get("tekton.dev/pipelineTask"),
        "labels": labels,
        "signed": ((meta.get("annotations") or {}).get("chains.tekton.dev/signed")),
        "reused": reused_taskrun(obj),  # a rerun from failure's TaskRun that did not run again
    }
