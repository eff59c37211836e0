"""Log endpoints (a tektite extension; Kubernetes serves logs from Pods, tektite from runs).

- ``GET /apis/tekton.dev/v1/namespaces/{ns}/taskruns/{name}/log?container=step-x[&follow=true][&retry=N]``
  the raw bytes of one container (``step-<name>`` or ``sidecar-<name>``); without ``container``
  the run's only container, or 400 naming the containers when there are several.
- ``GET .../taskruns/{name}/log`` and ``.../pipelineruns/{name}/log?all=true`` (or without a
  container on a PipelineRun): every step of every TaskRun, each line prefixed like tkn
  (``[task : step] line``). ``follow=true`` streams until the run is done.

The logs are the files the executor persisted (already masked), so they read the same in the
server process and elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tektite.controller.cluster import Cluster
from tektite.core.conditions import is_done
from tektite.executor import logs as logstore
from tektite.server.status import ApiError

JSON = dict[str, Any]
POLL = 0.2


def taskrun_dir(cluster: Cluster, tr: JSON, retry: int | None = None) -> Path:
    meta = tr["metadata"]
    base = cluster.paths.taskrun_dir(meta.get("namespace", "default"), meta["name"], meta.get("uid", ""))
    return base if not retry else base / f"retry-{retry}"


def pick_container(cluster: Cluster, tr: JSON, container: str | None, retry: int | None) -> str:
    if container:
        return container
    names = logstore.containers_with_logs(taskrun_dir(cluster, tr, retry))
    if not names:
        steps = [f"step-{s.get('name')}" for s in (tr.get("spec") or {}).get("taskSpec", {}).get("steps", [])]
        steps = steps or [f"step-{s.get('name')}" for s in (tr.get("status") or {}).get("steps") or []]
        if len(steps) == 1:
            return steps[0]
        raise ApiError(400, "BadRequest", f'TaskRun "{tr["metadata"]["name"]}" has no logs yet')
    if len(names) == 1:
        return names[0]
    raise ApiError(
        400,
        "BadRequest",
        f'a container name must be specified for TaskRun "{tr["metadata"]["name"]}", choose one of: '
        f"[{' '.join(names)}] (or all=true)",
    )


async def container_log(
    cluster: Cluster, tr: JSON, container: str, follow: bool, retry: int | None
) -> AsyncIterator[bytes]:
    run_dir = taskrun_dir(cluster, tr, retry)
    meta = tr["metadata"]

    def done() -> bool:
        current = cluster.store.try_get("TaskRun", meta["name"], meta.get("namespace", "default"))
        return current is None or is_done(current) or not follow

    async for _name, data in logstore.follow(run_dir, [container], done, POLL):
        yield data


@dataclass
class _Offsets:
    offsets: dict[Path, int] = field(default_factory=dict)
    partial: dict[Path, bytes] = field(default_factory=dict)

    def read_lines(self, path: Path, final: bool) -> list[bytes]:
        try:
            with open(path, "rb") as fh:
                fh.seek(self.offsets.get(path, 0))
                data = fh.read()
        except FileNotFoundError:
            return []
        self.offsets[path] = self.offsets.get(path, 0) + len(data)
        data = self.partial.pop(path, b"") + data
        lines = data.split(b"\n")
        rest = lines.pop()
        if rest and not final:
            self.partial[path] = rest
        elif rest:
            lines.append(rest)
        return lines


def _taskruns(cluster: Cluster, kind: str, name: str, ns: str) -> list[tuple[str, JSON]]:
    if kind == "TaskRun":
        tr = cluster.store.try_get("TaskRun", name, ns)
        return [("", tr)] if tr else []
    items = cluster.store.list("TaskRun", ns, label_selector=f"tekton.dev/pipelineRun={name}").items
    items.sort(key=lambda t: ((t.get("status") or {}).get("startTime") or "~", t["metadata"]["name"]))
    return [((t["metadata"].get("labels") or {}).get("tekton.dev/pipelineTask", ""), t) for t in items]


async def prefixed_logs(
    cluster: Cluster, kind: str, name: str, ns: str, follow: bool
) -> AsyncIterator[bytes]:
    """Every step's log of a run, one prefixed line at a time, like ``tkn ... logs``."""
    state = _Offsets()
    while True:
        run = await asyncio.to_thread(cluster.store.try_get, kind, name, ns)
        final = run is None or is_done(run) or not follow
        for label, tr in await asyncio.to_thread(_taskruns, cluster, kind, name, ns):
            attempts = len((tr.get("status") or {}).get("retriesStatus") or [])
            for retry in range(attempts + 1):
                run_dir = taskrun_dir(cluster, tr, retry)
                for container in logstore.containers_with_logs(run_dir):
                    step = container.removeprefix("step-")
                    prefix = f"[{label} : {step}] " if label else f"[{step}] "
                    for line in state.read_lines(logstore.log_path(run_dir, container), final):
                        yield prefix.encode() + line + b"\n"
        if final:
            return
        await asyncio.sleep(POLL)
