"""Custom Tasks through the real engine: a pipeline task with a custom ``taskRef`` (or an embedded
custom ``taskSpec``) becomes a CustomRun; the built-in Wait task runs it; another kind's CustomRun
waits for its own controller, whose status and results the PipelineRun then follows; a
PipelineRun timeout cancels a CustomRun."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from tektite.controller.cluster import Cluster
from tektite.controller.manager import Engine
from tektite.core.conditions import get_condition, now
from tektite.executor import select_executor

JSON = dict[str, Any]
WAIT_REF = "taskRef: {apiVersion: wait.testing.tekton.dev/v1beta1, kind: Wait}"


async def _run(home: Path, text: str, controller: Any = None, timeout: float = 60) -> tuple[Cluster, JSON]:
    cluster = Cluster(home)
    engine = Engine(cluster, select_executor("process")[0])
    await engine.start()
    try:
        [doc] = [d for d in yaml.safe_load_all(text) if d]
        pr = cluster.store.create(cluster.admit(doc).obj)
        waiting = asyncio.ensure_future(engine.wait("PipelineRun", pr["metadata"]["name"]))
        if controller is not None:
            await controller(cluster)
        return cluster, await asyncio.wait_for(waiting, timeout)
    finally:
        await engine.stop()


def custom_runs(cluster: Cluster) -> dict[str, JSON]:
    return {
        c["metadata"]["labels"]["tekton.dev/pipelineTask"]: c for c in cluster.store.list("CustomRun").items
    }


def cond(obj: JSON) -> tuple[str, str]:
    c = get_condition(obj) or {}
    return c.get("status", ""), c.get("reason", "")


def test_a_wait_task_runs_before_the_tasks_after_it(tmp_path: Path) -> None:
    cluster, pr = asyncio.run(
        _run(
            tmp_path,
            f"""
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {{name: waits}}
spec:
  pipelineSpec:
    tasks:
    - name: pause
      {WAIT_REF}
      params: [{{name: duration, value: 1s}}]
    - name: embedded
      taskSpec: {{apiVersion: wait.testing.tekton.dev/v1beta1, kind: Wait}}
      params: [{{name: duration, value: 500ms}}]
    - name: after
      runAfter: [pause, embedded]
      taskSpec:
        steps: [{{name: s, image: busybox, script: echo after}}]
""",
        )
    )
    assert cond(pr) == ("True", "Succeeded")
    runs = custom_runs(cluster)
    assert runs["pause"]["apiVersion"] == "tekton.dev/v1beta1"
    assert runs["pause"]["spec"]["customRef"] == {
        "apiVersion": "wait.testing.tekton.dev/v1beta1",
        "kind": "Wait",
    }
    assert runs["embedded"]["spec"]["customSpec"] == {
        "apiVersion": "wait.testing.tekton.dev/v1beta1",
        "kind": "Wait",
    }
    assert all(cond(r) == ("True", "DurationElapsed") for r in runs.values())
    [after] = cluster.store.list("TaskRun").items
    assert after["status"]["startTime"] >= runs["pause"]["status"]["completionTime"]
    refs = {r["pipelineTaskName"]: (r["apiVersion"], r["kind"]) for r in pr["status"]["childReferences"]}
    assert refs == {
        "pause": ("tekton.dev/v1beta1", "CustomRun"),
        "embedded": ("tekton.dev/v1beta1", "CustomRun"),
        "after": ("tekton.dev/v1", "TaskRun"),
    }


def test_another_kinds_customrun_waits_for_its_controller_and_its_results_flow_on(tmp_path: Path) -> None:
    async def approver(cluster: Cluster) -> None:
        """What an external controller does through the API: find its CustomRun, finish it."""
        for _ in range(400):
            found = cluster.store.list("CustomRun").items
            if found:
                break
            await asyncio.sleep(0.025)
        [run] = found
        assert run["spec"]["customRef"] == {
            "apiVersion": "example.dev/v1beta1",
            "kind": "Approval",
            "name": "release",
        }
        assert run["spec"]["params"] == [{"name": "who", "value": "ops"}]
        assert "status" not in run or not run["status"]  # no controller in tektite for this kind
        await asyncio.sleep(0.3)
        run["status"] = {
            "startTime": now(),
            "completionTime": now(),
            "conditions": [{"type": "Succeeded", "status": "True", "reason": "Approved", "message": "ok"}],
            "results": [{"name": "approver", "value": "alice"}],
        }
        cluster.store.update(run, status_only=True)

    cluster, pr = asyncio.run(
        _run(
            tmp_path,
            """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: gated}
