"""Rerun from failure (beyond Tekton: pipeline#50): ``tektite pipelinerun rerun NAME --from-failure``
reuses the pipeline tasks that succeeded with the same Task and inputs, and runs the rest, with
the volumeClaimTemplate workspace the old run left. Everything through the CLI, as a user types it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clirun import tektite

from tektite.controller.cluster import Cluster
from tektite.core.conditions import get_condition

JSON = dict[str, Any]
REUSED = "tektite.dev/reused-taskrun"

FETCHER = """
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: fetcher}
spec:
  workspaces: [{name: src}]
  results: [{name: rev}]
  steps:
  - name: clone
    image: busybox
    script: |
      echo fetched >> $(workspaces.src.path)/fetch-count
      echo "source code" > $(workspaces.src.path)/code.txt
      echo "cloned REV"
      printf REV > $(results.rev.path)
"""
COMPILER = """
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: compiler}
spec:
  params: [{name: rev}]
  workspaces: [{name: src}]
  results: [{name: artifact}]
  steps:
  - name: compile
    image: busybox
    script: |
      echo "building $(cat $(workspaces.src.path)/code.txt), fetched $(wc -l < $(workspaces.src.path)/fetch-count) time(s)"
      BODY
"""
PIPELINE = """
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: publisher}
spec:
  params: [{name: artifact}, {name: channel}]
  steps: [{name: push, image: busybox, script: 'echo publishing $(params.artifact) to $(params.channel)'}]
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: ship}
spec:
  workspaces: [{name: src}]
  params: [{name: channel, default: stable}]
  tasks:
  - name: fetch
    taskRef: {name: fetcher}
    workspaces: [{name: src, workspace: src}]
  - name: build
    taskRef: {name: compiler}
    params: [{name: rev, value: $(tasks.fetch.results.rev)}]
    workspaces: [{name: src, workspace: src}]
  - name: publish
    taskRef: {name: publisher}
    params:
    - {name: artifact, value: $(tasks.build.results.artifact)}
    - {name: channel, value: $(params.channel)}
  finally:
  - name: notify
    taskSpec:
      steps: [{name: say, image: busybox, script: echo pipeline over}]
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: ship-1}
spec:
  pipelineRef: {name: ship}
  workspaces:
  - name: src
    volumeClaimTemplate:
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"""
BROKEN = 'echo "compiler error"; exit 1'
FIXED = 'printf "app-$(params.rev)" > $(results.artifact.path)'


def apply(home: Path, text: str) -> None:
    done = tektite(home, "apply", "-f", "-", stdin=text)
    assert done.returncode == 0, done.stderr


def newest(home: Path, kind: str, **labels: str) -> list[JSON]:
    selector = ",".join(f"{k}={v}" for k, v in labels.items()) or None
    cluster = Cluster(home)
    try:
        return cluster.store.list(kind, "default", label_selector=selector, order="-created").items
    finally:
        cluster.close()


def child(home: Path, pipelinerun: str, task: str) -> JSON:
    [found] = newest(
        home, "TaskRun", **{"tekton.dev/pipelineRun": pipelinerun, "tekton.dev/pipelineTask": task}
    )
    return found


def result(tr: JSON, name: str) -> str:
    return next(r["value"] for r in tr["status"]["results"] if r["name"] == name)


@pytest.fixture
def failed_run(tmp_path: Path) -> Path:
    """ship-1 ran: fetch succeeded, build failed (its Task is broken), publish never ran."""
    home = tmp_path / "home"
    apply(home, FETCHER.replace("REV", "abc123"))
    apply(home, COMPILER.replace("BODY", BROKEN))
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(PIPELINE)
    done = tektite(home, "run", "-f", str(pipeline))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "compiler error" in done.stdout
    return home


def test_a_fixed_task_reruns_from_failure_reusing_what_succeeded(failed_run: Path) -> None:
    home = failed_run
    old_fetch = child(home, "ship-1", "fetch")
    apply(home, COMPILER.replace("BODY", FIXED))  # the fix

    done = tektite(home, "pipelinerun", "rerun", "ship-1", "--from-failure")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "✓ task fetch: Succeeded (reused ship-1-fetch)" in done.stderr + done.stdout
    [new, old] = newest(home, "PipelineRun")[:2]
    assert old["metadata"]["name"] == "ship-1" and get_condition(old)["status"] == "False"  # left as it was
    name = new["metadata"]["name"]
    assert get_condition(new)["status"] == "True"
    assert new["metadata"]["labels"]["dashboard.tekton.dev/rerunOf"] == "ship-1"

    fetch = child(home, name, "fetch")  # did not run: its status is the old one's
    assert fetch["metadata"]["annotations"][REUSED] == "ship-1-fetch"
    assert result(fetch, "rev") == "abc123"
    assert fetch["status"]["startTime"] == old_fetch["status"]["startTime"]
    assert 'Reused TaskRun "ship-1-fetch"' in get_condition(fetch)["message"]
    for task in ("build", "publish", "notify"):  # ran
        assert REUSED not in child(home, name, task)["metadata"]["annotations"], task
    assert result(child(home, name, "build"), "artifact") == "app-abc123"

    logs = tektite(home, "pipelinerun", "logs", name)
    assert logs.returncode == 0, logs.stderr
    # the workspace fetch filled in the old run was there, and fetch wrote to it once
    assert "[build : compile] building source code, fetched 1 time(s)" in logs.stdout
    assert "[publish : push] publishing app-abc123 to stable" in logs.stdout
    assert "[fetch : clone] cloned abc123" in logs.stdout  # the reused TaskRun's logs, copied

    described = tektite(home, "pipelinerun", "describe", name)
    assert "Succeeded (reused ship-1-fetch)" in described.stdout


def test_what_a_changed_task_feeds_runs_again_and_the_rest_is_reused(failed_run: Path) -> None:
    home = failed_run
    apply(home, COMPILER.replace("BODY", FIXED))
    assert tektite(home, "pipelinerun", "rerun", "ship-1", "--from-failure").returncode == 0
    second = newest(home, "PipelineRun")[0]["metadata"]["name"]

    # nothing changed: every pipeline task is reused (from the TaskRuns that really ran)
    done = tektite(home, "pipelinerun", "rerun", second, "--from-failure", "-o", "name")
    assert done.returncode == 0, done.stdout + done.stderr
    third = done.stdout.strip().removeprefix("pipelinerun.tekton.dev/")
    assert third and third != second
    reused = {
        t: child(home, third, t)["metadata"]["annotations"].get(REUSED) for t in ("fetch", "build", "publish")
    }
    assert reused == {"fetch": "ship-1-fetch", "build": f"{second}-build", "publish": f"{second}-publish"}
    assert REUSED not in child(home, third, "notify")["metadata"]["annotations"]  # finally always runs

    # a new value for a pipeline param: only the task that takes it runs again
    done = tektite(home, "pipelinerun", "rerun", third, "--from-failure", "-p", "channel=beta", "--showlog")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[publish : push] publishing app-abc123 to beta" in done.stdout
    beta = newest(home, "PipelineRun")[0]["metadata"]["name"]
    assert child(home, beta, "build")["metadata"]["annotations"].get(REUSED) == f"{second}-build"
    assert REUSED not in child(home, beta, "publish")["metadata"]["annotations"]

    # fetch's Task changes its result: fetch runs, and build and publish, whose param changed, too
    apply(home, FETCHER.replace("REV", "def456"))
    assert tektite(home, "pipelinerun", "rerun", third, "--from-failure").returncode == 0
    fourth = newest(home, "PipelineRun")[0]["metadata"]["name"]
    for task in ("fetch", "build", "publish"):
        assert REUSED not in child(home, fourth, task)["metadata"]["annotations"], task
    assert result(child(home, fourth, "build"), "artifact") == "app-def456"

    # a plain rerun runs everything
    assert tektite(home, "pipelinerun", "rerun", fourth).returncode == 0
    fifth = newest(home, "PipelineRun")[0]
    assert "tektite.dev/reuse-pipelinerun" not in (fifth["metadata"].get("annotations") or {})
    assert REUSED not in child(home, fifth["metadata"]["name"], "fetch")["metadata"]["annotations"]


def test_what_cannot_be_rerun_from_failure_is_named(failed_run: Path, tmp_path: Path) -> None:
    home = failed_run
    done = tektite(home, "taskrun", "rerun", "ship-1-build", "--from-failure")
    assert done.returncode != 0
    assert 'was created by PipelineRun "ship-1"; rerun the PipelineRun instead' in done.stderr
    assert "Traceback" not in done.stderr

    done = tektite(home, "pipelinerun", "rerun", "nope", "--from-failure")
    assert done.returncode != 0 and "nope" in done.stderr and "Traceback" not in done.stderr

    # a PipelineRun that names a run to reuse that is not there fails at once, and says why
    orphan = tmp_path / "orphan.yaml"
    orphan.write_text(
        PIPELINE.split("---")[-1].replace(
            "name: ship-1}", "name: orphan, annotations: {tektite.dev/reuse-pipelinerun: gone}}"
        )
    )
    done = tektite(home, "run", "-f", str(orphan))
    assert done.returncode == 1
    [run] = [r for r in newest(home, "PipelineRun") if r["metadata"]["name"] == "orphan"]
    cond = get_condition(run)
    assert cond["reason"] == "CouldntGetRerunSource"
    assert 'reruns PipelineRun "gone" from failure' in cond["message"]
    assert not newest(home, "TaskRun", **{"tekton.dev/pipelineRun": "orphan"})

    # ... and so does one naming a run of another Pipeline
    other = tmp_path / "other.yaml"
    other.write_text(
        "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {name: other}\nspec:\n  tasks:\n"
        "  - {name: fetch, taskRef: {name: fetcher}}\n---\n"
        "apiVersion: tekton.dev/v1\nkind: PipelineRun\n"
        "metadata: {name: stranger, annotations: {tektite.dev/reuse-pipelinerun: ship-1}}\n"
        "spec: {pipelineRef: {name: other}}\n"
    )
    assert tektite(home, "run", "-f", str(other)).returncode == 1
    [run] = [r for r in newest(home, "PipelineRun") if r["metadata"]["name"] == "stranger"]
    assert 'ran the Pipeline "ship", not "other"' in get_condition(run)["message"]
