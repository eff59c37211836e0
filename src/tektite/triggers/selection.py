"""Which triggers an EventListener runs, and what their bindings and templates resolve to.

As in Triggers' sink: the listener's own ``triggers`` (inline, or ``triggerRef`` to a Trigger in
the listener's namespace), then ``Trigger`` objects picked by ``namespaceSelector`` (``"*"`` is
every namespace; without it, the listener's namespace when a ``labelSelector`` is given) and
``labelSelector``. A ``triggerGroup`` selects its own Triggers the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from tektite.api.triggers import (
    LabelSelector,
    NamespaceSelector,
    Param,
    ParamSpec,
    Trigger,
    TriggerBindingSpec,
    TriggerSpec,
    TriggerTemplateSpec,
)
from tektite.errors import NotFound, TektiteError
from tektite.store.base import ALL_NAMESPACES, JSON, Store


@dataclass
class TriggerView:
    """A trigger ready to run: where it lives and its spec (inline triggers live in the listener's namespace)."""

    name: str
    namespace: str
    spec: TriggerSpec

    @property
    def trigger_id(self) -> str:
        return f"namespaces/{self.namespace}/triggers/{self.name}"


def selector_string(selector: LabelSelector | None) -> str | None:
    """A ``LabelSelector`` as the store's selector syntax (``None`` selects everything)."""
    if selector is None:
        return None
    terms = [f"{k}={v}" for k, v in sorted((selector.match_labels or {}).items())]
    for expr in selector.match_expressions or []:
        values = ",".join(expr.values or [])
        if expr.operator == "In":
            terms.append(f"{expr.key} in ({values})")
        elif expr.operator == "NotIn":
            terms.append(f"{expr.key} notin ({values})")
        elif expr.operator == "Exists":
            terms.append(expr.key)
        else:
            terms.append(f"!{expr.key}")
    return ",".join(terms) or None


def select_triggers(
    store: Store,
    default_namespace: str,
    namespaces: NamespaceSelector | None,
    labels: LabelSelector | None,
    *,
    always: bool = False,
) -> list[TriggerView]:
    """Trigger objects matching the selectors. With neither selector, none (unless ``always``)."""
    names = (namespaces.match_names if namespaces else None) or []
    selector = selector_string(labels)
    if names == ["*"]:
        scopes = [ALL_NAMESPACES]
    elif names:
        scopes = list(dict.fromkeys(names))
    elif labels is not None or always:
        scopes = [default_namespace]
    else:
        return []
    out: list[TriggerView] = []
    for scope in scopes:
        for obj in store.list("Trigger", scope, label_selector=selector).items:
            out.append(view_of(obj))
    return out


def view_of(obj: JSON) -> TriggerView:
    model = Trigger.model_validate(obj)
    meta = obj.get("metadata") or {}
    return TriggerView(str(meta.get("name", "")), str(meta.get("namespace") or "default"), model.spec)


def get_trigger(store: Store, name: str, namespace: str) -> TriggerView:
    obj = store.try_get("Trigger", name, namespace)
    if obj is None:
        raise NotFound(f'triggerRef: Trigger "{name}" not found in namespace "{namespace}"')
    return view_of(obj)


def binding_params(store: Store, trigger: TriggerView) -> list[Param]:
    """The trigger's bindings flattened to params, in order (inline and referenced)."""
    out: list[Param] = []
    for i, b in enumerate(trigger.spec.bindings or []):
        if b.ref is None:
            out.append(Param(name=b.name or "", value=b.value or ""))
            continue
        kind = b.kind or "TriggerBinding"
        ns = trigger.namespace if kind == "TriggerBinding" else None
        obj = store.try_get(kind, b.ref, ns)
        if obj is None:
            where = f' in namespace "{ns}"' if ns else ""
            raise NotFound(f'bindings[{i}]: {kind} "{b.ref}" not found{where}')
        spec = TriggerBindingSpec.model_validate(obj.get("spec") or {})
        out.extend(spec.params or [])
    return out


@dataclass
class Template:
    spec: TriggerTemplateSpec
    annotations: dict[str, str]

    @property
    def params(self) -> list[ParamSpec]:
        return self.spec.params or []


def template_of(store: Store, trigger: TriggerView) -> Template:
    tmpl = trigger.spec.template
    if tmpl is None:
        raise TektiteError(f'trigger "{trigger.name}" has no template')
    if tmpl.spec is not None:
        return Template(tmpl.spec, {})
    assert tmpl.ref is not None
    obj = store.try_get("TriggerTemplate", tmpl.ref, trigger.namespace)
    if obj is None:
        raise NotFound(f'template: TriggerTemplate "{tmpl.ref}" not found in namespace "{trigger.namespace}"')
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return Template(TriggerTemplateSpec.model_validate(obj.get("spec") or {}), dict(annotations))
