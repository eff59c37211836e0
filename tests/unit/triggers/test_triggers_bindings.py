"""TriggerBinding params resolve against the event as Triggers' binding docs say they do."""

from __future__ import annotations

import json

import pytest

from tektite.api.triggers import Param, ParamSpec
from tektite.triggers.bindings import (
    BindingError,
    EventData,
    canonical_header,
    find_expressions,
    resolve_expression,
    resolve_params,
)
from tektite.triggers.gojson import marshal
from tektite.triggers.jsonpath import JSONPathError

BODY = {
    "key1": "value1",
    "key2": {"key3": "value3"},
    "key4": ["value4", "value5", "value6"],
    "count": 1503,
    "ratio": 1.5,
    "ok": True,
    "nothing": None,
    "html": "<a & b>",
    "dev.tekton.dev/foo": "triggers",
    "repository": {
        "links": {
            "clone": [
                {"href": "http://localhost:7990/scm/~test/helloworld.git", "name": "http"},
                {"href": "ssh://git@localhost:7999/~test/helloworld.git", "name": "ssh"},
            ]
        }
    },
}


@pytest.fixture()
def event() -> EventData:
    return EventData.from_pairs(
        BODY,
        [("Content-Type", "application/json"), ("X-Two", "one"), ("x-two", "two"), ("X-Two", "three")],
        {"truncated_sha": "28911bb", "nested": {"a": [1, 2]}},
        {"eventID": "ev-1"},
    )


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("body.key1", "value1"),
        (".body.key1", "value1"),
        ("{.body.key1}", "value1"),
        ("body.key2.key3", "value3"),
        ("body.key4[0]", "value4"),
        ("body.key4[-1]", "value6"),
        ("body.key4[0:2]", '["value4","value5"]'),
        ("body.key4[*]", '["value4","value5","value6"]'),
        ("body['key1']", "value1"),
        ("body.dev\\.tekton\\.dev\\/foo", "triggers"),
        (
            'body.repository.links.clone[?(@.name=="ssh")].href',
            "ssh://git@localhost:7999/~test/helloworld.git",
        ),
        ("body.repository.links.clone[?(@.name != 'ssh')].name", "http"),
        (
            "body..href",
            '["http://localhost:7990/scm/~test/helloworld.git","ssh://git@localhost:7999/~test/helloworld.git"]',
        ),
        ("extensions.truncated_sha", "28911bb"),
        ("extensions.nested", '{"a":[1,2]}'),
        ("context.eventID", "ev-1"),
    ],
)
def test_expressions(event: EventData, expr: str, expected: str) -> None:
    assert resolve_expression(event, expr) == expected


def test_non_strings_are_printed_as_go_json(event: EventData) -> None:
    assert resolve_expression(event, "body.count") == "1503"
    assert resolve_expression(event, "body.ratio") == "1.5"
    assert resolve_expression(event, "body.ok") == "true"
    assert resolve_expression(event, "body.nothing") == "null"
    # Objects: keys sorted, compact, and Go's HTML escaping.
    assert resolve_expression(event, "body.key2") == '{"key3":"value3"}'
    whole = resolve_expression(event, "body")
    assert json.loads(whole) == BODY
    assert list(json.loads(whole)) == sorted(BODY)
    assert resolve_expression(event, "body.html") == "<a & b>"  # one string result stays raw
    assert marshal({"h": "<a & b>"}) == '{"h":"\\u003ca \\u0026 b\\u003e"}'


def test_go_number_formatting() -> None:
    assert marshal(2.0) == "2"
    assert marshal(1e21) == "1e+21"
    assert marshal(1e-7) == "1e-7"
    assert marshal(0.00001) == "0.00001"
    assert marshal(123456789.25) == "123456789.25"


def test_headers_are_case_insensitive_and_multi_valued(event: EventData) -> None:
    assert resolve_expression(event, "header.content-type") == "application/json"
    assert resolve_expression(event, "header.CONTENT-TYPE") == "application/json"
    assert resolve_expression(event, "header.X-Two") == "one two three"
    assert resolve_expression(event, "header.x-two[1]") == "two"
    assert json.loads(resolve_expression(event, "header")) == {
        "Content-Type": ["application/json"],
        "X-Two": ["one", "two", "three"],
    }


@pytest.mark.parametrize(
    "expr", ["body.missing", "body.key4[7]", "header.X-Absent", "params.x", "body.key1.deeper"]
)
def test_unresolvable_expressions_raise(event: EventData, expr: str) -> None:
    with pytest.raises(JSONPathError):
        resolve_expression(event, expr)


def test_find_expressions_takes_the_innermost_and_keeps_filters_whole() -> None:
    assert find_expressions("a $(body.a) b $($(body.b)) c $($($(body.c)))") == [
        ("$(body.a)", "body.a"),
        ("$($(body.b))", "body.b"),
        ("$($($(body.c)))", "body.c"),
    ]
    text = '$(body.x[?(@.name=="s)")].href)'
    assert find_expressions(text) == [(text, text[2:-1])]
    assert find_expressions("no expressions, $(unclosed") == []


def test_resolve_params_mixes_text_and_expressions(event: EventData) -> None:
    params = [
        Param(name="msg", value="key1 is $(body.key1) and sha $(extensions.truncated_sha)"),
        Param(name="literal", value="Hello from the Triggers EventListener!"),
        Param(name="ct", value="$(header.Content-Type)"),
    ]
    assert resolve_params(params, event) == {
        "msg": "key1 is value1 and sha 28911bb",
        "literal": "Hello from the Triggers EventListener!",
        "ct": "application/json",
    }


def test_unresolved_param_falls_back_to_the_template_default(event: EventData) -> None:
    params = [Param(name="gitrevision", value="$(body.head_commit.id)")]
    specs = [ParamSpec(name="gitrevision", default="main"), ParamSpec(name="message", default="the default")]
    assert resolve_params(params, event, specs) == {"gitrevision": "main", "message": "the default"}


def test_unresolved_param_without_default_names_param_and_expression(event: EventData) -> None:
    with pytest.raises(BindingError) as info:
        resolve_params([Param(name="rev", value="$(body.head_commit.id)")], event, [ParamSpec(name="rev")])
    assert 'binding param "rev"' in str(info.value)
    assert "$(body.head_commit.id)" in str(info.value)


def test_duplicate_params_across_bindings_are_an_error(event: EventData) -> None:
    with pytest.raises(BindingError, match='duplicate param name "a"'):
        resolve_params([Param(name="a", value="1"), Param(name="a", value="2")], event)


def test_bound_values_override_defaults(event: EventData) -> None:
    out = resolve_params(
        [Param(name="message", value="$(body.key1)")], event, [ParamSpec(name="message", default="x")]
    )
    assert out == {"message": "value1"}


def test_canonical_header_names() -> None:
    assert canonical_header("x-github-event") == "X-Github-Event"
    assert canonical_header("CONTENT-TYPE") == "Content-Type"
    assert canonical_header("bad header") == "bad header"
