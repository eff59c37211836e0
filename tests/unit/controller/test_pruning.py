"""Retention: keep N / keep since, per Pipeline and Task; running and unsigned runs are never pruned."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tektite.controller.caches import Caches, CacheSpec, Entry, evictions
from tektite.controller.cluster import Cluster
from tektite.controller.pruning import PruneConfig, Pruner, Retention, plan, protection, select
from tektite.errors import ValidationError

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def ts(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(
    name: str,
    minutes_ago: float,
    *,
    kind: str = "PipelineRun",
    pipeline: str = "build",
    done: bool = True,
    signed: str | None = "true",
    finalizers: list[str] | None = None,
    owned: bool = False,
) -> dict[str, Any]:
    labels = {"tekton.dev/pipeline": pipeline} if kind == "PipelineRun" else {"tekton.dev/task": pipeline}
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "default",
        "creationTimestamp": ts(minutes_ago),
        "labels": labels,
    }
    if signed is not None:
        meta["annotations"] = {"chains.tekton.dev/signed": signed}
    if finalizers:
        meta["finalizers"] = finalizers
    if owned:
        meta["ownerReferences"] = [
            {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "name": "p", "uid": "u"}
        ]
    status: dict[str, Any] = {"startTime": ts(minutes_ago)}
    if done:
        status["completionTime"] = ts(minutes_ago - 1)
        status["conditions"] = [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}]
    else:
        status["conditions"] = [{"type": "Succeeded", "status": "Unknown", "reason": "Running"}]
    return {"apiVersion": "tekton.dev/v1", "kind": kind, "metadata": meta, "status": status}


def names(items: list[dict[str, Any]]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in items)


def test_keep_n_deletes_the_oldest_finished() -> None:
    items = [run(f"r{i}", 100 - i) for i in range(6)]  # r5 newest
    assert names(select(items, Retention(keep=2), NOW, chains_enabled=False)) == ["r0", "r1", "r2", "r3"]


def test_keep_since_and_keep_keep_the_union() -> None:
    items = [run("old1", 500), run("old2", 400), run("recent", 30), run("newest", 5)]
    assert names(select(items, Retention(keep_since_minutes=60), NOW, False)) == ["old1", "old2"]
    assert names(select(items, Retention(keep=3, keep_since_minutes=60), NOW, False)) == ["old1"]


def test_nothing_configured_prunes_nothing() -> None:
    assert select([run("a", 1000)], Retention(), NOW, False) == []


def test_running_and_unsigned_runs_are_protected() -> None:
    items = [
        run("running", 900, done=False),
        run("unsigned", 800, signed=None),
        run("held", 700, finalizers=["chains.tekton.dev/finalizer"]),
        run("sign-failed", 600, signed="failed"),
        run("signed", 500),
        run("newest", 1),
    ]
    doomed = select(items, Retention(keep=1), NOW, chains_enabled=True)
    assert names(doomed) == ["sign-failed", "signed"]
    assert protection(items[0], True) == "not finished"
    assert protection(items[1], True) == "not signed by Chains yet"
    assert protection(items[1], False) is None  # without Chains, no signature is coming
    assert protection(items[2], False) is not None
    # Chains signs TaskRuns and PipelineRuns only: a finished CustomRun waits for no signature
    assert protection(run("custom", 400, kind="CustomRun", signed=None), True) is None


def test_groups_per_pipeline_with_overrides_and_owned_taskruns_left_to_their_pipelinerun() -> None:
    items = [run(f"b{i}", 100 - i, pipeline="build") for i in range(4)]
    items += [run(f"d{i}", 100 - i, pipeline="deploy") for i in range(4)]
    items += [run(f"t{i}", 100 - i, kind="TaskRun", pipeline="lint") for i in range(3)]
    items += [run("child", 999, kind="TaskRun", pipeline="lint", owned=True)]
    config = PruneConfig.from_data({"keep": "3", "pipeline.deploy.keep": "1", "task.lint.keep": "2"})
    assert names(plan(items, config, NOW, False)) == ["b0", "d0", "d1", "d2", "t0"]
    only_prs = PruneConfig.from_data({"keep": "1", "resources": "pipelineruns"})
    assert all(o["kind"] == "PipelineRun" for o in plan(items, only_prs, NOW, False))


def test_bad_config_names_the_key() -> None:
    with pytest.raises(ValidationError, match=r"data\.keep-since"):
        PruneConfig.from_data({"keep-since": "soon"})
    with pytest.raises(ValidationError, match="resources"):
        PruneConfig.from_data({"keep": "1", "resources": "pods"})


def _store_run(cluster: Cluster, obj: dict[str, Any]) -> None:
    created = cluster.store.create({k: v for k, v in obj.items() if k != "status"})
    created["status"] = obj["status"]
    cluster.store.update(created, status_only=True)


def test_pruner_applies_namespace_config_over_the_global_one(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path)
    for ns, keep in (("tekton-pipelines", "5"), ("team", "1")):
        cluster.store.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "tektite-pruner", "namespace": ns},
                "data": {"keep": keep},
            }
        )
    for ns in ("default", "team"):
        for i in range(3):
            obj = run(f"{ns}-{i}", 100 - i)
            obj["metadata"]["namespace"] = ns
            _store_run(cluster, obj)
    running = run("team-running", 500, done=False)
    running["metadata"]["namespace"] = "team"
    _store_run(cluster, running)
    deleted = Pruner(cluster).sweep()
    # created "now", so creation order decides: the two oldest in "team" go; "default" keeps 5
    assert names(deleted) == ["team-0", "team-1"]
    left = names(cluster.store.list("PipelineRun", "*").items)
    assert left == ["default-0", "default-1", "default-2", "team-2", "team-running"]
    cluster.close()


def entry(key: str, used_minutes_ago: float, size: int, ns: str = "team") -> Entry:
    used = (NOW - timedelta(minutes=used_minutes_ago)).timestamp()
    return Entry(ns, key, used, used, size, "r")


def test_cache_evictions_go_by_last_use_then_by_size() -> None:
    entries = [entry("a", 10, 400), entry("b", 5000, 100), entry("c", 30, 300), entry("d", 20, 300)]
    now = NOW.timestamp()
    assert [e.key for e in evictions(entries, 60 * 60, None, now)] == ["b"]  # unused for over an hour
    # then the least recently used go until 700 bytes are left: c (used 30 minutes ago)
    assert [e.key for e in evictions(entries, 60 * 60, 700, now)] == ["b", "c"]
    assert [e.key for e in evictions(entries, None, 0, now)] == ["b", "c", "d", "a"]
    assert evictions(entries, None, None, now) == []

    cfg = PruneConfig.from_data({"caches.keep-since": "1440", "caches.max-size": "10Gi"})
    assert (cfg.cache_keep_since_minutes, cfg.cache_max_bytes) == (1440.0, 10 * 1024**3)
    with pytest.raises(ValidationError) as caught:
        PruneConfig.from_data({"caches.max-size": "lots"})
    assert "caches.max-size" in caught.value.diagnostics() and "10Gi" in caught.value.diagnostics()


def test_the_pruner_evicts_cache_entries_by_its_configmap(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path)
    caches = Caches(cluster.paths.caches_dir())
    for ns in ("team", "other"):
        for key, size in (("old", 300), ("new", 200)):
            work = tmp_path / f"{ns}-{key}"
            work.mkdir()
            (work / "f").write_bytes(b"x" * size)
            caches.save(ns, CacheSpec(key), work, "r")
    for e in caches.list():  # "old" was used an hour before "new"
        os.utime(caches._dir(e.namespace, e.key) / "entry.json", (e.used - 3600 * (e.key == "old"),) * 2)
    cluster.store.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "tektite-pruner", "namespace": "team"},
            "data": {"caches.max-size": "250"},
        }
    )
    Pruner(cluster).sweep()
    assert sorted((e.namespace, e.key) for e in caches.list()) == [
        ("other", "new"),
        ("other", "old"),
        ("team", "new"),
    ]
    cluster.close()
