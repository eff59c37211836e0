"""Keyed workspace caches (beyond Tekton: demand #11), through the CLI as a user runs them: a csi
workspace with driver cache.tektite.dev starts from the cache's entry and is saved when the run
succeeds; a failed run saves nothing; a lone TaskRun works the same; ``tektite cache`` lists and
deletes entries."""

from __future__ import annotations

from pathlib import Path

from clirun import tektite
from test_rerun import apply, child, newest

from tektite.controller.cluster import Cluster
from tektite.server.dashboard.detail import run_detail

PIPELINE = """
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: deps}
spec:
  params: [{name: branch}, {name: fail, default: "no"}]
  workspaces: [{name: deps}]
  tasks:
  - name: install
    workspaces: [{name: deps, workspace: deps}]
    params: [{name: branch, value: $(params.branch)}]
    taskSpec:
      params: [{name: branch}]
      workspaces: [{name: deps}]
      steps:
      - name: install
        image: busybox
        script: |
          cd $(workspaces.deps.path)
          if [ -f installed ]; then echo "found: $(cat installed)"; else echo "nothing cached"; fi
          echo "$(params.branch)" >> installed
  - name: test
    runAfter: [install]
    workspaces: [{name: deps, workspace: deps}]
    params: [{name: fail, value: $(params.fail)}]
    taskSpec:
      params: [{name: fail}]
      workspaces: [{name: deps}]
      steps:
      - name: test
        image: busybox
        script: |
          echo "test sees $(wc -l < $(workspaces.deps.path)/installed) install(s)"
          test "$(params.fail)" = no
"""
RUN = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {generateName: deps-}
spec:
  pipelineRef: {name: deps}
  params: [{name: branch, value: "BRANCH"}, {name: fail, value: "FAIL"}]
  workspaces:
  - name: deps
    csi:
      driver: cache.tektite.dev
      volumeAttributes: {key: "deps-$(params.branch)", fallbackKeys: "deps-main"}
"""


def run(home: Path, tmp_path: Path, branch: str, fail: str = "no") -> tuple[int, str]:
    f = tmp_path / f"run-{branch}-{fail}.yaml"
    f.write_text(RUN.replace("BRANCH", branch).replace("FAIL", fail))
    done = tektite(home, "run", "-f", str(f))
    return done.returncode, done.stdout + done.stderr


def test_a_cache_workspace_starts_from_what_the_last_successful_run_saved(tmp_path: Path) -> None:
    home = tmp_path / "home"
    apply(home, PIPELINE)

    code, output = run(home, tmp_path, "main")
    assert code == 0, output
    assert "nothing cached" in output and "test sees 1 install(s)" in output  # one copy for all tasks
    assert "• cache deps (deps-main): miss" in output  # what the follow output says

    code, output = run(home, tmp_path, "main")
    assert code == 0, output
    assert "found: main" in output and "test sees 2 install(s)" in output
    claims = home / "claims" / "default"
    assert not list(claims.glob("cache-deps-*"))  # a succeeded run's copies are freed once saved
    assert "• cache deps (deps-main): hit" in output

    # a failed run works on its own copy and saves nothing
    code, output = run(home, tmp_path, "main", fail="yes")
    assert code == 1, output
    assert "test sees 3 install(s)" in output
    [kept] = claims.glob("cache-deps-*")  # a failed run's copy stays, for a rerun from failure
    assert (kept / "installed").read_text().split() == ["main"] * 3
    code, output = run(home, tmp_path, "main")
    assert "test sees 3 install(s)" in output, output  # from the second run's entry, not the failed one's

    # a new branch starts from main's entry (fallbackKeys) and keeps its own
    code, output = run(home, tmp_path, "feature")
    assert code == 0 and "test sees 4 install(s)" in output, output
    assert "• cache deps (deps-feature): fallback deps-main" in output
    newest_run = newest(home, "PipelineRun")[0]["metadata"]["name"]
    claim = child(home, newest_run, "install")["spec"]["workspaces"][0]["persistentVolumeClaim"]["claimName"]
    pvc = tektite(home, "get", "pvc", claim, "-o", "json")
    assert '"tektite.dev/cache-restored": "fallback deps-main"' in pvc.stdout, pvc.stdout + pvc.stderr

    listed = tektite(home, "cache", "list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert set(rows) == {"deps-main", "deps-feature"}
    assert newest_run in rows["deps-feature"]

    described = tektite(home, "pipelinerun", "describe", newest_run)
    assert "cache deps-$(params.branch)" in described.stdout
    caches_section = described.stdout.split("Caches", 1)[1].split()
    assert caches_section[3:] == ["deps", "deps-feature", "fallback", "deps-main"], described.stdout
    cluster = Cluster(home)  # the dashboard's run page says the same
    try:
        [row] = run_detail(cluster, "PipelineRun", newest_run, "default")["workspaces"]
    finally:
        cluster.close()
    assert row == {"name": "deps", "source": "cache deps-feature (fallback deps-main)", "subPath": None}

    deleted = tektite(home, "cache", "delete", "deps-main")
    assert deleted.returncode == 0 and 'cache "deps-main" deleted' in deleted.stdout
    gone = tektite(home, "cache", "delete", "deps-main")
    assert gone.returncode == 1 and "no cache with key 'deps-main' in namespace default" in gone.stderr
    code, output = run(home, tmp_path, "main")
    assert "nothing cached" in output, output


def test_a_lone_taskrun_caches_too_and_a_bad_binding_fails_with_what_is_wrong(tmp_path: Path) -> None:
    home = tmp_path / "home"
    taskrun = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {generateName: count-}
spec:
  workspaces:
  - name: c
    csi: {driver: cache.tektite.dev, volumeAttributes: {key: ATTRS}}
  taskSpec:
    workspaces: [{name: c}]
    steps:
    - name: count
      image: busybox
      script: |
        n=$(cat $(workspaces.c.path)/n 2>/dev/null || echo 0)
        echo "count $n"; echo $((n + 1)) > $(workspaces.c.path)/n
"""
    f = tmp_path / "tr.yaml"
    f.write_text(taskrun.replace("ATTRS", "counter-$(context.taskRun.namespace)"))
    outputs = [tektite(home, "run", "-f", str(f)) for _ in range(2)]
    assert [o.returncode for o in outputs] == [0, 0]
    assert "count 0" in outputs[0].stdout and "count 1" in outputs[1].stdout
    assert "counter-default" in tektite(home, "cache", "list").stdout
    assert not list((home / "runs" / "default").glob("count-*/workspaces/c"))  # freed once saved

    # what no run could take is refused when it is applied, with the file, line and field
    f.write_text(taskrun.replace("ATTRS", "counter, policy: sometimes"))
    bad = tektite(home, "run", "-f", str(f))
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        f'Error: {f}:8: TaskRun "count-*": spec.workspaces[0].csi.volumeAttributes.policy: unknown cache '
        'policy; expected pull-push, pull, push, found "sometimes"'
    )
    # what only the run's variables make wrong fails the run, saying so
    f.write_text(
        taskrun.replace("ATTRS", "counter, policy: $(params.how)").replace(
            "spec:\n", "spec:\n  params: [{name: how, value: sometimes}]\n", 1
        )
    )
    bad = tektite(home, "run", "-f", str(f))
    assert bad.returncode == 1
    assert "InvalidWorkspaceBindings" in bad.stdout + bad.stderr
    assert 'workspace "c": csi.volumeAttributes.policy "sometimes" is not one of pull-push, pull, push' in (
        tektite(home, "taskrun", "describe", "--last").stdout
    )


