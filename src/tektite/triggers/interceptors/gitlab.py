"""``gitlab``: ``X-Gitlab-Token`` against ``secretRef`` (constant time), ``X-Gitlab-Event`` in ``eventTypes``."""

from __future__ import annotations

import hmac

from tektite.triggers.interceptors.base import (
    Code,
    Env,
    InterceptorRequest,
    InterceptorResponse,
    SecretMissing,
    fail,
    ok,
    string_list,
)

NAME = "gitlab"


def process(request: InterceptorRequest, env: Env) -> InterceptorResponse:
    params = request.interceptor_params
    try:
        event_types = string_list(params.get("eventTypes"), "eventTypes")
    except ValueError as exc:
        return fail(Code.INVALID_ARGUMENT, f"failed to parse interceptor params: {exc}")
    ref = params.get("secretRef")
    if ref is not None:
        token = request.get_header("X-Gitlab-Token")
        if not token:
            return fail(Code.FAILED_PRECONDITION, "no X-GitLab-Token header set")
        try:
            secret = env.secret_ref(ref, request.context.namespace)
        except SecretMissing as exc:
            return fail(Code.FAILED_PRECONDITION, f"error getting secret: {exc}")
        if not hmac.compare_digest(token.encode(), secret):
            return fail(Code.FAILED_PRECONDITION, "Invalid X-GitLab-Token")
    if event_types is not None:
        actual = request.get_header("X-Gitlab-Event")
        if actual not in event_types:
            return fail(Code.FAILED_PRECONDITION, f"event type {actual} is not allowed")
    return ok()
