"""The interceptor protocol: ``InterceptorRequest`` in, ``InterceptorResponse`` out.

The same structs travel over HTTP to ``ClusterInterceptor``/``Interceptor`` services (JSON, field
names as in Triggers' ``pkg/apis/triggers/v1beta1``) and, without the HTTP hop, into the core
interceptors built into tektite (``github``, ``gitlab``, ``bitbucket``, ``cel``, ``slack``).
Status codes are gRPC codes, as in Triggers.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from tektite.triggers.bindings import canonical_header

JSON = dict[str, Any]


class Code(enum.IntEnum):
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16

    @property
    def title(self) -> str:
        """gRPC's spelling: ``FailedPrecondition``."""
        return "".join(p.capitalize() for p in self.name.split("_"))


@dataclass
class TriggerContext:
    event_url: str = ""
    event_id: str = ""
    trigger_id: str = ""  # namespaces/<ns>/triggers/<name>

    def to_json(self) -> JSON:
        return {"event_url": self.event_url, "event_id": self.event_id, "trigger_id": self.trigger_id}

    @property
    def namespace(self) -> str:
        parts = self.trigger_id.split("/")
        return parts[1] if len(parts) >= 2 and parts[0] == "namespaces" else ""


@dataclass
class InterceptorRequest:
    body: bytes
    header: dict[str, list[str]]
    extensions: JSON = field(default_factory=dict)
    interceptor_params: JSON = field(default_factory=dict)
    context: TriggerContext = field(default_factory=TriggerContext)

    def get_header(self, name: str) -> str:
        """``http.Header.Get``: the first value of a header, names case-insensitive."""
        values = self.header.get(canonical_header(name))
        if values is None:
            lower = name.lower()
            values = next((v for k, v in self.header.items() if k.lower() == lower), [])
        return values[0] if values else ""

    def to_json(self) -> JSON:
        return {
            "body": self.body.decode("utf-8", errors="replace"),
            "header": self.header,
            "extensions": self.extensions,
            "interceptor_params": self.interceptor_params,
            "context": self.context.to_json(),
        }


@dataclass
class InterceptorResponse:
    continue_: bool
    extensions: JSON | None = None
    code: Code = Code.OK
    message: str = ""

    @classmethod
    def from_json(cls, data: Any) -> InterceptorResponse:
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, found {type(data).__name__}")
        ext = data.get("extensions")
        if ext is not None and not isinstance(ext, dict):
            raise ValueError(f"extensions must be an object, found {type(ext).__name__}")
        status = data.get("status") or {}
        if not isinstance(status, dict):
            raise ValueError("status must be an object")
        try:
            code = Code(int(status.get("code") or 0))
        except ValueError:
            code = Code.UNKNOWN
        return cls(bool(data.get("continue")), ext, code, str(status.get("message") or ""))

    def to_json(self) -> JSON:
        out: JSON = {"continue": self.continue_}
        if self.extensions:
            out["extensions"] = self.extensions
        if not self.continue_ or self.code != Code.OK:
            out["status"] = {"code": int(self.code), "message": self.message}
        return out


def ok(extensions: JSON | None = None) -> InterceptorResponse:
    return InterceptorResponse(True, extensions)


def fail(code: Code, message: str) -> InterceptorResponse:
    return InterceptorResponse(False, None, code, message)


class SecretMissing(Exception):
    """A secretRef names a Secret or key that does not exist."""


Secrets = Callable[[str, str, str], bytes]  # (namespace, name, key) -> value; raises SecretMissing


@dataclass
class Env:
    """What a core interceptor may use besides the request: secrets, an HTTP client, config."""

    secret: Secrets
    http: httpx.Client
    config: Callable[[str], dict[str, str]] = lambda name: {}  # ConfigMap data by name

    def secret_ref(self, ref: Any, namespace: str) -> bytes:
        """Resolve a ``secretRef`` param ``{secretName, secretKey}`` in the trigger's namespace."""
        if not isinstance(ref, dict):
            raise SecretMissing("secretRef must be an object with secretName and secretKey")
        name, key = ref.get("secretName"), ref.get("secretKey")
        if not name or not key:
            raise SecretMissing("secretRef needs both secretName and secretKey")
        return self.secret(str(ref.get("namespace") or namespace), str(name), str(key))


class CoreInterceptor(Protocol):
    def __call__(self, request: InterceptorRequest, env: Env) -> InterceptorResponse: ...


def string_list(value: Any, param: str) -> list[str] | None:
    """A param that must be a list of strings (``eventTypes``); ``None`` when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{param} must be a list of strings")
    return list(value)


def secret_then_event(
    request: InterceptorRequest,
    env: Env,
    *,
    secret_header: str,
    verify: Callable[[str, bytes, bytes], str | None],
    event_header: str,
    label: str | None = None,
) -> InterceptorResponse:
    """The shape gitlab and bitbucket share: ``secretRef`` checked against ``secret_header`` by
    ``verify(header value, body, secret) -> problem or None``, then ``eventTypes`` against
    ``event_header``."""
    params = request.interceptor_params
    try:
        event_types = string_list(params.get("eventTypes"), "eventTypes")
    except ValueError as exc:
        return fail(Code.INVALID_ARGUMENT, f"failed to parse interceptor params: {exc}")
    ref = params.get("secretRef")
    if ref is not None:
        header = request.get_header(secret_header)
        if not header:
            return fail(Code.FAILED_PRECONDITION, f"no {label or secret_header} header set")
        try:
            secret = env.secret_ref(ref, request.context.namespace)
        except SecretMissing as exc:
            return fail(Code.FAILED_PRECONDITION, f"error getting secret: {exc}")
        problem = verify(header, request.body, secret)
        if problem:
            return fail(Code.FAILED_PRECONDITION, problem)
    if event_types is not None:
        actual = request.get_header(event_header)
        if actual not in event_types:
            return fail(Code.FAILED_PRECONDITION, f"event type {actual} is not allowed")
    return ok()
