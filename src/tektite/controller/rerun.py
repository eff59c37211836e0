"""Rerun a run, and rerun a PipelineRun from where it failed (beyond Tekton: pipeline#50, TEP-0065).

A rerun is a new run with the old one's spec (:func:`rerun_object`, what the Tekton Dashboard's
*Rerun* does). A rerun **from failure** also carries the annotation :data:`REUSE_PIPELINERUN`
naming the old PipelineRun, and then:

1. when the new run starts, each ``volumeClaimTemplate`` (and cache) workspace starts as a copy
   of the old run's (:func:`seed_claims`): what the tasks that will not run again wrote is there for those
   that will. A ``persistentVolumeClaim`` is the same directory for both runs already.
2. each pipeline task (not ``finally``) whose TaskRun succeeded in the old run gets a TaskRun as
   usual, annotated :data:`REUSE_TASKRUN` with the old TaskRun's name (a matrixed task: each
   combination the old run's combination of the same index, where that one succeeded).
3. that TaskRun resolves its Task as any other. If the old TaskRun succeeded with the same Task
   (the resolved spec it recorded in ``status.taskSpec``) and the same inputs (:func:`inputs`:
   params, service account, pod template, step and sidecar overrides, resources), it does not run:
   its status is the old one's (results, steps, times), its condition says which TaskRun it
   reuses, and it is annotated :data:`REUSED_TASKRUN` with the TaskRun that really ran. Its logs
   are copied. Otherwise it runs, and :func:`why_not_reused` says why in the engine's log.

So a task runs again when it failed, when it was not reached, when its Task was changed (the fix),
or when an input changed because a task before it ran again and produced other results; a task
whose inputs come out the same is reused. ``finally`` tasks always run.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tektite.core.conditions import get_condition, set_condition
from tektite.errors import TektiteError

if TYPE_CHECKING:  # the CLI imports this module to show reused runs: it stays light
    from tektite.controller.lookup import Paths
    from tektite.store.base import Store

__all__ = [
    "RERUN_LABEL",
    "REUSED_TASKRUN",
    "REUSE_PIPELINERUN",
    "REUSE_TASKRUN",
    "copy_logs",
    "inputs",
    "original_taskrun",
    "plan",
    "rerun_object",
    "reusable_taskruns",
    "reused_status",
    "reused_taskrun",
    "seed_claim",
    "seed_claims",
    "why_not_reused",
]

JSON = dict[str, Any]
RERUN_LABEL = "dashboard.tekton.dev/rerunOf"  # the Tekton Dashboard's
REUSE_PIPELINERUN = "tektite.dev/reuse-pipelinerun"  # on a PipelineRun: reuse what this one did
REUSE_TASKRUN = "tektite.dev/reuse-taskrun"  # on its TaskRun: the old TaskRun it may reuse
REUSED_TASKRUN = "tektite.dev/reused-taskrun"  # on a TaskRun that did not run: the one that did
REUSED_REASON = "Succeeded"  # a reused TaskRun succeeded; its message says it was reused

_CONTROLLER_LABEL_PREFIXES = ("tekton.dev/", "tektite.dev/")
_DROPPED_LABELS = frozenset({"app.kubernetes.io/managed-by"})
_DROPPED_ANNOTATION_PREFIXES = (
    "chains.tekton.dev/",
    "kubectl.kubernetes.io/last-applied-configuration",
    REUSE_PIPELINERUN,
)
# the spec fields that decide what a TaskRun does; its timeout (what was left of the pipeline's)
# and its workspaces (claims named after the run) differ from run to run by design
_INPUT_FIELDS = (
    "params",
    "serviceAccountName",
    "podTemplate",
    "stepSpecs",
    "sidecarSpecs",
    "computeResources",
    "debug",
)


def rerun_object(obj: JSON, *, from_failure: bool = False) -> JSON:
    """The new run to create for a rerun of ``obj``: its spec, named from its ``generateName``
    (else ``<name>-r-``), labelled ``dashboard.tekton.dev/rerunOf``, without what Tekton and
    Chains wrote on it (their labels, Chains' annotations, ``spec.status``). ``from_failure``
    (PipelineRuns): reuse what succeeded in ``obj`` (see the module's docstring)."""
    meta = obj.get("metadata") or {}
    owner = next(
        (o for o in meta.get("ownerReferences") or [] if o.get("kind") in ("PipelineRun", "TaskRun")), None
    )
    if owner is not None:
        raise TektiteError(
            f'{obj.get("kind")} "{meta.get("name")}" was created by {owner.get("kind")} "{owner.get("name")}"; '
            f"rerun the {owner.get('kind')} instead"
        )
    if from_failure:
        _check_from_failure(obj)
    labels = {
        k: v
        for k, v in (meta.get("labels") or {}).items()
        if not k.startswith(_CONTROLLER_LABEL_PREFIXES) and k not in _DROPPED_LABELS
    }
    labels[RERUN_LABEL] = meta["name"]
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if not k.startswith(_DROPPED_ANNOTATION_PREFIXES)
    }
    if from_failure:
        annotations[REUSE_PIPELINERUN] = meta["name"]
    spec = copy.deepcopy(obj.get("spec") or {})
    spec.pop("status", None)
    spec.pop("statusMessage", None)
    new_meta: JSON = {
        "generateName": meta.get("generateName") or f"{meta['name']}-r-",
        "namespace": meta.get("namespace", "default"),
        "labels": labels,
    }
    if annotations:
        new_meta["annotations"] = annotations
    return {
        "apiVersion": obj.get("apiVersion", "tekton.dev/v1"),
        "kind": obj["kind"],
        "metadata": new_meta,
        "spec": spec,
    }


def _check_from_failure(obj: JSON) -> None:
    name = (obj.get("metadata") or {}).get("name")
    if obj.get("kind") != "PipelineRun":
        raise TektiteError(
            f'{obj.get("kind")} "{name}": a rerun from failure reuses the tasks of a PipelineRun '
            "that succeeded; rerun a TaskRun without --from-failure"
        )
    cond = get_condition(obj) or {}
    if cond.get("status") not in ("True", "False"):
        raise TektiteError(
            f'PipelineRun "{name}" has not finished; rerun it from failure once it has '
            "(or cancel it: tektite pipelinerun cancel)"
        )


def reusable_taskruns(children: list[JSON]) -> dict[str, list[str | None]]:
    """Pipeline task -> its TaskRuns in the order they were made (a matrix's combinations by
    index), each name, or None where that TaskRun did not succeed; from the old PipelineRun's
    ``children``. ``finally`` tasks are left out: they always run."""
    found: dict[str, list[tuple[tuple[int, str], str | None]]] = {}
    for child in children:
        meta = child.get("metadata") or {}
        labels = meta.get("labels") or {}
        task = labels.get("tekton.dev/pipelineTask")
        if child.get("kind") != "TaskRun" or not task or labels.get("tekton.dev/memberOf") == "finally":
            continue
        name = str(meta.get("name"))
        tail = name.rsplit("-", 1)[-1]
        ok = (get_condition(child) or {}).get("status") == "True"
        found.setdefault(task, []).append(((int(tail) if tail.isdigit() else -1, name), name if ok else None))
    return {task: [name for _, name in sorted(runs)] for task, runs in found.items()}


def inputs(tr: JSON) -> JSON:
    """What a TaskRun was given that decides what it does (beside its Task): params, service
    account, pod template, step/sidecar overrides, resources, and its workspaces' names and
    sub-paths (not their sources: claims are named after the run)."""
    spec = tr.get("spec") or {}
    given = {f: spec[f] for f in _INPUT_FIELDS if spec.get(f) not in (None, [], {}, "")}
    workspaces = [
        {"name": w.get("name"), "subPath": w.get("subPath", "")} for w in spec.get("workspaces") or []
    ]
    if workspaces:
        given["workspaces"] = sorted(workspaces, key=lambda w: str(w["name"]))
    return given


def why_not_reused(tr: JSON, task_spec: JSON, old: JSON | None) -> str | None:
    """None when ``tr`` (whose Task resolved to ``task_spec``, as ``status.taskSpec`` records it)
    may reuse ``old``; else why not, for the log."""
    if old is None:
        return "the TaskRun to reuse is gone"
    if (get_condition(old) or {}).get("status") != "True":
        return "the TaskRun to reuse did not succeed"
    if (old.get("status") or {}).get("taskSpec") != json.loads(json.dumps(task_spec)):  # as stored
        return "its Task changed"
    if inputs(old) != inputs(tr):
        return "its inputs changed"
    return None


def reused_status(old: JSON) -> JSON:
    """The status of a TaskRun that reuses ``old``: ``old``'s, with a condition that says so."""
    status = copy.deepcopy(old.get("status") or {})
    name = (old.get("metadata") or {}).get("name")
    cond = get_condition(old) or {}
    set_condition(
        status,
        "True",
        str(cond.get("reason") or REUSED_REASON),
        f'Reused TaskRun "{name}" (rerun from failure: same Task, same inputs). '
        f"{cond.get('message') or ''}".rstrip(),
    )
    return status


def reused_taskrun(tr: JSON | None) -> str | None:
    """The TaskRun whose results ``tr`` reuses (a rerun from failure), if it reuses one."""
    return ((tr or {}).get("metadata", {}).get("annotations") or {}).get(REUSED_TASKRUN)


def original_taskrun(old: JSON) -> str:
    """The TaskRun that really ran: ``old``, or the one ``old`` itself reused."""
    meta = old.get("metadata") or {}
    return str((meta.get("annotations") or {}).get(REUSED_TASKRUN) or meta.get("name"))


def seed_claims(source: Path, target: Path) -> None:
    """A new run's ``volumeClaimTemplate`` directory starts as a copy of the old run's (when
    there is one): a copy, so that the new run changes nothing the old one left."""
    if not source.is_dir():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)


