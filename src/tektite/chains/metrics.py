"""Chains' controller counters (``docs/metrics.md`` of Chains), in prometheus-client's default registry.

=================================================  =========================================
``watcher_{taskrun,pipelinerun}_sign_created_total``      a payload was signed
``watcher_{taskrun,pipelinerun}_payload_stored_total``    a signed payload was stored by one backend
``watcher_{taskrun,pipelinerun}_payload_uploaded_total``  uploaded to a transparency log (never:
                                                          ``transparency.enabled`` is not supported yet)
``watcher_{taskrun,pipelinerun}_marked_signed_total``     a run was marked ``chains.tekton.dev/signed``
``watcher_{taskrun,pipelinerun}_signing_failures_total``  a signing attempt failed
=================================================  =========================================

The server's ``/metrics`` serves the default registry; a process counts what it did itself.
"""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["KINDS", "Metrics", "counter"]

KINDS = ("taskrun", "pipelinerun")
_EVENTS = {
    "sign_created": "Total number of signed messages for {}s",
    "payload_uploaded": "Total number of uploaded payloads for {}s",
    "payload_stored": "Total number of stored payloads for {}s",
    "marked_signed": "Total number of objects marked as signed for {}s",
    "signing_failures": "Total number of {} signing failures",
}
_KIND_WORD = {"taskrun": "TaskRun", "pipelinerun": "PipelineRun"}

_COUNTERS: dict[tuple[str, str], Counter] = {}
for _kind in KINDS:
    for _event, _help in _EVENTS.items():
        word = _kind if _event != "signing_failures" else _KIND_WORD[_kind]
        # prometheus-client adds the "_total" suffix itself
        _COUNTERS[(_kind, _event)] = Counter(f"watcher_{_kind}_{_event}", _help.format(word))


def counter(kind: str, event: str) -> Counter:
    """The counter for a run kind (``TaskRun``/``PipelineRun``) and an event name."""
    return _COUNTERS[(kind.lower(), event)]


class Metrics:
    """Counts for the counters; :meth:`inc` is what the watcher and the signer call, and
    :meth:`flush` adds what was counted to the served counters (the watcher flushes after each
    batch of runs: a prometheus increment takes a lock, and a signed run makes three).
    ``totals`` keeps this object's own increments (a shard process hands them to its parent,
    which counts them: a shard's own registry is never served, so it keeps ``totals`` only,
    ``live=False``)."""

    def __init__(self, *, live: bool = True) -> None:
        self.totals: dict[tuple[str, str], int] = {}
        self.live = live
        self._unsent: dict[tuple[str, str], int] = {}

    def inc(self, kind: str, event: str, amount: int = 1) -> None:
        if amount:
            key = (kind, event)
            self.totals[key] = self.totals.get(key, 0) + amount
            if self.live:
                self._unsent[key] = self._unsent.get(key, 0) + amount

    def flush(self) -> None:
        unsent, self._unsent = self._unsent, {}
        for (kind, event), amount in unsent.items():
            counter(kind, event).inc(amount)
