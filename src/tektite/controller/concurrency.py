"""Concurrency control for PipelineRuns (beyond Tekton: tektoncd/pipeline#868).

A PipelineRun joins a *concurrency group* through annotations on the PipelineRun, or on the
Pipeline it references (the PipelineRun's win), or through the ``tektite-concurrency`` ConfigMap
of its namespace (or ``tekton-pipelines``) keyed by Pipeline name::

    metadata:
      annotations:
        tektite.dev/concurrency-key: deploy-prod      # runs sharing a key (per namespace) are limited
        tektite.dev/concurrency-limit: "1"            # how many may run at once (default 1)
        tektite.dev/concurrency-policy: queue         # or cancel-in-progress

    # ConfigMap tektite-concurrency, data:  <pipeline-name>: "limit=2,policy=queue[,key=K]"
    # (the key defaults to the pipeline's name)

``queue``: a run over the limit stays pending (condition ``Succeeded=Unknown``, reason
``PipelineRunPending``, a message naming the key and what it waits for) and starts, oldest first,
when a run of its group finishes. ``cancel-in-progress``: a new run starts at once and the older
runs of its group beyond ``limit - 1`` are cancelled (``spec.status: Cancelled``).

The decision is pure (:func:`decide`); :class:`Concurrency` applies it through the engine's
``start_gates`` and ``finished_hooks``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tektite.core.conditions import is_done
from tektite.errors import Conflict, FieldError, ValidationError

log = logging.getLogger("tektite")
JSON = dict[str, Any]
KEY = "tektite.dev/concurrency-key"
LIMIT = "tektite.dev/concurrency-limit"
POLICY = "tektite.dev/concurrency-policy"
GROUP_LABEL = "tektite.dev/concurrency-group"
CONFIGMAP = "tektite-concurrency"
Policy = Literal["queue", "cancel-in-progress"]
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_SPEC_STOPPED = ("PipelineRunPending", "Cancelled", "CancelledRunFinally", "StoppedRunFinally")


@dataclass(frozen=True)
class Group:
    key: str
    limit: int = 1
    policy: Policy = "queue"

    @property
    def label(self) -> str:
        """A label value naming the group (the key itself when it is a valid label value)."""
        if _LABEL_VALUE.match(self.key):
            return self.key
        return "sha256-" + hashlib.sha256(self.key.encode()).hexdigest()[:40]


@dataclass
class Decision:
    start: bool
    message: str = ""
    cancel: list[str] = field(default_factory=list)


def _invalid(where: str, field_name: str, expected: str, found: str) -> ValidationError:
    return ValidationError(
        [FieldError((field_name,), "invalid concurrency setting", expected, found)], obj=where
    )


def _limit(value: str, where: str, field_name: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        raise _invalid(where, field_name, "a positive integer", repr(value)) from None
    if limit < 1:
        raise _invalid(where, field_name, "a positive integer", repr(value))
    return limit


def _policy(value: str, where: str, field_name: str) -> Policy:
    if value == "queue":
        return "queue"
    if value == "cancel-in-progress":
        return "cancel-in-progress"
    raise _invalid(where, field_name, "queue or cancel-in-progress", repr(value))


def parse_configmap_entry(pipeline: str, text: str) -> Group:
    """``limit=2,policy=queue,key=K`` (every part optional) for the Pipeline ``pipeline``."""
    values: dict[str, str] = {}
    where = f'ConfigMap "{CONFIGMAP}"'
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep or name.strip() not in ("limit", "policy", "key"):
            raise _invalid(
                where, f"data.{pipeline}", "limit=N,policy=queue|cancel-in-progress,key=K", repr(part)
            )
        values[name.strip()] = value.strip()
    return Group(
        key=values.get("key") or pipeline,
        limit=_limit(values.get("limit", "1"), where, f"data.{pipeline}"),
        policy=_policy(values.get("policy", "queue"), where, f"data.{pipeline}"),
    )


def group_for(pr: JSON, pipeline: JSON | None, configmap: Mapping[str, str]) -> Group | None:
    """The concurrency group of a PipelineRun, or None. Raises ValidationError on bad settings."""
    meta = pr.get("metadata") or {}
    own = meta.get("annotations") or {}
    inherited = ((pipeline or {}).get("metadata") or {}).get("annotations") or {}
    pipeline_name = ((pr.get("spec") or {}).get("pipelineRef") or {}).get("name")
    where = f'PipelineRun "{meta.get("name")}"'
    if KEY in own or KEY in inherited:
        merged = {**inherited, **own}
        return Group(
            key=merged[KEY],
            limit=_limit(merged.get(LIMIT, "1"), where, f"metadata.annotations.{LIMIT}"),
            policy=_policy(merged.get(POLICY, "queue"), where, f"metadata.annotations.{POLICY}"),
        )
    if pipeline_name and pipeline_name in configmap:
        return parse_configmap_entry(pipeline_name, configmap[pipeline_name])
    return None


def _started(obj: JSON) -> bool:
    return bool((obj.get("status") or {}).get("startTime"))


def _waiting(obj: JSON) -> bool:
    spec_status = (obj.get("spec") or {}).get("status")
    return not _started(obj) and not is_done(obj) and spec_status not in _SPEC_STOPPED


def decide(pr: JSON, group: Group, peers: list[JSON]) -> Decision:
    """May ``pr`` (not started yet) start? ``peers`` are the runs of its group in creation order,
    oldest first (the store's order: timestamps have one-second resolution), ``pr`` among them."""
    me = (pr.get("metadata") or {}).get("name")
    names = [(p.get("metadata") or {}).get("name") for p in peers]
    mine = names.index(me) if me in names else len(peers)
    older, others = peers[:mine], [p for p in peers if (p.get("metadata") or {}).get("name") != me]
    running = [p for p in others if _started(p) and not is_done(p)]
    if group.policy == "cancel-in-progress":
        in_progress = [p for p in older if (_started(p) and not is_done(p)) or _waiting(p)]
        keep = group.limit - 1
        victims = in_progress[: max(0, len(in_progress) - keep)]
        return Decision(True, cancel=[p["metadata"]["name"] for p in victims])
    ahead = [p for p in older if _waiting(p)]
    if len(running) + len(ahead) < group.limit:
        return Decision(True)
    listed = ", ".join(p["metadata"]["name"] for p in running) or "none"
    return Decision(
        False,
        f'queued by concurrency key "{group.key}" (limit {group.limit}): {len(running)} running ({listed}), '
        f"{len(ahead)} queued ahead of this run",
    )


class Concurrency:
    """Applies :func:`decide` in the engine: a start gate for PipelineRuns, and a finished hook
    that wakes the queued runs of the same group."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.engine: Any = None

    def attach(self, engine: Any) -> None:
        self.engine = engine
        engine.start_gates.append(self.gate)
        engine.finished_hooks.append(self.finished)

    def _configmap(self, namespace: str) -> dict[str, str]:
        for ns in (namespace, "tekton-pipelines"):
            cm = self.store.try_get("ConfigMap", CONFIGMAP, ns)
            if cm is not None:
                return {k: str(v) for k, v in (cm.get("data") or {}).items()}
        return {}

    def group(self, pr: JSON) -> Group | None:
        ns = pr["metadata"].get("namespace", "default")
        ref = ((pr.get("spec") or {}).get("pipelineRef") or {}).get("name")
        pipeline = self.store.try_get("Pipeline", ref, ns) if ref else None
        return group_for(pr, pipeline, self._configmap(ns))

    def gate(self, pr: JSON) -> str | None:
        """None when ``pr`` may start now; else why it waits (shown as its pending message)."""
        if pr.get("kind") != "PipelineRun":
            return None
        try:
            group = self.group(pr)
        except ValidationError as exc:
            log.warning("%s", exc.diagnostics())
            return None
        if group is None:
            return None
        meta = pr["metadata"]
        ns = meta.get("namespace", "default")
        if (meta.get("labels") or {}).get(GROUP_LABEL) != group.label:
            labelled = {
                **pr,
                "metadata": {**meta, "labels": {**(meta.get("labels") or {}), GROUP_LABEL: group.label}},
            }
            try:
                pr = self.store.update(labelled)
            except Conflict:
                return "waiting to join its concurrency group"
        newest_first = self.store.list(
            "PipelineRun", ns, label_selector=f"{GROUP_LABEL}={group.label}", order="-created"
        ).items
        peers = [p for p in reversed(newest_first) if self._same_group(p, group)]
        decision = decide(pr, group, peers)
        for name in decision.cancel:
            self._cancel(name, ns, group, pr["metadata"]["name"])
        return None if decision.start else decision.message

    def _same_group(self, pr: JSON, group: Group) -> bool:
        try:
            found = self.group(pr)
        except ValidationError:
            return False
        return found is not None and found.key == group.key

    def _cancel(self, name: str, ns: str, group: Group, newer: str) -> None:
        for _ in range(5):
            obj = self.store.try_get("PipelineRun", name, ns)
            if obj is None or is_done(obj):
                return
            obj["spec"] = {**(obj.get("spec") or {}), "status": "Cancelled"}
            annotations = {**(obj["metadata"].get("annotations") or {})}
            annotations["tektite.dev/cancelled-by"] = f'concurrency key "{group.key}": newer run {newer}'
            obj["metadata"] = {**obj["metadata"], "annotations": annotations}
            try:
                self.store.update(obj)
                log.info("PipelineRun %s/%s: cancelled by newer run %s (%s)", ns, name, newer, group.key)
                return
            except Conflict:
                continue

    def finished(self, obj: JSON) -> None:
        """A run of some group ended: look at the queued runs of that group again."""
        label = ((obj.get("metadata") or {}).get("labels") or {}).get(GROUP_LABEL)
        if obj.get("kind") != "PipelineRun" or not label or self.engine is None:
            return
        ns = obj["metadata"].get("namespace", "default")
        for peer in self.store.list("PipelineRun", ns, label_selector=f"{GROUP_LABEL}={label}").items:
            if _waiting(peer):
                self.engine.enqueue(("PipelineRun", ns, peer["metadata"]["name"]))
