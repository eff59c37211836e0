"""Tekton Triggers objects (``triggers.tekton.dev/v1beta1``; ``v1alpha1`` accepted and stored as v1beta1).

EventListener, Trigger, TriggerBinding, ClusterTriggerBinding, TriggerTemplate, and the
``Interceptor``/``ClusterInterceptor`` objects that name an interceptor's HTTP service. Resource
templates are kept as raw JSON: like Triggers, tektite validates what they create only when an
event creates it. ``TriggerEvent`` is tektite's own record of one event a listener received.

Importing this module registers the kinds' models in :data:`tektite.api.scheme.KINDS`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from tektite.api.base import TModel
from tektite.api.meta import ObjectMeta

TRIGGERS_GROUP = "triggers.tekton.dev"
STORED_VERSION = f"{TRIGGERS_GROUP}/v1beta1"
TEKTITE_TRIGGERS_GROUP = "triggers.tektite.dev"

CORE_INTERCEPTORS = ("bitbucket", "cel", "github", "gitlab", "slack")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_TT_PARAM = re.compile(r"\$\(tt\.params\.([^)]*)\)")


def _rule(message: str) -> PydanticCustomError:
    return PydanticCustomError("triggers_rule", message)


def _v1beta1(value: str) -> str:
    """``triggers.tekton.dev/v1alpha1`` objects are stored as v1beta1 (same fields tektite reads)."""
    if value == f"{TRIGGERS_GROUP}/v1alpha1":
        return STORED_VERSION
    return value


# -- bindings and templates ------------------------------------------------------------------------


class Param(TModel):
    """One binding param: ``value`` may hold ``$(body...)``, ``$(header...)``, ``$(extensions...)``."""

    name: str
    value: str


class ParamSpec(TModel):
    name: str
    description: str | None = None
    default: str | None = None


def _unique_names(items: list[Any] | None, what: str) -> None:
    seen: set[str] = set()
    for item in items or []:
        if item.name in seen:
            raise _rule(f'{what} "{item.name}" is declared more than once')
        seen.add(item.name)


class TriggerBindingSpec(TModel):
    params: list[Param] | None = None

    @model_validator(mode="after")
    def _names(self) -> TriggerBindingSpec:
        _unique_names(self.params, "param")
        return self


class TriggerBinding(TModel):
    api_version: str
    kind: Literal["TriggerBinding"]
    metadata: ObjectMeta
    spec: TriggerBindingSpec | None = None
    status: dict[str, Any] | None = None

    _version = field_validator("api_version")(_v1beta1)


class ClusterTriggerBinding(TModel):
    api_version: str
    kind: Literal["ClusterTriggerBinding"]
    metadata: ObjectMeta
    spec: TriggerBindingSpec | None = None
    status: dict[str, Any] | None = None

    _version = field_validator("api_version")(_v1beta1)


def template_param_references(resource: Any) -> list[str]:
    """Every ``$(tt.params.NAME)`` a resource template uses, in order of appearance."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            found.extend(_TT_PARAM.findall(node))
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(k)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(resource)
    return found


class TriggerTemplateSpec(TModel):
    params: list[ParamSpec] | None = None
    # Go decodes JSON field names case-insensitively, so ``resourceTemplates`` works in Tekton too.
    resourcetemplates: list[dict[str, Any]] | None = Field(
        default=None,
        validation_alias=AliasChoices("resourcetemplates", "resourceTemplates"),
        serialization_alias="resourcetemplates",
    )

    @model_validator(mode="after")
    def _check(self) -> TriggerTemplateSpec:
        _unique_names(self.params, "param")
        declared = [p.name for p in self.params or []]
        for i, res in enumerate(self.resourcetemplates or []):
            for key in ("apiVersion", "kind"):
                if not isinstance(res.get(key), str) or not res.get(key):
                    raise _rule(f"resourcetemplates[{i}] has no {key}; every resource template needs one")
            for ref in template_param_references(res):
                if ref not in declared:
                    names = ", ".join(declared) if declared else "none"
                    raise _rule(
                        f'resourcetemplates[{i}] uses "$(tt.params.{ref})" but params does not declare '
                        f'"{ref}"; declared params: {names}'
                    )
        return self


class TriggerTemplate(TModel):
    api_version: str
    kind: Literal["TriggerTemplate"]
    metadata: ObjectMeta
    spec: TriggerTemplateSpec | None = None
    status: dict[str, Any] | None = None

    _version = field_validator("api_version")(_v1beta1)


# -- interceptors -------------------------------------------------------------------------------------


class InterceptorRef(TModel):
    name: str
    kind: Literal["ClusterInterceptor", "NamespacedInterceptor"] | None = None
    api_version: str | None = None


class InterceptorParam(TModel):
    name: str
    value: Any = None


class WebhookHeader(TModel):
    name: str
    value: str | list[str]


