"""The step runner: Tekton's "entrypoint" semantics for every local backend.

One :class:`PodRunner.run` call runs one pod: sidecars first (until ready), then the steps
strictly in order, then the sidecars are stopped. What each step did is reported live through
the observer and returned in the :class:`PodResult`. The states follow Tekton:

============================== ========= ====================== ===================
what happened                  exitCode  reason (Kubernetes)    terminationReason
============================== ========= ====================== ===================
exit 0                         0         Completed              Completed
exit N, ``onError: continue``  N         Completed              Continued
exit N                         N         Error (OOMKilled)      Error
step ``timeout`` passed        1         Error                  TimeoutExceeded
``when`` is false              0         Completed              Skipped
a previous step failed         1         Error                  Skipped
TaskRun timeout / cancelled    1         TaskRunTimeout/...     TaskRunTimeout/TaskRunCancelled
============================== ========= ====================== ===================

Every finished state has ``phase == "terminated"``; a step that could not start (command not
found: 127, not executable: 126, no entrypoint known for its image: 1) ends with ``Error`` and
a message that is also written to its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
from pathlib import Path
from typing import Any, Literal

from tektite.core.conditions import now
from tektite.executor import when as step_when
from tektite.executor.execution import (
    Backend,
    LaunchRequest,
    Output,
    Running,
    StartError,
    container_argv,
    container_env,
    image_shell,
    limiter_wrap,
    open_tees,
    start,
    wait_exit,
    with_shell,
)
from tektite.executor.images import ImageConfig, ImageMapping, image_id
from tektite.executor.layout import (
    PathMap,
    container_mounts,
    named_run_dirs,
    open_for_other_users,
    prepare_run_dir,
    step_results_dir,
    step_status_dir,
)
from tektite.executor.limits import MemoryLimiter
from tektite.executor.logs import LogStore
from tektite.executor.masking import Masker
from tektite.executor.plan import Container, ContainerState, Mount, Observer, Pod, PodResult
from tektite.executor.procs import DEFAULT_GRACE, Launch, sweep
from tektite.executor.sidecars import wait_ready

Halt = Literal["failed", "timeout", "cancelled"]
_HALT_REASON = {"timeout": "TaskRunTimeout", "cancelled": "TaskRunCancelled"}


def read_results(directory: Path) -> dict[str, str]:
    """The step result files a step wrote (name -> content)."""
    out: dict[str, str] = {}
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for path in sorted(directory.iterdir()):
            if path.is_file():
                out[path.name] = path.read_bytes().decode("utf-8", errors="replace")
    return out


def read_artifacts(path: Path) -> dict[str, Any] | None:
    """What a step wrote to ``$(step.artifacts.path)`` (Tekton's artifacts, alpha), if valid JSON."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return {k: v for k, v in data.items() if k in ("inputs", "outputs") and isinstance(v, list)}


class PodRunner:
    """Runs pods with one backend; shared by ``process`` and ``sandbox``."""

    def __init__(
        self,
        backend: Backend,
        images: ImageConfig | None = None,
        limiter: MemoryLimiter | None = None,
        grace: float = DEFAULT_GRACE,
    ) -> None:
        self.backend = backend
        self.images = images or ImageConfig()
        self.limiter = limiter or MemoryLimiter()
        self.grace = grace

    async def run(self, pod: Pod, observer: Observer, stop: asyncio.Event) -> PodResult:
        return await _PodRun(self, pod, observer, stop).run()


class _PodRun:
    def __init__(self, runner: PodRunner, pod: Pod, observer: Observer, stop: asyncio.Event) -> None:
        self.runner = runner
        self.backend = runner.backend
        self.pod = pod
        self.observer = observer
        self.stop = stop
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + pod.timeout if pod.timeout and pod.timeout > 0 else None
        self.masker = Masker(pod.secrets)
        self.logs = LogStore(pod.run_dir)
        self.mappings: dict[str, ImageMapping] = {}
        self.steps: list[ContainerState] = []
        self.sidecars: list[ContainerState] = []
        self.running_sidecars: list[Running] = []
        self.sweep_tags: list[tuple[str, int, int]] = []
        self.current: Running | None = None
        self.tree: step_when.Tree = {}
        self.step_dirs = True  # the steps' status directories exist (prepare_run_dir)
        self.mount_lists: dict[str, list[Mount]] = {}
        self.path_maps: dict[str, PathMap] = {}

    # -- the pod -----------------------------------------------------------------------------

    async def run(self) -> PodResult:
        pod = self.pod
        for c in [*pod.sidecars, *pod.steps]:
            mapping = self.runner.images.resolve(c.image)
            self.mappings[c.name] = mapping
        self.steps = [self._state(c) for c in pod.steps]
        self.sidecars = [self._state(c) for c in pod.sidecars]
        for c in [*pod.sidecars, *pod.steps]:
            problem = self.backend.check_image(self.mappings[c.name])
            if problem:
                message = f"{c.kind} {c.step_name!r}: {problem}"
                await self._mark_rest(0, "Error", "Error", message, started=False)
                return PodResult(self.steps, self.sidecars, error=message)
        # a process pod gets only the directories its containers name (and HOME)
        named = None if self.backend.virtual_paths else named_run_dirs(pod)
        self.step_dirs = named is None or bool({"steps", "run"} & named)
        compat = named is None or "bin" in named or any(m.shell == "ash" for m in self.mappings.values())
        prepare = functools.partial(prepare_run_dir, pod, only=named, compat=compat)
        prepared: asyncio.Future[None] | None = None
        if pod.tekton_dir("home").is_dir():  # the engine renamed a spare skeleton into place:
            if named or compat or pod.dirs:  # little is left to make, a thread would cost more
                prepare()
        else:
            prepared = self.loop.run_in_executor(None, prepare)
        try:
            # making a directory or a file can take ~0.2-0.8 ms on ext4 (it skips recently deleted
            # inodes one by one): the first container's log is made while a thread makes /tekton
            first = next(iter([*pod.sidecars, *pod.steps]), None)
            if first is not None and not first.when and self._halt_now() is None:
                self.logs.open(first.name)
        finally:
            if prepared is not None:
                await prepared
        if any(c.run_as_user not in (None, 0) for c in [*pod.steps, *pod.sidecars]):
            open_for_other_users(pod)
        halt: Halt | None = None
        error: str | None = None
        try:
            halt, error = await self._start_sidecars()
            if halt is None:
                halt = await self._run_steps()
            elif halt == "failed":
                await self._mark_rest(0, "Error", "Skipped", f"not run: {error}")
            else:
                await self._mark_rest(0, _HALT_REASON[halt], _HALT_REASON[halt], None, started=False)
        finally:
            await self._cleanup()
        return PodResult(
            self.steps, self.sidecars, cancelled=halt == "cancelled", timed_out=halt == "timeout", error=error
        )

    def _state(self, c: Container) -> ContainerState:
        return ContainerState(
            name=c.step_name, container=c.name, kind=c.kind, image_id=image_id(self.mappings[c.name])
        )

    async def _report(self, state: ContainerState) -> None:
        await self.observer.container_state(dataclasses.replace(state, results=dict(state.results)))

    async def _terminate(
        self,
        state: ContainerState,
        code: int,
        reason: str,
        termination: str | None,
        message: str | None = None,
        started: bool = True,
    ) -> None:
        stamp = now()
        if message:  # messages can quote substituted values; they go to the status, so mask them
            message = self.masker.mask(message.encode()).decode(errors="replace")
        state.phase = "terminated"
        state.exit_code = code
        state.reason = reason
        state.termination_reason = termination
        state.message = message
        if started and state.started_at is None:
            state.started_at = stamp
        state.finished_at = stamp
        await self._report(state)

    async def _mark_rest(
        self, first: int, reason: str, termination: str, message: str | None, started: bool = True
    ) -> None:
        """Steps from ``first`` on will not run; Tekton reports them terminated with exit code 1."""
        for state in self.steps[first:]:
            if state.phase != "terminated":
                await self._terminate(state, 1, reason, termination, message, started=started)

    def _halt_now(self) -> Halt | None:
        if self.stop.is_set():
            return "cancelled"
        if self.deadline is not None and self.loop.time() >= self.deadline:
            return "timeout"
        return None

    # -- containers --------------------------------------------------------------------------

    def _mounts(self, c: Container) -> list[Mount]:
        """The container's mounts, parents before children (worked out once per container)."""
        if c.name not in self.mount_lists:
            self.mount_lists[c.name] = container_mounts(self.pod, c)
        return self.mount_lists[c.name]

    def _paths(self, c: Container) -> PathMap:
        if c.name not in self.path_maps:
            self.path_maps[c.name] = PathMap(self._mounts(c), self.backend.virtual_paths)
        return self.path_maps[c.name]

    def _request(self, c: Container, argv: list[str], paths: PathMap, network: bool) -> LaunchRequest:
        workdir = c.working_dir or self.backend.default_workdir(self.pod, paths)
        return LaunchRequest(
            self.pod,
            c,
            self.mappings[c.name],
            argv,
            container_env(self.pod, c, paths),
            workdir,
            self._mounts(c),  # parents before children
            paths,
            network,
        )

    async def _launch(self, index: int, c: Container, output: Output, network: bool) -> Running:
        paths = self._paths(c)
        argv = container_argv(self.pod, c, index, self.mappings[c.name], paths)
        request = self._request(c, argv, paths, network)
        tees, notes = open_tees(c, request.workdir, paths)
        output.tees = tees
        try:
            launch = self.backend.launch(request)
        except StartError:
            output.close()
            raise
        launch.notes[:0] = notes
        limited = limiter_wrap(self.runner.limiter, launch, c)
        try:
            return await start(launch, limited, c, output)
        except BaseException:
            output.close()
            raise

    async def _start_sidecars(self) -> tuple[Halt | None, str | None]:
        for i, c in enumerate(self.pod.sidecars):
            state = self.sidecars[i]
            output = Output(c.name, self.logs, self.observer, self.masker)
            self.logs.open(c.name)
            try:
                running = await self._launch(i, c, output, network=True)
            except StartError as exc:
                await output.note(str(exc))
                await self._terminate(state, exc.exit_code, "Error", "Error", str(exc))
                return "failed", f"sidecar {c.step_name!r} could not start: {exc}"
            self.running_sidecars.append(running)
            state.started_at = running.started_at
            await self._report(state)
            self.logs.settle()
        for running in self.running_sidecars:
            c = running.container

            def probe_launch(c: Container = c) -> Launch:
                paths = self._paths(c)
                assert c.readiness is not None
                shell = image_shell(self.pod, self.mappings[c.name], paths)
                argv = with_shell(list(c.readiness.argv), shell)
                return self.backend.launch(self._request(c, argv, paths, network=True))

            try:
                result = await wait_ready(running, c.readiness, probe_launch, self.stop, self.deadline)
            except StartError as exc:
                return "failed", f"sidecar {c.step_name!r}: its probe could not start: {exc}"
            if result.outcome == "ready":
                continue
            if result.outcome == "failed":
                return "failed", result.message
            return ("cancelled" if result.outcome == "stopped" else "timeout"), None
        return None, None

    async def _run_steps(self) -> Halt | None:
        for i, step in enumerate(self.pod.steps):
            halt = self._halt_now()
            if halt is None:
                halt = await self._run_step(i, step)
            if halt is not None:
                if halt == "failed":
                    await self._mark_rest(i + 1, "Error", "Skipped", None)
                    return None
                await self._mark_rest(i, _HALT_REASON[halt], _HALT_REASON[halt], None, started=False)
                return halt
        return None

    async def _run_step(self, index: int, step: Container) -> Halt | None:
        pod = self.pod
        state = self.steps[index]
        paths = self._paths(step)
        # the step's status directory: made before it starts when containers can name it;
        # otherwise only its paths are needed, once the step runs (worked out meanwhile)
        step_dirs = functools.cache(
            lambda: (step_status_dir(pod, paths, step), step_results_dir(pod, paths, step))
        )
        if self.step_dirs:
            step_dirs()[1].mkdir(parents=True, exist_ok=True)
        container = step_when.substitute(step, self.tree)
        # only a later step or a sidecar can read the exit code file
        readers = self.step_dirs and (index + 1 < len(pod.steps) or bool(pod.sidecars))

        def finished(code: int) -> None:
            status_dir, results_dir = step_dirs()
            if readers:
                with contextlib.suppress(OSError):
                    (status_dir / "exitCode").write_text(str(code))
            if self.step_dirs:  # otherwise no container could name the step's directory
                state.results = read_results(results_dir)
                state.artifacts = read_artifacts(status_dir / "artifacts" / "provenance.json")
            step_when.add_step(
                self.tree, step, state.results, paths.container(status_dir / "exitCode"), state.artifacts
            )

        if container.when:
            try:
                run_it = step_when.should_run(container.when)
            except step_when.WhenError as exc:
                message = f"step {step.step_name!r}: {exc}"
                await Output(step.name, self.logs, self.observer, self.masker).note(message)
                finished(1)
                await self._terminate(state, 1, "Error", "Error", message)
                return "failed"
            if not run_it:
                finished(0)
                await self._terminate(state, 0, "Completed", "Skipped")
                return None

        output = Output(step.name, self.logs, self.observer, self.masker)
        self.logs.open(step.name)
        try:
            running = await self._launch(index, container, output, network=not pod.hermetic)
        except StartError as exc:
            await output.note(str(exc))
            finished(exc.exit_code)
            await self._terminate(state, exc.exit_code, "Error", "Error", f"step {step.step_name!r}: {exc}")
            return "failed"
        self.current = running
        state.started_at = running.started_at
        state.phase = "running"
        await self._report(state)
        self.logs.settle()  # while the step runs
        step_dirs()

        timeout = container.timeout if container.timeout and container.timeout > 0 else None
        step_deadline = self.loop.time() + timeout if timeout else None
        outcome = await wait_exit(running, step_deadline, self.deadline, self.stop)
        if outcome == "broken":
            self.current = None
            await running.finish(grace=0)  # raises what broke
            raise RuntimeError(f"reading the output of {step.name} failed")  # pragma: no cover
        if outcome == "step-timeout":
            await output.note(f"step timed out after {timeout:g}s; stopping it")
        elif outcome == "pod-timeout":
            await output.note("the TaskRun timed out; stopping the step")
        elif outcome == "stopped":
            await output.note("the TaskRun was cancelled; stopping the step")
        code = await running.finish(self.runner.grace)
        if running.needs_sweep and running.tag:
            self.sweep_tags.append((running.tag, running.since, running.proc.pid))
        self.current = None
        oom = running.oom_killed

        if outcome == "exited":
            finished(code)
            if code == 0:
                await self._terminate(state, 0, "Completed", "Completed")
                return None
            if container.on_error == "continue":
                await self._terminate(state, code, "Completed", "Continued")
                return None
            reason = "OOMKilled" if oom else "Error"
            await self._terminate(state, code, reason, "Error")
            return "failed"
        if outcome == "step-timeout":
            finished(1)
            await self._terminate(
                state,
                1,
                "Error",
                "TimeoutExceeded",
                f'"{step.name}" exited because the step exceeded the specified timeout limit',
            )
            return "failed"
        halt: Halt = "timeout" if outcome == "pod-timeout" else "cancelled"
        finished(1)
        await self._terminate(state, 1, _HALT_REASON[halt], _HALT_REASON[halt])
        return halt

    # -- the end -----------------------------------------------------------------------------

    async def _cleanup(self) -> None:
        """Stop whatever still runs (the current step if we were interrupted, every sidecar)."""
        try:
            if self.current is not None and self.current.returncode is None:
                await self.current.finish(grace=0)
            await asyncio.gather(*(self._stop_sidecar(i, r) for i, r in enumerate(self.running_sidecars)))
            await sweep(self.sweep_tags)
        finally:
            self.logs.close()

    async def _stop_sidecar(self, index: int, running: Running) -> None:
        state = self.sidecars[index]
        exited_alone = running.proc.returncode is not None
        code = await running.finish(self.runner.grace)
        if exited_alone:
            await self._terminate(state, code, "Completed" if code == 0 else "Error", None)
        else:
            await self._terminate(state, code, "Completed", None, "stopped by tektite after the steps ended")
