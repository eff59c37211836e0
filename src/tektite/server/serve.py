"""``tektite serve``: the API, the engine, Chains, Triggers, dashboard, metrics and the pruner in one
process and ONE asyncio loop, so what the engine does reaches watchers and metrics at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

from tektite.controller.cluster import Cluster
from tektite.controller.concurrency import Concurrency
from tektite.controller.manager import Engine, EngineBusy
from tektite.controller.pruning import Pruner
from tektite.executor import select_executor
from tektite.executor.images import ImageConfig
from tektite.server.app import _optional, build
from tektite.server.auth import Auth
from tektite.server.cloudevents import CloudEventSender, sink_from
from tektite.server.tls import ensure_certificates
from tektite.server.tokens import Role, TokenStore

log = logging.getLogger("tektite.server")


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    executor: str | None = None
    anonymous_role: Role | None = None
    dashboard: bool = True
    triggers: bool = True
    metrics_public: bool = False
    prune_interval: float = 60.0
    tls: bool = False  # a self-signed certificate from <home>/tls (made on first use)
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls or self.tls_cert else "http"


def images_config(cluster: Cluster) -> ImageConfig | None:
    for ns in ("tekton-pipelines", "default"):
        cm = cluster.store.try_get("ConfigMap", "tektite-images", ns)
        if cm is not None:
            return ImageConfig.from_configmap(cm)
    return None


def attach_chains(cluster: Cluster, engine: Engine) -> Any:
    """The Chains watcher signs finished runs, when that package is present."""
    watcher_cls = _optional("tektite.chains.watcher", "ChainsWatcher")
    if watcher_cls is None:
        return None
    watcher = watcher_cls(cluster)
    watcher.attach(engine)
    return watcher


def listener_servers(cluster: Cluster, host: str, ssl: dict[str, Any]) -> list[uvicorn.Server]:
    """EventListeners annotated ``triggers.tektite.dev/port`` get a port of their own (those present
    when the server starts); the main server still serves every listener at ``/el/{ns}/{name}``."""
    ports = _optional("tektite.triggers.app", "listener_ports")
    make_app = _optional("tektite.triggers.app", "make_app")
    if ports is None or make_app is None:
        return []
    servers = []
    for lp in ports(cluster):
        app = make_app(cluster, listener=(lp.namespace, lp.name))
        config = uvicorn.Config(app, host=host, port=lp.port, log_level="warning", lifespan="on", **ssl)
        server = uvicorn.Server(config)
        # SIGINT/SIGTERM belong to the main server, which stops these with it
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        servers.append(server)
        log.info("EventListener %s/%s also listens on port %s", lp.namespace, lp.name, lp.port)
    return servers


async def _every(seconds: float, work: Callable[[], Any]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(work)
        except Exception:  # a failing sweep must not stop the server
            log.exception("periodic task failed")


async def serve(
    cluster: Cluster, options: ServeOptions, on_ready: Callable[[str], None] | None = None
) -> None:
    executor, reason = select_executor(options.executor, images_config(cluster))
    engine = Engine(cluster, executor)
    if not engine.acquire():
        raise EngineBusy(
            f"another tektite engine is running on {cluster.home} (a `tektite serve` or a CLI run); "
            "stop it first, or give this server another --home"
        )
    auth = Auth(TokenStore(cluster.home), anonymous=options.anonymous_role)
    app = build(
        cluster,
        auth=auth,
        dashboard=options.dashboard,
        triggers=options.triggers,
        metrics_public=options.metrics_public,
    )
    engine.finished_hooks.append(app.state.recorder.finished)
    Concurrency(cluster).attach(engine)
    watcher = attach_chains(cluster, engine)
    pruner = Pruner(cluster, chains_enabled=watcher is not None)
    ssl: dict[str, Any] = {}
    if options.tls_cert:
        ssl = {"ssl_certfile": options.tls_cert, "ssl_keyfile": options.tls_key}
    elif options.tls:
        files = ensure_certificates(cluster.home, [options.host])
        ssl = {"ssl_certfile": str(files.cert), "ssl_keyfile": str(files.key)}
    config = uvicorn.Config(
        app, host=options.host, port=options.port, log_level="warning", lifespan="on", access_log=False, **ssl
    )
    server = uvicorn.Server(config)
    await engine.start()
    events = CloudEventSender(cluster.store, sink_from(cluster))
    events.start()
    sweeper = asyncio.create_task(_every(options.prune_interval, pruner.sweep))

    async def announce() -> None:
        while not server.started:
            await asyncio.sleep(0.05)
        if on_ready is not None:
            host = f"[{options.host}]" if ":" in options.host else options.host
            on_ready(f"{options.scheme}://{host}:{options.port}")

    announcer = asyncio.create_task(announce())
    listeners = listener_servers(cluster, options.host, ssl) if options.triggers else []
    listener_tasks = [asyncio.create_task(extra.serve()) for extra in listeners]
    log.info("%s", reason)
    try:
        await server.serve()
    finally:
        for extra in listeners:
            extra.should_exit = True
        if listener_tasks:
            await asyncio.gather(*listener_tasks, return_exceptions=True)
        for task in (sweeper, announcer):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await engine.stop()
        await events.stop()
        if watcher is not None and hasattr(watcher, "close"):
            left = await asyncio.to_thread(watcher.close, 30.0)
            if left:
                log.warning(
                    "chains: %s runs were left unsigned at shutdown; they are signed on the next start", left
                )
