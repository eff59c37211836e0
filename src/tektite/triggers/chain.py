"""Run a chain of interceptors over one event, as Triggers' ``ExecuteInterceptors`` does.

Each interceptor gets the body and headers, the extensions added so far and its params; a response
with ``continue: false`` stops the chain (that is a rejection, recorded with the interceptor's name
and reason). Extensions from each response are merged, later keys overwriting earlier ones. A legacy
``webhook`` interceptor may replace the body and headers; a non-200 answer stops the chain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from tektite.api.triggers import TriggerInterceptor
from tektite.errors import NotFound
from tektite.store.base import Store
from tektite.triggers import interceptors
from tektite.triggers.bindings import canonical_header
from tektite.triggers.interceptors.base import (
    Code,
    Env,
    InterceptorRequest,
    InterceptorResponse,
    SecretMissing,
    TriggerContext,
)
from tektite.triggers.interceptors.remote import (
    ConfigMaps,
    RemoteError,
    ca_bundle,
    call,
    call_webhook,
    interceptor_url,
    webhook_url,
)

log = logging.getLogger("tektite.triggers")

Headers = dict[str, list[str]]


def canonical(headers: Mapping[str, list[str]]) -> Headers:
    out: Headers = {}
    for k, vs in headers.items():
        out.setdefault(canonical_header(k), []).extend(vs)
    return out


@dataclass
class Step:
    """One interceptor's outcome, as the event record shows it."""

    interceptor: str  # the interceptor's name in the trigger, else its ref name
    ref: str  # "ClusterInterceptor/github", "NamespacedInterceptor/x", "webhook"
    continued: bool
    code: str = "OK"
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"interceptor": self.interceptor, "ref": self.ref, "continue": self.continued}
        if not self.continued or self.message:
            out["code"] = self.code
            out["message"] = self.message
        return out


@dataclass
class ChainResult:
    body: bytes
    header: Headers
    extensions: dict[str, Any]
    steps: list[Step] = field(default_factory=list)
    stopped: Step | None = None


class ChainError(Exception):
    """An interceptor could not run (not found, unreachable, bad answer): the trigger fails."""


@dataclass
class Chain:
    store: Store
    http: httpx.Client
    configmaps: ConfigMaps
    secret: Callable[[str, str, str], bytes]

    def run(
        self,
        items: list[TriggerInterceptor],
        body: bytes,
        header: Headers,
        extensions: Mapping[str, Any],
        context: TriggerContext,
    ) -> ChainResult:
        result = ChainResult(body, canonical(header), dict(extensions))
        for i, item in enumerate(items):
            kind, name = item.kind_name()
            label = item.name or name
            if item.webhook is not None:
                step = self._webhook(item, result, context.namespace)
            else:
                ref = f"{kind}/{name}"
                req = InterceptorRequest(
                    result.body, result.header, dict(result.extensions), item.param_map(), context
                )
                try:
                    resp = self._call(kind, name, req, context.namespace)
                except (RemoteError, NotFound) as exc:
                    raise ChainError(f"interceptors[{i}] ({label}): {exc}") from None
                step = Step(label, ref, resp.continue_, resp.code.title, resp.message)
                if resp.continue_ and resp.extensions:
                    result.extensions.update(resp.extensions)
            result.steps.append(step)
            if not step.continued:
                result.stopped = step
                return result
        return result

    def _call(self, kind: str, name: str, req: InterceptorRequest, namespace: str) -> InterceptorResponse:
        if kind == "ClusterInterceptor":
            core = interceptors.get(name)
            if core is not None:
                return core(req, Env(self.secret, self.http, self.configmaps_dict))
            obj = self.store.try_get("ClusterInterceptor", name, None)
            if obj is None:
                raise NotFound(
                    f'ClusterInterceptor "{name}" not found (built in: {", ".join(interceptors.names())})'
                )
        else:
            obj = self.store.try_get("Interceptor", name, namespace)
            if obj is None:
                raise NotFound(f'Interceptor "{name}" not found in namespace "{namespace}"')
        return call(self.http, interceptor_url(obj, self.configmaps), req, ca_bundle(obj))

    def configmaps_dict(self, name: str) -> dict[str, str]:
        return dict(self.configmaps(name))

    def _webhook(self, item: TriggerInterceptor, result: ChainResult, namespace: str) -> Step:
        assert item.webhook is not None
        url = webhook_url(item.webhook, namespace, self.configmaps)
        label = item.name or "webhook"
        try:
            status, body, headers = call_webhook(
                self.http, url, item.webhook, result.body, result.header, result.extensions
            )
        except RemoteError as exc:
            raise ChainError(f"webhook interceptor ({label}): {exc}") from None
        if status != 200:
            code = {
                400: Code.INVALID_ARGUMENT,
                401: Code.UNAUTHENTICATED,
                403: Code.PERMISSION_DENIED,
                404: Code.NOT_FOUND,
            }.get(status, Code.FAILED_PRECONDITION)
            return Step(label, "webhook", False, code.title, f"webhook {url} answered {status}")
        result.body = body
        result.header = canonical(headers)
        return Step(label, "webhook", True)


__all__ = ["Chain", "ChainError", "ChainResult", "SecretMissing", "Step", "canonical"]
