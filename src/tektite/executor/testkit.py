"""Helpers for tests that run pods: small Pod builders, a recording observer, a fake executor."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tektite.executor.plan import Container, ContainerState, Observer, Pod, PodResult


def step(name: str, image: str = "ubuntu", **fields: Any) -> Container:
    """A step container as the controller would build it (``step-<name>``)."""
    return Container(name=f"step-{name}", step_name=name, kind="step", image=image, **fields)


def sidecar(name: str, image: str = "ubuntu", **fields: Any) -> Container:
    return Container(name=f"sidecar-{name}", step_name=name, kind="sidecar", image=image, **fields)


def pod(run_dir: Path, steps: list[Container], **fields: Any) -> Pod:
    """A pod named ``test-pod``; the runner adds the ``/tekton/*`` mounts itself when missing."""
    fields.setdefault("name", "test-pod")
    fields.setdefault("namespace", "default")
    fields.setdefault("taskrun", "test")
    return Pod(run_dir=Path(run_dir), steps=steps, **fields)


@dataclass
class RecordingObserver:
    """Keeps every state and log chunk; ``on_state`` may react (e.g. set ``stop``)."""

    states: list[ContainerState] = field(default_factory=list)
    chunks: list[tuple[str, str, bytes]] = field(default_factory=list)
    on_state: Callable[[ContainerState], None] | None = None
    on_log: Callable[[str, str, bytes], None] | None = None
    live_output: bool = True  # False: containers write straight to their log files

    async def container_state(self, state: ContainerState) -> None:
        self.states.append(state)
        if self.on_state is not None:
            self.on_state(state)

    async def log(self, container: str, stream: Literal["stdout", "stderr"], data: bytes) -> None:
        self.chunks.append((container, stream, data))
        if self.on_log is not None:
            self.on_log(container, stream, data)

    def output(self, container: str, stream: str | None = None) -> bytes:
        return b"".join(d for c, s, d in self.chunks if c == container and (stream is None or s == stream))

    def states_of(self, container: str) -> list[ContainerState]:
        return [s for s in self.states if s.container == container]


RunFunction = Callable[[Pod, Observer, asyncio.Event], PodResult | Awaitable[PodResult]]


class FakeExecutor:
    """An executor that calls a plain function instead of running anything."""

    name = "fake"
    virtual_paths = True

    def __init__(self, func: RunFunction) -> None:
        self.func = func

    def describe(self) -> str:
        return "fake: runs nothing (tests)"

    async def run(self, pod: Pod, observer: Observer, stop: asyncio.Event) -> PodResult:
        result = self.func(pod, observer, stop)
        if inspect.isawaitable(result):
            return await result
        return result


def processes_matching(marker: str) -> list[int]:
    """Pids whose command line contains ``marker`` (to prove nothing was left running)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ")
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2 :].startswith("Z"):
            continue
        if marker.encode() in cmdline:
            found.append(int(entry.name))
    return found


def run_pod(
    p: Pod,
    executor: Any,
    on_state: Callable[[ContainerState, asyncio.Event], None] | None = None,
    live_output: bool = True,
) -> tuple[PodResult, RecordingObserver]:
    """Run ``p`` to the end on ``executor``; ``on_state`` may set the stop event it is given.
    ``live_output=False``: the observer takes no output chunks (as the engine's), so containers
    write straight to their log files."""

    async def go() -> tuple[PodResult, RecordingObserver]:
        stop = asyncio.Event()
        observer = RecordingObserver(
            on_state=(lambda s: on_state(s, stop)) if on_state else None, live_output=live_output
        )
        result = await asyncio.wait_for(executor.run(p, observer, stop), timeout=120)
        return result, observer

    return asyncio.run(go())


def final(result: PodResult, name: str) -> ContainerState:
    """The last state of the step or sidecar called ``name``."""
    return next(s for s in [*result.steps, *result.sidecars] if s.name == name)


def marker(base: int) -> str:
    """A unique ``sleep`` duration to recognise a test's processes in /proc."""
    import uuid

    return f"{base + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 1000:03d}"
