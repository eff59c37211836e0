"""Tekton's run semantics through the real engine, store and executor: retries, timeouts,
cancellation, pending runs, when/skip rules, onError, result references, finally, cleanup."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tektite.controller.cluster import Cluster
from tektite.controller.manager import Engine
from tektite.core.conditions import get_condition
from tektite.executor import select_executor

JSON = dict[str, Any]


def load(text: str) -> list[JSON]:
    return [d for d in yaml.safe_load_all(text) if d]


async def _run(
    home: Path, text: str, *, during: Callable[[Cluster, JSON], Any] | None = None, timeout: float = 60
) -> tuple[Cluster, list[JSON]]:
    cluster = Cluster(home)
    engine = Engine(cluster, select_executor("process")[0])
    await engine.start()
    try:
        runs = []
        for obj in load(text):
            stored = cluster.store.create(cluster.admit(obj).obj)
            if stored["kind"] in ("TaskRun", "PipelineRun"):
                runs.append(stored)
        if during is not None:
            for r in runs:
                res = during(cluster, r)
                if asyncio.iscoroutine(res):
                    await res
        final = [await asyncio.wait_for(engine.wait(r["kind"], r["metadata"]["name"]), timeout) for r in runs]
        return cluster, final
    finally:
        await engine.stop()


def run(home: Path, text: str, **kw: Any) -> tuple[Cluster, list[JSON]]:
    return asyncio.run(_run(home, text, **kw))


def cond(obj: JSON) -> JSON:
    return get_condition(obj) or {}


def children(cluster: Cluster, pr: JSON) -> dict[str, JSON]:
    items = cluster.store.list(
        "TaskRun", label_selector=f"tekton.dev/pipelineRun={pr['metadata']['name']}"
    ).items
    return {i["metadata"]["labels"]["tekton.dev/pipelineTask"]: i for i in items}


def skipped(pr: JSON) -> dict[str, str]:
    return {s["name"]: s["reason"] for s in pr["status"].get("skippedTasks") or []}


def test_retries_record_each_failed_attempt(tmp_path: Path) -> None:
    _, [tr] = run(
        tmp_path,
        """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: flaky}
spec:
  retries: 2
  taskSpec:
    steps:
      - image: bash
        script: |
          echo attempt $(context.task.retry-count)
          exit 1
""",
    )
    assert cond(tr)["reason"] == "Failed"
    assert len(tr["status"]["retriesStatus"]) == 2
    assert all(get_condition({"status": s})["status"] == "False" for s in tr["status"]["retriesStatus"])


def test_retry_that_succeeds(tmp_path: Path) -> None:
    _, [tr] = run(
        tmp_path,
        """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: second-time-lucky}
spec:
  retries: 3
  taskSpec:
    steps:
      - image: bash
        script: '[ "$(context.task.retry-count)" = 1 ] || exit 1'
""",
    )
    assert cond(tr)["reason"] == "Succeeded"
    assert len(tr["status"]["retriesStatus"]) == 1


def test_taskrun_timeout_kills_the_step(tmp_path: Path) -> None:
    _, [tr] = run(
        tmp_path,
        """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: slow}
spec:
  timeout: 1s
  taskSpec:
    steps:
      - image: bash
        script: sleep 30
""",
    )
    c = cond(tr)
    assert (c["status"], c["reason"]) == ("False", "TaskRunTimeout")
    assert c["message"] == 'TaskRun "slow" failed to finish within "1s"'


def test_step_timeout_and_on_error_continue(tmp_path: Path) -> None:
    _, [tr] = run(
        tmp_path,
        """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: steps}
spec:
  taskSpec:
    steps:
      - name: fails-but-continues
        image: bash
        onError: continue
        script: exit 7
      - name: reads-exit-code
        image: bash
        script: test "$(cat $(steps.step-fails-but-continues.exitCode.path))" = 7
