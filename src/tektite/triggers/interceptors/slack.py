"""``slack``: the form fields of a slash command named in ``requestedFields`` become extensions.

Slack posts ``application/x-www-form-urlencoded``; the EventListener needs the annotation
``tekton.dev/payload-validation: "false"`` to accept a body that is not JSON.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from tektite.triggers.interceptors.base import (
    Code,
    Env,
    InterceptorRequest,
    InterceptorResponse,
    fail,
    ok,
    string_list,
)

NAME = "slack"


def process(request: InterceptorRequest, env: Env) -> InterceptorResponse:
    try:
        fields = string_list(request.interceptor_params.get("requestedFields"), "requestedFields") or []
    except ValueError as exc:
        return fail(Code.INVALID_ARGUMENT, f"failed to parse interceptor params: {exc}")
    try:
        form = parse_qs(
            request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(request.body)
        )
    except (UnicodeDecodeError, ValueError) as exc:
        return fail(Code.INVALID_ARGUMENT, f"failed to parse the form body: {exc}")
    extensions = {name: form[name][0] for name in fields if name in form}
    return ok(extensions)
