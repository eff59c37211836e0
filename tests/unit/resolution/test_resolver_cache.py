"""The resolver cache's rules: which references it keeps (the cache param, each resolver's
default-cache-mode, auto only for what cannot change), for how long and how many."""

from __future__ import annotations

from typing import Any

import pytest

from tektite.resolution import Resolved
from tektite.resolution.cache import ResolverCache, cache_mode

SHA = "0123456789abcdef0123456789abcdef01234567"
JSON = dict[str, Any]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def configs(**maps: dict[str, str]) -> Any:
    def get(kind: str, name: str, namespace: str) -> JSON | None:
        assert (kind, namespace) == ("ConfigMap", "tekton-pipelines-resolvers")
        return {"data": maps[name.replace("-", "_")]} if name.replace("-", "_") in maps else None

    return get


class Fetches:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> Resolved:
        self.count += 1
        return Resolved({"kind": "Task", "spec": {"n": self.count}}, {"uri": "u"}, remote=True)


def resolve(
    cache: ResolverCache, fetch: Fetches, resolver: str, params: dict[str, str], get: Any = None
) -> Resolved:
    return cache.resolve(resolver, "task", "default", params, get, fetch)


@pytest.mark.parametrize(
    ("resolver", "params", "cached"),
    [
        ("git", {"url": "u", "revision": SHA, "pathInRepo": "t.yaml"}, True),  # a commit: cannot change
        ("git", {"url": "u", "revision": "main", "pathInRepo": "t.yaml"}, False),
        ("git", {"url": "u", "revision": "main", "pathInRepo": "t.yaml", "cache": "always"}, True),
        ("git", {"url": "u", "revision": SHA, "pathInRepo": "t.yaml", "cache": "never"}, False),
        ("bundles", {"bundle": "r/b@sha256:" + "a" * 64, "name": "t"}, True),
        ("bundles", {"bundle": "r/b:v1", "name": "t"}, False),
        ("cluster", {"name": "t"}, False),  # cluster objects change in place: auto never caches
        ("cluster", {"name": "t", "cache": "always"}, True),
    ],
)
def test_what_is_cached(resolver: str, params: dict[str, str], cached: bool) -> None:
    cache, fetch = ResolverCache(Clock()), Fetches()
    first = resolve(cache, fetch, resolver, params)
    again = resolve(cache, fetch, resolver, params)
    assert fetch.count == (1 if cached else 2)
    assert again.obj == first.obj if cached else again.obj != first.obj


def test_a_resolvers_default_cache_mode_applies_unless_the_ref_says_otherwise() -> None:
    get = configs(git_resolver_config={"default-cache-mode": "always"})
    assert cache_mode("git", {"revision": "main"}, get) == "always"
    assert cache_mode("git", {"revision": "main", "cache": "never"}, get) == "never"
    assert cache_mode("bundles", {}, get) == "auto"
    assert cache_mode("git", {"cache": "sometimes"}, None) == "auto"


def test_entries_expire_after_the_ttl_and_the_least_recently_used_goes_first() -> None:
    clock, fetch = Clock(), Fetches()
    cache = ResolverCache(clock)
    get = configs(resolver_cache_config={"max-size": "2", "default-ttl": "30s"})
    a, b, c = ({"url": x, "revision": SHA, "pathInRepo": "t"} for x in "abc")
    resolve(cache, fetch, "git", a, get)
    clock.now += 29
    resolve(cache, fetch, "git", a, get)
    assert fetch.count == 1
    clock.now += 2  # 31 s after it was fetched
    resolve(cache, fetch, "git", a, get)
    assert fetch.count == 2
    resolve(cache, fetch, "git", b, get)
    resolve(cache, fetch, "git", a, get)  # a is now the most recently used
    resolve(cache, fetch, "git", c, get)  # over max-size 2: b goes
    assert fetch.count == 4
    resolve(cache, fetch, "git", a, get)
    assert fetch.count == 4
    resolve(cache, fetch, "git", b, get)
    assert fetch.count == 5


def test_bad_limits_keep_the_defaults_and_callers_get_their_own_copy() -> None:
    get = configs(resolver_cache_config={"max-size": "lots", "ttl": "forever"})
    assert ResolverCache._limits(get) == (1000, 300.0)
    cache, fetch = ResolverCache(Clock()), Fetches()
    params = {"url": "u", "revision": SHA, "pathInRepo": "t"}
    resolve(cache, fetch, "git", params).obj["spec"]["n"] = "changed by a caller"
    assert resolve(cache, fetch, "git", params).obj["spec"]["n"] == 1
