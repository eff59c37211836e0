"""``gitlab``: ``X-Gitlab-Token`` against ``secretRef`` (constant time), ``X-Gitlab-Event`` in ``eventTypes``."""

from __future__ import annotations

import hmac

from tektite.triggers.interceptors.base import Env, InterceptorRequest, InterceptorResponse, secret_then_event

NAME = "gitlab"


def _token(header: str, body: bytes, secret: bytes) -> str | None:
    del body
    return None if hmac.compare_digest(header.encode(), secret) else "Invalid X-GitLab-Token"


def process(request: InterceptorRequest, env: Env) -> InterceptorResponse:
    return secret_then_event(
        request,
        env,
        secret_header="X-Gitlab-Token",
        verify=_token,
        event_header="X-Gitlab-Event",
        label="X-GitLab-Token",
    )
