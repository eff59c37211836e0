"""tkn's verbs as a user types them: ``task|pipeline start`` with the re-run and preview flags
(``--last``, ``--use-pipelinerun``/``--use-taskrun``, ``--dry-run``, ``-o``, ``-l``, the pipeline
timeouts, ``--task-serviceaccount``, ``--pod-template``), ``task|pipeline logs`` and ``export``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clirun import tektite

from tektite.controller.cluster import Cluster

JSON = dict[str, Any]

OBJECTS = """
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: greet}
spec:
  params: [{name: who}, {name: times, default: "1"}]
  workspaces: [{name: scratch, optional: true}]
  steps: [{name: hi, image: busybox, script: 'echo hello $(params.who) x$(params.times)'}]
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: hello}
spec:
  params: [{name: who}]
  workspaces: [{name: shared}]
  tasks:
  - name: greet
    taskRef: {name: greet}
    params: [{name: who, value: $(params.who)}]
    workspaces: [{name: scratch, workspace: shared}]
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: other}
spec:
  tasks:
  - name: greet
    taskRef: {name: greet}
    params: [{name: who, value: nobody}]
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "objects.yaml").write_text(OBJECTS)
    done = tektite(tmp_path / "home", "apply", "-f", str(tmp_path / "objects.yaml"))
    assert done.returncode == 0, done.stderr
    return tmp_path / "home"


def runs(home: Path, kind: str) -> list[JSON]:
    cluster = Cluster(home)
    try:
        return cluster.store.list(kind, "default", order="-created").items
    finally:
        cluster.close()


def params(run: JSON) -> dict[str, Any]:
    return {p["name"]: p["value"] for p in run["spec"].get("params") or []}


