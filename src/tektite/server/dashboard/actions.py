"""Cancel and rerun, as the Tekton Dashboard does them.

Cancel sets ``spec.status`` (``TaskRunCancelled`` / ``Cancelled``) and lets the engine stop the
run. Rerun creates a new run from the old one's spec, named from its ``generateName`` (or
``<name>-r-``), labelled ``dashboard.tekton.dev/rerunOf: <name>``, without what Tekton and
Chains wrote on the old run (their labels, Chains' annotations, ``spec.status``).
"""

from __future__ import annotations

import copy
from typing import Any

from tektite.controller.cluster import Cluster
from tektite.core.conditions import is_done
from tektite.errors import Conflict, TektiteError
from tektite.server.dashboard.runs import status_word
from tektite.store.base import Store

JSON = dict[str, Any]
RERUN_LABEL = "dashboard.tekton.dev/rerunOf"
_CONTROLLER_LABEL_PREFIXES = ("tekton.dev/", "tektite.dev/")
_DROPPED_LABELS = frozenset({"app.kubernetes.io/managed-by"})
_DROPPED_ANNOTATION_PREFIXES = ("chains.tekton.dev/", "kubectl.kubernetes.io/last-applied-configuration")


class AlreadyFinished(Conflict):
    pass


def cancel(store: Store, kind: str, name: str, namespace: str) -> JSON:
    """Ask the engine to cancel a running run; 409 if it has already finished."""
    for _ in range(5):
        obj = store.get(kind, name, namespace)
        if is_done(obj):
            raise AlreadyFinished(
                f'{kind} "{name}" has already finished ({status_word(obj)}); nothing to cancel'
            )
        spec = obj.setdefault("spec", {})
        spec["status"] = "TaskRunCancelled" if kind == "TaskRun" else "Cancelled"
        try:
            return store.update(obj)
        except Conflict:
            continue
    raise Conflict(f'{kind} "{name}" kept changing while it was being cancelled; try again')


def rerun_object(obj: JSON) -> JSON:
    """The new run to create for a rerun of ``obj``."""
    meta = obj.get("metadata") or {}
    owner = next(
        (o for o in meta.get("ownerReferences") or [] if o.get("kind") in ("PipelineRun", "TaskRun")), None
    )
    if owner is not None:
        raise TektiteError(
            f'{obj.get("kind")} "{meta.get("name")}" was created by {owner.get("kind")} "{owner.get("name")}"; '
            f"rerun the {owner.get('kind')} instead"
        )
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


def rerun(cluster: Cluster, kind: str, name: str, namespace: str) -> JSON:
    """Create (after the same admission as ``tektite create``) a new run like ``kind/name``."""
    old = cluster.store.get(kind, name, namespace)
    return cluster.create(rerun_object(old))
