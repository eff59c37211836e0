"""What every formatter shares: the slice of chains-config it reads, and small builders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tektite.chains.formats.artifacts import Artifact
from tektite.chains.formats.objects import RunObject

__all__ = ["SLSA_BUILD_TYPE", "TEKTON_BUILD_TYPE", "SlsaConfig", "invocation_environment", "subject_list"]

SLSA_BUILD_TYPE = "https://tekton.dev/chains/v2/slsa"
TEKTON_BUILD_TYPE = "https://tekton.dev/chains/v2/slsa-tekton"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass(frozen=True)
class SlsaConfig:
    """``slsaconfig.SlsaConfig``: builder.id, deep inspection and build type from chains-config."""

    builder_id: str = "https://tekton.dev/chains/v2"
    deep_inspection: bool = False
    build_type: str = SLSA_BUILD_TYPE

    @classmethod
    def from_config(cls, config: Any) -> SlsaConfig:
        if isinstance(config, SlsaConfig):
            return config
        for seen, slsa in _last_from_config:
            if seen is config:  # the same (frozen) chains-config, run after run
                return slsa
        slsa = cls(
            builder_id=config.builder.id,
            deep_inspection=config.artifacts.pipelineruns.enable_deep_inspection,
            build_type=config.build_definition.build_type,
        )
        _last_from_config[:] = [(config, slsa)]
        return slsa


_last_from_config: list[tuple[object, SlsaConfig]] = []  # the last call's config and answer


def invocation_environment(run: RunObject) -> dict[str, dict[str, str]]:
    """Labels, and annotations except kubectl's last-applied copy and ``chains.tekton.dev/*``."""
    environment: dict[str, dict[str, str]] = {}
    if all_annotations := run.annotations:
        annotations = {
            k: v
            for k, v in all_annotations.items()
            if k != LAST_APPLIED_ANNOTATION and not k.startswith("chains.tekton.dev/")
        }
        if annotations:
            environment["annotations"] = annotations
    if labels := run.labels:
        environment["labels"] = labels
    return environment


def subject_list(subjects: list[Artifact]) -> list[dict[str, Any]]:
    """in-toto subjects: ``{"name", "digest"}``."""
    return [{"name": s.name, "digest": dict(s.digest)} for s in subjects]
