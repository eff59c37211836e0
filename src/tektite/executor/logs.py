"""Persistent step logs: ``<run_dir>/logs/<container>.log``.

The runner appends every (already masked) chunk a container prints, stdout and stderr
interleaved as ``kubectl logs`` shows them, and flushes each write so another process can tail
the file while the run goes on (``tektite taskrun logs -f``). The files live in the run
directory: they survive restarts, stay after the run ends and go away when the run is deleted.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from tektite.errors import NotFound

LOG_DIR = "logs"
BLANK = ".blank"
INDEX = "containers"  # container names in the order they started, one a line (from the second on)
POLL_INTERVAL = 0.1
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def log_path(run_dir: Path, container: str) -> Path:
    if not _SAFE_NAME.match(container):
        raise NotFound(
            f"no log for container {container!r}: container names are DNS labels "
            "(letters, digits, '-', '.', '_')"
        )
    return Path(run_dir) / LOG_DIR / f"{container}.log"


class LogStore:
    """Appends container output to the run's log files (one open handle per container)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self._files: dict[str, BinaryIO] = {}
        self._started: list[str] = []  # containers whose log this store created, in order
        self._unnamed: tuple[Path, Path] | None = None  # the spare's empty file, to be renamed

    def path(self, container: str) -> Path:
        return log_path(self.run_dir, container)

    def open(self, container: str) -> None:
        """Create the (empty) log file, so followers see the container has started.

        A run directory made from a spare (controller/rundirs.py) brings an empty ``.blank``
        file: the first container writes to it at once and it gets its name in :meth:`settle`,
        which the runner calls once the container runs (a rename is a directory change, the
        slowest thing on a busy disk, and need not delay the start). One log needs no order:
        the index is written when a second container starts (before its log file appears, so
        whoever sees two logs also sees their order)."""
        if container in self._files:
            return
        path = self.path(container)
        if not self._started:
            try:
                fd = os.open(path.parent / BLANK, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            except FileNotFoundError:
                pass
            else:
                self._started.append(container)
                self._unnamed = (path.parent / BLANK, path)
                # unbuffered: every write reaches the file at once, for followers elsewhere
                self._files[container] = open(fd, "ab", buffering=0)  # noqa: SIM115
                return
        self.settle()
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            self._started.append(container)
            if len(self._started) > 1:
                new = self._started if len(self._started) == 2 else self._started[-1:]
                with open(path.parent / INDEX, "a") as index:
                    index.write("".join(name + "\n" for name in new))
        self._files[container] = open(path, "ab", buffering=0)  # noqa: SIM115

    def settle(self) -> None:
        """Give the first container's log file its name, if it still has the spare's."""
        if self._unnamed is not None:
            blank, path = self._unnamed
            self._unnamed = None
            os.rename(blank, path)

    def fileno(self, container: str) -> int:
        """The container's log file descriptor (opened for appending), for a process to write to."""
        self.open(container)
        return self._files[container].fileno()

    def write(self, container: str, data: bytes) -> None:
        if not data:
            return
        self.open(container)
        self._files[container].write(data)

    def close(self) -> None:
        try:
            self.settle()
        finally:
            for handle in self._files.values():
                handle.close()
            self._files.clear()

    def __enter__(self) -> LogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def read(run_dir: Path, container: str) -> bytes:
        return read(run_dir, container)

    @staticmethod
    def follow(
        run_dir: Path, containers: Sequence[str] | None, is_done: Callable[[], bool]
    ) -> AsyncIterator[tuple[str, bytes]]:
        return follow(run_dir, containers, is_done)


def read(run_dir: Path, container: str) -> bytes:
    """The whole log of one container; NotFound if it never printed or never started."""
    path = log_path(run_dir, container)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFound(
            f"no log for container {container!r} in {run_dir}",
            hint="the container has not started yet, or the run was deleted",
        ) from None


def containers_with_logs(run_dir: Path) -> list[str]:
    """Containers that have a log file, in the order they started."""
    folder = Path(run_dir) / LOG_DIR
    try:
        listed = (folder / INDEX).read_text().split()
    except FileNotFoundError:
        listed = []
    try:
        present = {e.name[: -len(".log")] for e in os.scandir(folder) if e.name.endswith(".log")}
    except FileNotFoundError:
        return []
    ordered = [name for name in dict.fromkeys(listed) if name in present]
    return ordered + sorted(present - set(ordered))


async def follow(
    run_dir: Path,
    containers: Sequence[str] | None,
    is_done: Callable[[], bool],
    poll_interval: float = POLL_INTERVAL,
) -> AsyncIterator[tuple[str, bytes]]:
    """Yield ``(container, data)`` as the log files grow, until ``is_done()`` and all is read.

    ``containers=None`` follows every container of the run, picking up new log files as they
    appear. Files that do not exist yet are waited for. After ``is_done()`` turns true the
    files are read to their end once more, so nothing written before completion is lost.
    """
    handles: dict[str, BinaryIO] = {}
    try:
        while True:
            done = is_done()  # decide before reading: whatever was written before is read below
            names = list(containers) if containers is not None else containers_with_logs(run_dir)
            for name in names:
                handle = handles.get(name)
                if handle is None:
                    try:
                        handle = open(log_path(run_dir, name), "rb")  # noqa: SIM115
                    except FileNotFoundError:
                        continue
                    handles[name] = handle
                while True:
                    data = handle.read(65536)
                    if not data:
                        break
                    yield name, data
            if done:
                return
            await asyncio.sleep(poll_interval)
    finally:
        for handle in handles.values():
            handle.close()
