"""CustomRuns (``tekton.dev/v1beta1``): the Custom Tasks the engine runs itself.

A pipeline task whose ``taskRef`` has an ``apiVersion`` (or whose ``taskSpec`` embeds an
``apiVersion``/``kind``) becomes a CustomRun, as in Tekton (``pipelines.md`` "Using Custom Tasks",
``customruns.md``). Tekton leaves a CustomRun to the controller of its kind; so does tektite for
kinds it does not know: such a CustomRun has no status until that controller, talking to tektite's
Kubernetes-style API, writes one. The PipelineRun waits on its ``Succeeded`` condition, reads its
``status.results``, and cancels it (``spec.status: RunCancelled``) on a timeout or cancellation.

Built in: Tekton's **Wait** task (``wait.testing.tekton.dev/v1beta1``, kind ``Wait``; the "Wait Task
Beta" of pipelines.md's known Custom Tasks). It succeeds once its ``duration`` param (a Go
duration) has elapsed, and follows the CustomRun contract: ``timeout`` bounds each attempt
(``CustomRunTimedOut``), ``retries`` re-run a timed-out attempt (each recorded in
``status.retriesStatus``), and ``spec.status: RunCancelled`` ends it (``CustomRunCancelled``).

Built in too: **Approval** (``tektite.dev/v1alpha1``, kind ``Approval``), a manual approval gate.
It waits until ``numberOfApprovalsRequired`` (default 1) distinct people among ``approvers`` (any
one, when empty) approve it, or one of them rejects it. ``tektite customrun approve|reject NAME``
records a decision in the annotation ``tektite.dev/approvals`` (a JSON list of ``{name, decision,
message, time}``), which this controller reads; result ``approvedBy`` lists who approved.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from tektite.core.conditions import get_condition, now, parse_time, set_condition
from tektite.core.durations import DurationError, parse_duration

__all__ = [
    "APPROVAL",
    "APPROVALS_ANNOTATION",
    "WAIT",
    "approval_params",
    "decisions",
    "handles",
    "reconcile",
    "target",
]

JSON = dict[str, Any]

WAIT = ("wait.testing.tekton.dev", "Wait")
APPROVAL = ("tektite.dev", "Approval")
APPROVALS_ANNOTATION = "tektite.dev/approvals"
CANCELLED = "RunCancelled"


def target(obj: JSON) -> tuple[str, str]:
    """The Custom Task a CustomRun runs: (API group, kind), from ``customRef`` or ``customSpec``."""
    spec = obj.get("spec") or {}
    ref = spec.get("customRef") or spec.get("customSpec") or {}
    group = str(ref.get("apiVersion") or "").split("/")[0]
    return group, str(ref.get("kind") or "")


def handles(obj: JSON) -> bool:
    """Whether the engine reconciles this CustomRun (a built-in Custom Task)."""
    return obj.get("kind") == "CustomRun" and target(obj) in (WAIT, APPROVAL)


def _seconds(ts: str | None) -> float | None:
    parsed = parse_time(ts)
    return parsed.timestamp() if parsed is not None else None


def _failed(status: JSON, reason: str, message: str) -> JSON:
    status["completionTime"] = now()
    set_condition(status, "False", reason, message)
    return status


def _timeout(spec: JSON) -> float | None:
    """``spec.timeout`` in seconds (0: none), or ``None`` when it is not a duration."""
    try:
        return parse_duration(str(spec["timeout"])) if spec.get("timeout") else 0.0
    except DurationError:
        return None


def _bad_timeout(status: JSON, spec: JSON) -> JSON:
    return _failed(status, "InvalidTimeout", f"spec.timeout {spec.get('timeout')!r} is not a duration")


def _duration(spec: JSON) -> tuple[float | None, str]:
    """The ``duration`` param in seconds, or ``None`` and what is wrong with the params."""
    params = {p.get("name"): p.get("value") for p in spec.get("params") or [] if isinstance(p, dict)}
    unexpected = sorted(str(k) for k in params if k != "duration")
    if unexpected:
        return None, f'the Wait task takes one param, "duration"; found also {", ".join(unexpected)}'
    value = params.get("duration")
    if not isinstance(value, str) or not value:
        return None, 'the Wait task needs the param "duration" (a duration such as "10s" or "1m30s")'
    try:
        return parse_duration(value), ""
    except DurationError:
        return None, f'param "duration": {value!r} is not a duration; expected one such as "10s" or "1m30s"'


def reconcile(obj: JSON, now_ts: float) -> tuple[JSON | None, float | None]:
    """One look at a built-in CustomRun: its new status (``None``: unchanged) and in how many
    seconds to look again (``None``: not before something changes)."""
    spec = obj.get("spec") or {}
    cond = get_condition(obj)
    if cond is not None and cond.get("status") in ("True", "False"):
        return None, None
    status = copy.deepcopy(obj.get("status") or {})
    if spec.get("status") == CANCELLED:
        message = spec.get("statusMessage") or f'CustomRun "{obj["metadata"]["name"]}" was cancelled'
        status.setdefault("startTime", now())
        return _failed(status, "CustomRunCancelled", message), None
    if target(obj) == APPROVAL:
        return _approval(obj, spec, status, now_ts)
    return _wait(obj, spec, status, now_ts)


def _wait(obj: JSON, spec: JSON, status: JSON, now_ts: float) -> tuple[JSON | None, float | None]:
    if spec.get("customSpec") is not None and (spec["customSpec"].get("spec") or {}):
        return _failed(
            status, "InvalidSpec", 'the Wait task takes no spec; give it the param "duration"'
        ), None
    wait, problem = _duration(spec)
    if wait is None:
        return _failed(status, "InvalidParams", problem), None
    timeout = _timeout(spec)
    if timeout is None:
        return _bad_timeout(status, spec), None
    started = _seconds(status.get("startTime"))
    if started is None:
        status["startTime"] = now()
        set_condition(status, "Unknown", "Running", f"waiting for {spec_duration(spec)}")
        return status, min(wait, timeout) if timeout else wait
    elapsed = now_ts - started
    if timeout and elapsed >= timeout and timeout < wait:
        attempts = len(status.get("retriesStatus") or [])
        message = f'CustomRun "{obj["metadata"]["name"]}" failed to finish within "{spec["timeout"]}"'
        if attempts < int(spec.get("retries") or 0):
            done = _failed(copy.deepcopy(status), "CustomRunTimedOut", message)
            done.pop("retriesStatus", None)
            status["retriesStatus"] = [*(status.get("retriesStatus") or []), done]
            status["startTime"] = now()
            set_condition(
                status, "Unknown", "Running", f"retry {attempts + 1}: waiting for {spec_duration(spec)}"
            )
            return status, timeout
        return _failed(status, "CustomRunTimedOut", message), None
    if elapsed >= wait:
        status["completionTime"] = now()
        set_condition(status, "True", "DurationElapsed", f"waited {spec_duration(spec)}")
        return status, None
    remaining = wait - elapsed
    if timeout and timeout < wait:
        remaining = min(remaining, timeout - elapsed)
    return None, max(remaining, 0.0)


def approval_params(spec: JSON) -> tuple[list[str], int, str, str]:
    """(approvers, approvals required, description, what is wrong or "")."""
    params = {p.get("name"): p.get("value") for p in spec.get("params") or [] if isinstance(p, dict)}
    unexpected = sorted(
        str(k) for k in params if k not in ("approvers", "numberOfApprovalsRequired", "description")
    )
    if unexpected:
        return (
            [],
            0,
            "",
            f"unknown params {', '.join(unexpected)}; expected approvers, numberOfApprovalsRequired, description",
        )
    approvers = params.get("approvers") or []
    if isinstance(approvers, str):
        approvers = [a.strip() for a in approvers.split(",") if a.strip()]
    if not isinstance(approvers, list) or not all(isinstance(a, str) for a in approvers):
        return [], 0, "", 'param "approvers" must be an array of names'
    raw = params.get("numberOfApprovalsRequired", "1")
    try:
        required = int(str(raw))
    except ValueError:
        required = 0
    if required < 1 or (approvers and required > len(set(approvers))):
        most = f" and at most {len(set(approvers))} (the approvers named)" if approvers else ""
        return [], 0, "", f'param "numberOfApprovalsRequired" is {raw!r}; expected a number from 1{most}'
    description = params.get("description") or ""
    return list(dict.fromkeys(approvers)), required, str(description), ""


def decisions(obj: JSON) -> list[JSON]:
    """The decisions recorded on an Approval CustomRun (its ``tektite.dev/approvals`` annotation)."""
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(APPROVALS_ANNOTATION)
    try:
        found = json.loads(text) if text else []
    except ValueError:
        return []
    return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []


def _approval(obj: JSON, spec: JSON, status: JSON, now_ts: float) -> tuple[JSON | None, float | None]:
    approvers, required, description, problem = approval_params(spec)
    if problem:
        return _failed(status, "InvalidParams", problem), None
    timeout = _timeout(spec)
    if timeout is None:
        return _bad_timeout(status, spec), None
    first = "startTime" not in status
    status.setdefault("startTime", now())
    counted = [d for d in decisions(obj) if not approvers or d.get("name") in approvers]
    rejected = next((d for d in counted if d.get("decision") == "reject"), None)
    if rejected is not None:
        why = f": {rejected['message']}" if rejected.get("message") else ""
        return _failed(status, "Rejected", f"rejected by {rejected.get('name')}{why}"), None
    approved = list(dict.fromkeys(str(d.get("name")) for d in counted if d.get("decision") == "approve"))
    if len(approved) >= required:
        status["completionTime"] = now()
        status["results"] = [{"name": "approvedBy", "value": ",".join(approved)}]
        set_condition(status, "True", "Approved", f"approved by {', '.join(approved)}")
        return status, None
    started = _seconds(status.get("startTime")) or now_ts
    if timeout and now_ts - started >= timeout:
        return _failed(status, "CustomRunTimedOut", f"no decision within {spec['timeout']}"), None
    who = ", ".join(approvers) if approvers else "anyone"
    message = f"waiting for {required - len(approved)} more approval(s) from {who}"
    if description:
        message += f": {description}"
    cond = get_condition({"status": status}) or {}
    changed = first or cond.get("message") != message
    if changed:
        set_condition(status, "Unknown", "WaitingForApproval", message)
    return (status if changed else None), (max(timeout - (now_ts - started), 0.0) if timeout else None)


def spec_duration(spec: JSON) -> str:
    return next(str(p.get("value")) for p in spec.get("params") or [] if p.get("name") == "duration")
