"""The engine's event handling: an event that arrives after a newer one for the same run is old news.

The Chains watcher writes from its own thread, so its events reach the engine's loop through
``call_soon_threadsafe``; the engine's own writes are handled at once. A finalizer Chains adds to a
running TaskRun just before the engine writes the run's end is therefore handled after that end.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest

from tektite.controller.cluster import Cluster
from tektite.controller.manager import Engine
from tektite.controller.rerun import REUSE_TASKRUN, REUSED_TASKRUN
from tektite.executor import get_executor
from tektite.store.base import Event

JSON = dict[str, Any]
KEY = ("TaskRun", "default", "build")


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine(Cluster(tmp_path / "home"), get_executor("process", None))


def taskrun(done: bool) -> JSON:
    obj: JSON = {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {
            "name": "build",
            "namespace": "default",
            "uid": "u-1",
            "finalizers": ["chains.tekton.dev"],
        },
        "spec": {"taskSpec": {"steps": [{"image": "busybox", "script": "true"}]}},
        "status": {"conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Running"}]},
    }
    if done:
        obj["status"] = copy.deepcopy(obj["status"])
        obj["status"]["conditions"][0].update(status="True", reason="Succeeded")
    return obj


def test_an_older_event_handled_after_the_runs_end_does_not_start_it_again(engine: Engine) -> None:
    engine._writing = KEY  # the engine's own end write, handled as it is written
    engine._handle_event(Event("MODIFIED", taskrun(done=True), 7))
    engine._writing = None
    assert KEY not in engine.queued
    engine._handle_event(Event("MODIFIED", taskrun(done=False), 6))  # Chains' finalizer, late
    assert KEY not in engine.queued and KEY not in engine._seen


def test_newer_events_still_count_and_a_deleted_run_stays_deleted(engine: Engine) -> None:
    engine._handle_event(Event("MODIFIED", taskrun(done=False), 3))
    assert KEY in engine.queued and engine._seen[KEY]["status"]["conditions"][0]["reason"] == "Running"
    engine._handle_event(Event("DELETED", taskrun(done=False), 9))
    assert KEY not in engine._seen
    engine._handle_event(Event("MODIFIED", taskrun(done=False), 8))  # from before the deletion
    assert KEY not in engine._seen


def test_a_reused_taskrun_keeps_its_annotation_when_chains_wrote_it_first(
    engine: Engine, tmp_path: Path
) -> None:
    """A rerun from failure's TaskRun that reuses an old one says so (tektite.dev/reused-taskrun),
    even when the Chains watcher added its finalizer after the engine read it: the write then
    conflicts, and its retry must still carry the annotation."""
    store = engine.store
    old = store.create(taskrun(done=True))
    old = store.update({**old, "status": {**old["status"], "taskSpec": old["spec"]["taskSpec"]}})
    new = copy.deepcopy(taskrun(done=False))
    new["metadata"].update(name="build-2", uid="u-2", finalizers=[], annotations={REUSE_TASKRUN: "build"})
    new.pop("status")
    read = store.create(new)
    store.update({**read, "metadata": {**read["metadata"], "finalizers": ["chains.tekton.dev"]}})  # Chains

    key = ("TaskRun", "default", "build-2")
    run_dir = tmp_path / "run"
    reused = asyncio.run(engine._reuse_taskrun(read, key, old["spec"]["taskSpec"], None, run_dir))

    assert reused
    stored = store.get("TaskRun", "build-2", "default")
    assert stored["metadata"]["annotations"][REUSED_TASKRUN] == "build"
    assert stored["metadata"]["finalizers"] == ["chains.tekton.dev"]  # Chains' write is kept
    assert stored["status"]["conditions"][0]["status"] == "True"
