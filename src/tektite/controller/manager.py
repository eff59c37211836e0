"""The engine: one asyncio loop that reconciles TaskRuns and PipelineRuns and runs pods.

Store events (in-process at once, other processes' writes by polling the event log) put keys on
a queue; one worker reconciles them in order. Pods run as asyncio tasks; their progress comes
back through an observer that writes status and logs. Only one engine runs per home (a lock
file), so a run is never executed twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tektite.api.params import Param, ParamSpec, ResolverRef
from tektite.api.pipeline import PipelineSpec
from tektite.controller import caches, custom, rerun
from tektite.controller import pipelinerun as prmod
from tektite.controller import taskrun as trmod
from tektite.controller.children import cache_template, claim_name
from tektite.controller.cluster import Cluster
from tektite.controller.lookup import RunSetupError
from tektite.controller.rerun import REUSE_PIPELINERUN, REUSE_TASKRUN, REUSED_TASKRUN
from tektite.controller.rundirs import SANDBOX_SKELETON, SpareRunDirs, sandbox_links
from tektite.controller.taskrun_build import BuildEnv, Built, build_pod
from tektite.core import cachebinding
from tektite.core.conditions import UNFINISHED, TaskRunReason, get_condition, is_done, now, parse_time
from tektite.core.params import enum_subset_problem
from tektite.errors import AlreadyExists, Conflict, NotFound, TektiteError
from tektite.executor.plan import ContainerState, Executor, PodResult
from tektite.resolution import Resolved, resolve, trust
from tektite.resolution.cache import ResolverCache
from tektite.store.base import Event

log = logging.getLogger("tektite")
JSON = dict[str, Any]
Key = tuple[str, str, str]  # kind, namespace, name
FinishedHook = Callable[[JSON], Any]


def trust_status(status: JSON, verdict: trust.Verdict) -> JSON:
    """``status`` with the ``TrustedResourcesVerified`` condition the verdict sets (a copy), as
    Tekton writes it: no reason, True with "passed" or False with why."""
    if verdict.verified is None:
        return status
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != trust.CONDITION]
    conditions.append(
        {
            "type": trust.CONDITION,
            "status": "True" if verdict.verified else "False",
            "message": verdict.message,
            "lastTransitionTime": now(),
        }
    )
    conditions.sort(key=lambda c: str(c.get("type", "")))  # as knative keeps them
    return {**status, "conditions": conditions}


class EngineBusy(TektiteError):
    pass


@dataclass
class _Running:
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    # the TaskRun as the engine last saw it (its events keep this current), None once deleted:
    # the final status is written onto it without reading the run again (a stale one conflicts)
    latest: JSON | None = None


class _Observer:
    """Turns container states into TaskRun status writes; the runner persists the logs itself
    (already masked), and log chunks are offered to live listeners (the server's streams)."""

    # Step states are written at most this often; a step that ends sooner costs no extra write.
    FLUSH_DELAY = 0.1

    def __init__(
        self, engine: Engine, key: Key, first_write: Callable[[JSON], Any], begin: Callable[[], JSON]
    ) -> None:
        self.engine = engine
        self.key = key
        self._status: JSON | None = None
        self._begin = begin  # the Running status, made on first use (once a container runs)
        self.started = False  # the Running status (and Tekton's labels) has been written
        self._first_write = first_write
        self._flush: asyncio.TimerHandle | None = None

    @property
    def status(self) -> JSON:
        if self._status is None:
            self._status = self._begin()
        return self._status

    @property
    def live_output(self) -> bool:
        return bool(self.engine.log_listeners)

    def schedule(self) -> None:
        if self._flush is None and self.engine.loop is not None:
            self._flush = self.engine.loop.call_later(self.FLUSH_DELAY, self.flush)

    async def container_state(self, state: ContainerState) -> None:
        self._status = trmod.step_status(self.status, state)
        self.schedule()

    def flush(self) -> None:
        """The first flush writes the Running status with Tekton's labels (a TaskRun that ends
        within FLUSH_DELAY is written once, finished); later ones write progress."""
        self._flush = None
        if not self.started:
            self.started = True
            self._first_write(self.status)
        else:
            self.engine.write_status(self.key, self.status)

    def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None

    async def log(self, container: str, stream: Literal["stdout", "stderr"], data: bytes) -> None:
        for listener in self.engine.log_listeners:
            listener(self.key, container, data)


class Engine:
    def __init__(self, cluster: Cluster, executor: Executor, *, poll_interval: float = 0.25) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.executor = executor
        self.poll_interval = poll_interval
        if executor.virtual_paths:  # a sandbox mounts Tekton's whole layout: spares bring it
            self._spares = SpareRunDirs(
                cluster.paths.spare_runs_dir(), skeleton=SANDBOX_SKELETON, links=sandbox_links()
            )
        else:
            self._spares = SpareRunDirs(cluster.paths.spare_runs_dir())
        self.queue: asyncio.Queue[Key] = asyncio.Queue()
        self.queued: set[Key] = set()
        self.caches = caches.Caches(cluster.paths.caches_dir())
        self.resolver_cache = ResolverCache()  # remote Tasks/Pipelines fetched once (resolution/cache.py)
        self.running: dict[Key, _Running] = {}
        self.finished_hooks: list[FinishedHook] = []
        # Called before a PipelineRun starts; a message keeps it pending (controller/concurrency.py).
        self.start_gates: list[Callable[[JSON], str | None]] = []
        self.log_listeners: list[Callable[[Key, str, bytes], None]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._last_rv = 0
        self._lock_fd: int | None = None
        self._loop_thread: int | None = None
        self._done_waiters: dict[Key, list[asyncio.Future[JSON]]] = {}
        self._child_done: dict[Key, bool] = {}
        self._writing: Key | None = None  # the object whose status the engine is writing right now
        # a queued TaskRun as its latest event showed it: its reconcile need not read it again
        self._seen: dict[Key, JSON] = {}
        # the newest resourceVersion handled per run: events from other threads come through
        # call_soon_threadsafe, so one written before the engine's own (synchronous) write can be
        # handled after it, and must not bring back what that write replaced (see _stale)
        self._newest: dict[Key, int] = {}
        # per running PipelineRun (by uid): its children (kept current from events), its parsed spec
        self._children: dict[str, dict[tuple[str, str], JSON]] = {}
        self._spec_cache: dict[str, PipelineSpec] = {}
        self._reuse: dict[str, dict[str, list[str | None]]] = {}  # reruns from failure (controller/rerun.py)
        self._reuse_source: dict[str, JSON] = {}
        # PipelineRuns whose progress write is deferred (see _status_can_wait)
        self._pr_pending: set[Key] = set()
        # ServiceAccounts (or their absence) by (namespace, name), as a Kubernetes informer keeps
        # them: every TaskRun looks its account up, few homes ever change one. Dropped on the
        # account's events (this process's at once, other processes' through the poller, which
        # delivers them before any run created after them)
        self._accounts: dict[tuple[str, str], JSON | None] = {}
        self._pr_force: set[Key] = set()
        self._pr_flush: dict[Key, asyncio.TimerHandle] = {}
        self.config = cluster.config()
        self._config_rv = -1

    # -- lifecycle ------------------------------------------------------------------------------
    def acquire(self) -> bool:
        """Take the home's engine lock; False if another engine runs on this home."""
        path = self.cluster.home / "engine.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd
        return True

    async def start(self) -> None:
        if self._lock_fd is None and not self.acquire():
            raise EngineBusy(f"another tektite engine is running on {self.cluster.home}")
        self.loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._last_rv = self.store.current_resource_version()
        self._unsubscribe = self.store.subscribe(self._on_event)
        self._spares.start()
        self._recover()
        self._tasks = [asyncio.create_task(self._worker()), asyncio.create_task(self._poller())]

    async def stop(self) -> None:
        for r in list(self.running.values()):
            r.stop.set()
        tasks = [r.task for r in self.running.values() if r.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._unsubscribe:
            self._unsubscribe()
        self._spares.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _recover(self) -> None:
        """Runs this home left unfinished: pods that were running died with the old engine.

        Only those are read (the store's derived, indexed status label), so a start costs the
        same with 100 or 100,000 finished runs kept.
        """
        for kind in ("TaskRun", "PipelineRun", "CustomRun"):
            for obj in self.store.list(kind, label_selector=UNFINISHED).items:
                if kind == "CustomRun" and not custom.handles(obj):
                    continue  # another controller's (through the API)
                if is_done(obj):
                    continue
                key = (kind, obj["metadata"].get("namespace", "default"), obj["metadata"]["name"])
                if kind == "TaskRun" and (obj.get("status") or {}).get("podName"):
                    cond = get_condition(obj) or {}
                    if cond.get("reason") not in (TaskRunReason.TO_BE_RETRIED,):
                        status = trmod.fail(
                            obj.get("status") or {},
                            TaskRunReason.FAILED,
                            "the tektite engine stopped while this TaskRun was running; its pod was lost",
                        )
                        self._write_status(obj, status)
                        continue
                self.enqueue(key)

    # -- events ---------------------------------------------------------------------------------
    def _on_event(self, evt: Event) -> None:
        if self.loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._handle_event(evt)
        else:
            self.loop.call_soon_threadsafe(self._handle_event, evt)

    def _handle_event(self, evt: Event) -> None:
        self._last_rv = max(self._last_rv, evt.resource_version)
        obj = evt.object
        kind = evt.kind
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace", "default")
        if kind == "ConfigMap" and meta.get("name") in ("feature-flags", "config-defaults"):
            self.config = self.cluster.config()
            return
        if kind == "ServiceAccount":
            self._accounts.pop((ns, meta.get("name", "")), None)
            return
        if kind not in ("TaskRun", "PipelineRun", "CustomRun"):
            if evt.type == "DELETED":
                self.cluster.cleanup(obj)
            return
        key = (kind, ns, meta.get("name", ""))
        if self._stale(key, evt):
            return
        done = is_done(obj)
        running = self.running.get(key)
        if running is not None:
            running.latest = None if evt.type == "DELETED" else obj
        if evt.type == "DELETED":
            if running:
                running.stop.set()
            self.cluster.cleanup(obj)
            self._child_done.pop(key, None)
            self._seen.pop(key, None)
        else:
            if done:
                for fut in self._done_waiters.pop(key, []):
                    if not fut.done():
                        fut.set_result(obj)
            # A TaskRun this engine is running only needs a look when someone cancels it; its own
            # progress writes need none.
            spec_status = (obj.get("spec") or {}).get("status")
            own = self._writing == key  # the engine's own status write: no second look needed
            if kind == "CustomRun":
                if not own and not done and custom.handles(obj):
                    self.enqueue(key)  # a built-in Custom Task's (see controller/custom.py)
            elif not own and not (
                key in self.running and spec_status not in ("TaskRunCancelled", "Cancelled")
            ):
                self.enqueue(key)
            if kind == "TaskRun" and key in self.queued:
                self._seen[key] = obj
        if kind == "PipelineRun" and (evt.type == "DELETED" or done):
            uid = str(meta.get("uid"))
            self._children.pop(uid, None)
            self._spec_cache.pop(uid, None)
            self._reuse.pop(uid, None)
            self._reuse_source.pop(uid, None)
        parent = (meta.get("labels") or {}).get("tekton.dev/pipelineRun")
        if parent:
            self._track_child(evt)
            # A parent cares about a child finishing or disappearing - not about its creation
            # (the parent made it) or its progress writes.
            was_done = self._child_done.get(key)
            self._child_done[key] = done
            if (
                evt.type == "DELETED"
                or (evt.type == "MODIFIED" and done != was_done)
                or (evt.type == "ADDED" and done)
            ):
                self.enqueue(("PipelineRun", ns, parent))

    NEWEST_KEPT = 20_000  # runs whose newest resourceVersion is remembered (the oldest go first)

    def _stale(self, key: Key, evt: Event) -> bool:
        """Whether ``evt`` is older than one already handled for the same run.

        The Chains watcher's thread may add its finalizer to a running TaskRun just before the
        engine writes the run's end: its event, queued to this loop, then arrives after the
        engine's own. Taken as news, that older object (not done) would start the TaskRun again.
        """
        newest = self._newest.pop(key, 0)
        if evt.resource_version < newest:
            self._newest[key] = newest
            return True
        self._newest[key] = evt.resource_version  # a deletion too: nothing older may revive the run
        if len(self._newest) > self.NEWEST_KEPT:
            del self._newest[next(iter(self._newest))]
        return False

    def enqueue(self, key: Key) -> None:
        if key not in self.queued:
            self.queued.add(key)
            self.queue.put_nowait(key)

    async def _poller(self) -> None:
        """Other processes (CLI, server, kubectl through the API) write to the same store."""
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                events = await asyncio.to_thread(
                    self.store.events_since,
                    self._last_rv,
                    (
                        "TaskRun",
                        "PipelineRun",
                        "CustomRun",
                        "ConfigMap",
                        "PersistentVolumeClaim",
                        "ServiceAccount",
                    ),
                )
            except TektiteError:  # events pruned meanwhile: what was cached may have changed
                self._last_rv = self.store.current_resource_version()
                self._accounts.clear()
                continue
            for evt in events:
                if evt.resource_version > self._last_rv:
                    self._handle_event(evt)

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            self.queued.discard(key)
            try:
                if key[0] == "TaskRun":
                    await self.reconcile_taskrun(key)
                elif key[0] == "CustomRun":
                    self.reconcile_customrun(key)
                else:
                    await self.reconcile_pipelinerun(key)
            except Conflict:
                self.enqueue(key)
            except Exception:  # a bug must not stop the engine
                log.exception("reconcile %s %s/%s failed", *key)

    def write_status(self, key: Key, status: JSON) -> JSON | None:
        """Status-only write with no read first (progress updates of a running TaskRun)."""
        try:
            return self.store.update(
                {"kind": key[0], "metadata": {"name": key[2], "namespace": key[1]}, "status": status},
                status_only=True,
            )
        except NotFound:
            return None

    def _write_status(self, obj: JSON, status: JSON) -> JSON:
        old = get_condition(obj) or {}
        obj = dict(obj)
        obj["status"] = status
        obj["metadata"] = dict(obj["metadata"])
        obj["metadata"].pop("resourceVersion", None)
        self._writing = (obj["kind"], obj["metadata"].get("namespace", "default"), obj["metadata"]["name"])
        try:
            new = self.store.update(obj, status_only=True)
        finally:
            self._writing = None
        self._after_write(old, new)
        return new

    def _after_write(self, old: JSON, new: JSON) -> None:
        """Log a run's transition to done and call the completion hooks, once."""
        cond = get_condition(new) or {}
        status = new.get("status") or {}
        if cond.get("reason") != old.get("reason") and cond.get("status") in ("True", "False"):
            if log.isEnabledFor(logging.INFO):
                start = parse_time(status.get("startTime"))
                took = f" ({time.time() - start.timestamp():.1f}s)" if start else ""
                log.info(
                    "%s %s/%s: %s -> %s%s",
                    new["kind"],
                    new["metadata"].get("namespace"),
                    new["metadata"]["name"],
                    old.get("reason") or "New",
                    cond.get("reason"),
                    took,
                )
            for hook in self.finished_hooks:
                try:
                    hook(new)
                except Exception:
                    log.exception("completion hook failed for %s", new["metadata"]["name"])

    async def wait(self, kind: str, name: str, namespace: str = "default") -> JSON:
        """Until the run is done; returns its final object."""
        key = (kind, namespace, name)
        assert self.loop is not None
        fut: asyncio.Future[JSON] = self.loop.create_future()
        waiters = self._done_waiters.setdefault(key, [])
        waiters.append(fut)  # before reading: a run finishing after the read resolves it
        # the latest event of a run this engine has queued or is running, when it is not done:
        # its completion is an event still to come, which resolves the future (no read needed)
        running = self.running.get(key)
        latest = running.latest if running is not None else self._seen.get(key)
        if latest is not None and not is_done(latest):
            return await fut
        try:
            obj = self.store.get(kind, name, namespace)
        except BaseException:
            self._forget_waiter(key, fut)
            raise
        if is_done(obj):
            self._forget_waiter(key, fut)
            return obj
        return await fut

    def _forget_waiter(self, key: Key, fut: asyncio.Future[JSON]) -> None:
        waiters = self._done_waiters.get(key)
        if waiters and fut in waiters:
            waiters.remove(fut)
            if not waiters:
                del self._done_waiters[key]

    # -- TaskRuns -------------------------------------------------------------------------------
    def getter(self) -> Any:
        get = self.cluster.getter()
        accounts = self._accounts

        def cached(kind: str, name: str, namespace: str) -> JSON | None:
            # only the loop's thread, which also drops entries: a thread could store what it read
            # just before the account changed, after the entry was dropped
            if kind != "ServiceAccount" or threading.get_ident() != self._loop_thread:
                found: JSON | None = get(kind, name, namespace)
                return found
            key = (namespace or "default", name)
            if key not in accounts:
                accounts[key] = get(kind, name, namespace)
            return accounts[key]

        return cached

    def resolve_task(self, tr: JSON) -> tuple[JSON, Resolved | None]:
        spec = tr.get("spec") or {}
        if spec.get("taskSpec") is not None:
            return spec["taskSpec"], None
        ref = ResolverRef.model_validate(spec.get("taskRef") or {})
        resolved = resolve(
            ref,
            "task",
            tr["metadata"].get("namespace", "default"),
            self.getter(),
            default_resolver=self.config.default_resolver_type,
            secret_getter=self.getter(),
            cache=self.resolver_cache,
        )
        return resolved.obj.get("spec") or {}, resolved

    def verify_trust(self, resolved: Resolved, namespace: str) -> trust.Verdict:
        """Trusted resources: a fetched Task or Pipeline against the namespace's VerificationPolicies."""
        return trust.check(
            resolved.as_fetched,
            str((resolved.ref_source or {}).get("uri") or ""),
            namespace,
            self.getter(),
            lambda ns: self.store.list("VerificationPolicy", ns).items,
            self.config.flags.get("trusted-resources-verification-no-match-policy", "ignore").strip().lower(),
        )

    def resolve_step_action(self, namespace: str) -> Callable[[JSON], JSON]:
        def get(ref: JSON) -> JSON:
            resolved = resolve(
                ResolverRef.model_validate(ref),
                "stepaction",
                namespace,
                self.getter(),
                secret_getter=self.getter(),
                cache=self.resolver_cache,
            )
            return resolved.obj.get("spec") or {}

        return get

    def reconcile_customrun(self, key: Key) -> None:
        """A CustomRun of a built-in Custom Task (``controller/custom.py``); others are left to
        their own controllers."""
        obj = self.store.try_get(key[0], key[2], key[1])
        if obj is None or is_done(obj) or not custom.handles(obj):
            return
        status, later = custom.reconcile(obj, time.time())
        if status is not None:
            self._write_status(obj, status)
        if later is not None and self.loop is not None:
            self.loop.call_later(later + 0.01, self.enqueue, key)

    async def reconcile_taskrun(self, key: Key) -> None:
        tr = self._seen.pop(key, None) or self.store.try_get(key[0], key[2], key[1])
        running = self.running.get(key)
        if tr is None:
            if running:
                running.stop.set()
            return
        spec = tr.get("spec") or {}
        if running is not None:
            if spec.get("status") == "TaskRunCancelled":
                running.stop.set()
            return
        if is_done(tr) or (spec.get("managedBy") not in (None, "", "tekton.dev/pipeline")):
            return
        status = tr.get("status") or {}
        if spec.get("status") == "TaskRunPending" and not status.get("startTime"):
            if (get_condition(tr) or {}).get("reason") != TaskRunReason.PENDING:
                self._write_status(tr, trmod.pending_status(status))
            return
        if spec.get("status") == "TaskRunCancelled":
            msg = f'TaskRun "{tr["metadata"]["name"]}" was cancelled. {spec.get("statusMessage") or ""}'.rstrip()
            self._write_status(tr, trmod.fail(status, TaskRunReason.CANCELLED, msg))
            return
        r = _Running(latest=tr)
        self.running[key] = r
        r.task = asyncio.create_task(self._run_taskrun(key, r))

    async def _run_taskrun(self, key: Key, running: _Running) -> None:
        try:
            await self._run_taskrun_attempts(key, running)
        finally:
            self.running.pop(key, None)

    async def _run_taskrun_attempts(self, key: Key, running: _Running) -> None:
        tr = running.latest  # as reconcile read it; a retry reads the run again
        while True:
            if tr is None or is_done(tr):
                return
            retry = await self._attempt(tr, key, running)
            if not retry:
                return
            tr = self.store.try_get(key[0], key[2], key[1])

    async def _attempt(self, tr: JSON, key: Key, running: _Running) -> bool:
        stop = running.stop
        meta = tr["metadata"]
        ns = meta.get("namespace", "default")
        status = tr.get("status") or {}
        try:
            needs_thread = bool(((tr.get("spec") or {}).get("taskRef") or {}).get("resolver"))
            if needs_thread:
                task_spec, resolved = await asyncio.to_thread(self.resolve_task, tr)
            else:
                task_spec, resolved = self.resolve_task(tr)
        except TektiteError as exc:
            # a stored Task that is not there: CouldntGetTask; whatever a resolver (the cluster
            # resolver too) could not fetch: TaskRunResolutionFailed, as Tekton's reconciler says
            local = isinstance(exc, NotFound) and not (tr.get("spec") or {}).get("taskRef", {}).get(
                "resolver"
            )
            reason = TaskRunReason.COULDNT_GET_TASK if local else TaskRunReason.RESOLUTION_FAILED
            self._write_status(tr, trmod.fail(status, reason, str(exc.message)))
            return False
        if resolved is not None and resolved.remote:
            verdict = await asyncio.to_thread(self.verify_trust, resolved, ns)
            status = trust_status(status, verdict)
            if verdict.fail:
                self._write_status(tr, trmod.fail(status, trust.FAILED_REASON, verdict.message))
                return False
        attempt = len(status.get("retriesStatus") or [])
        run_dir = self.cluster.paths.taskrun_dir(ns, meta["name"], meta.get("uid", ""))
        attempt_dir = run_dir if attempt == 0 else run_dir / f"retry-{attempt}"
        self._spares.claim(attempt_dir)  # a ready skeleton saves making 3-4 directories now
        env = BuildEnv(
            self.config,
            self.getter(),
            self.cluster.paths,
            self.executor.virtual_paths,
            self.resolve_step_action(ns),
        )
        try:
            built: Built = build_pod(tr, task_spec, attempt=attempt, env=env, run_dir=attempt_dir)
        except RunSetupError as exc:
            self._write_status(tr, trmod.fail(status, exc.reason, str(exc.message)))
            return False
        except TektiteError as exc:
            self._write_status(tr, trmod.fail(status, TaskRunReason.VALIDATION_FAILED, str(exc.message)))
            return False
        reuses = attempt == 0 and REUSE_TASKRUN in (meta.get("annotations") or {})
        if reuses and await self._reuse_taskrun(tr, key, built.task_spec, resolved, run_dir):
            return False
        for cache, where in built.caches:  # a lone TaskRun's cache workspaces (controller/caches.py)
            how = await asyncio.to_thread(self.caches.restore, ns, cache, where)
            log.info('cache "%s" for TaskRun %s/%s: %s', cache.key, ns, meta["name"], how)
        config = self.config
        started = {**status, "startTime": status.get("startTime") or now()}

        def running_status() -> JSON:
            return trmod.start_status(
                started,
                pod_name=built.pod.name,
                task_spec=built.task_spec,
                config=config,
                ref_source=resolved.ref_source if resolved else None,
                step_names=built.step_names,
                sidecar_names=built.sidecar_names,
            )

        observer = _Observer(
            self, key, lambda st: self._write_labelled(key, tr, resolved, st), running_status
        )
        observer.schedule()
        try:
            result: PodResult = await self.executor.run(built.pod, observer, stop)
        except TektiteError as exc:
            result = PodResult([], [], error=str(exc.message))
        finally:
            observer.close()
        raw = _read_results(attempt_dir / "tekton" / "results")
        current = running.latest
        if current is None:
            return False
        finished = trmod.finish(
            current,
            observer.status,
            result,
            raw,
            built.results,
            built.result_values,
            self.config,
            built.pod.timeout,
        )
        final = (
            trmod.retry_status(finished.status) if finished.retry and not stop.is_set() else finished.status
        )
        if built.caches and (get_condition({"status": final}) or {}).get("status") == "True":
            for cache, where in built.caches:
                saved = await asyncio.to_thread(self.caches.save, ns, cache, where, meta["name"])
                if saved:
                    log.info('cache "%s" saved from TaskRun %s/%s', cache.key, ns, meta["name"])
                if saved or not cache.pushes:  # the entry holds it: free the run's copy
                    await asyncio.to_thread(shutil.rmtree, where, True)
        if observer.started:
            with contextlib.suppress(NotFound):  # deleted meanwhile
                self._write_status(current, final)
        else:
            self._write_labelled(key, current, resolved, final)
        return finished.retry and not stop.is_set()

    async def _reuse_taskrun(
        self, tr: JSON, key: Key, task_spec: JSON, resolved: Resolved | None, run_dir: Path
    ) -> bool:
        """A rerun from failure's TaskRun: whether it reused the old TaskRun it names (same Task,
        same inputs: its status and logs are the old one's, and it does not run; rerun.py)."""
        meta = tr["metadata"]
        ns = meta.get("namespace", "default")
        source = meta["annotations"][REUSE_TASKRUN]
        old = self.store.try_get("TaskRun", source, ns)
        why = rerun.why_not_reused(tr, task_spec, old)
        if why is not None or old is None:
            log.info('TaskRun %s/%s runs again instead of reusing "%s": %s', ns, meta["name"], source, why)
            return False
        old_dir = self.cluster.paths.taskrun_dir(ns, source, str(old["metadata"].get("uid", "")))
        await asyncio.to_thread(rerun.copy_logs, old_dir, run_dir)
        self._write_labelled(
            key,
            tr,
            resolved,
            rerun.reused_status(old),
            annotations={REUSED_TASKRUN: rerun.original_taskrun(old)},
        )
        return True

    def _write_labelled(
        self,
        key: Key,
        tr: JSON,
        resolved: Resolved | None,
        status: JSON,
        annotations: dict[str, str] | None = None,
    ) -> JSON | None:
        """Tekton's labels (and the Task's labels/annotations, and ``annotations``) with a status,
        in one full update carrying the resourceVersion; on a conflict (e.g. a cancel or Chains'
        finalizer written meanwhile) the latest object is taken and the write repeated."""
        for _ in range(10):
            new = self._label_taskrun(tr, resolved)
            if annotations:
                new["metadata"]["annotations"].update(annotations)
            old = get_condition(new) or {}
            new["status"] = status
            try:
                written = self.store.update(new)
            except NotFound:  # deleted meanwhile
                return None
            except Conflict:
                latest = self.store.try_get(key[0], key[2], key[1])
                if latest is None:
                    return None
                tr = latest
                continue
            self._after_write(old, written)
            return written
        return None

    def _label_taskrun(self, tr: JSON, resolved: Resolved | None) -> JSON:
        meta = tr["metadata"]
        labels = dict(meta.get("labels") or {})
        want = {
            "tekton.dev/taskRun": meta["name"],
            "app.kubernetes.io/managed-by": self.config.defaults.get(
                "default-managed-by-label-value", "tekton-pipelines"
            ),
        }
        annotations = dict(meta.get("annotations") or {})
        if resolved is not None:
            tmeta = resolved.obj.get("metadata") or {}
            if not resolved.remote and tmeta.get("name"):
                want["tekton.dev/task"] = tmeta["name"]
            for k, v in (tmeta.get("labels") or {}).items():
                labels.setdefault(k, v)
            for k, v in (tmeta.get("annotations") or {}).items():
                if k != "kubectl.kubernetes.io/last-applied-configuration":
                    annotations.setdefault(k, v)
        labels.update(want)
        new = dict(tr)
        new["metadata"] = {**meta, "labels": labels, "annotations": annotations}
        return new

    # -- PipelineRuns ---------------------------------------------------------------------------
    def resolve_pipeline(self, pr: JSON) -> tuple[JSON, JSON | None, trust.Verdict | None]:
        """The PipelineRun's pipeline spec, where a resolver found it (``refSource``), and what
        verifying a fetched Pipeline said (trusted resources; None when it was not fetched)."""
        spec = pr.get("spec") or {}
        cached = (pr.get("status") or {}).get("pipelineSpec")
        if cached is not None:
            return dict(cached), None, None
        if spec.get("pipelineSpec") is not None:
            return dict(spec["pipelineSpec"]), None, None
        ref = ResolverRef.model_validate(spec.get("pipelineRef") or {})
        resolved = resolve(
            ref,
            "pipeline",
            pr["metadata"].get("namespace", "default"),
            self.getter(),
            default_resolver=self.config.default_resolver_type,
            secret_getter=self.getter(),
            cache=self.resolver_cache,
        )
        verdict = (
            self.verify_trust(resolved, pr["metadata"].get("namespace", "default"))
            if resolved.remote
            else None
        )
        return resolved.obj.get("spec") or {}, resolved.ref_source, verdict

    async def _verify_pipeline_tasks(self, pr: JSON, spec: JSON) -> trust.Verdict | None:
        """Trusted resources, as Tekton's PipelineRun reconciler does before any task runs: each
        pipeline task's Task fetched by a resolver is verified, and one failing an enforce
        policy fails the PipelineRun (``ResourceVerificationFailed``) before anything runs. The
        verdict for the run's ``TrustedResourcesVerified`` (None: nothing fetched was checked),
        merged with the one its Pipeline already set. A ref whose params wait for a result, or
        that does not resolve, is left to its TaskRun (which verifies what it fetches too).
        Without policies (and the no-match flag at ``ignore``) nothing is fetched here."""
        ns = pr["metadata"].get("namespace", "default")
        no_match = self.config.flags.get("trusted-resources-verification-no-match-policy", "ignore")
        if (
            no_match.strip().lower() == "ignore"
            and not self.store.list("VerificationPolicy", ns, limit=1).items
        ):
            return None  # nothing to verify against: no fetch ahead of the TaskRuns' own
        verdicts: list[tuple[str, trust.Verdict]] = []
        for pt in [*(spec.get("tasks") or []), *(spec.get("finally") or [])]:
            ref = pt.get("taskRef") or {}
            if not ref.get("resolver") or "$(" in json.dumps(ref.get("params") or []):
                continue
            try:
                task = {"metadata": {"namespace": ns}, "spec": {"taskRef": ref}}
                _, resolved = await asyncio.to_thread(self.resolve_task, task)
            except TektiteError:
                continue
            if resolved is not None and resolved.remote:
                verdict = await asyncio.to_thread(self.verify_trust, resolved, ns)
                if verdict.verified is not None:
                    verdicts.append((str(pt.get("name")), verdict))
        if not verdicts:
            return None
        failed = [(name, v) for name, v in verdicts if v.verified is False]
        if not failed:
            previous = get_condition(pr, trust.CONDITION)
            if previous is not None and previous.get("status") == "False":
                return None  # the Pipeline's own warning stands
            return verdicts[0][1]
        name, verdict = next(((n, v) for n, v in failed if v.fail), failed[0])
        return trust.Verdict(False, f'pipeline task "{name}": {verdict.message}', fail=verdict.fail)

    def _start_problem(self, pr: JSON, spec: JSON) -> tuple[str, str] | None:
        """What keeps a PipelineRun from starting, as (reason, message): a Task it names that
        this store lacks (``CouldntGetTask``), then - with ``enable-param-enum`` - a pipeline
        param passed straight to a task param whose ``enum`` allows less (Tekton's
        ValidateParamEnumSubset, ``InvalidParamValue``). Each named Task is read once."""
        ns = pr["metadata"].get("namespace", "default")
        task_specs: list[tuple[JSON, JSON | None]] = []  # (pipeline task, its task spec)
        for pt in [*(spec.get("tasks") or []), *(spec.get("finally") or [])]:
            task_spec = pt.get("taskSpec")
            ref = pt.get("taskRef") or {}
            if (
                task_spec is None
                and ref.get("name")
                and not ref.get("resolver")
                and not ref.get("apiVersion")
            ):
                kind = "ClusterTask" if ref.get("kind") == "ClusterTask" else "Task"
                task = self.store.try_get(kind, ref["name"], "" if kind == "ClusterTask" else ns)
                if task is None:
                    return "CouldntGetTask", (
                        f"Pipeline {ns}/{(pr.get('spec') or {}).get('pipelineRef', {}).get('name', pr['metadata']['name'])}"
                        f" can't be Run; it contains Tasks that don't exist: Couldn't retrieve Task "
                        f'"{ref["name"]}": tasks.tekton.dev "{ref["name"]}" not found'
                    )
                task_spec = task.get("spec")
            task_specs.append((pt, task_spec))
        if not self.config.flag("enable-param-enum"):
            return None
        pipeline_specs = [ParamSpec.model_validate(p) for p in spec.get("params") or []]
        for pt, task_spec in task_specs:
            if not task_spec or not pt.get("params"):
                continue
            problem = enum_subset_problem(
                [Param.model_validate(p) for p in pt["params"]],
                pipeline_specs,
                [ParamSpec.model_validate(p) for p in task_spec.get("params") or []],
            )
            if problem:
                return "InvalidParamValue", (
                    f'Failed to validate pipelinerun "{pr["metadata"]["name"]}" with error {problem} '
                    f'(pipeline task "{pt.get("name")}")'
                )
        return None

    async def reconcile_pipelinerun(self, key: Key) -> None:
        pr = self.store.try_get(key[0], key[2], key[1])
        if pr is None or is_done(pr):
            return
        spec = pr.get("spec") or {}
        if spec.get("managedBy") not in (None, "", "tekton.dev/pipeline"):
            return
        status = pr.get("status") or {}
        if not status.get("startTime") and not spec.get("status") and self._held_by_gate(pr):
            return
        try:
            remote = bool((spec.get("pipelineRef") or {}).get("resolver")) and "pipelineSpec" not in status
            pspec, ref_source, verdict = (
                await asyncio.to_thread(self.resolve_pipeline, pr) if remote else self.resolve_pipeline(pr)
            )
        except TektiteError as exc:
            self._fail_pr(pr, "CouldntGetPipeline", str(exc.message))
            return
        if verdict is not None:  # a fetched Pipeline: TrustedResourcesVerified, and a failure ends the run
            status = trust_status(status, verdict)
            pr = {**pr, "status": status}
            if verdict.fail:
                self._fail_pr(pr, trust.FAILED_REASON, verdict.message)
                return
        if ref_source and not status.get("startTime"):  # Tekton's status.provenance.refSource
            provenance = {**(status.get("provenance") or {}), "refSource": ref_source}
            pr = {**pr, "status": {**status, "provenance": provenance}}
        if not status.get("startTime"):
            problem = self._start_problem(pr, pspec)
            if problem:
                self._fail_pr(pr, *problem)
                return
            checked = await self._verify_pipeline_tasks(pr, pspec)
            if checked is not None:  # a fetched Task of a pipeline task verified (trusted resources)
                status = trust_status(status, checked)
                pr = {**pr, "status": status}
                if checked.fail:
                    self._fail_pr(pr, trust.FAILED_REASON, checked.message)
                    return
        ns = key[1]
        uid = str(pr["metadata"].get("uid"))
        children = self._children_of(uid, ns, pspec)
        spec_model = self._spec_cache.get(uid) if status.get("startTime") else None
        if spec_model is None:
            spec_model = PipelineSpec.model_validate(pspec)
            if status.get("startTime"):  # fixed once the run started (status.pipelineSpec)
                self._spec_cache[uid] = spec_model
        reuse = self._reusable(pr) if REUSE_PIPELINERUN in (pr["metadata"].get("annotations") or {}) else None
        if reuse is not None and not isinstance(reuse, dict):
            self._fail_pr(pr, "CouldntGetRerunSource", reuse)
            return
        outcome = prmod.reconcile(pr, pspec, children, self.config, time.time(), spec_model, reuse)
        for obj in outcome.create:
            if obj["kind"] == "PersistentVolumeClaim":
                is_cache = caches.KEY_ANNOTATION in (obj["metadata"].get("annotations") or {})
                if is_cache and self.store.try_get("PersistentVolumeClaim", obj["metadata"]["name"], ns):
                    continue  # a cache's claim that a later task asked for too: made already
                if reuse:  # before any task runs (rerun.py)
                    await asyncio.to_thread(self._seed_claim, pr, obj)
                else:
                    await asyncio.to_thread(self._restore_cache, obj)
            try:
                self.store.create(obj)
            except AlreadyExists:
                pass
        for kind, name, message in outcome.cancel:
            self._cancel_child(kind, name, ns, message)
        if outcome.done and (get_condition({"status": outcome.status}) or {}).get("status") == "True":
            await asyncio.to_thread(self._save_caches, pr)  # before the end: whoever waits finds them
        if outcome.status != status:
            if self._status_can_wait(status, outcome, key):
                self._pr_pending.add(key)
                if key not in self._pr_flush and self.loop is not None:
                    self._pr_flush[key] = self.loop.call_later(_Observer.FLUSH_DELAY, self._flush_pr, key)
            else:
                self._pr_pending.discard(key)
                self._write_status(pr, outcome.status)
        if outcome.requeue_after and self.loop is not None and not outcome.done:
            self.loop.call_later(outcome.requeue_after + 0.01, self.enqueue, key)

    def _reusable(self, pr: JSON) -> dict[str, list[str | None]] | str:
        """A rerun from failure: its old PipelineRun's TaskRuns that succeeded, by pipeline task
        (read once per run); a message when that PipelineRun is gone before this one started."""
        uid = str(pr["metadata"].get("uid"))
        found = self._reuse.get(uid)
        if found is not None:
            return found
        planned, old = rerun.plan(self.store, pr)
        if isinstance(planned, str):
            return planned
        if old is not None:
            self._reuse_source[uid] = old
        self._reuse[uid] = planned
        return planned

    def _restore_cache(self, claim: JSON) -> None:
        """A PipelineRun's cache claim starts as the cache's entry (controller/caches.py)."""
        meta = claim["metadata"]
        spec = caches.CacheSpec.from_annotations(meta.get("annotations") or {})
        if spec is None:
            return
        ns = meta.get("namespace") or "default"
        how = self.caches.restore(ns, spec, self.cluster.paths.claim_dir(ns, meta["name"]))
        meta["annotations"][caches.RESTORED_ANNOTATION] = how
        log.info('cache "%s" for claim %s/%s: %s', spec.key, ns, meta["name"], how)

    def _save_caches(self, pr: JSON) -> None:
        """A PipelineRun that succeeded keeps its cache claims' contents under their keys, and
        frees its copies (the entry holds what it saved; a copy per run would fill the disk). A
        failed run's copy stays, for a rerun from failure and for a look."""
        meta = pr["metadata"]
        ns = meta.get("namespace") or "default"
        for w in (pr.get("spec") or {}).get("workspaces") or []:
            if not cachebinding.is_cache(w):
                continue
            name = claim_name(pr, w["name"], cache_template(w["name"]))
            claim = self.store.try_get("PersistentVolumeClaim", name, ns)
            spec = caches.CacheSpec.from_annotations(
                ((claim or {}).get("metadata") or {}).get("annotations") or {}
            )
            if spec is None:
                continue
            copy = self.cluster.paths.claim_dir(ns, name)
            saved = self.caches.save(ns, spec, copy, meta["name"])
            if saved:
                log.info('cache "%s" saved from PipelineRun %s/%s', spec.key, ns, meta["name"])
            if saved or not spec.pushes:  # a save that failed keeps the copy: nothing is lost
                shutil.rmtree(copy, ignore_errors=True)

    def _seed_claim(self, pr: JSON, claim: JSON) -> None:
        old = self._reuse_source.get(str(pr["metadata"].get("uid")))
        if old is not None:
            rerun.seed_claim(self.cluster.paths, pr, old, claim)

    def _children_of(self, uid: str, ns: str, pspec: JSON) -> list[JSON]:
        """A PipelineRun's children: from the store once, then kept current from store events
        (every write reaches the engine), so a reconcile does not re-read them all."""
        cached = self._children.get(uid)
        if cached is None:
            kinds = ["TaskRun"]
            tasks = [*(pspec.get("tasks") or []), *(pspec.get("finally") or [])]
            if any("pipelineRef" in t or "pipelineSpec" in t for t in tasks):
                kinds.append("PipelineRun")  # pipelines in pipelines
            if any(
                (t.get("taskRef") or {}).get("apiVersion") or (t.get("taskSpec") or {}).get("apiVersion")
                for t in tasks
            ):
                kinds.append("CustomRun")  # custom tasks
            cached = {
                (c["kind"], c["metadata"]["name"]): c
                for kind in kinds
                for c in self.store.list(kind, ns, owner_uid=uid).items
            }
            self._children[uid] = cached
        return list(cached.values())

    def _track_child(self, evt: Event) -> None:
        meta = evt.object.get("metadata") or {}
        for ref in meta.get("ownerReferences") or []:
            cached = self._children.get(str(ref.get("uid")))
            if cached is None:
                continue
            if evt.type == "DELETED":
                cached.pop((evt.kind, str(meta.get("name"))), None)
            else:
                cached[(evt.kind, str(meta.get("name")))] = evt.object

    def _status_can_wait(self, old: JSON, outcome: prmod.Outcome, key: Key) -> bool:
        """Progress (counts, child references) of a running PipelineRun is written at most every
        100 ms; a start, a reason change, the end, or a pending flush write at once."""
        if outcome.done or key in self._pr_force:
            self._pr_force.discard(key)
            return False
        old_cond = get_condition({"status": old}) or {}
        new_cond = get_condition({"status": outcome.status}) or {}
        return bool(old.get("startTime")) and old_cond.get("reason") == new_cond.get("reason")

    def _flush_pr(self, key: Key) -> None:
        self._pr_flush.pop(key, None)
        if key in self._pr_pending:
            self._pr_force.add(key)
            self.enqueue(key)

    def _held_by_gate(self, pr: JSON) -> bool:
        """A start gate keeps the run pending (reason PipelineRunPending, the gate's message)."""
        from tektite.core.conditions import PipelineRunReason, set_condition

        for gate in self.start_gates:
            message = gate(pr)
            if message:
                cond = get_condition(pr) or {}
                if cond.get("reason") != PipelineRunReason.PENDING or cond.get("message") != message:
                    status = dict(pr.get("status") or {})
                    set_condition(status, "Unknown", PipelineRunReason.PENDING, message)
                    self._write_status(
                        self.store.get(
                            pr["kind"], pr["metadata"]["name"], pr["metadata"].get("namespace", "default")
                        ),
                        status,
                    )
                return True
        return False

    def _fail_pr(self, pr: JSON, reason: str, message: str) -> None:
        from tektite.core.conditions import set_condition

        status = dict(pr.get("status") or {})
        status.setdefault("startTime", now())
        status["completionTime"] = now()
        set_condition(status, "False", reason, message)
        self._write_status(pr, status)

    def _cancel_child(self, kind: str, name: str, ns: str, message: str) -> None:
        for _ in range(5):
            obj = self.store.try_get(kind, name, ns)
            if obj is None or is_done(obj):
                return
            obj["spec"] = dict(obj.get("spec") or {})
            obj["spec"]["status"] = {"TaskRun": "TaskRunCancelled", "CustomRun": "RunCancelled"}.get(
                kind, "Cancelled"
            )
            if kind in ("TaskRun", "CustomRun"):
                obj["spec"]["statusMessage"] = message
            try:
                self.store.update(obj)
                return
            except Conflict:
                continue


def _read_results(folder: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not folder.is_dir():
        return out
    for entry in sorted(folder.iterdir()):
        if entry.is_file():
            out[entry.name] = entry.read_bytes().decode(errors="replace")
    return out
