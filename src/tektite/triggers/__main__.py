"""``python -m tektite.triggers``: serve EventListeners without the rest of ``tektite serve``.

    python -m tektite.triggers --home ~/.local/share/tektite --port 8080 [--engine]
    python -m tektite.triggers --listener default/github-listener --port 8081

Without ``--listener`` every listener is at ``POST /el/NAMESPACE/NAME``; with it, every path posts
to that one listener. ``--engine`` also runs the tektite engine here, so created runs execute
(unless another process already runs one for the home). Stop it with SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from tektite.controller.cluster import Cluster
from tektite.errors import TektiteError
from tektite.triggers.app import serve


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tektite.triggers", description=__doc__.split("\n")[0])
    p.add_argument("--home", type=Path, default=None, help="tektite home (default: $TEKTITE_HOME)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--listener", default=None, metavar="NAMESPACE/NAME", help="serve one listener at every path"
    )
    p.add_argument(
        "--reject-status", type=int, default=None, help="answer this (4xx) to rejected events, not 202"
    )
    p.add_argument("--engine", action="store_true", help="also run the engine so created runs execute")
    p.add_argument("--executor", default=None, help="executor for --engine (default: auto)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


async def _main(args: argparse.Namespace) -> None:
    cluster = Cluster(args.home)
    listener = None
    if args.listener:
        ns, sep, name = args.listener.partition("/")
        if not sep or not ns or not name:
            raise TektiteError(f'--listener "{args.listener}": expected NAMESPACE/NAME')
        cluster.store.get("EventListener", name, ns)
        listener = (ns, name)
    engine = None
    if args.engine:
        from tektite.controller.manager import Engine
        from tektite.executor import select_executor

        candidate = Engine(cluster, select_executor(args.executor)[0])
        if candidate.acquire():
            await candidate.start()
            engine = candidate
    try:
        await serve(
            cluster,
            host=args.host,
            port=args.port,
            listener=listener,
            reject_status=args.reject_status,
            log_level="info" if args.verbose else "warning",
        )
    finally:
        if engine is not None:
            await engine.stop()
        cluster.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        asyncio.run(_main(args))
    except TektiteError as exc:
        sys.stderr.write(f"Error: {exc.diagnostics()}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
