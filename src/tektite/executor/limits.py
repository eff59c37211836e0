"""Memory limits (``computeResources.limits.memory``) enforced where the kernel allows.

Two mechanisms, the better one first:

* ``cgroup2``: a writable, delegated cgroup v2 directory with the memory controller enabled for
  its children (``TEKTITE_CGROUP_PARENT`` or found from ``/proc/self/cgroup``). Each limited
  container gets a child cgroup with ``memory.max`` (and ``memory.swap.max = 0``,
  ``memory.oom.group = 1``); when the kernel OOM-kills it the step reports ``OOMKilled``,
  exactly as on Kubernetes. The limit covers every process of the container together.
* ``rlimit``: ``prlimit --as=<bytes>`` (util-linux) on the container process. RLIMIT_AS limits
  the *virtual* address space of each process separately: allocations past the limit fail
  (Python raises MemoryError, C programs get NULL from malloc), so the step fails with its own
  error instead of an OOM kill. Runtimes that reserve large virtual areas (Go, the JVM) may
  need a limit well above their real use.

CPU limits are advisory: tektite records them but does not throttle.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_ENV = "TEKTITE_CGROUP_PARENT"

Mode = Literal["cgroup2", "rlimit", "none"]


def _has_memory_controller(directory: Path) -> bool:
    try:
        controllers = (directory / "cgroup.subtree_control").read_text().split()
    except OSError:
        return False
    return "memory" in controllers and os.access(directory, os.W_OK)


def find_cgroup_parent(
    root: Path = CGROUP_ROOT, self_cgroup: Path = Path("/proc/self/cgroup"), override: str | None = None
) -> Path | None:
    """A cgroup v2 directory in which tektite may create memory-limited children, or None."""
    if override:
        candidate = Path(override)
        return candidate if _has_memory_controller(candidate) else None
    if not (root / "cgroup.controllers").is_file():  # not a cgroup v2 (unified) mount
        return None
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        return None
    own = next((line[3:] for line in lines if line.startswith("0::")), None)
    if own is None:
        return None
    own_dir = root / own.lstrip("/")
    # children of our own cgroup (only possible when it is the root or has no processes) or,
    # more usually with delegation (systemd Delegate=yes), siblings of it
    for candidate in (own_dir, own_dir.parent):
        if candidate.is_relative_to(root) and _has_memory_controller(candidate):
            return candidate
    return None


@dataclass
class LimitedRun:
    """One container started under a memory limit; ``finish()`` after it ended."""

    argv: list[str]
    cgroup: Path | None = None

    def oom_killed(self) -> bool:
        if self.cgroup is None:
            return False
        try:
            for line in (self.cgroup / "memory.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        except (OSError, ValueError):
            pass
        return False

    def finish(self) -> None:
        if self.cgroup is not None:
            with contextlib.suppress(OSError):
                self.cgroup.rmdir()


class MemoryLimiter:
    """Wraps a container's argv so that its memory limit is enforced."""

    def __init__(self, cgroup_parent: Path | None = None, *, detect: bool = True) -> None:
        if cgroup_parent is None and detect:
            cgroup_parent = find_cgroup_parent(override=os.environ.get(CGROUP_ENV))
        self.cgroup_parent = cgroup_parent
        self.prlimit = shutil.which("prlimit")
        self.mode: Mode = "cgroup2" if cgroup_parent else ("rlimit" if self.prlimit else "none")

    def describe(self) -> str:
        if self.mode == "cgroup2":
            return f"memory limits: cgroup v2 under {self.cgroup_parent}"
        if self.mode == "rlimit":
            return "memory limits: RLIMIT_AS per process (no writable cgroup v2 found)"
        return "memory limits: not enforced (no cgroup v2 and no prlimit)"

    def wrap(self, argv: list[str], limit: int | None, name: str) -> tuple[LimitedRun, str | None]:
        """The argv to run and, when the limit cannot be enforced, a note for the log."""
        if not limit:
            return LimitedRun(argv), None
        if self.mode == "cgroup2" and self.cgroup_parent is not None:
            cgroup = self.cgroup_parent / f"tektite-{name}-{uuid.uuid4().hex[:8]}"
            try:
                cgroup.mkdir()
                (cgroup / "memory.max").write_text(str(limit))
                for key, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
                    with contextlib.suppress(OSError):
                        (cgroup / key).write_text(value)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    cgroup.rmdir()
                return self._rlimit(argv, limit, f"cgroup {cgroup} unusable ({exc.strerror}); ")
            procs = str(cgroup / "cgroup.procs")
            wrapped = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', procs, *argv]
            return LimitedRun(wrapped, cgroup), None
        return self._rlimit(argv, limit, "")

    def _rlimit(self, argv: list[str], limit: int, why: str) -> tuple[LimitedRun, str | None]:
        if self.prlimit:
            note = f"{why}memory limit enforced as RLIMIT_AS instead" if why else None
            return LimitedRun([self.prlimit, f"--as={limit}", "--", *argv]), note
        return LimitedRun(argv), f"{why}memory limit {limit} bytes not enforced: no cgroup v2 and no prlimit"
