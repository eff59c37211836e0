"""The ``Succeeded`` condition and Tekton's exact reason strings, in one table.

Both reconcilers mark runs through these helpers, so status looks exactly like Tekton's.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]


class TaskRunReason:
    STARTED = "Started"
    RUNNING = "Running"
    PENDING = "TaskRunPending"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TO_BE_RETRIED = "ToBeRetried"
    CANCELLED = "TaskRunCancelled"
    TIMEOUT = "TaskRunTimeout"
    RESOLVING_TASK_REF = "ResolvingTaskRef"
    RESOLVING_STEP_ACTION_REF = "ResolvingStepActionRef"
    IMAGE_PULL_FAILED = "TaskRunImagePullFailed"
    RESULT_TOO_LARGE = "TaskRunResultLargerThanAllowedLimit"
    STOP_SIDECAR_FAILED = "TaskRunStopSidecarFailed"
    INVALID_PARAM_VALUE = "InvalidParamValue"
    RESOLUTION_FAILED = "TaskRunResolutionFailed"
    VALIDATION_FAILED = "TaskRunValidationFailed"
    TASK_VALIDATION_FAILED = "TaskValidationFailed"
    FAILURE_IGNORED = "FailureIgnored"
    PARAMETER_MISSING = "ParameterMissing"
    PARAMETER_TYPE_MISMATCH = "ParameterTypeMismatch"
    OBJECT_PARAM_MISSING_KEYS = "ObjectParameterMissKeys"
    PARAM_ARRAY_INDEXING_INVALID = "ParamArrayIndexingInvalid"
    COULDNT_GET_TASK = "CouldntGetTask"
    EXECUTION_FAILED = "TaskRunExecutionFailed"


class PipelineRunReason:
    STARTED = "Started"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    PENDING = "PipelineRunPending"
    TIMEOUT = "PipelineRunTimeout"
    STOPPING = "PipelineRunStopping"
    CANCELLED_RUNNING_FINALLY = "CancelledRunningFinally"
    STOPPED_RUNNING_FINALLY = "StoppedRunningFinally"
    COULDNT_GET_PIPELINE = "CouldntGetPipeline"
    INVALID_BINDINGS = "InvalidWorkspaceBindings"
    INVALID_TASKRUN_SPEC = "InvalidTaskRunSpecs"
    PARAMETER_TYPE_MISMATCH = "ParameterTypeMismatch"
    OBJECT_PARAM_MISSING_KEYS = "ObjectParameterMissKeys"
    PARAM_ARRAY_INDEXING_INVALID = "ParamArrayIndexingInvalid"
    COULDNT_GET_TASK = "CouldntGetTask"
    PARAMETER_MISSING = "ParameterMissing"
    VALIDATION_FAILED = "PipelineValidationFailed"
    INVALID_GRAPH = "PipelineInvalidGraph"
    INVALID_MATRIX_PARAM_TYPES = "InvalidMatrixParameterTypes"
    INVALID_RESULT_REFERENCE = "InvalidTaskResultReference"
    REQUIRED_WORKSPACE_MARKED_OPTIONAL = "RequiredWorkspaceMarkedOptional"
    RESOLVING_PIPELINE_REF = "ResolvingPipelineRef"
    CREATE_RUN_FAILED = "CreateRunFailed"
    CEL_EVALUATION_FAILED = "CELEvaluationFailed"
    INVALID_PARAM_VALUE = "InvalidParamValue"


USER_ERROR = "[User error] "

# A label the store indexes for every run (derived from its status, never stored in the object), so
# "failed runs" is an indexed query: `tektite get pr -l tektite.dev/status=Failed`.
STATUS_LABEL = "tektite.dev/status"
# the label selector of runs not finished yet (the store indexes STATUS_LABEL, see status_word)
UNFINISHED = f"{STATUS_LABEL} in (Pending,Running)"
_CANCELLED = frozenset({TaskRunReason.CANCELLED, PipelineRunReason.CANCELLED, "PipelineRunCancelled"})
_TIMED_OUT = frozenset({TaskRunReason.TIMEOUT, PipelineRunReason.TIMEOUT})
_PENDING = frozenset({TaskRunReason.PENDING, PipelineRunReason.PENDING})

# Reasons that mean "a user made a mistake"; Tekton prefixes their message.
USER_ERROR_REASONS = frozenset(
    {
        "ParameterMissing",
        "ParameterTypeMismatch",
        "ObjectParameterMissKeys",
        "ParamArrayIndexingInvalid",
        "InvalidWorkspaceBindings",
        "InvalidTaskRunSpecs",
        "PipelineValidationFailed",
        "PipelineInvalidGraph",
        "InvalidMatrixParameterTypes",
        "InvalidTaskResultReference",
        "RequiredWorkspaceMarkedOptional",
        "InvalidParamValue",
        "TaskRunValidationFailed",
        "TaskValidationFailed",
        "CouldntGetTask",
        "CouldntGetPipeline",
    }
)


def now() -> str:
    """RFC 3339 UTC timestamp at second precision, as Kubernetes writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(ts: str | None) -> datetime | None:
    if not ts:
        return None
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def get_condition(obj: JSON, type_: str = "Succeeded") -> JSON | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def set_condition(
    status: JSON, status_value: str, reason: str, message: str = "", type_: str = "Succeeded"
) -> None:
    """Set the condition, keeping ``lastTransitionTime`` when the status does not change."""
    conds = status.setdefault("conditions", [])
    old = next((c for c in conds if c.get("type") == type_), None)
    if (
        reason in USER_ERROR_REASONS
        and status_value == "False"
        and message
        and not message.startswith(USER_ERROR)
    ):
        message = USER_ERROR + message
    new = {
        "type": type_,
        "status": status_value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now(),
    }
    if old is not None:
        if old.get("status") == status_value:
            new["lastTransitionTime"] = old.get("lastTransitionTime", new["lastTransitionTime"])
        conds[conds.index(old)] = new
    else:
        conds.append(new)
        if len(conds) > 1:  # knative keeps conditions sorted by type (Succeeded, TrustedResourcesVerified)
            conds.sort(key=lambda c: str(c.get("type", "")))
    if not message:
        new.pop("message")


