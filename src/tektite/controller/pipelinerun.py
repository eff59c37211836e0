"""The PipelineRun reconciler: the run and its children in, the next status and actions out.

It is pure (no store, no clock of its own): the manager passes the children and ``now`` and
applies the :class:`Outcome`. Each call recomputes everything from the children, as Tekton's
reconciler does, so a restart resumes exactly where the run was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tektite.api.params import Param, ParamSpec
from tektite.api.pipeline import PipelineSpec, PipelineTask
from tektite.controller import caches
from tektite.controller import children as kids
from tektite.controller.config import Config
from tektite.controller.pipelinerun_state import Skip, TaskState, aggregate_status
from tektite.controller.rerun import REUSE_PIPELINERUN, REUSE_TASKRUN
from tektite.core import cachebinding, dag, defaults
from tektite.core import params as paramsmod
from tektite.core.conditions import PipelineRunReason as R
from tektite.core.conditions import get_condition, now, parse_time, set_condition
from tektite.core.durations import DurationError, format_duration, parse_duration
from tektite.core.substitution import Substituter
from tektite.core.when import CELError
from tektite.core.when import all_true as when_true
from tektite.errors import TektiteError

JSON = dict[str, Any]
CANCEL_TIMEOUT_MSG = "TaskRun cancelled as the PipelineRun it belongs to has timed out."
CANCEL_MSG = "TaskRun cancelled as the PipelineRun it belongs to has been cancelled."


@dataclass
class Outcome:
    status: JSON
    create: list[JSON] = field(default_factory=list)
    cancel: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, name, message)
    requeue_after: float | None = None
    done: bool = False


def _seconds(value: str | None, default: float) -> float:
    if value is None:
        return default
    try:
        return parse_duration(value)
    except DurationError:
        return default


class Reconciler:
    def __init__(
        self,
        pr: JSON,
        spec_json: JSON,
        children: list[JSON],
        config: Config,
        now_ts: float,
        spec: PipelineSpec | None = None,
        reuse: dict[str, list[str | None]] | None = None,
    ) -> None:
        self.pr = pr
        self.reuse = reuse or {}  # rerun from failure: pipeline task -> old TaskRuns it may reuse
        self.meta = pr["metadata"]
        self.name = self.meta["name"]
        self.pr_spec = pr.get("spec") or {}
        # the parts of status a reconcile changes are rebuilt, not mutated: a shallow copy suffices
        self.status: JSON = dict(pr.get("status") or {})
        if "conditions" in self.status:
            self.status["conditions"] = [dict(c) for c in self.status["conditions"]]
        self.spec_json = spec_json
        self.spec = spec if spec is not None else PipelineSpec.model_validate(spec_json)
        self.config = config
        self.now = now_ts
        self.out = Outcome(self.status)
        self.states: dict[str, TaskState] = {}
        for pt in self.spec.tasks or []:
            self.states[pt.name] = TaskState(pt, False)
        for pt in self.spec.finally_ or []:
            self.states[pt.name] = TaskState(pt, True)
        for child in children:
            task = ((child.get("metadata") or {}).get("labels") or {}).get("tekton.dev/pipelineTask")
            if task in self.states:
                self.states[task].runs.append(child)
        for st in self.states.values():
            st.runs.sort(key=_run_order)
        self.graph = dag.build(self.spec.tasks or [])
        self.values: dict[str, Any] = {}
        self.caches: dict[str, caches.CacheSpec] = {}  # cache bindings, by workspace
        self._invalid_ref: dag.ResultRef | None = None
        self._cel_error: str | None = None

    # -- helpers --------------------------------------------------------------------------------
    @property
    def spec_status(self) -> str | None:
        return self.pr_spec.get("status")

    def elapsed(self) -> float:
        start = parse_time(self.status.get("startTime"))
        return self.now - start.timestamp() if start else 0.0

    def timeouts(self) -> tuple[float, float | None, float | None]:
        t = self.pr_spec.get("timeouts") or {}
        pipeline = _seconds(t.get("pipeline"), self.config.default_timeout)
        tasks = _seconds(t.get("tasks"), 0) if t.get("tasks") is not None else None
        fin = _seconds(t.get("finally"), 0) if t.get("finally") is not None else None
        return pipeline, tasks, fin

    def fail(self, reason: str, message: str) -> Outcome:
        self.status.setdefault("startTime", now())
        self.status["completionTime"] = now()
        set_condition(self.status, "False", reason, message)
        self.out.done = True
        return self.out

    def tree(self, for_finally: bool = False) -> JSON:
        ctx = kids.context(self.pr, self.pipeline_name())
        tasks: JSON = {}
        for name, st in self.states.items():
            entry: JSON = {"results": st.results()}
            if st.pt.matrix is not None and st.expected is not None:
                entry["matrix"] = {
                    "length": str(st.expected),
                    **{
                        r: {"length": str(len(v) if isinstance(v, list) else 1)}
                        for r, v in st.results().items()
                    },
                }
            if for_finally and not st.is_finally:
                entry["status"] = st.status_word()
                entry["reason"] = st.reason()
            tasks[name] = entry
        if for_finally:
            tasks["status"] = aggregate_status(list(self.states.values()))
        bindings = {w["name"] for w in self.pr_spec.get("workspaces") or []}
        declared = {w.name for w in self.spec.workspaces or []} | bindings
        workspaces = {w: {"bound": "true" if w in bindings else "false"} for w in declared}
        return {"params": self.values, "context": ctx, "tasks": tasks, "workspaces": workspaces}

    def pipeline_name(self) -> str:
        ref = self.pr_spec.get("pipelineRef") or {}
        return str(ref.get("name") or self.meta["name"])

    # -- validation at start --------------------------------------------------------------------------
    def bind_params(self) -> str | None:
        specs = self.spec.params or []
        provided = [Param.model_validate(p) for p in self.pr_spec.get("params") or []]
        problem = paramsmod.check(
            specs,
            provided,
            owner=f'Pipeline "{self.pipeline_name()}"',
            enum_enabled=self.config.flag("enable-param-enum"),
        )
        if problem:
            reason = {
                "ParameterMissing": R.PARAMETER_MISSING,
                "ParameterTypeMismatch": R.PARAMETER_TYPE_MISMATCH,
                "ObjectParameterMissKeys": R.OBJECT_PARAM_MISSING_KEYS,
            }.get(problem.reason, problem.reason)
            msg = problem.message.replace(
                f'invalid input params for Pipeline "{self.pipeline_name()}": ',
                f"PipelineRun {self.meta.get('namespace', 'default')}/{self.name} parameters is invalid: ",
            )
            self.fail(reason, msg)
            return reason
        values = paramsmod.bind(specs, provided)
        ctx_tree = {"params": values, "context": kids.context(self.pr, self.pipeline_name())}
        sub = Substituter(ctx_tree)
        self.values = {k: sub.value(v) if isinstance(v, str) else sub.apply(v) for k, v in values.items()}
        return None

    def check_workspaces(self) -> bool:
        bound = {w["name"] for w in self.pr_spec.get("workspaces") or []}
        for ws in self.spec.workspaces or []:
            if ws.name not in bound and not ws.optional:
                self.fail(
                    R.INVALID_BINDINGS,
                    f'pipeline requires workspace with name "{ws.name}" be provided by pipelinerun',
                )
                return False
        return self.check_caches()

    def check_caches(self) -> bool:
        """Cache bindings (controller/caches.py), their keys substituted: in :attr:`caches`; a
        key that names task results is checked here and worked out by :meth:`cache_claims`."""
        sub = Substituter({"params": self.values, "context": kids.context(self.pr, self.pipeline_name())})
        for w in self.pr_spec.get("workspaces") or []:
            if cachebinding.is_cache(w):
                later = bool(cachebinding.result_tasks(w))
                try:
                    spec = caches.parse(
                        w, self.cache_where(w), lambda v: sub.value(cachebinding.RESULT_REF.sub("x", v))
                    )
                except TektiteError as exc:
                    self.fail(R.INVALID_BINDINGS, str(exc.message))
                    return False
                if not later:
                    self.caches[w["name"]] = spec
        return True

    def ancestors(self, st: TaskState) -> set[str]:
        """The pipeline tasks that finish before ``st`` starts: what it depends on, through any
        number of tasks (a ``finally`` task: every task of ``tasks``)."""
        if st.is_finally:
            return {t.name for t in self.spec.tasks or []}
        found: set[str] = set()
        todo = list(self.graph.get(st.name, []))
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo.extend(self.graph.get(name, []))
        return found

    def cache_where(self, binding: JSON) -> str:
        return (
            f'PipelineRun {self.meta.get("namespace", "default")}/{self.name}: workspace "{binding["name"]}"'
        )

    def cache_claims(self, st: TaskState, children: list[JSON], tree: JSON) -> list[JSON] | None:
        """The claims of cache bindings whose key names task results, for the first task that
        uses one (made again for a later task, the engine keeps the first); None when a key
        names results not known yet (the run has failed)."""
        wanted: dict[str, caches.CacheSpec] = {}
        bound = {
            (b.get("persistentVolumeClaim") or {}).get("claimName")
            for c in children
            for b in (c.get("spec") or {}).get("workspaces") or []
        }
        sub = Substituter(tree)
        before = self.ancestors(st)
        for w in self.pr_spec.get("workspaces") or []:
            named = cachebinding.result_tasks(w) if cachebinding.is_cache(w) else set()
            if not named or kids.claim_name(self.pr, w["name"], kids.cache_template(w["name"])) not in bound:
                continue
            try:
                if not named <= before:  # whatever finished by chance: the same run, the same outcome
                    raise TektiteError(
                        f"{self.cache_where(w)}: its key names results of {', '.join(sorted(named - before))}"
                    )
                wanted[w["name"]] = caches.parse(w, self.cache_where(w), sub.value)
            except TektiteError as exc:
                self.fail(
                    R.INVALID_BINDINGS,
                    f'{exc.message}: pipeline task "{st.name}" uses the cache before the task whose '
                    "results its key names has finished (runAfter it, or use one of its results)",
                )
                return None
        return [kids.cache_claim(self.pr, name, spec) for name, spec in wanted.items()]

    # -- skipping -------------------------------------------------------------------------------------
    def parents_settled(self, st: TaskState) -> bool:
        return all(self.states[p].settled for p in self.graph.get(st.name, []))

    def stopping(self) -> bool:
        return any(
            (s.failed and not s.ignored) or s.cancelled for s in self.states.values() if not s.is_finally
        )

    def decide_skip(
        self, st: TaskState, tree: JSON, tasks_timed_out: bool, pipeline_timed_out: bool
    ) -> str | None:
        """Tekton's ``Skip()`` order, for a task whose parents are settled and that has not started."""
        if not st.is_finally:
            if self.stopping():
                return Skip.STOPPING
            if self.spec_status == "CancelledRunFinally":
                return Skip.GRACEFULLY_CANCELLED
            if self.spec_status == "StoppedRunFinally":
                return Skip.GRACEFULLY_STOPPED
            for p in self.graph.get(st.name, []):
                parent = self.states[p]
                if parent.skip is not None and parent.skip != Skip.WHEN:
                    return Skip.PARENT_SKIPPED
        missing = kids.missing_results(st.pt, tree, self.states)
        if missing:
            producer = self.states.get(missing[0].task)
            if (
                st.pt.on_error == "continue"
                or st.is_finally
                or (producer is not None and producer.skip == Skip.WHEN)
                or (producer is not None and producer.skip is not None)
            ):
                return Skip.MISSING_RESULTS
            self._invalid_ref = missing[0]
            return None
        sub = Substituter(tree)
        when = [type(w).model_validate(sub.apply(w.dump())) for w in st.pt.when or []]
        try:
            if not when_true(when):
                st.when_status = [w.dump() for w in when]
                return Skip.WHEN
        except CELError as exc:
            self._cel_error = str(exc)
            return None
        if pipeline_timed_out:
            return Skip.PIPELINE_TIMEOUT
        if tasks_timed_out and not st.is_finally:
            return Skip.TASKS_TIMEOUT
        if st.pt.matrix is not None and kids.matrix_has_empty_array(st.pt, tree):
            return Skip.EMPTY_MATRIX
        return None

    # -- main -------------------------------------------------------------------------------------------
    def run(self) -> Outcome:
        cond = get_condition({"status": self.status})
        if cond is not None and cond.get("status") in ("True", "False"):
            self.out.done = True
            return self.out
        if not self.status.get("startTime"):
            if self.spec_status == "PipelineRunPending":
                set_condition(self.status, "Unknown", R.PENDING, f'PipelineRun "{self.name}" is pending')
                return self.out
            if self.spec_status == "Cancelled":
                return self.fail(R.CANCELLED, f'PipelineRun "{self.name}" was cancelled')
            self.status["startTime"] = now()
            recorded = json.loads(json.dumps(self.spec_json))
            defaults.pipeline_spec(recorded)  # as Tekton records it: params and results typed
            self.status["pipelineSpec"] = recorded
            if self.config.flag("enable-provenance-in-status"):
                self.status.setdefault("provenance", {})["featureFlags"] = self._flags()
            set_condition(self.status, "Unknown", R.RUNNING, self.count_message())
            if self.bind_params() or not self.check_workspaces():
                return self.out
            self.out.create.extend(kids.claims_for(self.pr, self.caches))
        elif self.bind_params():
            return self.out
        pipeline_t, tasks_t, finally_t = self.timeouts()
        elapsed = self.elapsed()
        running = [s for s in self.states.values() if s.running]
        if pipeline_t and elapsed >= pipeline_t:
            self.cancel_children(running, CANCEL_TIMEOUT_MSG)
            self.record_children()
            return self.fail(
                R.TIMEOUT,
                f'PipelineRun "{self.name}" failed to finish within "{format_duration(pipeline_t)}"',
            )
        if self.spec_status == "Cancelled":
            self.cancel_children(running, CANCEL_MSG)
            self.record_children()
            return self.fail(R.CANCELLED, f'PipelineRun "{self.name}" was cancelled')
        tasks_timed_out = bool(tasks_t) and elapsed >= (tasks_t or 0)
        if tasks_timed_out:
            self.cancel_children([s for s in running if not s.is_finally], CANCEL_TIMEOUT_MSG)
        if self.spec_status == "CancelledRunFinally":
            self.cancel_children([s for s in running if not s.is_finally], CANCEL_MSG)
        self._invalid_ref = None
        self._cel_error = None
        # DAG tasks, in order; a task starts when its parents have settled.
        pending_matrix = [s for s in self.states.values() if s.pt.matrix is not None and s.started]
        if pending_matrix:
            base = self.tree()
            for st in pending_matrix:
                self.known_matrix(st, base)
        tree = self.tree()
        for pt in self.spec.tasks or []:
            st = self.states[pt.name]
            if st.started or st.skip is not None or not self.parents_settled(st):
                continue
            st.skip = self.decide_skip(st, tree, tasks_timed_out, False)
            if self._invalid_ref is not None:
                ref = self._invalid_ref
                return self.fail(
                    R.INVALID_RESULT_REFERENCE,
                    f"Invalid task result reference: Could not find result "
                    f"with name {ref.result} for task {ref.task}",
                )
            if self._cel_error:
                return self.fail(R.CEL_EVALUATION_FAILED, self._cel_error)
            if st.skip is None:
                if not self.start(st, tree):
                    return self.out
                tree = self.tree()
        # finally tasks, once every DAG task has settled.
        dag_settled = all(s.settled for s in self.states.values() if not s.is_finally)
        if dag_settled and self.spec.finally_:
            self.status.setdefault("finallyStartTime", now())
            fin_start = parse_time(self.status["finallyStartTime"])
            fin_elapsed = self.now - fin_start.timestamp() if fin_start else 0.0
            finally_timed_out = bool(finally_t) and fin_elapsed >= (finally_t or 0)
            if finally_timed_out:
                self.cancel_children(
                    [s for s in self.states.values() if s.running and s.is_finally], CANCEL_TIMEOUT_MSG
                )
            ftree = self.tree(for_finally=True)
            for pt in self.spec.finally_ or []:
                st = self.states[pt.name]
                self.known_matrix(st, ftree)
                if st.started or st.skip is not None:
                    continue
                st.skip = self.decide_skip(st, ftree, False, False)
                if st.skip is None and finally_timed_out:
                    st.skip = Skip.FINALLY_TIMEOUT
                if self._cel_error:
                    return self.fail(R.CEL_EVALUATION_FAILED, self._cel_error)
                if st.skip is None and not self.start(st, ftree):
                    return self.out
        self.record_children()
        self.requeue(pipeline_t, tasks_t, finally_t, elapsed)
        if all(s.settled for s in self.states.values()):
            self.complete()
        else:
            reason = R.RUNNING
            counts = self.counts()
            if counts["cancelled"] > 0 or (counts["failed"] > 0 and self.finally_done()):
                reason = R.STOPPING
            if self.spec_status == "CancelledRunFinally" and self.spec.finally_:
                reason = R.CANCELLED_RUNNING_FINALLY
            elif self.spec_status == "StoppedRunFinally" and self.spec.finally_:
                reason = R.STOPPED_RUNNING_FINALLY
            set_condition(self.status, "Unknown", reason, self.count_message())
        return self.out

    def finally_done(self) -> bool:
        return all(s.settled for s in self.states.values() if s.is_finally)

    def known_matrix(self, st: TaskState, tree: JSON) -> None:
        if st.pt.matrix is not None and st.started and st.expected is None:
            st.expected = len(kids.matrix_combos(st.pt, tree)[0])

    def start(self, st: TaskState, tree: JSON) -> bool:
        try:
            created = kids.runs_for(
                self.pr,
                self.spec,
                st.pt,
                tree,
                is_finally=st.is_finally,
                config=self.config,
                elapsed=self.elapsed(),
                finally_elapsed=None,
                pipeline_name=self.pipeline_name(),
            )
        except kids.ChildError as exc:
            self.fail(exc.reason, str(exc.message))
            return False
        claims = self.cache_claims(st, created, tree)
        if claims is None:
            return False
        self.out.create.extend(claims)  # before the TaskRuns: the engine restores them first
        st.expected = len(created) if st.pt.matrix is not None else None
        for i, child in enumerate(created):
            notes = child["metadata"].get("annotations") or {}
            notes.pop(REUSE_PIPELINERUN, None)  # the PipelineRun's, not its children's
            old = self.reuse.get(st.name) or []
            if not st.is_finally and child["kind"] == "TaskRun" and i < len(old) and old[i]:
                notes[REUSE_TASKRUN] = old[i]  # the TaskRun decides, once its Task is resolved
        st.runs.extend(created)
        self.out.create.extend(created)
        return True

    def cancel_children(self, states: list[TaskState], message: str) -> None:
        for st in states:
            for run in st.runs:
                cond = get_condition(run)
                if cond and cond.get("status") in ("True", "False"):
                    continue
                if (run.get("spec") or {}).get("status") in ("TaskRunCancelled", "Cancelled", "RunCancelled"):
                    continue
                self.out.cancel.append((run["kind"], run["metadata"]["name"], message))

    def record_children(self) -> None:
        refs = []
        tree = self.tree(for_finally=True)
        for st in self.states.values():
            for i, run in enumerate(st.runs):
                ref: JSON = {
                    "apiVersion": run.get("apiVersion", "tekton.dev/v1"),
                    "kind": run["kind"],
                    "name": run["metadata"]["name"],
                    "pipelineTaskName": st.name,
                }
                display = kids.display_name(st.pt, run, i)
                if display:
                    ref["displayName"] = display
                if st.pt.when:
                    ref["whenExpressions"] = Substituter(tree).apply([w.dump() for w in st.pt.when])
                refs.append(ref)
        if refs:
            self.status["childReferences"] = refs
        skipped = []
        for st in self.states.values():
            if st.skip is not None:
                entry: JSON = {"name": st.name, "reason": st.skip}
                if st.when_status:
                    entry["whenExpressions"] = st.when_status
                skipped.append(entry)
        if skipped:
            self.status["skippedTasks"] = skipped
        else:
            self.status.pop("skippedTasks", None)

    def requeue(
        self, pipeline_t: float, tasks_t: float | None, finally_t: float | None, elapsed: float
    ) -> None:
        deadlines = [t - elapsed for t in (pipeline_t, tasks_t) if t]
        if finally_t and self.status.get("finallyStartTime"):
            start = parse_time(self.status["finallyStartTime"])
            if start:
                deadlines.append(finally_t - (self.now - start.timestamp()))
        pending = [d for d in deadlines if d > 0]
        if pending:
            self.out.requeue_after = min(pending)

    def counts(self) -> dict[str, int]:
        c = {
            "succeeded": 0,
            "failed": 0,
            "ignored": 0,
            "cancelled": 0,
            "skipped": 0,
            "incomplete": 0,
            "skipped_timeout": 0,
        }
        for st in self.states.values():
            if st.succeeded:
                c["succeeded"] += 1
            elif st.failed:
                c["ignored" if st.ignored else "failed"] += 1
            elif st.cancelled:
                c["cancelled"] += 1
            elif st.skip is not None:
                c["skipped"] += 1
                if st.skip in (Skip.FINALLY_TIMEOUT, Skip.TASKS_TIMEOUT, Skip.PIPELINE_TIMEOUT):
                    c["skipped_timeout"] += 1
            else:
                c["incomplete"] += 1
        return c

    def count_message(self) -> str:
        c = self.counts()
        completed = c["succeeded"] + c["failed"] + c["cancelled"] + c["ignored"]
        return (
            f"Tasks Completed: {completed} (Failed: {c['failed'] + c['ignored']}, Cancelled {c['cancelled']}), "
            f"Incomplete: {c['incomplete']}, Skipped: {c['skipped']}"
        )

    def complete(self) -> None:
        c = self.counts()
        completed = c["succeeded"] + c["failed"] + c["cancelled"] + c["ignored"]
        failed = c["failed"] + c["ignored"]
        if c["ignored"]:
            message = (
                f"Tasks Completed: {completed} (Failed: {failed} (Ignored: {c['ignored']}), Cancelled "
                f"{c['cancelled']}), Skipped: {c['skipped']}"
            )
        else:
            message = f"Tasks Completed: {completed} (Failed: {failed}, Cancelled {c['cancelled']}), Skipped: {c['skipped']}"
        state, reason = "True", R.SUCCEEDED
        if c["skipped"]:
            reason = R.COMPLETED
        if c["failed"] or c["skipped_timeout"]:
            state, reason = "False", R.FAILED
        elif self.spec_status in ("CancelledRunFinally", "StoppedRunFinally"):
            state, reason = "False", R.CANCELLED
            message = f'PipelineRun "{self.name}" was cancelled'
        elif c["cancelled"]:
            state, reason = "False", R.CANCELLED
        results = kids.pipeline_results(self.spec, self.states, self.tree(for_finally=True))
        if results:
            self.status["results"] = results
        self.status["completionTime"] = now()
        set_condition(self.status, state, reason, message)
        self.out.done = True

    def _flags(self) -> JSON:
        from tektite.controller.taskrun import _flags_for_provenance

        return _flags_for_provenance(self.config)


def _run_order(run: JSON) -> tuple[int, str]:
    """Matrix children ``<pr>-<task>-<i>`` in combination order (numerically)."""
    name = run["metadata"]["name"]
    tail = name.rsplit("-", 1)[-1]
    return (int(tail) if tail.isdigit() else -1, name)


def reconcile(
    pr: JSON,
    spec_json: JSON,
    children: list[JSON],
    config: Config,
    now_ts: float,
    spec: PipelineSpec | None = None,
    reuse: dict[str, list[str | None]] | None = None,
) -> Outcome:
    """One reconcile of ``pr`` whose (resolved) pipeline spec is ``spec_json`` (``spec``: the same,
    already parsed); ``reuse``: a rerun from failure's TaskRuns to reuse (controller/rerun.py)."""
    return Reconciler(pr, spec_json, children, config, now_ts, spec, reuse).run()


def param_specs(spec: PipelineSpec) -> list[ParamSpec]:
    return list(spec.params or [])


def pipeline_task(spec: PipelineSpec, name: str) -> PipelineTask | None:
    for pt in [*(spec.tasks or []), *(spec.finally_ or [])]:
        if pt.name == name:
            return pt
    return None
