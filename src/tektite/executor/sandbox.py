"""Backend ``sandbox``: every container in its own bubblewrap sandbox.

What a container sees:

* a new, empty tmpfs as ``/`` (writable, thrown away with the container);
* the host's ``/usr``, ``/etc``, ``/opt`` read-only, and ``/bin``, ``/sbin``, ``/lib*`` as the
  host has them (symlinks into ``/usr`` on merged-/usr systems) - or, for an image mapped to
  ``rootfs:<dir>``, that directory's top-level entries read-only instead;
* its own ``/proc`` (new pid namespace: pid 1 is bubblewrap's init, then the step), ``/dev``
  (minimal), a tmpfs ``/tmp``;
* every mount of the pod at its container path (``/workspace/<name>``, ``/tekton/results``,
  ``/tekton/home``, ``/tekton/steps``, ``/tekton/scripts``, ``/tekton/run``...), read-only when
  the volume is;
* new ipc and uts namespaces (hostname = pod name), a new session, killed with its parent;
* no network (only a down ``lo``) for steps of a hermetic run; sidecars keep the network;
* ``runAsUser``/``runAsGroup`` through a user namespace (``--unshare-user --uid --gid``): ``id -u``
  prints the user; files it creates on volumes belong to tektite's own user on the host.

Stopping a container signals bubblewrap and everything inside (see ``procs.kill_tree``).
"""

from __future__ import annotations

import asyncio
import functools
import os
import posixpath
import re
import shutil
import subprocess
from pathlib import Path

from tektite.executor.execution import LaunchRequest, StartError
from tektite.executor.images import ImageConfig, ImageMapping
from tektite.executor.layout import PathMap
from tektite.executor.limits import MemoryLimiter
from tektite.executor.plan import Observer, Pod, PodResult
from tektite.executor.procs import DEFAULT_GRACE, Launch
from tektite.executor.runner import PodRunner

