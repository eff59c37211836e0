"""Sidecar readiness: exec probes run like the sidecar's own container, until one succeeds.

A sidecar without ``readinessProbe``/``startupProbe`` is ready once it has run for
``SETTLE_SECONDS`` (or exited 0 before that): on Kubernetes the step only learns of a running
sidecar through the pod status and the downward API, seconds later, and sidecar scripts that
write a file first and then serve rely on that slack. With a probe, the
probe's argv runs (same image, mounts and environment as the sidecar) after
``initialDelaySeconds``, then every ``periodSeconds`` until it exits 0; a probe that runs past
``timeoutSeconds`` is killed and counts as a failure; ``failureThreshold`` failures in a row
fail the pod. A sidecar that exits non-zero before it is ready fails the pod; one that exits 0
has done its work and counts as ready.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tektite.executor.execution import Running
from tektite.executor.plan import Probe
from tektite.executor.procs import Launch, exit_code, kill_tree, spawn

Readiness = Literal["ready", "failed", "stopped", "timeout"]

SETTLE_SECONDS = 0.25


@dataclass
class ReadinessResult:
    outcome: Readiness
    message: str = ""


async def run_probe(launch: Launch, timeout: float) -> bool:
    """One probe: True when it exits 0 within ``timeout`` seconds."""
    try:
        proc = await spawn(launch, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return False
    try:
        await asyncio.wait_for(proc.wait(), timeout=timeout if timeout > 0 else None)
    except TimeoutError:
        await kill_tree(proc.pid, grace=0, tag=launch.tag, since=launch.since)
        await proc.wait()
        return False
    finally:
        if proc.returncode is None:  # cancelled while waiting
            await kill_tree(proc.pid, grace=0, tag=launch.tag, since=launch.since)
            await proc.wait()
    await kill_tree(proc.pid, grace=0, tag=launch.tag, since=launch.since)  # what the probe left behind
    return proc.returncode == 0


async def wait_ready(
    running: Running,
    probe: Probe | None,
    probe_launch: Callable[[], Launch],
    stop: asyncio.Event,
    deadline: float | None,
) -> ReadinessResult:
    """Wait until the sidecar is ready, fails, the pod is stopped, or its deadline passes."""
    loop = asyncio.get_running_loop()
    name = running.container.step_name

    def exited() -> ReadinessResult | None:
        code = running.proc.returncode
        if code is None:
            return None
        code = exit_code(code)
        if code == 0:
            return ReadinessResult("ready")
        return ReadinessResult("failed", f"sidecar {name!r} exited with code {code} before it was ready")

    async def pause(seconds: float) -> ReadinessResult | None:
        """Sleep, waking early for stop, the deadline, or the sidecar exiting."""
        if deadline is not None:
            seconds = min(seconds, max(0.0, deadline - loop.time()))
        waiter = asyncio.ensure_future(running.proc.wait())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({waiter, stopper}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, stopper):
                task.cancel()
            await asyncio.gather(waiter, stopper, return_exceptions=True)
        if stop.is_set():
            return ReadinessResult("stopped")
        if (result := exited()) is not None:
            return result
        if deadline is not None and loop.time() >= deadline:
            return ReadinessResult("timeout")
        return None

    if probe is None:
        return await pause(SETTLE_SECONDS) or ReadinessResult("ready")
    if probe.initial_delay > 0 and (result := await pause(probe.initial_delay)) is not None:
        return result
    failures = 0
    while True:
        if stop.is_set():
            return ReadinessResult("stopped")
        if (result := exited()) is not None:
            return result
        if await run_probe(probe_launch(), probe.timeout):
            return exited() or ReadinessResult("ready")
        failures += 1
        if probe.failure_threshold and failures >= probe.failure_threshold:
            return ReadinessResult(
                "failed",
                f"sidecar {name!r} was not ready: its probe {probe.argv!r} failed {failures} times in a row",
            )
        if (result := await pause(max(probe.period, 0.01))) is not None:
            return result
