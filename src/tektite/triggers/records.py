"""Every event a listener receives, kept as a ``TriggerEvent`` object (beyond Tekton: triggers#1183).

``triggers.tektite.dev/v1alpha1 TriggerEvent``, named after the event id, in the listener's
namespace, owned by the listener (deleting it deletes its records), labelled
``triggers.tekton.dev/eventlistener``, ``triggers.tekton.dev/triggers-eventid`` and
``triggers.tektite.dev/status`` so ``list`` with selectors and pagination works. ``spec`` says what
came in (method, path, content type, size and SHA-256 of the body, header names - values only for
a few harmless headers such as ``X-GitHub-Event``); ``status`` what came of it: the answer, and per
trigger its interceptors, bound params (secret values masked), created objects or the reason it
stopped. Only the newest ``keep`` records per listener are kept.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tektite.api.triggers import TEKTITE_TRIGGERS_GROUP
from tektite.store.base import JSON, ListResult, Store
from tektite.triggers.templates import EVENTID_LABEL, EVENTLISTENER_LABEL

if TYPE_CHECKING:
    from tektite.triggers.sink import EventResult, Incoming

KIND = "TriggerEvent"
API_VERSION = f"{TEKTITE_TRIGGERS_GROUP}/v1alpha1"
STATUS_LABEL = f"{TEKTITE_TRIGGERS_GROUP}/status"
DEFAULT_KEEP = 1000

SHOWN_HEADERS = {
    "content-type",
    "user-agent",
    "x-github-event",
    "x-github-delivery",
    "x-github-enterprise-host",
    "x-gitlab-event",
    "x-gitlab-event-uuid",
    "x-event-key",
    "x-request-id",
    "ce-type",
    "ce-id",
    "ce-source",
    "ce-specversion",
}


def to_object(result: EventResult, listener: JSON, incoming: Incoming) -> JSON:
    meta = listener.get("metadata") or {}
    headers: dict[str, str] = {}
    for k, v in incoming.headers:
        if k.lower() in SHOWN_HEADERS:
            headers[k] = v
        else:
            headers.setdefault(k, "(not recorded)")
    triggers: list[dict[str, Any]] = []
    for t in result.triggers:
        entry: dict[str, Any] = {"name": t.trigger, "namespace": t.namespace, "status": t.status}
        if t.group:
            entry["triggerGroup"] = t.group
        if t.interceptors:
            entry["interceptors"] = [s.to_json() for s in t.interceptors]
        if t.stopped_by:
            entry["stoppedBy"] = t.stopped_by
        if t.reason:
            entry["reason"] = t.reason
        if t.params:
            entry["params"] = [{"name": k, "value": v} for k, v in t.params.items()]
        if t.created:
            entry["created"] = t.created
        triggers.append(entry)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": result.event_id,
            "namespace": result.namespace,
            "labels": {
                EVENTLISTENER_LABEL: result.listener,
                EVENTID_LABEL: result.event_id,
                STATUS_LABEL: result.status,
            },
            "ownerReferences": [
                {
                    "apiVersion": listener.get("apiVersion", ""),
                    "kind": "EventListener",
                    "name": result.listener,
                    "uid": meta.get("uid", ""),
                }
            ],
        },
        "spec": {
            "eventListener": result.listener,
            "eventListenerUID": result.listener_uid,
            "eventID": result.event_id,
            "receivedAt": result.received_at,
            "request": {
                "method": incoming.method,
                "path": urlsplit(incoming.url).path or "/",
                "headers": headers,
                "bodyBytes": len(incoming.body),
                "bodySHA256": hashlib.sha256(incoming.body).hexdigest(),
            },
        },
        "status": {
            "status": result.status,
            "responseCode": result.response_code,
            **({"message": result.message} if result.message else {}),
            "finishedAt": result.finished_at,
            "triggers": triggers,
        },
    }


def save(
    store: Store, result: EventResult, listener: JSON, incoming: Incoming, keep: int = DEFAULT_KEEP
) -> JSON:
    obj = store.create(to_object(result, listener, incoming))
    if keep > 0:
        prune(store, result.namespace, result.listener, keep)
    return obj


def selector(listener: str, status: str | None = None) -> str:
    sel = f"{EVENTLISTENER_LABEL}={listener}"
    return f"{sel},{STATUS_LABEL}={status}" if status else sel


def list_events(
    store: Store,
    namespace: str,
    listener: str,
    *,
    status: str | None = None,
    limit: int | None = None,
    continue_token: str | None = None,
) -> ListResult:
    """A listener's records, newest first."""
    return store.list(
        KIND,
        namespace,
        label_selector=selector(listener, status),
        limit=limit,
        continue_token=continue_token,
        order="-created",
    )


def prune(store: Store, namespace: str, listener: str, keep: int) -> int:
    """Delete all but the newest ``keep`` records of a listener; returns how many went.

    Runs only once a tenth of ``keep`` more has piled up, so a busy listener does not re-read its
    ``keep`` newest records on every event.
    """
    first = list_events(store, namespace, listener, limit=1)
    total = 1 + (first.remaining or 0) if first.items else 0
    if total <= keep + max(keep // 10, 0):
        return 0
    page = list_events(store, namespace, listener, limit=keep)
    if not page.continue_token:
        return 0
    old = list_events(store, namespace, listener, continue_token=page.continue_token).items
    for obj in old:
        store.delete(KIND, obj["metadata"]["name"], namespace)
    return len(old)