HOST_ROOT_ENTRIES = ("usr", "etc", "opt", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
# top-level entries of a root filesystem that the sandbox provides itself
SANDBOX_OWNED = frozenset({"proc", "dev", "sys", "tmp", "tekton", "workspace"})
HOSTNAME_MAX = 63


def hostname_for(pod_name: str) -> str:
    name = re.sub(r"[^a-z0-9.-]", "-", pod_name.lower())[:HOSTNAME_MAX].strip("-.")
    return name or "tektite"


def _bind(src: Path, dst: str, targets: list[str], args: list[str], exploded: list[str]) -> None:
    """Put host ``src`` at ``dst`` read-only, so that every mount target below it can be created.

    A directory that lacks the mount point of a volume (a ConfigMap at ``/etc/app``) is
    "exploded": a tmpfs at ``dst`` holding read-only binds of each of its entries, where the mount
    point can then be made; it is remounted read-only once the volumes are mounted.
    """
    if src.is_symlink():
        args += ["--symlink", os.readlink(src), dst]
        return
    if not src.is_dir():
        args += ["--ro-bind-try", str(src), dst]
        return
    below = [t for t in targets if t.startswith(dst.rstrip("/") + "/")]
    missing = [t for t in below if not os.path.lexists(src / t[len(dst) :].lstrip("/"))]
    if not missing:
        args += ["--ro-bind", str(src), dst]
        return
    args += ["--tmpfs", dst]
    exploded.append(dst)
    for entry in sorted(os.scandir(src), key=lambda e: e.name):
        _bind(Path(entry.path), f"{dst.rstrip('/')}/{entry.name}", missing, args, exploded)


def root_args(entries: list[tuple[str, Path]], targets: list[str]) -> tuple[list[str], list[str]]:
    """bwrap arguments for the root filesystem entries, and the directories to remount read-only."""
    args: list[str] = []
    exploded: list[str] = []
    for name, path in entries:
        if path.exists() or path.is_symlink():
            _bind(path, f"/{name}", targets, args, exploded)
    return args, exploded


def host_entries() -> list[tuple[str, Path]]:
    return [(name, Path("/") / name) for name in HOST_ROOT_ENTRIES]


@functools.cache
def host_root_args() -> tuple[str, ...]:
    """The host's root entries with no volume below them (cached), plus resolv.conf's target."""
    return tuple(root_args(host_entries(), [])[0] + _resolv_args())


def _resolv_args() -> list[str]:
    # /etc/resolv.conf may point outside /etc (systemd-resolved): bind its target too
    resolv = Path("/etc/resolv.conf")
    if resolv.is_symlink():
        target = Path(os.path.realpath(resolv))
        if target.is_file() and not any(target.is_relative_to(f"/{n}") for n in ("etc", "usr")):
            return ["--ro-bind", str(target), str(target)]
    return []


def rootfs_entries(rootfs: Path) -> list[tuple[str, Path]]:
    return sorted(
        (entry.name, Path(entry.path)) for entry in os.scandir(rootfs) if entry.name not in SANDBOX_OWNED
    )


class SandboxBackend:
    name = "sandbox"
    virtual_paths = True

    def __init__(self, bwrap: str = "bwrap") -> None:
        self.bwrap = shutil.which(bwrap) or bwrap

    def check_image(self, mapping: ImageMapping) -> str | None:
        if mapping.kind == "rootfs":
            assert mapping.rootfs is not None
            if not mapping.rootfs.is_dir():
                return (
                    f"image {mapping.image!r} is mapped to the root filesystem {mapping.rootfs} "
                    f"({mapping.rule}), which is not a directory on this host"
                )
        return None

    def default_workdir(self, pod: Pod, paths: PathMap) -> str:
        return "/"

    def _in_image(self, mapping: ImageMapping, path: str) -> bool:
        root = mapping.rootfs if mapping.kind == "rootfs" and mapping.rootfs else Path("/")
        top = path.strip("/").split("/")[0]
        if mapping.kind == "host" and top not in HOST_ROOT_ENTRIES:
            return False
        return (root / path.lstrip("/")).exists()

    def launch(self, request: LaunchRequest) -> Launch:
        c = request.container
        args = [
            self.bwrap,
            "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--hostname", hostname_for(request.pod.name),
            "--die-with-parent", "--new-session",
        ]  # fmt: skip
        if not request.network:
            args.append("--unshare-net")
        if c.run_as_user is not None or c.run_as_group is not None:
            uid = c.run_as_user if c.run_as_user is not None else 0
            gid = c.run_as_group if c.run_as_group is not None else 0
            args += ["--unshare-user", "--uid", str(uid), "--gid", str(gid)]
        targets = [posixpath.normpath(m.container_path) for m in request.mounts]
        exploded: list[str] = []
        if request.mapping.kind == "rootfs":
            assert request.mapping.rootfs is not None
            root, exploded = root_args(rootfs_entries(request.mapping.rootfs), targets)
            args += root
        else:
            root, exploded = root_args(host_entries(), targets)
            args += [*root, *_resolv_args()] if exploded else host_root_args()
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for mount in request.mounts:  # parents before children
            source = Path(mount.host_path)
            if not source.exists():
                raise StartError(f"volume for {mount.container_path!r} is missing on the host ({source})")
            args += ["--ro-bind" if mount.read_only else "--bind", str(source), mount.container_path]
        workdir = posixpath.normpath(request.workdir)
        if request.paths.mount_for(workdir) is not None:
            workdir_host = request.paths.host(workdir)
            if workdir_host is not None:
                workdir_host.mkdir(parents=True, exist_ok=True)
        elif workdir != "/" and not self._in_image(request.mapping, workdir):
            args += ["--dir", workdir]
        for directory in reversed(exploded):
            args += ["--remount-ro", directory]
        args += ["--chdir", workdir, "--", *request.argv]
        return Launch(args, dict(request.env), contained=True)


class SandboxExecutor:
    """The ``sandbox`` executor (see the module doc)."""

    name = "sandbox"
    virtual_paths = True

    def __init__(
        self,
        images: ImageConfig | None = None,
        limiter: MemoryLimiter | None = None,
        grace: float = DEFAULT_GRACE,
        bwrap: str = "bwrap",
    ) -> None:
        self.backend = SandboxBackend(bwrap)
        self.limiter = limiter or MemoryLimiter()
        self.runner = PodRunner(self.backend, images, self.limiter, grace)

    def describe(self) -> str:
        version = bwrap_version(self.backend.bwrap) or "bubblewrap"
        return (
            f"sandbox ({version}): host filesystem read-only, volumes at their container paths, "
            "own pid/ipc/uts namespaces, no network for hermetic steps; "
            f"{self.limiter.describe()}"
        )

    async def run(self, pod: Pod, observer: Observer, stop: asyncio.Event) -> PodResult:
        return await self.runner.run(pod, observer, stop)


@functools.cache
def bwrap_version(bwrap: str = "bwrap") -> str | None:
    """``"bubblewrap 0.8.0"``, or None when bwrap cannot be run."""
    path = shutil.which(bwrap)
    if path is None:
        return None
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def probe_bwrap(bwrap: str = "bwrap") -> tuple[bool, str]:
    """Actually run ``bwrap ... true`` with the namespaces the sandbox uses: (works, why not)."""
    path = shutil.which(bwrap)
    if path is None:
        return False, "bwrap not found"
    argv = [
        path, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
        "--hostname", "tektite-probe", "--die-with-parent", "--new-session",
        *host_root_args(), "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--", "true",
    ]  # fmt: skip
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False, env={})
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"bwrap failed to start: {exc}"
    if out.returncode != 0:
        detail = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit code {out.returncode}"
        return False, f"bwrap does not work here: {detail}"
    return True, ""
