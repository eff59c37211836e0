"""Running one container: its argv and environment, its process, its masked output.

Shared by every local backend. A backend only turns a :class:`LaunchRequest` (what the
container should run, as the container sees it) into a :class:`~tektite.executor.procs.Launch`
(what to exec on the host: the program itself, or bubblewrap around it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from tektite.core.conditions import now
from tektite.executor.images import CONFIGMAP_KEY, CONFIGMAP_NAME, ImageMapping
from tektite.executor.layout import DEFAULT_PATH, PathMap, write_script
from tektite.executor.limits import LimitedRun, MemoryLimiter
from tektite.executor.logs import LogStore
from tektite.executor.masking import Masker, StreamMasker
from tektite.executor.plan import Container, Mount, Observer, Pod
from tektite.executor.procs import (
    DEFAULT_GRACE,
    ChildProcess,
    Launch,
    Proc,
    exit_code,
    forked_nothing,
    group_alive,
    kill_tree,
    spawn,
)

Stream = Literal["stdout", "stderr"]
DRAIN_TIMEOUT = 5.0  # after a container ends, how long its output may take to arrive


class StartError(Exception):
    """The container could not be started; ``exit_code`` is what its state reports."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class LaunchRequest:
    pod: Pod
    container: Container
    mapping: ImageMapping
    argv: list[str]  # as the container sees it
    env: dict[str, str]
    workdir: str  # container path
    mounts: list[Mount]
    paths: PathMap
    network: bool = True


class Backend(Protocol):
    """The part of an executor that differs between ``process`` and ``sandbox``."""

    name: str
    virtual_paths: bool

    def check_image(self, mapping: ImageMapping) -> str | None:
        """Why this backend cannot run the image, or None."""
        ...

    def default_workdir(self, pod: Pod, paths: PathMap) -> str:
        """Working directory (container path) of a container that sets none."""
        ...

    def launch(self, request: LaunchRequest) -> Launch: ...


SH_PROGRAMS = frozenset({"sh", "/bin/sh", "ash", "/bin/ash", "/usr/bin/sh"})


def image_shell(pod: Pod, mapping: ImageMapping, paths: PathMap) -> str | None:
    """Absolute path (as the container sees it) of what stands in for the image's /bin/sh."""
    if not mapping.shell:
        return None
    if mapping.shell == "ash":
        compat = pod.tekton_dir("bin") / "ash"
        return paths.container(compat) if compat.exists() else None
    if "/" in mapping.shell:
        return mapping.shell
    return shutil.which(mapping.shell, path=DEFAULT_PATH) if mapping.kind == "host" else None


def with_shell(argv: list[str], shell: str | None) -> list[str]:
    """``sh ...``/``/bin/sh ...`` runs the image's shell stand-in when it has one."""
    if shell and argv and argv[0] in SH_PROGRAMS:
        return [shell, *argv[1:]]
    return argv


def container_argv(
    pod: Pod, container: Container, index: int, mapping: ImageMapping, paths: PathMap
) -> list[str]:
    """What the container runs: its script, its command, or its image's entrypoint; + args."""
    shell = image_shell(pod, mapping, paths)
    if container.script is not None:
        script = write_script(pod, container, index, shell)
        return [paths.container(script), *container.args]
    if container.command:
        return with_shell([*container.command, *container.args], shell)
    if mapping.entrypoint:
        return with_shell([*mapping.entrypoint, *container.args], shell)
    raise StartError(
        f"image {container.image!r} has no known entrypoint and {container.kind} {container.step_name!r} "
        f"sets neither command nor script; give the {container.kind} a command, or add a rule with an "
        f"entrypoint for this image to ConfigMap {CONFIGMAP_NAME} (key {CONFIGMAP_KEY}), e.g. "
        f"'- {{match: \"{container.image.split('@')[0]}*\", run: host, entrypoint: [/path/to/program]}}' "
        f"(it was matched by {mapping.rule})"
    )


def container_env(pod: Pod, container: Container, paths: PathMap) -> dict[str, str]:
    """A clean environment: never the tektite process's own (it may hold secrets)."""
    env = {
        "PATH": f"{DEFAULT_PATH}:{paths.container(pod.tekton_dir('bin'))}",
        "HOME": paths.container(pod.tekton_dir("home")),
        "HOSTNAME": pod.name,
    }
    env.update(container.env)
    return env