""",
    )
    assert cond(tr)["reason"] == "Succeeded"
    steps = {s["name"]: s for s in tr["status"]["steps"]}
    assert steps["fails-but-continues"]["terminated"]["exitCode"] == 7
    assert steps["fails-but-continues"]["terminationReason"] == "Continued"


def test_pipelinerun_tasks_timeout_still_runs_finally(tmp_path: Path) -> None:
    _, [pr] = run(
        tmp_path,
        """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: tasks-timeout}
spec:
  timeouts: {pipeline: 1m, tasks: 1s}
  pipelineSpec:
    tasks:
      - name: slow
        taskSpec: {steps: [{image: bash, script: sleep 30}]}
    finally:
      - name: cleanup
        taskSpec: {steps: [{image: bash, script: echo cleaning}]}
""",
    )
    assert cond(pr)["status"] == "False"
    assert pr["status"]["childReferences"][-1]["pipelineTaskName"] == "cleanup"


def test_pipeline_timeout(tmp_path: Path) -> None:
    _, [pr] = run(
        tmp_path,
        """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: pipe-timeout}
spec:
  timeouts: {pipeline: 1s}
  pipelineSpec:
    tasks:
      - name: slow
        taskSpec: {steps: [{image: bash, script: sleep 30}]}
""",
    )
    assert (cond(pr)["reason"], cond(pr)["message"]) == (
        "PipelineRunTimeout",
        'PipelineRun "pipe-timeout" failed to finish within "1s"',
    )


def _cancel(value: str, delay: float = 0.5) -> Callable[[Cluster, JSON], Any]:
    async def do(cluster: Cluster, run_obj: JSON) -> None:
        await asyncio.sleep(delay)
        obj = cluster.store.get(run_obj["kind"], run_obj["metadata"]["name"])
        obj["spec"]["status"] = value
        cluster.store.update(obj)

    return do


PIPE_WITH_FINALLY = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: cancel-me}
spec:
  pipelineSpec:
    tasks:
      - name: slow
        taskSpec: {steps: [{image: bash, script: sleep 30}]}
      - name: after
        runAfter: [slow]
        taskSpec: {steps: [{image: bash, script: echo never}]}
    finally:
      - name: report
        taskSpec: {steps: [{image: bash, script: echo reported}]}
"""


def test_cancelled_runs_no_finally(tmp_path: Path) -> None:
    cluster, [pr] = run(tmp_path, PIPE_WITH_FINALLY, during=_cancel("Cancelled"))
    assert (cond(pr)["reason"], cond(pr)["message"]) == ("Cancelled", 'PipelineRun "cancel-me" was cancelled')
    assert "report" not in children(cluster, pr)


def test_cancelled_run_finally(tmp_path: Path) -> None:
    cluster, [pr] = run(tmp_path, PIPE_WITH_FINALLY, during=_cancel("CancelledRunFinally"))
    assert cond(pr)["reason"] == "Cancelled"
    kids = children(cluster, pr)
    assert cond(kids["slow"])["reason"] == "TaskRunCancelled"
    assert cond(kids["report"])["reason"] == "Succeeded"
    # the cancelled task makes the run stop scheduling; Tekton checks "stopping" before "gracefully cancelled"
    assert skipped(pr)["after"] in ("PipelineRun was stopping", "PipelineRun was gracefully cancelled")


def test_stopped_run_finally_lets_running_tasks_finish(tmp_path: Path) -> None:
    text = PIPE_WITH_FINALLY.replace("sleep 30", "sleep 1")
    cluster, [pr] = run(tmp_path, text, during=_cancel("StoppedRunFinally", 0.3))
    kids = children(cluster, pr)
    assert cond(kids["slow"])["reason"] == "Succeeded"
    assert "after" not in kids
    assert cond(kids["report"])["reason"] == "Succeeded"
    assert cond(pr)["reason"] == "Cancelled"


def test_pending_taskrun_starts_when_cleared(tmp_path: Path) -> None:
    async def check_then_clear(cluster: Cluster, tr: JSON) -> None:
        await asyncio.sleep(0.5)
        obj = cluster.store.get("TaskRun", tr["metadata"]["name"])
        assert cond(obj)["reason"] == "TaskRunPending"
        assert "startTime" not in obj["status"]
        del obj["spec"]["status"]
        cluster.store.update(obj)

    _, [tr] = run(
        tmp_path,
        """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: waiting}
spec:
  status: TaskRunPending
  taskSpec: {steps: [{image: bash, script: echo go}]}
""",
        during=check_then_clear,
    )
    assert cond(tr)["reason"] == "Succeeded"


