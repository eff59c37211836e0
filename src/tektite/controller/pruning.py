"""Run history retention: which finished runs to delete, per namespace and per Pipeline/Task.

Configured by the ConfigMap ``tektite-pruner`` in a namespace (its keys override those of the
one in ``tekton-pipelines``, which applies to every namespace)::

    data:
      keep: "20"                  # keep the 20 newest finished runs of each Pipeline / Task
      keep-since: "1440"          # ... and every run that finished in the last 1440 minutes
      resources: "pipelinerun,taskrun"
      pipeline.build.keep: "5"    # per-Pipeline overrides (pipeline.<name>.keep / .keep-since)
      task.lint.keep-since: "60"  # per-Task overrides for standalone TaskRuns

``keep`` and ``keep-since`` together keep the union of both. Without either, nothing is pruned.
PipelineRuns are grouped by their Pipeline (``tekton.dev/pipeline``); standalone TaskRuns by their
Task; a PipelineRun's TaskRuns go with it (the store cascades), never on their own.

Never pruned, whatever the numbers say: runs that are not done; runs Chains has not signed yet
(a ``chains.tekton.dev`` finalizer, or - when Chains is enabled - no ``chains.tekton.dev/signed``
annotation yet; ``signed: failed`` is final and may be pruned).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tektite.core.conditions import is_done, parse_time
from tektite.errors import FieldError, NotFound, ValidationError

log = logging.getLogger("tektite")
JSON = dict[str, Any]
CONFIGMAP = "tektite-pruner"
GLOBAL_NAMESPACE = "tekton-pipelines"
SIGNED = "chains.tekton.dev/signed"
KINDS = {"pipelinerun": "PipelineRun", "taskrun": "TaskRun"}


@dataclass(frozen=True)
class Retention:
    keep: int | None = None
    keep_since_minutes: float | None = None

    @property
    def active(self) -> bool:
        return self.keep is not None or self.keep_since_minutes is not None


@dataclass
class PruneConfig:
    default: Retention = field(default_factory=Retention)
    pipelines: dict[str, Retention] = field(default_factory=dict)
    tasks: dict[str, Retention] = field(default_factory=dict)
    kinds: tuple[str, ...] = ("PipelineRun", "TaskRun")
    # keyed workspace caches (controller/caches.py): entries unused for this long go, then the
    # least recently used until the namespace's entries fit in cache_max_bytes
    cache_keep_since_minutes: float | None = None
    cache_max_bytes: float | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, str], where: str = CONFIGMAP) -> PruneConfig:
        def number(key: str, value: str, kind: type[int] | type[float]) -> Any:
            try:
                n = kind(value)
            except ValueError:
                n = -1
            if n < 0:
                raise ValidationError(
                    [FieldError(("data", key), "invalid retention", "a non-negative number", repr(value))],
                    obj=f'ConfigMap "{where}"',
                )
            return n

        def retention(prefix: str) -> Retention:
            keep = data.get(prefix + "keep")
            since = data.get(prefix + "keep-since")
            return Retention(
                number(prefix + "keep", keep, int) if keep not in (None, "") else None,
                number(prefix + "keep-since", since, float) if since not in (None, "") else None,
            )

        cfg = cls(default=retention(""))
        since = data.get("caches.keep-since")
        if since not in (None, ""):
            cfg.cache_keep_since_minutes = number("caches.keep-since", since, float)
        size = data.get("caches.max-size")
        if size not in (None, ""):
            from tektite.controller.env import parse_quantity  # here: the CLI imports this module

            cfg.cache_max_bytes = parse_quantity(size)
            if cfg.cache_max_bytes is None or cfg.cache_max_bytes < 0:
                raise ValidationError(
                    [
                        FieldError(
                            ("data", "caches.max-size"), "invalid size", "a quantity such as 10Gi", repr(size)
                        )
                    ],
                    obj=f'ConfigMap "{where}"',
                )
        for key in data:
            for scope, target in (("pipeline.", cfg.pipelines), ("task.", cfg.tasks)):
                if key.startswith(scope) and key.endswith((".keep", ".keep-since")):
                    name = key[len(scope) :].rsplit(".", 1)[0]
                    target[name] = retention(f"{scope}{name}.")
        if data.get("resources"):
            kinds = []
            for word in str(data["resources"]).split(","):
                word = word.strip().lower().rstrip("s")
                if word not in KINDS:
                    raise ValidationError(
                        [
                            FieldError(
                                ("data", "resources"), "unknown kind", "pipelinerun, taskrun", repr(word)
                            )
                        ],
                        obj=f'ConfigMap "{where}"',
                    )
                kinds.append(KINDS[word])
            cfg.kinds = tuple(kinds)
        return cfg


def protection(obj: JSON, chains_enabled: bool) -> str | None:
    """Why ``obj`` must not be pruned, or None."""
    meta = obj.get("metadata") or {}
    if not is_done(obj):
        return "not finished"
    if any(str(f).startswith("chains.tekton.dev") for f in meta.get("finalizers") or []):
        return "Chains holds it (finalizer)"
    signed = (meta.get("annotations") or {}).get(SIGNED)
    if chains_enabled and obj.get("kind") in ("TaskRun", "PipelineRun") and signed not in ("true", "failed"):
        return "not signed by Chains yet"
    return None


def _finished_at(obj: JSON) -> datetime | None:
    status = obj.get("status") or {}
    meta = obj.get("metadata") or {}
    return parse_time(status.get("completionTime")) or parse_time(meta.get("creationTimestamp"))


def _newest_first(items: Iterable[JSON]) -> list[JSON]:
    return sorted(
        items,
        key=lambda o: ((o.get("metadata") or {}).get("creationTimestamp") or "", o["metadata"]["name"]),
        reverse=True,
    )


def select(items: Iterable[JSON], retention: Retention, now: datetime, chains_enabled: bool) -> list[JSON]:
    """The runs of one group to delete: finished, unprotected, outside both keep rules."""
    if not retention.active:
        return []
    candidates = _newest_first(o for o in items if is_done(o))
    kept: set[str] = set()
    if retention.keep is not None:
        kept |= {o["metadata"]["name"] for o in candidates[: retention.keep]}
    if retention.keep_since_minutes is not None:
        cutoff = now - timedelta(minutes=retention.keep_since_minutes)
        kept |= {o["metadata"]["name"] for o in candidates if (_finished_at(o) or now) >= cutoff}
    return [
        o for o in candidates if o["metadata"]["name"] not in kept and protection(o, chains_enabled) is None
    ]


def group_key(obj: JSON) -> tuple[str, str]:
    """("pipeline"|"task", name) a run's retention is counted in."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if obj.get("kind") == "PipelineRun":
        spec = obj.get("spec") or {}
        return "pipeline", labels.get("tekton.dev/pipeline") or (spec.get("pipelineRef") or {}).get(
            "name"
        ) or ""
    spec = obj.get("spec") or {}
    return "task", labels.get("tekton.dev/task") or (spec.get("taskRef") or {}).get("name") or ""


