"""Listing runs as tkn and kubectl do: newest first, every run of the namespace however many pages
the store reads them in, and ``--last`` finds the newest without reading the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tektite.cli import objects, runs
from tektite.cli.main import main
from tektite.controller.cluster import Cluster

JSON = dict[str, Any]
DONE = {"conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}]}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Seven TaskRuns in "default" created in order (several in the same second), two elsewhere."""
    for module in (runs, objects):  # 7 runs: three pages
        monkeypatch.setattr(module, "LIST_PAGE", 3)
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


def listed(home: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """What ``tektite --home HOME ARGS`` prints on stdout; it must succeed."""
    assert main(["--home", str(home), *args]) == 0
    return capsys.readouterr().out


def test_taskrun_list_is_every_run_of_the_namespace_newest_first(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert names_in(listed(home, capsys, "taskrun", "list")) == NEWEST_FIRST
    assert names_in(listed(home, capsys, "taskrun", "list", "--limit", "2")) == NEWEST_FIRST[:2]
    assert names_in(listed(home, capsys, "-n", "team", "taskrun", "list")) == ["other-1", "other-0"]


def test_get_lists_runs_newest_first_and_other_objects_by_name(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert names_in(listed(home, capsys, "get", "taskruns")) == NEWEST_FIRST
    assert listed(home, capsys, "get", "taskruns", "-o", "name").split() == [
        f"taskrun.tekton.dev/{n}" for n in NEWEST_FIRST
    ]
    wide = listed(home, capsys, "get", "taskruns", "-A", "-o", "wide")
    assert sorted(names_in(wide)) == sorted([*NEWEST_FIRST, "other-0", "other-1"]) and "NAMESPACE" in wide
    assert main(["--home", str(home), "get", "pipelineruns"]) == 0
    assert "No pipelineruns found" in capsys.readouterr().err


def test_last_is_the_newest_run(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "run-6" in listed(home, capsys, "taskrun", "describe", "--last").splitlines()[0]
    assert main(["--home", str(home), "-n", "empty", "taskrun", "describe", "--last"]) == 1
    assert "no TaskRuns found in namespace empty" in capsys.readouterr().err
