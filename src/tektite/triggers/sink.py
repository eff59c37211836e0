"""The EventListener sink: one HTTP event in -> interceptors, bindings, templates -> created objects.

Follows Triggers' ``pkg/sink``: the body must be JSON unless the listener is annotated
``tekton.dev/payload-validation: "false"`` (else 400); every event gets an ``eventID``; each
trigger runs its interceptor chain, resolves its bindings against the event, renders its template
and creates the objects through the cluster's admission, labelled with the listener, trigger and
event id. The answer is ``202`` with ``{eventListener, namespace, eventListenerUID, eventID}``
even when an interceptor rejects the event - unless a reject status is configured (tektite's
answer to triggers#1183), then an event that created nothing and was rejected or failed gets it.

Every event is recorded as a ``TriggerEvent`` (see :mod:`tektite.triggers.records`).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from tektite.api.triggers import EventListener, EventListenerSpec
from tektite.controller.cluster import Cluster
from tektite.core.secrets import secret_data
from tektite.errors import NotFound, TektiteError
from tektite.triggers import metrics, records
from tektite.triggers.bindings import EventData, resolve_params
from tektite.triggers.chain import Chain, ChainError, Headers, Step, canonical
from tektite.triggers.cloudevents import CloudEvents
from tektite.triggers.interceptors.base import SecretMissing, TriggerContext
from tektite.triggers.selection import TriggerView, binding_params, get_trigger, select_triggers, template_of
from tektite.triggers.templates import OLD_ESCAPE_ANNOTATION, label, render

log = logging.getLogger("tektite.triggers")

PAYLOAD_VALIDATION_ANNOTATION = "tekton.dev/payload-validation"
REJECT_STATUS_ANNOTATION = "triggers.tektite.dev/reject-status"


def utcnow() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Incoming:
    """One HTTP request as the sink sees it."""

    body: bytes
    headers: list[tuple[str, str]]
    url: str = "http://localhost/"
    method: str = "POST"

    def header_map(self) -> Headers:
        out: dict[str, list[str]] = {}
        for k, v in self.headers:
            out.setdefault(k, []).append(v)
        return canonical(out)


@dataclass
class TriggerResult:
    trigger: str
    namespace: str
    status: str = "created"  # created | rejected | failed
    group: str | None = None
    interceptors: list[Step] = field(default_factory=list)
    stopped_by: str | None = None
    reason: str = ""
    params: dict[str, str] = field(default_factory=dict)
    created: list[dict[str, str]] = field(default_factory=list)


@dataclass
class EventResult:
    event_id: str
    listener: str
    namespace: str
    listener_uid: str
    received_at: str
    status: str = "accepted"  # accepted | rejected | failed | no-triggers | invalid
    response_code: int = 202
    message: str = ""
    finished_at: str = ""
    triggers: list[TriggerResult] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set, repr=False)

    def response_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "eventListener": self.listener,
            "namespace": self.namespace,
            "eventListenerUID": self.listener_uid,
            "eventID": self.event_id,
        }
        if self.response_code != 202:
            body["status"] = self.status
            body["message"] = self.message
        return body

    def created(self) -> list[dict[str, str]]:
        return [obj for t in self.triggers for obj in t.created]


class Sink:
    """Processes events for the listeners stored in ``cluster`` (thread-safe; blocking I/O)."""

    def __init__(
        self, cluster: Cluster, *, http: httpx.Client | None = None, keep_events: int = records.DEFAULT_KEEP
    ) -> None:
        self.cluster = cluster
        self.http = http or httpx.Client()
        self.keep_events = keep_events
        self.cloud_events = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cloudevents")

    def close(self) -> None:
        self.cloud_events.shutdown(wait=True)
        self.http.close()

    # -- entry point -----------------------------------------------------------------------------
    def handle(
        self, namespace: str, name: str, incoming: Incoming, *, reject_status: int | None = None
    ) -> EventResult:
        """Process one event for EventListener ``namespace/name`` (raises ``NotFound``)."""
        started = time.monotonic()
        el_obj = self.cluster.store.get("EventListener", name, namespace)
        el = EventListener.model_validate(el_obj)
        meta = el_obj.get("metadata") or {}
        result = EventResult(str(uuid.uuid4()), name, namespace, str(meta.get("uid", "")), utcnow())
        annotations = meta.get("annotations") or {}
        reject_status = _reject_status(annotations.get(REJECT_STATUS_ANNOTATION), reject_status)
        events = CloudEvents(
            self.http, el.spec.cloud_event_uri if el.spec else None, result, self.cloud_events
        )
        body_json: Any = None
        try:
            body_json = json.loads(incoming.body) if incoming.body else None
            valid = incoming.body.strip() != b""
        except ValueError:
            valid = False
        if str(annotations.get(PAYLOAD_VALIDATION_ANNOTATION, "true")).lower() != "false" and not valid:
            result.status, result.response_code = "invalid", 400
            result.message = "Invalid event body format: the body is not JSON"
        else:
            events.send("started")
            self._run(el.spec or EventListenerSpec(), incoming, body_json, result)
            result.status = _summary(result.triggers)
            for t in result.triggers:
                events.send(
                    "successful" if t.status == "created" else "failed",
                    {"trigger": t.trigger, "status": t.status, "created": t.created},
                )
            if reject_status and result.status in ("rejected", "failed"):
                result.response_code = reject_status
                result.message = "; ".join(
                    f"{t.trigger or t.group}: {t.reason}" for t in result.triggers if t.reason
                )
            events.send("done")
        result.finished_at = utcnow()
        metrics.record(
            name,
            namespace,
            result.response_code,
            result.status,
            [c["kind"] for c in result.created()],
            time.monotonic() - started,
        )
        _mask(result)
        self._log(result)
        try:
            records.save(self.cluster.store, result, el_obj, incoming, keep=self.keep_events)
        except TektiteError as exc:  # the event was handled; a lost record must not turn it into a 500
            log.warning(
                "EventListener %s/%s: could not record event %s: %s", namespace, name, result.event_id, exc
            )
        return result

    # -- triggers ----------------------------------------------------------------------------------
    def _run(self, spec: EventListenerSpec, incoming: Incoming, body_json: Any, result: EventResult) -> None:
        chain = self._chain(result)
        header = incoming.header_map()
        views: list[TriggerView | TriggerResult] = []
        for i, t in enumerate(spec.triggers or []):
            if t.trigger_ref is not None:
                try:
                    views.append(get_trigger(self.cluster.store, t.trigger_ref, result.namespace))
                except NotFound as exc:
                    views.append(
                        TriggerResult(
                            t.trigger_ref, result.namespace, "failed", reason=f"triggers[{i}]: {exc}"
                        )
                    )
            else:
                views.append(TriggerView(t.name or "", result.namespace, t))
        views.extend(
            select_triggers(
                self.cluster.store, result.namespace, spec.namespace_selector, spec.label_selector
            )
        )
        for v in views:
            if isinstance(v, TriggerResult):
                result.triggers.append(v)
            else:
                result.triggers.append(self._trigger(chain, v, incoming, header, body_json, {}, result, None))
        for gi, group in enumerate(spec.trigger_groups or []):
            self._group(chain, gi, group, incoming, header, body_json, result)

    def _group(
        self,
        chain: Chain,
        gi: int,
        group: Any,
        incoming: Incoming,
        header: Headers,
        body_json: Any,
        result: EventResult,
    ) -> None:
        gname = group.name or f"triggerGroups[{gi}]"
        ctx = TriggerContext(
            incoming.url, result.event_id, f"namespaces/{result.namespace}/triggerGroups/{gname}"
        )
        try:
            ran = chain.run(group.interceptors or [], incoming.body, header, {}, ctx)
        except ChainError as exc:
            result.triggers.append(TriggerResult("", result.namespace, "failed", gname, reason=str(exc)))
            return
        if ran.stopped is not None:
            result.triggers.append(
                TriggerResult(
                    "",
                    result.namespace,
                    "rejected",
                    gname,
                    ran.steps,
                    ran.stopped.interceptor,
                    ran.stopped.message,
                )
            )
            return
        sel = group.trigger_selector
        views = select_triggers(
            self.cluster.store,
            result.namespace,
            sel.namespace_selector if sel else None,
            sel.label_selector if sel else None,
            always=True,
        )
        body = body_json if ran.body == incoming.body else _json_or_none(ran.body)
        sub = Incoming(
            ran.body, [(k, v) for k, vs in ran.header.items() for v in vs], incoming.url, incoming.method
        )
        for v in views:
            tr = self._trigger(chain, v, sub, ran.header, body, ran.extensions, result, gname)
            tr.interceptors = ran.steps + tr.interceptors
            result.triggers.append(tr)

    def _trigger(
        self,
        chain: Chain,
        view: TriggerView,
        incoming: Incoming,
        header: Headers,
        body_json: Any,
        extensions: dict[str, Any],
        result: EventResult,
        group: str | None,
    ) -> TriggerResult:
        out = TriggerResult(view.name, view.namespace, group=group)
        ctx = TriggerContext(incoming.url, result.event_id, view.trigger_id)
        try:
            ran = chain.run(list(view.spec.interceptors or []), incoming.body, header, extensions, ctx)
            out.interceptors = ran.steps
            if ran.stopped is not None:
                out.status, out.stopped_by, out.reason = (
                    "rejected",
                    ran.stopped.interceptor,
                    ran.stopped.message,
                )
                return out
            body = body_json if ran.body == incoming.body else _json_or_none(ran.body)
            template = template_of(self.cluster.store, view)
            event = EventData(
                body,
                ran.header,
                ran.extensions,
                {"eventID": result.event_id, "eventURL": incoming.url, "triggerID": view.trigger_id},
            )
            out.params = resolve_params(binding_params(self.cluster.store, view), event, template.params)
            old_escape = str(template.annotations.get(OLD_ESCAPE_ANNOTATION, "")).lower() == "true"
            objs = render(template.spec.resourcetemplates or [], out.params, old_escape=old_escape)
            for obj in objs:
                label(
                    obj,
                    eventlistener=result.listener,
                    trigger=view.name,
                    event_id=result.event_id,
                    namespace=view.namespace,
                )
                parsed = self.cluster.admit(obj)
                created = self.cluster.store.create(parsed.obj)
                cmeta = created["metadata"]
                out.created.append(
                    {
                        "apiVersion": created.get("apiVersion", ""),
                        "kind": created.get("kind", ""),
                        "namespace": cmeta.get("namespace", ""),
                        "name": cmeta.get("name", ""),
                        "uid": cmeta.get("uid", ""),
                    }
                )
        except (TektiteError, ChainError) as exc:
            out.status, out.reason = "failed", str(exc)
        except Exception as exc:  # a bug must not take the listener down; the record says what broke
            log.exception(
                "EventListener %s/%s: trigger %s failed", result.namespace, result.listener, view.name
            )
            out.status, out.reason = "failed", f"internal error: {type(exc).__name__}: {exc}"
        return out

    def _chain(self, result: EventResult) -> Chain:
        def secret(namespace: str, name: str, key: str) -> bytes:
            obj = self.cluster.store.try_get("Secret", name, namespace)
            if obj is None:
                raise SecretMissing(f'secret "{name}" not found in namespace "{namespace}"')
            data = secret_data(obj)
            if key not in data:
                raise SecretMissing(f'secret "{name}" in namespace "{namespace}" has no key "{key}"')
            value = data[key]
            text = value.decode("utf-8", errors="replace")
            if text:
                result.secrets.add(text)
            return value

        return Chain(self.cluster.store, self.http, self.cluster.configmap, secret)

    def _log(self, result: EventResult) -> None:
        created = ", ".join(f"{c['kind']} {c['namespace']}/{c['name']}" for c in result.created())
        reasons = "; ".join(f"{t.trigger or t.group}: {t.reason}" for t in result.triggers if t.reason)
        detail = created or reasons or result.message
        log.info(
            "EventListener %s/%s: event %s %s (%d)%s",
            result.namespace,
            result.listener,
            result.event_id,
            result.status,
            result.response_code,
            f": {detail}" if detail else "",
        )


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _summary(triggers: list[TriggerResult]) -> str:
    if not triggers:
        return "no-triggers"
    statuses = {t.status for t in triggers}
    if "created" in statuses:
        return "accepted"
    return "rejected" if "rejected" in statuses else "failed"


def _reject_status(annotation: Any, default: int | None) -> int | None:
    if annotation is None:
        return default
    try:
        code = int(str(annotation))
    except ValueError:
        return default
    return code if 400 <= code <= 599 else default


def _mask(result: EventResult) -> None:
    """Secret values read while handling the event never reach the record or the logs."""
    secrets = sorted((s for s in result.secrets if len(s) >= 3), key=len, reverse=True)
    if not secrets:
        return

    def clean(text: str) -> str:
        for s in secrets:
            text = text.replace(s, "***")
        return text

    result.message = clean(result.message)
    for t in result.triggers:
        t.reason = clean(t.reason)
        t.params = {k: clean(v) for k, v in t.params.items()}
        for step in t.interceptors:
            step.message = clean(step.message)