def plan(runs: Iterable[JSON], config: PruneConfig, now: datetime, chains_enabled: bool) -> list[JSON]:
    """Every run of one namespace to delete under ``config``."""
    groups: dict[tuple[str, str, str], list[JSON]] = {}
    for obj in runs:
        kind = obj.get("kind", "")
        if kind not in config.kinds:
            continue
        if kind == "TaskRun" and (obj.get("metadata") or {}).get("ownerReferences"):
            continue  # goes with its PipelineRun
        scope, name = group_key(obj)
        groups.setdefault((kind, scope, name), []).append(obj)
    doomed: list[JSON] = []
    for (_kind, scope, name), items in sorted(groups.items()):
        overrides = config.pipelines if scope == "pipeline" else config.tasks
        doomed.extend(select(items, overrides.get(name, config.default), now, chains_enabled))
    return doomed


class Pruner:
    """Applies ``tektite-pruner`` ConfigMaps to the store; ``sweep()`` is run on a schedule by serve."""

    def __init__(self, cluster: Any, *, chains_enabled: bool = False) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.chains_enabled = chains_enabled

    def configs(self) -> dict[str, PruneConfig]:
        """namespace -> config ("*" for the global one in tekton-pipelines)."""
        raw: dict[str, dict[str, str]] = {}
        for cm in self.store.list("ConfigMap", "*").items:
            meta = cm.get("metadata") or {}
            if meta.get("name") == CONFIGMAP:
                raw[meta.get("namespace", "default")] = {k: str(v) for k, v in (cm.get("data") or {}).items()}
        glob = raw.get(GLOBAL_NAMESPACE, {})
        out: dict[str, PruneConfig] = {}
        for ns, data in raw.items():
            try:
                out[ns] = PruneConfig.from_data({**glob, **data}, f"{ns}/{CONFIGMAP}")
            except ValidationError as exc:
                log.warning("pruner: %s", exc.diagnostics())
        if GLOBAL_NAMESPACE in out:
            out["*"] = out[GLOBAL_NAMESPACE]
        return out

    def sweep(self, now: datetime | None = None) -> list[JSON]:
        """Delete what the retention rules allow; returns the deleted runs."""
        now = now or datetime.now(UTC)
        configs = self.configs()
        if not configs:
            return []
        by_ns: dict[str, list[JSON]] = {}
        for kind in ("PipelineRun", "TaskRun"):
            for obj in self.store.list(kind, "*").items:
                by_ns.setdefault(obj["metadata"].get("namespace", "default"), []).append(obj)
        deleted: list[JSON] = []
        for ns, runs in sorted(by_ns.items()):
            config = configs.get(ns) or configs.get("*")
            if config is None:
                continue
            for obj in plan(runs, config, now, self.chains_enabled):
                try:
                    self.cluster.delete(obj["kind"], obj["metadata"]["name"], ns)
                except NotFound:
                    continue
                log.info("pruned %s %s/%s", obj["kind"], ns, obj["metadata"]["name"])
                deleted.append(obj)
        self.sweep_caches(configs, now)
        return deleted

    def sweep_caches(self, configs: dict[str, PruneConfig], now: datetime) -> list[str]:
        """Evict cache entries by ``caches.keep-since`` and ``caches.max-size``; their keys."""
        from tektite.controller.caches import Caches, evictions  # here: the CLI imports this module

        caches = Caches(self.cluster.paths.caches_dir())
        by_ns: dict[str, list[Any]] = {}
        for entry in caches.list():
            by_ns.setdefault(entry.namespace, []).append(entry)
        evicted = []
        for ns, entries in sorted(by_ns.items()):
            config = configs.get(ns) or configs.get("*")
            if config is None:
                continue
            since = config.cache_keep_since_minutes
            for entry in evictions(
                entries, since * 60 if since is not None else None, config.cache_max_bytes, now.timestamp()
            ):
                if caches.delete(ns, entry.key):
                    log.info('evicted cache "%s" in %s', entry.key, ns)
                    evicted.append(entry.key)
        return evicted
