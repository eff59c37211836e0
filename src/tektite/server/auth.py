"""Who is calling, and what they may do.

Interface shared by the API, the dashboard and the triggers sink:

- :func:`authenticate` ``(request) -> Principal | None`` - from ``Authorization: Bearer <token>``
  (or the ``tektite-token`` cookie the dashboard sets after a login form).
- :class:`Principal` with ``.name`` and ``.role`` (a :class:`Role`, also comparable to ``"admin"``).
- :func:`can` ``(principal, verb, kind) -> bool`` with Kubernetes verbs (``get list watch create
  update patch delete``) and the dashboard's words (``read``, ``cancel``, ``rerun``, ``logs``).
- :func:`sees_secret_data` and :func:`redact` - only ``admin`` ever receives a Secret's ``data``.

Roles: ``admin`` everything; ``edit`` everything ``view`` can, plus create/update/patch/delete of
runs (``TaskRun``, ``PipelineRun``, ``CustomRun``) - that is starting, cancelling and deleting runs;
``view`` reads every kind, with Secrets' ``data``/``stringData`` removed.
"""

from __future__ import annotations

import copy
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection

from tektite.server.tokens import Role, TokenStore

__all__ = [
    "COOKIE",
    "READ_VERBS",
    "RUN_KINDS",
    "Auth",
    "Principal",
    "Role",
    "authenticate",
    "can",
    "redact",
    "sees_secret_data",
]

COOKIE = "tektite-token"
SCOPE_KEY = "tektite.auth"
READ_VERBS = frozenset({"get", "list", "watch", "read", "logs"})
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection", "cancel", "rerun"})
RUN_KINDS = frozenset({"TaskRun", "PipelineRun", "CustomRun"})
_ALIASES = {"read": "get", "logs": "get", "cancel": "patch", "rerun": "create"}


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def can(principal: Principal | None, verb: str, kind: str) -> bool:
    """May ``principal`` do ``verb`` on objects of ``kind`` (``"PipelineRun"``, ``"Secret"``, ...)?

    Unknown verbs are refused. ``None`` (not authenticated) may do nothing.
    """
    if principal is None:
        return False
    verb = verb.lower()
    if verb not in READ_VERBS and verb not in WRITE_VERBS:
        return False
    if principal.role is Role.ADMIN:
        return True
    if verb in READ_VERBS:
        return True
    return principal.role is Role.EDIT and kind in RUN_KINDS


def sees_secret_data(principal: Principal | None) -> bool:
    return principal is not None and principal.role is Role.ADMIN


def redact(principal: Principal | None, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as ``principal`` may see it: a Secret loses ``data`` and ``stringData`` (and the
    ``last-applied-configuration`` annotation, which would repeat them) unless the caller is admin."""
    if obj.get("kind") != "Secret" or sees_secret_data(principal):
        return obj
    out = copy.deepcopy(obj)
    out.pop("data", None)
    out.pop("stringData", None)
    annotations = (out.get("metadata") or {}).get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    return out


def bearer_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    cookie = conn.cookies.get(COOKIE)
    return cookie or None


class Auth:
    """Token authentication for one server. ``anonymous`` (a role or None) is what a request
    without credentials gets; it is None unless ``serve --anonymous-role`` says otherwise."""

    def __init__(self, tokens: TokenStore, *, anonymous: Role | None = None) -> None:
        self.tokens = tokens
        self.anonymous = anonymous

    def principal_for_token(self, token: str) -> Principal | None:
        record = self.tokens.lookup(token)
        return Principal(record.name, record.role) if record else None

    def authenticate(self, conn: HTTPConnection) -> Principal | None:
        token = bearer_token(conn)
        if token is not None:
            return self.principal_for_token(token)  # a wrong token is never anonymous
        if self.anonymous is not None:
            return Principal("system:anonymous", self.anonymous)
        return None

    def install(self, scope: MutableMapping[str, Any]) -> None:
        """Make this Auth findable by :func:`authenticate` for every app mounted under the server."""
        scope[SCOPE_KEY] = self


def authenticate(request: HTTPConnection, auth: Auth | None = None) -> Principal | None:
    """The caller of ``request``, or None. Uses ``auth`` if given, else the server's Auth that the
    top-level app put in the ASGI scope (so mounted apps - dashboard, triggers - need no wiring)."""
    found = auth or request.scope.get(SCOPE_KEY)
    if not isinstance(found, Auth):
        return None
    return found.authenticate(request)
