"""The PipelineRun reconciler is pure: a run and its children in, the next status and actions out."""

from __future__ import annotations

import time
from typing import Any

from tektite.controller.config import Config
from tektite.controller.pipelinerun import reconcile

JSON = dict[str, Any]

SPEC: JSON = {
    "params": [{"name": "greeting", "default": "hi $(context.pipelineRun.name)"}],
    "tasks": [
        {"name": "a", "taskSpec": {"results": [{"name": "r"}], "steps": [{"image": "x", "script": "s"}]}},
        {"name": "b", "taskRef": {"name": "t"}, "params": [{"name": "in", "value": "$(tasks.a.results.r)"}]},
        {"name": "c", "taskRef": {"name": "t"}, "params": [{"name": "g", "value": "$(params.greeting)"}]},
    ],
    "finally": [
        {"name": "f", "taskRef": {"name": "t"}, "params": [{"name": "s", "value": "$(tasks.status)"}]}
    ],
}


def pr(status: JSON | None = None, **spec: Any) -> JSON:
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": "run1", "namespace": "ns", "uid": "u-1", "labels": {"team": "x"}},
        "spec": {"pipelineSpec": SPEC, **spec},
        "status": status or {},
    }


def done(child: JSON, ok: bool = True, results: list[JSON] | None = None, reason: str | None = None) -> JSON:
    child = dict(child)
    child["status"] = {
        "conditions": [
            {
                "type": "Succeeded",
                "status": "True" if ok else "False",
                "reason": reason or ("Succeeded" if ok else "Failed"),
            }
        ],
        "results": results or [],
    }
    return child


def test_first_pass_starts_independent_tasks_with_tekton_names_labels_and_params() -> None:
    out = reconcile(pr(), SPEC, [], Config(), time.time())
    names = [c["metadata"]["name"] for c in out.create]
    assert names == ["run1-a", "run1-c"]  # b waits for a's result
    c = out.create[1]
    labels = c["metadata"]["labels"]
    assert labels["tekton.dev/pipelineRun"] == "run1" and labels["tekton.dev/pipelineTask"] == "c"
    assert labels["tekton.dev/memberOf"] == "tasks" and labels["team"] == "x"
    assert c["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert c["spec"]["params"] == [{"name": "g", "value": "hi run1"}]
    assert c["spec"]["taskRef"] == {"name": "t"}
    cond = out.status["conditions"][0]
    assert (cond["status"], cond["reason"]) == ("Unknown", "Running")
    assert cond["message"] == "Tasks Completed: 0 (Failed: 0, Cancelled 0), Incomplete: 4, Skipped: 0"


def test_results_flow_to_consumers_then_finally_then_done() -> None:
    first = reconcile(pr(), SPEC, [], Config(), time.time())
    a, c = first.create
    a = done(a, results=[{"name": "r", "value": "from-a"}])
    c = done(c)
    second = reconcile(pr(first.status), SPEC, [a, c], Config(), time.time())
    assert [x["metadata"]["name"] for x in second.create] == ["run1-b"]
    assert second.create[0]["spec"]["params"] == [{"name": "in", "value": "from-a"}]
    b = done(second.create[0])
    third = reconcile(pr(second.status), SPEC, [a, b, c], Config(), time.time())
    [f] = third.create
    assert f["metadata"]["labels"]["tekton.dev/memberOf"] == "finally"
    assert f["spec"]["params"] == [{"name": "s", "value": "Succeeded"}]
    last = reconcile(pr(third.status), SPEC, [a, b, c, done(f)], Config(), time.time())
    cond = last.status["conditions"][0]
    assert last.done and (cond["status"], cond["reason"]) == ("True", "Succeeded")
    assert cond["message"] == "Tasks Completed: 4 (Failed: 0, Cancelled 0), Skipped: 0"
    assert [r["name"] for r in last.status["childReferences"]] == ["run1-a", "run1-b", "run1-c", "run1-f"]


def test_a_failure_stops_scheduling_and_is_reported_after_finally() -> None:
    first = reconcile(pr(), SPEC, [], Config(), time.time())
    a, c = first.create
    out = reconcile(pr(first.status), SPEC, [done(a, ok=False), done(c)], Config(), time.time())
    assert [x["metadata"]["labels"]["tekton.dev/pipelineTask"] for x in out.create] == ["f"]
    assert out.create[0]["spec"]["params"] == [{"name": "s", "value": "Failed"}]
    assert out.status["skippedTasks"] == [{"name": "b", "reason": "PipelineRun was stopping"}]
    final = reconcile(
        pr(out.status), SPEC, [done(a, ok=False), done(c), done(out.create[0])], Config(), time.time()
    )
    cond = final.status["conditions"][0]
    assert (cond["status"], cond["reason"]) == ("False", "Failed")
    assert cond["message"] == "Tasks Completed: 3 (Failed: 1, Cancelled 0), Skipped: 1"


def test_timeout_cancels_running_children_and_fails_the_run() -> None:
    start = time.time() - 120
    status = {
        "startTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
        "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Running"}],
    }
    running = {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {"name": "run1-a", "labels": {"tekton.dev/pipelineTask": "a"}},
        "spec": {},
        "status": {},
    }
    out = reconcile(pr(status, timeouts={"pipeline": "1m"}), SPEC, [running], Config(), time.time())
    assert out.cancel == [
        ("TaskRun", "run1-a", "TaskRun cancelled as the PipelineRun it belongs to has timed out.")
    ]
    cond = out.status["conditions"][0]
    assert (cond["reason"], cond["message"]) == (
        "PipelineRunTimeout",
        'PipelineRun "run1" failed to finish within "1m0s"',
    )


def test_missing_required_param_is_a_user_error() -> None:
    spec = {"params": [{"name": "needed"}], "tasks": SPEC["tasks"][:1]}
    out = reconcile(pr(), spec, [], Config(), time.time())
    cond = out.status["conditions"][0]
    assert (cond["status"], cond["reason"]) == ("False", "ParameterMissing")
    assert cond["message"].startswith("[User error] ") and "needed" in cond["message"]
    assert out.create == []


def test_pending_run_waits() -> None:
    run = pr()
    run["spec"]["status"] = "PipelineRunPending"
    out = reconcile(run, SPEC, [], Config(), time.time())
    assert out.create == [] and out.status["conditions"][0]["reason"] == "PipelineRunPending"
    assert "startTime" not in out.status
