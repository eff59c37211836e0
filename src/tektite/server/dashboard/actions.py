"""Cancel and rerun, as the Tekton Dashboard does them.

Cancel sets ``spec.status`` (``TaskRunCancelled`` / ``Cancelled``) and lets the engine stop the
run. Rerun creates a new run from the old one's spec, named from its ``generateName`` (or
``<name>-r-``), labelled ``dashboard.tekton.dev/rerunOf: <name>``, without what Tekton and
Chains wrote on the old run (their labels, Chains' annotations, ``spec.status``). A PipelineRun can
be rerun from failure: the tasks that succeeded, unchanged, are reused (``controller/rerun.py``).
"""

from __future__ import annotations

from typing import Any

from tektite.controller.cluster import Cluster
from tektite.controller.rerun import RERUN_LABEL, rerun_object
from tektite.core.conditions import is_done
from tektite.errors import Conflict
from tektite.server.dashboard.runs import status_word
from tektite.store.base import Store

JSON = dict[str, Any]
__all__ = ["RERUN_LABEL", "AlreadyFinished", "cancel", "rerun", "rerun_object"]


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


def rerun(cluster: Cluster, kind: str, name: str, namespace: str, from_failure: bool = False) -> JSON:
    """Create (after the same admission as ``tektite create``) a new run like ``kind/name``;
    ``from_failure``: reusing the pipeline tasks that succeeded (controller/rerun.py)."""
    old = cluster.store.get(kind, name, namespace)
    return cluster.create(rerun_object(old, from_failure=from_failure))
