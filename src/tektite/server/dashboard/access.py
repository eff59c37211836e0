"""Who is looking at the dashboard, and whether they may do what they ask.

The dashboard uses ``tektite.server.auth``: the Auth that ``tektite serve`` installs in the ASGI
scope, or the ``auth`` given to :func:`make_app`. Any object with ``authenticate(request) ->
Principal | None`` (and optionally ``can(principal, verb, kind)``) works. Without either, the
dashboard is open: every caller is the local admin (a single-user ``127.0.0.1`` setup).

Verbs: ``list``/``get``/``logs`` to read, ``cancel``, ``rerun``. The check happens before the
object is looked up, so a refused caller learns nothing about what exists.
"""

from __future__ import annotations

import inspect
from typing import Any

from starlette.requests import HTTPConnection

from tektite.errors import Forbidden, Unauthorized
from tektite.server import auth as server_auth
from tektite.server.auth import Principal, Role

LOCAL = Principal("local", Role.ADMIN)


class Access:
    def __init__(self, auth: Any = None) -> None:
        self.auth = auth

    def is_open(self, conn: HTTPConnection) -> bool:
        return self.auth is None and server_auth.SCOPE_KEY not in conn.scope

    async def principal(self, conn: HTTPConnection) -> Principal | None:
        if self.is_open(conn):
            return LOCAL
        if self.auth is None or isinstance(self.auth, server_auth.Auth):
            return server_auth.authenticate(conn, self.auth)
        found = self.auth.authenticate(conn)
        if inspect.isawaitable(found):
            found = await found
        return found  # type: ignore[no-any-return]

    def can(self, principal: Principal | None, verb: str, kind: str) -> bool:
        check = getattr(self.auth, "can", None) if self.auth is not None else None
        return bool((check or server_auth.can)(principal, verb, kind))

    async def require(self, conn: HTTPConnection, verb: str, kind: str) -> Principal:
        principal = await self.principal(conn)
        if principal is None:
            raise Unauthorized(
                "not logged in; expected a bearer token (Authorization header, or the dashboard's login)"
            )
        if not self.can(principal, verb, kind):
            raise Forbidden(f"{principal.name} (role {principal.role}) may not {verb} {kind}s")
        return principal

    def allowed(self, principal: Principal, kind: str) -> dict[str, bool]:
        return {verb: self.can(principal, verb, kind) for verb in ("cancel", "rerun", "logs")}