spec:
  pipelineSpec:
    tasks:
    - name: approve
      taskRef: {apiVersion: example.dev/v1beta1, kind: Approval, name: release}
      params: [{name: who, value: ops}]
    - name: ship
      params: [{name: by, value: $(tasks.approve.results.approver)}]
      taskSpec:
        params: [{name: by}]
        results: [{name: said}]
        steps: [{name: s, image: busybox, script: 'printf "approved by $(params.by)" > $(results.said.path)'}]
""",
            controller=approver,
        )
    )
    assert cond(pr) == ("True", "Succeeded")
    [ship] = cluster.store.list("TaskRun").items
    assert ship["status"]["results"][0]["value"] == "approved by alice"


def test_a_pipelinerun_timeout_cancels_its_customrun_and_a_wait_times_out_per_attempt(tmp_path: Path) -> None:
    cluster, pr = asyncio.run(
        _run(
            tmp_path,
            f"""
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {{name: slow}}
spec:
  timeouts: {{pipeline: 2s}}
  pipelineSpec:
    tasks:
    - name: long
      {WAIT_REF}
      params: [{{name: duration, value: 1h}}]
    - name: flaky
      {WAIT_REF}
      timeout: 300ms
      retries: 1
      params: [{{name: duration, value: 1h}}]
""",
        )
    )
    assert cond(pr) == ("False", "PipelineRunTimeout")
    runs = custom_runs(cluster)
    assert runs["long"]["spec"]["status"] == "RunCancelled"
    assert cond(runs["long"]) == ("False", "CustomRunCancelled")
    assert cond(runs["flaky"]) == ("False", "CustomRunTimedOut")
    assert [cond({"status": s}) for s in runs["flaky"]["status"]["retriesStatus"]] == [
        ("False", "CustomRunTimedOut")
    ]


def test_a_wait_customrun_made_while_no_engine_ran_is_picked_up_at_the_next_start(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path)
    run = {
        "apiVersion": "tekton.dev/v1beta1",
        "kind": "CustomRun",
        "metadata": {"name": "standalone", "namespace": "default"},
        "spec": {
            "customRef": {"apiVersion": "wait.testing.tekton.dev/v1beta1", "kind": "Wait"},
            "params": [{"name": "duration", "value": "200ms"}],
        },
    }
    cluster.store.create(cluster.admit(run).obj)
    cluster.close()

    async def later() -> JSON:
        again = Cluster(tmp_path)
        engine = Engine(again, select_executor("process")[0])
        await engine.start()
        try:
            return await asyncio.wait_for(engine.wait("CustomRun", "standalone"), 30)
        finally:
            await engine.stop()
            again.close()

    assert cond(asyncio.run(later())) == ("True", "DurationElapsed")


def test_the_dashboard_draws_a_custom_task_with_its_status(tmp_path: Path) -> None:
    from tektite.server.dashboard.detail import run_detail

    cluster, _ = asyncio.run(
        _run(
            tmp_path,
            f"""
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {{name: drawn}}
spec:
  pipelineSpec:
    tasks:
    - name: pause
      {WAIT_REF}
      params: [{{name: duration, value: 100ms}}]
    - name: after
      runAfter: [pause]
      taskSpec:
        steps: [{{name: s, image: busybox, script: "true"}}]
