"""CloudEvents for TaskRuns and PipelineRuns, as Tekton's events controller sends them.

Enabled by a sink URL: ConfigMap ``config-events`` key ``sink`` (namespace ``tekton-pipelines``,
then ``default``), or ``config-defaults`` key ``default-cloud-events-sink``. Each state change of a
run is one HTTP POST in CloudEvents binary mode: ``Ce-Type`` is one of Tekton's types
(``dev.tekton.event.{taskrun,pipelinerun}.{queued,started,running,unknown,successful,failed}.v1``),
``Ce-Source`` the run's API path, ``Ce-Subject`` its name, and the body ``{"taskRun": run}`` or
``{"pipelineRun": run}``. Delivery is retried 3 times with back-off and never blocks the engine.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx

from tektite.core.conditions import get_condition, now
from tektite.store.base import Event, Store

log = logging.getLogger("tektite.server")
JSON = dict[str, Any]
PLURAL = {"TaskRun": "taskruns", "PipelineRun": "pipelineruns"}
ROOT_KEY = {"TaskRun": "taskRun", "PipelineRun": "pipelineRun"}
RETRIES = 3


def event_type(obj: JSON) -> str | None:
    """Tekton's CloudEvent type for the run's current state."""
    kind = obj.get("kind")
    if kind not in PLURAL:
        return None
    cond = get_condition(obj)
    prefix = f"dev.tekton.event.{str(kind).lower()}"
    if cond is None:
        return f"{prefix}.queued.v1"
    status, reason = cond.get("status"), cond.get("reason")
    if status == "True":
        return f"{prefix}.successful.v1"
    if status == "False":
        return f"{prefix}.failed.v1"
    if reason == "Started":
        return f"{prefix}.started.v1"
    if reason == "Running":
        return f"{prefix}.running.v1"
    return f"{prefix}.unknown.v1"


def headers_for(obj: JSON, type_: str) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace", "default")
    return {
        "Ce-Id": str(uuid.uuid4()),
        "Ce-Source": f"/apis/tekton.dev/v1/namespaces/{ns}/{PLURAL[obj['kind']]}/{meta.get('name', '')}",
        "Ce-Specversion": "1.0",
        "Ce-Subject": str(meta.get("name", "")),
        "Ce-Time": now(),
        "Ce-Type": type_,
        "Content-Type": "application/json",
    }


class CloudEventSender:
    """Subscribes to the store; sends one event per (run, state) while a sink is configured."""

    def __init__(self, store: Store, sink_of: Callable[[], str | None]) -> None:
        self.store = store
        self.sink_of = sink_of
        self.loop: asyncio.AbstractEventLoop | None = None
        self._sent: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._client: httpx.AsyncClient | None = None

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._client = httpx.AsyncClient(timeout=10)
        self._unsubscribe = self.store.subscribe(self._on_event)

    async def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        if self._client is not None:
            await self._client.aclose()

    def _on_event(self, evt: Event) -> None:
        if evt.type == "DELETED" or evt.kind not in PLURAL or self.loop is None or self.loop.is_closed():
            return
        type_ = event_type(evt.object)
        if type_ is None:
            return
        cond = get_condition(evt.object) or {}
        uid = str((evt.object.get("metadata") or {}).get("uid"))
        types = [type_]
        if cond.get("status") in ("True", "False") or type_.endswith(".running.v1"):
            # tektite writes a short run once, finished: send the lifecycle events it passed through
            prefix = type_.rsplit(".", 2)[0]
            lifecycle = [f"{prefix}.started.v1", f"{prefix}.running.v1"]
            types = [t for t in lifecycle if t != type_ and (uid, t, "") not in self._sent] + types
        for t in types:
            key = (uid, t, "" if t != type_ else str(cond.get("reason")))
            if key in self._sent:
                continue
            self._sent[key] = None
            self._sent[(uid, t, "")] = None  # "this lifecycle step was announced"
            self.loop.call_soon_threadsafe(self._schedule, evt.object, t)
        while len(self._sent) > 50000:
            self._sent.popitem(last=False)

    def _schedule(self, obj: JSON, type_: str) -> None:
        task = asyncio.ensure_future(self._send(obj, type_))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, obj: JSON, type_: str) -> None:
        sink = await asyncio.to_thread(self.sink_of)
        if not sink or self._client is None:
            return
        body = {ROOT_KEY[obj["kind"]]: obj}
        headers = headers_for(obj, type_)
        for attempt in range(RETRIES):
            try:
                resp = await self._client.post(sink, json=body, headers=headers)
                if resp.status_code < 300:
                    return
                why = f"HTTP {resp.status_code}"
            except httpx.HTTPError as exc:
                why = str(exc) or type(exc).__name__
            await asyncio.sleep(0.5 * 2**attempt)
        log.warning("CloudEvent %s for %s not delivered to %s: %s", type_, headers["Ce-Source"], sink, why)


def sink_from(cluster: Any) -> Callable[[], str | None]:
    """Reads the sink from the store each time (a ConfigMap change applies at once)."""

    def sink() -> str | None:
        events = cluster.configmap("config-events")
        return (
            events.get("sink")
            or cluster.configmap("config-defaults").get("default-cloud-events-sink")
            or None
        )

    return sink
