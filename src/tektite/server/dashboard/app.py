"""The dashboard's Starlette app: static UI at ``/``, JSON and log streams under ``/api``.

Mount it under ``/ui`` (``Mount("/ui", app=make_app(cluster))``); every URL the page uses is
relative, so any prefix works.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tektite.controller.cluster import Cluster
from tektite.core.conditions import is_done
from tektite.errors import NotFound, TektiteError, Unauthorized
from tektite.server.auth import COOKIE, bearer_token
from tektite.server.dashboard import actions
from tektite.server.dashboard.access import Access
from tektite.server.dashboard.detail import run_detail
from tektite.server.dashboard.keys import KeyCache
from tektite.server.dashboard.listing import RunQuery, list_runs
from tektite.server.dashboard.logstream import taskrun_log_events
from tektite.server.dashboard.provenance import provenance
from tektite.server.dashboard.runs import RUN_KINDS, STATUSES, summary

STATIC = Path(__file__).parent / "static"
CSRF_HEADER = "x-requested-by"
SECURITY_HEADERS = {
    # the page loads only its own script and style, talks only to its own origin, is never framed
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response of the dashboard."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


_KIND_NAMES = {k.lower(): k for k in RUN_KINDS} | {k.lower() + "s": k for k in RUN_KINDS}


class BadRequest(TektiteError):
    pass


def _kind(word: str) -> str:
    kind = _KIND_NAMES.get(word.lower())
    if kind is None:
        raise NotFound(f'unknown run kind "{word}"; expected PipelineRun or TaskRun')
    return kind


class Dashboard:
    """The handlers, sharing the cluster, the access checks and the caches."""

    def __init__(self, cluster: Cluster, auth: Any) -> None:
        self.cluster = cluster
        self.access = Access(auth)
        self.keys = KeyCache(cluster.store, cluster.home)

    def _target(self, request: Request) -> tuple[str, str, str]:
        p = request.path_params
        return _kind(p["kind"]), p["namespace"], p["name"]

    @staticmethod
    def _check_csrf(request: Request) -> None:
        # a cross-site form or image cannot set a custom header; a cross-site fetch that does is
        # stopped by CORS (this app allows no other origin)
        if not request.headers.get(CSRF_HEADER):
            raise BadRequest(f"missing the {CSRF_HEADER} header that the dashboard sends with every POST")

    # -- pages -----------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    # -- session -----------------------------------------------------------------------------
    async def whoami(self, request: Request) -> Response:
        principal = await self.access.principal(request)
        if principal is None:
            raise Unauthorized("not logged in")
        return JSONResponse(
            {
                "name": principal.name,
                "role": str(principal.role),
                "authEnabled": not self.access.is_open(request),
                "can": {kind: self.access.allowed(principal, kind) for kind in RUN_KINDS},
                "statuses": list(STATUSES),
            }
        )

    async def login(self, request: Request) -> Response:
        """Check the bearer token sent in the header and keep it in an HttpOnly cookie."""
        self._check_csrf(request)
        token = bearer_token(request)
        principal = await self.access.principal(request)
        if principal is None or token is None:
            raise Unauthorized("unknown token")
        response = JSONResponse({"name": principal.name, "role": str(principal.role)})
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path=(request.scope.get("root_path") or "") + "/",
        )
        return response

    async def logout(self, request: Request) -> Response:
        self._check_csrf(request)
        response = JSONResponse({})
        response.delete_cookie(COOKIE, path=(request.scope.get("root_path") or "") + "/")
        return response

    # -- runs --------------------------------------------------------------------------------
    async def runs(self, request: Request) -> Response:
        query = RunQuery.from_params(dict(request.query_params))
        for kind in query.kinds:
            await self.access.require(request, "list", kind)
        page = await asyncio.to_thread(list_runs, self.cluster.store, query)
        return JSONResponse(page)

    async def run(self, request: Request) -> Response:
        kind, namespace, name = self._target(request)
        principal = await self.access.require(request, "get", kind)
        body = await asyncio.to_thread(run_detail, self.cluster, kind, name, namespace)
        body["can"] = self.access.allowed(principal, kind)
        return JSONResponse(body)

    async def provenance(self, request: Request) -> Response:
        kind, namespace, name = self._target(request)
        await self.access.require(request, "get", kind)
        obj = await asyncio.to_thread(self.cluster.store.get, kind, name, namespace)
        keys = await asyncio.to_thread(self.keys.get, kind)
        return JSONResponse(provenance(obj, keys, done=is_done(obj)))

    async def logs(self, request: Request) -> Response:
        kind, namespace, name = self._target(request)
        await self.access.require(request, "logs", kind)
        if kind != "TaskRun":
            raise NotFound("logs belong to TaskRuns; open one of the PipelineRun's tasks")
        obj = await asyncio.to_thread(self.cluster.store.get, kind, name, namespace)
        live = request.query_params.get("follow") in ("1", "true")
        return StreamingResponse(
            taskrun_log_events(self.cluster, obj, live=live),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def cancel(self, request: Request) -> Response:
        kind, namespace, name = self._target(request)
        self._check_csrf(request)
        await self.access.require(request, "cancel", kind)
        obj = await asyncio.to_thread(actions.cancel, self.cluster.store, kind, name, namespace)
        return JSONResponse(summary(obj))

    async def rerun(self, request: Request) -> Response:
        kind, namespace, name = self._target(request)
        self._check_csrf(request)
        await self.access.require(request, "rerun", kind)
        from_failure = request.query_params.get("fromFailure", "").lower() in ("1", "true", "yes")
        obj = await asyncio.to_thread(actions.rerun, self.cluster, kind, name, namespace, from_failure)
        return JSONResponse(summary(obj), status_code=201)


async def _error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TektiteError)
    body: dict[str, Any] = {"error": exc.diagnostics(), "reason": exc.reason}
    errors = getattr(exc, "errors", None)
    if errors:
        body["fields"] = [{"field": ".".join(map(str, e.path)), "message": e.render()} for e in errors]
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return JSONResponse(body, status_code=exc.http_status, headers=headers)


def make_app(cluster: Cluster, auth: Any = None) -> Starlette:
    """The dashboard for ``cluster``. ``auth``: see ``access.py``. Status filters use the store's
    derived ``tektite.dev/status`` index; ``tekton.dev/pipeline`` is set on PipelineRuns at
    admission."""
    dash = Dashboard(cluster, auth)
    run_path = "/api/runs/{namespace}/{kind}/{name}"
    app = Starlette(
        routes=[
            Route("/", dash.index),
            Route("/api/whoami", dash.whoami),
            Route("/api/login", dash.login, methods=["POST"]),
            Route("/api/logout", dash.logout, methods=["POST"]),
            Route("/api/runs", dash.runs),
            Route(run_path, dash.run),
            Route(run_path + "/provenance", dash.provenance),
            Route(run_path + "/logs", dash.logs),
            Route(run_path + "/cancel", dash.cancel, methods=["POST"]),
            Route(run_path + "/rerun", dash.rerun, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={TektiteError: _error},
    )
    app.add_middleware(SecurityHeaders)
    app.state.dashboard = dash
    return app
