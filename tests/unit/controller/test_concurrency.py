"""Concurrency groups: a key with a limit; queued runs wait pending with the reason, or older ones are cancelled."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tektite.controller.cluster import Cluster
from tektite.controller.concurrency import Concurrency, Group, decide, group_for, parse_configmap_entry
from tektite.controller.manager import Engine
from tektite.core.conditions import get_condition
from tektite.errors import ValidationError
from tektite.executor import select_executor


def pr(
    name: str, created: str, *, started: bool = False, done: bool = False, spec_status: str | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if started:
        status["startTime"] = created
        status["conditions"] = [{"type": "Succeeded", "status": "True" if done else "Unknown", "reason": "x"}]
    spec: dict[str, Any] = {"pipelineRef": {"name": "deploy"}}
    if spec_status:
        spec["status"] = spec_status
    return {
        "kind": "PipelineRun",
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": spec,
        "status": status,
    }


def test_group_from_annotations_pipeline_and_configmap() -> None:
    run = pr("a", "t1")
    assert group_for(run, None, {}) is None
    pipeline = {
        "metadata": {
            "annotations": {"tektite.dev/concurrency-key": "prod", "tektite.dev/concurrency-limit": "2"}
        }
    }
    assert group_for(run, pipeline, {}) == Group("prod", 2, "queue")
    run["metadata"]["annotations"] = {"tektite.dev/concurrency-policy": "cancel-in-progress"}
    assert group_for(run, pipeline, {}) == Group("prod", 2, "cancel-in-progress")
    assert group_for(pr("b", "t1"), None, {"deploy": "limit=3"}) == Group("deploy", 3, "queue")
    assert parse_configmap_entry("deploy", "key=k,policy=cancel-in-progress") == Group(
        "k", 1, "cancel-in-progress"
    )


def test_bad_settings_say_what_was_expected() -> None:
    run = pr("a", "t1")
    run["metadata"]["annotations"] = {
        "tektite.dev/concurrency-key": "k",
        "tektite.dev/concurrency-limit": "zero",
    }
    with pytest.raises(ValidationError, match="a positive integer"):
        group_for(run, None, {})
    with pytest.raises(ValidationError, match="queue or cancel-in-progress"):
        parse_configmap_entry("deploy", "policy=fifo")


def test_queue_waits_for_running_and_older_queued_runs() -> None:
    group = Group("k", 1)
    running = pr("r", "t1", started=True)
    older_waiting = pr("w", "t2")
    me = pr("me", "t3")
    decision = decide(me, group, [running, older_waiting, me])
    assert not decision.start
    assert 'concurrency key "k"' in decision.message and "1 running (r)" in decision.message
    assert "1 queued ahead" in decision.message
    assert decide(older_waiting, group, [older_waiting, me]).start  # first in line, nothing running
    assert not decide(me, group, [pr("same-second", "t3"), me]).start  # creation order, not names
    assert not decide(me, group, [older_waiting, me]).start  # the older one goes first
    finished = pr("r", "t1", started=True, done=True)
    assert decide(me, Group("k", 2), [finished, running, me]).start
    # a pending or cancelled run does not hold the line
    assert decide(me, group, [pr("p", "t0", spec_status="PipelineRunPending"), me]).start
    assert decide(me, group, [pr("c", "t0", spec_status="Cancelled"), me]).start


def test_cancel_in_progress_cancels_older_beyond_the_limit() -> None:
    peers = [pr("a", "t1", started=True), pr("b", "t2", started=True), pr("c", "t3")]
    me = pr("me", "t4")
    assert decide(me, Group("k", 1, "cancel-in-progress"), [*peers, me]).cancel == ["a", "b", "c"]
    assert decide(me, Group("k", 2, "cancel-in-progress"), [*peers, me]).cancel == ["a", "b"]
    assert decide(me, Group("k", 2, "cancel-in-progress"), [*peers, me]).start


def pipeline(policy: str) -> dict[str, Any]:
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "Pipeline",
        "metadata": {
            "name": "deploy",
            "namespace": "default",
            "annotations": {"tektite.dev/concurrency-key": "prod", "tektite.dev/concurrency-policy": policy},
        },
        "spec": {
            "tasks": [
                {"name": "t", "taskSpec": {"steps": [{"name": "s", "image": "busybox", "script": "sleep 1"}]}}
            ]
        },
    }


def new_run(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"pipelineRef": {"name": "deploy"}},
    }


async def _until(check: Any, what: str) -> None:
    for _ in range(600):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_engine_queues_the_second_run_until_the_first_finishes(tmp_path: Path) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        cluster = Cluster(tmp_path)
        executor, _ = select_executor("process")
        engine = Engine(cluster, executor)
        Concurrency(cluster).attach(engine)
        await engine.start()
        try:
            cluster.create(pipeline("queue"))
            cluster.create(new_run("first"))
            await _until(
                lambda: (cluster.get("PipelineRun", "first").get("status") or {}).get("startTime"),
                "first to start",
            )
            cluster.create(new_run("second"))
            await _until(
                lambda: (
                    (get_condition(cluster.get("PipelineRun", "second")) or {}).get("reason")
                    == "PipelineRunPending"
                ),
                "second to be pending",
            )
            waiting = cluster.get("PipelineRun", "second")
            first = await engine.wait("PipelineRun", "first")
            second = await engine.wait("PipelineRun", "second")
            return waiting, first, second
        finally:
            await engine.stop()
            cluster.close()

    waiting, first, second = asyncio.run(scenario())
    cond = get_condition(waiting) or {}
    assert cond["status"] == "Unknown"
    assert 'concurrency key "prod"' in cond["message"] and "first" in cond["message"]
    assert not (waiting.get("status") or {}).get("startTime")
    assert (get_condition(first) or {})["reason"] == "Succeeded"
    assert (get_condition(second) or {})["reason"] == "Succeeded"
    assert second["status"]["startTime"] >= first["status"]["completionTime"]


def test_engine_cancels_the_older_run_in_progress(tmp_path: Path) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        cluster = Cluster(tmp_path)
        executor, _ = select_executor("process")
        engine = Engine(cluster, executor)
        Concurrency(cluster).attach(engine)
        await engine.start()
        try:
            cluster.create(pipeline("cancel-in-progress"))
            cluster.create(new_run("old"))
            await _until(
                lambda: (cluster.get("PipelineRun", "old").get("status") or {}).get("startTime"),
                "old to start",
            )
            cluster.create(new_run("new"))
            return await engine.wait("PipelineRun", "old"), await engine.wait("PipelineRun", "new")
        finally:
            await engine.stop()
            cluster.close()

    old, new = asyncio.run(scenario())
    assert (get_condition(old) or {})["reason"] == "Cancelled"
    assert "newer run new" in old["metadata"]["annotations"]["tektite.dev/cancelled-by"]
    assert (get_condition(new) or {})["reason"] == "Succeeded"
