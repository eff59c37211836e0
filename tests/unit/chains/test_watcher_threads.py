"""The watcher's threads: the engine hook, the store poller, closing (draining) and the work queue."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from test_watcher import ann, cluster, failing_backend, finished_taskrun, get, make_watcher, taskrun_body

from tektite.chains import annotations as A
from tektite.chains.lease import Lease
from tektite.chains.storage import BACKENDS, StorageContext, StorageItem
from tektite.chains.workqueue import WorkQueue
from tektite.controller.cluster import Cluster
from tektite.core.conditions import set_condition

__all__ = ["cluster", "failing_backend"]


class FakeEngine:
    def __init__(self) -> None:
        self.finished_hooks: list[Callable[[Any], Any]] = []

    def finish(self, obj: Any) -> None:
        for hook in self.finished_hooks:
            hook(obj)


def eventually(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.02)


def signed(cluster: Cluster, name: str) -> bool:
    obj = cluster.store.try_get("TaskRun", name, "default")
    return obj is not None and ann(obj).get(A.SIGNED) == "true"


def test_attached_to_an_engine_it_signs_what_finishes(cluster: Cluster) -> None:
    engine = FakeEngine()
    watcher = make_watcher(cluster, poll_interval=0.02)
    watcher.attach(engine)
    try:
        assert engine.finished_hooks == [watcher.on_finished]
        eventually(lambda: watcher.lease.held(), "the watcher holds the lease")
        engine.finish(finished_taskrun(cluster))
        eventually(lambda: signed(cluster, "build"), "the run is signed")
    finally:
        assert watcher.close() == 0
    assert Lease(cluster.store, "next").try_acquire()  # close released the lease


def test_the_poller_adds_finalizers_and_signs_runs_written_by_others(cluster: Cluster) -> None:
    watcher = make_watcher(cluster, poll_interval=0.02)
    watcher.start()
    try:
        cluster.store.create(taskrun_body("later", done=False))
        eventually(
            lambda: get(cluster, "TaskRun", "later")["metadata"].get("finalizers") == ["chains.tekton.dev"],
            "the finalizer is added",
        )
        done = taskrun_body("later")
        current = get(cluster, "TaskRun", "later")
        current["status"] = done["status"]
        cluster.store.update(current)  # "the engine" finishes it: no hook here, only the event log
        eventually(lambda: signed(cluster, "later"), "the run is signed")
        assert "finalizers" not in get(cluster, "TaskRun", "later")["metadata"]
    finally:
        watcher.close()


def test_start_scans_runs_that_finished_while_no_watcher_ran(cluster: Cluster) -> None:
    for i in range(3):
        finished_taskrun(cluster, name=f"old-{i}")
    watcher = make_watcher(cluster, poll_interval=0.02)
    watcher.start()
    try:
        eventually(lambda: all(signed(cluster, f"old-{i}") for i in range(3)), "every old run is signed")
    finally:
        watcher.close()


def test_close_finishes_retries_without_waiting_for_the_backoff(
    cluster: Cluster, failing_backend: Callable[..., list[str]]
) -> None:
    failing_backend("registry down")
    watcher = make_watcher(cluster, poll_interval=0.02)
    watcher.start()
    eventually(lambda: watcher.lease.held(), "the watcher holds the lease")
    finished_taskrun(cluster)
    eventually(lambda: A.RETRIES in ann(get(cluster, "TaskRun", "build")), "the first attempt failed")
    assert watcher.close(timeout=20) == 0
    assert ann(get(cluster, "TaskRun", "build"))[A.SIGNED] == "failed"


def test_a_run_queued_again_while_it_is_being_signed_is_signed_once(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The poller and the engine hook both queue a finished run. When the second comes while the
    first is being signed (a slow registry push), the batch has not marked the run yet: it must not
    sign it again (a second, different ECDSA signature on the image)."""
    engine = FakeEngine()
    watcher = make_watcher(cluster, poll_interval=0.02)
    stored: list[str] = []

    class SlowRegistry:
        name = "tekton"

        def store(self, item: StorageItem, ctx: StorageContext) -> None:
            stored.append(item.short_key)
            if len(stored) == 1:  # the engine's completion hook fires while the push is under way
                engine.finish(get(cluster, "TaskRun", "build"))

    monkeypatch.setitem(BACKENDS, "tekton", lambda env: SlowRegistry())
    watcher.attach(engine)
    try:
        eventually(lambda: watcher.lease.held(), "the watcher holds the lease")
        finished_taskrun(cluster)  # the poller queues it from the event log
        eventually(lambda: signed(cluster, "build"), "the run is signed")
    finally:
        assert watcher.close() == 0
    assert len(stored) == 1, stored