LOCKED = """
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: locked}
spec:
  params: [{name: lock}]
  workspaces: [{name: deps}]
  tasks:
  - name: fetch
    params: [{name: lock, value: $(params.lock)}]
    taskSpec:
      params: [{name: lock}]
      results: [{name: digest}]
      steps:
      - image: busybox
        script: printf "$(params.lock)" | sha256sum | cut -c1-12 | tr -d '\\n' > $(results.digest.path)
  - name: install
    AFTER
    workspaces: [{name: deps, workspace: deps}]
    taskSpec:
      workspaces: [{name: deps}]
      steps:
      - image: busybox
        script: |
          cd $(workspaces.deps.path); echo "cached: $(ls | tr '\\n' ' ')"; touch "$(context.pipelineRun.name)"
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {generateName: locked-}
spec:
  pipelineRef: {name: locked}
  params: [{name: lock, value: LOCK}]
  workspaces:
  - name: deps
    csi: {driver: cache.tektite.dev, volumeAttributes: {key: "npm-$(tasks.fetch.results.digest)"}}
"""


def test_a_key_may_name_results_of_tasks_that_ran_before_the_cache_is_used(tmp_path: Path) -> None:
    """actions/cache's hashFiles(): the key is a digest a task computed (of a lockfile, say)."""
    home = tmp_path / "home"
    f = tmp_path / "locked.yaml"

    def locked(lock: str, after: str = "runAfter: [fetch]") -> tuple[int, str]:
        f.write_text(LOCKED.replace("AFTER", after).replace("LOCK", lock))
        done = tektite(home, "run", "-f", str(f))
        return done.returncode, done.stdout + done.stderr

    code, output = locked("v1")
    first = newest(home, "PipelineRun")[0]["metadata"]["name"]
    assert code == 0 and "cached: " in output and f"cached: {first}" not in output, output  # a miss
    code, output = locked("v1")
    assert code == 0 and f"cached: {first}" in output, output  # the same lock: the same key
    code, output = locked("v2")
    assert code == 0 and first not in output, output  # another lock: another key, a miss
    keys = [line.split()[0] for line in tektite(home, "cache", "list").stdout.splitlines()[1:]]
    assert len(keys) == 2 and all(k.startswith("npm-") and len(k) == 16 for k in keys), keys

    # the key names fetch's result, but install does not wait for fetch
    code, output = locked("v1", after="")
    assert code == 1, output
    described = tektite(home, "pipelinerun", "describe", "--last").stdout
    assert "InvalidWorkspaceBindings" in described
    assert 'pipeline task "install" uses the cache before the task whose results its key names' in described
