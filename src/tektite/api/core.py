"""Core v1 objects that back runs: Secret, ConfigMap, ServiceAccount, Namespace."""

from __future__ import annotations

from typing import Any, Literal

from tektite.api.base import TModel
from tektite.api.meta import ObjectMeta


class Secret(TModel):
    api_version: Literal["v1"]
    kind: Literal["Secret"]
    metadata: ObjectMeta
    type: str | None = None
    data: dict[str, str] | None = None
    string_data: dict[str, str] | None = None
    immutable: bool | None = None


class ConfigMap(TModel):
    api_version: Literal["v1"]
    kind: Literal["ConfigMap"]
    metadata: ObjectMeta
    data: dict[str, str] | None = None
    binary_data: dict[str, str] | None = None
    immutable: bool | None = None


class ServiceAccount(TModel):
    api_version: Literal["v1"]
    kind: Literal["ServiceAccount"]
    metadata: ObjectMeta
    secrets: list[dict[str, Any]] | None = None
    image_pull_secrets: list[dict[str, Any]] | None = None
    automount_service_account_token: bool | None = None


class Namespace(TModel):
    api_version: Literal["v1"]
    kind: Literal["Namespace"]
    metadata: ObjectMeta
    spec: dict[str, Any] | None = None
    status: dict[str, Any] | None = None


class PersistentVolumeClaim(TModel):
    """A claim is a named persistent directory in the tektite home."""

    api_version: Literal["v1"]
    kind: Literal["PersistentVolumeClaim"]
    metadata: ObjectMeta
    spec: dict[str, Any] | None = None
    status: dict[str, Any] | None = None