def is_done(obj: JSON) -> bool:
    cond = get_condition(obj)
    return bool(cond and cond.get("status") in ("True", "False"))


def succeeded(obj: JSON) -> bool:
    cond = get_condition(obj)
    return bool(cond and cond.get("status") == "True")


def reason_of(obj: JSON) -> str | None:
    cond = get_condition(obj)
    return cond.get("reason") if cond else None


_LONGEST = 63
_HEAD = _LONGEST - 32


def child_name(parent: str, suffix: str) -> str:
    """knative ``kmeta.ChildName``: ``parent+suffix`` kept within 63 characters with an md5."""
    if len(parent) > _LONGEST - len(suffix):
        if _HEAD - len(suffix) <= 0:
            digest = hashlib.md5((parent + suffix).encode(), usedforsecurity=False).hexdigest()
            ret = parent[:_HEAD] + digest
            if (d := _LONGEST - len(ret)) > 0:
                ret += suffix[:d]
            return ret.rstrip("-")
        digest = hashlib.md5(parent.encode(), usedforsecurity=False).hexdigest()
        return f"{parent[: _HEAD - len(suffix)]}{digest}{suffix}"
    return parent + suffix


def status_word(obj: JSON) -> str:
    """``Pending``, ``Running``, ``Succeeded``, ``Failed``, ``Cancelled`` or ``TimedOut``."""
    cond = get_condition(obj)
    if cond is None:
        return "Pending"
    reason = cond.get("reason") or ""
    if cond.get("status") == "True":
        return "Succeeded"
    if cond.get("status") == "False":
        if reason in _CANCELLED:
            return "Cancelled"
        if reason in _TIMED_OUT:
            return "TimedOut"
        return "Failed"
    return "Pending" if reason in _PENDING else "Running"
