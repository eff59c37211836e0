"""``bitbucket``: Bitbucket Server's ``X-Hub-Signature`` HMAC against ``secretRef``, and
``X-Event-Key`` in ``eventTypes`` (Bitbucket Cloud sends no signature: use ``eventTypes`` alone)."""

from __future__ import annotations

from tektite.triggers.interceptors import signature
from tektite.triggers.interceptors.base import Env, InterceptorRequest, InterceptorResponse, secret_then_event

NAME = "bitbucket"


def process(request: InterceptorRequest, env: Env) -> InterceptorResponse:
    return secret_then_event(
        request, env, secret_header="X-Hub-Signature", verify=signature.check, event_header="X-Event-Key"
    )
