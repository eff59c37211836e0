"""TaskRun and PipelineRun (tekton.dev/v1). Status is written by tektite and kept as JSON."""

from __future__ import annotations

from typing import Any, Literal

from tektite.api.base import TModel
from tektite.api.k8s import PodTemplate, ResourceRequirements
from tektite.api.meta import ObjectMeta
from tektite.api.params import Param, ResolverRef, WorkspaceBinding
from tektite.api.pipeline import PipelineSpec
from tektite.api.task import TaskSpec

TaskRunSpecStatus = Literal["TaskRunCancelled", "TaskRunPending"]
PipelineRunSpecStatus = Literal["Cancelled", "CancelledRunFinally", "StoppedRunFinally", "PipelineRunPending"]


class StepSpec(TModel):
    """``stepSpecs`` / ``sidecarSpecs``: per-container resource overrides."""

    name: str
    compute_resources: ResourceRequirements


class TaskRunDebug(TModel):
    breakpoints: dict[str, Any] | None = None


class TaskRunSpec(TModel):
    debug: TaskRunDebug | None = None
    params: list[Param] | None = None
    service_account_name: str | None = None
    task_ref: ResolverRef | None = None
    task_spec: TaskSpec | None = None
    status: TaskRunSpecStatus | None = None
    status_message: str | None = None
    retries: int | None = None
    timeout: str | None = None
    pod_template: PodTemplate | None = None
    workspaces: list[WorkspaceBinding] | None = None
    step_specs: list[StepSpec] | None = None
    sidecar_specs: list[StepSpec] | None = None
    compute_resources: ResourceRequirements | None = None
    managed_by: str | None = None


class TaskRun(TModel):
    api_version: str
    kind: Literal["TaskRun"]
    metadata: ObjectMeta
    spec: TaskRunSpec
    status: dict[str, Any] | None = None


class TimeoutFields(TModel):
    pipeline: str | None = None
    tasks: str | None = None
    finally_: str | None = None

    model_config = {**TModel.model_config, "alias_generator": lambda n: "finally" if n == "finally_" else n}


class TaskRunTemplate(TModel):
    service_account_name: str | None = None
    pod_template: PodTemplate | None = None


class PipelineTaskRunSpec(TModel):
    pipeline_task_name: str
    service_account_name: str | None = None
    pod_template: PodTemplate | None = None
    step_specs: list[StepSpec] | None = None
    sidecar_specs: list[StepSpec] | None = None
    metadata: dict[str, Any] | None = None
    compute_resources: ResourceRequirements | None = None
    timeout: str | None = None


class PipelineRunSpec(TModel):
    pipeline_ref: ResolverRef | None = None
    pipeline_spec: PipelineSpec | None = None
    params: list[Param] | None = None
    status: PipelineRunSpecStatus | None = None
    timeouts: TimeoutFields | None = None
    task_run_template: TaskRunTemplate | None = None
    workspaces: list[WorkspaceBinding] | None = None
    task_run_specs: list[PipelineTaskRunSpec] | None = None
    managed_by: str | None = None


class PipelineRun(TModel):
    api_version: str
    kind: Literal["PipelineRun"]
    metadata: ObjectMeta
    spec: PipelineRunSpec
    status: dict[str, Any] | None = None
