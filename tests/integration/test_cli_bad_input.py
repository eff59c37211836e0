"""Bad input: each mistake gets a clear error naming file, line, object and field, exit code 1,
no traceback, and nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from tektite.cli.main import main
from tektite.controller.cluster import Cluster

KINDS = ("Task", "Pipeline", "TaskRun", "PipelineRun", "ConfigMap", "Secret")


def snapshot(home: Path) -> dict[str, list[str]]:
    c = Cluster(home)
    try:
        return {k: sorted(o["metadata"]["name"] for o in c.store.list(k).items) for k in KINDS}
    finally:
        c.close()


def run_cli(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


def check(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    *expect: str,
    verb: tuple[str, ...] = ("apply",),
) -> str:
    home = tmp_path / "home"
    f = tmp_path / "input.yaml"
    f.write_text(text)
    before = snapshot(home)
    rc = run_cli(home, *verb, "-f", str(f))
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "Traceback" not in err
    for e in expect:
        assert e in err, f"{e!r} not in:\n{err}"
    assert snapshot(home) == before, "the store changed"
    return err


TASK_OK = """apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: good
spec:
  steps:
    - image: bash
      script: echo ok
---
"""


def test_malformed_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check(
        tmp_path,
        capsys,
        TASK_OK + "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: x\nspec: []\n",
        "input.yaml:",
        "malformed YAML",
    )


def test_unknown_field_with_did_you_mean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = check(
        tmp_path,
        capsys,
        TASK_OK
        + """apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: build
spec:
  tasks:
    - name: a
      taskRef: {name: good}
      runAfer: [b]
""",
        'input.yaml:18: Pipeline "build": spec.tasks[0].runAfer: unknown field "runAfer"',
        'did you mean "runAfter"',
    )
    assert "good" not in err


def test_wrong_param_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check(
        tmp_path,
        capsys,
        """apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: typed
spec:
  params:
    - name: flags
      type: array
      default: "--verbose"
  steps:
    - image: bash
      script: echo
""",
        'input.yaml:9: Task "typed": spec.params[0].default: default has the wrong type; expected array, found string',
    )


def test_missing_required_param_with_task_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    f = tmp_path / "t.yaml"
    f.write_text(
        TASK_OK.replace("name: good", "name: needs").replace("spec:\n", "spec:\n  params:\n    - name: who\n")
    )
    assert run_cli(home, "apply", "-f", str(f)) == 0
    before = snapshot(home)
    rc = run_cli(home, "task", "start", "needs")
    err = capsys.readouterr().err
    assert rc == 1
    assert 'Task "needs" needs params that were not given: who' in err
    assert snapshot(home) == before


def test_missing_required_param_fails_the_run_like_tekton(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    f = tmp_path / "r.yaml"
    f.write_text("""apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  generateName: needs-
spec:
  taskSpec:
    params:
      - name: who
    steps:
      - image: bash
        script: echo $(params.who)
""")
    rc = run_cli(home, "run", "-f", str(f), "--executor", "process")
    err = capsys.readouterr().err
    assert rc == 1
    assert "TaskRunValidationFailed" in err and "missing parameters: [who]" in err


def test_cycle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check(
        tmp_path,
        capsys,
        TASK_OK
        + """apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: loop
spec:
  tasks:
    - name: a
      taskRef: {name: good}
      runAfter: [b]
    - name: b
      taskRef: {name: good}
      runAfter: [a]
""",
        'Pipeline "loop": spec.tasks: invalid value: cycle detected: a -> b -> a',
    )


def test_unknown_run_after(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check(
        tmp_path,
        capsys,
        TASK_OK
        + """apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: build
spec:
  tasks:
    - name: lint
      taskRef: {name: good}
    - name: test
      taskRef: {name: good}
      runAfter: [tset]
""",
        'spec.tasks[1].runAfter[0]: pipeline task "tset" not found; expected one of: lint, test, found "tset"',
    )


def test_unknown_task_ref_is_refused_before_anything_is_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check(
        tmp_path,
        capsys,
        TASK_OK
        + """apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  generateName: r-
spec:
  taskRef:
    name: goood
""",
        'input.yaml:16: TaskRun "r-*": spec.taskRef.name: Task "goood" not found in namespace "default"',
        'did you mean "good"?',
        verb=("run",),
    )


def test_invalid_duration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check(
        tmp_path,
        capsys,
        """apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: slow
spec:
  timeouts:
    pipeline: 5 minutes
  pipelineSpec:
    tasks:
      - name: a
        taskSpec:
          steps: [{image: bash, script: echo}]
""",
        'input.yaml:7: PipelineRun "slow": spec.timeouts.pipeline: invalid duration; expected a Go duration',
        'found "5 minutes"',
    )


def test_timeouts_must_fit_the_pipeline_timeout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check(
        tmp_path,
        capsys,
        """apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: slow
spec:
  timeouts:
    pipeline: 1h
    tasks: 50m
    finally: 20m
  pipelineSpec:
    tasks:
      - name: a
        taskSpec:
          steps: [{image: bash, script: echo}]
""",
        "tasks timeout + finally timeout should be <= pipeline timeout",
    )


def test_script_with_command_and_bad_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = check(
        tmp_path,
        capsys,
        """apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: Bad_Name
spec:
  steps:
    - name: s
      image: bash
      command: [sh]
      script: echo
""",
        'Task "Bad_Name": metadata.name: invalid name',
        "spec.steps[0].script: script cannot be used with command",
    )
    assert err.count("input.yaml:") == 2


def test_unknown_kind_and_wrong_api_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check(
        tmp_path,
        capsys,
        "apiVersion: tekton.dev/v1\nkind: Pipelin\nmetadata: {name: x}\n",
        'unknown kind "Pipelin"; did you mean "Pipeline"?',
    )
    check(
        tmp_path,
        capsys,
        "apiVersion: tekton.dev/v2\nkind: Task\nmetadata: {name: x}\nspec: {}\n",
        "Task is not served at this apiVersion; expected tekton.dev/v1, tekton.dev/v1beta1",
    )


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = run_cli(tmp_path / "home", "apply", "-f", str(tmp_path / "nope.yaml"))
    assert rc == 1
    assert "nope.yaml: no such file or directory" in capsys.readouterr().err


def test_usage_errors_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing argument or unknown command gets click's usage message and exit code 2."""
    assert run_cli(tmp_path / "home", "get") == 2
    assert "Missing argument" in capsys.readouterr().err
    assert run_cli(tmp_path / "home", "nosuchcmd") == 2
    err = capsys.readouterr().err
    assert "No such command" in err and "internal error" not in err
