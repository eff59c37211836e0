"""The run directory as containers see it: ``/tekton/*`` mounts, step directories, paths.

Tekton's layout (docs ``developers/taskruns.md``, "Reserved directories")::

    /tekton/run/<i>/status/            one per step: exitCode, results/ (the step's own data)
    /tekton/steps/step-<name> -> ../run/<i>/status
    /tekton/steps/<i>         -> ../run/<i>/status
    /tekton/scripts/script-<i>-<random>, sidecar-script-<i>-<random>
    /tekton/results, /tekton/home, /tekton/creds, /tekton/bin

The symlinks are relative, so they resolve on the host (``process``) and inside a sandbox alike.
``/tekton/bin`` also holds tektite's compatibility programs (``ash``), last on PATH.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import secrets
from collections.abc import Collection, Iterator
from pathlib import Path

from tektite.executor.images import compat_links
from tektite.executor.plan import TEKTON_SUBDIRS, Container, Mount, Pod

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def tekton_mounts(pod: Pod) -> list[Mount]:
    """``/tekton/<sub>`` mounts the controller did not declare itself (it normally does)."""
    have = {m.container_path.rstrip("/") for m in pod.mounts}
    if "/tekton" in have:
        return []
    return [
        Mount(pod.tekton_dir(sub), f"/tekton/{sub}") for sub in TEKTON_SUBDIRS if f"/tekton/{sub}" not in have
    ]


def container_mounts(pod: Pod, container: Container) -> list[Mount]:
    """Every mount of one container, parents before children (the order to mount them in)."""
    mounts = [*pod.mounts, *tekton_mounts(pod), *container.mounts]
    return sorted(mounts, key=lambda m: _depth(m.container_path))


def _depth(path: str) -> int:
    return len([p for p in posixpath.normpath(path).split("/") if p])


class PathMap:
    """Translates between container paths and host paths over one container's mounts."""

    def __init__(self, mounts: list[Mount], virtual: bool) -> None:
        self.virtual = virtual
        self.mounts = sorted(mounts, key=lambda m: -_depth(m.container_path))
        # (normalized container path, that path + "/", mount), deepest first
        self._bases = [
            (base, base.rstrip("/") + "/", m)
            for m in self.mounts
            for base in [posixpath.normpath(m.container_path)]
        ]

    def _match(self, norm: str) -> tuple[str, Mount] | None:
        for base, prefix, mount in self._bases:
            if norm == base or norm.startswith(prefix):
                return base, mount
        return None

    def mount_for(self, path: str) -> Mount | None:
        """The mount a container path lies on (the deepest one), None if on the image's root."""
        found = self._match(posixpath.normpath(path))
        return found[1] if found is not None else None

    def host(self, path: str) -> Path | None:
        """Host path behind a container path (longest-prefix mount match), None if unmounted.

        Without virtual paths (``process``) a path that is already a host path (the controller
        substituted ``$(workspaces.x.path)`` with it) is returned as it is.
        """
        norm = posixpath.normpath(path)
        found = self._match(norm)
        if found is not None:
            base, mount = found
            rest = norm[len(base) :].lstrip("/")
            return Path(mount.host_path) / rest if rest else Path(mount.host_path)
        if not self.virtual:
            return Path(norm)
        return None

    def container(self, host: Path) -> str:
        """The path a container uses for a host file (identity without virtual paths)."""
        if not self.virtual:
            return str(host)
        host = Path(os.path.abspath(host))
        for mount in sorted(self.mounts, key=lambda m: -len(Path(m.host_path).parts)):
            base = Path(os.path.abspath(mount.host_path))
            if host == base:
                return mount.container_path
            if host.is_relative_to(base):
                return posixpath.join(mount.container_path, host.relative_to(base).as_posix())
        raise LookupError(f"{host} is not under any mount")


def prepare_run_dir(pod: Pod, *, only: Collection[str] | None = None, compat: bool = True) -> None:
    """Create what the containers need before the first one starts (idempotent).

    ``only=None``: Tekton's whole layout - every ``/tekton`` directory, each step's status
    directory and its two links, the pod's directory mounts (``/workspace``) - which a sandbox
    mounts. Otherwise ``/tekton/home`` (``HOME``, the default working directory) and the
    ``/tekton`` directories named in ``only`` (see :func:`named_run_dirs`); ``steps`` or ``run``
    bring the step status directories and their links. A new directory costs 0.1-0.8 ms on some
    disks, more than all the rest of a short step's overhead.
    ``compat``: the compatibility programs in ``/tekton/bin`` (``ash``). ``pod.dirs`` always.
    """
    subs = TEKTON_SUBDIRS if only is None else ("home", *(s for s in TEKTON_SUBDIRS if s in only))
    for sub in subs:
        pod.tekton_dir(sub).mkdir(parents=True, exist_ok=True)
    if only is None:
        for mount in pod.mounts:  # /workspace
            if not mount.is_file and Path(mount.host_path).is_relative_to(pod.run_dir):
                Path(mount.host_path).mkdir(parents=True, exist_ok=True)
    if only is None or "steps" in only or "run" in only:
        steps_dir = pod.tekton_dir("steps")
        steps_dir.mkdir(exist_ok=True)
        for i, step in enumerate(pod.steps):
            status = pod.tekton_dir("run") / str(i) / "status"
            status.mkdir(parents=True, exist_ok=True)
            named = steps_dir / step.name
            if not named.exists() and not named.is_symlink():
                named.symlink_to(f"../run/{i}/status")
            indexed = steps_dir / str(i)
            if not indexed.exists() and not indexed.is_symlink():
                indexed.symlink_to(f"../run/{i}/status" if named.is_symlink() else step.name)
    if compat:
        bin_dir = pod.tekton_dir("bin")
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name, target in compat_links().items():
            link = bin_dir / name
            if not link.exists() and not link.is_symlink():
                with contextlib.suppress(FileExistsError):
                    link.symlink_to(target)
    for directory in pod.dirs:
        directory.mkdir(parents=True, exist_ok=True)


