"""``sync`` shares a backlog among forked processes that claim chunks of it: every run signed and
marked exactly once, a PipelineRun with its children, the parent's counters and summary adding up,
what a failed process left done again, and no fork where it is not safe."""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
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
from tektite.chains.watcher import ChainsWatcher
from tektite.controller.cluster import Cluster
from tektite.store.sql import SQLStore

__all__ = ["cluster"]

JSON = dict[str, Any]
RUNS = 24
SHARD_INDEX = -1  # set in a forked child by the forks fixture


@pytest.fixture()
def forks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A small backlog is enough to shard; the children write their pids to a file. (Other tests
    may have left idle daemon threads in this process: sync would not fork then.)"""
    monkeypatch.setattr(ChainsWatcher, "SHARD_MIN", 10)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    pids = tmp_path / "pids"
    real = ChainsWatcher._run_shard

    def recorded(self: ChainsWatcher, index: int, *args: Any) -> Any:
        global SHARD_INDEX
        SHARD_INDEX = index  # this process's (a forked child's) own copy
        with pids.open("a") as f:
            f.write(f"{os.getpid()} {index}\n")
        return real(self, index, *args)

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


def test_the_backlog_is_cut_in_chunks_a_pipelinerun_with_its_taskruns_taskruns_first(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    backlog(cluster)
    chunks = make_watcher(cluster)._chunks()
    runs = [(kind, name) for chunk in chunks for kind, _, names in chunk for name in names]
    expected = [("TaskRun", f"build-{i:02d}") for i in range(RUNS)]
    assert sorted(runs) == sorted([*expected, ("TaskRun", "p-a"), ("TaskRun", "p-b"), ("PipelineRun", "p")])
    assert len(chunks) == 1  # at least SCAN_STEP (32) runs per chunk
    monkeypatch.setattr("tektite.chains.watcher.SCAN_STEP", 4)
    chunks = make_watcher(cluster)._chunks()  # 27 runs: about SCAN_STEP (4) per chunk
    assert 6 <= len(chunks) <= 8 and all(sum(len(n) for _, _, n in c) <= 6 for c in chunks)
    [with_p] = [c for c in chunks if ("PipelineRun", "default", ["p"]) in c]
    assert [kind for kind, _, _ in with_p] == ["TaskRun", "PipelineRun"]  # TaskRuns first
    assert {"p-a", "p-b"} <= set(with_p[0][2])


def test_the_backlog_holds_only_the_runs_that_wait_for_chains(cluster: Cluster) -> None:
    backlog(cluster)
    make_watcher(cluster).sync(workers=1)
    finished_taskrun(cluster, "new")
    chunks = make_watcher(cluster)._chunks()
    assert [(kind, names) for chunk in chunks for kind, _, names in chunk] == [("TaskRun", ["new"])]


def test_what_a_failed_process_left_is_signed_by_the_parent(
    cluster: Cluster, forks: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    backlog(cluster)
    monkeypatch.setattr("tektite.chains.watcher.SCAN_STEP", 4)  # small chunks: several to claim
    real = SQLStore.get_many
    first = [True]

    def dies_in_the_second_process(self: SQLStore, *args: Any) -> Any:
        if SHARD_INDEX == 1:
            os._exit(3)  # with a chunk claimed and nothing of it signed
        if first[0]:  # the first process waits: the second claims a chunk meanwhile
            first[0] = False
            time.sleep(0.3)
        return real(self, *args)

    monkeypatch.setattr(SQLStore, "get_many", dies_in_the_second_process)
    with caplog.at_level(logging.WARNING, logger="tektite.chains"):
        summary = make_watcher(cluster).sync(workers=2)
    assert "a signing process failed (wait status 768); signing what is left here" in caplog.text
    assert (summary.signed, summary.failed) == (RUNS + 3, 0)
    for i in range(RUNS):
        assert ann(get(cluster, "TaskRun", f"build-{i:02d}"))[A.SIGNED] == "true"
    assert ann(get(cluster, "PipelineRun", "p"))[A.SIGNED] == "true"


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
