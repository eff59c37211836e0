from __future__ import annotations

import pytest

from tektite.executor.plan import WhenExpression
from tektite.executor.testkit import step
from tektite.executor.when import Tree, WhenError, add_step, should_run, substitute


def tree_with(results: dict[str, str]) -> Tree:
    tree: Tree = {}
    add_step(tree, step("produce"), results, "/tekton/steps/step-produce/exitCode")
    return tree


def test_step_results_replace_references_in_command_args_and_env() -> None:
    tree = tree_with({"out": "hello", "list": '["a", "b"]', "obj": '{"url": "x.io"}'})
    later = step(
        "use",
        command=["echo", "$(steps.produce.results.out)"],
        args=[
            "$(steps.produce.results.list[*])",
            "$(steps.step-produce.results.list[1])",
            "$(steps.produce.results.obj.url)",
            "$(steps.produce.results.missing)",
        ],
        env={"OUT": "v=$(steps.produce.results.out)", "CODE": "$(steps.step-produce.exitCode.path)"},
    )
    done = substitute(later, tree)
    assert done.command == ["echo", "hello"]
    assert done.args == ["a", "b", "b", "x.io", "$(steps.produce.results.missing)"]
    assert done.env == {"OUT": "v=hello", "CODE": "/tekton/steps/step-produce/exitCode"}


def test_shell_command_substitution_is_left_alone() -> None:
    later = step("use", args=["-c", "echo $(date) $(steps.produce.results.out)"])
    assert substitute(later, tree_with({"out": "x"})).args == ["-c", "echo $(date) x"]


@pytest.mark.parametrize(
    ("operator", "values", "expected"),
    [("in", ["yes", "y"], True), ("in", ["no"], False), ("notin", ["no"], True), ("notin", ["yes"], False)],
)
def test_when_in_and_notin(operator: str, values: list[str], expected: bool) -> None:
    tree = tree_with({"answer": "yes"})
    guarded = step("g", when=[WhenExpression("$(steps.produce.results.answer)", operator, values)])
    assert should_run(substitute(guarded, tree).when) is expected


def test_when_values_expand_array_results() -> None:
    tree = tree_with({"answer": "b", "allowed": '["a", "b"]'})
    guarded = step(
        "g",
        when=[
            WhenExpression("$(steps.produce.results.answer)", "in", ["$(steps.produce.results.allowed[*])"])
        ],
    )
    assert should_run(substitute(guarded, tree).when)


def test_all_expressions_must_hold() -> None:
    assert not should_run([WhenExpression("a", "in", ["a"]), WhenExpression("a", "in", ["b"])])
    assert should_run([])


def test_cel_guard_over_substituted_values() -> None:
    tree = tree_with({"answer": "yes"})
    guarded = step("g", when=[WhenExpression(cel="'$(steps.produce.results.answer)' == 'yes'")])
    assert should_run(substitute(guarded, tree).when)
    assert not should_run([WhenExpression(cel="'no' == 'yes'")])


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        (WhenExpression("a", "equals", ["a"]), "operator"),
        (WhenExpression(cel="x == 1"), "cel"),
        (WhenExpression(cel="'a' +"), "cel"),
        (WhenExpression(cel="'a'"), "boolean"),
    ],
)
def test_bad_guards_raise_with_the_field(expr: WhenExpression, message: str) -> None:
    with pytest.raises(WhenError, match=message):
        should_run([expr])
