"""TaskRun status transitions, as Tekton writes them. Pure: status in, status out.

The manager calls :func:`start_status` before running a pod, :func:`step_status` for each
live container update, and :func:`finish` with the executor's result; ``finish`` says whether
the run is done or is retried.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tektite.api.params import ResultSpec
from tektite.controller.config import Config
from tektite.core.conditions import TaskRunReason as R
from tektite.core.conditions import now, set_condition
from tektite.core.durations import format_duration
from tektite.core.substitution import Substituter
from tektite.executor.plan import ContainerState, PodResult

JSON = dict[str, Any]
ON_ERROR_ANNOTATION = "pipeline.tekton.dev/pipeline-task-on-error"
RUNNING_MESSAGE = "Not all Steps in the Task have finished executing"


def _copy(status: JSON) -> JSON:
    """A copy of ``status`` that this module may change: the top level and the lists it edits in
    place (conditions, steps, sidecars); what it never edits (``taskSpec``...) stays shared, so a
    step update does not copy the whole Task spec."""
    out = dict(status)
    for key in ("conditions", "steps", "sidecars"):
        if key in out:
            out[key] = list(out[key])
    return out


def pending_status(status: JSON) -> JSON:
    status = _copy(status)
    set_condition(status, "Unknown", R.PENDING, "TaskRun is pending")
    return status


def fail(status: JSON, reason: str, message: str, *, started: bool = True) -> JSON:
    status = _copy(status)
    if started:
        status.setdefault("startTime", now())
    status["completionTime"] = now()
    set_condition(status, "False", reason, message)
    return status


def start_status(
    status: JSON,
    *,
    pod_name: str,
    task_spec: JSON,
    config: Config,
    ref_source: JSON | None,
    step_names: list[str],
    sidecar_names: list[str],
) -> JSON:
    status = _copy(status)
    status.setdefault("startTime", now())
    status["podName"] = pod_name
    status["taskSpec"] = task_spec
    status["steps"] = [
        {"name": n, "container": f"step-{n}", "waiting": {"reason": "PodInitializing"}} for n in step_names
    ]
    if sidecar_names:
        status["sidecars"] = [
            {"name": n, "container": f"sidecar-{n}", "waiting": {"reason": "PodInitializing"}}
            for n in sidecar_names
        ]
    if config.flag("enable-provenance-in-status"):
        prov: JSON = {"featureFlags": _flags_for_provenance(config)}
        if ref_source:
            prov["refSource"] = ref_source
        status["provenance"] = prov
    set_condition(status, "Unknown", R.RUNNING, RUNNING_MESSAGE)
    return status


def _flags_for_provenance(config: Config) -> JSON:
    """``status.provenance.featureFlags``: Tekton's FeatureFlags struct, field for field (a copy of
    what was worked out for this config; every run records it)."""
    flags = config.memo.get("provenance-flags")
    if flags is None:
        flags = config.memo["provenance-flags"] = _provenance_flags(config)
    return dict(flags)


def _provenance_flags(config: Config) -> JSON:
    f = config.flags

    def on(key: str) -> bool:
        return f.get(key, "").strip().lower() == "true"

    return {
        "DisableAffinityAssistant": on("disable-affinity-assistant"),
        "DisableCredsInit": on("disable-creds-init"),
        "RunningInEnvWithInjectedSidecars": on("running-in-environment-with-injected-sidecars"),
        "RequireGitSSHSecretKnownHosts": on("require-git-ssh-secret-known-hosts"),
        "EnableTektonOCIBundles": on("enable-tekton-oci-bundles"),
        "ScopeWhenExpressionsToTask": False,
        "EnableAPIFields": f.get("enable-api-fields", "beta"),
        "SendCloudEventsForRuns": on("send-cloudevents-for-runs"),
        "AwaitSidecarReadiness": on("await-sidecar-readiness"),
        "EnforceNonfalsifiability": f.get("enforce-nonfalsifiability", "none"),
        "EnableKeepPodOnCancel": on("keep-pod-on-cancel"),
        "VerificationNoMatchPolicy": f.get("trusted-resources-verification-no-match-policy", "ignore"),
        "EnableProvenanceInStatus": on("enable-provenance-in-status"),
        "ResultExtractionMethod": f.get("results-from", "termination-message"),
        "MaxResultSize": config.max_result_size,
        "SetSecurityContext": on("set-security-context"),
        "Coschedule": f.get("coschedule", "workspaces"),
        "EnableCELInWhenExpression": on("enable-cel-in-whenexpression"),
        "EnableStepActions": on("enable-step-actions"),
        "EnableParamEnum": on("enable-param-enum"),
        "EnableArtifacts": on("enable-artifacts"),
    }


def container_state_json(state: ContainerState) -> JSON:
    out: JSON = {"name": state.name, "container": state.container}
    if state.image_id:
        out["imageID"] = state.image_id
    if state.phase == "running":
        out["running"] = {"startedAt": state.started_at or now()}
    else:
        term: JSON = {
            "exitCode": state.exit_code if state.exit_code is not None else 0,
            "reason": state.reason or ("Completed" if not state.exit_code else "Error"),
        }
        if state.started_at:
            term["startedAt"] = state.started_at
        term["finishedAt"] = state.finished_at or now()
        if state.message:
            term["message"] = state.message
        out["terminated"] = term
        if state.termination_reason:
            out["terminationReason"] = state.termination_reason
    if state.results:
        out["results"] = [{"name": k, "type": "string", "value": v} for k, v in sorted(state.results.items())]
    for direction in ("inputs", "outputs"):
        if state.artifacts and state.artifacts.get(direction):
            out[direction] = state.artifacts[direction]
    return out


def step_status(status: JSON, state: ContainerState) -> JSON:
    status = _copy(status)
    key = "steps" if state.kind == "step" else "sidecars"
    entries = status.setdefault(key, [])
    new = container_state_json(state)
    for i, e in enumerate(entries):
        if e.get("container") == state.container:
            entries[i] = new
            break
    else:
        entries.append(new)
    return status


@dataclass
class Finish:
    status: JSON
    retry: bool = False


def _typed(value: str, spec: ResultSpec | None) -> Any:
    kind = spec.effective_type if spec else "string"
    if kind == "string":
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    if kind == "array" and isinstance(parsed, list):
        return [v if isinstance(v, str) else json.dumps(v) for v in parsed]
    if kind == "object" and isinstance(parsed, dict):
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in parsed.items()}
    return None


def collect_results(
    raw: dict[str, str],
    declared: list[ResultSpec],
    result_values: list[JSON],
    steps: list[ContainerState],
    limit: int,
) -> tuple[list[JSON], str | None]:
    """Task results from ``/tekton/results`` files and ``value: $(steps.s.results.r)`` declarations.

    Returns (results, error message if one is too large or malformed)."""
    by_name = {r.name: r for r in declared}
    step_tree = {"steps": {s.name: {"results": dict(s.results)} for s in steps}}
    step_tree["steps"].update({f"step-{s.name}": {"results": dict(s.results)} for s in steps})
    values = dict(raw)
    sub = Substituter(step_tree)
    for rv in result_values:
        v = rv.get("value")
        resolved = sub.value(v) if isinstance(v, str) else sub.apply(v)
        if isinstance(resolved, str) and "$(steps." in resolved:
            continue
        values[rv["name"]] = resolved if isinstance(resolved, str) else json.dumps(resolved)
    out: list[JSON] = []
    for name in sorted(values):  # Tekton's results come sorted by name (the results folder, read in order)
        value = values[name]
        if len(value.encode()) > limit:
            return out, (
                f'Result "{name}" exceeded the maximum allowed limit: {len(value.encode())} bytes, '
                f"the limit is {limit} bytes (feature-flags max-result-size)"
            )
        spec = by_name.get(name)
        typed = _typed(value, spec)
        if typed is None:
            return out, (
                f'Result "{name}" is declared as {spec.effective_type if spec else "string"} but its '
                f"value is not valid JSON of that type: {value[:80]!r}"
            )
        out.append({"name": name, "type": spec.effective_type if spec else "string", "value": typed})
    return out, None


def finish(
    tr: JSON,
    status: JSON,
    result: PodResult,
    raw_results: dict[str, str],
    declared: list[ResultSpec],
    result_values: list[JSON],
    config: Config,
    timeout: float | None,
) -> Finish:
    """Final status of one attempt, or a retry."""
    status = _copy(status)
    name = tr["metadata"]["name"]
    spec = tr.get("spec") or {}
    for st in result.steps + result.sidecars:
        status = step_status(status, st)
    artifacts: JSON = {}
    for st in result.steps:
        for direction in ("inputs", "outputs"):
            artifacts.setdefault(direction, []).extend((st.artifacts or {}).get(direction) or [])
    if any(artifacts.values()):
        status["artifacts"] = {k: v for k, v in artifacts.items() if v}
    results, result_error = collect_results(
        raw_results, declared, result_values, result.steps, config.max_result_size
    )
    if results:
        status["results"] = results
    failed_step = next(
        (s for s in result.steps if s.termination_reason in ("Error", "TimeoutExceeded")), None
    )
    if result.cancelled:
        message = f'TaskRun "{name}" was cancelled. {spec.get("statusMessage") or ""}'.rstrip()
        reason, state, msg = R.CANCELLED, "False", message
    elif result.timed_out:
        reason, state = R.TIMEOUT, "False"
        msg = f'TaskRun "{name}" failed to finish within "{format_duration(timeout or 0)}"'
    elif result.error:
        reason, state, msg = R.FAILED, "False", result.error
    elif result_error:
        reason, state, msg = (
            R.RESULT_TOO_LARGE if "exceeded" in result_error else R.FAILED,
            "False",
            result_error,
        )
    elif failed_step is not None:
        reason, state = R.FAILED, "False"
        if failed_step.termination_reason == "TimeoutExceeded":
            msg = f'"{failed_step.container}" exited because the step exceeded the specified timeout limit'
        else:
            msg = f'"{failed_step.container}" exited with code {failed_step.exit_code}'
        if failed_step.message:
            msg += f": {failed_step.message}"
    else:
        reason, state, msg = R.SUCCEEDED, "True", "All Steps have completed executing"
    retries = int(spec.get("retries") or 0)
    attempts = len(status.get("retriesStatus") or [])
    if state == "False" and reason != R.CANCELLED and attempts < retries:
        set_condition(status, "False", reason, msg)
        status["completionTime"] = now()
        return Finish(status, retry=True)
    if (
        state == "False"
        and reason not in (R.CANCELLED,)
        and (tr["metadata"].get("annotations") or {}).get(ON_ERROR_ANNOTATION) == "continue"
    ):
        reason = R.FAILURE_IGNORED
    status["completionTime"] = now()
    set_condition(status, state, reason, msg)
    return Finish(status)


def retry_status(status: JSON) -> JSON:
    """Move the failed attempt into ``retriesStatus`` and reset for the next one."""
    previous = {k: v for k, v in status.items() if k not in ("retriesStatus", "taskSpec", "provenance")}
    fresh: JSON = {k: status[k] for k in ("taskSpec", "provenance") if k in status}
    fresh["retriesStatus"] = [*(status.get("retriesStatus") or []), previous]
    set_condition(fresh, "Unknown", R.TO_BE_RETRIED, "")
    return fresh