class WebhookInterceptor(TModel):
    """Legacy webhook interceptor: the event is POSTed to ``url`` or the Service in ``objectRef``."""

    object_ref: dict[str, Any] | None = None
    url: str | None = None
    header: list[WebhookHeader] | None = None

    @model_validator(mode="after")
    def _target(self) -> WebhookInterceptor:
        if not self.object_ref and not self.url:
            raise _rule("a webhook interceptor needs objectRef (a Service) or url")
        return self


_LEGACY = ("github", "gitlab", "cel", "bitbucket")


class TriggerInterceptor(TModel):
    """``{name, ref, params}``, a legacy ``webhook``, or a legacy inline ``github/gitlab/cel/bitbucket``."""

    name: str | None = None
    ref: InterceptorRef | None = None
    params: list[InterceptorParam] | None = None
    webhook: WebhookInterceptor | None = None
    github: dict[str, Any] | None = None
    gitlab: dict[str, Any] | None = None
    cel: dict[str, Any] | None = None
    bitbucket: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one(self) -> TriggerInterceptor:
        set_ = [k for k in ("ref", "webhook", *_LEGACY) if getattr(self, k) is not None]
        if len(set_) != 1:
            found = ", ".join(set_) if set_ else "none of them"
            raise _rule(
                f"an interceptor needs exactly one of ref, webhook, {', '.join(_LEGACY)}; found {found}"
            )
        if self.params and self.ref is None:
            raise _rule("params can only be given with ref")
        return self

    def kind_name(self) -> tuple[str, str]:
        """``("ClusterInterceptor"|"NamespacedInterceptor"|"webhook", name)``."""
        if self.ref is not None:
            return self.ref.kind or "ClusterInterceptor", self.ref.name
        if self.webhook is not None:
            return "webhook", self.name or "webhook"
        for legacy in _LEGACY:
            if getattr(self, legacy) is not None:
                return "ClusterInterceptor", legacy
        return "ClusterInterceptor", ""  # pragma: no cover - the validator guarantees one

    def param_map(self) -> dict[str, Any]:
        """The params the interceptor receives (legacy inline fields become params, as in Triggers)."""
        for legacy in _LEGACY:
            value = getattr(self, legacy)
            if value is not None:
                return dict(value)
        return {p.name: p.value for p in self.params or []}


class ServiceReference(TModel):
    name: str
    namespace: str | None = None
    path: str | None = None
    port: int | None = None


class ClientConfig(TModel):
    url: str | None = None
    service: ServiceReference | None = None
    ca_bundle: str | None = None

    @model_validator(mode="after")
    def _one(self) -> ClientConfig:
        if (self.url is None) == (self.service is None):
            raise _rule("clientConfig needs exactly one of url or service")
        return self


class InterceptorSpec(TModel):
    client_config: ClientConfig


class ClusterInterceptor(TModel):
    api_version: str
    kind: Literal["ClusterInterceptor"]
    metadata: ObjectMeta
    spec: InterceptorSpec
    status: dict[str, Any] | None = None


class Interceptor(TModel):
    """A namespaced interceptor (referenced with ``ref.kind: NamespacedInterceptor``)."""

    api_version: str
    kind: Literal["Interceptor"]
    metadata: ObjectMeta
    spec: InterceptorSpec
    status: dict[str, Any] | None = None


# -- triggers -----------------------------------------------------------------------------------------


