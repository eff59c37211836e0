"""Starting and stopping container processes without leaving anything behind.

Every container process starts in its own session (``start_new_session``), so it and what it
forks share a process group and a session id. Stopping a container signals the whole tree:
the process group, the session and every descendant found through ``/proc`` (that also finds
processes that moved to a new session, and the processes inside a bubblewrap pid namespace),
and every process whose environment carries the container's ``TEKTITE_CONTAINER_ID`` (that finds
daemons that double-forked away from all of the above). First SIGTERM, then, after a short grace
period, SIGKILL until nothing is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_GRACE = 2.0
CONTAINER_ID_ENV = "TEKTITE_CONTAINER_ID"


@dataclass
class Launch:
    """A ready-to-exec container process, built by a backend."""

    argv: list[str]
    env: dict[str, str]
    cwd: str | None = None  # host directory (process backend); the sandbox uses bwrap --chdir
    # the kernel kills every process of the container when its first one exits (a pid namespace)
    contained: bool = False
    tag: str | None = None  # value of TEKTITE_CONTAINER_ID in its environment, to find its processes
    since: int = 0  # start time of its first process (clock ticks since boot), set by spawn()
    user: int | None = None  # setuid/setgid in the child (process backend, as root)
    group: int | None = None
    notes: list[str] = field(default_factory=list)  # warnings for the container's log


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    pgrp: int
    session: int
    tagged: bool = False


def _read(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _start_ticks(fields: list[bytes]) -> int:
    try:
        return int(fields[19])  # field 22 of /proc/<pid>/stat, counted after "comm"
    except (IndexError, ValueError):
        return 0


def last_pid() -> int:
    """The pid the kernel handed out last in this pid namespace (``/proc/loadavg``), 0 if unknown."""
    data = _read("/proc/loadavg")
    try:
        return int(data.split()[-1]) if data else 0
    except ValueError:
        return 0


def forked_nothing(pid: int) -> bool:
    """Whether no process (nor thread) started after ``pid``, host-wide: then the process ``pid``
    forked nothing, so it cannot have left a daemon behind. Any process it started got a newer
    pid while it ran; pids are handed out in increasing order (a wrap-around would need the whole
    pid range used up and end exactly on ``pid``)."""
    return last_pid() == pid


def group_alive(pgid: int) -> bool:
    """Whether any process is left in the process group (cheap: one signal 0)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def sweep(tags: list[tuple[str, int, int]], grace: float = 0.0) -> None:
    """Kill processes that escaped their container's process group and session (double-forked
    daemons) but still carry its ``TEKTITE_CONTAINER_ID`` - ``tags`` holds (tag, start ticks,
    pid of the container's first process). Such processes were started after that pid, so only
    newer pids are looked at (all of them if pid numbers wrapped around meanwhile)."""
    if not tags:
        return
    since = min(s for _, s, _ in tags)
    first = min(p for _, _, p in tags)
    found = {p.pid for tag, _, _ in tags for p in list_processes(tag, since, first) if p.tagged}
    found.discard(os.getpid())
    for pid in found:
        await kill_tree(pid, grace, None, 0)


def list_processes(tag: str | None = None, since: int = 0, min_pid: int = 0) -> list[ProcInfo]:
    """Every process on the host; ``tagged`` when its environment holds ``TEKTITE_CONTAINER_ID=tag``.

    Only processes started at or after ``since`` (clock ticks since boot) can carry the tag, so
    only their environments are read.
    """
    needle = f"{CONTAINER_ID_ENV}={tag}\0".encode() if tag else b""
    out = []
    pids = [int(n) for n in os.listdir("/proc") if n.isdigit()]
    if min_pid and pids and max(pids) >= min_pid:
        pids = [p for p in pids if p >= min_pid]
    for pid in pids:
        name = str(pid)
        stat = _read(f"/proc/{name}/stat")
        if stat is None:
            continue
        # "pid (comm) state ppid pgrp session ..."; comm may hold spaces and parentheses
        rest = stat[stat.rfind(b")") + 2 :].split()
        try:
            ppid, pgrp, session = int(rest[1]), int(rest[2]), int(rest[3])
        except (IndexError, ValueError):
            continue
        tagged = False
        if needle and _start_ticks(rest) >= since:
            environ = _read(f"/proc/{name}/environ") or b""
            tagged = environ.startswith(needle) or b"\0" + needle in environ
        out.append(ProcInfo(int(name), ppid, pgrp, session, tagged))
    return out


