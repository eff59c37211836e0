"""``sync`` shares a backlog among forked processes: every run signed and marked exactly once, a
PipelineRun with its children, the parent's counters and summary adding up, a failed shard done
again, and no fork where it is not safe."""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.signer import SSlibKey
from test_watcher import ann, chains_config, cluster, count, finished_taskrun, get, make_watcher
from test_watcher_pipelinerun import pipelinerun

from tektite.chains import annotations as A
from tektite.chains.keys import HOME_KEY
from tektite.chains.watcher import ChainsWatcher, shard_of
from tektite.controller.cluster import Cluster

__all__ = ["cluster"]

JSON = dict[str, Any]
RUNS = 24


@pytest.fixture()
def forks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A small backlog is enough to shard; the children write their pids to a file. (Other tests
    may have left idle daemon threads in this process: sync would not fork then.)"""
    monkeypatch.setattr(ChainsWatcher, "SHARD_MIN", 10)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    pids = tmp_path / "pids"
    real = ChainsWatcher._run_shard

    def recorded(self: ChainsWatcher, index: int, shards: int, out: int) -> Any:
        with pids.open("a") as f:
            f.write(f"{os.getpid()} {index}\n")
        return real(self, index, shards, out)

    monkeypatch.setattr(ChainsWatcher, "_run_shard", recorded)
    return pids


def backlog(cluster: Cluster) -> None:
    chains_config(cluster, {"artifacts.oci.storage": ""})
    pipelinerun(cluster, ["a", "b"])
    for i in range(RUNS):
        finished_taskrun(cluster, f"build-{i:02d}")


def test_a_sharded_sync_signs_every_run_once_pipelineruns_with_their_children(
    cluster: Cluster, forks: Path
) -> None:
    backlog(cluster)
    start = cluster.store.current_resource_version()
    before = count("TaskRun", "marked_signed"), count("PipelineRun", "marked_signed")
    notices: list[str] = []
    summary = make_watcher(cluster, notices).sync(workers=2)
    children = [line.split() for line in forks.read_text().splitlines()]
    assert sorted(index for _, index in children) == ["0", "1"]
    assert os.getpid() not in {int(pid) for pid, _ in children}
    assert (summary.signed, summary.failed, summary.left) == (RUNS + 3, 0, 0)
    names = [f"build-{i:02d}" for i in range(RUNS)] + ["p-a", "p-b"]
    assert len(notices) == 1  # one home key, made before the fork, announced once
    public = serialization.load_pem_private_key((cluster.home / HOME_KEY).read_bytes(), None).public_key()
    for name in names:
        run = get(cluster, "TaskRun", name)
        envelope = json.loads(
            base64.b64decode(ann(run)[f"chains.tekton.dev/signature-taskrun-{run['metadata']['uid']}"])
        )
        key = SSlibKey.from_crypto(public, keyid=envelope["signatures"][0]["keyid"])  # type: ignore[arg-type]
        SslibEnvelope.from_dict(envelope).verify([key], 1)  # signed in a child, with the same key
        assert ann(run)[A.SIGNED] == "true" and "finalizers" not in run["metadata"]  # p-a/p-b: released
    assert ann(get(cluster, "PipelineRun", "p"))[A.SIGNED] == "true"
    # each run was signed once: every event after its mark carries the same signature
    signatures: dict[str, set[str]] = {}
    for e in cluster.store.events_since(start, ("TaskRun", "PipelineRun")):
        notes = e.object["metadata"].get("annotations") or {}
        signatures.setdefault(e.name, set()).update(v for k, v in notes.items() if "/signature-" in k)
    assert {name: len(values) for name, values in signatures.items()} == {n: 1 for n in [*names, "p"]}
    # the counters of the children are the parent's too
    assert count("TaskRun", "marked_signed") - before[0] == RUNS + 2
    assert count("PipelineRun", "marked_signed") - before[1] == 1


def test_a_pipelinerun_and_its_taskruns_are_in_one_shard() -> None:
    pr = {"kind": "PipelineRun", "metadata": {"name": "p", "namespace": "ns"}}
    child = {
        "kind": "TaskRun",
        "metadata": {"name": "p-a", "namespace": "ns", "labels": {"tekton.dev/pipelineRun": "p"}},
    }
    other = {"kind": "TaskRun", "metadata": {"name": "p", "namespace": "other"}}
    assert shard_of(pr) == shard_of(child) != shard_of(other)


def test_a_failed_shard_is_signed_by_the_parent(
    cluster: Cluster, forks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backlog(cluster)
    real = ChainsWatcher._sync_here

    def dies_in_shard_one(self: ChainsWatcher) -> Any:
        if self._shard == (1, 2):
            os._exit(3)
        return real(self)

    monkeypatch.setattr(ChainsWatcher, "_sync_here", dies_in_shard_one)
    summary = make_watcher(cluster).sync(workers=2)
    assert (summary.signed, summary.failed) == (RUNS + 3, 0)
    for i in range(RUNS):
        assert ann(get(cluster, "TaskRun", f"build-{i:02d}"))[A.SIGNED] == "true"


def test_no_fork_with_other_threads_a_pkcs11_signer_or_a_small_backlog(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    backlog(cluster)
    watcher = make_watcher(cluster)
    monkeypatch.setattr(ChainsWatcher, "SHARD_MIN", 10)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    assert watcher._shards(2) == 2
    assert watcher._shards(1) == 1
    monkeypatch.setattr(ChainsWatcher, "SHARD_MIN", RUNS * 2)
    assert watcher._shards(2) == 1  # a small backlog: a fork costs more than it saves
    monkeypatch.setattr(ChainsWatcher, "SHARD_MIN", 10)
    monkeypatch.setattr(threading, "active_count", lambda: 3)
    assert watcher._shards(2) == 1  # an engine's threads: forking them is not safe
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    config = get(cluster, "ConfigMap", "chains-config")
    config["data"] = {"artifacts.taskrun.signer": "kms", "signers.kms.kmsref": "pkcs11:token=t;object=k"}
    cluster.store.update(config)
    watcher.settings.invalidate_all()
    assert watcher._shards(2) == 1  # a PKCS#11 session does not survive a fork
