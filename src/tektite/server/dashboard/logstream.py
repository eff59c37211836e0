"""A TaskRun's step logs as Server-Sent Events, live while it runs.

The persisted log files are the source (``executor.logs``), so a run executed by any engine on
this home streams, and reconnecting replays from the start. Each attempt (retries) is followed in
turn; an attempt ends when the run is done or the next attempt's directory appears.

Frames::

    event: log
    data: {"attempt": 0, "container": "step-build", "text": "..."}

    event: end
    data: {"status": "Succeeded"}
"""

from __future__ import annotations

import codecs
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from tektite.controller.cluster import Cluster
from tektite.core.conditions import is_done
from tektite.executor.logs import follow
from tektite.server.dashboard.runs import status_word

JSON = dict[str, Any]
DONE_CHECK_INTERVAL = 0.3


def frame(event: str, data: JSON) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def attempt_dir(base: Path, attempt: int) -> Path:
    return base if attempt == 0 else base / f"retry-{attempt}"


class _RunDone:
    """``is_done`` for the run, asking the store at most every DONE_CHECK_INTERVAL seconds."""

    def __init__(self, cluster: Cluster, namespace: str, name: str) -> None:
        self.cluster, self.namespace, self.name = cluster, namespace, name
        self.checked = 0.0
        self.done = False
        self.obj: JSON | None = None

    def __call__(self) -> bool:
        if not self.done and time.monotonic() - self.checked >= DONE_CHECK_INTERVAL:
            self.checked = time.monotonic()
            self.obj = self.cluster.store.try_get("TaskRun", self.name, self.namespace)
            self.done = self.obj is None or is_done(self.obj)
        return self.done


async def taskrun_log_events(cluster: Cluster, tr: JSON, *, live: bool) -> AsyncIterator[bytes]:
    """SSE frames of every container of every attempt; with ``live``, until the run is done."""
    meta = tr["metadata"]
    namespace = meta.get("namespace", "default")
    base = cluster.paths.taskrun_dir(namespace, meta["name"], meta.get("uid", ""))
    run_done = _RunDone(cluster, namespace, meta["name"])
    attempt = 0
    while True:
        folder = attempt_dir(base, attempt)
        next_folder = attempt_dir(base, attempt + 1)

        def attempt_over(nxt: Path = next_folder) -> bool:
            return not live or run_done() or nxt.exists()

        decoders: dict[str, Callable[..., str]] = {}
        async for container, data in follow(folder, None, attempt_over):
            decode = decoders.setdefault(container, codecs.getincrementaldecoder("utf-8")("replace").decode)
            text = decode(data)
            if text:
                yield frame("log", {"attempt": attempt, "container": container, "text": text})
        for container, decode in decoders.items():
            tail = decode(b"", True)
            if tail:
                yield frame("log", {"attempt": attempt, "container": container, "text": tail})
        if not next_folder.exists():
            break
        attempt += 1
    final = cluster.store.try_get("TaskRun", meta["name"], namespace)
    yield frame("end", {"status": status_word(final) if final else "Deleted"})
