"""Every kind tektite stores: its API group, versions, plural, short names and model."""

from __future__ import annotations

from dataclasses import dataclass, field

from tektite.api.base import TModel
from tektite.api.core import ConfigMap, Namespace, PersistentVolumeClaim, Secret, ServiceAccount
from tektite.api.pipeline import Pipeline
from tektite.api.runs import PipelineRun, TaskRun
from tektite.api.task import StepAction, Task
from tektite.api.trust import VerificationPolicy

TEKTON = "tekton.dev"
TRIGGERS = "triggers.tekton.dev"
RBAC = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Kind:
    kind: str
    group: str  # "" for core
    version: str  # the version tektite stores
    plural: str
    short_names: tuple[str, ...] = ()
    namespaced: bool = True
    model: type[TModel] | None = None
    accepted_versions: tuple[str, ...] = field(default=())

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def accepts(self, api_version: str) -> bool:
        group, _, version = api_version.rpartition("/")
        return group == self.group and (version == self.version or version in self.accepted_versions)


KINDS: dict[str, Kind] = {
    k.kind: k
    for k in [
        Kind("Task", TEKTON, "v1", "tasks", (), True, Task, ("v1beta1",)),
        Kind("ClusterTask", TEKTON, "v1beta1", "clustertasks", ("clustertask",), False, Task),
        Kind("Pipeline", TEKTON, "v1", "pipelines", (), True, Pipeline, ("v1beta1",)),
        Kind("TaskRun", TEKTON, "v1", "taskruns", ("tr",), True, TaskRun, ("v1beta1",)),
        Kind("PipelineRun", TEKTON, "v1", "pipelineruns", ("pr",), True, PipelineRun, ("v1beta1",)),
        Kind("StepAction", TEKTON, "v1", "stepactions", (), True, StepAction, ("v1beta1", "v1alpha1")),
        Kind("CustomRun", TEKTON, "v1beta1", "customruns", (), True, None),
        Kind("VerificationPolicy", TEKTON, "v1alpha1", "verificationpolicies", (), True, VerificationPolicy),
        Kind("Secret", "", "v1", "secrets", (), True, Secret),
        Kind("ConfigMap", "", "v1", "configmaps", ("cm",), True, ConfigMap),
        Kind("ServiceAccount", "", "v1", "serviceaccounts", ("sa",), True, ServiceAccount),
        Kind("Namespace", "", "v1", "namespaces", ("ns",), False, Namespace),
        Kind(
            "PersistentVolumeClaim", "", "v1", "persistentvolumeclaims", ("pvc",), True, PersistentVolumeClaim
        ),
        # RBAC objects that Tekton examples create are stored as data; tektite's own tokens and
        # roles decide access (see the server docs).
        Kind("Role", RBAC, "v1", "roles", (), True, None),
        Kind("RoleBinding", RBAC, "v1", "rolebindings", (), True, None),
        Kind("ClusterRole", RBAC, "v1", "clusterroles", (), False, None),
        Kind("ClusterRoleBinding", RBAC, "v1", "clusterrolebindings", (), False, None),
        Kind("EventListener", TRIGGERS, "v1beta1", "eventlisteners", ("el",), True, None, ("v1alpha1",)),
        Kind("TriggerBinding", TRIGGERS, "v1beta1", "triggerbindings", ("tb",), True, None, ("v1alpha1",)),
        Kind(
            "ClusterTriggerBinding",
            TRIGGERS,
            "v1beta1",
            "clustertriggerbindings",
            ("ctb",),
            False,
            None,
            ("v1alpha1",),
        ),
        Kind("TriggerTemplate", TRIGGERS, "v1beta1", "triggertemplates", ("tt",), True, None, ("v1alpha1",)),
        Kind("Trigger", TRIGGERS, "v1beta1", "triggers", ("tri",), True, None, ("v1alpha1",)),
        Kind("Interceptor", TRIGGERS, "v1alpha1", "interceptors", (), True, None),
        Kind("ClusterInterceptor", TRIGGERS, "v1alpha1", "clusterinterceptors", ("ci",), False, None),
    ]
}

RUN_KINDS = ("TaskRun", "PipelineRun")


def register(kind: Kind) -> None:
    """Add or replace a kind (used by higher layers to attach models, e.g. triggers)."""
    KINDS[kind.kind] = kind


def find_kind(name: str) -> Kind | None:
    """``pipelinerun``, ``pipelineruns``, ``pr``, ``PipelineRun``, ``pipelineruns.tekton.dev`` -> Kind."""
    key = name.lower().split(".", 1)[0]
    for k in KINDS.values():
        if key in (k.kind.lower(), k.plural, *k.short_names):
            return k
    return None


def kind_names() -> list[str]:
    return sorted(k.singular for k in KINDS.values())


from tektite.api import triggers as _triggers  # noqa: E402, F401  (attaches the triggers.tekton.dev models)
