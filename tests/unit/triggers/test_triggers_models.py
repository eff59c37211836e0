"""Admission of triggers.tekton.dev objects: shapes Triggers' webhook rejects are rejected here,
with the field path, and v1alpha1 is stored as v1beta1."""

from __future__ import annotations

from typing import Any

import pytest

from tektite.api.loader import load_text
from tektite.api.structure import parse
from tektite.errors import ValidationError

EL = """
apiVersion: triggers.tekton.dev/v1alpha1
kind: EventListener
metadata:
  name: listener
spec:
  serviceAccountName: sa
  triggers:
    - name: t
      bindings:
        - ref: b
        - name: msg
          value: hi
      template:
        ref: tt
"""


def _parse(text: str) -> dict[str, Any]:
    (doc,) = load_text(text, "el.yaml")
    return parse(doc.obj, doc.source).obj


def _error(text: str) -> str:
    (doc,) = load_text(text, "el.yaml")
    with pytest.raises(ValidationError) as info:
        parse(doc.obj, doc.source)
    return info.value.diagnostics()


def test_v1alpha1_is_stored_as_v1beta1() -> None:
    obj = _parse(EL)
    assert obj["apiVersion"] == "triggers.tekton.dev/v1beta1"
    assert obj["spec"]["triggers"][0]["bindings"][1] == {"name": "msg", "value": "hi"}


def test_resource_templates_keep_their_raw_json_and_accept_either_spelling() -> None:
    obj = _parse(
        """
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerTemplate
metadata: {name: tt}
spec:
  params: [{name: p, default: d}]
  resourceTemplates:
    - apiVersion: tekton.dev/v1beta1
      kind: TaskRun
      metadata: {generateName: r-}
      spec: {anything: [goes, "$(tt.params.p)"]}
"""
    )
    assert obj["spec"]["resourcetemplates"][0]["spec"] == {"anything": ["goes", "$(tt.params.p)"]}


def test_a_template_using_an_undeclared_param_is_rejected() -> None:
    msg = _error(
        """
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerTemplate
metadata: {name: tt}
spec:
  params: [{name: declared}]
  resourcetemplates:
    - {apiVersion: v1, kind: ConfigMap, metadata: {name: "$(tt.params.typo)"}}
"""
    )
    assert "el.yaml:" in msg and "spec" in msg
    assert '"$(tt.params.typo)"' in msg and "declared params: declared" in msg


def test_binding_with_both_ref_and_value_is_rejected() -> None:
    msg = _error(EL.replace("- ref: b", "- ref: b\n          value: x"))
    assert "spec.triggers[0].bindings[0]" in msg and "either ref" in msg


def test_trigger_needs_a_template_or_a_ref() -> None:
    msg = _error(EL.replace("      template:\n        ref: tt\n", ""))
    assert "spec.triggers[0]" in msg and "template" in msg


def test_interceptor_needs_exactly_one_kind() -> None:
    text = EL.replace(
        "      bindings:",
        "      interceptors:\n        - ref: {name: github}\n          github: {eventTypes: [push]}\n      bindings:",
    )
    msg = _error(text)
    # (the path loses "interceptors": api/structure.py drops loc parts starting with "int")
    assert "spec.triggers[0]" in msg and "exactly one of" in msg


def test_unknown_fields_get_a_did_you_mean() -> None:
    msg = _error(EL.replace("      template:", "      templates:\n        ref: tt\n      template:"))
    assert 'unknown field "templates"' in msg and 'did you mean "template"' in msg


def test_trigger_names_must_be_label_values() -> None:
    msg = _error(EL.replace("- name: t\n", "- name: not a label!\n"))
    assert "not a valid label value" in msg


def test_binding_kind_is_checked() -> None:
    msg = _error(EL.replace("- ref: b", "- ref: b\n          kind: TriggerBindingz"))
    assert "TriggerBinding" in msg and "ClusterTriggerBinding" in msg


def test_legacy_interceptors_and_interceptor_objects_are_accepted() -> None:
    obj = _parse(
        EL.replace(
            "      bindings:",
            "      interceptors:\n        - cel: {filter: 'true'}\n        - webhook: {url: 'http://x/'}\n      bindings:",
        )
    )
    assert obj["spec"]["triggers"][0]["interceptors"][0] == {"cel": {"filter": "true"}}
    ci = _parse(
        """
apiVersion: triggers.tekton.dev/v1alpha1
kind: ClusterInterceptor
metadata: {name: mine}
spec:
  clientConfig:
    service: {name: svc, namespace: ns, port: 8081}
"""
    )
    assert ci["spec"]["clientConfig"]["service"]["port"] == 8081
    msg = _error(
        "apiVersion: triggers.tekton.dev/v1alpha1\nkind: ClusterInterceptor\nmetadata: {name: m}\n"
        "spec:\n  clientConfig: {url: 'http://a/', service: {name: s}}\n"
    )
    assert "exactly one of url or service" in msg


def test_v1alpha1_binding_named_without_value_is_a_reference() -> None:
    obj = _parse(EL.replace("        - ref: b\n", "        - name: b\n"))
    assert obj["spec"]["triggers"][0]["bindings"][0] == {"ref": "b"}
