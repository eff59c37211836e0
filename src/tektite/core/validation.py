"""Semantic validation, as Tekton's admission webhook does it.

``validate(parsed, flags)`` raises one :class:`ValidationError` listing every problem, each with
its field path (and line, when the object came from a file).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tektite.api.params import ParamSpec, ResultSpec, WhenExpression, WorkspaceBinding, value_type
from tektite.api.pipeline import Pipeline, PipelineSpec, PipelineTask
from tektite.api.runs import PipelineRun, TaskRun
from tektite.api.structure import Parsed, describe, did_you_mean
from tektite.api.task import Step, StepAction, Task, TaskSpec
from tektite.core import cachebinding, dag
from tektite.core.durations import DurationError, parse_duration
from tektite.core.substitution import references
from tektite.errors import FieldError, ValidationError

P = tuple[str | int, ...]

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
PARAM_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.-]*$")
RESULT_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


@dataclass
class Checker:
    flags: Mapping[str, str] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)

    def add(self, path: P, message: str, expected: str | None = None, found: str | None = None) -> None:
        self.errors.append(FieldError(tuple(path), message, expected, found))

    def flag(self, name: str) -> bool:
        return str(self.flags.get(name, "")).lower() == "true"

    # -- generic ---------------------------------------------------------------------------
    def name(
        self,
        path: P,
        value: str | None,
        what: str,
        pattern: re.Pattern[str] = DNS1123_LABEL,
        max_len: int = 63,
    ) -> None:
        if not value:
            self.add(path, f"{what} is required")
        elif not pattern.match(value) or len(value) > max_len:
            rule = (
                "lowercase letters, digits and '-', starting and ending with a letter or digit"
                if pattern is DNS1123_LABEL
                else "a DNS-1123 subdomain (lowercase letters, digits, '-', '.')"
            )
            self.add(
                path, f"invalid {what}", expected=f"{rule}, at most {max_len} characters", found=f'"{value}"'
            )

    def duration(self, path: P, value: str | None) -> float | None:
        if value is None:
            return None
        try:
            seconds = parse_duration(value)
        except DurationError as exc:
            self.add(
                path,
                "invalid duration",
                expected='a Go duration such as "1h", "30m", "90s" or "0"',
                found=f'"{value}"',
            )
            del exc
            return None
        if seconds < 0:
            self.add(path, "invalid duration", expected="a duration >= 0", found=f'"{value}"')
            return None
        return seconds

    def unique(self, path: P, names: Sequence[str | None], what: str, case_insensitive: bool = False) -> None:
        seen: set[str] = set()
        for i, n in enumerate(names):
            if n is None:
                continue
            key = n.lower() if case_insensitive else n
            if key in seen:
                self.add((*path, i, "name"), f'duplicate {what} "{n}"')
            seen.add(key)

    def workspace_binding(self, path: P, ws: WorkspaceBinding) -> None:
        kinds = ws.source_kinds()
        if len(kinds) != 1:
            self.add(
                path,
                "expected exactly one volume source",
                expected="one of emptyDir, persistentVolumeClaim, "
                "volumeClaimTemplate, configMap, secret, projected, csi",
                found=", ".join(kinds) if kinds else "none",
            )
        if cachebinding.is_cache({"csi": ws.csi}):  # a keyed cache
            for sub, problem, expected, found in cachebinding.problems(ws.csi):
                self.add((*path, *sub), problem, expected=expected, found=found)

    # -- params / results ------------------------------------------------------------------
    def param_specs(self, path: P, specs: list[ParamSpec] | None) -> None:
        specs = specs or []
        self.unique(path, [s.name for s in specs], "param name", case_insensitive=True)
        for i, s in enumerate(specs):
            p = (*path, i)
            if not PARAM_NAME.match(s.name):
                self.add(
                    (*p, "name"),
                    "invalid param name",
                    expected="letters, digits, '_', '-', '.' starting with a letter or '_'",
                    found=f'"{s.name}"',
                )
            if s.type == "object" and not s.properties:
                self.add((*p, "properties"), "object param requires properties")
            if s.type == "object" and "." in s.name:
                self.add((*p, "name"), "object param names cannot contain '.'", found=f'"{s.name}"')
            if s.default is not None and value_type(s.default) != s.effective_type:
                self.add(
                    (*p, "default"),
                    "default has the wrong type",
                    expected=s.effective_type,
                    found=value_type(s.default),
                )
            if s.enum is not None:
                if s.effective_type != "string":
                    self.add((*p, "enum"), "enum is only allowed for string params", found=s.effective_type)
                if len(set(s.enum)) != len(s.enum):
                    self.add((*p, "enum"), "enum has duplicate values")
                if isinstance(s.default, str) and s.default not in s.enum:
                    self.add(
                        (*p, "default"),
                        "default is not in the enum",
                        expected=f"one of {s.enum}",
                        found=f'"{s.default}"',
                    )

    def result_specs(self, path: P, results: list[ResultSpec] | None) -> None:
        results = results or []
        self.unique(path, [r.name for r in results], "result name")
        for i, r in enumerate(results):
            if not RESULT_NAME.match(r.name):
                self.add(
                    (*path, i, "name"),
                    "invalid result name",
                    expected="letters, digits, '-', '_', '.'",
                    found=f'"{r.name}"',
                )
            if r.type == "object" and not r.properties:
                self.add((*path, i, "properties"), "object result requires properties")

    # -- tasks -----------------------------------------------------------------------------
    def step(self, path: P, step: Step) -> None:
        if step.ref is not None:
            for fld in ("image", "command", "args", "script", "env", "volume_mounts"):
                if getattr(step, fld) is not None:
                    alias = Step.model_fields[fld].alias or fld
                    self.add((*path, alias), f"a step that uses ref cannot set {alias}")
            if not step.ref.name and not step.ref.resolver:
                self.add((*path, "ref"), "ref needs a name or a resolver")
        elif not step.image:
            self.add((*path, "image"), "required field is missing", expected="a container image")
        if step.script is not None and step.command:
            self.add((*path, "script"), "script cannot be used with command")
        if (
            step.on_error is not None
            and step.on_error not in ("continue", "stopAndFail")
            and "$(" not in step.on_error
        ):
            self.add(
                (*path, "onError"),
                "invalid value",
                expected='"continue" or "stopAndFail"',
                found=f'"{step.on_error}"',
            )
        if step.name is not None:
            self.name((*path, "name"), step.name, "step name")
        self.duration((*path, "timeout"), step.timeout)
        self.result_specs((*path, "results"), step.results)
        for j, w in enumerate(step.when or []):
            self.when((*path, "when", j), w)

    def task_spec(self, path: P, spec: TaskSpec, *, check_refs: bool) -> None:
        if spec.api_version or spec.kind or spec.spec is not None:
            return  # custom task embedded spec: not ours to validate
        if not spec.steps:
            self.add(
                (*path, "steps"), "a Task needs at least one step", expected="at least one step", found="none"
            )
        self.param_specs((*path, "params"), spec.params)
        self.result_specs((*path, "results"), spec.results)
        steps = spec.steps or []
        self.unique((*path, "steps"), [s.name for s in steps], "step name")
        for i, s in enumerate(steps):
            self.step((*path, "steps", i), s)
        for i, sc in enumerate(spec.sidecars or []):
            if sc.script is not None and sc.command:
                self.add((*path, "sidecars", i, "script"), "script cannot be used with command")
            if not sc.image:
                self.add((*path, "sidecars", i, "image"), "required field is missing")
        self.unique((*path, "workspaces"), [w.name for w in spec.workspaces or []], "workspace name")
        self.unique((*path, "volumes"), [v.name for v in spec.volumes or []], "volume name")
        if check_refs:
            declared = {p.name for p in spec.params or []}
            body = spec.model_dump(by_alias=True, exclude_none=True, exclude={"params", "description"})
            for text, segs in references(body, root="params"):
                if len(segs) > 1 and isinstance(segs[1], str) and segs[1] not in declared:
                    self.add(
                        (*path,),
                        f'non-existent variable in "{text}"',
                        expected=f"a declared param{did_you_mean(segs[1], declared)}",
                    )

    # -- pipelines -------------------------------------------------------------------------
    def when(self, path: P, w: WhenExpression) -> None:
        if w.cel is not None:
            if w.input is not None or w.operator is not None or w.values is not None:
                self.add(path, "cel cannot be combined with input/operator/values")
            if not self.flag("enable-cel-in-whenexpression"):
                self.add(
                    (*path, "cel"),
                    'CEL in when expressions needs feature flag "enable-cel-in-whenexpression: true"',
                )
            return
        if w.input is None:
            self.add((*path, "input"), "required field is missing")
        if w.operator is None:
            self.add((*path, "operator"), "required field is missing", expected='"in" or "notin"')
        if not w.values:
            self.add((*path, "values"), "expecting non-empty values field")

    def pipeline_task(
        self,
        path: P,
        pt: PipelineTask,
        names: set[str],
        pipeline_params: set[str],
        workspaces: set[str] | None,
        is_finally: bool,
    ) -> None:
        self.name((*path, "name"), pt.name, "pipeline task name")
        refs = [
            k
            for k, v in (
                ("taskRef", pt.task_ref),
                ("taskSpec", pt.task_spec),
                ("pipelineRef", pt.pipeline_ref),
                ("pipelineSpec", pt.pipeline_spec),
            )
            if v
        ]
        if len(refs) != 1:
            self.add(
                path,
                "expected exactly one of taskRef, taskSpec, pipelineRef, pipelineSpec",
                found=", ".join(refs) if refs else "none",
            )
        if pt.task_ref and pt.task_ref.api_version:  # a Custom Task: its name is optional
            if not pt.task_ref.kind:
                self.add((*path, "taskRef", "kind"), "a Custom Task reference (apiVersion) needs a kind")
        elif pt.task_ref and not (pt.task_ref.name or pt.task_ref.resolver):
            self.add((*path, "taskRef"), "taskRef needs a name or a resolver")
        if pt.task_spec:
            self.task_spec((*path, "taskSpec"), pt.task_spec, check_refs=False)
        if pt.pipeline_spec:
            self.pipeline_spec((*path, "pipelineSpec"), pt.pipeline_spec)
        for j, dep in enumerate(pt.run_after or []):
            if is_finally:
                self.add((*path, "runAfter"), "finally tasks cannot use runAfter")
                break
            if dep not in names:
                self.add(
                    (*path, "runAfter", j),
                    f'pipeline task "{dep}" not found',
                    expected="one of: " + ", ".join(sorted(names)),
                    found=f'"{dep}"',
                )
        for ref in dag.task_result_refs(pt):
            if ref.task not in names:
                self.add(
                    (*path,),
                    f'result reference to unknown pipeline task "{ref.task}"',
                    expected="one of: " + ", ".join(sorted(names)),
                )
        for j, w in enumerate(pt.when or []):
            self.when((*path, "when", j), w)
        if pt.retries is not None and pt.retries < 0:
            self.add((*path, "retries"), "retries must be >= 0", found=str(pt.retries))
        if pt.on_error and pt.retries:
            self.add((*path, "onError"), "onError cannot be set with retries")
        self.duration((*path, "timeout"), pt.timeout)
        self.unique((*path, "params"), [p.name for p in pt.params or []], "param name")
        if pt.matrix and pt.matrix.params:
            both = {p.name for p in pt.params or []} & {p.name for p in pt.matrix.params}
            for n in sorted(both):
                self.add((*path, "matrix"), f'param "{n}" is in both params and matrix')
        for j, wb in enumerate(pt.workspaces or []):
            target = wb.workspace or wb.name
            if workspaces is not None and target not in workspaces:
                self.add(
                    (*path, "workspaces", j),
                    f'pipeline workspace "{target}" is not declared',
                    expected="one of: " + (", ".join(sorted(workspaces)) or "(none declared)"),
                )
        if not is_finally:
            values = [p.value for p in pt.params or []] + [w.input or "" for w in pt.when or []]
            for text, segs in references(values, root="tasks"):
                if len(segs) >= 2 and (
                    segs[1] == "status" or (len(segs) >= 3 and segs[2] in ("status", "reason"))
                ):
                    self.add((*path,), f'"{text}" can only be used in finally tasks')
        body = pt.model_dump(
            by_alias=True, exclude_none=True, include={"params", "when", "matrix", "displayName"}
        )
        for text, segs in references(body, root="params"):
            if len(segs) > 1 and isinstance(segs[1], str) and segs[1] not in pipeline_params:
                self.add(
                    (*path,),
                    f'non-existent variable in "{text}"',
                    expected=f"a declared pipeline param{did_you_mean(segs[1], pipeline_params)}",
                )

    def pipeline_spec(
        self, path: P, spec: PipelineSpec, propagated_workspaces: set[str] | None = None
    ) -> None:
        """``propagated_workspaces``: bindings of the PipelineRun that embeds this spec (they need no
        declaration; None when the spec is a standalone Pipeline)."""
        tasks = spec.tasks or []
        finally_ = spec.finally_ or []
        if not tasks:
            self.add((*path, "tasks"), "a Pipeline needs at least one task", found="none")
        self.param_specs((*path, "params"), spec.params)
        self.unique((*path, "workspaces"), [w.name for w in spec.workspaces or []], "workspace name")
        all_names = [t.name for t in tasks] + [t.name for t in finally_]
        seen: set[str] = set()
        for i, n in enumerate(all_names):
            if n in seen:
                key: P = (
                    (*path, "tasks", i, "name")
                    if i < len(tasks)
                    else (*path, "finally", i - len(tasks), "name")
                )
                self.add(key, f'duplicate pipeline task name "{n}"')
            seen.add(n)
        names = {t.name for t in tasks}
        params = {p.name for p in spec.params or []}
        workspaces: set[str] | None = {w.name for w in spec.workspaces or []}
        if propagated_workspaces is not None:
            workspaces = None  # embedded: undeclared workspaces come from the run's bindings
        for i, t in enumerate(tasks):
            self.pipeline_task((*path, "tasks", i), t, names, params, workspaces, False)
        for i, t in enumerate(finally_):
            self.pipeline_task((*path, "finally", i), t, names, params, workspaces, True)
        cycle = dag.find_cycle(dag.build(tasks))
        if cycle:
            self.add((*path, "tasks"), "invalid value: cycle detected: " + " -> ".join(cycle))
        results_names = [r.name for r in spec.results or []]
        self.unique((*path, "results"), results_names, "result name")
        every = names | {t.name for t in finally_}
        for i, r in enumerate(spec.results or []):
            for text, segs in references(r.value):
                if segs[0] in ("tasks", "finally") and len(segs) > 1 and segs[1] not in every:
                    self.add((*path, "results", i, "value"), f'"{text}" references an unknown pipeline task')

    def inline_specs(self, parsed: Parsed, disabled: set[str]) -> None:
        """feature-flags ``disable-inline-spec``: pipeline, pipelinerun, taskrun."""
        spec = parsed.obj.get("spec") or {}
        why = "inline specs are disabled by feature-flags disable-inline-spec"
        kind = parsed.kind.kind
        if kind == "TaskRun" and "taskrun" in disabled and "taskSpec" in spec:
            self.add(("spec", "taskSpec"), why, expected="taskRef")
        if kind == "PipelineRun" and "pipelinerun" in disabled and "pipelineSpec" in spec:
            self.add(("spec", "pipelineSpec"), why, expected="pipelineRef")
        if kind == "Pipeline" and "pipeline" in disabled:
            for section in ("tasks", "finally"):
                for i, pt in enumerate(spec.get(section) or []):
                    if "taskSpec" in pt:
                        self.add(("spec", section, i, "taskSpec"), why, expected="taskRef")

    # -- runs ------------------------------------------------------------------------------
    def taskrun(self, tr: TaskRun) -> None:
        spec = tr.spec
        if bool(spec.task_ref) == bool(spec.task_spec):
            self.add(
                ("spec",),
                "expected exactly one of taskRef, taskSpec",
                found="both" if spec.task_ref else "neither",
            )
        if spec.task_spec:
            self.task_spec(("spec", "taskSpec"), spec.task_spec, check_refs=False)
        self.duration(("spec", "timeout"), spec.timeout)
        if spec.retries is not None and spec.retries < 0:
            self.add(("spec", "retries"), "retries must be >= 0")
        self.unique(("spec", "params"), [p.name for p in spec.params or []], "param name")
        for i, ws in enumerate(spec.workspaces or []):
            self.workspace_binding(("spec", "workspaces", i), ws)
        self.unique(("spec", "workspaces"), [w.name for w in spec.workspaces or []], "workspace binding")

    def pipelinerun(self, pr: PipelineRun) -> None:
        spec = pr.spec
        if bool(spec.pipeline_ref) == bool(spec.pipeline_spec):
            self.add(
                ("spec",),
                "expected exactly one of pipelineRef, pipelineSpec",
                found="both" if spec.pipeline_ref else "neither",
            )
        if spec.pipeline_spec:
            self.pipeline_spec(
                ("spec", "pipelineSpec"), spec.pipeline_spec, {w.name for w in spec.workspaces or []}
            )
        self.unique(("spec", "params"), [p.name for p in spec.params or []], "param name")
        for i, ws in enumerate(spec.workspaces or []):
            self.workspace_binding(("spec", "workspaces", i), ws)
        t = spec.timeouts
        if t:
            pipeline = self.duration(("spec", "timeouts", "pipeline"), t.pipeline)
            tasks = self.duration(("spec", "timeouts", "tasks"), t.tasks)
            fin = self.duration(("spec", "timeouts", "finally"), t.finally_)
            limit = pipeline if pipeline is not None else None
            if limit not in (None, 0.0):
                assert limit is not None
                if tasks is not None and (tasks == 0 or tasks > limit):
                    self.add(
                        ("spec", "timeouts", "tasks"),
                        f"{t.tasks} should be <= pipeline duration",
                        expected=f"<= {t.pipeline}",
                        found=f'"{t.tasks}"',
                    )
                if fin is not None and (fin == 0 or fin > limit):
                    self.add(
                        ("spec", "timeouts", "finally"),
                        f"{t.finally_} should be <= pipeline duration",
                        expected=f"<= {t.pipeline}",
                        found=f'"{t.finally_}"',
                    )
                if tasks and fin and tasks + fin > limit:
                    self.add(
                        ("spec", "timeouts"),
                        "tasks timeout + finally timeout should be <= pipeline timeout",
                        expected=f"<= {t.pipeline}",
                        found=f"{t.tasks} + {t.finally_}",
                    )
        for i, trs in enumerate(spec.task_run_specs or []):
            self.duration(("spec", "taskRunSpecs", i, "timeout"), trs.timeout)


def validate(parsed: Parsed, flags: Mapping[str, str] | None = None) -> None:
    """Raise :class:`ValidationError` if ``parsed`` breaks one of Tekton's admission rules."""
    c = Checker(flags or {})
    meta = parsed.obj.get("metadata") or {}
    name = meta.get("name")
    if name:
        c.name(("metadata", "name"), name, "name", DNS1123_SUBDOMAIN, 253)
    elif not meta.get("generateName"):
        c.add(("metadata", "name"), "name or generateName is required")
    model = parsed.model
    disabled = {x.strip() for x in str(c.flags.get("disable-inline-spec", "")).split(",") if x.strip()}
    if disabled:
        c.inline_specs(parsed, disabled)
    if isinstance(model, Task):
        c.task_spec(("spec",), model.spec, check_refs=True)
    elif isinstance(model, Pipeline):
        c.pipeline_spec(("spec",), model.spec)
    elif isinstance(model, TaskRun):
        c.taskrun(model)
    elif isinstance(model, PipelineRun):
        c.pipelinerun(model)
    elif isinstance(model, StepAction):
        if not model.spec.image:
            c.add(("spec", "image"), "required field is missing", expected="a container image")
        if model.spec.script is not None and model.spec.command:
            c.add(("spec", "script"), "script cannot be used with command")
        c.param_specs(("spec", "params"), model.spec.params)
        c.result_specs(("spec", "results"), model.spec.results)
    if c.errors:
        src = parsed.source
        if src is not None:
            for e in c.errors:
                e.line = src.line_of(e.path)
        c.errors.sort(key=lambda e: e.line or 0)
        raise ValidationError(c.errors, file=src.file if src else None, obj=describe(parsed.obj))
