"""PATCH bodies: RFC 7386 merge patch, RFC 6902 JSON patch, and strategic merge for core lists."""

from __future__ import annotations

from typing import Any

import pytest

from tektite.server.patch import apply_patch, merge_patch, strategic_merge_patch
from tektite.server.status import ApiError


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [  # examples from RFC 7386 appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_rfc7386(target: Any, patch: Any, result: Any) -> None:
    assert merge_patch(target, patch) == result


def test_strategic_merge_merges_named_lists_by_key() -> None:
    target = {"spec": {"containers": [{"name": "a", "image": "x", "env": [{"name": "K", "value": "1"}]}]}}
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [
                {"name": "a", "env": [{"name": "K2", "value": "2"}]},
                {"name": "b", "image": "y"},
            ],
        }
    }
    out = strategic_merge_patch(target, patch)
    assert out["spec"]["containers"] == [
        {"name": "a", "image": "x", "env": [{"name": "K", "value": "1"}, {"name": "K2", "value": "2"}]},
        {"name": "b", "image": "y"},
    ]
    assert "$setElementOrder/containers" not in out["spec"]


def test_strategic_merge_directives() -> None:
    target = {"secrets": [{"name": "a"}, {"name": "b"}], "meta": {"x": 1, "y": 2}, "args": ["p", "q", "r"]}
    out = strategic_merge_patch(
        target,
        {
            "secrets": [{"name": "a", "$patch": "delete"}],
            "meta": {"$patch": "replace", "z": 3},
            "$deleteFromPrimitiveList/args": ["q"],
        },
    )
    assert out == {"secrets": [{"name": "b"}], "meta": {"z": 3}, "args": ["p", "r"]}
    # a list without a merge key is replaced, as in a merge patch
    assert strategic_merge_patch({"args": ["a"]}, {"args": ["b"]}) == {"args": ["b"]}
    assert strategic_merge_patch({"data": {"k": "v"}}, {"data": {"k": None}}) == {"data": {}}


def test_json_patch_and_its_errors() -> None:
    doc = {"data": {"a": "1"}}
    ops = [{"op": "add", "path": "/data/b", "value": "2"}, {"op": "remove", "path": "/data/a"}]
    assert apply_patch("application/json-patch+json", doc, ops) == {"data": {"b": "2"}}
    assert doc == {"data": {"a": "1"}}  # the input is not changed
    with pytest.raises(ApiError) as failed:
        apply_patch("application/json-patch+json", doc, [{"op": "test", "path": "/data/a", "value": "x"}])
    assert failed.value.http_status == 422
    with pytest.raises(ApiError) as not_a_list:
        apply_patch("application/json-patch+json", doc, {"op": "add"})
    assert not_a_list.value.http_status == 400


def test_unknown_patch_type_is_415() -> None:
    with pytest.raises(ApiError) as exc:
        apply_patch("application/x-unknown-patch", {}, {"a": 1})
    assert exc.value.http_status == 415
    assert apply_patch("application/merge-patch+json; charset=utf-8", {"a": 1}, {"b": 2}) == {"a": 1, "b": 2}
