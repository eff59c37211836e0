"""Keeps two labels on every run so the runs list can filter through the store's label index.

- ``tektite.dev/status``: the run's status word (``Pending``, ``Running``, ``Succeeded``, ...),
  so "failed runs" is an indexed query instead of a scan of every run's JSON;
- ``tekton.dev/pipeline`` on PipelineRuns, as Tekton's controller sets it (the Pipeline's name,
  or the PipelineRun's own name for an embedded spec).

It follows the store's event log (so it sees writes of every process on the home), fixes a run
with a resourceVersion-checked update (a concurrent write wins, and the run is looked at again),
and on start labels runs that lack the label or still say Pending/Running.

This belongs in the engine (or the store) in the long run: see ``docs/dashboard.md``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tektite.errors import Conflict, NotFound, TektiteError
from tektite.server.dashboard.runs import PIPELINE_LABEL, RUN_KINDS, STATUS_LABEL, status_word
from tektite.store.base import Store

log = logging.getLogger("tektite.dashboard")
JSON = dict[str, Any]
Key = tuple[str, str, str]


def wanted_labels(obj: JSON) -> dict[str, str]:
    """The labels this module maintains, with the values ``obj`` should have."""
    want = {STATUS_LABEL: status_word(obj)}
    if obj.get("kind") == "PipelineRun":
        meta = obj.get("metadata") or {}
        ref = (obj.get("spec") or {}).get("pipelineRef") or {}
        name = ref.get("name") if not ref.get("resolver") else None
        if name or (obj.get("spec") or {}).get("pipelineSpec") is not None:
            want[PIPELINE_LABEL] = str(name or meta.get("name"))
    return want


def missing_labels(obj: JSON) -> dict[str, str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    want = wanted_labels(obj)
    # tekton.dev/pipeline is only added, never changed: a user or Tekton may have set it
    return {k: v for k, v in want.items() if labels.get(k) != v and not (k == PIPELINE_LABEL and k in labels)}


class StatusLabeler:
    def __init__(self, store: Store, *, poll_interval: float = 0.25) -> None:
        self.store = store
        self.poll_interval = poll_interval
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None

    def fix(self, key: Key) -> None:
        kind, namespace, name = key
        for _ in range(8):
            obj = self.store.try_get(kind, name, namespace)
            if obj is None:
                return
            missing = missing_labels(obj)
            if not missing:
                return
            meta = obj["metadata"]
            meta["labels"] = {**(meta.get("labels") or {}), **missing}
            try:
                self.store.update(obj)  # carries the resourceVersion it read
                return
            except Conflict:
                continue
            except NotFound:
                return

    def backfill(self) -> int:
        """Label runs that have no status label or one that may be stale; returns how many."""
        fixed = 0
        for kind in RUN_KINDS:
            for selector in (f"!{STATUS_LABEL}", f"{STATUS_LABEL} in (Pending,Running)"):
                token: str | None = None
                while True:
                    page = self.store.list(kind, label_selector=selector, limit=500, continue_token=token)
                    for obj in page.items:
                        if missing_labels(obj):
                            meta = obj["metadata"]
                            self.fix((kind, meta.get("namespace", "default"), meta["name"]))
                            fixed += 1
                    token = page.continue_token
                    if not token:
                        break
        return fixed

    async def run(self) -> None:
        rv = await asyncio.to_thread(self.store.current_resource_version)
        await asyncio.to_thread(self.backfill)
        while True:
            try:
                events = await asyncio.to_thread(self.store.events_since, rv, RUN_KINDS)
            except TektiteError:  # our place in the event log was pruned: look at everything again
                rv = await asyncio.to_thread(self.store.current_resource_version)
                await asyncio.to_thread(self.backfill)
                continue
            stale: dict[Key, None] = {}
            for evt in events:
                rv = max(rv, evt.resource_version)
                if evt.type != "DELETED" and missing_labels(evt.object):
                    stale[(evt.kind, evt.namespace or "default", evt.name)] = None
            for key in stale:
                try:
                    await asyncio.to_thread(self.fix, key)
                except TektiteError as exc:
                    log.warning("dashboard: cannot label %s %s/%s: %s", key[0], key[1], key[2], exc.message)
            if len(events) < 1000:
                await asyncio.sleep(self.poll_interval)
