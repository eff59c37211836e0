"""TaskRun and PipelineRun as Chains' formatters see them (``pkg/chains/objects``).

A run is passed through the Go round trip (:mod:`tektontypes`), so every accessor reads exactly
what Chains would have after ``json.Unmarshal`` into ``tekton.dev/v1`` structs. The round trip is
lazy (:class:`~tektite.core.gotypes.goschema.Lazy`): a field is normalized when a formatter first
reads it, so a format pays only for the parts of the run it looks at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar, overload

from tektite.core.gotypes.gojson import format_timestamp, parse_timestamp
from tektite.core.gotypes.goschema import Lazy
from tektite.core.gotypes.tektontypes import PIPELINE_RUN, TASK_RUN
from tektite.errors import FieldError, ValidationError

__all__ = [
    "PIPELINE_TASK_LABEL",
    "PipelineRunObject",
    "Result",
    "RunObject",
    "TaskRunObject",
    "infer_kind",
    "load_run",
    "string_val",
]

PIPELINE_TASK_LABEL = "tekton.dev/pipelineTask"

_PIPELINE_HINTS = ("pipelineRef", "pipelineSpec", "taskRunTemplate", "timeouts", "taskRunSpecs")
_PIPELINE_STATUS_HINTS = ("pipelineSpec", "childReferences", "skippedTasks", "taskRuns", "pipelineResults")
_TASK_HINTS = ("taskRef", "taskSpec", "serviceAccountName", "stepSpecs", "sidecarSpecs")
_TASK_STATUS_HINTS = ("taskSpec", "steps", "podName", "sidecars", "taskResults")

T = TypeVar("T")


class cached_property(Generic[T]):  # a drop-in for functools.cached_property
    """``functools.cached_property`` without the lock Python 3.11 takes on every first access
    (a formatter builds these objects once per run, and reads each property once or twice)."""

    def __init__(self, fn: Callable[[Any], T]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> cached_property[T]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> T | cached_property[T]:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)  # the instance's value shadows us from now on
        return value


class Result(NamedTuple):  # immutable like a frozen dataclass, and made 1.5x faster
    """``objects.Result``: a result name and its (normalized) ``ParamValue``."""

    name: str
    value: Any

    @property
    def string_val(self) -> str:
        return string_val(self.value)

    @property
    def object_val(self) -> dict[str, str] | None:
        return self.value if isinstance(self.value, dict) else None


def string_val(value: Any) -> str:
    """``ParamValue.StringVal``: the string of a string value, ``""`` for arrays and objects."""
    return value if isinstance(value, str) else ""


def infer_kind(run: dict[str, Any], where: str = "run") -> str:
    """``TaskRun`` or ``PipelineRun``, from ``kind`` or (as in Chains' testdata) from the fields used."""
    kind = run.get("kind")
    if isinstance(kind, str) and kind:
        if kind not in ("TaskRun", "PipelineRun"):
            raise ValidationError(
                [
                    FieldError(
                        ("kind",),
                        "cannot make provenance for this kind",
                        "TaskRun or PipelineRun",
                        repr(kind),
                    )
                ],
                obj=where,
            )
        return kind
    spec: dict[str, Any] = run["spec"] if isinstance(run.get("spec"), dict) else {}
    status: dict[str, Any] = run["status"] if isinstance(run.get("status"), dict) else {}
    if any(k in spec for k in _PIPELINE_HINTS) or any(k in status for k in _PIPELINE_STATUS_HINTS):
        return "PipelineRun"
    if any(k in spec for k in _TASK_HINTS) or any(k in status for k in _TASK_STATUS_HINTS):
        return "TaskRun"
    raise ValidationError(
        [
            FieldError(
                ("kind",),
                "cannot tell whether this is a TaskRun or a PipelineRun",
                "kind: TaskRun or kind: PipelineRun",
                "no kind and no taskRef/taskSpec/pipelineRef/pipelineSpec",
            )
        ],
        obj=where,
    )


def _time(value: Any) -> tuple[datetime, int] | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


_GO_SECONDS = re.compile(r"[1-9]\d{3}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _time_text(value: Any) -> str | None:
    """A ``metav1.Time`` as ``format_timestamp(*parse_timestamp(value))`` writes it: the common
    value (UTC, to the second, as the round trip leaves it) already is that text."""
    if isinstance(value, str) and _GO_SECONDS.fullmatch(value):
        return value
    parsed = _time(value)
    return format_timestamp(*parsed) if parsed is not None else None


@dataclass
class RunObject:
    """What both run kinds share: metadata, results, provenance, times."""

    fields: Lazy  # the run after the Go round trip, normalized as it is read
    where: str = "run"
    # Read up front: every format reads all three (and a struct field always reads as a Lazy).
    metadata: Lazy = field(init=False, repr=False, compare=False)
    spec: Lazy = field(init=False, repr=False, compare=False)
    status: Lazy = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        get = self.fields.get
        self.metadata, self.spec, self.status = get("metadata"), get("spec"), get("status")

    @property
    def data(self) -> dict[str, Any]:
        """The whole run after the Go round trip, as plain JSON."""
        return self.fields.plain()

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def uid(self) -> str:
        return str(self.metadata.get("uid", ""))

    @property
    def labels(self) -> dict[str, str] | None:
        labels = self.metadata.get("labels")
        return dict(labels) if labels else None

    def label(self, key: str) -> str | None:
        """One label's value (``labels`` without the copy, for lookups)."""
        labels = self.metadata.get("labels")
        return labels.get(key) if labels else None

    @property
    def annotations(self) -> dict[str, str] | None:
        annotations = self.metadata.get("annotations")
        return dict(annotations) if annotations else None

    def results(self) -> list[Result]:
        return list(self._results)

    @cached_property
    def _results(self) -> tuple[Result, ...]:
        return tuple([Result(r["name"], r["value"]) for r in self.status.get("results") or []])

    @property
    def provenance(self) -> Mapping[str, Any] | None:
        return self.status.get("provenance")  # type: ignore[no-any-return]

    @property
    def ref_source(self) -> Mapping[str, Any] | None:
        prov = self.provenance
        return prov.get("refSource") if prov is not None else None

    @cached_property
    def start_time(self) -> tuple[datetime, int] | None:
        return _time(self.status.get("startTime"))

    @cached_property
    def completion_time(self) -> tuple[datetime, int] | None:
        return _time(self.status.get("completionTime"))

    @property
    def start_text(self) -> str | None:
        """``status.startTime`` as Go writes it back (RFC 3339, UTC); None when absent or invalid."""
        return _time_text(self.status.get("startTime"))

    @property
    def completion_text(self) -> str | None:
        return _time_text(self.status.get("completionTime"))


@dataclass
class TaskRunObject(RunObject):
    kind: str = "TaskRun"

    def step_results(self) -> list[Result]:
        """``GetStepResults``: the results StepActions wrote, step by step."""
        return [
            Result(r["name"], r["value"])
            for s in self.status.get("steps") or []
            for r in s.get("results") or []
        ]

    @cached_property
    def task_spec(self) -> Mapping[str, Any] | None:
        return self.status.get("taskSpec")  # type: ignore[no-any-return]

    def task_spec_field(self, name: str) -> Any:
        """``status.taskSpec.<name>``; None without a taskSpec (no ``(task_spec or {})``, which
        would have to find a field that is set to tell whether the spec is empty)."""
        spec = self.task_spec
        return None if spec is None else spec.get(name)

    def is_remote(self) -> bool:
        ref = self.spec.get("taskRef") or {}
        return ref.get("resolver", "") not in ("", "Cluster")


@dataclass
class PipelineRunObject(RunObject):
    kind: str = "PipelineRun"
    task_runs: list[TaskRunObject] = field(default_factory=list)

    @property
    def pipeline_spec(self) -> Mapping[str, Any] | None:
        return self.status.get("pipelineSpec")  # type: ignore[no-any-return]

    def pipeline_tasks(self) -> list[dict[str, Any]]:
        spec = self.pipeline_spec or {}
        return [*(spec.get("tasks") or []), *(spec.get("finally") or [])]

    def task_run_from_task(self, task_name: str) -> TaskRunObject | None:
        """``GetTaskRunFromTask``: the first child labelled with this pipeline task."""
        runs = self.task_runs_from_task(task_name)
        return runs[0] if runs else None

    def task_runs_from_task(self, task_name: str) -> list[TaskRunObject]:
        """``GetTaskRunsFromTask``: every child labelled with this pipeline task (matrix fan-out)."""
        return [tr for tr in self.task_runs if tr.label(PIPELINE_TASK_LABEL) == task_name]

    def executed_tasks(self) -> list[TaskRunObject]:
        """``GetExecutedTasks``: completed children, in pipeline (then finally) task order."""
        out: list[TaskRunObject] = []
        for task in self.pipeline_tasks():
            out.extend(tr for tr in self.task_runs_from_task(task.get("name", "")) if tr.completion_time)
        return out

    def is_remote(self) -> bool:
        ref = self.spec.get("pipelineRef") or {}
        return ref.get("resolver", "") not in ("", "Cluster")


def load_run(
    run: dict[str, Any], child_taskruns: list[dict[str, Any]] | None = None, where: str = "run"
) -> TaskRunObject | PipelineRunObject:
    """``run`` (and a PipelineRun's children) as read through the Go round trip."""
    if not isinstance(run, dict):
        raise ValidationError(
            [FieldError((), "a run must be a JSON object", "object", type(run).__name__)], obj=where
        )
    kind = infer_kind(run, where)
    if kind == "TaskRun":
        return TaskRunObject(TASK_RUN.lazy(run), where)
    children = []
    for i, child in enumerate(child_taskruns or []):
        child_where = f"{where}: child TaskRun #{i + 1}"
        if not isinstance(child, dict):
            raise ValidationError(
                [FieldError((), "a child TaskRun must be a JSON object", "object", type(child).__name__)],
                obj=child_where,
            )
        if infer_kind(child, child_where) != "TaskRun":
            raise ValidationError(
                [
                    FieldError(
                        ("kind",), "a child of a PipelineRun must be a TaskRun", "TaskRun", "PipelineRun"
                    )
                ],
                obj=child_where,
            )
        children.append(TaskRunObject(TASK_RUN.lazy(child), child_where))
    return PipelineRunObject(PIPELINE_RUN.lazy(run), where, task_runs=children)
