"""Pipeline and PipelineTask (tekton.dev/v1)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tektite.api.base import TModel
from tektite.api.meta import ObjectMeta
from tektite.api.params import (
    Param,
    ParamSpec,
    PipelineResult,
    PipelineWorkspaceDeclaration,
    ResolverRef,
    WhenExpression,
    WorkspacePipelineTaskBinding,
)
from tektite.api.task import TaskSpec


class IncludeParams(TModel):
    name: str | None = None
    params: list[Param] | None = None


class Matrix(TModel):
    params: list[Param] | None = None
    include: list[IncludeParams] | None = None


class PipelineTask(TModel):
    name: str
    display_name: str | None = None
    description: str | None = None
    task_ref: ResolverRef | None = None
    task_spec: TaskSpec | None = None
    pipeline_ref: ResolverRef | None = None
    pipeline_spec: PipelineSpec | None = None
    params: list[Param] | None = None
    matrix: Matrix | None = None
    workspaces: list[WorkspacePipelineTaskBinding] | None = None
    when: list[WhenExpression] | None = None
    run_after: list[str] | None = None
    retries: int | None = None
    timeout: str | None = None
    on_error: Literal["continue", "stopAndFail"] | None = None


class PipelineSpec(TModel):
    display_name: str | None = None
    description: str | None = None
    params: list[ParamSpec] | None = None
    workspaces: list[PipelineWorkspaceDeclaration] | None = None
    tasks: list[PipelineTask] | None = None
    finally_: list[PipelineTask] | None = Field(default=None, alias="finally")
    results: list[PipelineResult] | None = None


class Pipeline(TModel):
    api_version: str
    kind: Literal["Pipeline"]
    metadata: ObjectMeta
    spec: PipelineSpec


PipelineTask.model_rebuild()
