"""Tekton's variable syntax: every form in variables.md resolves, unknown ones stay verbatim."""

from __future__ import annotations

import pytest

from tektite.core.substitution import Substituter, params_first, parse_ref, references

TREE = {
    "params": {"x": "X", "arr": ["a", "b", "c"], "obj": {"k": "v", "k2": "v2"}, "a.b": "dotted"},
    "context": {"taskRun": {"name": "tr-1"}, "task": {"retry-count": "2"}},
    "tasks": {"build": {"results": {"digest": "sha256:abc", "list": ["1", "2"], "o": {"url": "u"}}}},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(params.x)", "X"),
        ("$(params['x'])", "X"),
        ('$(params["x"])', "X"),
        ("$(params['a.b'])", "dotted"),
        ("$(params.arr[1])", "b"),
        ("$(params.obj.k)", "v"),
        ("$(context.taskRun.name)-$(context.task.retry-count)", "tr-1-2"),
        ("$(tasks.build.results.digest)", "sha256:abc"),
        ("$(tasks.build.results.list[0])", "1"),
        ("$(tasks.build.results.o.url)", "u"),
        ("echo $(date +%s) $(params.x)", "echo $(date +%s) X"),
        ("$(params.missing)", "$(params.missing)"),
        ("$(params.arr[9])", "$(params.arr[9])"),
        ("no variables", "no variables"),
    ],
)
def test_string_forms(text: str, expected: str) -> None:
    assert Substituter(TREE).string(text) == expected


def test_star_expands_inside_lists_and_whole_values_take_arrays_and_objects() -> None:
    sub = Substituter(TREE)
    assert sub.list(["-v", "$(params.arr[*])", "end"]) == ["-v", "a", "b", "c", "end"]
    assert sub.value("$(params.arr[*])") == ["a", "b", "c"]
    assert sub.value("$(params.obj[*])") == {"k": "v", "k2": "v2"}
    assert sub.value("$(tasks.build.results.list[*])") == ["1", "2"]
    # inside a longer string an array cannot be placed: the reference stays
    assert sub.string("x $(params.arr[*])") == "x $(params.arr[*])"


def test_tree_substitution_keeps_structure_and_value_fields() -> None:
    spec = {"params": [{"name": "p", "value": "$(params.arr[*])"}], "args": ["$(params.arr[*])"], "n": 3}
    out = Substituter(TREE).apply(spec)
    assert out == {"params": [{"name": "p", "value": ["a", "b", "c"]}], "args": ["a", "b", "c"], "n": 3}


def test_params_first_then_other_variables_like_tekton() -> None:
    tree = {"params": {"p": "run $(context.taskRun.name)"}, "context": {"taskRun": {"name": "tr-9"}}}
    assert params_first({"script": "$(params.p)"}, tree) == {"script": "run tr-9"}


def test_parse_ref_and_references() -> None:
    assert parse_ref("params['a.b'][0]") == ("params", "a.b", 0)
    assert parse_ref("steps.step-x.exitCode.path") == ("steps", "step-x", "exitCode", "path")
    assert parse_ref("date +%s") is None
    refs = references({"a": ["$(tasks.t.results.r)", "$(params.x)"]}, root="tasks")
    assert [segs for _, segs in refs] == [("tasks", "t", "results", "r")]
