"""The server's ASGI app: Kubernetes API + ``/metrics`` + dashboard (``/ui``) + Triggers sinks.

``build(cluster, auth=...)`` composes what lower layers and sibling packages provide; the parts
built by other packages (dashboard, triggers) are imported defensively so the API works alone.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tektite.controller.cluster import Cluster
from tektite.server import metrics
from tektite.server.api import KubeApi, unauthorized
from tektite.server.auth import Auth
from tektite.server.tokens import TokenStore

log = logging.getLogger("tektite.server")


class AuthScope:
    """Puts the server's :class:`Auth` in every request's scope, for mounted apps to find."""

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            self.auth.install(scope)
        await self.app(scope, receive, send)


def _optional(module: str, attr: str) -> Any:
    """``module.attr`` if that package has landed, else None (a missing dependency still fails)."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.startswith(exc.name):
            return None
        raise
    return getattr(mod, attr, None)


def build(
    cluster: Cluster,
    *,
    auth: Auth | None = None,
    dashboard: bool = True,
    triggers: bool = True,
    metrics_public: bool = False,
) -> Starlette:
    """The whole HTTP surface of ``tektite serve`` for ``cluster``."""
    auth = auth or Auth(TokenStore(cluster.home))
    for module in ("tektite.chains.metrics", "tektite.triggers.metrics"):  # their counters on /metrics
        _optional(module, "__name__")
    api = KubeApi(cluster, auth)
    tracker = metrics.RunningTracker(cluster.store, metrics.Recorder())

    async def scrape(request: Request) -> Response:
        if not metrics_public and auth.authenticate(request) is None:
            return unauthorized()
        body, ctype = metrics.exposition()
        return Response(body, media_type=ctype.split(";")[0], headers={"content-type": ctype})

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", healthz),
        Route("/livez", healthz),
        Route("/metrics", scrape),
        *api.routes(),
    ]
    sub_apps: list[Starlette] = []
    make_dashboard = _optional("tektite.server.dashboard", "make_app") if dashboard else None
    if make_dashboard is not None:
        ui = make_dashboard(cluster, auth)
        sub_apps.append(ui)
        routes.append(Route("/", lambda _r: RedirectResponse("/ui/")))
        routes.append(Mount("/ui", app=ui))
    make_triggers = _optional("tektite.triggers.app", "make_app") if triggers else None
    listener_routes: Mount | None = None
    if make_triggers is not None:
        sink = make_triggers(cluster)
        if isinstance(sink, Starlette):
            sub_apps.append(sink)
        listener_routes = Mount("", app=sink)  # it routes /el/{namespace}/{name} itself; keep it last

    if listener_routes is not None:
        routes.append(listener_routes)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        api.broadcaster.start()
        tracker.start()
        async with contextlib.AsyncExitStack() as stack:
            for sub in sub_apps:  # Mount does not run a sub-app's lifespan; do it here
                await stack.enter_async_context(sub.router.lifespan_context(sub))
            yield
        tracker.stop()
        api.broadcaster.stop()

    async def not_found(_request: Request, _exc: Exception) -> Response:
        return JSONResponse(
            {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404},
            status_code=404,
        )

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: not_found})
    app.state.auth = auth
    app.state.api = api
    app.state.recorder = tracker.recorder
    app.add_middleware(AuthScope, auth=auth)
    return app