def test_when_false_skips_only_the_guarded_task_pipeline_7680(tmp_path: Path) -> None:
    cluster, [pr] = run(
        tmp_path,
        """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: guarded}
spec:
  pipelineSpec:
    tasks:
      - name: guarded
        when: [{input: "a", operator: in, values: ["b"]}]
        taskSpec:
          results: [{name: r}]
          steps: [{image: bash, script: "echo -n x > $(results.r.path)"}]
      - name: ordered-after
        runAfter: [guarded]
        taskSpec: {steps: [{image: bash, script: echo runs}]}
      - name: consumer
        params: [{name: p, value: $(tasks.guarded.results.r)}]
        taskSpec:
          params: [{name: p}]
          steps: [{image: bash, script: echo $(params.p)}]
      - name: after-consumer
        runAfter: [consumer]
        taskSpec: {steps: [{image: bash, script: echo never}]}
""",
    )
    assert skipped(pr) == {
        "guarded": "When Expressions evaluated to false",
        "consumer": "Results were missing",
        "after-consumer": "Parent Tasks were skipped",
    }
    assert cond(children(cluster, pr)["ordered-after"])["reason"] == "Succeeded"
    assert (cond(pr)["reason"], cond(pr)["message"]) == (
        "Completed",
        "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 3",
    )


def test_failure_stops_the_pipeline_and_finally_sees_status(tmp_path: Path) -> None:
    cluster, [pr] = run(
        tmp_path,
        """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: fails}
spec:
  pipelineSpec:
    tasks:
      - name: bad
        taskSpec: {steps: [{image: bash, script: exit 3}]}
      - name: next
        runAfter: [bad]
        taskSpec: {steps: [{image: bash, script: echo never}]}
    finally:
      - name: report
        params:
          - {name: all, value: $(tasks.status)}
          - {name: bad, value: $(tasks.bad.status)}
          - {name: reason, value: $(tasks.bad.reason)}
        taskSpec:
          params: [{name: all}, {name: bad}, {name: reason}]
          results: [{name: seen}]
          steps: [{image: bash, script: 'echo -n "$(params.all)/$(params.bad)/$(params.reason)" > $(results.seen.path)'}]
""",
    )
    c = cond(pr)
    assert (c["status"], c["reason"]) == ("False", "Failed")
    assert c["message"] == "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 1"
    assert skipped(pr) == {"next": "PipelineRun was stopping"}
    report = children(cluster, pr)["report"]
    assert report["status"]["results"][0]["value"] == "Failed/Failed/Failed"
    assert "exited with code 3" in cond(children(cluster, pr)["bad"])["message"]


def test_pipeline_task_on_error_continue(tmp_path: Path) -> None:
    cluster, [pr] = run(
        tmp_path,
        """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: ignore}
spec:
  pipelineSpec:
    tasks:
      - name: task1
        onError: continue
        taskSpec:
          results: [{name: result1}]
          steps: [{image: bash, script: "echo -n 123 > $(results.result1.path); exit 1"}]
      - name: uses-result
        params: [{name: v, value: $(tasks.task1.results.result1)}]
        taskSpec:
          params: [{name: v}]
          steps: [{image: bash, script: test "$(params.v)" = 123}]
""",
    )
    c = cond(pr)
    assert (c["status"], c["reason"]) == ("True", "Succeeded")
    assert c["message"] == "Tasks Completed: 2 (Failed: 1 (Ignored: 1), Cancelled 0), Skipped: 0"
    assert cond(children(cluster, pr)["task1"])["reason"] == "FailureIgnored"


