"""``cel``: ``filter`` must evaluate to true; each of ``overlays`` ``{key, expression}`` adds the
expression's value to ``extensions`` at ``key`` (a dotted path; the body is never modified)."""

from __future__ import annotations

import json
from typing import Any

from tektite.triggers.celenv import CELError, activation, evaluate, functions, to_native
from tektite.triggers.interceptors.base import (
    Code,
    Env,
    InterceptorRequest,
    InterceptorResponse,
    SecretMissing,
    fail,
    ok,
)

NAME = "cel"


def set_path(target: dict[str, Any], key: str, value: Any) -> None:
    """sjson's ``SetBytes``: ``a.b`` sets ``target["a"]["b"]``; ``\\.`` is a literal dot."""
    parts: list[str] = []
    current = ""
    i = 0
    while i < len(key):
        ch = key[i]
        if ch == "\\" and i + 1 < len(key):
            current += key[i + 1]
            i += 2
            continue
        if ch == ".":
            parts.append(current)
            current = ""
        else:
            current += ch
        i += 1
    parts.append(current)
    node = target
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def process(request: InterceptorRequest, env: Env) -> InterceptorResponse:
    params = request.interceptor_params
    filter_ = params.get("filter")
    overlays = params.get("overlays") or []
    if filter_ is not None and not isinstance(filter_, str):
        return fail(Code.INVALID_ARGUMENT, "failed to parse interceptor params: filter must be a string")
    if not isinstance(overlays, list) or not all(
        isinstance(o, dict) and isinstance(o.get("key"), str) and isinstance(o.get("expression"), str)
        for o in overlays
    ):
        return fail(
            Code.INVALID_ARGUMENT,
            "failed to parse interceptor params: overlays must be a list of {key, expression}",
        )
    try:
        body = json.loads(request.body) if request.body.strip() else {}
    except ValueError as exc:
        return fail(
            Code.INVALID_ARGUMENT,
            f"error making the evaluation context: failed to parse the body as JSON: {exc}",
        )
    context = activation(body, request.header, request.context.event_url, request.extensions)

    def lookup(namespace: str, name: str, key: str) -> bytes | None:
        try:
            return env.secret(namespace, name, key)
        except SecretMissing:
            return None

    funcs = functions(lookup, request.context.namespace)
    if filter_:
        try:
            result = evaluate(filter_, context, funcs)
        except CELError as exc:
            return fail(Code.INVALID_ARGUMENT, f"error evaluating cel expression: {exc}")
        if to_native(result) is not True:
            return fail(Code.FAILED_PRECONDITION, f"expression {filter_} did not return true")
    extensions: dict[str, Any] = {}
    for overlay in overlays:
        try:
            value = evaluate(overlay["expression"], context, funcs)
        except CELError as exc:
            return fail(Code.INVALID_ARGUMENT, f"error evaluating cel expression: {exc}")
        set_path(extensions, overlay["key"], to_native(value))
    return ok(extensions)
