"""Interceptors, registered by name. The core ones run in-process; others are HTTP services.

``get("github")`` returns the callable for a core interceptor, or ``None`` when the name is not
built in (then the name refers to a ``ClusterInterceptor``/``Interceptor`` object, see
:mod:`tektite.triggers.interceptors.remote`). :func:`register` adds or replaces one.
"""

from __future__ import annotations

from tektite.triggers.interceptors.base import (
    Code,
    CoreInterceptor,
    Env,
    InterceptorRequest,
    InterceptorResponse,
    TriggerContext,
    fail,
    ok,
)

__all__ = [
    "Code",
    "CoreInterceptor",
    "Env",
    "InterceptorRequest",
    "InterceptorResponse",
    "TriggerContext",
    "fail",
    "get",
    "names",
    "ok",
    "register",
]

_REGISTRY: dict[str, CoreInterceptor] = {}
_LOADED = False


def register(name: str, interceptor: CoreInterceptor) -> None:
    _REGISTRY[name] = interceptor


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from tektite.triggers.interceptors import bitbucket, cel, github, gitlab, slack

    for module in (bitbucket, cel, github, gitlab, slack):
        _REGISTRY.setdefault(module.NAME, module.process)


def get(name: str) -> CoreInterceptor | None:
    _load()
    return _REGISTRY.get(name)


def names() -> list[str]:
    _load()
    return sorted(_REGISTRY)
