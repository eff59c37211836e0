"""CloudEvents an EventListener sends to its ``cloudEventURI`` while it processes an event.

Types ``dev.tekton.event.triggers.{started,successful,failed,done}.v1``, sent in binary content
mode (``ce-*`` headers, JSON data), in order, from a background thread. Delivery is best effort: a
sink that is slow or down never delays or changes how the event is handled.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import Executor
from typing import Any, Protocol

import httpx

log = logging.getLogger("tektite.triggers")

PREFIX = "dev.tekton.event.triggers"


class _Event(Protocol):
    event_id: str
    listener: str
    namespace: str
    listener_uid: str


class CloudEvents:
    def __init__(
        self, http: httpx.Client, uri: str | None, event: _Event, sender: Executor | None = None
    ) -> None:
        self.http = http
        self.uri = uri
        self.event = event
        self.sender = sender

    def send(self, what: str, data: dict[str, Any] | None = None) -> None:
        if not self.uri:
            return
        e = self.event
        headers = {
            "ce-specversion": "1.0",
            "ce-id": str(uuid.uuid4()),
            "ce-type": f"{PREFIX}.{what}.v1",
            "ce-source": f"/apis/triggers.tekton.dev/v1beta1/namespaces/{e.namespace}/eventlisteners/{e.listener}",
            "ce-subject": e.listener,
            "content-type": "application/json",
        }
        body = {
            "eventListener": e.listener,
            "namespace": e.namespace,
            "eventListenerUID": e.listener_uid,
            "eventID": e.event_id,
            **(data or {}),
        }
        try:
            self.http.post(self.uri, json=body, headers=headers, timeout=5.0)
        except httpx.HTTPError as exc:
            log.warning(
                "EventListener %s/%s: cloud event %s to %s failed: %s",
                e.namespace,
                e.listener,
                what,
                self.uri,
                exc,
            )
