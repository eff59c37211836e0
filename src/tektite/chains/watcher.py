"""The Chains watcher: every finished TaskRun and PipelineRun is formatted, signed, stored and
marked, exactly once.

::

    watcher = ChainsWatcher(cluster)
    watcher.attach(engine)      # inside an engine: signs at completion (engine.finished_hooks)
    ...
    watcher.close()             # drains what is queued, releases the lease

    ChainsWatcher(cluster).run_forever(stop_event)   # `tektite chains run`: its own process
    ChainsWatcher(cluster).sync()                    # `tektite chains run --once`

**What it does to a run** (Chains' reconcilers):

1. a run that is not done gets the finalizer (``chains.tekton.dev``, PipelineRuns
   ``chains.tekton.dev/pipelinerun``) so that deleting or pruning it only marks it
   (``deletionTimestamp``) until it is signed. A run deleted before it finishes is let go at once.
2. a finished run is formatted, signed and stored (:func:`tektite.chains.sign.sign_run`); a
   PipelineRun waits until each child TaskRun in ``status.childReferences`` is done and reconciled.
3. one compare-and-swap update then writes the ``tekton`` storage annotations,
   ``chains.tekton.dev/signed: "true"`` and removes the finalizer. A child TaskRun keeps its
   finalizer until its PipelineRun is reconciled (the PipelineRun's provenance reads it).
4. on failure ``chains.tekton.dev/retries`` goes up (retried after 0.5 s, 1 s, 2 s) and
   ``chains.tekton.dev/error`` says why; after the third retry ``signed: "failed"``.

**Exactly once.** Watchers sharing a store elect one signer with a Lease (:mod:`.lease`); the
final update carries the resourceVersion the signer read, so a run is marked by one writer only.

**Threads.** A poller follows the store's event log (``events_since``, resumable: on start and on
gaining the lease it scans every run) and renews the lease; one worker thread does the signing, so
an engine's asyncio loop only pays for a queue put in its completion hook.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

import orjson

from tektite.chains import annotations as A
from tektite.chains.config import CONFIGMAP, ChainsConfig
from tektite.chains.keys import SignerSource, stderr_notice
from tektite.chains.lease import Lease
from tektite.chains.metrics import Metrics
from tektite.chains.registryauth import run_registry_auth
from tektite.chains.settings import SECRET_NAME, ChainsSettings
from tektite.chains.sign import sign_run
from tektite.chains.storage import Backend, BackendEnv, StorageContext, get_backend
from tektite.chains.workqueue import Key, WorkQueue
from tektite.controller.cluster import Cluster
from tektite.core.conditions import is_done
from tektite.core.derived import CHAINS_PENDING, chains_pending
from tektite.errors import Conflict, NotFound, TektiteError
from tektite.store.base import MetadataPatch

__all__ = ["Action", "ChainsWatcher", "SyncSummary"]

log = logging.getLogger("tektite.chains")
JSON = dict[str, Any]
RUN_KINDS = ("TaskRun", "PipelineRun")
WATCHED_KINDS = (*RUN_KINDS, "ConfigMap", "Secret")
PARENT_LABEL = "tekton.dev/pipelineRun"
WORKERS_ENV = "TEKTITE_CHAINS_WORKERS"
ERROR_LIMIT = 1000
SCAN_STEP = 32  # runs a sync queues, then signs
CLAIM_BYTES = 2  # a chunk's number on a sharded sync's claims pipe


class Action:
    NOTHING = "nothing"
    ADD_FINALIZER = "add-finalizer"
    REMOVE_FINALIZER = "remove-finalizer"
    SIGN = "sign"
    WAIT = "wait"  # a PipelineRun whose children are not all signed yet
    SIGNED = "signed"
    RETRY = "retry"
    FAILED = "failed"
    GONE = "gone"


@dataclass
class SyncSummary:
    signed: int = 0
    failed: int = 0
    left: int = 0

    def add(self, other: SyncSummary) -> None:
        self.signed += other.signed
        self.failed += other.failed
        self.left += other.left


def _key(obj: JSON) -> Key:
    meta = obj.get("metadata") or {}
    return (str(obj.get("kind", "")), str(meta.get("namespace") or "default"), str(meta.get("name", "")))


Chunk = list[tuple[str, str, list[str]]]  # (kind, namespace, names): a sharded sync's unit of work


def _chunk(entries: dict[tuple[str, str], list[str]]) -> Chunk:
    """TaskRuns first: a PipelineRun's signing waits for its TaskRuns' marks."""
    ordered = sorted(entries.items(), key=lambda item: RUN_KINDS.index(item[0][0]))
    return [(kind, namespace, names) for (kind, namespace), names in ordered]


def shard_count() -> int:
    """Processes a backlog is shared among: ``TEKTITE_CHAINS_WORKERS`` (1 or 0: none), else one per
    CPU this process may use."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    if text:
        try:
            return max(int(text), 1)
        except ValueError:
            log.warning("chains: %s=%r is not a number; using one process", WORKERS_ENV, text)
            return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _rv(obj: JSON) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


