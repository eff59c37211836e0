"""Base model for Tekton/Kubernetes objects: camelCase aliases, unknown fields rejected."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class TModel(BaseModel):
    """A Kubernetes-style struct: JSON keys are camelCase, unknown keys are an error."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_default=False,
        ser_json_inf_nan="constants",
        defer_build=True,
    )

    def dump(self) -> dict[str, Any]:
        """The JSON form Kubernetes would show: camelCase keys, unset fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Loose(BaseModel):
    """A Kubernetes struct tektite passes through without interpreting every field."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)


JSON = dict[str, Any]