""",
        )
    )
    detail = run_detail(cluster, "PipelineRun", "drawn", "default")
    nodes = {n["name"]: n for n in detail["graph"]["nodes"]}
    assert nodes["pause"]["status"] == "Succeeded" and nodes["after"]["status"] == "Succeeded"
    assert {c["kind"] for c in detail["children"]} == {"CustomRun", "TaskRun"}


def test_customrun_commands_list_describe_cancel_and_delete(tmp_path: Path, capsys: Any) -> None:
    from tektite.cli.common import STATE
    from tektite.cli.main import main

    home = tmp_path / "home"
    (tmp_path / "cr.yaml").write_text(
        "apiVersion: tekton.dev/v1beta1\nkind: CustomRun\nmetadata: {name: held}\n"
        "spec:\n  customRef: {apiVersion: example.dev/v1beta1, kind: Approval}\n"
    )

    def tektite(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = main(["--home", str(home), *args])
        got = capsys.readouterr()
        return rc, got.out, got.err

    try:
        assert tektite("apply", "-f", str(tmp_path / "cr.yaml"))[0] == 0
        rc, out, _ = tektite("customrun", "list")
        assert rc == 0 and "held" in out
        rc, out, _ = tektite("customrun", "describe", "held")
        assert rc == 0 and "Custom Task:       Approval (example.dev/v1beta1)" in out
        rc, _, err = tektite("customrun", "logs", "held")
        assert rc == 1 and "a CustomRun has no step logs" in err
        rc, out, _ = tektite("customrun", "cancel", "held")
        assert rc == 0 and "CustomRun cancelled: held" in out
        spec = Cluster(home).store.get("CustomRun", "held", "default")["spec"]
        assert (spec["status"], spec["statusMessage"]) == ("RunCancelled", "CustomRun cancelled by the user")
        rc, _, err = tektite("customrun", "cancel", "held", "--grace", "stop")
        assert rc == 1 and "--grace applies to PipelineRuns" in err
        rc, out, _ = tektite("customrun", "delete", "held")
        assert rc == 0 and 'CustomRun "held" deleted' in out
    finally:
        STATE.forget_cluster()


GATED = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: NAME}
spec:
  pipelineSpec:
    tasks:
    - name: gate
      taskRef: {apiVersion: tektite.dev/v1alpha1, kind: Approval}
      params:
      - {name: approvers, value: [alice, bob]}
      - {name: description, value: deploy to prod}
    - name: deploy
      params: [{name: by, value: $(tasks.gate.results.approvedBy)}]
      taskSpec:
        params: [{name: by}]
        results: [{name: said}]
        steps: [{name: s, image: busybox, script: 'printf "deployed, approved by $(params.by)" > $(results.said.path)'}]
"""


def decide_with_the_cli(home: Path, *args: str) -> Any:
    """``tektite customrun approve|reject`` as a person at a terminal would, once the gate waits."""
    from tektite.cli.common import STATE
    from tektite.cli.main import main

    async def decide(cluster: Cluster) -> None:
        for _ in range(400):
            found = cluster.store.list("CustomRun").items
            if found and (get_condition(found[0]) or {}).get("reason") == "WaitingForApproval":
                break
            await asyncio.sleep(0.025)
        name = found[0]["metadata"]["name"]
        msg = (get_condition(found[0]) or {}).get("message")
        assert msg == "waiting for 1 more approval(s) from alice, bob: deploy to prod"
        try:
            rc = await asyncio.to_thread(main, ["--home", str(home), "customrun", *args[:1], name, *args[1:]])
        finally:
            STATE.forget_cluster()
        assert rc == 0

    return decide


def test_an_approval_gate_holds_the_pipeline_until_an_approver_approves(tmp_path: Path) -> None:
    cluster, pr = asyncio.run(
        _run(
            tmp_path,
            GATED.replace("NAME", "ship"),
            controller=decide_with_the_cli(tmp_path, "approve", "--as", "bob"),
        )
    )
    assert cond(pr) == ("True", "Succeeded")
    [deploy] = cluster.store.list("TaskRun").items
    assert deploy["status"]["results"][0]["value"] == "deployed, approved by bob"
    assert cond(custom_runs(cluster)["gate"]) == ("True", "Approved")


def test_a_rejection_fails_the_pipeline_and_nothing_after_the_gate_runs(tmp_path: Path) -> None:
    cluster, pr = asyncio.run(
        _run(
            tmp_path,
            GATED.replace("NAME", "stopped"),
            controller=decide_with_the_cli(tmp_path, "reject", "--as", "alice", "-m", "freeze week"),
        )
    )
    assert cond(pr)[0] == "False"
    assert cond(custom_runs(cluster)["gate"]) == ("False", "Rejected")
    assert "rejected by alice: freeze week" in get_condition(custom_runs(cluster)["gate"])["message"]  # type: ignore[index]
    assert cluster.store.list("TaskRun").items == []