def test_missing_result_reference_fails_the_pipeline(tmp_path: Path) -> None:
    _, [pr] = run(
        tmp_path,
        """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: no-result}
spec:
  pipelineSpec:
    tasks:
      - name: producer
        taskSpec:
          results: [{name: r}]
          steps: [{image: bash, script: echo forgot to write}]
      - name: consumer
        params: [{name: v, value: $(tasks.producer.results.r)}]
        taskSpec:
          params: [{name: v}]
          steps: [{image: bash, script: echo $(params.v)}]
""",
    )
    c = cond(pr)
    assert (c["status"], c["reason"]) == ("False", "InvalidTaskResultReference")
    assert "Could not find result with name r for task producer" in c["message"]


def test_large_results_are_fine_and_the_limit_is_enforced(tmp_path: Path) -> None:
    _, [ok, too_big] = run(
        tmp_path,
        """
apiVersion: v1
kind: ConfigMap
metadata: {name: feature-flags}
data: {max-result-size: "100000"}
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: big-ok}
spec:
  taskSpec:
    results: [{name: blob}]
    steps: [{image: bash, script: "head -c 50000 /dev/zero | tr '\\\\0' a > $(results.blob.path)"}]
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: too-big}
spec:
  taskSpec:
    results: [{name: blob}]
    steps: [{image: bash, script: "head -c 200000 /dev/zero | tr '\\\\0' a > $(results.blob.path)"}]
""",
    )
    assert cond(ok)["reason"] == "Succeeded"
    assert len(ok["status"]["results"][0]["value"]) == 50000  # far above Tekton's 4 KB
    assert cond(too_big)["reason"] == "TaskRunResultLargerThanAllowedLimit"


def test_secrets_are_masked_in_logs(tmp_path: Path) -> None:
    cluster, [tr] = run(
        tmp_path,
        """
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {token: s3cr3t-t0ken-value}
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: leaky}
spec:
  taskSpec:
    steps:
      - image: bash
        env: [{name: TOKEN, valueFrom: {secretKeyRef: {name: creds, key: token}}}]
        script: echo "the token is $TOKEN"
""",
    )
    meta = tr["metadata"]
    log = cluster.paths.taskrun_dir("default", meta["name"], meta["uid"]) / "logs" / "step-unnamed-0.log"
    text = log.read_text()
    assert "the token is ***" in text
    assert "s3cr3t" not in text


GIT_CREDS_TASKRUN = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: %s}
spec:
  serviceAccountName: builder
  taskSpec:
    steps:
      - image: bash
        script: cat ~/.git-credentials 2>/dev/null || echo "no credentials"
"""


def _git_secret(user: str, password: str, host: str) -> str:
    return f"""