class Output:
    """Where one container's output goes: masked, then to the log file, tee files and observer."""

    def __init__(
        self,
        container: str,
        logs: LogStore,
        observer: Observer,
        masker: Masker,
        tees: dict[Stream, BinaryIO] | None = None,
    ) -> None:
        self.container = container
        self.logs = logs
        self.observer = observer
        self.masker = masker
        self.tees = tees or {}

    def direct_fd(self) -> int | None:
        """The log file's descriptor when the container can write to it itself: nothing to
        mask, no stdoutConfig/stderrConfig copy, nobody listening live. That saves two pipes
        and their readers, and keeps stdout and stderr in exactly the order they were written."""
        if self.tees or self.masker or self.observer.live_output:
            return None
        return self.logs.fileno(self.container)

    async def emit(self, stream: Stream, data: bytes) -> None:
        if not data:
            return
        self.logs.write(self.container, data)
        tee = self.tees.get(stream)
        if tee is not None:
            tee.write(data)
        await self.observer.log(self.container, stream, data)

    async def note(self, message: str) -> None:
        """A line from tektite itself in the container's log (stderr)."""
        await self.emit("stderr", self.masker.mask(f"[tektite] {message}\n".encode()))

    async def pump(self, reader: asyncio.StreamReader, stream: Stream) -> None:
        masking = StreamMasker(self.masker)
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            await self.emit(stream, masking.feed(chunk))
        await self.emit(stream, masking.flush())

    def close(self) -> None:
        for handle in {id(h): h for h in self.tees.values()}.values():
            handle.close()


@dataclass
class Running:
    """A started container process and the tasks that read its output."""

    container: Container
    proc: Proc
    output: Output
    limited: LimitedRun
    started_at: str
    tag: str | None = None
    since: int = 0
    pumps: list[asyncio.Task[None]] = field(default_factory=list)
    transports: list[asyncio.BaseTransport] = field(default_factory=list)
    returncode: int | None = None
    contained: bool = False  # see Launch.contained
    needs_sweep: bool = False  # ended cleanly but may have left a daemon outside its group
    oom_killed: bool = False
    broken: asyncio.Future[None] | None = None  # done when reading its output failed

    def watch_pumps(self) -> None:
        """Make a failing output pump (e.g. the observer raised) visible at once."""
        self.broken = asyncio.get_running_loop().create_future()

        def check(task: asyncio.Task[None]) -> None:
            if self.broken and not self.broken.done() and not task.cancelled() and task.exception():
                self.broken.set_result(None)

        for pump in self.pumps:
            pump.add_done_callback(check)

    async def finish(self, grace: float = DEFAULT_GRACE) -> int:
        """Kill what is left of the container, read its last output, return its exit code."""
        failure: BaseException | None = None
        try:
            if self.proc.returncode is not None and not group_alive(self.proc.pid):
                # the common case: the step exited and took its process group with it; in a pid
                # namespace nothing else can remain, nor if it forked nothing; otherwise the pod's
                # final sweep looks once
                self.needs_sweep = not self.contained and not forked_nothing(self.proc.pid)
            else:
                with contextlib.suppress(ProcessLookupError):
                    await kill_tree(self.proc.pid, grace, self.tag, self.since)
            code = await self.proc.wait()
            if self.pumps:
                done, pending = await asyncio.wait(self.pumps, timeout=DRAIN_TIMEOUT)
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending)
                    await self.output.note("output still open after the container ended; stopped reading it")
                failure = next((t.exception() for t in done if not t.cancelled() and t.exception()), None)
        finally:
            for task in self.pumps:
                task.cancel()
            for transport in self.transports:
                transport.close()
            self.output.close()
            self.oom_killed = self.limited.oom_killed()  # before its cgroup goes away
            self.limited.finish()
        self.returncode = exit_code(code)
        if failure is not None:  # e.g. the observer failed while receiving output
            raise failure
        return self.returncode