def test_only_an_approver_may_decide(tmp_path: Path, capsys: Any) -> None:
    from tektite.cli.common import STATE
    from tektite.cli.main import main

    home = tmp_path / "home"
    (tmp_path / "gate.yaml").write_text(
        "apiVersion: tekton.dev/v1beta1\nkind: CustomRun\nmetadata: {name: gate}\n"
        "spec:\n  customRef: {apiVersion: tektite.dev/v1alpha1, kind: Approval}\n"
        "  params: [{name: approvers, value: [alice]}]\n"
    )
    try:
        assert main(["--home", str(home), "apply", "-f", str(tmp_path / "gate.yaml")]) == 0
        capsys.readouterr()
        assert main(["--home", str(home), "customrun", "approve", "gate", "--as", "mallory"]) == 1
        assert (
            'mallory is not an approver of CustomRun "gate"; its approvers: alice' in capsys.readouterr().err
        )
        assert main(["--home", str(home), "customrun", "approve", "gate", "--as", "alice"]) == 0
        assert main(["--home", str(home), "customrun", "reject", "gate", "--as", "alice"]) == 1
        assert "alice has already decided" in capsys.readouterr().err
    finally:
        STATE.forget_cluster()


# -- `tektite run -f` with a lone CustomRun, as a user types it ----------------------------------------
def _cli(home: Path, *args: str, wait: bool = True) -> Any:
    import os
    import subprocess
    import sys

    env = {**os.environ, "TEKTITE_HOME": str(home)}
    command = [sys.executable, "-m", "tektite", *args]
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_run_f_runs_a_lone_wait_customrun_and_reports_it(tmp_path: Path) -> None:
    (tmp_path / "wait.yaml").write_text(
        "apiVersion: tekton.dev/v1beta1\nkind: CustomRun\nmetadata: {name: pause}\n"
        "spec:\n  customRef: {apiVersion: wait.testing.tekton.dev/v1beta1, kind: Wait}\n"
        "  params: [{name: duration, value: 200ms}]\n"
    )
    done = _cli(tmp_path / "home", "run", "-f", str(tmp_path / "wait.yaml"), "--executor", "process")
    assert done.returncode == 0, done.stderr
    assert "customrun/pause created" in done.stderr
    assert "✓ customrun pause: DurationElapsed" in done.stderr
    assert cond(Cluster(tmp_path / "home").store.get("CustomRun", "pause", "default")) == (
        "True",
        "DurationElapsed",
    )
    described = _cli(tmp_path / "home", "describe", "customrun", "pause")
    assert "Custom Task:       Wait (wait.testing.tekton.dev/v1beta1)" in described.stdout


def test_run_f_waits_on_a_lone_approval_until_another_terminal_rejects_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "gate.yaml").write_text(
        "apiVersion: tekton.dev/v1beta1\nkind: CustomRun\nmetadata: {name: release}\n"
        "spec:\n  customRef: {apiVersion: tektite.dev/v1alpha1, kind: Approval}\n"
        "  params: [{name: approvers, value: [alice]}]\n"
    )
    with _cli(home, "run", "-f", str(tmp_path / "gate.yaml"), "--executor", "process", wait=False) as running:
        assert running.stderr is not None
        said = [running.stderr.readline() for _ in range(2)]  # created, then how to decide
        assert (
            said[1].strip()
            == "customrun/release waits for approval: tektite customrun approve release (or reject)"
        )
        decided = _cli(home, "customrun", "reject", "release", "--as", "alice", "-m", "not today")
        assert decided.returncode == 0, decided.stderr
        _, err = running.communicate(timeout=60)
    assert running.returncode == 1, err
    assert "✗ customrun release: Rejected - rejected by alice: not today" in err


def test_run_f_with_nothing_to_run_names_what_it_runs(tmp_path: Path) -> None:
    (tmp_path / "task.yaml").write_text(
        "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: t}\n"
        "spec: {steps: [{name: s, image: busybox, script: 'true'}]}\n"
    )
    done = _cli(tmp_path / "home", "run", "-f", str(tmp_path / "task.yaml"))
    assert done.returncode == 1
    assert "the files hold no TaskRun, PipelineRun or CustomRun to run" in done.stderr
    assert "Traceback" not in done.stderr