apiVersion: v1
kind: Secret
metadata:
  name: git-{user}
  annotations: {{tekton.dev/git-0: https://{host}}}
type: kubernetes.io/basic-auth
stringData: {{username: {user}, password: {password}}}
"""


def _step_log(cluster: Cluster, tr: JSON) -> str:
    meta = tr["metadata"]
    folder = cluster.paths.taskrun_dir("default", meta["name"], meta["uid"]) / "logs"
    return (folder / "step-unnamed-0.log").read_text()


def test_service_account_secrets_become_git_credentials_and_changes_reach_the_next_run(
    tmp_path: Path,
) -> None:
    """Tekton's creds-init: a basic-auth secret annotated tekton.dev/git-0 on the run's
    ServiceAccount becomes ~/.git-credentials (the password masked in the log). Changing the
    account - in the engine's process or from another process sharing the store - changes what
    the next run gets."""

    async def scenario() -> list[str]:
        cluster = Cluster(tmp_path)
        engine = Engine(cluster, select_executor("process")[0])
        await engine.start()
        logs = []
        try:

            async def run_one(where: Cluster, name: str) -> None:
                tr = where.store.create(where.admit(load(GIT_CREDS_TASKRUN % name)[0]).obj)
                final = await asyncio.wait_for(engine.wait("TaskRun", tr["metadata"]["name"]), 60)
                assert cond(final)["reason"] == "Succeeded", cond(final)
                logs.append(_step_log(cluster, final))

            def apply(where: Cluster, text: str) -> None:
                for obj in load(text):
                    admitted = where.admit(obj).obj
                    current = where.store.try_get(obj["kind"], obj["metadata"]["name"], "default")
                    if current is None:
                        where.store.create(admitted)
                    else:
                        admitted["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                        where.store.update(admitted)

            await run_one(cluster, "before")  # no account yet
            apply(
                cluster,
                _git_secret("alice", "pa55-alice", "github.internal")
                + "---\n"
                + _git_secret("bob", "pa55-bob", "gitlab.internal"),
            )
            apply(
                cluster,
                "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: builder}\nsecrets: [{name: git-alice}]\n",
            )
            await run_one(cluster, "alice")
            other = Cluster(tmp_path)  # another process's view of the same store (CLI, server)
            try:
                apply(
                    other,
                    "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: builder}\nsecrets: [{name: git-bob}]\n",
                )
                await run_one(other, "bob")
            finally:
                other.close()
        finally:
            await engine.stop()
            cluster.close()
        return logs

    before, alice, bob = asyncio.run(scenario())
    assert "no credentials" in before
    assert alice.strip() == "https://***:***@github.internal"  # user and password are masked
    assert bob.strip() == "https://***:***@gitlab.internal"


def test_deleting_a_pipelinerun_removes_taskruns_logs_and_dirs(tmp_path: Path) -> None:
    cluster, [pr] = run(
        tmp_path,
        """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: doomed}
spec:
  workspaces:
    - name: ws
      volumeClaimTemplate: {spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Mi}}}}
  pipelineSpec:
    workspaces: [{name: ws}]
    tasks:
      - name: a
        workspaces: [{name: ws}]
        taskSpec:
          workspaces: [{name: ws}]
          steps: [{image: bash, script: "echo hi | tee $(workspaces.ws.path)/f"}]
""",
    )
    tr = children(cluster, pr)["a"]
    run_dir = cluster.paths.taskrun_dir("default", tr["metadata"]["name"], tr["metadata"]["uid"])
    claims = list((cluster.home / "claims" / "default").iterdir())
    assert (run_dir / "logs" / "step-unnamed-0.log").read_text() == "hi\n"
    assert claims and (claims[0] / "f").exists()
    cluster.delete("PipelineRun", "doomed")
    assert cluster.store.try_get("TaskRun", tr["metadata"]["name"]) is None
    assert not run_dir.exists()
    assert not claims[0].exists()


@pytest.mark.parametrize("executor", ["process", "sandbox"])
def test_matrix_fan_out_and_aggregated_results(tmp_path: Path, executor: str) -> None:
    if executor == "sandbox" and not select_executor(None)[1].startswith("executor: sandbox"):
        pytest.skip("bubblewrap does not work on this machine")
    _, [pr] = run(
        tmp_path,
        """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: matrix}
spec:
  pipelineSpec:
    results: [{name: all, value: "$(tasks.fan.results.out[*])"}]
    tasks:
      - name: fan
        matrix:
          params:
            - {name: os, value: [linux, mac]}
            - {name: arch, value: [amd64, arm64]}
        taskSpec:
          params: [{name: os}, {name: arch}]
          results: [{name: out}]
          steps: [{image: bash, script: "echo -n $(params.os)-$(params.arch) > $(results.out.path)"}]
""",
    )
    assert cond(pr)["reason"] == "Succeeded"
    assert pr["status"]["results"] == [
        {"name": "all", "value": ["linux-amd64", "mac-amd64", "linux-arm64", "mac-arm64"]}
    ]
    assert [c["name"] for c in pr["status"]["childReferences"]] == [f"matrix-fan-{i}" for i in range(4)]


ENUM_FLAGS = """
apiVersion: v1
kind: ConfigMap
metadata: {name: feature-flags, namespace: tekton-pipelines}
data: {enable-param-enum: "true"}
---
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: deploy}
spec:
  params:
  - {name: env, enum: [dev, staging]}
  steps:
  - {name: deploy, image: bash, script: 'echo deploying to $(params.env)'}
