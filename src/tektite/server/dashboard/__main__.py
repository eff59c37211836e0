"""Serve the dashboard alone, with an engine: ``python -m tektite.server.dashboard --home DIR``.

For development, demos, tests and benchmarks; ``tektite serve`` mounts the same app next to the
API. Tokens are those of ``tektite token create`` (``<home>/tokens.json``); ``--no-auth`` opens
the dashboard to anyone who can reach the port.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.responses import RedirectResponse
from starlette.routing import Mount, Route

from tektite.controller.cluster import Cluster
from tektite.controller.manager import Engine
from tektite.errors import TektiteError
from tektite.executor import select_executor
from tektite.server.auth import Auth
from tektite.server.dashboard.app import make_app
from tektite.server.tokens import TokenStore


def build(cluster: Cluster, *, no_auth: bool) -> Starlette:
    auth = None if no_auth else Auth(TokenStore(cluster.home))
    dashboard = make_app(cluster, auth)

    async def root(_request: object) -> RedirectResponse:
        return RedirectResponse("/ui/")

    return Starlette(
        routes=[Route("/", root), Mount("/ui", app=dashboard)], lifespan=dashboard.router.lifespan_context
    )


async def serve(args: argparse.Namespace) -> None:
    cluster = Cluster(Path(args.home))
    engine: Engine | None = None
    if not args.no_engine:
        executor, reason = select_executor(args.executor)
        print(reason, file=sys.stderr)
        engine = Engine(cluster, executor)
        await engine.start()
    config = uvicorn.Config(
        build(cluster, no_auth=args.no_auth),
        host=args.host,
        port=args.port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    print(f"dashboard: http://{args.host}:{args.port}/ui/", file=sys.stderr, flush=True)
    try:
        await server.serve()
    finally:
        if engine is not None:
            await engine.stop()
        cluster.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tektite.server.dashboard", description=__doc__)
    parser.add_argument("--home", required=True, help="the tektite home (store, runs, tokens)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--executor", default=None, help="sandbox or process (default: the best available)")
    parser.add_argument(
        "--no-engine", action="store_true", help="only serve; another process runs the engine"
    )
    parser.add_argument("--no-auth", action="store_true", help="no tokens: everyone is admin")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        asyncio.run(serve(args))
    except TektiteError as exc:
        print(f"error: {exc.diagnostics()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
