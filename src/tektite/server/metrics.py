"""Prometheus metrics with Tekton's names and label sets (``prometheus-client``, default registry).

Pipelines controller (recorded when a run finishes, through ``Engine.finished_hooks``):

- ``tekton_pipelines_controller_pipelinerun_duration_seconds`` histogram {pipeline, namespace, status}
- ``tekton_pipelines_controller_pipelinerun_taskrun_duration_seconds`` histogram
  {pipeline, task, namespace, status} - TaskRuns that belong to a PipelineRun
- ``tekton_pipelines_controller_taskrun_duration_seconds`` histogram {task, namespace, status} -
  standalone TaskRuns
- ``tekton_pipelines_controller_pipelinerun_total`` / ``..._taskrun_total`` counters {status}
- ``tekton_pipelines_controller_running_pipelineruns`` / ``..._running_taskruns`` gauges

These are Tekton's defaults (``metrics.pipelinerun.level: pipeline``, ``metrics.taskrun.level:
task``, duration type histogram, no ``reason`` label); ``status`` is ``success``, ``failed`` or
``cancelled``.

Chains' ``watcher_*`` counters live in ``tektite.chains.metrics`` (same registry) and the
EventListener counters in the triggers package; ``/metrics`` exposes the whole default registry.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from tektite.core.conditions import UNFINISHED, get_condition, is_done, parse_time
from tektite.store.base import Event, Store

JSON = dict[str, Any]
PREFIX = "tekton_pipelines_controller_"
BUCKETS = (10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 5400.0, 10800.0, 21600.0, 43200.0, 86400.0)
CANCEL_REASONS = ("Cancelled", "TaskRunCancelled", "PipelineRunCancelled")


def _registered(name: str, registry: CollectorRegistry = REGISTRY) -> Any:
    return registry._names_to_collectors.get(name)  # prometheus_client has no public lookup


def _counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
    existing = _registered(name) or _registered(name.removesuffix("_total"))
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    return Counter(name, doc, labels)


def _histogram(name: str, doc: str, labels: tuple[str, ...]) -> Histogram:
    existing = _registered(name + "_bucket")
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    return Histogram(name, doc, labels, buckets=BUCKETS)


def _gauge(name: str, doc: str) -> Gauge:
    existing = _registered(name)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    return Gauge(name, doc)


PR_DURATION = _histogram(
    PREFIX + "pipelinerun_duration_seconds",
    "The pipelinerun execution time in seconds",
    ("pipeline", "namespace", "status"),
)
PR_TR_DURATION = _histogram(
    PREFIX + "pipelinerun_taskrun_duration_seconds",
    "The pipelinerun's taskrun execution time in seconds",
    ("pipeline", "task", "namespace", "status"),
)
TR_DURATION = _histogram(
    PREFIX + "taskrun_duration_seconds",
    "The taskrun's execution time in seconds",
    ("task", "namespace", "status"),
)
PR_TOTAL = _counter(PREFIX + "pipelinerun_total", "Number of pipelineruns", ("status",))
TR_TOTAL = _counter(PREFIX + "taskrun_total", "Number of taskruns", ("status",))
RUNNING_PR = _gauge(PREFIX + "running_pipelineruns", "Number of pipelineruns executing currently")
RUNNING_TR = _gauge(PREFIX + "running_taskruns", "Number of taskruns executing currently")


def run_status(obj: JSON) -> str:
    cond = get_condition(obj) or {}
    if cond.get("status") == "True":
        return "success"
    if cond.get("reason") in CANCEL_REASONS:
        return "cancelled"
    return "failed"


def duration_seconds(obj: JSON) -> float | None:
    status = obj.get("status") or {}
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def _labels(obj: JSON) -> JSON:
    return (obj.get("metadata") or {}).get("labels") or {}


class Recorder:
    """Records durations and totals once per run (by uid), whatever calls it twice."""

    def __init__(self, memory: int = 10000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._memory = memory
        self._lock = threading.Lock()

    def _first_time(self, key: str) -> bool:
        with self._lock:
            if key in self._seen:
                return False
            self._seen[key] = None
            if len(self._seen) > self._memory:
                self._seen.popitem(last=False)
            return True

    def finished(self, obj: JSON) -> None:
        """An ``Engine.finished_hooks`` entry: a run reached a terminal condition."""
        if not is_done(obj):
            return
        meta = obj.get("metadata") or {}
        if not self._first_time(f"{obj.get('kind')}/{meta.get('uid') or meta.get('name')}"):
            return
        status = run_status(obj)
        ns = meta.get("namespace", "default")
        labels = _labels(obj)
        took = duration_seconds(obj)
        if obj.get("kind") == "PipelineRun":
            PR_TOTAL.labels(status=status).inc()
            ref = ((obj.get("spec") or {}).get("pipelineRef") or {}).get("name")
            pipeline = labels.get("tekton.dev/pipeline") or ref or meta.get("name", "")
            if took is not None:
                PR_DURATION.labels(pipeline=pipeline, namespace=ns, status=status).observe(took)
        elif obj.get("kind") == "TaskRun":
            TR_TOTAL.labels(status=status).inc()
            task = labels.get("tekton.dev/task") or labels.get("tekton.dev/pipelineTask") or "anonymous"
            if took is None:
                return
            if labels.get("tekton.dev/pipelineRun"):
                pipeline = labels.get("tekton.dev/pipeline") or labels["tekton.dev/pipelineRun"]
                PR_TR_DURATION.labels(pipeline=pipeline, task=task, namespace=ns, status=status).observe(took)
            else:
                TR_DURATION.labels(task=task, namespace=ns, status=status).observe(took)


SEEN_LIMIT = 100_000  # runs whose newest resourceVersion RunningTracker remembers


class RunningTracker:
    """Keeps the running-runs gauges current from store events (no scan at scrape time)."""

    def __init__(self, store: Store, recorder: Recorder | None = None) -> None:
        self.store = store
        self.recorder = recorder
        self.running: dict[str, set[str]] = {"TaskRun": set(), "PipelineRun": set()}
        # the newest resourceVersion seen of each run: two threads' writes can reach listeners in
        # the other order (each notifies after its commit), and an older state must not win
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        self._unsubscribe = self.store.subscribe(self.on_event)
        for kind in self.running:  # only the unfinished ones count (an indexed query: see UNFINISHED)
            for obj in self.store.list(kind, label_selector=UNFINISHED).items:
                self._update(kind, obj, deleted=False)
        self._publish()

    def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None

    def on_event(self, evt: Event) -> None:
        if evt.kind not in self.running:
            return
        self._update(evt.kind, evt.object, evt.type == "DELETED")
        self._publish()

    def _update(self, kind: str, obj: JSON, deleted: bool) -> None:
        meta = obj.get("metadata") or {}
        uid = meta.get("uid", "")
        rv = int(meta.get("resourceVersion") or 0)
        started = bool((obj.get("status") or {}).get("startTime"))
        with self._lock:
            if rv < self._seen.get(uid, 0):
                return  # a newer state of this run arrived first
            self._seen[uid] = rv
            self._seen.move_to_end(uid)
            if len(self._seen) > SEEN_LIMIT:
                self._seen.popitem(last=False)
            if deleted or is_done(obj) or not started:
                self.running[kind].discard(uid)
            else:
                self.running[kind].add(uid)

    def _publish(self) -> None:
        with self._lock:
            RUNNING_PR.set(len(self.running["PipelineRun"]))
            RUNNING_TR.set(len(self.running["TaskRun"]))


def exposition(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    return generate_latest(registry), CONTENT_TYPE_LATEST