class TriggerSpecBinding(TModel):
    """Inline ``{name, value}`` or a reference ``{ref, kind}`` to a (Cluster)TriggerBinding."""

    name: str | None = None
    value: str | None = None
    ref: str | None = None
    kind: Literal["TriggerBinding", "ClusterTriggerBinding"] | None = None
    api_version: str | None = Field(
        default=None,
        validation_alias=AliasChoices("apiversion", "apiVersion"),
        serialization_alias="apiversion",
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy_name(cls, data: Any) -> Any:
        # v1alpha1 referenced a TriggerBinding with ``name`` alone.
        if isinstance(data, dict) and "name" in data and "value" not in data and "ref" not in data:
            data = {**data, "ref": data["name"]}
            del data["name"]
        return data

    @model_validator(mode="after")
    def _shape(self) -> TriggerSpecBinding:
        if self.ref is not None:
            if self.name is not None or self.value is not None:
                raise _rule("a binding has either ref (a TriggerBinding) or name and value, not both")
        else:
            if self.name is None or self.value is None:
                raise _rule("a binding needs ref, or both name and value")
            if self.kind is not None:
                raise _rule("kind can only be given with ref")
        return self


class TriggerSpecTemplate(TModel):
    ref: str | None = None
    api_version: str | None = Field(
        default=None,
        validation_alias=AliasChoices("apiversion", "apiVersion"),
        serialization_alias="apiversion",
    )
    spec: TriggerTemplateSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_name(cls, data: Any) -> Any:
        # v1alpha1 named the referenced template with ``name``.
        if isinstance(data, dict) and "name" in data and "ref" not in data:
            data = {**data, "ref": data["name"]}
            del data["name"]
        return data

    @model_validator(mode="after")
    def _one(self) -> TriggerSpecTemplate:
        if (self.ref is None) == (self.spec is None):
            raise _rule("a template needs exactly one of ref (a TriggerTemplate) or spec")
        return self


def _label_value(value: str | None, what: str) -> None:
    if value and (len(value) > 63 or not _LABEL_VALUE.match(value)):
        raise _rule(
            f'{what} "{value}" is not a valid label value (Triggers labels created objects with it): '
            "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )


class TriggerSpec(TModel):
    bindings: list[TriggerSpecBinding] | None = None
    template: TriggerSpecTemplate | None = None
    name: str | None = None
    interceptors: list[TriggerInterceptor] | None = None
    service_account_name: str | None = None


class EventListenerTrigger(TriggerSpec):
    trigger_ref: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> EventListenerTrigger:
        _label_value(self.name, "trigger name")
        if self.trigger_ref is not None:
            if self.template is not None or self.bindings or self.interceptors:
                raise _rule("a trigger with triggerRef cannot also have bindings, template or interceptors")
        elif self.template is None:
            raise _rule("a trigger needs a template (ref or spec) or a triggerRef")
        return self


class Trigger(TModel):
    api_version: str
    kind: Literal["Trigger"]
    metadata: ObjectMeta
    spec: TriggerSpec
    status: dict[str, Any] | None = None

    _version = field_validator("api_version")(_v1beta1)

    @model_validator(mode="after")
    def _check(self) -> Trigger:
        _label_value(self.metadata.name, "Trigger name")
        if self.spec.template is None:
            raise _rule("spec.template is required (ref or spec)")
        return self


# -- event listeners ----------------------------------------------------------------------------------


class NamespaceSelector(TModel):
    match_names: list[str] | None = None


class LabelSelectorRequirement(TModel):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None


class LabelSelector(TModel):
    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class TriggerSelector(TModel):
    namespace_selector: NamespaceSelector | None = None
    label_selector: LabelSelector | None = None


class EventListenerTriggerGroup(TModel):
    name: str | None = None
    interceptors: list[TriggerInterceptor] | None = None
    trigger_selector: TriggerSelector | None = None


class EventListenerSpec(TModel):
    service_account_name: str | None = None
    triggers: list[EventListenerTrigger] | None = None
    trigger_groups: list[EventListenerTriggerGroup] | None = None
    namespace_selector: NamespaceSelector | None = None
    label_selector: LabelSelector | None = None
    # How Kubernetes would run the sink (Deployment, Service, Knative Service): kept as data.
    resources: dict[str, Any] | None = None
    cloud_event_uri: str | None = Field(default=None, alias="cloudEventURI")
    # v1alpha1 fields that later moved under ``resources``.
    replicas: int | None = None
    pod_template: dict[str, Any] | None = None
    service_type: str | None = None


class EventListener(TModel):
    api_version: str
    kind: Literal["EventListener"]
    metadata: ObjectMeta
    spec: EventListenerSpec | None = None
    status: dict[str, Any] | None = None

    _version = field_validator("api_version")(_v1beta1)

    @model_validator(mode="after")
    def _check(self) -> EventListener:
        _label_value(self.metadata.name, "EventListener name")
        return self


class TriggerEvent(TModel):
    """tektite's record of one event: what came in, which triggers ran, what they created or why not."""

    api_version: str
    kind: Literal["TriggerEvent"]
    metadata: ObjectMeta
    spec: dict[str, Any] | None = None
    status: dict[str, Any] | None = None


def _register() -> None:
    from tektite.api.scheme import Kind, register

    alpha = ("v1alpha1",)
    for kind in (
        Kind(
            "EventListener", TRIGGERS_GROUP, "v1beta1", "eventlisteners", ("el",), True, EventListener, alpha
        ),
        Kind(
            "TriggerBinding",
            TRIGGERS_GROUP,
            "v1beta1",
            "triggerbindings",
            ("tb",),
            True,
            TriggerBinding,
            alpha,
        ),
        Kind(
            "ClusterTriggerBinding",
            TRIGGERS_GROUP,
            "v1beta1",
            "clustertriggerbindings",
            ("ctb",),
            False,
            ClusterTriggerBinding,
            alpha,
        ),
        Kind(
            "TriggerTemplate",
            TRIGGERS_GROUP,
            "v1beta1",
            "triggertemplates",
            ("tt",),
            True,
            TriggerTemplate,
            alpha,
        ),
        Kind("Trigger", TRIGGERS_GROUP, "v1beta1", "triggers", ("tri",), True, Trigger, alpha),
        Kind("Interceptor", TRIGGERS_GROUP, "v1alpha1", "interceptors", (), True, Interceptor),
        Kind(
            "ClusterInterceptor",
            TRIGGERS_GROUP,
            "v1alpha1",
            "clusterinterceptors",
            ("ci",),
            False,
            ClusterInterceptor,
        ),
        Kind(
            "TriggerEvent",
            TEKTITE_TRIGGERS_GROUP,
            "v1alpha1",
            "triggerevents",
            ("tev",),
            True,
            TriggerEvent,
        ),
    ):
        register(kind)


_register()