"""


@pytest.mark.parametrize(
    ("pipeline_enum", "reason"),
    [("[dev]", "Succeeded"), ("[dev, prod]", "InvalidParamValue"), (None, "InvalidParamValue")],
)
def test_pipeline_param_enum_must_be_a_subset_of_the_task_param_enum(
    tmp_path: Path, pipeline_enum: str | None, reason: str
) -> None:
    enum = f", enum: {pipeline_enum}" if pipeline_enum else ""
    cluster, [pr] = run(
        tmp_path,
        ENUM_FLAGS
        + f"""
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {{name: release}}
spec:
  params: [{{name: target, value: dev}}]
  pipelineSpec:
    params: [{{name: target, default: dev{enum}}}]
    tasks:
    - name: first
      params: [{{name: env, value: $(params.target)}}]
      taskRef: {{name: deploy}}
    - name: both
      params: [{{name: env, value: "$(params.target)$(params.target)"}}]
      taskSpec:
        params: [{{name: env}}]
        steps: [{{name: s, image: bash, script: 'true'}}]
""",
    )
    assert cond(pr)["reason"] == reason
    if reason == "InvalidParamValue":
        shown = pipeline_enum.replace(",", "") if pipeline_enum else "[]"
        assert cond(pr)["message"] == (
            f'[User error] Failed to validate pipelinerun "release" with error pipeline param "target" enum: {shown} '
            'is not a subset of the referenced task param enum: [dev staging] (pipeline task "first")'
        )
        assert children(cluster, pr) == {}  # refused before any task started


def test_process_runs_record_tektons_paths_not_the_hosts(tmp_path: Path) -> None:
    """The process executor substitutes host paths (its steps cannot see /tekton or /workspace),
    but status.taskSpec - and the provenance made from it - names the paths Tekton names."""
    _, [tr] = run(
        tmp_path,
        """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: paths}
spec:
  workspaces: [{name: src, emptyDir: {}}]
  taskSpec:
    workspaces: [{name: src}]
    results: [{name: where}]
    steps:
    - name: write
      image: bash
      script: |
        echo hi > $(workspaces.src.path)/file
        printf '%s' "$(workspaces.src.path)" > $(results.where.path)
""",
    )
    assert cond(tr)["reason"] == "Succeeded"
    script = tr["status"]["taskSpec"]["steps"][0]["script"]
    assert "echo hi > /workspace/src/file" in script
    assert "> /tekton/results/where" in script
    assert str(tmp_path) not in str(tr["status"]["taskSpec"])
    # what ran used the host's directories
    [result] = tr["status"]["results"]
    assert result["value"].startswith(str(tmp_path))


def test_a_new_engine_fails_the_runs_a_dead_one_was_running_and_starts_the_queued_ones(
    tmp_path: Path,
) -> None:
    """An engine's start reads only the runs not finished (the store's status index), and of
    those fails the ones whose pod died with the old engine and runs the ones never started."""
    cluster = Cluster(tmp_path)
    spec = "spec: {taskSpec: {steps: [{image: bash, script: echo hi}]}}"
    made = {
        name: cluster.store.create(
            cluster.admit(
                load(f"apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata: {{name: {name}}}\n{spec}")[0]
            ).obj
        )
        for name in ("lost", "queued", "old")
    }
    running = {"type": "Succeeded", "status": "Unknown", "reason": "Running"}
    cluster.store.update({**made["lost"], "status": {"podName": "lost-pod", "conditions": [running]}})
    done = {"type": "Succeeded", "status": "True", "reason": "Succeeded"}
    old = cluster.store.update({**made["old"], "status": {"conditions": [done]}})

    async def restart() -> JSON:
        engine = Engine(cluster, select_executor("process")[0])
        await engine.start()
        try:
            return await asyncio.wait_for(engine.wait("TaskRun", "queued"), 60)
        finally:
            await engine.stop()

    assert cond(asyncio.run(restart()))["reason"] == "Succeeded"
    lost = cluster.store.get("TaskRun", "lost")
    assert cond(lost)["status"] == "False" and "its pod was lost" in cond(lost)["message"]
    assert cluster.store.get("TaskRun", "old") == old  # not touched
