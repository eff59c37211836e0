"""The annotations and finalizers Chains reads and writes on runs (``pkg/chains/annotations``).

- ``chains.tekton.dev/signed``: ``"true"`` once formatted, signed and stored; ``"failed"`` after
  :data:`MAX_RETRIES` retries. Either value means "reconciled": never processed again.
- ``chains.tekton.dev/retries``: how many times signing was retried (``"1"`` .. ``"3"``).
- ``chains.tekton.dev/error``: tektite's addition, why the last attempt failed (shown by
  ``tektite describe``).
- Finalizers ``chains.tekton.dev`` (TaskRuns) and ``chains.tekton.dev/pipelinerun`` (PipelineRuns),
  the names Chains' reconcilers register, hold a finished run until it is signed.
"""

from __future__ import annotations

from typing import Any

from tektite.core.conditions import is_done
from tektite.core.derived import CHAINS_FINALIZERS, CHAINS_SIGNED

__all__ = [
    "ERROR",
    "FINALIZERS",
    "MAX_RETRIES",
    "PREFIX",
    "RETRIES",
    "SIGNED",
    "annotations_of",
    "finalizer_for",
    "has_finalizer",
    "is_reconciled",
    "needs_signing",
    "retries",
    "short_key",
    "wants_chains",
]

PREFIX = "chains.tekton.dev/"
SIGNED = CHAINS_SIGNED  # the store derives tektite.dev/chains from it (tektite.core.derived)
RETRIES = PREFIX + "retries"
ERROR = PREFIX + "error"
MAX_RETRIES = 3
FINALIZERS = CHAINS_FINALIZERS
_ALWAYS_MANAGED = ("", "tekton.dev/pipeline")

JSON = dict[str, Any]


def finalizer_for(kind: str) -> str:
    return FINALIZERS[kind]


def annotations_of(obj: JSON) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def is_reconciled(obj: JSON) -> bool:
    """``signing.Reconciled``: signed is ``"true"`` or ``"failed"``."""
    return annotations_of(obj).get(SIGNED) in ("true", "failed")


def retries(obj: JSON) -> int:
    """The retry count; an unreadable value counts as exhausted (as Chains' ``RetryAvailable``)."""
    value = annotations_of(obj).get(RETRIES)
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        return MAX_RETRIES


def short_key(kind: str, uid: str) -> str:
    """``taskrun-<uid>`` / ``pipelinerun-<uid>``: the key of a run's own entries in storage."""
    return f"{kind.lower()}-{uid}"


def wants_chains(obj: JSON, managed_by: tuple[str, ...]) -> bool:
    """``filter.managed-by``: runs with no ``spec.managedBy``, Tekton's own, or a listed value."""
    value = (obj.get("spec") or {}).get("managedBy") or ""
    return value in _ALWAYS_MANAGED or value in managed_by


def has_finalizer(obj: JSON) -> bool:
    return finalizer_for(obj["kind"]) in ((obj.get("metadata") or {}).get("finalizers") or [])


def needs_signing(obj: JSON) -> bool:
    return is_done(obj) and not is_reconciled(obj)
