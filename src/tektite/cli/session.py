"""Run the engine inside the CLI process when no other engine (``tektite serve``) owns the home.

The engine carries the Chains watcher (:class:`tektite.chains.watcher.ChainsWatcher`): runs are
signed as they finish, and leaving the session waits (up to 30 s) for their signatures.
``TEKTITE_CHAINS=off`` leaves Chains out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from tektite.chains.watcher import ChainsWatcher
from tektite.cli.common import err, settle_heap
from tektite.controller.cluster import Cluster
from tektite.controller.manager import Engine
from tektite.executor import select_executor
from tektite.executor.images import ImageConfig

_REPORTED = False


def images_config(cluster: Cluster) -> ImageConfig | None:
    for ns in ("tekton-pipelines", "default"):
        cm = cluster.store.try_get("ConfigMap", "tektite-images", ns)
        if cm is not None:
            return ImageConfig.from_configmap(cm)
    return None


def make_engine(cluster: Cluster, executor_name: str | None = None, *, quiet: bool = False) -> Engine:
    global _REPORTED
    executor, reason = select_executor(executor_name, images_config(cluster))
    if not quiet and not _REPORTED:
        err(reason)
        _REPORTED = True
    return Engine(cluster, executor)


@contextlib.asynccontextmanager
async def engine_session(
    cluster: Cluster, executor_name: str | None = None, quiet: bool = False
) -> AsyncIterator[Engine | None]:
    """An engine of our own if the home is free; None when another process runs one."""
    engine = make_engine(cluster, executor_name, quiet=quiet)
    if not engine.acquire():
        if not quiet:
            err(f"engine: using the tektite engine already running on {cluster.home}")
        yield None
        return
    await engine.start()
    watcher = chains_watcher(cluster)
    if watcher is not None:
        watcher.attach(engine)
    settle_heap()
    try:
        yield engine
    finally:
        await engine.stop()
        if watcher is not None:
            left = await asyncio.to_thread(watcher.close, CHAINS_DRAIN_SECONDS)
            if left and not quiet:
                err(
                    f"chains: {left} run(s) not signed yet; the next tektite engine or "
                    "`tektite chains run` signs them"
                )


CHAINS_ENV = "TEKTITE_CHAINS"
CHAINS_DRAIN_SECONDS = 30.0


def chains_enabled() -> bool:
    """Chains runs in every engine unless ``TEKTITE_CHAINS`` is ``off``/``0``/``false``/``no``."""
    return os.environ.get(CHAINS_ENV, "on").strip().lower() not in ("off", "0", "false", "no")


def chains_watcher(cluster: Cluster) -> ChainsWatcher | None:
    """The in-engine Chains watcher (signs runs as they finish), unless turned off."""
    return ChainsWatcher(cluster) if chains_enabled() else None


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)
