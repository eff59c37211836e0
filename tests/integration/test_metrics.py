"""``/metrics`` of a real ``tektite serve``: Tekton's metric names and labels after runs complete,
parsed by prometheus-client's own text parser."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_server_api import Served, start_server, stop_server, task, taskrun_of, trust, wait_done

TEKTON = "/apis/tekton.dev/v1/namespaces/default"
P = "tekton_pipelines_controller_"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("metrics") / "home"
    home.mkdir()
    s = start_server(home)
    try:
        yield s
    finally:
        stop_server(s)


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def scrape(served: Served) -> dict[str, list[tuple[dict[str, str], float]]]:
    with served.client(served.view) as client:
        resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    return samples(resp.text)


def test_metrics_need_a_token(served: Served) -> None:
    with httpx.Client(base_url=served.url, verify=trust(served.ca)) as anonymous:
        assert anonymous.get("/metrics").status_code == 401


def test_tekton_metrics_after_runs_complete(served: Served) -> None:
    with served.client(served.admin) as admin:
        admin.post(f"{TEKTON}/tasks", json=task("ok", "echo ok"))
        admin.post(f"{TEKTON}/tasks", json=task("broken", "exit 3"))
        admin.post(
            f"{TEKTON}/pipelines",
            json={
                "apiVersion": "tekton.dev/v1",
                "kind": "Pipeline",
                "metadata": {"name": "measured"},
                "spec": {"tasks": [{"name": "first", "taskRef": {"name": "ok"}}]},
            },
        )
        runs = [
            (
                "pipelineruns",
                {
                    "kind": "PipelineRun",
                    "metadata": {"name": "m-pr"},
                    "spec": {"pipelineRef": {"name": "measured"}},
                },
            ),
            (
                "taskruns",
                {"kind": "TaskRun", "metadata": {"name": "m-ok"}, "spec": {"taskRef": {"name": "ok"}}},
            ),
            (
                "taskruns",
                {
                    "kind": "TaskRun",
                    "metadata": {"name": "m-broken"},
                    "spec": {"taskRef": {"name": "broken"}},
                },
            ),
        ]
        for plural, body in runs:
            resp = admin.post(f"{TEKTON}/{plural}", json={"apiVersion": "tekton.dev/v1", **body})
            assert resp.status_code == 201, resp.text
        for plural, body in runs:
            wait_done(admin, f"{TEKTON}/{plural}/{body['metadata']['name']}")
    got = scrape(served)
    pr_total = {s[0]["status"]: s[1] for s in got[P + "pipelinerun_total"]}
    tr_total = {s[0]["status"]: s[1] for s in got[P + "taskrun_total"]}
    assert pr_total["success"] >= 1
    assert tr_total["success"] >= 2  # the standalone one and the pipeline's
    assert tr_total["failed"] >= 1
    pr_count = [s for s in got[P + "pipelinerun_duration_seconds_count"] if s[0]["pipeline"] == "measured"]
    assert pr_count == [({"pipeline": "measured", "namespace": "default", "status": "success"}, 1.0)]
    in_pipeline = got[P + "pipelinerun_taskrun_duration_seconds_count"]
    assert (
        {"pipeline": "measured", "task": "ok", "namespace": "default", "status": "success"},
        1.0,
    ) in in_pipeline
    standalone = {(s[0]["task"], s[0]["status"]): s[1] for s in got[P + "taskrun_duration_seconds_count"]}
    assert standalone[("ok", "success")] == 1.0
    assert standalone[("broken", "failed")] == 1.0
    assert got[P + "running_pipelineruns"] == [({}, 0.0)]
    assert got[P + "running_taskruns"] == [({}, 0.0)]


def test_running_gauge_counts_a_run_in_progress(served: Served) -> None:
    with served.client(served.admin) as admin:
        admin.post(f"{TEKTON}/tasks", json=task("sleeper", "sleep 20"))
        body = taskrun_of("sleeper", "m-sleep")
        admin.post(f"{TEKTON}/taskruns", json=body)
        for _ in range(200):
            if (admin.get(f"{TEKTON}/taskruns/m-sleep").json().get("status") or {}).get("startTime"):
                break
            time.sleep(0.1)
        assert scrape(served)[P + "running_taskruns"] == [({}, 1.0)]
        admin.patch(
            f"{TEKTON}/taskruns/m-sleep",
            json={"spec": {"status": "TaskRunCancelled"}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        wait_done(admin, f"{TEKTON}/taskruns/m-sleep")
    got = scrape(served)
    assert got[P + "running_taskruns"] == [({}, 0.0)]
    assert {s[0]["status"]: s[1] for s in got[P + "taskrun_total"]}["cancelled"] == 1.0


@pytest.mark.skipif(
    importlib.util.find_spec("tektite.chains.metrics") is None, reason="no Chains metrics module"
)
def test_chains_counters_are_exposed(served: Served) -> None:
    names = scrape(served)
    assert any(n.startswith("watcher_taskrun_") for n in names)


@pytest.mark.skipif(
    importlib.util.find_spec("tektite.triggers.metrics") is None, reason="no Triggers metrics module"
)
def test_eventlistener_counters_are_exposed(served: Served) -> None:
    with served.client(served.view) as client:
        text = client.get("/metrics").text
    families = {f.name for f in text_string_to_metric_families(text)}
    assert "eventlistener_event_received_count" in families


def test_running_gauge_keeps_the_newest_state_when_events_arrive_out_of_order(tmp_path: Path) -> None:
    """Two threads' writes reach listeners each after its own commit, so the older can come
    second: the gauge follows the newer resourceVersion."""
    from tektite.server.metrics import RUNNING_TR, RunningTracker
    from tektite.store.base import Event
    from tektite.store.sql import SQLStore

    store = SQLStore(f"sqlite:///{tmp_path / 'store.db'}")
    tracker = RunningTracker(store)
    meta = {"uid": "u-1", "name": "r", "namespace": "default"}
    queued = {"kind": "TaskRun", "metadata": {**meta, "resourceVersion": "10"}, "status": {}}
    started = {
        "kind": "TaskRun",
        "metadata": {**meta, "resourceVersion": "11"},
        "status": {"startTime": "2026-11-22T10:00:00Z"},
    }
    try:
        tracker.on_event(Event("MODIFIED", started, 11))
        tracker.on_event(Event("MODIFIED", queued, 10))  # the finalizer write, notified late
        assert RUNNING_TR._value.get() == 1.0
        tracker.on_event(Event("DELETED", {**started, "metadata": {**meta, "resourceVersion": "12"}}, 12))
        assert RUNNING_TR._value.get() == 0.0
    finally:
        store.close()


def test_running_gauge_starts_from_the_runs_in_progress_in_the_store(tmp_path: Path) -> None:
    """A server starting on a home counts the runs already in progress (it reads only the
    unfinished ones: the store's status index), not the finished or the queued ones."""
    from tektite.server.metrics import RUNNING_PR, RUNNING_TR, RunningTracker
    from tektite.store.sql import SQLStore

    store = SQLStore(f"sqlite:///{tmp_path / 'store.db'}")
    started = {"startTime": "2026-11-22T10:00:00Z"}
    running = {"conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Running"}], **started}
    done = {"conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}], **started}
    for name, status in (("a", running), ("b", running), ("c", done), ("d", {})):
        store.create({"kind": "TaskRun", "metadata": {"name": name}, "spec": {}, "status": status})
    store.create({"kind": "PipelineRun", "metadata": {"name": "p"}, "spec": {}, "status": done})
    tracker = RunningTracker(store)
    try:
        tracker.start()
        assert (RUNNING_TR._value.get(), RUNNING_PR._value.get()) == (2.0, 0.0)
    finally:
        tracker.stop()
        store.close()
