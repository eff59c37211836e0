"""Task, StepAction and their steps and sidecars (tekton.dev/v1)."""

from __future__ import annotations

from typing import Any, Literal

from tektite.api.base import TModel
from tektite.api.k8s import ContainerFields, ContainerPort, Lifecycle, Probe, Volume
from tektite.api.meta import ObjectMeta
from tektite.api.params import (
    Param,
    ParamSpec,
    ResolverRef,
    ResultSpec,
    StepOutputConfig,
    WhenExpression,
    WorkspaceDeclaration,
    WorkspaceUsage,
)


class Step(ContainerFields):
    name: str | None = None
    display_name: str | None = None
    script: str | None = None
    timeout: str | None = None
    workspaces: list[WorkspaceUsage] | None = None
    on_error: str | None = None  # "continue" | "stopAndFail"; may be a $(params.x) reference
    stdout_config: StepOutputConfig | None = None
    stderr_config: StepOutputConfig | None = None
    ref: ResolverRef | None = None
    params: list[Param] | None = None
    results: list[ResultSpec] | None = None
    when: list[WhenExpression] | None = None
    # Kubernetes container fields Tekton accepts but which mean nothing off a cluster.
    ports: list[ContainerPort] | None = None
    lifecycle: Lifecycle | None = None
    termination_message_path: str | None = None
    termination_message_policy: str | None = None
    stdin: bool | None = None
    stdin_once: bool | None = None
    tty: bool | None = None
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None


class StepTemplate(ContainerFields):
    name: str | None = None
    ports: list[ContainerPort] | None = None
    lifecycle: Lifecycle | None = None


class Sidecar(ContainerFields):
    name: str | None = None
    script: str | None = None
    workspaces: list[WorkspaceUsage] | None = None
    ports: list[ContainerPort] | None = None
    readiness_probe: Probe | None = None
    liveness_probe: Probe | None = None
    startup_probe: Probe | None = None
    lifecycle: Lifecycle | None = None
    termination_message_path: str | None = None
    termination_message_policy: str | None = None
    stdin: bool | None = None
    stdin_once: bool | None = None
    tty: bool | None = None
    restart_policy: str | None = None


class TaskSpec(TModel):
    params: list[ParamSpec] | None = None
    display_name: str | None = None
    description: str | None = None
    steps: list[Step] | None = None
    volumes: list[Volume] | None = None
    step_template: StepTemplate | None = None
    sidecars: list[Sidecar] | None = None
    workspaces: list[WorkspaceDeclaration] | None = None
    results: list[ResultSpec] | None = None
    # Custom-task embedded specs (taskSpec.apiVersion/kind/spec) are carried, not run.
    api_version: str | None = None
    kind: str | None = None
    spec: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class StepActionSpec(TModel):
    description: str | None = None
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[Any] | None = None
    script: str | None = None
    working_dir: str | None = None
    params: list[ParamSpec] | None = None
    results: list[ResultSpec] | None = None
    security_context: dict[str, Any] | None = None
    volume_mounts: list[dict[str, Any]] | None = None


class Task(TModel):
    api_version: str
    kind: Literal["Task", "ClusterTask"]
    metadata: ObjectMeta
    spec: TaskSpec


class StepAction(TModel):
    api_version: str
    kind: Literal["StepAction"]
    metadata: ObjectMeta
    spec: StepActionSpec
