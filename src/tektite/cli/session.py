"""Run the engine inside the CLI process when no other engine (``tektite serve``) owns the home."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from tektite.cli.common import err
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
    try:
        yield engine
    finally:
        await engine.stop()


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)