class ChainsWatcher:
    def __init__(
        self,
        cluster: Cluster,
        *,
        identity: str | None = None,
        poll_interval: float = 0.25,
        lease_duration: float = 15.0,
        notify: Callable[[str], None] = stderr_notice,
        host_registry_config: bool = True,
    ) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self._getter = cluster.getter()
        self.settings = ChainsSettings(self._getter)
        self.signers = SignerSource(cluster.home, self.settings, notify)
        self.lease = Lease(self.store, identity, duration=lease_duration)
        self.metrics = Metrics()
        self.queue = WorkQueue()
        self.poll_interval = poll_interval
        self.host_registry_config = host_registry_config
        self._backends: tuple[ChainsConfig, Callable[[str], Backend]] | None = None
        self._written: OrderedDict[Key, int] = OrderedDict()  # newest rv we wrote per run
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_rv = 0
        self._leader = False
        self._draining = False
        self._backoff: dict[Key, float] = {}
        self._crashes: dict[Key, int] = {}
        self._defer: dict[Key, tuple[JSON, dict[str, str]]] | None = None  # signed, to mark (a batch)
        # every object queued is one this watcher parsed from the store itself, and nothing
        # changes it in memory (a sync without the watcher's threads or an engine's hook): its
        # marks may then be written from that object (MetadataPatch.base)
        self._own_reads = False
        self._hooked = False  # an engine's completion hook queues its runs (attach)

    # -- lifecycle ------------------------------------------------------------------------------
    def attach(self, engine: Any) -> None:
        """Sign the engine's runs as they finish (its ``finished_hooks``), then start watching."""
        engine.finished_hooks.append(self.on_finished)
        self._hooked = True
        self.start()

    def start(self) -> None:
        if self._threads:
            return
        self._last_rv = self.store.current_resource_version()
        self._threads = [
            threading.Thread(target=self._poll_loop, name="chains-poller", daemon=True),
            threading.Thread(target=self._work_loop, name="chains-worker", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def close(self, timeout: float = 30.0) -> int:
        """Stop watching, finish what is queued (retries without waiting), release the lease.

        Returns how many runs were left unsigned because ``timeout`` ran out.
        """
        self._stop.set()
        self._draining = True
        self.queue.close()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        left = len(self.queue) + sum(1 for t in self._threads if t.is_alive())
        self.lease.release()
        self._leader = False
        return left

    def run_forever(self, stop: threading.Event) -> None:
        """``tektite chains run``: watch until ``stop`` is set."""
        self.start()
        try:
            while not stop.wait(0.5):
                pass
        finally:
            self.close()

    def sync(self, workers: int | None = None) -> SyncSummary:
        """Process every run that needs it now (``tektite chains run --once``).

        A backlog is split among ``workers`` forked processes (default ``TEKTITE_CHAINS_WORKERS``,
        else one per CPU; see :meth:`_sync_sharded`); otherwise it is signed in this thread.
        """
        if not self.lease.try_acquire():
            raise TektiteError(
                f"another Chains watcher holds the lease ({self.lease.holder()}); "
                "it signs the runs of this home",
                hint="stop it, or wait for it to finish",
            )
        self._leader = True
        self._draining = True
        try:
            shards = self._shards(shard_count() if workers is None else workers)
            return self._sync_sharded(shards) if shards > 1 else self._sync_here()
        finally:
            self.lease.release()
            self._leader = False

    def _sync_here(self, feed: Callable[[Callable[[], None]], None] | None = None) -> SyncSummary:
        """Sign what ``feed`` queues (default: :meth:`_scan`, every run of the store); ``feed``
        calls the function it is given every few runs, which signs what is queued."""
        summary = SyncSummary()

        def drain() -> None:
            while (item := self.queue.get(timeout=0)) is not None:
                for action in self._process_batch(item):
                    summary.signed += action == Action.SIGNED
                    summary.failed += action == Action.FAILED

        self._own_reads = not self._threads and not self._hooked
        try:
            (feed or self._scan)(drain)  # a few runs are signed before more are read
            self.queue.close()
            drain()  # what the runs queued again (parents, retries)
        finally:
            self._own_reads = False
        summary.left = len(self.queue)
        return summary

    # -- a backlog in forked processes ------------------------------------------------------------
    def _shards(self, wanted: int) -> int:
        """How many processes :meth:`sync` may fork: 1 (none) unless forking is safe here - one
        thread in this process, a SQL store whose connections a child can leave alone, no PKCS#11
        session (a token's sessions do not survive a fork) - and there is a backlog to share."""
        if wanted < 2 or threading.active_count() > 1 or not hasattr(self.store, "engine"):
            return 1
        config = self._config()
        if config is None or "kms" in config.artifacts.signers():
            return 1
        page = self.store.list("TaskRun", limit=1)
        if (page.remaining or 0) + len(page.items) < self.SHARD_MIN:
            return 1
        return wanted

    SHARD_MIN = 500  # runs in the store before sync forks (a fork costs ~10 ms per process)

    def _sync_sharded(self, shards: int) -> SyncSummary:
        """Fork ``shards`` processes that share the backlog: it is cut into small chunks (a
        PipelineRun and its TaskRuns in one, see :meth:`_chunks`), and each process claims the
        next chunk when it is done with one, so a process that runs slower (a busier CPU, bigger
        runs) takes fewer. Each signs its chunks' runs, marking them with compare-and-swap as
        this thread would. This process holds the lease meanwhile, and adds up their summaries
        and counters. A process that fails leaves its runs to this one, which signs whatever is
        left."""
        config = self.settings.config()
        for signer in config.artifacts.signers():
            try:  # the home key is made (and announced) once, here, not by every child
                self.signers.get(signer, config)
            except TektiteError:
                pass  # each run's signing reports it
        chunks = self._chunks()
        log.info("chains: sharing the backlog among %d processes (%d chunks)", shards, len(chunks))
        claims, tokens = os.pipe()  # every chunk's number, read by one child each
        os.write(tokens, b"".join(n.to_bytes(CLAIM_BYTES, "little") for n in range(len(chunks))))
        os.close(tokens)
        children: list[tuple[int, int]] = []
        for index in range(shards):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: never returns
                os.close(read_end)
                self._run_shard(index, shards, write_end, claims, chunks)
            os.close(write_end)
            children.append((pid, read_end))
        os.close(claims)
        summary, redo = SyncSummary(), False
        for pid, answer in self._await_shards(children):
            _, status = os.waitpid(pid, 0)
            if status != 0 or not answer:
                log.warning(
                    "chains: a signing process failed (wait status %d); signing what is left here", status
                )
                redo = True
                continue
            counts, totals = orjson.loads(answer)
            summary.add(SyncSummary(*counts))
            for (kind, event), amount in totals:
                self.metrics.inc(kind, event, amount)
        self.metrics.flush()
        if redo:
            summary.add(self._sync_here())
        return summary

    MAX_CHUNKS = 4096  # their numbers take 8 KiB of a pipe's 64 KiB buffer: written before any read

    def _chunks(self) -> list[Chunk]:
        """The runs of the store in chunks of about equal size, for the processes to claim: a
        PipelineRun in the same chunk as its TaskRuns (its signing reads them, its mark releases
        them), and in a chunk TaskRuns before PipelineRuns. Planned from the keys alone
        (``SQLStore.keys``: no body is read here)."""
        keys = self.store.keys  # type: ignore[attr-defined]
        groups: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
        for namespace, name, parent in keys("TaskRun", PARENT_LABEL, CHAINS_PENDING):
            groups.setdefault((namespace, parent or name), ([], []))[0].append(name)
        for namespace, name, _ in keys("PipelineRun", None, CHAINS_PENDING):
            groups.setdefault((namespace, name), ([], []))[1].append(name)
        total = sum(len(t) + len(p) for t, p in groups.values())
        # As small as the signing step, up to MAX_CHUNKS: the processes finish within one chunk of
        # each other, so the last one alone is the time a core idles (2,000 runs on 2 CPUs: 15 ms
        # with ~8 chunks per process, 3-4 ms with these), and a claim costs one query of names.
        size = max(SCAN_STEP, total // self.MAX_CHUNKS + 1)
        chunks: list[Chunk] = []
        current: dict[tuple[str, str], list[str]] = {}
        count = 0
        for (namespace, _), (taskruns, pipelineruns) in groups.items():
            for kind, names in (("TaskRun", taskruns), ("PipelineRun", pipelineruns)):
                if names:
                    current.setdefault((kind, namespace), []).extend(names)
            count += len(taskruns) + len(pipelineruns)
            if count >= size:
                chunks.append(_chunk(current))
                current, count = {}, 0
        if current:
            chunks.append(_chunk(current))
        return chunks

    CHECKPOINT_EVERY = 0.02  # seconds, while the shards write

    def _await_shards(self, children: list[tuple[int, int]]) -> list[tuple[int, bytes]]:
        """Each child's answer, read as it comes. Meanwhile this process, otherwise idle, copies
        what the children write into the database file (SQLite's WAL checkpoints): left to the
        children, the one whose commit crosses the WAL's limit does all of it (and, on a disk,
        its fsyncs) while the other goes on, and it finishes last."""
        pending = {read_end: (pid, bytearray()) for pid, read_end in children}
        answers: list[tuple[int, bytes]] = []
        while pending:
            ready, _, _ = select.select(list(pending), [], [], self.CHECKPOINT_EVERY)
            for fd in ready:
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    pending[fd][1].extend(chunk)
                    continue
                os.close(fd)
                pid, answer = pending.pop(fd)
                answers.append((pid, bytes(answer)))
            if pending:
                self.store.checkpoint()  # type: ignore[attr-defined]
        return answers

    def _run_shard(self, index: int, shards: int, out: int, claims: int, chunks: list[Chunk]) -> NoReturn:
        code = 1
        try:
            self.store.engine.dispose(close=False)  # type: ignore[attr-defined]  # the parent's connections stay its own
            self.store.leave_checkpoints()  # type: ignore[attr-defined]  # to the parent (see _await_shards)
            self._backends = None  # their HTTP clients too
            self.metrics = Metrics(live=False)  # the parent counts what this process did
            done = self._sync_here(lambda each_step: self._claim(claims, chunks, each_step))
            totals = [[list(k), v] for k, v in self.metrics.totals.items()]
            os.write(out, orjson.dumps([[done.signed, done.failed, done.left], totals]))
            code = 0
        except BaseException:
            log.exception("chains: signing process %d of %d failed", index + 1, shards)
        finally:
            os._exit(code)

    # -- feeding the queue ------------------------------------------------------------------------
    def on_finished(self, obj: JSON) -> None:
        """The engine's completion hook: runs in the engine loop, so it only queues the run."""
        if self._leader and obj.get("kind") in RUN_KINDS and self._interesting(obj):
            self.queue.put(_key(obj), obj)

    def _renew(self) -> None:
        was = self._leader
        self._leader = self.lease.try_acquire()
        if self._leader and not was:
            log.info("chains: this watcher (%s) signs the runs", self.lease.identity)
            self._scan()
        elif was and not self._leader:
            log.warning("chains: lost the lease to %s; another watcher signs now", self.lease.holder())
            self.queue.clear()

    def _scan(self, each_step: Callable[[], None] | None = None) -> None:
        """Queue every run that needs something; the resumable start (no state of our own).

        Only those runs are read: the store indexes :func:`~tektite.core.derived.chains_pending`
        of every run it writes (the label ``tektite.dev/chains=pending``), so a start costs the
        same with 100 or 100,000 signed runs kept.

        ``each_step`` runs after every :data:`SCAN_STEP` runs queued: :meth:`sync` signs them
        before it parses more, so a run is signed while its parsed body is still in the CPU's
        caches (6 % less time per run than a page of 500 parsed, then signed), and a big store
        is never all in memory (nor all walked by the garbage collector).
        """
        self.settings.invalidate_all()
        for kind in RUN_KINDS:
            self._queue_all(self.store.scan(kind, label_selector=CHAINS_PENDING), each_step)

    def _claim(self, claims: int, chunks: list[Chunk], each_step: Callable[[], None]) -> None:
        """A sharded sync's child: queue the runs of the next unclaimed chunk, sign them, and
        so on until no chunk is left (see :meth:`_sync_sharded`)."""
        self.settings.invalidate_all()
        get_many = self.store.get_many  # type: ignore[attr-defined]
        while token := os.read(claims, CLAIM_BYTES):
            for kind, namespace, names in chunks[int.from_bytes(token, "little")]:
                self._queue_all(get_many(kind, namespace, names), each_step)

    def _queue_all(self, objs: Iterable[JSON], each_step: Callable[[], None] | None) -> None:
        for n, obj in enumerate(objs, 1):
            if self._interesting(obj):
                self.queue.put(_key(obj), obj)
            if each_step is not None and n % SCAN_STEP == 0:
                each_step()
        if each_step is not None:
            each_step()

    def _poll_loop(self) -> None:
        next_renew = 0.0  # the first turn takes the lease (and scans) in this thread, not the caller's
        while True:
            try:
                if time.monotonic() >= next_renew:
                    self._renew()
                    next_renew = time.monotonic() + self.lease.duration / 3
                self._poll()
            except TektiteError as err:  # the event log was pruned past us (Gone), a locked db, ...
                log.warning("chains: %s; rescanning", err.message)
                self._last_rv = self.store.current_resource_version()
                if self._leader:
                    self._scan()
            except Exception:  # a bug must not stop the watcher
                log.exception("chains: poller failed")
            if self._stop.wait(self.poll_interval):
                return

    def _poll(self) -> None:
        while True:
            events = self.store.events_since(self._last_rv, WATCHED_KINDS)
            for evt in events:
                self._last_rv = max(self._last_rv, evt.resource_version)
                if evt.kind in ("ConfigMap", "Secret"):
                    if evt.name in (CONFIGMAP, SECRET_NAME):
                        self.settings.invalidate(evt.kind, evt.name)
                    continue
                if self._leader and evt.type != "DELETED" and self._interesting(evt.object):
                    self.queue.put(_key(evt.object), evt.object)
            if len(events) < 1000:
                return

    def _interesting(self, obj: JSON) -> bool:
        """Whether a run may need an action: a cheap look at the object, no store reads (the
        look the store indexes, see :meth:`_scan`)."""
        key = _key(obj)
        with self._lock:
            if _rv(obj) <= self._written.get(key, 0):
                return False  # we wrote something newer already
        return chains_pending(obj)

    # -- the worker ---------------------------------------------------------------------------------
    def _work_loop(self) -> None:
        while True:
            item = self.queue.get(timeout=0.5)
            if item is None:
                if self._stop.is_set():
                    return
                continue
            try:
                self._process_batch(item)
            except Exception:  # the worker must outlive a store hiccup (its runs were queued again)
                log.exception("chains: a batch failed")
                self._stop.wait(0.2)

    def _guarded(self, key: Key, hint: JSON | None) -> str:
        if not self._leader:
            return Action.NOTHING
        due = self._backoff.get(key, 0.0)
        if due > time.monotonic() and not self._draining:
            self.queue.put(key, hint, delay=due - time.monotonic())
            return Action.NOTHING
        try:
            action = self._process(key, hint)
            self._crashes.pop(key, None)
            return action
        except Exception:  # a bug or a store hiccup must not stop the worker: try again, a few times
            crashes = self._crashes[key] = self._crashes.get(key, 0) + 1
            log.exception("chains: %s %s/%s failed (attempt %d)", *key, crashes)
            if crashes < 5:
                self.queue.put(key, None, delay=0.2 * crashes)
            return Action.NOTHING

    def process(self, key: Key, hint: JSON | None = None) -> str:
        """Bring one run forward: add/remove the finalizer, or sign it. Returns the :class:`Action`."""
        try:
            return self._process(key, hint)
        finally:
            self.metrics.flush()

    def _process(self, key: Key, hint: JSON | None) -> str:
        kind, namespace, name = key
        with self._lock:
            stale = hint is not None and _rv(hint) <= self._written.get(key, 0)
        obj = hint if hint is not None and not stale else self.store.try_get(kind, name, namespace)
        for _ in range(10):
            if obj is None:
                return Action.GONE
            try:
                action = self._decide(obj)
                if action in (Action.ADD_FINALIZER, Action.REMOVE_FINALIZER):
                    self._write(obj, {}, finalizer=action == Action.ADD_FINALIZER)
                elif action == Action.SIGN:
                    return self._sign(obj)
                return action
            except Conflict:
                obj = self.store.try_get(kind, name, namespace)
            except NotFound:
                return Action.GONE
        return Action.NOTHING

    def _config(self) -> ChainsConfig | None:
        try:
            return self.settings.config()
        except TektiteError:
            return None

    def _decide(self, obj: JSON) -> str:
        config = self._config()
        managed = A.wants_chains(obj, config.managed_by if config else ())
        finalizer = A.has_finalizer(obj)
        deleting = bool((obj.get("metadata") or {}).get("deletionTimestamp"))
        if not managed:
            return Action.REMOVE_FINALIZER if finalizer else Action.NOTHING
        if not is_done(obj):
            if deleting:  # Chains' FinalizeKind lets a run deleted before it finished go
                return Action.REMOVE_FINALIZER if finalizer else Action.NOTHING
            return Action.NOTHING if finalizer else Action.ADD_FINALIZER
        if not A.is_reconciled(obj):
            return Action.SIGN
        if finalizer and not self._held_for_parent(obj):
            return Action.REMOVE_FINALIZER
        return Action.NOTHING

    def _parent(self, obj: JSON) -> JSON | None:
        """A TaskRun's PipelineRun, when it still exists and owns it."""
        if obj.get("kind") != "TaskRun":
            return None
        meta = obj.get("metadata") or {}
        name = (meta.get("labels") or {}).get(PARENT_LABEL)
        if not name:
            return None
        parent = self.store.try_get("PipelineRun", name, meta.get("namespace") or "default")
        owners = {o.get("uid") for o in meta.get("ownerReferences") or []}
        if parent is None or parent["metadata"].get("uid") not in owners:
            return None
        return parent

    def _held_for_parent(self, obj: JSON) -> bool:
        """A child keeps its finalizer until its PipelineRun, which reads it, is reconciled."""
        parent = self._parent(obj)
        if parent is None or A.is_reconciled(parent):
            return False
        config = self._config()
        return A.wants_chains(parent, config.managed_by if config else ())

    # -- signing --------------------------------------------------------------------------------------
    def _children(self, pr: JSON) -> tuple[list[JSON], str | None]:
        """The PipelineRun's child TaskRuns in order; a reason to wait when one is not signed yet."""
        namespace = pr["metadata"].get("namespace") or "default"
        children = []
        for ref in (pr.get("status") or {}).get("childReferences") or []:
            if ref.get("kind", "TaskRun") != "TaskRun":
                continue
            child = self.store.try_get("TaskRun", ref.get("name", ""), namespace)
            if child is None:
                raise NotFound(f'child TaskRun "{ref.get("name")}" of the PipelineRun is gone')
            if not (child.get("status") or {}).get("completionTime") or not A.is_reconciled(child):
                return [], f"TaskRun {ref.get('name')} is not signed yet"
            children.append(child)
        return children, None

    def _backend_for(self, config: ChainsConfig) -> Callable[[str], Backend]:
        """Backends by storage name, built once per config."""
        with self._lock:
            if self._backends is not None and self._backends[0] is config:
                return self._backends[1]
        env = BackendEnv(config, self.cluster.home, getattr(self.store, "engine", None))
        cache: dict[str, Backend] = {}

        def get(name: str) -> Backend:
            if name not in cache:
                cache[name] = get_backend(name, env)
            return cache[name]

        with self._lock:
            self._backends = (config, get)
        return get

    def _sign(self, obj: JSON) -> str:
        kind = obj["kind"]
        try:
            config = self.settings.config()
            children: list[JSON] = []
            if kind == "PipelineRun":
                children, wait = self._children(obj)
                if wait:
                    return Action.WAIT  # the child's signing queues this run again
            getter = self._getter
            ctx = StorageContext(
                run=obj,
                registry_auth=lambda: run_registry_auth(obj, getter, host_config=self.host_registry_config),
            )
            outcome = sign_run(
                obj,
                children,
                config,
                lambda k: self.signers.get(k, config),
                self._backend_for(config),
                ctx,
            )
        except TektiteError as err:
            return self._failed(obj, err.diagnostics())
        self.metrics.inc(kind, "sign_created", outcome.signed)
        self.metrics.inc(kind, "payload_stored", outcome.stored)
        if not outcome.ok:
            return self._failed(obj, "; ".join(outcome.errors), ctx.annotations)
        annotations = {**ctx.annotations, A.SIGNED: "true"}
        if self._defer is not None:  # marked with the rest of the batch (see _process_batch)
            self._defer[_key(obj)] = (obj, annotations)
            return Action.SIGNED
        if self._mark(obj, annotations, drop=(A.ERROR,)) is None:
            return Action.NOTHING
        self._signed(obj)
        return Action.SIGNED

    def _failed(self, obj: JSON, reason: str, stored: dict[str, str] | None = None) -> str:
        """Count a retry, or mark ``signed: "failed"``; what the tekton backend stored is kept."""
        stored = stored or {}
        kind, key = obj["kind"], _key(obj)
        self.metrics.inc(kind, "signing_failures")
        reason = reason if len(reason) <= ERROR_LIMIT else reason[: ERROR_LIMIT - 3] + "..."
        retries = A.retries(obj)
        if retries < A.MAX_RETRIES:
            marks = {**stored, A.RETRIES: str(retries + 1), A.ERROR: reason}
            if self._mark(obj, marks, finalizer=None) is None:
                return Action.NOTHING
            delay = 0.5 * 2**retries
            self._backoff[key] = time.monotonic() + delay
            self.queue.put(key, None, delay=0 if self._draining else delay)
            log.warning(
                "chains: %s %s/%s: signing failed, retry %d: %s", kind, key[1], key[2], retries + 1, reason
            )
            return Action.RETRY
        if self._mark(obj, {**stored, A.SIGNED: "failed", A.ERROR: reason}) is None:
            return Action.NOTHING
        self._backoff.pop(key, None)
        log.warning("chains: %s %s/%s: signing failed for good: %s", kind, key[1], key[2], reason)
        return Action.FAILED

    def _mark(
        self,
        obj: JSON,
        annotations: dict[str, str],
        *,
        drop: tuple[str, ...] = (),
        finalizer: bool | None = False,
    ) -> JSON | None:
        """Write ``annotations`` (and the finalizer change) with compare-and-swap.

        On a conflict the latest object gets the same annotations unless someone reconciled it
        meanwhile (then None: another writer marked it). The signature is of the snapshot read.
        """
        current: JSON | None = obj
        for _ in range(10):
            if current is None or A.is_reconciled(current):
                return None
            try:
                return self._write(current, annotations, drop=drop, finalizer=finalizer)
            except Conflict:
                current = self.store.try_get(
                    obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace")
                )
        return None

    def _write(
        self, obj: JSON, annotations: dict[str, str], *, drop: tuple[str, ...] = (), finalizer: bool | None
    ) -> JSON:
        """One update carrying ``obj``'s resourceVersion. ``finalizer``: True add, False remove, None keep."""
        marked = self._marked(obj, annotations, drop=drop, finalizer=finalizer)
        new = self.store.update(marked)
        self._wrote(obj, marked, new, annotations)
        return new

    def _marked(
        self, obj: JSON, annotations: dict[str, str], *, drop: tuple[str, ...] = (), finalizer: bool | None
    ) -> JSON:
        """``obj`` with the annotations merged and the finalizer changed (not written)."""
        meta = dict(obj["metadata"])
        if annotations or drop:
            merged = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in drop}
            merged.update(annotations)
            meta["annotations"] = merged
        name = A.finalizer_for(obj["kind"])
        finalizers = [f for f in meta.get("finalizers") or [] if f != name]
        keep = finalizer is None and name in (meta.get("finalizers") or [])
        if finalizer is False and A.SIGNED in annotations and self._held_for_parent(obj):
            keep = True
        if finalizer or keep:
            finalizers.append(name)
        if finalizers:
            meta["finalizers"] = finalizers
        else:
            meta.pop("finalizers", None)
        return {**obj, "metadata": meta}

    def _wrote(self, obj: JSON, marked: JSON, new: JSON, annotations: dict[str, str]) -> None:
        self._remember(obj, _rv(new))
        meta = marked["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self.cluster.cleanup(new)  # the update removed the run: its directory goes too
        if A.SIGNED in annotations:
            self._after_mark(new)

    # -- batched marks: a backlog is written many runs per transaction -----------------------------
    BATCH = 256

    def _process_batch(self, first: tuple[Key, JSON | None]) -> list[str]:
        """Process ``first`` and whatever else is ready (up to BATCH runs); signed runs are marked
        together in one store transaction.

        A run signed earlier in the batch can be queued again before it is marked (the poller sees
        the event the engine hook already queued, while the run is being signed): its mark is
        written first, or nothing would say it is signed and it would be signed a second time.
        """
        self._defer = {}
        actions: list[str] = []
        item: tuple[Key, JSON | None] | None = first
        try:
            while item is not None:
                if item[0] in self._defer:
                    deferred, self._defer = self._defer, {}
                    self._flush_marks(list(deferred.values()))
                actions.append(self._guarded(*item))
                if len(actions) >= self.BATCH:
                    break
                item = self.queue.get(timeout=0)
        finally:
            deferred, self._defer = self._defer, None
            try:
                self._flush_marks(list(deferred.values()))
            finally:
                self.metrics.flush()
        return actions

    def _flush_marks(self, deferred: list[tuple[JSON, dict[str, str]]]) -> None:
        if not deferred:
            return
        patchable = []
        for obj, notes in deferred:
            if not obj["metadata"].get("deletionTimestamp"):
                patchable.append((obj, notes))
            elif self._mark(obj, notes, drop=(A.ERROR,)) is not None:  # on its own: the update may
                self._signed(obj)  # delete the run, and its directory
        deferred = patchable
        if not deferred:
            return
        patches = [self._mark_patch(obj, notes) for obj, notes in deferred]
        try:
            results = self.store.patch_metadata_many(patches)
        except Exception:
            # nothing was written (one transaction): the runs go round again; storing their
            # signatures again adds nothing (see storage/oci.py), and the marks are retried
            for obj, _ in deferred:
                self.queue.put(_key(obj), None, delay=0.5)
            raise
        for (obj, notes), result in zip(deferred, results, strict=True):
            if isinstance(result, TektiteError):  # changed meanwhile: the one-by-one path sorts it out
                if self._mark(obj, notes, drop=(A.ERROR,)) is None:
                    continue
            else:
                self._remember(obj, result)
                self._after_mark(obj)  # the patch changed no label nor child reference
            self._signed(obj)

    def _mark_patch(self, obj: JSON, notes: dict[str, str]) -> MetadataPatch:
        """The merge patch :meth:`_marked` would make of ``obj`` (finalizer dropped, unless the
        run is held for its PipelineRun; the old error dropped)."""
        meta = obj["metadata"]
        annotations: dict[str, str | None] = dict(notes)
        if A.ERROR in (meta.get("annotations") or {}):
            annotations[A.ERROR] = None
        name = A.finalizer_for(obj["kind"])
        current = list(meta.get("finalizers") or [])
        wanted = [f for f in current if f != name]
        if self._held_for_parent(obj):
            wanted.append(name)
        return MetadataPatch(
            obj["kind"],
            meta["name"],
            meta.get("namespace"),
            str(meta.get("resourceVersion") or ""),
            annotations,
            tuple(wanted) if wanted != current else None,
            base=obj if self._own_reads else None,
        )

    def _remember(self, obj: JSON, rv: int) -> None:
        """The newest resourceVersion we wrote of ``obj``: events up to it need nothing from us."""
        key = _key(obj)
        with self._lock:
            self._written[key] = rv
            self._written.move_to_end(key)
            while len(self._written) > 100_000:
                self._written.popitem(last=False)

    def _signed(self, obj: JSON) -> None:
        kind, key = obj["kind"], _key(obj)
        self._backoff.pop(key, None)
        self.metrics.inc(kind, "marked_signed")
        log.info("chains: %s %s/%s signed", kind, key[1], key[2])

    def _after_mark(self, obj: JSON) -> None:
        """A marked child lets its PipelineRun sign; a marked PipelineRun releases its children."""
        namespace = obj["metadata"].get("namespace") or "default"
        parent = (obj["metadata"].get("labels") or {}).get(PARENT_LABEL)
        if obj["kind"] == "TaskRun" and parent:
            self.queue.put(("PipelineRun", namespace, parent))
        if obj["kind"] == "PipelineRun":
            for ref in (obj.get("status") or {}).get("childReferences") or []:
                if ref.get("kind", "TaskRun") == "TaskRun":
                    self.queue.put(("TaskRun", namespace, ref.get("name", "")))