def copy_logs(old_run_dir: Path, new_run_dir: Path) -> None:
    """A reused TaskRun's step logs: the old run's, each attempt's (``retry-N/``) where it was."""
    from tektite.executor.logs import LOG_DIR  # here: the executor package is slow to import for the CLI

    for attempt in [old_run_dir, *sorted(old_run_dir.glob("retry-*"))]:
        logs = attempt / LOG_DIR
        if logs.is_dir():
            target = new_run_dir / attempt.relative_to(old_run_dir) / LOG_DIR
            shutil.copytree(logs, target, dirs_exist_ok=True)


def plan(store: Store, pr: JSON) -> tuple[dict[str, list[str | None]] | str, JSON | None]:
    """What the rerun ``pr`` may reuse (:func:`reusable_taskruns` of the PipelineRun its
    :data:`REUSE_PIPELINERUN` names) and that PipelineRun; a message instead, when ``pr`` has not
    started, if that run is not found or ran another stored Pipeline (once started, what is left
    simply runs)."""
    meta = pr["metadata"]
    ns = meta.get("namespace", "default")
    source = meta["annotations"][REUSE_PIPELINERUN]
    old = store.try_get("PipelineRun", source, ns)
    if old is None:
        if not (pr.get("status") or {}).get("startTime"):
            return (
                f'PipelineRun "{meta["name"]}" reruns PipelineRun "{source}" from failure '
                f"({REUSE_PIPELINERUN}), which is not found in namespace {ns}"
            ), None
        return {}, None
    mine, theirs = _pipeline_name(pr), _pipeline_name(old)
    if mine and theirs and mine != theirs and not (pr.get("status") or {}).get("startTime"):
        return (
            f'PipelineRun "{meta["name"]}" reruns PipelineRun "{source}" from failure '
            f'({REUSE_PIPELINERUN}), which ran the Pipeline "{theirs}", not "{mine}"'
        ), None
    children = store.list("TaskRun", ns, owner_uid=str(old["metadata"].get("uid"))).items
    return reusable_taskruns(children), old


def _pipeline_name(pr: JSON) -> str | None:
    """The stored Pipeline a run names (not a resolver's, not an embedded spec)."""
    ref = (pr.get("spec") or {}).get("pipelineRef") or {}
    return None if ref.get("resolver") else ref.get("name")


def seed_claim(paths: Paths, pr: JSON, old: JSON, claim: JSON) -> None:
    """``claim`` (a PersistentVolumeClaim ``pr`` makes for a volumeClaimTemplate workspace)
    starts as a copy of what ``old``'s claim for the same workspace holds."""
    from tektite.controller.children import cache_template, claim_name
    from tektite.core.cachebinding import is_cache

    ns = pr["metadata"].get("namespace", "default")
    for w in (pr.get("spec") or {}).get("workspaces") or []:
        template = w.get("volumeClaimTemplate")
        if template is None and is_cache(w):  # a cache's working copy, too: what the old run left
            template = cache_template(w["name"])
        if template is not None and claim_name(pr, w["name"], template or {}) == claim["metadata"]["name"]:
            source = paths.claim_dir(ns, claim_name(old, w["name"], template or {}))
            seed_claims(source, paths.claim_dir(ns, claim["metadata"]["name"]))
