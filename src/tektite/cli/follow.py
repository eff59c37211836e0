"""Follow runs like ``tkn pipelinerun logs -f``: step output prefixed ``[task : step]``.

Reads the persisted log files and the store, so it works in the process that runs the engine
and in any other (a server executing the run, another terminal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tektite.controller.caches import in_use
from tektite.controller.rerun import reused_taskrun
from tektite.core.cachebinding import is_cache
from tektite.core.conditions import get_condition, is_done

if TYPE_CHECKING:
    from tektite.controller.cluster import Cluster

JSON = dict[str, Any]


@dataclass
class _File:
    offset: int = 0
    partial: bytes = b""


@dataclass
class Follower:
    cluster: Cluster
    kind: str
    name: str
    namespace: str = "default"
    steps: list[str] | None = None  # only these steps (tkn --step)
    tasks: list[str] | None = None  # only these pipeline tasks (tkn --task)
    prefix: bool = True  # tkn --prefix: each line starts with [task : step]
    failed_only: bool = False  # tkn --log-failed: only the logs of TaskRuns that failed
    files: dict[Path, _File] = field(default_factory=dict)
    seen: dict[str, str] = field(default_factory=dict)  # task -> last reported reason
    has_caches: bool | None = None  # whether the PipelineRun binds a keyed cache (asked once)

    def taskruns(self) -> list[tuple[str, JSON]]:
        """(label, taskrun) in creation order; label is the pipeline task ("" for a lone TaskRun).
        A lone CustomRun comes back as itself: it has no steps, so no logs, only its state."""
        store = self.cluster.store
        if self.kind in ("TaskRun", "CustomRun"):
            tr = store.try_get(self.kind, self.name, self.namespace)
            return [("", tr)] if tr else []
        items = store.list(
            "TaskRun", self.namespace, label_selector=f"tekton.dev/pipelineRun={self.name}"
        ).items
        items.sort(key=lambda t: ((t.get("status") or {}).get("startTime") or "~", t["metadata"]["name"]))
        labels = [
            (tr["metadata"].get("labels") or {}).get("tekton.dev/pipelineTask", tr["metadata"]["name"])
            for tr in items
        ]
        out = []
        for label, tr in zip(labels, items, strict=True):
            if labels.count(label) > 1:  # a matrix: tell its runs apart
                label = f"{label}-{tr['metadata']['name'].rsplit('-', 1)[-1]}"
            out.append((label, tr))
        return out

    def run_dirs(self, tr: JSON) -> list[Path]:
        meta = tr["metadata"]
        base = self.cluster.paths.taskrun_dir(
            meta.get("namespace", "default"), meta["name"], meta.get("uid", "")
        )
        attempts = len((tr.get("status") or {}).get("retriesStatus") or [])
        return [base] + [base / f"retry-{i}" for i in range(1, attempts + 1)]

    def poll(self, final: bool = False) -> list[str]:
        """New complete lines since the last call (all remaining text when ``final``)."""
        lines: list[str] = []
        for label, tr in self.taskruns():
            task = (tr["metadata"].get("labels") or {}).get("tekton.dev/pipelineTask")
            if self.tasks and task not in self.tasks:
                continue
            if self.failed_only and (get_condition(tr) or {}).get("status") != "False":
                continue  # a TaskRun that fails later is read then, from its start
            steps = [s.get("name") for s in (tr.get("status") or {}).get("steps") or []]
            for run_dir in self.run_dirs(tr):
                for step in steps:
                    if self.steps and step not in self.steps:
                        continue
                    path = run_dir / "logs" / f"step-{step}.log"
                    prefix = "" if not self.prefix else f"[{label} : {step}] " if label else f"[{step}] "
                    lines.extend(prefix + line for line in self._read(path, final))
        return lines

    def _read(self, path: Path, final: bool) -> list[str]:
        state = self.files.setdefault(path, _File())
        try:
            with open(path, "rb") as fh:
                fh.seek(state.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        state.offset += len(data)
        data = state.partial + data
        parts = data.split(b"\n")
        state.partial = parts.pop()
        if final and state.partial:
            parts.append(state.partial)
            state.partial = b""
        return [p.decode(errors="replace") for p in parts]

    def transitions(self) -> list[str]:
        """One line per task that changed state since the last call (and per cache restored)."""
        msgs = self.caches_restored()
        for label, tr in self.taskruns():
            key = label or tr["metadata"]["name"]
            cond = get_condition(tr) or {}
            reason = cond.get("reason", "")
            if not is_done(tr) or self.seen.get(key) == reason:
                continue
            self.seen[key] = reason
            mark = "✓" if cond.get("status") == "True" else "✗"
            reused = reused_taskrun(tr)
            msgs.append(
                f"{mark} {'task ' + label if label else tr['kind'].lower() + ' ' + tr['metadata']['name']}: {reason}"
                + (f" (reused {reused})" if reused else "")
                + (
                    f" - {cond.get('message')}"
                    if cond.get("status") != "True" and cond.get("message")
                    else ""
                )
            )
        return msgs

    def caches_restored(self) -> list[str]:
        """One line per keyed cache a PipelineRun's claim started from (docs/caches.md)."""
        if self.kind != "PipelineRun" or self.has_caches is False:
            return []
        store = self.cluster.store
        if self.has_caches is None:
            pr = store.try_get("PipelineRun", self.name, self.namespace) or {}
            self.has_caches = any(is_cache(w) for w in (pr.get("spec") or {}).get("workspaces") or [])
            if not self.has_caches:
                return []
        msgs = []
        claims = store.list(
            "PersistentVolumeClaim", self.namespace, label_selector=f"tekton.dev/pipelineRun={self.name}"
        ).items
        for workspace, (key, how) in sorted(in_use(claims).items()):
            seen = f"cache {workspace}"
            if how is None or seen in self.seen:
                continue
            self.seen[seen] = how
            msgs.append(f"• cache {workspace} ({key}): {how}")
        return msgs

    def done(self) -> bool:
        obj = self.cluster.store.try_get(self.kind, self.name, self.namespace)
        return obj is None or is_done(obj)
