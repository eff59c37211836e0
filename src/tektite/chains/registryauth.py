"""Registry credentials for a run's signatures, as Chains gathers them (k8schain).

In order, the first source wins for a registry: the run's pod template ``imagePullSecrets``, its
service account's ``imagePullSecrets``, the service account's ``secrets`` of a docker config type
(Tekton's credential init reads those), then the host's docker config
(``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``). Only Secrets of type
``kubernetes.io/dockerconfigjson`` or ``kubernetes.io/dockercfg`` are read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tektite.oci.auth import SECRET_TYPES, DockerConfig

__all__ = ["run_registry_auth", "service_account_of"]

JSON = dict[str, Any]
Getter = Callable[[str, str, str], JSON | None]


def service_account_of(run: JSON) -> str:
    spec = run.get("spec") or {}
    if run.get("kind") == "PipelineRun":
        spec = spec.get("taskRunTemplate") or {}
    return str(spec.get("serviceAccountName") or "default")


def _pod_template(run: JSON) -> JSON:
    spec = run.get("spec") or {}
    if run.get("kind") == "PipelineRun":
        spec = spec.get("taskRunTemplate") or {}
    return dict(spec.get("podTemplate") or {})


def _names(refs: Any) -> list[str]:
    return [str(r["name"]) for r in refs or [] if isinstance(r, dict) and r.get("name")]


def run_registry_auth(run: JSON, get: Getter, *, host_config: bool = True) -> DockerConfig:
    """The merged docker config for pushing ``run``'s signatures and attestations."""
    namespace = (run.get("metadata") or {}).get("namespace") or "default"
    names = _names(_pod_template(run).get("imagePullSecrets"))
    account = get("ServiceAccount", service_account_of(run), namespace)
    if account is not None:
        names += _names(account.get("imagePullSecrets")) + _names(account.get("secrets"))
    configs = []
    for name in dict.fromkeys(names):
        secret = get("Secret", name, namespace)
        if secret is not None and str(secret.get("type")) in SECRET_TYPES:
            configs.append(DockerConfig.from_secret(secret))
    if host_config:
        configs.append(DockerConfig.default())
    return DockerConfig.merged(configs)
