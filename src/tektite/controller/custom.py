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
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from tektite.core.conditions import get_condition, now, set_condition
from tektite.core.durations import DurationError, parse_duration

__all__ = ["WAIT", "handles", "reconcile", "target"]

JSON = dict[str, Any]

WAIT = ("wait.testing.tekton.dev", "Wait")
CANCELLED = "RunCancelled"


def target(obj: JSON) -> tuple[str, str]:
    """The Custom Task a CustomRun runs: (API group, kind), from ``customRef`` or ``customSpec``."""
    spec = obj.get("spec") or {}
    ref = spec.get("customRef") or spec.get("customSpec") or {}
    group = str(ref.get("apiVersion") or "").split("/")[0]
    return group, str(ref.get("kind") or "")


def handles(obj: JSON) -> bool:
    """Whether the engine reconciles this CustomRun (a built-in Custom Task)."""
    return obj.get("kind") == "CustomRun" and target(obj) == WAIT


def _seconds(ts: str | None) -> float | None:
    if not ts:
        return None
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def _failed(status: JSON, reason: str, message: str) -> JSON:
    status["completionTime"] = now()
    set_condition(status, "False", reason, message)
    return status


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
    """One look at a Wait CustomRun: its new status (``None``: unchanged) and in how many seconds
    to look again (``None``: not before something changes)."""
    spec = obj.get("spec") or {}
    old = obj.get("status") or {}
    cond = get_condition(obj)
    if cond is not None and cond.get("status") in ("True", "False"):
        return None, None
    status = copy.deepcopy(old)
    if spec.get("status") == CANCELLED:
        message = spec.get("statusMessage") or f'CustomRun "{obj["metadata"]["name"]}" was cancelled'
        status.setdefault("startTime", now())
        return _failed(status, "CustomRunCancelled", message), None
    if spec.get("customSpec") is not None and (spec["customSpec"].get("spec") or {}):
        return _failed(
            status, "InvalidSpec", 'the Wait task takes no spec; give it the param "duration"'
        ), None
    wait, problem = _duration(spec)
    if wait is None:
        return _failed(status, "InvalidParams", problem), None
    try:
        timeout = parse_duration(str(spec["timeout"])) if spec.get("timeout") else 0.0
    except DurationError:
        return _failed(
            status, "InvalidTimeout", f"spec.timeout {spec.get('timeout')!r} is not a duration"
        ), None
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


def spec_duration(spec: JSON) -> str:
    return next(str(p.get("value")) for p in spec.get("params") or [] if p.get("name") == "duration")
