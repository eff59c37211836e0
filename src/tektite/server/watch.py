"""``?watch=true``: a stream of ``{"type": ..., "object": ...}`` lines, as the apiserver sends.

Events come from the store's event log, so a watch resumes exactly from any ``resourceVersion``
still retained (an expired one gets an ``ERROR`` event with a 410 ``Expired`` Status, and the
client relists). Writes in this process wake watchers at once; writes by other processes on the
same store (the CLI) are picked up by polling.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from tektite.errors import TektiteError
from tektite.server.auth import Principal, redact
from tektite.server.resources import Query
from tektite.server.status import status_body
from tektite.server.tables import table
from tektite.server.target import Target
from tektite.store.base import Event, Store

JSON = dict[str, Any]
POLL_SECONDS = 0.5


class Broadcaster:
    """Wakes every waiting watch when the store reports a write (from any thread)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.loop: asyncio.AbstractEventLoop | None = None
        self.waiters: set[asyncio.Event] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._unsubscribe is None:
            self.loop = asyncio.get_running_loop()
            self._unsubscribe = self.store.subscribe(self._on_event)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_event(self, _evt: Event) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        for waiter in list(self.waiters):
            waiter.set()

    async def wait(self, timeout: float) -> None:
        self.start()
        waiter = asyncio.Event()
        self.waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self.waiters.discard(waiter)


def _line(type_: str, obj: JSON) -> bytes:
    return (json.dumps({"type": type_, "object": obj}, separators=(",", ":")) + "\n").encode()


def _selected(target: Target, query: Query, obj: JSON) -> bool:
    ns = target.namespace
    if target.kind.namespaced and ns is not None and (obj.get("metadata") or {}).get("namespace") != ns:
        return False
    if target.name is not None and (obj.get("metadata") or {}).get("name") != target.name:
        return False
    return query.selects(obj)


async def stream(
    broadcaster: Broadcaster,
    target: Target,
    query: Query,
    principal: Principal | None,
    resource_version: str | None,
    timeout_seconds: float | None,
    as_table: bool,
    initial: list[JSON],
    initial_rv: int,
    drain: bool = False,
) -> AsyncIterator[bytes]:
    """The watch body. ``initial`` are the objects to send as ADDED first (resourceVersion unset
    or "0"); ``initial_rv`` is where the event log is read from after them."""
    store = broadcaster.store
    deadline = time.monotonic() + timeout_seconds if timeout_seconds else None
    headers_sent = False

    def render(obj: JSON) -> JSON:
        nonlocal headers_sent
        obj = redact(principal, obj)
        if not as_table:
            return obj
        out = table(
            target.kind.kind, [obj], obj["metadata"].get("resourceVersion", ""), headers=not headers_sent
        )
        headers_sent = True
        return out

    for obj in initial:
        yield _line("ADDED", render(obj))
    last = initial_rv
    kinds = (target.kind.kind,)
    while True:
        try:
            events = await asyncio.to_thread(store.events_since, last, kinds)
        except TektiteError as exc:
            yield _line("ERROR", status_body(int(exc.http_status), str(exc.reason), exc.message))
            return
        for evt in events:
            last = max(last, evt.resource_version)
            if _selected(target, query, evt.object):
                yield _line(evt.type, render(evt.object))
        if len(events) >= 1000:
            continue
        if drain:  # tektite extension ?drain=true: end once the backlog is sent
            return
        if deadline is not None and time.monotonic() >= deadline:
            return
        wait = POLL_SECONDS if deadline is None else max(0.0, min(POLL_SECONDS, deadline - time.monotonic()))
        await broadcaster.wait(wait)


def start_rv(resource_version: str | None) -> int | None:
    """None: send the current state first (unset or "0"); else the rv to resume after."""
    if resource_version in (None, "", "0"):
        return None
    try:
        return int(str(resource_version))
    except ValueError:
        raise TektiteError(f'invalid resourceVersion "{resource_version}"; expected a number') from None
