"""TriggerTemplates render params, ``$(uid)`` and labels the way Triggers' resource.go does."""

from __future__ import annotations

import pytest

from tektite.triggers.templates import (
    EVENTID_LABEL,
    EVENTLISTENER_LABEL,
    TRIGGER_LABEL,
    TemplateError,
    label,
    render,
)

TASKRUN = {
    "apiVersion": "tekton.dev/v1beta1",
    "kind": "TaskRun",
    "metadata": {"generateName": "run-$(uid)-", "labels": {"app": "$(tt.params.app)"}},
    "spec": {
        "params": [
            {"name": "p", "value": "$(tt.params.value)"},
            {"name": "q", "value": "pre-$(tt.params.app)-post"},
        ],
        "taskSpec": {"steps": [{"image": "x", "script": "echo '$(tt.params.value)'"}]},
    },
}


def test_params_land_verbatim_in_strings() -> None:
    value = 'this is "demo" body\nwith a newline and a \\ backslash'
    (obj,) = render([TASKRUN], {"value": value, "app": "web"}, uid="abcde")
    assert obj["spec"]["params"][0]["value"] == value
    assert obj["spec"]["params"][1]["value"] == "pre-web-post"
    assert obj["spec"]["taskSpec"]["steps"][0]["script"] == f"echo '{value}'"
    assert obj["metadata"]["labels"]["app"] == "web"


def test_json_objects_bound_from_the_body_stay_strings() -> None:
    (obj,) = render([TASKRUN], {"value": '{"name":"testing"}', "app": "a"}, uid="abcde")
    assert obj["spec"]["params"][0]["value"] == '{"name":"testing"}'


def test_old_escape_quotes_keeps_the_legacy_backslashes() -> None:
    (obj,) = render([TASKRUN], {"value": 'say "hi"', "app": "a"}, uid="abcde", old_escape=True)
    assert obj["spec"]["params"][0]["value"] == 'say \\"hi\\"'


def test_uid_is_shared_by_the_templates_of_one_event() -> None:
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-$(uid)"}}
    tr, cm = render([TASKRUN, other], {"value": "v", "app": "a"})
    suffix = tr["metadata"]["generateName"].removeprefix("run-").removesuffix("-")
    assert cm["metadata"]["name"] == f"cm-{suffix}"
    assert len(suffix) == 5


def test_a_param_name_that_prefixes_another_is_not_confused() -> None:
    tmpl = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x"},
        "data": {"a": "$(tt.params.a)", "ab": "$(tt.params.ab)"},
    }
    (obj,) = render([tmpl], {"a": "1", "ab": "2"})
    assert obj["data"] == {"a": "1", "ab": "2"}


def test_labels_and_namespace_defaulting() -> None:
    obj = label(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {"keep": "me"}}},
        eventlistener="el",
        trigger="trig",
        event_id="ev",
        namespace="team",
    )
    assert obj["metadata"]["namespace"] == "team"
    assert obj["metadata"]["labels"] == {
        "keep": "me",
        EVENTLISTENER_LABEL: "el",
        TRIGGER_LABEL: "trig",
        EVENTID_LABEL: "ev",
    }
    kept = label(
        {"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "other"}},
        eventlistener="el",
        trigger="t",
        event_id="ev",
        namespace="team",
    )
    assert kept["metadata"]["namespace"] == "other"


def test_label_keys_are_the_ones_triggers_code_uses() -> None:
    assert (EVENTLISTENER_LABEL, TRIGGER_LABEL, EVENTID_LABEL) == (
        "triggers.tekton.dev/eventlistener",
        "triggers.tekton.dev/trigger",
        "triggers.tekton.dev/triggers-eventid",
    )


def test_a_template_that_is_not_an_object_is_an_error() -> None:
    with pytest.raises(TemplateError):
        label({"kind": "X", "metadata": "nope"}, eventlistener="e", trigger="t", event_id="i", namespace="n")
