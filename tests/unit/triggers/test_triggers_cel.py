"""The ``cel`` interceptor: filter, overlays, and every extension function cel_expressions.md lists."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tektite.triggers import interceptors
from tektite.triggers.interceptors import Code, Env, InterceptorRequest, TriggerContext
from tektite.triggers.interceptors.base import SecretMissing
from tektite.triggers.interceptors.cel import set_path

BODY = {
    "action": "opened",
    "ref": "refs/heads/main",
    "count": 2,
    "measure": 1.7,
    "b64value": "aGVsbG8=",
    "pull_request": {"head": {"sha": "6113728f27ae82c7b1a177c8d03f9e96e0adf246"}},
    "labels": [{"name": "test-a"}, {"name": "test-b"}],
    "json": '{"testing":"value"}',
    "yaml": "key1: value1\nkey2: value2\n",
    "url": "https://user:pass@example.com/test/path?s=testing&s=more#first",
}
SECRETS = {("default", "mysecret", "token"): b"test-secret", ("other", "mysecret", "token"): b"other-secret"}


def _secrets(namespace: str, name: str, key: str) -> bytes:
    try:
        return SECRETS[(namespace, name, key)]
    except KeyError:
        raise SecretMissing(f"{namespace}/{name} has no {key}") from None


def _run(
    params: dict[str, Any], body: Any = BODY, extensions: dict[str, Any] | None = None
) -> interceptors.InterceptorResponse:
    fn = interceptors.get("cel")
    assert fn is not None
    env = Env(_secrets, httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500))))
    req = InterceptorRequest(
        json.dumps(body).encode(),
        {
            "X-Github-Event": ["pull_request"],
            "X-Secret-Token": ["test-secret"],
            "X-Test": ["test-value", "second"],
        },
        extensions or {},
        params,
        TriggerContext("http://el.example/hook/path?q=1", "ev-1", "namespaces/default/triggers/t"),
    )
    return fn(req, env)


def _value(expression: str, **kw: Any) -> Any:
    resp = _run({"overlays": [{"key": "v", "expression": expression}]}, **kw)
    assert resp.continue_, resp.message
    assert resp.extensions is not None
    return resp.extensions["v"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("body.pull_request.head.sha.truncate(7)", "6113728"),
        ("body.ref.split('/')[2]", "main"),
        ("['body', 'refs', 'main'].join('/')", "body/refs/main"),
        ("'my place'.replace('my ', ' ')", " place"),
        ("'this that another'.replace('th', ' ', 2)", " is  at another"),
        ("header.canonical('x-test')", "test-value"),
        ("header['X-Test'][1]", "second"),
        ("body.b64value.decodeb64()", "hello"),
        ("string(base64.decode(body.b64value))", "hello"),
        ("base64.decode(body.b64value) == b'hello'", True),
        ("base64.encode(b'hello')", "aGVsbG8="),
        ("body.json.parseJSON().testing", "value"),
        ("body.yaml.parseYAML().key2", "value2"),
        ("body.url.parseURL().scheme", "https"),
        ("body.url.parseURL().host", "example.com"),
        ("body.url.parseURL().path", "/test/path"),
        ("body.url.parseURL().rawQuery", "s=testing&s=more"),
        ("body.url.parseURL().fragment", "first"),
        ("body.url.parseURL().query['s']", "testing,more"),
        ("body.url.parseURL().queryStrings['s'][1]", "more"),
        ("body.url.parseURL().auth.username", "user"),
        ("requestURL.parseURL().path", "/hook/path"),
        ("body.labels.marshalJSON()", '[{"name":"test-a"},{"name":"test-b"}]'),
        ("[1, 2, 3, 4, 5].first()", 1),
        ("[1, 2, 3, 4, 5].last()", 5),
        ("'This is $an Invalid5String '.translate('[^a-z0-9]+', '')", "hisisannvalid5tring"),
        # cel_expressions.md prints this without the last "ABC", but Go's ReplaceAllString (which
        # Triggers calls) replaces the trailing space too.
        (
            "'This is $an Invalid5String '.translate('[^a-z0-9]+', 'ABC')",
            "ABChisABCisABCanABCnvalid5ABCtringABC",
        ),
        ("'refs/heads/main'.translate('refs/heads/(.*)', '$1')", "main"),
        ("'TacoCÆt Xii'.lowerAscii()", "tacocÆt xii"),
        ("'TacoCÆt Xii'.upperAscii()", "TACOCÆT XII"),
        ("body.labels.map(x, x.name.substring(x.name.lastIndexOf('-')+1))", ["a", "b"]),
        ("body.labels.filter(x, x.name.endsWith('-b'))", [{"name": "test-b"}]),
        ("body.labels.exists_one(x, x.name.startsWith('test-'))", False),
        ("body.labels.all(x, x.name.startsWith('test-'))", True),
        ("body.count + 1.0", 3.0),
        ("int(body.count) + 2", 4),
        ("body.measure * 3.0", pytest.approx(5.1)),
        ("'hello'.charAt(1)", "e"),
        ("'hello'.indexOf('l')", 2),
        ("'  hi  '.trim()", "hi"),
        ("'abc'.reverse()", "cba"),
        ("'%s has %d items'.format(['list', 3])", "list has 3 items"),
        ("strings.quote('say \"hi\"')", '"say \\"hi\\""'),
        ("sets.contains([1, 2, 3], [2, 3])", True),
        ("sets.intersects([1, 2], [3])", False),
        ("sets.equivalent([1, 2], [2, 1])", True),
        ("math.greatest(1, 5, 3)", 5),
        ("math.least([4.0, 2.0])", 2.0),
        ("[1, 2, 3, 4].slice(1, 3)", [2, 3]),
        ("[[1], [2, 3]].flatten()", [1, 2, 3]),
        ("'test-secret'.compareSecret('token', 'mysecret')", True),
        ("'test-secret'.compareSecret('token', 'mysecret', 'other')", False),
        ("header.canonical('X-Secret-Token').compareSecret('token', 'mysecret')", True),
        ("header.match('x-github-event', 'pull_request')", True),
        ("header.match('X-GitHub-Event', 'push')", False),
    ],
)
def test_expression(expression: str, expected: Any) -> None:
    assert _value(expression) == expected


def test_json_numbers_are_doubles_so_int_arithmetic_needs_a_conversion() -> None:
    assert isinstance(_value("body.count"), float)
    assert _value("body.count") == 2


def test_filter_passes_or_stops() -> None:
    assert _run({"filter": "body.action in ['opened', 'synchronize', 'reopened']"}).continue_
    resp = _run({"filter": "body.action == 'closed'"})
    assert not resp.continue_
    assert resp.code == Code.FAILED_PRECONDITION
    assert resp.message == "expression body.action == 'closed' did not return true"


def test_a_filter_that_is_not_a_bool_does_not_pass() -> None:
    assert not _run({"filter": "body.action"}).continue_


def test_evaluation_errors_say_which_expression_and_never_echo_the_request() -> None:
    resp = _run({"filter": "body.missing == 'x'"})
    assert not resp.continue_ and resp.code == Code.INVALID_ARGUMENT
    assert "body.missing == 'x'" in resp.message and "missing" in resp.message
    assert "test-secret" not in resp.message  # the activation (with headers) is not dumped
    syntax = _run({"filter": "body.action =="})
    assert not syntax.continue_ and "failed to parse" in syntax.message


def test_overlays_go_to_extensions_and_see_earlier_extensions() -> None:
    resp = _run(
        {
            "overlays": [
                {"key": "truncated_sha", "expression": "body.pull_request.head.sha.truncate(7)"},
                {"key": "extensions.nested", "expression": "extensions.previous + '!'"},
                {"key": "dotted\\.key", "expression": "'x'"},
            ]
        },
        extensions={"previous": "earlier"},
    )
    assert resp.continue_, resp.message
    assert resp.extensions == {
        "truncated_sha": "6113728",
        "extensions": {"nested": "earlier!"},
        "dotted.key": "x",
    }


def test_overlay_errors_stop_the_trigger() -> None:
    resp = _run({"overlays": [{"key": "k", "expression": "body.nope.truncate(1)"}]})
    assert not resp.continue_ and "error evaluating cel expression" in resp.message


def test_bytes_overlays_are_base64_like_go_json() -> None:
    assert _value("base64.decode(body.b64value)") == "aGVsbG8="


def test_an_empty_body_is_an_empty_object() -> None:
    fn = interceptors.get("cel")
    assert fn is not None
    req = InterceptorRequest(b"", {}, {}, {"filter": "size(body) == 0"}, TriggerContext())
    assert fn(req, Env(_secrets, httpx.Client())).continue_


def test_bad_params_are_reported() -> None:
    resp = _run({"overlays": [{"key": "k"}]})
    assert not resp.continue_ and resp.code == Code.INVALID_ARGUMENT


def test_set_path() -> None:
    target: dict[str, Any] = {"a": "scalar"}
    set_path(target, "a.b.c", 1)
    assert target == {"a": {"b": {"c": 1}}}
