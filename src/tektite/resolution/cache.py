"""The resolver cache (Tekton's, ``resolution.md`` "Resolver Cache Configuration").

What the git, bundles and cluster resolvers fetched is kept for ``default-ttl`` (5 minutes), at
most ``max-size`` (1,000) entries, least recently used first out; both are read from the
``resolver-cache-config`` ConfigMap of ``tekton-pipelines-resolvers`` (a missing or invalid value
keeps the default). Each reference chooses with its ``cache`` param, else its resolver's
``default-cache-mode`` (``git-resolver-config``, ``bundleresolver-config``,
``cluster-resolver-config``), else ``auto``:

- ``always``: cached;
- ``never``: not cached;
- ``auto``: cached only when the reference cannot change: a git ``revision`` that is a commit hash,
  a bundle by digest. The cluster resolver (its objects change in place) and the http resolver
  never cache under ``auto``.

A pipeline whose tasks come from one commit or one bundle then fetches it once, not once per task.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tektite.core.durations import DurationError, parse_duration

if TYPE_CHECKING:
    from tektite.resolution import Resolved

__all__ = ["CACHE_CONFIG", "RESOLVERS_NAMESPACE", "ResolverCache", "cache_mode"]

JSON = dict[str, Any]
Getter = Callable[[str, str, str], JSON | None]

RESOLVERS_NAMESPACE = "tekton-pipelines-resolvers"
CACHE_CONFIG = "resolver-cache-config"
MODES = ("always", "never", "auto")
_RESOLVER_CONFIGS = {
    "git": "git-resolver-config",
    "bundles": "bundleresolver-config",
    "cluster": "cluster-resolver-config",
}
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _config(get: Getter | None, name: str) -> dict[str, str]:
    found = get("ConfigMap", name, RESOLVERS_NAMESPACE) if get else None
    return {str(k): str(v) for k, v in ((found or {}).get("data") or {}).items()}


def cache_mode(resolver: str, params: dict[str, str], get: Getter | None) -> str:
    """``always``, ``never`` or ``auto`` for one reference (an unknown value reads as ``auto``)."""
    mode = params.get("cache") or _config(get, _RESOLVER_CONFIGS.get(resolver, "")).get(
        "default-cache-mode", ""
    )
    return mode if mode in MODES else "auto"


def _immutable(resolver: str, params: dict[str, str]) -> bool:
    if resolver == "git":
        return bool(_COMMIT.fullmatch(params.get("revision", "")))
    if resolver == "bundles":
        return "@sha256:" in params.get("bundle", "")
    return False


class ResolverCache:
    """A thread-safe LRU of resolved references with a time-to-live (see the module doc)."""

    DEFAULT_SIZE = 1000
    DEFAULT_TTL = 300.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[Any, ...], tuple[float, Resolved]] = OrderedDict()
        self._fetching: dict[tuple[Any, ...], threading.Lock] = {}  # one fetch per key at a time
        self.hits = 0

    @staticmethod
    def _limits(get: Getter | None) -> tuple[int, float]:
        data = _config(get, CACHE_CONFIG)
        try:
            size = int(data.get("max-size", ResolverCache.DEFAULT_SIZE))
        except ValueError:
            size = ResolverCache.DEFAULT_SIZE
        ttl_text = data.get("default-ttl") or data.get("ttl")  # the docs use both names
        try:
            ttl = parse_duration(ttl_text) if ttl_text else ResolverCache.DEFAULT_TTL
        except DurationError:
            ttl = ResolverCache.DEFAULT_TTL
        return (size if size > 0 else ResolverCache.DEFAULT_SIZE), ttl

    def resolve(
        self,
        resolver: str,
        kind: str,
        namespace: str,
        params: dict[str, str],
        get: Getter | None,
        fetch: Callable[[], Resolved],
    ) -> Resolved:
        """``fetch()``'s answer, from the cache when the reference's mode allows and it is there."""
        mode = cache_mode(resolver, params, get)
        if mode == "never" or (mode == "auto" and not _immutable(resolver, params)):
            return fetch()
        # the namespace is part of the key: a Secret the params name, a cluster object, are per namespace
        key = (resolver, kind, namespace, tuple(sorted((k, v) for k, v in params.items() if k != "cache")))
        size, ttl = self._limits(get)
        with self._lock:
            fetching = self._fetching.setdefault(key, threading.Lock())
        # the tasks of a pipeline start together: the first fetches, the others wait for its answer
        with fetching:
            now = self._clock()
            with self._lock:
                found = self._entries.get(key)
                if found is not None and now - found[0] < ttl:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return copy.deepcopy(found[1])
            resolved = fetch()
            with self._lock:
                self._entries[key] = (now, copy.deepcopy(resolved))
                self._entries.move_to_end(key)
                while len(self._entries) > size:
                    evicted, _ = self._entries.popitem(last=False)
                    self._fetching.pop(evicted, None)
        return resolved
