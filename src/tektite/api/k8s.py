"""The Kubernetes core/v1 structs that Tekton embeds: containers, env, volumes, probes.

Only fields that Kubernetes defines are accepted; deep structs tektite does not interpret
(affinity, tolerations, ...) are kept as plain JSON.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tektite.api.base import TModel

Quantity = str | int | float


class KeyRef(TModel):
    name: str | None = None
    key: str
    optional: bool | None = None


class FieldRef(TModel):
    api_version: str | None = None
    field_path: str


class ResourceFieldRef(TModel):
    container_name: str | None = None
    resource: str
    divisor: Quantity | None = None


class EnvVarSource(TModel):
    secret_key_ref: KeyRef | None = None
    config_map_key_ref: KeyRef | None = None
    field_ref: FieldRef | None = None
    resource_field_ref: ResourceFieldRef | None = None
    file_key_ref: dict[str, Any] | None = None


class EnvVar(TModel):
    name: str
    value: str | None = None
    value_from: EnvVarSource | None = None


class LocalRef(TModel):
    name: str | None = None
    optional: bool | None = None


class EnvFromSource(TModel):
    prefix: str | None = None
    config_map_ref: LocalRef | None = None
    secret_ref: LocalRef | None = None


class VolumeMount(TModel):
    name: str
    mount_path: str
    read_only: bool | None = None
    sub_path: str | None = None
    sub_path_expr: str | None = None
    mount_propagation: str | None = None
    recursive_read_only: str | None = None


class VolumeDevice(TModel):
    name: str
    device_path: str


class ResourceRequirements(TModel):
    limits: dict[str, Quantity] | None = None
    requests: dict[str, Quantity] | None = None
    claims: list[dict[str, Any]] | None = None


class Capabilities(TModel):
    add: list[str] | None = None
    drop: list[str] | None = None


class SecurityContext(TModel):
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    privileged: bool | None = None
    read_only_root_filesystem: bool | None = None
    allow_privilege_escalation: bool | None = None
    capabilities: Capabilities | None = None
    se_linux_options: dict[str, Any] | None = None
    seccomp_profile: dict[str, Any] | None = None
    app_armor_profile: dict[str, Any] | None = None
    windows_options: dict[str, Any] | None = None
    proc_mount: str | None = None


class ExecAction(TModel):
    command: list[str] | None = None


class Probe(TModel):
    exec: ExecAction | None = None
    http_get: dict[str, Any] | None = None
    tcp_socket: dict[str, Any] | None = None
    grpc: dict[str, Any] | None = None
    initial_delay_seconds: int | None = None
    timeout_seconds: int | None = None
    period_seconds: int | None = None
    success_threshold: int | None = None
    failure_threshold: int | None = None
    termination_grace_period_seconds: int | None = None


class ContainerPort(TModel):
    name: str | None = None
    container_port: int
    host_port: int | None = None
    protocol: str | None = None
    host_ip: str | None = Field(default=None, alias="hostIP")


class KeyToPath(TModel):
    key: str
    path: str
    mode: int | None = None


class SecretVolumeSource(TModel):
    secret_name: str | None = None
    items: list[KeyToPath] | None = None
    default_mode: int | None = None
    optional: bool | None = None


class ConfigMapVolumeSource(TModel):
    name: str | None = None
    items: list[KeyToPath] | None = None
    default_mode: int | None = None
    optional: bool | None = None


class PVCSource(TModel):
    claim_name: str
    read_only: bool | None = None


class EmptyDirSource(TModel):
    medium: str | None = None
    size_limit: Quantity | None = None


class HostPathSource(TModel):
    path: str
    type: str | None = None


class ProjectedSource(TModel):
    secret: SecretVolumeSource | None = None
    config_map: ConfigMapVolumeSource | None = None
    downward_api: dict[str, Any] | None = Field(default=None, alias="downwardAPI")
    service_account_token: dict[str, Any] | None = None
    cluster_trust_bundle: dict[str, Any] | None = None


class ProjectedVolumeSource(TModel):
    sources: list[ProjectedSource] | None = None
    default_mode: int | None = None


class Volume(TModel):
    name: str
    empty_dir: EmptyDirSource | None = None
    secret: SecretVolumeSource | None = None
    config_map: ConfigMapVolumeSource | None = None
    persistent_volume_claim: PVCSource | None = None
    projected: ProjectedVolumeSource | None = None
    host_path: HostPathSource | None = None
    csi: dict[str, Any] | None = None
    downward_api: dict[str, Any] | None = Field(default=None, alias="downwardAPI")
    ephemeral: dict[str, Any] | None = None
    nfs: dict[str, Any] | None = None
    image: dict[str, Any] | None = None


class Lifecycle(TModel):
    post_start: dict[str, Any] | None = None
    pre_stop: dict[str, Any] | None = None
    stop_signal: str | None = None


class ContainerFields(TModel):
    """Fields shared by Kubernetes containers, Tekton steps, step templates and sidecars."""

    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    env: list[EnvVar] | None = None
    env_from: list[EnvFromSource] | None = None
    compute_resources: ResourceRequirements | None = None
    volume_mounts: list[VolumeMount] | None = None
    volume_devices: list[VolumeDevice] | None = None
    image_pull_policy: str | None = None
    security_context: SecurityContext | None = None


class PodTemplate(TModel):
    """Tekton's pod template: scheduling knobs that matter on Kubernetes only, kept as data."""

    node_selector: dict[str, str] | None = None
    env: list[EnvVar] | None = None
    tolerations: list[dict[str, Any]] | None = None
    affinity: dict[str, Any] | None = None
    security_context: dict[str, Any] | None = None
    volumes: list[Volume] | None = None
    runtime_class_name: str | None = None
    automount_service_account_token: bool | None = None
    dns_policy: str | None = None
    dns_config: dict[str, Any] | None = None
    enable_service_links: bool | None = None
    priority_class_name: str | None = None
    scheduler_name: str | None = None
    image_pull_secrets: list[dict[str, Any]] | None = None
    host_aliases: list[dict[str, Any]] | None = None
    host_network: bool | None = None
    topology_spread_constraints: list[dict[str, Any]] | None = None
