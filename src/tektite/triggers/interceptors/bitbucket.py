"""``bitbucket``: Bitbucket Server's ``X-Hub-Signature`` HMAC against ``secretRef``, and
``X-Event-Key`` in ``eventTypes`` (Bitbucket Cloud sends no signature: use ``eventTypes`` alone)."""

from __future__ import annotations

from tektite.triggers.interceptors import signature
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

NAME = "bitbucket"


def process(request: InterceptorRequest, env: Env) -> InterceptorResponse:
    params = request.interceptor_params
    try:
        event_types = string_list(params.get("eventTypes"), "eventTypes")
    except ValueError as exc:
        return fail(Code.INVALID_ARGUMENT, f"failed to parse interceptor params: {exc}")
    ref = params.get("secretRef")
    if ref is not None:
        header = request.get_header("X-Hub-Signature")
        if not header:
            return fail(Code.FAILED_PRECONDITION, "no X-Hub-Signature header set")
        try:
            secret = env.secret_ref(ref, request.context.namespace)
        except SecretMissing as exc:
            return fail(Code.FAILED_PRECONDITION, f"error getting secret: {exc}")
        problem = signature.check(header, request.body, secret)
        if problem:
            return fail(Code.FAILED_PRECONDITION, problem)
    if event_types is not None:
        actual = request.get_header("X-Event-Key")
        if actual not in event_types:
            return fail(Code.FAILED_PRECONDITION, f"event type {actual} is not allowed")
    return ok()
