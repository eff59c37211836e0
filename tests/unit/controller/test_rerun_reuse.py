"""Rerun from failure, the pure parts: which old TaskRuns a new run may reuse, and when it may."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from tektite.controller.config import Config
from tektite.controller.pipelinerun import reconcile
from tektite.controller.rerun import (
    REUSE_PIPELINERUN,
    REUSE_TASKRUN,
    inputs,
    rerun_object,
    reusable_taskruns,
    reused_status,
    why_not_reused,
)
from tektite.errors import TektiteError

JSON = dict[str, Any]
STEP = {"image": "busybox", "script": "echo"}
SPEC: JSON = {
    "tasks": [
        {"name": "a", "taskSpec": {"steps": [STEP]}},
        {
            "name": "m",
            "taskSpec": {"params": [{"name": "x"}], "steps": [STEP]},
            "matrix": {"params": [{"name": "x", "value": ["1", "2", "3"]}]},
        },
    ],
    "finally": [{"name": "f", "taskSpec": {"steps": [STEP]}}],
}


def pipelinerun(name: str, uid: str, **annotations: str) -> JSON:
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": "ns", "uid": uid, "annotations": annotations},
        "spec": {"pipelineSpec": SPEC},
        "status": {},
    }


def finished(child: JSON, ok: bool = True) -> JSON:
    child = copy.deepcopy(child)
    child["status"] = {
        "conditions": [
            {
                "type": "Succeeded",
                "status": "True" if ok else "False",
                "reason": "Succeeded" if ok else "Failed",
            }
        ],
        "taskSpec": child["spec"].get("taskSpec"),
        "results": [{"name": "r", "type": "string", "value": "v"}],
        "startTime": "2026-12-01T10:00:00Z",
    }
    return child


def old_children() -> list[JSON]:
    """run1's children: a succeeded, m's second combination failed, finally f succeeded."""
    first = reconcile(pipelinerun("run1", "u-1"), SPEC, [], Config(), time.time())
    made = {c["metadata"]["name"]: c for c in first.create}
    assert sorted(made) == ["run1-a", "run1-m-0", "run1-m-1", "run1-m-2"]
    out = [finished(c, ok=name != "run1-m-1") for name, c in made.items()]
    last = reconcile({**pipelinerun("run1", "u-1"), "status": first.status}, SPEC, out, Config(), time.time())
    return [*out, finished(last.create[0])]


def test_reusable_taskruns_keep_the_combination_order_and_leave_out_failures_and_finally() -> None:
    found = reusable_taskruns(list(reversed(old_children())))
    assert found == {"a": ["run1-a"], "m": ["run1-m-0", None, "run1-m-2"]}


def test_the_new_runs_taskruns_name_the_old_ones_to_reuse_and_only_those() -> None:
    new = pipelinerun("run2", "u-2", **{REUSE_PIPELINERUN: "run1"})
    out = reconcile(new, SPEC, [], Config(), time.time(), reuse=reusable_taskruns(old_children()))
    notes = {c["metadata"]["name"]: c["metadata"]["annotations"] for c in out.create}
    assert {n: a.get(REUSE_TASKRUN) for n, a in notes.items()} == {
        "run2-a": "run1-a",
        "run2-m-0": "run1-m-0",
        "run2-m-1": None,  # failed before: runs
        "run2-m-2": "run1-m-2",
    }
    assert all(REUSE_PIPELINERUN not in a for a in notes.values())  # the PipelineRun's own note


def test_a_taskrun_reuses_only_a_success_with_the_same_task_and_inputs() -> None:
    [old, *_] = old_children()
    new = copy.deepcopy(old)
    new["metadata"]["name"] = "run2-a"
    new["spec"]["timeout"] = "59m58s"  # what was left of the pipeline's: not an input
    new["spec"]["workspaces"] = [{"name": "src", "persistentVolumeClaim": {"claimName": "pvc-new"}}]
    old["spec"]["workspaces"] = [{"name": "src", "persistentVolumeClaim": {"claimName": "pvc-old"}}]
    task_spec = old["status"]["taskSpec"]
    assert why_not_reused(new, task_spec, old) is None

    assert (
        why_not_reused(new, {**task_spec, "steps": [{**STEP, "script": "fixed"}]}, old) == "its Task changed"
    )
    for field, value in (
        ("params", [{"name": "x", "value": "other"}]),
        ("serviceAccountName", "deployer"),
        ("podTemplate", {"env": [{"name": "A", "value": "b"}]}),
        ("workspaces", [{"name": "src", "subPath": "elsewhere", "emptyDir": {}}]),
    ):
        changed = copy.deepcopy(new)
        changed["spec"][field] = value
        assert why_not_reused(changed, task_spec, old) == "its inputs changed", field
        assert inputs(changed) != inputs(old)
    assert why_not_reused(new, task_spec, finished(old, ok=False)) == "the TaskRun to reuse did not succeed"
    assert why_not_reused(new, task_spec, None) == "the TaskRun to reuse is gone"


def test_a_reused_status_is_the_old_one_and_says_so() -> None:
    [old, *_] = old_children()
    status = reused_status(old)
    assert status["results"] == old["status"]["results"]
    assert status["startTime"] == old["status"]["startTime"]
    [cond] = status["conditions"]
    assert (cond["status"], cond["reason"]) == ("True", "Succeeded")
    assert cond["message"].startswith('Reused TaskRun "run1-a"')
    assert old["status"]["conditions"][0].get("message") is None  # the old run is not changed


def test_rerun_object_from_failure_needs_a_finished_pipelinerun() -> None:
    done = finished(pipelinerun("run1", "u-1") | {"spec": {"pipelineSpec": SPEC}})
    new = rerun_object(done, from_failure=True)
    assert new["metadata"]["annotations"][REUSE_PIPELINERUN] == "run1"
    assert new["metadata"]["generateName"] == "run1-r-"
    assert REUSE_PIPELINERUN not in (rerun_object(done)["metadata"].get("annotations") or {})
    again = rerun_object(
        {**new, "metadata": {**new["metadata"], "name": "run1-r-x"}, "status": done["status"]}
    )
    assert REUSE_PIPELINERUN not in (again.get("metadata", {}).get("annotations") or {})  # not carried on

    with pytest.raises(TektiteError, match="has not finished"):
        rerun_object(pipelinerun("run1", "u-1"), from_failure=True)
    taskrun = {"kind": "TaskRun", "metadata": {"name": "t"}, "spec": {}, "status": done["status"]}
    with pytest.raises(TektiteError, match="rerun a TaskRun without --from-failure"):
        rerun_object(taskrun, from_failure=True)
