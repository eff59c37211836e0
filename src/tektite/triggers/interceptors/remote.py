"""Interceptors that are HTTP services: ``ClusterInterceptor``/``Interceptor`` objects and legacy
``webhook`` interceptors.

Where a Kubernetes Service lives off-cluster: Triggers calls ``http://NAME.NAMESPACE.svc:PORT/PATH``
(``https`` when the interceptor is labelled ``server/type: https``). tektite first looks the
Service up in the ConfigMap ``tektite-services`` (namespace ``tekton-pipelines`` or ``default``):
a key ``NAME.NAMESPACE`` whose value is the base URL that serves it, e.g.
``gh-validate.default: http://127.0.0.1:9000``. Without an entry the cluster DNS name is used as
is. ``clientConfig.url`` (or a webhook's ``url``) is always used verbatim.
"""

from __future__ import annotations

import base64
import binascii
import json
import ssl
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from tektite.api.triggers import ClientConfig, WebhookInterceptor
from tektite.triggers.interceptors.base import InterceptorRequest, InterceptorResponse

SERVICES_CONFIGMAP = "tektite-services"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)

ConfigMaps = Callable[[str], Mapping[str, str]]


class RemoteError(Exception):
    """The interceptor service could not be reached or answered something unusable."""


def service_url(
    name: str, namespace: str, port: int | None, path: str | None, configmaps: ConfigMaps, https: bool = False
) -> str:
    mapped = configmaps(SERVICES_CONFIGMAP).get(f"{name}.{namespace}")
    if mapped:
        base = mapped.rstrip("/")
    else:
        scheme = "https" if https else "http"
        base = f"{scheme}://{name}.{namespace}.svc" + (f":{port}" if port else "")
    suffix = path or ""
    if suffix and not suffix.startswith("/"):
        suffix = "/" + suffix
    return base + suffix if suffix else base + "/"


def interceptor_url(obj: Mapping[str, Any], configmaps: ConfigMaps) -> str:
    """The URL of a stored ``ClusterInterceptor``/``Interceptor``."""
    meta = obj.get("metadata") or {}
    cfg = ClientConfig.model_validate((obj.get("spec") or {}).get("clientConfig") or {})
    if cfg.url:
        return cfg.url
    assert cfg.service is not None
    https = (meta.get("labels") or {}).get("server/type") == "https"
    svc = cfg.service
    return service_url(
        svc.name,
        svc.namespace or meta.get("namespace") or "default",
        svc.port or (8443 if https else 80),
        svc.path,
        configmaps,
        https,
    )


def ca_bundle(obj: Mapping[str, Any]) -> str | None:
    """``clientConfig.caBundle`` (base64 of PEM, as Kubernetes encodes ``[]byte``) as PEM text."""
    raw = ((obj.get("spec") or {}).get("clientConfig") or {}).get("caBundle")
    if not raw:
        return None
    try:
        text = base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        text = str(raw)  # already PEM
    if "BEGIN CERTIFICATE" not in text:
        raise RemoteError("clientConfig.caBundle holds no PEM certificate")
    return text


def call(
    client: httpx.Client, url: str, request: InterceptorRequest, ca_pem: str | None = None
) -> InterceptorResponse:
    """POST an ``InterceptorRequest``; a 200 with an ``InterceptorResponse`` is the only success.

    With ``ca_pem`` (an interceptor's ``caBundle``) the server certificate must chain to it.
    """
    try:
        if ca_pem:
            context = ssl.create_default_context(cadata=ca_pem)
            with httpx.Client(verify=context) as pinned:
                resp = pinned.post(url, json=request.to_json(), timeout=TIMEOUT)
        else:
            resp = client.post(url, json=request.to_json(), timeout=TIMEOUT)
    except (httpx.HTTPError, ssl.SSLError) as exc:
        raise RemoteError(f"POST {url}: {exc}{_hint(url)}") from None
    if resp.status_code != 200:
        raise RemoteError(f"POST {url} answered {resp.status_code}: {resp.text[:300]}")
    try:
        return InterceptorResponse.from_json(resp.json())
    except ValueError as exc:
        raise RemoteError(f"POST {url}: not an InterceptorResponse: {exc}") from None


def webhook_url(hook: WebhookInterceptor, namespace: str, configmaps: ConfigMaps) -> str:
    if hook.url:
        return hook.url
    ref = hook.object_ref or {}
    return service_url(
        str(ref.get("name", "")), str(ref.get("namespace") or namespace), None, None, configmaps
    )


def call_webhook(
    client: httpx.Client,
    url: str,
    hook: WebhookInterceptor,
    body: bytes,
    header: Mapping[str, list[str]],
    extensions: Mapping[str, Any],
) -> tuple[int, bytes, dict[str, list[str]]]:
    """POST the event like Triggers' legacy webhook interceptor; return (status, body, headers).

    The request carries the event's headers plus the interceptor's ``header`` params; when earlier
    interceptors added extensions they are merged into the body as ``"extensions"``.
    """
    if extensions:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            data = None
        if isinstance(data, dict):
            data["extensions"] = dict(extensions)
            body = json.dumps(data).encode()
    headers: list[tuple[str, str]] = [
        (k, v) for k, vs in header.items() for v in vs if k.lower() not in ("content-length", "host")
    ]
    for h in hook.header or []:
        for v in h.value if isinstance(h.value, list) else [h.value]:
            headers.append((h.name, v))
    try:
        resp = client.post(url, content=body, headers=headers, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise RemoteError(f"POST {url}: {exc}{_hint(url)}") from None
    out: dict[str, list[str]] = {}
    for k, v in resp.headers.multi_items():
        out.setdefault(k, []).append(v)
    return resp.status_code, resp.content, out


def _hint(url: str) -> str:
    if ".svc" in url:
        return (
            f"; map the Service to a URL in ConfigMap {SERVICES_CONFIGMAP} "
            "(key NAME.NAMESPACE, value http://HOST:PORT)"
        )
    return ""
