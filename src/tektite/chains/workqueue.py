"""A thread-safe work queue of run keys: deduplicated, with delayed items (retries).

A key queued twice is processed once, with the newest object seen for it (by resourceVersion).
A key waiting for a delay keeps waiting when it is queued again without one.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from typing import Any

__all__ = ["Key", "WorkQueue"]

Key = tuple[str, str, str]  # kind, namespace, name
JSON = dict[str, Any]


def _rv(obj: JSON | None) -> int:
    try:
        return int(((obj or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


class WorkQueue:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._hints: dict[Key, JSON | None] = {}
        self._ready: deque[Key] = deque()
        self._delayed: list[tuple[float, int, Key]] = []
        self._due: dict[Key, float] = {}
        self._seq = itertools.count()
        self._closed = False

    def put(self, key: Key, hint: JSON | None = None, delay: float = 0.0) -> None:
        with self._cond:
            if key in self._hints:
                if hint is not None and _rv(hint) >= _rv(self._hints[key]):
                    self._hints[key] = hint
                if delay <= 0 or key in self._due:
                    return
                self._remove_ready(key)  # now wait for the delay
            else:
                self._hints[key] = hint
            if delay > 0:
                due = time.monotonic() + delay
                self._due[key] = due
                heapq.heappush(self._delayed, (due, next(self._seq), key))
            else:
                self._ready.append(key)
            self._cond.notify()

    def _remove_ready(self, key: Key) -> None:
        try:
            self._ready.remove(key)
        except ValueError:
            pass

    def _promote(self, now: float, everything: bool = False) -> None:
        while self._delayed and (everything or self._delayed[0][0] <= now):
            due, _, key = heapq.heappop(self._delayed)
            if self._due.get(key) == due:
                del self._due[key]
                self._ready.append(key)

    def get(self, timeout: float | None = None) -> tuple[Key, JSON | None] | None:
        """The next ready key and its newest object; None on timeout or once closed and empty."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                self._promote(now, everything=self._closed)
                if self._ready:
                    key = self._ready.popleft()
                    return key, self._hints.pop(key, None)
                if self._closed:
                    return None
                waits = [w for w in (deadline, self._delayed[0][0] if self._delayed else None) if w]
                wait = min(waits) - now if waits else None
                if deadline is not None and now >= deadline:
                    return None
                self._cond.wait(max(wait, 0.001) if wait is not None else None)

    def close(self) -> None:
        """From now on delays are ignored and ``get`` returns None once the queue is empty."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._hints.clear()
            self._ready.clear()
            self._delayed.clear()
            self._due.clear()

    def __len__(self) -> int:
        with self._cond:
            return len(self._hints)
