"""What the controller hands an executor: a fully resolved "pod".

Every ``$(...)`` that the controller can know is already substituted. What only the running
pod can know is left for the runner: ``$(steps.<step>.results.<r>)`` in a later step's
command/args/env, and step ``when`` expressions that use them.

Paths: ``container_path`` is where a container sees a mount (Tekton's layout: ``/workspace/x``,
``/tekton/results``...). Backends that cannot remap paths (``process``) set
``Executor.virtual_paths = False``; the controller then substitutes host paths into variables,
so ``$(workspaces.src.path)`` works everywhere, while a hard-coded ``/workspace/src`` works only
where paths are virtual (``sandbox``, containers).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

ContainerKind = Literal["step", "sidecar"]


@dataclass
class Mount:
    host_path: Path
    container_path: str
    read_only: bool = False
    is_file: bool = False  # a single file (configMap/secret item) rather than a directory


@dataclass
class Probe:
    """An exec readiness/startup probe for a sidecar."""

    argv: list[str]
    initial_delay: float = 0.0
    period: float = 0.1  # tektite polls much faster than Kubernetes' 10s default
    timeout: float = 1.0
    failure_threshold: int | None = None


@dataclass
class WhenExpression:
    """A step ``when`` guard, evaluated by the runner just before the step."""

    input: str | None = None
    operator: str | None = None
    values: list[str] = field(default_factory=list)
    cel: str | None = None


@dataclass
class Container:
    name: str  # container name: "step-<name>" / "sidecar-<name>"
    step_name: str  # Tekton name as in status.steps[].name ("unnamed-0" for unnamed steps)
    kind: ContainerKind
    image: str
    command: list[str] | None = None  # None: the image's entrypoint (from the images config)
    args: list[str] = field(default_factory=list)
    script: str | None = None  # substituted script text; the runner writes it under /tekton/scripts
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    mounts: list[Mount] = field(default_factory=list)
    timeout: float | None = None  # seconds; None = no step timeout
    on_error: Literal["continue", "stopAndFail"] = "stopAndFail"
    run_as_user: int | None = None
    run_as_group: int | None = None
    memory_limit: int | None = None  # bytes, from computeResources.limits.memory
    cpu_limit: float | None = None  # cores
    stdout_path: str | None = None  # stdoutConfig.path (container path)
    stderr_path: str | None = None
    readiness: Probe | None = None
    when: list[WhenExpression] = field(default_factory=list)
    results_dir: str | None = None  # step results: /tekton/steps/<step>/results (container path)
    declared_results: list[str] = field(default_factory=list)  # step results names, for late substitution


@dataclass
class Pod:
    """One TaskRun attempt, ready to run."""

    name: str  # pod name: "<taskrun>-pod" (+ "-retry<N>")
    namespace: str
    taskrun: str
    run_dir: Path  # host directory that holds everything of this attempt
    steps: list[Container]
    sidecars: list[Container] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)  # mounted into every container (/tekton/*)
    hermetic: bool = False  # steps get no network
    secrets: list[str] = field(default_factory=list)  # values masked as *** in logs
    timeout: float | None = None  # whole-pod deadline (TaskRun timeout), seconds
    dirs: list[Path] = field(default_factory=list)  # host directories the containers expect

    _tekton: dict[str, Path] = field(default_factory=dict, init=False, repr=False, compare=False)

    def tekton_dir(self, sub: str = "") -> Path:
        """Host directory behind ``/tekton/<sub>`` (results, steps, scripts, home, run, creds)."""
        path = self._tekton.get(sub)
        if path is None:
            path = self._tekton[sub] = self.tekton_dir() / sub if sub else self.run_dir / "tekton"
        return path


TEKTON_SUBDIRS = ("results", "steps", "scripts", "home", "run", "creds", "bin")


StepPhase = Literal["running", "terminated", "skipped"]


@dataclass
class ContainerState:
    """What happened to one container; mirrors Tekton's ``status.steps[]`` entries."""

    name: str
    container: str
    kind: ContainerKind
    image_id: str = ""
    phase: StepPhase = "running"
    exit_code: int | None = None
    reason: str | None = None  # Kubernetes: "Completed" / "Error"
    termination_reason: str | None = None  # Tekton: Completed, Continued, Error, TimeoutExceeded, Skipped,
    #                                        TaskRunCancelled
    message: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    results: dict[str, str] = field(default_factory=dict)  # raw step result files, read after the step
    # artifacts the step wrote to $(step.artifacts.path): {"inputs": [...], "outputs": [...]}
    artifacts: dict[str, Any] | None = None


@dataclass
class PodResult:
    steps: list[ContainerState]
    sidecars: list[ContainerState]
    cancelled: bool = False
    timed_out: bool = False  # the pod deadline passed
    error: str | None = None  # the executor could not run the pod at all (e.g. bad image mapping)


class Observer(Protocol):
    """Receives live progress; the manager turns it into status updates and log streams.

    ``live_output``: whether ``log`` wants every chunk as it is printed. When it is false (and
    nothing is masked or copied) a container writes straight into its log file and ``log`` is
    only called for tektite's own notes."""

    @property
    def live_output(self) -> bool: ...

    async def container_state(self, state: ContainerState) -> None: ...

    async def log(self, container: str, stream: Literal["stdout", "stderr"], data: bytes) -> None: ...


class Executor(Protocol):
    name: str
    virtual_paths: bool

    def describe(self) -> str:
        """One line for users: what isolation this executor gives."""
        ...

    async def run(self, pod: Pod, observer: Observer, stop: asyncio.Event) -> PodResult:
        """Start sidecars (wait for readiness), run steps in order, stop sidecars.

        Setting ``stop`` kills whatever runs and returns with ``cancelled=True``; passing
        ``pod.timeout`` does the same with ``timed_out=True``.
        """
        ...
