"""Backend ``process``: steps run as plain host processes, without isolation.

Paths are not virtual: the controller substitutes host paths into variables
(``$(workspaces.src.path)`` becomes ``<run dir>/workspaces/src``), and container paths that
remain in ``workingDir``/``stdoutConfig`` are mapped to host paths through the mounts.
``runAsUser`` is honoured when tektite runs as root (the child calls setuid/setgid); a hermetic
step loses its network when tektite runs as root (``unshare --net``). Otherwise both are
reported as warnings in the step's log. Images mapped to a root filesystem need ``sandbox``.
"""

from __future__ import annotations

import asyncio
import os
import shutil

from tektite.executor.execution import LaunchRequest, StartError
from tektite.executor.images import ImageConfig, ImageMapping
from tektite.executor.layout import PathMap
from tektite.executor.limits import MemoryLimiter
from tektite.executor.plan import Observer, Pod, PodResult
from tektite.executor.procs import DEFAULT_GRACE, Launch
from tektite.executor.runner import PodRunner


class ProcessBackend:
    name = "process"
    virtual_paths = False

    def __init__(self) -> None:
        self.unshare = shutil.which("unshare")
        self.setpriv = shutil.which("setpriv")

    def check_image(self, mapping: ImageMapping) -> str | None:
        if mapping.kind == "rootfs":
            return (
                f"image {mapping.image!r} is mapped to the root filesystem {mapping.rootfs} "
                f"({mapping.rule}); only the sandbox executor can run a root filesystem"
            )
        return None

    def default_workdir(self, pod: Pod, paths: PathMap) -> str:
        # there is no image WORKDIR; the step's home is a writable directory of this run
        return paths.container(pod.tekton_dir("home"))

    def launch(self, request: LaunchRequest) -> Launch:
        c = request.container
        workdir = request.paths.host(request.workdir)
        assert workdir is not None  # without virtual paths every path maps
        if not workdir.is_dir():
            if request.paths.mount_for(request.workdir) is None:
                raise StartError(f"workingDir {request.workdir!r} does not exist on this host")
            workdir.mkdir(parents=True, exist_ok=True)  # on a volume of the run: made as needed
        launch = Launch(list(request.argv), dict(request.env), cwd=str(workdir))
        root = os.geteuid() == 0
        uid, gid = c.run_as_user, c.run_as_group
        if uid is not None and not root:
            launch.notes.append(
                f"securityContext.runAsUser {uid} ignored: tektite is not running as root, so the "
                "process executor cannot switch users (the sandbox executor can)"
            )
        if uid is not None and root:
            gid = gid if gid is not None else 0
            if self.setpriv:  # switch users last, so wrappers (unshare, cgroup join) still run as root
                launch.argv = [
                    self.setpriv,
                    f"--reuid={uid}",
                    f"--regid={gid}",
                    "--clear-groups",
                    "--",
                    *launch.argv,
                ]
            else:
                launch.user, launch.group = uid, gid
        if not request.network:
            if root and self.unshare:
                launch.argv = [self.unshare, "--net", "--", *launch.argv]
            else:
                launch.notes.append(
                    "hermetic: the process executor cannot take the network away from this step "
                    "(that needs root or the sandbox executor); it runs with the host's network"
                )
        return launch


class ProcessExecutor:
    """The ``process`` executor (see the module doc)."""

    name = "process"
    virtual_paths = False

    def __init__(
        self,
        images: ImageConfig | None = None,
        limiter: MemoryLimiter | None = None,
        grace: float = DEFAULT_GRACE,
    ) -> None:
        self.backend = ProcessBackend()
        self.limiter = limiter or MemoryLimiter()
        self.runner = PodRunner(self.backend, images, self.limiter, grace)

    def describe(self) -> str:
        return (
            "process: steps run as plain host processes, without isolation (host filesystem "
            f"writable, host network unless hermetic and root); {self.limiter.describe()}"
        )

    async def run(self, pod: Pod, observer: Observer, stop: asyncio.Event) -> PodResult:
        return await self.runner.run(pod, observer, stop)