async def _reader(fd: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    protocol = asyncio.StreamReaderProtocol(reader)
    transport, _ = await loop.connect_read_pipe(lambda: protocol, os.fdopen(fd, "rb", buffering=0))
    return reader, transport


async def start(launch: Launch, limited: LimitedRun, container: Container, output: Output) -> Running:
    """Spawn the container with its stdout/stderr on pipes read into ``output``, or straight
    into its log file when nothing needs to see the output on its way (``Output.direct_fd``)."""
    for note in launch.notes:
        await output.note(note)
    launch.argv = limited.argv
    direct = output.direct_fd()
    fds: list[int] = []
    try:
        if direct is None:
            out_r, out_w = os.pipe()
            fds += [out_r, out_w]
            err_r, err_w = os.pipe()
            fds += [err_r, err_w]
            proc = await spawn(launch, stdout=out_w, stderr=err_w)
        else:
            proc = await spawn(launch, stdout=direct, stderr=direct)
    except FileNotFoundError as exc:
        for fd in fds:
            os.close(fd)
        limited.finish()
        missing = exc.filename or launch.argv[0]
        raise StartError(
            f"cannot run {missing!r}: no such file or directory (PATH={launch.env.get('PATH')})", 127
        ) from None
    except PermissionError as exc:
        for fd in fds:
            os.close(fd)
        limited.finish()
        raise StartError(f"cannot run {exc.filename or launch.argv[0]!r}: permission denied", 126) from None
    except BaseException:
        for fd in fds:
            os.close(fd)
        limited.finish()
        raise
    running = Running(
        container,
        proc,
        output,
        limited,
        now(),
        tag=launch.tag,
        since=launch.since,
        contained=launch.contained,
    )
    if direct is not None:
        return running
    os.close(out_w)
    os.close(err_w)
    try:
        # both pipes in one turn of the loop (each connection waits for one)
        (out_reader, out_t), (err_reader, err_t) = await asyncio.gather(_reader(out_r), _reader(err_r))
    except BaseException:  # cancelled before anyone tracks the process: do not leave it behind
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        raise
    running.transports = [out_t, err_t]
    running.pumps = [
        asyncio.create_task(output.pump(out_reader, "stdout")),
        asyncio.create_task(output.pump(err_reader, "stderr")),
    ]
    running.watch_pumps()
    return running


Outcome = Literal["exited", "step-timeout", "pod-timeout", "stopped", "broken"]


async def wait_exit(
    running: Running,
    step_deadline: float | None,
    pod_deadline: float | None,
    stop: asyncio.Event,
) -> Outcome:
    """Wait for the process, a deadline (loop time), ``stop`` or a failure reading its output.

    Everything rings one future, so the exit wakes this coroutine in the loop turn that reaps
    the process (no intermediate tasks to start, cancel and collect)."""
    loop = asyncio.get_running_loop()
    deadlines = [d for d in (step_deadline, pod_deadline) if d is not None]
    deadline = min(deadlines) if deadlines else None
    proc = running.proc
    broken = running.broken
    if proc.returncode is None and not stop.is_set() and not (broken is not None and broken.done()):
        wake: asyncio.Future[None] = loop.create_future()

        def ring(*_: object) -> None:
            if not wake.done():
                wake.set_result(None)

        undo: list[Callable[[], object]] = []
        if isinstance(proc, ChildProcess):
            undo.append(proc.on_exit(ring))
        else:
            waiter = asyncio.ensure_future(proc.wait())
            waiter.add_done_callback(ring)
            undo.append(waiter.cancel)
        stopper = asyncio.ensure_future(stop.wait())
        stopper.add_done_callback(ring)
        undo.append(stopper.cancel)  # not awaited: nothing waits for its cancellation
        if broken is not None:
            broken.add_done_callback(ring)
            undo.append(lambda: broken.remove_done_callback(ring))
        if deadline is not None:
            undo.append(loop.call_at(deadline, ring).cancel)
        try:
            await wake
        finally:
            for step in undo:
                step()
    if broken is not None and broken.done():
        return "broken"
    if proc.returncode is not None:
        return "exited"
    if stop.is_set():
        return "stopped"
    if step_deadline is not None and (pod_deadline is None or step_deadline <= pod_deadline):
        return "step-timeout"
    return "pod-timeout"


def open_tees(container: Container, workdir: str, paths: PathMap) -> tuple[dict[Stream, BinaryIO], list[str]]:
    """Files for stdoutConfig/stderrConfig (truncated, parents created); notes for the log."""
    tees: dict[Stream, BinaryIO] = {}
    notes: list[str] = []
    opened: dict[Path, BinaryIO] = {}
    for stream, target in (("stdout", container.stdout_path), ("stderr", container.stderr_path)):
        if not target:
            continue
        path = target if target.startswith("/") else os.path.join(workdir, target)
        host = paths.host(path)
        if host is None:
            notes.append(f"{stream}Config.path {target!r} is not on a volume tektite can write; not saved")
            continue
        if host not in opened:
            host.parent.mkdir(parents=True, exist_ok=True)
            opened[host] = open(host, "wb", buffering=0)  # noqa: SIM115
        tees[stream] = opened[host]  # type: ignore[index]
    return tees, notes


def limiter_wrap(limiter: MemoryLimiter, launch: Launch, container: Container) -> LimitedRun:
    limited, note = limiter.wrap(launch.argv, container.memory_limit, container.name)
    if note:
        launch.notes.append(note)
    return limited
