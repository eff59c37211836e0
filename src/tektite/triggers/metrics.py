"""EventListener metrics (Tekton's names, plus the listener and namespace as labels since one
tektite process serves every listener). Registered in prometheus-client's default registry, which
``tektite serve`` exposes at ``/metrics``:

- ``eventlistener_event_received_count`` {eventlistener, namespace, status}: events received;
  ``status`` is ``succeeded`` (answered 202) or ``failed`` (any other answer). prometheus-client
  exposes counters with a ``_total`` suffix.
- ``eventlistener_triggered_resources`` {eventlistener, namespace, kind}: objects created.
- ``eventlistener_http_duration_seconds`` {eventlistener, namespace}: time to handle an event.
- ``tektite_eventlistener_events`` {eventlistener, namespace, outcome}: tektite's finer outcome
  (``accepted``, ``rejected``, ``failed``, ``invalid``, ``no-triggers``).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram


def _metric(cls: Any, name: str, doc: str, labels: list[str]) -> Any:
    existing = REGISTRY._names_to_collectors.get(name) or REGISTRY._names_to_collectors.get(f"{name}_total")
    return existing if existing is not None else cls(name, doc, labels)


EVENTS = _metric(
    Counter,
    "eventlistener_event_received_count",
    "Events an EventListener received, by answer (succeeded: 202, failed: anything else)",
    ["eventlistener", "namespace", "status"],
)
RESOURCES = _metric(
    Counter,
    "eventlistener_triggered_resources",
    "Objects EventListeners created, by kind",
    ["eventlistener", "namespace", "kind"],
)
DURATION = _metric(
    Histogram,
    "eventlistener_http_duration_seconds",
    "Time an EventListener took to handle an event",
    ["eventlistener", "namespace"],
)
OUTCOMES = _metric(
    Counter,
    "tektite_eventlistener_events",
    "Events by tektite's outcome: accepted, rejected, failed, invalid, no-triggers",
    ["eventlistener", "namespace", "outcome"],
)


def record(listener: str, namespace: str, code: int, outcome: str, kinds: list[str], seconds: float) -> None:
    EVENTS.labels(listener, namespace, "succeeded" if code == 202 else "failed").inc()
    OUTCOMES.labels(listener, namespace, outcome).inc()
    for kind in kinds:
        RESOURCES.labels(listener, namespace, kind).inc()
    DURATION.labels(listener, namespace).observe(seconds)
