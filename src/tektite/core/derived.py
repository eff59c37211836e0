"""What the store derives from every run it writes and indexes, without adding it to the object.

It lets the engine and the Chains watcher find, when they start, the few runs that still need
them, by an indexed query instead of reading every run the home has kept:

- the label ``tektite.dev/status`` (:data:`~tektite.core.conditions.STATUS_LABEL`): the run's
  status word; the engine recovers the runs whose word is ``Pending`` or ``Running``
  (:data:`~tektite.core.conditions.UNFINISHED`).
- ``tektite.dev/chains=pending`` (:data:`CHAINS_PENDING`) selects the runs on which the Chains
  watcher may have something to do (:func:`chains_pending`): add its finalizer to a run in
  progress, let go of a run deleted before it finished, sign a finished run, or remove its
  finalizer. The SQL store keeps it as a column of the run's row (its mark of a run then costs no
  second write) and answers label selectors on it like on any label.

Chains' own marks are defined here (the store derives from them; ``tektite.chains.annotations``
re-exports them). A label a user sets under these keys is overridden.
"""

from __future__ import annotations

from typing import Any

from tektite.core.conditions import STATUS_LABEL, is_done, status_word

__all__ = [
    "CHAINS_FINALIZERS",
    "CHAINS_LABEL",
    "CHAINS_PENDING",
    "CHAINS_SIGNED",
    "DERIVED_KEYS",
    "DERIVED_KINDS",
    "DERIVED_VERSION",
    "chains_pending",
    "derived_labels",
]

JSON = dict[str, Any]

CHAINS_SIGNED = "chains.tekton.dev/signed"
CHAINS_FINALIZERS = {"TaskRun": "chains.tekton.dev", "PipelineRun": "chains.tekton.dev/pipelinerun"}
CHAINS_LABEL = "tektite.dev/chains"
CHAINS_PENDING = f"{CHAINS_LABEL}=pending"  # the label selector of the runs the watcher may act on
DERIVED_KINDS = frozenset({*CHAINS_FINALIZERS, "CustomRun"})  # the kinds with derived labels
DERIVED_KEYS = (STATUS_LABEL,)  # the label rows derived_labels writes
# Changed whenever what is derived changes: a store opening a database derived by another version
# derives everything again for every run (once).
DERIVED_VERSION = "3"  # 1: tektite.dev/status; 2: tektite.dev/chains; 3: CustomRuns' status


def chains_pending(obj: JSON) -> bool:
    """Whether the Chains watcher may have something to do on this run (reading nothing else).

    In progress: it lacks the Chains finalizer, or it is being deleted and still has it.
    Finished: it is not signed yet (``chains.tekton.dev/signed`` neither ``true`` nor ``failed``),
    or it still has the finalizer (its removal may wait for the parent PipelineRun's signing).
    """
    if obj.get("kind") not in CHAINS_FINALIZERS:
        return False  # Chains signs TaskRuns and PipelineRuns only
    meta = obj.get("metadata") or {}
    finalizer = CHAINS_FINALIZERS[obj["kind"]] in (meta.get("finalizers") or ())
    if not is_done(obj):
        return finalizer == bool(meta.get("deletionTimestamp"))
    return finalizer or (meta.get("annotations") or {}).get(CHAINS_SIGNED) not in ("true", "failed")


def derived_labels(obj: JSON) -> dict[str, str]:
    """The label rows the store adds for ``obj`` to its own (none unless it is a run)."""
    if obj.get("kind") not in DERIVED_KINDS:
        return {}
    return {STATUS_LABEL: status_word(obj)}
