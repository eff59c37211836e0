"""Params, results, workspaces and refs: the small structs shared by Tasks, Pipelines and runs."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from tektite.api.base import TModel


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return value


def _param_value(value: Any) -> Any:
    """Tekton's ParamValue.UnmarshalJSON: arrays of strings, string maps, else a string."""
    if isinstance(value, list):
        return [_scalar(v) if not isinstance(v, list | dict) else json.dumps(v) for v in value]
    if isinstance(value, dict):
        return {
            str(k): _scalar(v) if not isinstance(v, list | dict) else json.dumps(v) for k, v in value.items()
        }
    if value is None:
        return ""
    return _scalar(value)


ParamValue = Annotated[str | list[str] | dict[str, str], BeforeValidator(_param_value)]
ParamType = Literal["string", "array", "object"]


def value_type(value: str | list[str] | dict[str, str]) -> ParamType:
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


class PropertySpec(TModel):
    type: Literal["string"] | None = None


class ParamSpec(TModel):
    name: str
    type: ParamType | None = None
    description: str | None = None
    properties: dict[str, PropertySpec] | None = None
    default: ParamValue | None = None
    enum: list[str] | None = None

    @property
    def effective_type(self) -> ParamType:
        if self.type:
            return self.type
        if self.properties:
            return "object"
        if self.default is not None:
            return value_type(self.default)
        return "string"


class Param(TModel):
    name: str
    value: ParamValue


class ResultSpec(TModel):
    """A Task result or a step result declaration."""

    name: str
    type: ParamType | None = None
    properties: dict[str, PropertySpec] | None = None
    description: str | None = None
    value: ParamValue | None = None

    @property
    def effective_type(self) -> ParamType:
        if self.type:
            return self.type
        return "object" if self.properties else "string"


class PipelineResult(TModel):
    name: str
    type: ParamType | None = None
    description: str | None = None
    value: ParamValue


class WorkspaceDeclaration(TModel):
    name: str
    description: str | None = None
    mount_path: str | None = None
    read_only: bool | None = None
    optional: bool | None = None


class WorkspaceUsage(TModel):
    """A step's or sidecar's use of a Task workspace (isolated workspaces)."""

    name: str
    mount_path: str | None = None


class PipelineWorkspaceDeclaration(TModel):
    name: str
    description: str | None = None
    optional: bool | None = None


class WorkspacePipelineTaskBinding(TModel):
    name: str
    workspace: str | None = None
    sub_path: str | None = None


class WorkspaceBinding(TModel):
    name: str
    sub_path: str | None = None
    empty_dir: dict[str, Any] | None = None
    persistent_volume_claim: dict[str, Any] | None = None
    volume_claim_template: dict[str, Any] | None = None
    config_map: dict[str, Any] | None = None
    secret: dict[str, Any] | None = None
    projected: dict[str, Any] | None = None
    csi: dict[str, Any] | None = None

    def source_kinds(self) -> list[str]:
        return [
            k
            for k in (
                "emptyDir",
                "persistentVolumeClaim",
                "volumeClaimTemplate",
                "configMap",
                "secret",
                "projected",
                "csi",
            )
            if getattr(self, _SNAKE[k]) is not None
        ]


_SNAKE = {
    "emptyDir": "empty_dir",
    "persistentVolumeClaim": "persistent_volume_claim",
    "volumeClaimTemplate": "volume_claim_template",
    "configMap": "config_map",
    "secret": "secret",
    "projected": "projected",
    "csi": "csi",
}


class ResolverRef(TModel):
    """``taskRef`` / ``pipelineRef`` / step ``ref``: by name, or through a resolver."""

    name: str | None = None
    kind: str | None = None
    api_version: str | None = None
    resolver: str | None = None
    params: list[Param] | None = None
    bundle: str | None = None  # v1beta1 only; converted to the bundles resolver


class WhenExpression(TModel):
    input: str | None = None
    operator: Literal["in", "notin"] | None = None
    values: list[str] | None = None
    cel: str | None = Field(default=None, alias="cel")


class StepOutputConfig(TModel):
    path: str | None = None
