"""The EventListener sink as an ASGI (Starlette) application.

``make_app(cluster)`` serves every listener of the store at ``POST /el/{namespace}/{name}`` (any
sub-path after it is accepted too, as Triggers' sink accepts any path). ``make_app(cluster,
listener=(namespace, name))`` is one listener's own app: every path posts to it, like
``http://el-NAME:8080/`` on a cluster. Both answer ``GET /live`` and ``GET /ready``.

``serve_listener(...)``/``serve(...)`` run such an app under uvicorn; a listener annotated
``triggers.tektite.dev/port: "8081"`` asks ``tektite serve`` for a port of its own
(:func:`listener_ports` lists them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tektite.controller.cluster import Cluster
from tektite.errors import NotFound, TektiteError
from tektite.triggers.sink import Incoming, Sink
from tektite.triggers.templates import PORT_ANNOTATION

log = logging.getLogger("tektite.triggers")

MAX_BODY = 25 * 1024 * 1024  # GitHub's largest webhook payload
CE_ACCEPTED = "dev.tekton.event.triggers.accepted.v1"


async def _body(request: Request) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def make_app(
    cluster: Cluster,
    *,
    reject_status: int | None = None,
    listener: tuple[str, str] | None = None,
    sink: Sink | None = None,
) -> Starlette:
    """The sink app. ``reject_status`` (e.g. 403): answer it, not 202, to events that were rejected
    or failed and created nothing (a listener's ``triggers.tektite.dev/reject-status`` annotation
    overrides it)."""
    the_sink = sink or Sink(cluster)

    async def handle(request: Request) -> Response:
        if listener is not None:
            namespace, name = listener
        else:
            namespace, name = request.path_params["namespace"], request.path_params["name"]
        body = await _body(request)
        if body is None:
            return JSONResponse({"message": f"the body is larger than {MAX_BODY} bytes"}, status_code=413)
        incoming = Incoming(body, list(request.headers.items()), str(request.url), request.method)
        try:
            result = await asyncio.to_thread(
                the_sink.handle, namespace, name, incoming, reject_status=reject_status
            )
        except NotFound:
            return JSONResponse(
                {"message": f'EventListener "{name}" not found in namespace "{namespace}"'}, status_code=404
            )
        except TektiteError as exc:
            return JSONResponse({"message": exc.diagnostics()}, status_code=exc.http_status)
        headers: dict[str, str] = {}
        if request.headers.get("ce-specversion"):
            headers = {
                "ce-specversion": "1.0",
                "ce-type": CE_ACCEPTED,
                "ce-source": name,
                "ce-subject": f"{namespace}.{name} accepted {result.event_id}",
                "ce-id": result.event_id,
            }
        return JSONResponse(result.response_body(), status_code=result.response_code, headers=headers)

    async def live(request: Request) -> Response:
        return PlainTextResponse("ok")

    methods = ["POST", "PUT"]
    routes = [Route("/live", live, methods=["GET"]), Route("/ready", live, methods=["GET"])]
    if listener is not None:
        routes += [Route("/", handle, methods=methods), Route("/{path:path}", handle, methods=methods)]
    else:
        routes += [
            Route("/el/{namespace}/{name}", handle, methods=methods),
            Route("/el/{namespace}/{name}/{path:path}", handle, methods=methods),
        ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if sink is None:
            the_sink.close()

    return Starlette(routes=routes, lifespan=lifespan)


@dataclass(frozen=True)
class ListenerPort:
    namespace: str
    name: str
    port: int


def listener_ports(cluster: Cluster) -> list[ListenerPort]:
    """Listeners that asked for a port of their own (annotation ``triggers.tektite.dev/port``)."""
    out = []
    for obj in cluster.store.list("EventListener").items:
        meta = obj.get("metadata") or {}
        raw = (meta.get("annotations") or {}).get(PORT_ANNOTATION)
        if raw is None:
            continue
        try:
            port = int(str(raw))
        except ValueError:
            log.warning(
                "EventListener %s/%s: ignoring %s=%r (not a port)",
                meta.get("namespace"),
                meta.get("name"),
                PORT_ANNOTATION,
                raw,
            )
            continue
        out.append(ListenerPort(str(meta.get("namespace", "default")), str(meta.get("name")), port))
    return out


async def serve(
    cluster: Cluster,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    listener: tuple[str, str] | None = None,
    reject_status: int | None = None,
    log_level: str = "warning",
) -> None:
    """Serve the sink with uvicorn until the process is told to stop (SIGINT/SIGTERM)."""
    import uvicorn

    app = make_app(cluster, reject_status=reject_status, listener=listener)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on")
    await uvicorn.Server(config).serve()


def serve_listener(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    reject_status: int | None = None,
) -> None:
    """Serve one EventListener on its own port (every path posts to it); blocks until stopped."""
    cluster.store.get("EventListener", name, namespace)  # fail early, with a clear NotFound
    asyncio.run(serve(cluster, host=host, port=port, listener=(namespace, name), reject_status=reject_status))
