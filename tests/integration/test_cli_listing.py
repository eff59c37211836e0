"""Listing runs as tkn and kubectl do: newest first, every run of the namespace however many pages
the store reads them in, and ``--last`` finds the newest without reading the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tektite.cli import common
from tektite.cli.main import main
from tektite.controller.cluster import Cluster

JSON = dict[str, Any]
DONE = {"conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}]}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Seven TaskRuns in "default" created in order (several in the same second), two elsewhere."""
    monkeypatch.setattr(common, "LIST_PAGE", 3)  # 7 runs: three pages
    cluster = Cluster(tmp_path)
    for i in range(7):
        cluster.store.create(
            {
                "apiVersion": "tekton.dev/v1",
                "kind": "TaskRun",
                "metadata": {"name": f"run-{i}"},
                "spec": {},
                "status": DONE,
            }
        )
    for i in range(2):
        cluster.store.create(
            {
                "apiVersion": "tekton.dev/v1",
                "kind": "TaskRun",
                "metadata": {"name": f"other-{i}", "namespace": "team"},
                "spec": {},
            }
        )
    cluster.close()
    return tmp_path


def names_in(table: str) -> list[str]:
    return [line.split()[0] for line in table.strip().splitlines()[1:]]


NEWEST_FIRST = [f"run-{i}" for i in reversed(range(7))]


def test_taskrun_list_is_every_run_of_the_namespace_newest_first(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--home", str(home), "taskrun", "list"]) == 0
    assert names_in(capsys.readouterr().out) == NEWEST_FIRST
    assert main(["--home", str(home), "taskrun", "list", "--limit", "2"]) == 0
    assert names_in(capsys.readouterr().out) == NEWEST_FIRST[:2]
    assert main(["--home", str(home), "-n", "team", "taskrun", "list"]) == 0
    assert names_in(capsys.readouterr().out) == ["other-1", "other-0"]


def test_get_lists_runs_newest_first_and_other_objects_by_name(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--home", str(home), "get", "taskruns"]) == 0
    assert names_in(capsys.readouterr().out) == NEWEST_FIRST
    assert main(["--home", str(home), "get", "taskruns", "-o", "name"]) == 0
    assert capsys.readouterr().out.split() == [f"taskrun.tekton.dev/{n}" for n in NEWEST_FIRST]
    assert main(["--home", str(home), "get", "taskruns", "-A", "-o", "wide"]) == 0
    listed = capsys.readouterr().out
    assert sorted(names_in(listed)) == sorted([*NEWEST_FIRST, "other-0", "other-1"]) and "NAMESPACE" in listed
    assert main(["--home", str(home), "get", "pipelineruns"]) == 0
    assert "No pipelineruns found" in capsys.readouterr().err


def test_last_is_the_newest_run(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(home), "taskrun", "describe", "--last"]) == 0
    assert "run-6" in capsys.readouterr().out.splitlines()[0]
    assert main(["--home", str(home), "-n", "empty", "taskrun", "describe", "--last"]) == 1
    assert "no TaskRuns found in namespace empty" in capsys.readouterr().err
