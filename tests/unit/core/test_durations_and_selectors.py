from __future__ import annotations

import pytest

from tektite.core.conditions import child_name
from tektite.core.durations import DurationError, format_duration, parse_duration
from tektite.core.selectors import matches, parse_selector
from tektite.errors import TektiteError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h", 3600), ("1h30m", 5400), ("90s", 90), ("0", 0), ("500ms", 0.5), ("1.5h", 5400), ("2m0s", 120)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5", "1 h", "five minutes", "1d"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(bad)


def test_go_duration_strings() -> None:
    assert format_duration(3600) == "1h0m0s"
    assert format_duration(90) == "1m30s"
    assert format_duration(0) == "0s"
    assert format_duration(1) == "1s"


def test_label_selectors() -> None:
    sel = parse_selector("app=web,tier!=db,env in (a,b),!legacy,team")
    assert matches(sel, {"app": "web", "env": "a", "team": "x"})
    assert not matches(sel, {"app": "web", "env": "c", "team": "x"})
    assert not matches(sel, {"app": "web", "env": "a", "team": "x", "legacy": "1"})
    assert not matches(sel, {"app": "web", "env": "a"})
    with pytest.raises(TektiteError, match="invalid label selector"):
        parse_selector("=value")
    assert parse_selector("") == []


def test_child_names_follow_knative_kmeta() -> None:
    # the table from pipelineruns.md
    assert child_name("pipeline-run", "-task1") == "pipeline-run-task1"
    long_task = "-task2-0123456789-0123456789-0123456789-0123456789-0123456789"
    assert (
        child_name("pipeline-run", long_task)
        == "pipeline-runee4a397d6eab67777d4e6f9991cd19e6-task2-0123456789-0"
    )
    long_pr = "pipeline-run-0123456789-0123456789-0123456789-0123456789"
    assert child_name(long_pr, "-task3") == long_pr + "-task3"
    assert child_name(long_pr, long_task) == "pipeline-run-0123456789-012345607ad8c7aac5873cdfabe472a68996b5c"