def test_a_follower_takes_over_when_the_leader_goes(cluster: Cluster) -> None:
    leader = make_watcher(cluster, poll_interval=0.02, identity="leader")
    follower = make_watcher(cluster, poll_interval=0.02, identity="follower", lease_duration=0.3)
    leader.start()
    eventually(lambda: leader.lease.held(), "the leader holds the lease")
    follower.start()
    try:
        time.sleep(0.2)
        assert not follower.lease.held()
        leader.close()
        eventually(lambda: follower.lease.held(), "the follower takes the lease")
        finished_taskrun(cluster)
        eventually(lambda: signed(cluster, "build"), "the follower signs")
    finally:
        follower.close()


# -- the queue ------------------------------------------------------------------------------------


def obj(rv: int) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": str(rv)}}


def test_queue_deduplicates_and_keeps_the_newest_object() -> None:
    queue = WorkQueue()
    key = ("TaskRun", "default", "a")
    queue.put(key, obj(5))
    queue.put(key, obj(7))
    queue.put(key, obj(6))
    assert len(queue) == 1
    assert queue.get(timeout=0) == (key, obj(7))
    assert queue.get(timeout=0) is None


def test_a_delayed_key_keeps_its_delay_when_queued_again() -> None:
    queue = WorkQueue()
    key = ("TaskRun", "default", "a")
    queue.put(key, None, delay=60)
    queue.put(key, obj(3))
    assert queue.get(timeout=0.01) is None
    queue.close()  # closing ignores delays: what is left comes out at once
    assert queue.get(timeout=0) == (key, obj(3))


def test_delayed_keys_come_out_in_due_order() -> None:
    queue = WorkQueue()
    queue.put(("TaskRun", "default", "late"), delay=0.05)
    queue.put(("TaskRun", "default", "soon"), delay=0.01)
    first = queue.get(timeout=5)
    second = queue.get(timeout=5)
    assert first is not None and second is not None
    assert [first[0][2], second[0][2]] == ["soon", "late"]


@pytest.mark.parametrize("hint", [None, obj(1)])
def test_closed_empty_queue_returns_none(hint: Any) -> None:
    queue = WorkQueue()
    queue.put(("TaskRun", "default", "a"), hint)
    queue.close()
    assert queue.get() is not None
    assert queue.get() is None


def test_pending_runs_are_signed_from_a_stale_hint_only_once(cluster: Cluster) -> None:
    """A poll event older than the watcher's own write is not processed again."""
    watcher = make_watcher(cluster)
    watcher._leader = True
    tr = finished_taskrun(cluster)
    watcher.process(("TaskRun", "default", "build"), tr)
    assert not watcher._interesting(tr)  # the event for the unsigned version, seen after signing
    running = taskrun_body("x", done=False)
    set_condition(running["status"], "Unknown", "Running", "")
    assert watcher._interesting(cluster.store.create(running))


def test_a_store_failure_while_marking_a_batch_does_not_stop_signing(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing the batch's marks is one transaction; when it fails (a locked or lost database) the
    runs go round again and the worker thread goes on - later runs are signed too."""
    engine = FakeEngine()
    watcher = make_watcher(cluster, poll_interval=0.02)
    real = cluster.store.patch_metadata_many
    failures: list[int] = []

    def flaky(patches: Any) -> Any:
        if not failures:
            failures.append(len(patches))
            raise RuntimeError("database is locked")
        return real(patches)

    monkeypatch.setattr(cluster.store, "patch_metadata_many", flaky)
    watcher.attach(engine)
    try:
        eventually(lambda: watcher.lease.held(), "the watcher holds the lease")
        engine.finish(finished_taskrun(cluster))
        eventually(lambda: signed(cluster, "build"), "the run is signed after the failed mark")
        later = finished_taskrun(cluster, "later")
        engine.finish(later)
        eventually(lambda: signed(cluster, "later"), "a later run is signed: the worker lives on")
    finally:
        assert watcher.close() == 0
    assert failures == [1]
