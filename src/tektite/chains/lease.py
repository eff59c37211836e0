"""Leader election for Chains watchers sharing a store: one ``coordination.k8s.io/v1`` Lease.

Every watcher (the one inside an engine, ``tektite chains run``) competes for the Lease
``tekton-chains/tekton-chains-watcher``; only its holder signs. The holder renews it every
``duration / 3``; another watcher takes it over once ``renewTime + leaseDurationSeconds`` has passed
(the holder died). Every write is a compare-and-swap on the resourceVersion, so two watchers
cannot both win. A clean shutdown releases the Lease at once.

The signing itself does not rely on the Lease alone: the watcher marks a run with a
compare-and-swap too, so even a holder that stalled past its Lease cannot mark a run twice.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tektite.errors import AlreadyExists, Conflict, NotFound
from tektite.store.base import Store

__all__ = ["LEASE_NAME", "LEASE_NAMESPACE", "Lease", "new_identity"]

LEASE_NAME = "tekton-chains-watcher"
LEASE_NAMESPACE = "tekton-chains"
_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

JSON = dict[str, Any]


def new_identity() -> str:
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"


def _stamp(t: datetime) -> str:
    return t.strftime(_FORMAT)


def _parse(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, _FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


class Lease:
    def __init__(
        self,
        store: Store,
        identity: str | None = None,
        *,
        duration: float = 15.0,
        name: str = LEASE_NAME,
        namespace: str = LEASE_NAMESPACE,
    ) -> None:
        self.store = store
        self.identity = identity or new_identity()
        self.duration = float(duration)
        self.name = name
        self.namespace = namespace
        self._valid_until = 0.0  # monotonic; we hold the lease until then (with margin)

    def held(self) -> bool:
        """Whether this watcher holds the Lease now (by its last successful renewal)."""
        return time.monotonic() < self._valid_until

    def holder(self) -> str | None:
        obj = self.store.try_get("Lease", self.name, self.namespace)
        return ((obj or {}).get("spec") or {}).get("holderIdentity") if obj else None

    def try_acquire(self) -> bool:
        """Take, renew or keep out: True when this watcher holds the Lease afterwards."""
        started = time.monotonic()
        now = datetime.now(UTC)
        current = self.store.try_get("Lease", self.name, self.namespace)
        try:
            if current is None:
                self.store.create(self._object(now, now, 0))
            else:
                spec = current.get("spec") or {}
                mine = spec.get("holderIdentity") == self.identity
                if not mine and not self._expired(spec, now):
                    self._valid_until = 0.0
                    return False
                acquired = _parse(spec.get("acquireTime")) if mine else now
                transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
                body = self._object(acquired or now, now, transitions)
                body["metadata"] = {**current["metadata"], **body["metadata"]}
                self.store.update(body)
        except (AlreadyExists, Conflict, NotFound):
            self._valid_until = 0.0
            return False
        # keep a margin: stop acting a third of a duration before others may take over
        self._valid_until = started + self.duration * 2 / 3
        return True

    def release(self) -> None:
        """Give the Lease up (only if this watcher holds it), so another can take it at once."""
        self._valid_until = 0.0
        current = self.store.try_get("Lease", self.name, self.namespace)
        if current is None or (current.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        spec = dict(current.get("spec") or {})
        spec["holderIdentity"] = None
        spec["renewTime"] = _stamp(datetime.now(UTC) - timedelta(seconds=self.duration * 2))
        try:
            self.store.update({**current, "spec": spec})
        except (Conflict, NotFound):
            pass

    def _expired(self, spec: JSON, now: datetime) -> bool:
        if not spec.get("holderIdentity"):
            return True
        renewed = _parse(spec.get("renewTime"))
        seconds = float(spec.get("leaseDurationSeconds") or self.duration)
        return renewed is None or now > renewed + timedelta(seconds=seconds)

    def _object(self, acquired: datetime, renewed: datetime, transitions: int) -> JSON:
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.duration) if self.duration.is_integer() else self.duration,
                "acquireTime": _stamp(acquired),
                "renewTime": _stamp(renewed),
                "leaseTransitions": transitions,
            },
        }