def test_pipeline_start_last_reruns_with_the_newest_runs_values_and_flags_win(home: Path) -> None:
    first = tektite(
        home, "pipeline", "start", "hello", "-p", "who=ann", "-w", "name=shared,emptyDir=",
        "-l", "team=blue", "--executor", "process", "--showlog",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "[greet : hi] hello ann x1" in first.stdout
    [earlier] = runs(home, "PipelineRun")
    assert earlier["metadata"]["labels"]["team"] == "blue"

    again = tektite(home, "pipeline", "start", "hello", "--last", "--executor", "process", "--showlog")
    assert again.returncode == 0, again.stderr
    assert f"re-running with the values of pipelinerun/{earlier['metadata']['name']}" in again.stderr
    assert "[greet : hi] hello ann x1" in again.stdout  # no -p: the earlier run's param
    newest = runs(home, "PipelineRun")[0]
    assert newest["metadata"]["name"] != earlier["metadata"]["name"]
    assert newest["spec"]["workspaces"] == [{"name": "shared", "emptyDir": {}}]

    third = tektite(
        home, "pipeline", "start", "hello", "--use-pipelinerun", earlier["metadata"]["name"],
        "-p", "who=bob", "--executor", "process", "-o", "name",
    )  # fmt: skip
    assert third.returncode == 0, third.stderr
    newest = runs(home, "PipelineRun")[0]
    assert third.stdout.strip() == f"pipelinerun.tekton.dev/{newest['metadata']['name']}"
    assert params(newest) == {"who": "bob"}  # -p over the copied value
    assert (newest["status"]["conditions"][0]["reason"]) == "Succeeded"


def test_a_rerun_names_what_it_cannot_copy(home: Path) -> None:
    none_yet = tektite(home, "pipeline", "start", "hello", "--last")
    assert none_yet.returncode == 1
    assert 'no PipelineRun of the Pipeline "hello" in namespace "default" to re-run' in none_yet.stderr
    assert "start it once without --last" in none_yet.stderr

    other = tektite(home, "pipeline", "start", "other", "--executor", "process")
    assert other.returncode == 0, other.stderr
    name = runs(home, "PipelineRun")[0]["metadata"]["name"]
    wrong = tektite(home, "pipeline", "start", "hello", "--use-pipelinerun", name)
    assert wrong.returncode == 1
    assert f'PipelineRun "{name}" is not a run of the Pipeline "hello"' in wrong.stderr
    both = tektite(home, "pipeline", "start", "other", "--last", "--use-pipelinerun", name)
    assert both.returncode == 1 and "give one of them" in both.stderr
    for done in (none_yet, wrong, both):
        assert "Traceback" not in done.stderr
    assert len(runs(home, "PipelineRun")) == 1


def test_task_start_last_takes_a_run_the_user_started_not_a_pipelines(home: Path) -> None:
    mine = tektite(home, "task", "start", "greet", "-p", "who=cy", "-p", "times=3", "--executor", "process")
    assert mine.returncode == 0, mine.stderr
    piped = tektite(home, "pipeline", "start", "other", "--executor", "process")
    assert piped.returncode == 0, piped.stderr
    assert len(runs(home, "TaskRun")) == 2  # the pipeline's child is the newest

    again = tektite(home, "task", "start", "greet", "--last", "--executor", "process", "--showlog")
    assert again.returncode == 0, again.stderr
    assert "[hi] hello cy x3" in again.stdout


def test_dry_run_prints_the_run_checked_and_creates_nothing(home: Path, tmp_path: Path) -> None:
    (tmp_path / "pod.yaml").write_text(
        "nodeSelector: {disk: ssd}\nenv: [{name: HTTP_PROXY, value: 'http://proxy:3128'}]\n"
    )
    done = tektite(
        home, "pipeline", "start", "hello", "-p", "who=dee", "-w", "name=shared,emptyDir=", "--dry-run",
        "-o", "json", "--pipeline-timeout", "30m", "--tasks-timeout", "20m", "--finally-timeout", "5m",
        "--task-serviceaccount", "greet=builder", "-s", "runner", "--pod-template", str(tmp_path / "pod.yaml"),
        "--prefix-name", "preview",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["kind"] == "PipelineRun" and run["metadata"]["generateName"] == "preview-run-"
    assert run["spec"]["timeouts"] == {"pipeline": "30m", "tasks": "20m", "finally": "5m"}
    assert run["spec"]["taskRunSpecs"] == [{"pipelineTaskName": "greet", "serviceAccountName": "builder"}]
    assert run["spec"]["taskRunTemplate"] == {
        "serviceAccountName": "runner",
        "podTemplate": {
            "nodeSelector": {"disk": "ssd"},
            "env": [{"name": "HTTP_PROXY", "value": "http://proxy:3128"}],
        },
    }
    assert runs(home, "PipelineRun") == []

    missing = tektite(home, "pipeline", "start", "hello", "--dry-run")
    assert missing.returncode == 1 and "needs params that were not given: who" in missing.stderr
    bad_timeout = tektite(home, "task", "start", "greet", "-p", "who=x", "--dry-run", "--timeout", "soon")
    assert bad_timeout.returncode == 1 and "soon" in bad_timeout.stderr
    assert "Traceback" not in missing.stderr + bad_timeout.stderr


def test_start_flags_with_bad_values_say_what_is_expected(home: Path, tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    cases = [
        (("task", "start", "greet", "-p", "who=x", "-o", "table"), 'unknown --output "table"'),
        (
            ("task", "start", "greet", "-p", "who=x", "--pod-template", str(tmp_path / "nope.yaml")),
            "cannot read",
        ),
        (
            ("task", "start", "greet", "-p", "who=x", "--pod-template", str(tmp_path / "list.yaml")),
            "found list",
        ),
        (("task", "start", "greet", "-p", "who=x", "--tasks-timeout", "1m"), "apply to pipeline start"),
        (("task", "start", "greet", "-p", "who=x", "-l", "nolabel"), 'invalid label "nolabel"'),
    ]
    for args, message in cases:
        done = tektite(home, *args)
        assert done.returncode == 1, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert runs(home, "TaskRun") == []


def test_pipeline_logs_shows_its_newest_run_or_the_one_named(home: Path) -> None:
    none_yet = tektite(home, "pipeline", "logs", "hello")
    assert none_yet.returncode == 1
    assert 'no PipelineRun of the Pipeline "hello" in namespace "default"' in none_yet.stderr
    for who in ("ann", "bob"):
        done = tektite(
            home, "pipeline", "start", "hello", "-p", f"who={who}", "-w", "name=shared,emptyDir=",
            "--executor", "process",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    newest, older = (r["metadata"]["name"] for r in runs(home, "PipelineRun"))

    shown = tektite(home, "pipeline", "logs", "hello")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "[greet : hi] hello bob x1"
    assert f"pipelinerun/{newest} (the newest of pipeline/hello" in shown.stderr
    last = tektite(home, "pipeline", "logs", "hello", "--last")
    assert last.stdout == shown.stdout and last.stderr == ""
    named = tektite(home, "pipeline", "logs", "hello", older)
    assert named.stdout.strip() == "[greet : hi] hello ann x1"

    other = tektite(home, "pipeline", "start", "other", "--executor", "process")
    assert other.returncode == 0, other.stderr
    stranger = runs(home, "PipelineRun")[0]["metadata"]["name"]
    refused = tektite(home, "pipeline", "logs", "hello", stranger)
    assert refused.returncode == 1
    assert f'PipelineRun "{stranger}" is not a run of the Pipeline "hello"' in refused.stderr
    task_logs = tektite(home, "task", "logs", "greet", "--last")
    assert task_logs.stdout.strip() == "[hi] hello nobody x1"


def test_export_leaves_what_belongs_to_the_run_that_happened(home: Path, tmp_path: Path) -> None:
    started = tektite(
        home, "task", "start", "greet", "-p", "who=eve", "-l", "team=red", "--executor", "process"
    )
    assert started.returncode == 0, started.stderr
    [run] = runs(home, "TaskRun")
    assert (
        run["metadata"]["annotations"]["chains.tekton.dev/signed"] == "true"
    )  # signed by the embedded Chains

    exported = tektite(home, "taskrun", "export", run["metadata"]["name"])
    assert exported.returncode == 0, exported.stderr
    import yaml

    obj = yaml.safe_load(exported.stdout)
    assert obj["metadata"] == {"generateName": "greet-run-", "labels": {"team": "red"}}
    assert "status" not in obj and "chains.tekton.dev" not in exported.stdout
    assert {p["name"]: p["value"] for p in obj["spec"]["params"]} == {"who": "eve"}

    (tmp_path / "again.yaml").write_text(exported.stdout)
    again = tektite(home, "run", "-f", str(tmp_path / "again.yaml"), "--executor", "process")
    assert again.returncode == 0, again.stderr  # created again: a new name, the same values
    assert "[hi] hello eve x1" in again.stdout
    newest = runs(home, "TaskRun")[0]
    assert newest["metadata"]["name"] != run["metadata"]["name"]
    assert newest["metadata"]["labels"]["team"] == "red"
    pipeline = yaml.safe_load(tektite(home, "pipeline", "export", "hello").stdout)
    assert pipeline["metadata"] == {"name": "hello"}
    assert pipeline["spec"]["tasks"][0]["taskRef"] == {"name": "greet"}


def test_describe_shows_a_definition_and_its_newest_runs(home: Path) -> None:
    before = tektite(home, "pipeline", "describe", "hello")
    assert before.returncode == 0, before.stderr
    lines = before.stdout.splitlines()
    assert lines[0].split() == ["Name:", "hello"]
    assert any(
        ln.split() == ["∙", "who", "string", "---", "---"] for ln in lines
    )  # name, type, description, default
    assert any(ln.split() == ["∙", "shared", "---", "false"] for ln in lines)  # the workspace, not optional
    assert any(
        ln.split() == ["∙", "greet", "greet", "---", "---"] for ln in lines
    )  # task, taskRef, runAfter, timeout
    assert "No pipelineruns" in before.stdout

    done = tektite(
        home,
        "pipeline",
        "start",
        "hello",
        "-p",
        "who=fay",
        "-w",
        "name=shared,emptyDir=",
        "--executor",
        "process",
    )
    assert done.returncode == 0, done.stderr
    [run] = runs(home, "PipelineRun")
    after = tektite(home, "pipeline", "describe", "hello")
    row = next(ln for ln in after.stdout.splitlines() if run["metadata"]["name"] in ln)
    assert row.split()[-1] == "Succeeded"

    task = tektite(home, "task", "describe", "greet").stdout
    assert any(ln.split() == ["∙", "times", "string", "---", "1"] for ln in task.splitlines())  # its default
    assert any(ln.split() == ["∙", "hi", "busybox"] for ln in task.splitlines())  # the step and its image
    as_yaml = tektite(home, "task", "describe", "greet", "-o", "yaml")
    import yaml

    assert yaml.safe_load(as_yaml.stdout)["spec"]["params"][0] == {"name": "who"}
    bad = tektite(home, "task", "describe", "greet", "-o", "table")
    assert bad.returncode == 1 and 'unknown --output "table"; expected yaml or json' in bad.stderr


def test_workspace_flags_take_tkns_forms_and_name_a_mistake(home: Path, tmp_path: Path) -> None:
    (tmp_path / "vct.yaml").write_text(
        "spec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n"
    )
    cases = {
        "name=shared,config=rpg,item=ultima=1,item=b=c": {
            "name": "shared",
            "configMap": {
                "name": "rpg",
                "items": [{"key": "ultima", "path": "1"}, {"key": "b", "path": "c"}],
            },
        },
        "name=shared,secret=creds,subPath=dir": {
            "name": "shared",
            "subPath": "dir",
            "secret": {"secretName": "creds"},
        },
        f"name=shared,volumeClaimTemplateFile={tmp_path / 'vct.yaml'}": {
            "name": "shared",
            "volumeClaimTemplate": {
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
            },
        },
        "name=shared,emptyDir=Memory": {"name": "shared", "emptyDir": {"medium": "Memory"}},
        "name=shared,cache=npm-$(params.who),fallbackKey=npm-main,fallbackKey=npm-,cachePolicy=pull": {
            "name": "shared",
            "csi": {
                "driver": "cache.tektite.dev",
                "volumeAttributes": {
                    "key": "npm-$(params.who)",
                    "fallbackKeys": "npm-main,npm-",
                    "policy": "pull",
                },
            },
        },
    }
    for flag, binding in cases.items():
        done = tektite(
            home, "pipeline", "start", "hello", "-p", "who=x", "-w", flag, "--dry-run", "-o", "json"
        )
        assert done.returncode == 0, (flag, done.stderr)
        assert json.loads(done.stdout)["spec"]["workspaces"] == [binding], flag
    for flag, message in [
        ("name=shared,claimname=pvc", 'unknown part "claimname=pvc"'),
        ("name=shared,claimName=pvc,secret=s", "one source per workspace, found claimName, secret"),
        ("claimName=pvc", "name=WS is required"),
        ("name=shared,emptyDir=,fallbackKey=npm-", "fallbackKey and cachePolicy apply to cache="),
    ]:
        done = tektite(home, "pipeline", "start", "hello", "-p", "who=x", "-w", flag, "--dry-run")
        assert done.returncode == 1 and message in done.stderr, (flag, done.stderr)


def test_list_logs_by_task_and_delete_with_runs(home: Path) -> None:
    for who in ("gus", "hal"):
        done = tektite(
            home,
            "pipeline",
            "start",
            "hello",
            "-p",
            f"who={who}",
            "-w",
            "name=shared,emptyDir=",
            "--executor",
            "process",
        )
        assert done.returncode == 0, done.stderr
    newest, older = (r["metadata"]["name"] for r in runs(home, "PipelineRun"))
    listed = tektite(home, "pipelinerun", "list", "-A", "--reverse", "--no-headers").stdout.splitlines()
    assert [line.split()[:2] for line in listed] == [["default", older], ["default", newest]]
    names = tektite(home, "pipelinerun", "list", "-o", "name").stdout.split()
    assert names == [f"pipelinerun.tekton.dev/{newest}", f"pipelinerun.tekton.dev/{older}"]

    only = tektite(home, "pipelinerun", "logs", newest, "--task", "greet")
    assert only.stdout.strip() == "[greet : hi] hello hal x1"
    none = tektite(home, "pipelinerun", "logs", newest, "--task", "nothing-by-that-name")
    assert none.returncode == 0 and none.stdout == ""

    refused = tektite(home, "task", "delete", "greet", "no-such-task")
    assert refused.returncode == 1 and 'Task "no-such-task" not found' in refused.stderr
    assert tektite(home, "task", "describe", "greet").returncode == 0  # nothing went
    gone = tektite(home, "pipeline", "delete", "hello", "--prs")
    assert gone.returncode == 0, gone.stderr
    assert f'PipelineRun "{newest}" deleted' in gone.stdout and 'Pipeline "hello" deleted' in gone.stdout
    assert runs(home, "PipelineRun") == [] and runs(home, "TaskRun") == []  # its TaskRuns went with them


def test_start_f_runs_a_definition_from_a_file_or_url_without_storing_it(home: Path, tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    site = tmp_path / "site"
    site.mkdir()
    (site / "task.yaml").write_text(
        "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: remote-greet}\n"
        "spec:\n  params: [{name: who}]\n  steps: [{name: hi, image: busybox, script: 'echo hi $(params.who)'}]\n"
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/task.yaml"
        for source in (str(site / "task.yaml"), url):
            done = tektite(
                home,
                "task",
                "start",
                "-f",
                source,
                "-p",
                "who=jo",
                "--showlog",
                "-E",
                "--executor",
                "process",
            )
            assert done.returncode == 0, done.stderr
            assert "[hi] hi jo" in done.stdout
        missing = tektite(home, "task", "start", "-f", url.replace("task.yaml", "gone.yaml"))
        assert missing.returncode == 1 and "cannot fetch" in missing.stderr and "404" in missing.stderr
    finally:
        server.shutdown()
        server.server_close()
    made = runs(home, "TaskRun")
    assert len(made) == 2 and all(r["metadata"]["generateName"] == "remote-greet-run-" for r in made)
    assert (
        made[0]["spec"]["taskSpec"]["steps"][0]["script"] == "echo hi $(params.who)"
    )  # embedded, as tkn does
    cluster = Cluster(home)
    try:
        assert cluster.store.try_get("Task", "remote-greet", "default") is None  # not stored
    finally:
        cluster.close()
    for args, message in [
        (("task", "start"), "name the Task to start, or give -f FILE (one of them)"),
        (("task", "start", "greet", "-f", str(site / "task.yaml")), "one of them"),
        (("pipeline", "start", "-f", str(site / "task.yaml")), "expected one Pipeline, found 0"),
        (("task", "start", "-f", str(site / "task.yaml"), "--last"), "-f embeds the file's"),
    ]:
        done = tektite(home, *args)
        assert done.returncode == 1 and message in done.stderr, (args, done.stderr)


def test_logs_of_failed_tasks_without_prefix_and_delete_by_pipeline_or_label(
    home: Path, tmp_path: Path
) -> None:
    (tmp_path / "mixed.yaml").write_text(
        """apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: mixed}
spec:
  tasks:
  - name: fine
    taskSpec: {steps: [{name: s, image: busybox, script: echo all good}]}
  - name: broken
    taskSpec: {steps: [{name: s, image: busybox, script: 'echo it broke; exit 3'}]}
"""
    )
    assert tektite(home, "apply", "-f", str(tmp_path / "mixed.yaml")).returncode == 0
    assert (
        tektite(home, "pipeline", "start", "mixed", "-l", "team=red", "--executor", "process").returncode == 1
    )
    assert (
        tektite(home, "pipeline", "start", "other", "-l", "team=red", "--executor", "process").returncode == 0
    )
    assert tektite(home, "pipeline", "start", "other", "--executor", "process").returncode == 0
    mixed = next(
        r for r in runs(home, "PipelineRun") if r["metadata"]["labels"]["tekton.dev/pipeline"] == "mixed"
    )
    name = mixed["metadata"]["name"]

    failed = tektite(home, "pipelinerun", "logs", name, "--log-failed")
    assert failed.stdout.strip() == "[broken : s] it broke"
    bare = tektite(home, "pipelinerun", "logs", name, "--prefix=false", "-E")
    assert sorted(bare.stdout.splitlines()) == ["all good", "it broke"]
    assert bare.returncode == 1  # -E: the run failed
    ok = tektite(home, "pipelinerun", "logs", "--last", "-E", "-a")
    assert ok.returncode == 0 and "[greet : hi] hello nobody x1" in ok.stdout
    described = tektite(home, "pipelinerun", "describe", name, "-o", "json")
    assert json.loads(described.stdout)["status"]["conditions"][0]["reason"] == "Failed"
    wrong = tektite(home, "pipelinerun", "logs", name, "--prefix=maybe")
    assert wrong.returncode == 1 and '--prefix takes true or false, found "maybe"' in wrong.stderr

    both = tektite(home, "pipelinerun", "delete", name, "-p", "mixed")
    assert both.returncode == 1 and "not both" in both.stderr
    gone = tektite(home, "pipelinerun", "delete", "-p", "mixed", "-f")
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout.strip() == f'PipelineRun "{name}" deleted'
    left = runs(home, "PipelineRun")
    assert [r["metadata"]["labels"]["tekton.dev/pipeline"] for r in left] == ["other", "other"]
    red = tektite(home, "pipelinerun", "delete", "--label", "team=red")
    assert red.returncode == 0, red.stderr
    [kept] = runs(home, "PipelineRun")
    assert "team" not in kept["metadata"]["labels"]
    assert len(runs(home, "TaskRun")) == 1
    assert tektite(home, "taskrun", "delete", "-t", "no-such-task").returncode == 0
    assert len(runs(home, "TaskRun")) == 1
    assert tektite(home, "taskrun", "delete", "-t", "greet").returncode == 0
    assert runs(home, "TaskRun") == []
