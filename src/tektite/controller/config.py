"""Tekton's ConfigMaps ``feature-flags`` and ``config-defaults``: keys, defaults, accessors.

They are read from the store, namespace ``tekton-pipelines`` first (as on a cluster), then
``default``; change them with ``tektite apply -f`` like any ConfigMap.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from tektite.core.durations import DurationError, parse_duration

CONFIG_NAMESPACES = ("tekton-pipelines", "default")

FEATURE_FLAGS_DEFAULTS: dict[str, str] = {
    "await-sidecar-readiness": "true",
    "coschedule": "workspaces",
    "disable-affinity-assistant": "false",
    "disable-creds-init": "false",
    "disable-inline-spec": "",
    "enable-api-fields": "beta",
    "enable-artifacts": "false",
    "enable-cel-in-whenexpression": "false",
    "enable-concise-resolver-syntax": "false",
    "enable-kubernetes-sidecar": "false",
    "enable-param-enum": "false",
    "enable-provenance-in-status": "true",
    "enable-step-actions": "true",
    "enable-termination-message-compression": "false",
    "enable-tekton-oci-bundles": "false",
    "enable-wait-exponential-backoff": "false",
    "enforce-nonfalsifiability": "none",
    "keep-pod-on-cancel": "false",
    # tektite stores results in its own database, not in a 4 KB termination message: the
    # per-result limit defaults to 1 MiB (Tekton's CRD ceiling is ~1.5 MB).
    "max-result-size": "1048576",
    "require-git-ssh-secret-known-hosts": "false",
    "results-from": "termination-message",
    "running-in-environment-with-injected-sidecars": "true",
    "send-cloudevents-for-runs": "false",
    "set-security-context": "false",
    "set-security-context-read-only-root-filesystem": "false",
    "trusted-resources-verification-no-match-policy": "ignore",
}

CONFIG_DEFAULTS_DEFAULTS: dict[str, str] = {
    "default-timeout-minutes": "60",
    "default-service-account": "default",
    "default-managed-by-label-value": "tekton-pipelines",
    "default-pod-template": "",
    "default-affinity-assistant-pod-template": "",
    "default-cloud-events-sink": "",
    "default-task-run-workspace-binding": "",
    "default-max-matrix-combinations-count": "256",
    "default-forbidden-env": "",
    "default-resolver-type": "",
    "default-imagepullbackoff-timeout": "0",
    "default-create-container-error-timeout": "0",
    "default-container-resource-requirements": "",
    "default-sidecar-log-polling-interval": "100ms",
    "default-step-ref-concurrency-limit": "5",
}

ALPHA_FLAGS = ("enable-cel-in-whenexpression", "enable-param-enum", "enable-artifacts")


@dataclass
class Config:
    flags: dict[str, str] = field(default_factory=lambda: dict(FEATURE_FLAGS_DEFAULTS))
    defaults: dict[str, str] = field(default_factory=lambda: dict(CONFIG_DEFAULTS_DEFAULTS))
    # values derived from the maps, each worked out once: a Config is never changed in place
    # (a changed ConfigMap makes a new one)
    memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_data(
        cls, flags: Mapping[str, str] | None = None, defaults: Mapping[str, str] | None = None
    ) -> Config:
        f = dict(FEATURE_FLAGS_DEFAULTS)
        f.update({k: str(v) for k, v in (flags or {}).items() if not k.startswith("_")})
        d = dict(CONFIG_DEFAULTS_DEFAULTS)
        d.update({k: str(v) for k, v in (defaults or {}).items() if not k.startswith("_")})
        if f.get("enable-api-fields") == "alpha":
            for key in ALPHA_FLAGS:
                if (flags or {}).get(key) is None:
                    f[key] = "true"
        return cls(f, d)

    def flag(self, name: str) -> bool:
        return self.flags.get(name, "").strip().lower() == "true"

    @property
    def default_timeout(self) -> float:
        """Seconds; 0 means no timeout."""
        try:
            return float(self.defaults["default-timeout-minutes"]) * 60
        except ValueError:
            return 3600.0

    @property
    def max_matrix_combinations(self) -> int:
        try:
            return int(self.defaults["default-max-matrix-combinations-count"])
        except ValueError:
            return 256

    @property
    def max_result_size(self) -> int:
        try:
            return int(self.flags["max-result-size"])
        except ValueError:
            return 1048576

    @property
    def default_service_account(self) -> str:
        return self.defaults.get("default-service-account") or "default"

    @property
    def default_task_run_workspace_binding(self) -> dict[str, Any] | None:
        text = self.defaults.get("default-task-run-workspace-binding") or ""
        if not text.strip():
            return None
        data = yaml.safe_load(text)
        return data if isinstance(data, dict) else None

    @property
    def default_pod_template(self) -> dict[str, Any] | None:
        text = self.defaults.get("default-pod-template") or ""
        data = yaml.safe_load(text) if text.strip() else None
        return data if isinstance(data, dict) else None

    @property
    def disabled_inline_specs(self) -> set[str]:
        return {s.strip() for s in self.flags.get("disable-inline-spec", "").split(",") if s.strip()}

    @property
    def forbidden_env(self) -> set[str]:
        return {s.strip() for s in self.defaults.get("default-forbidden-env", "").split(",") if s.strip()}

    @property
    def default_resolver_type(self) -> str:
        return self.defaults.get("default-resolver-type", "")

    def sidecar_poll_interval(self) -> float:
        try:
            return parse_duration(self.defaults["default-sidecar-log-polling-interval"])
        except (DurationError, KeyError):
            return 0.1

    def as_json(self) -> str:
        return json.dumps({"feature-flags": self.flags, "config-defaults": self.defaults}, sort_keys=True)
