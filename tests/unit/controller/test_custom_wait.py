"""The built-in Wait Custom Task (controller/custom.py) against the CustomRun contract: status on
start, success when the duration has elapsed, a timeout per attempt with retries, cancellation,
and clear failures for bad params."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tektite.controller import custom
from tektite.core.conditions import get_condition

JSON = dict[str, Any]
T0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def wait_run(duration: Any = "10s", **spec: Any) -> JSON:
    params = [] if duration is None else [{"name": "duration", "value": duration}]
    return {
        "apiVersion": "tekton.dev/v1beta1",
        "kind": "CustomRun",
        "metadata": {"name": "pause", "namespace": "default"},
        "spec": {
            "customRef": {"apiVersion": "wait.testing.tekton.dev/v1beta1", "kind": "Wait"},
            "params": params,
            **spec,
        },
    }


def started(obj: JSON, seconds_ago: float) -> JSON:
    obj = copy.deepcopy(obj)
    start = datetime.fromtimestamp(T0 - seconds_ago, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    obj["status"] = {
        "startTime": start,
        "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Running"}],
    }
    return obj


def condition(status: JSON | None) -> tuple[str, str]:
    c = get_condition({"status": status}) or {}
    return c.get("status", ""), c.get("reason", "")


def test_only_wait_runs_are_the_engines() -> None:
    assert custom.handles(wait_run())
    embedded = wait_run()
    embedded["spec"] = {"customSpec": {"apiVersion": "wait.testing.tekton.dev/v1beta1", "kind": "Wait"}}
    assert custom.handles(embedded)
    other = wait_run()
    other["spec"]["customRef"] = {"apiVersion": "example.dev/v1beta1", "kind": "Example"}
    assert not custom.handles(other)


def test_a_wait_starts_running_and_asks_to_be_seen_when_its_duration_is_up() -> None:
    status, later = custom.reconcile(wait_run("1m30s"), T0)
    assert condition(status) == ("Unknown", "Running") and status and status["startTime"]
    assert later == 90


def test_a_wait_succeeds_once_its_duration_has_elapsed() -> None:
    status, later = custom.reconcile(started(wait_run("10s"), 4), T0)
    assert status is None and later == pytest.approx(6)
    status, later = custom.reconcile(started(wait_run("10s"), 10), T0)
    assert condition(status) == ("True", "DurationElapsed") and later is None
    assert status and status["completionTime"]


def test_a_timeout_is_per_attempt_and_retries_record_each_attempt() -> None:
    run = wait_run("1m", timeout="5s", retries=1)
    status, later = custom.reconcile(started(run, 5), T0)
    assert status is not None and condition(status) == ("Unknown", "Running") and later == 5
    [attempt] = status["retriesStatus"]
    assert (
        condition(attempt) == ("False", "CustomRunTimedOut") and '"5s"' in attempt["conditions"][0]["message"]
    )
    again = copy.deepcopy(run)
    again["status"] = {**status, "startTime": started(run, 5)["status"]["startTime"]}
    status, later = custom.reconcile(again, T0)
    assert condition(status) == ("False", "CustomRunTimedOut") and later is None
    assert status and len(status["retriesStatus"]) == 1


def test_a_cancelled_wait_ends_cancelled_with_the_message_it_was_given() -> None:
    run = started(wait_run("1h", status="RunCancelled", statusMessage="PipelineRun timed out"), 3)
    status, later = custom.reconcile(run, T0)
    assert condition(status) == ("False", "CustomRunCancelled") and later is None
    assert status and status["conditions"][0]["message"] == "PipelineRun timed out"


def test_a_finished_wait_is_left_alone() -> None:
    done = started(wait_run("1s"), 5)
    done["status"]["conditions"] = [{"type": "Succeeded", "status": "True", "reason": "DurationElapsed"}]
    assert custom.reconcile(done, T0) == (None, None)


@pytest.mark.parametrize(
    ("run", "reason", "says"),
    [
        (wait_run(None), "InvalidParams", 'needs the param "duration"'),
        (wait_run("soon"), "InvalidParams", "'soon' is not a duration"),
        (wait_run(["1s"]), "InvalidParams", 'needs the param "duration"'),
        (
            {
                **wait_run(),
                "spec": {
                    **wait_run()["spec"],
                    "params": [{"name": "duration", "value": "1s"}, {"name": "x", "value": "y"}],
                },
            },
            "InvalidParams",
            "found also x",
        ),
        (wait_run("1s", timeout="never"), "InvalidTimeout", "'never' is not a duration"),
    ],
)
def test_bad_params_fail_the_run_saying_what_is_wrong(run: JSON, reason: str, says: str) -> None:
    status, later = custom.reconcile(run, T0)
    assert condition(status) == ("False", reason) and later is None
    assert status and says in status["conditions"][0]["message"]


# -- the Approval gate ----------------------------------------------------------------------------


def approval_run(decided: list[JSON] | None = None, **params: Any) -> JSON:
    obj: JSON = {
        "apiVersion": "tekton.dev/v1beta1",
        "kind": "CustomRun",
        "metadata": {"name": "gate", "namespace": "default", "annotations": {}},
        "spec": {
            "customRef": {"apiVersion": "tektite.dev/v1alpha1", "kind": "Approval"},
            "params": [{"name": k, "value": v} for k, v in params.items()],
        },
    }
    if decided is not None:
        obj["metadata"]["annotations"]["tektite.dev/approvals"] = json.dumps(decided)
    return obj


def test_an_approval_waits_saying_for_whom() -> None:
    run = approval_run(approvers=["alice", "bob", "carol"], numberOfApprovalsRequired="2", description="prod")
    status, later = custom.reconcile(run, T0)
    assert condition(status) == ("Unknown", "WaitingForApproval") and later is None
    assert (
        status
        and status["conditions"][0]["message"]
        == "waiting for 2 more approval(s) from alice, bob, carol: prod"
    )


def test_enough_distinct_approvers_approve_it_and_others_do_not_count() -> None:
    decided = [
        {"name": "alice", "decision": "approve"},
        {"name": "mallory", "decision": "approve"},  # not an approver
        {"name": "alice", "decision": "approve"},  # counted once
    ]
    params = {"approvers": ["alice", "bob"], "numberOfApprovalsRequired": "2"}
    status, _ = custom.reconcile(approval_run(decided, **params), T0)
    assert condition(status) == ("Unknown", "WaitingForApproval")
    status, _ = custom.reconcile(
        approval_run([*decided, {"name": "bob", "decision": "approve"}], **params), T0
    )
    assert condition(status) == ("True", "Approved")
    assert status and status["results"] == [{"name": "approvedBy", "value": "alice,bob"}]


def test_one_rejection_fails_it_with_the_reason() -> None:
    decided = [{"name": "bob", "decision": "reject", "message": "not on a Friday"}]
    status, _ = custom.reconcile(approval_run(decided, approvers=["alice", "bob"]), T0)
    assert condition(status) == ("False", "Rejected")
    assert status and status["conditions"][0]["message"] == "rejected by bob: not on a Friday"


def test_without_approvers_anyone_may_decide_and_a_timeout_ends_the_wait() -> None:
    status, _ = custom.reconcile(approval_run([{"name": "dave", "decision": "approve"}]), T0)
    assert condition(status) == ("True", "Approved")
    waiting = approval_run()
    waiting["spec"]["timeout"] = "1h"
    waiting["status"] = started(waiting, 3600)["status"]
    status, _ = custom.reconcile(waiting, T0)
    assert condition(status) == ("False", "CustomRunTimedOut")


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"approvers": ["a"], "numberOfApprovalsRequired": "2"}, "expected a number from 1 and at most 1"),
        ({"numberOfApprovalsRequired": "many"}, "'many'"),
        ({"approvers": [1, 2]}, "must be an array of names"),
        ({"quorum": "2"}, "unknown params quorum"),
    ],
)
def test_bad_approval_params_fail_it(params: JSON, says: str) -> None:
    status, _ = custom.reconcile(approval_run(**params), T0)
    assert condition(status) == ("False", "InvalidParams")
    assert status and says in status["conditions"][0]["message"]