def process_tree(root: int, tag: str | None = None, since: int = 0) -> set[int]:
    """Processes that belong to the container started as ``root`` (a session leader)."""
    procs = list_processes(tag, since)
    members = {p.pid for p in procs if p.pgrp == root or p.session == root or p.tagged}
    members.add(root)
    children: dict[int, list[int]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p.pid)
    todo = list(members)
    while todo:
        pid = todo.pop()
        for child in children.get(pid, ()):
            if child not in members:
                members.add(child)
                todo.append(child)
    alive = {p.pid for p in procs}
    members &= alive
    members.discard(os.getpid())
    return members


def _signal_all(pids: set[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _is_zombie(pid: int) -> bool:
    stat = _read(f"/proc/{pid}/stat")
    return stat is None or stat[stat.rfind(b")") + 2 :].startswith(b"Z")


def _living(pids: set[int]) -> set[int]:
    return {pid for pid in pids if not _is_zombie(pid)}


async def kill_tree(root: int, grace: float = DEFAULT_GRACE, tag: str | None = None, since: int = 0) -> None:
    """SIGTERM the container's processes, wait up to ``grace`` seconds, then SIGKILL what's left."""
    pids = _living(process_tree(root, tag, since))
    if not pids:
        return
    _signal_all(pids, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while loop.time() < deadline:
        await asyncio.sleep(0.02)
        pids = _living(process_tree(root, tag, since) | pids)
        if not pids:
            return
    for _ in range(50):  # processes may fork while being killed: repeat until none is left
        pids = _living(process_tree(root, tag, since) | pids)
        if not pids:
            return
        _signal_all(pids, signal.SIGKILL)
        await asyncio.sleep(0.02)


def exit_code(returncode: int) -> int:
    """A container's exit code: a process killed by signal N reports 128+N, as runtimes do."""
    return 128 - returncode if returncode < 0 else returncode


class ChildProcess:
    """A started container process, reaped through a pidfd on the loop that started it.

    What asyncio's subprocess transport does for a process whose output is not piped, without
    the transport, protocol and their callbacks: exit to wake-up is one turn of the loop.
    ``wait()`` may be cancelled without harm (each call has its own future).
    """

    def __init__(self, popen: subprocess.Popen[bytes], pidfd: int) -> None:
        self.pid = popen.pid
        self.returncode: int | None = None
        self._popen = popen
        self._loop = asyncio.get_running_loop()
        self._pidfd: int | None = pidfd
        self._waiters: list[asyncio.Future[int]] = []
        self._callbacks: list[Callable[[], None]] = []
        self._loop.add_reader(pidfd, self._reap)

    def on_exit(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (in the loop, right when the process is reaped); returns an undo."""
        self._callbacks.append(callback)

        def undo() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return undo

    def _reap(self) -> None:
        if self._pidfd is None:
            return
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = None
        try:
            _, status = os.waitpid(self.pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:  # reaped by someone else: the code is lost
            code = 255
        self.returncode = self._popen.returncode = code  # Popen.__del__ must not wait for it again
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(code)
        self._waiters.clear()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    async def wait(self) -> int:
        if self.returncode is not None:
            return self.returncode
        fut: asyncio.Future[int] = self._loop.create_future()
        self._waiters.append(fut)
        return await fut


def _pidfds() -> bool:
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return True


PIDFDS = _pidfds()
_TICKS = os.sysconf("SC_CLK_TCK")


def boot_ticks() -> int:
    """Now, in the clock ticks since boot that /proc/<pid>/stat gives start times in (rounded
    down: a process started after this call has at least this start time)."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * _TICKS)


Proc = ChildProcess | asyncio.subprocess.Process  # what spawn() returns: pid, returncode, wait()


async def spawn(launch: Launch, *, stdout: int, stderr: int) -> Proc:
    """Start ``launch`` in a new session, stdin closed, output to the given descriptors.

    ``stdout``/``stderr`` are file descriptors or ``subprocess.DEVNULL``.
    """
    if launch.tag is None:
        launch.tag = uuid.uuid4().hex
    launch.env = {**launch.env, CONTAINER_ID_ENV: launch.tag}
    options: dict[str, Any] = {
        "stdin": subprocess.DEVNULL,
        "stdout": stdout,
        "stderr": stderr,
        "env": launch.env,
        "cwd": launch.cwd,
        "start_new_session": True,
        "close_fds": True,
    }
    if launch.user is not None:
        options.update(
            user=launch.user, group=launch.group if launch.group is not None else 0, extra_groups=[]
        )
    launch.since = boot_ticks()
    if not PIDFDS:  # kernels before 5.3: asyncio's child watcher
        return await asyncio.create_subprocess_exec(*launch.argv, **options)
    popen = subprocess.Popen(launch.argv, **options)
    try:
        pidfd = os.pidfd_open(popen.pid)
    except BaseException:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()
        raise
    return ChildProcess(popen, pidfd)
