"""What a Kubernetes REST path names: kind, version, namespace, object, subresource.

``/api/v1/namespaces/{ns}/configmaps/{name}``, ``/apis/tekton.dev/v1/pipelineruns`` (every
namespace), ``/apis/triggers.tekton.dev/v1beta1/clustertriggerbindings/{name}``,
``/apis/tekton.dev/v1/namespaces/{ns}/pipelineruns/{name}/status`` ...
"""

from __future__ import annotations

from dataclasses import dataclass

from tektite.api.scheme import KINDS, Kind
from tektite.server import discovery
from tektite.server.status import ApiError
from tektite.store.base import ALL_NAMESPACES

SUBRESOURCES = ("status", "log")


@dataclass(frozen=True)
class Target:
    kind: Kind
    group: str
    version: str
    namespace: str | None  # None: cluster-scoped kind, or a namespaced kind across all namespaces
    name: str | None = None
    subresource: str | None = None

    @property
    def store_namespace(self) -> str | None:
        if not self.kind.namespaced:
            return None
        return self.namespace if self.namespace is not None else ALL_NAMESPACES

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def _not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def parse_target(group: str, version: str, segments: list[str]) -> Target:
    """``segments`` are the path parts after ``/api/v1`` or ``/apis/{group}/{version}``."""
    if not segments or any(not s for s in segments):
        raise _not_found()
    namespace: str | None = None
    rest = segments
    if segments[0] == "namespaces" and len(segments) >= 3:
        namespace, rest = segments[1], segments[2:]
    plural, name, sub = rest[0], rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None
    if len(rest) > 3:
        raise _not_found()
    kind = discovery.lookup(group, version, plural)
    if kind is None:
        raise _not_found()
    if namespace is not None and not kind.namespaced:
        raise _not_found()
    if sub is not None and (sub not in SUBRESOURCES or (sub == "log" and kind.kind not in _LOG_KINDS)):
        raise _not_found()
    if kind.kind == "Namespace" and name is None and namespace is not None:
        raise _not_found()
    return Target(kind, group, version, namespace, name, sub)


_LOG_KINDS = ("TaskRun", "PipelineRun")


def kind_named(kind: str) -> Kind:
    found = KINDS.get(kind)
    if found is None:
        raise _not_found()
    return found