def container_texts(container: Container) -> Iterator[str]:
    """Everything of a container that can name a path: command, args, script, env, workingDir,
    stdout/stderr paths, its probe and its ``when`` expressions."""
    yield from container.command or ()
    yield from container.args
    if container.script is not None:
        yield container.script
    yield from container.env.values()
    for text in (container.working_dir, container.stdout_path, container.stderr_path):
        if text:
            yield text
    if container.readiness is not None:
        yield from container.readiness.argv
    for when in container.when:
        yield from (when.input or "", when.cel or "", *when.values)


def named_run_dirs(pod: Pod) -> set[str]:
    """The ``/tekton`` directories (``results``, ``steps``...) a container names by host path.

    Without virtual paths (``process``) a step reaches ``/tekton/*`` only through variables the
    controller substituted with host paths (``$(results.x.path)``, ``$(step.results.x.path)``,
    ``$(steps.step-x.exitCode.path)``, ``$(credentials.path)``), so the directories nobody names
    need not exist.
    """
    text = "\0".join(t for c in (*pod.steps, *pod.sidecars) for t in container_texts(c))
    if str(pod.tekton_dir()) not in text:  # the common case: nothing of /tekton is named
        return set()
    return {sub for sub in TEKTON_SUBDIRS if str(pod.tekton_dir(sub)) in text}


def open_for_other_users(pod: Pod) -> None:
    """Make the directories steps write to usable by a non-root ``runAsUser`` (like emptyDirs)."""
    paths = [pod.run_dir, pod.tekton_dir()]
    paths += [pod.tekton_dir(sub) for sub in ("results", "home", "run", "scripts", "bin", "steps")]
    paths += [p for p in pod.tekton_dir("run").glob("*/status")]
    paths += [p.parent for p in pod.tekton_dir("run").glob("*/status")]
    for path in paths:
        with contextlib.suppress(OSError):
            mode = 0o755 if path in (pod.run_dir, pod.tekton_dir()) else 0o777
            path.chmod(path.stat().st_mode | mode)


SH_INTERPRETERS = ("/usr/bin/env sh", "/usr/bin/env ash", "/bin/sh", "/bin/ash")


def write_script(pod: Pod, container: Container, index: int, shell: str | None = None) -> Path:
    """Write ``container.script`` under /tekton/scripts (mode 0755), Tekton's way.

    Without a ``#!`` line the script gets the preamble ``#!/bin/sh`` + ``set -e``. ``shell`` (an
    absolute path) stands in for the image's ``/bin/sh``: it replaces ``/bin/sh`` in the preamble
    and in ``#!/bin/sh``, ``#!/bin/ash``, ``#!/usr/bin/env sh`` and ``#!/usr/bin/env ash`` lines.
    """
    assert container.script is not None
    text = container.script
    if not text.startswith("#!"):
        text = f"#!{shell or '/bin/sh'}\nset -e\n" + text
    elif shell:
        first, newline, rest = text.partition("\n")
        interpreter = first[2:].strip()
        for candidate in SH_INTERPRETERS:
            if interpreter == candidate or interpreter.startswith(candidate + " "):
                text = f"#!{shell}{interpreter[len(candidate) :]}{newline}{rest}"
                break
    prefix = "script" if container.kind == "step" else "sidecar-script"
    path = pod.tekton_dir("scripts") / f"{prefix}-{index}-{secrets.token_hex(3)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def step_status_dir(pod: Pod, paths: PathMap, container: Container) -> Path:
    """Host directory behind ``/tekton/steps/<container>`` (exitCode, results/)."""
    return paths.host(f"/tekton/steps/{container.name}") or pod.tekton_dir("steps") / container.name


def step_results_dir(pod: Pod, paths: PathMap, container: Container) -> Path:
    if container.results_dir:
        host = paths.host(container.results_dir)
        if host is not None:
            return host
    return step_status_dir(pod, paths, container) / "results"
