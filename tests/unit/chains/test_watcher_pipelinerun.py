"""PipelineRuns: signed after their child TaskRuns, which stay held until the PipelineRun is signed."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from test_watcher import ann, chains_config, cluster, get, make_watcher, taskrun_body

from tektite.chains import annotations as A
from tektite.chains.watcher import Action
from tektite.controller.cluster import Cluster
from tektite.core.conditions import set_condition
from tektite.core.derived import CHAINS_PENDING
from tektite.store.base import MetadataPatch

__all__ = ["cluster"]

JSON = dict[str, Any]
DIGEST = "sha256:" + "cd" * 32


def pipelinerun(cluster: Cluster, children: list[str], *, done: bool = True) -> JSON:
    status: JSON = {
        "startTime": "2024-05-01T10:00:00Z",
        "pipelineSpec": {
            "tasks": [
                {"name": c, "taskSpec": {"steps": [{"name": "build", "image": "busybox"}]}} for c in children
            ]
        },
        "childReferences": [
            {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": f"p-{c}", "pipelineTaskName": c}
            for c in children
        ],
    }
    if done:
        status["completionTime"] = "2024-05-01T10:01:00Z"
        set_condition(status, "True", "Succeeded", "Tasks Completed: 1")
    else:
        set_condition(status, "Unknown", "Running", "running")
    pr = cluster.store.create(
        {
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "metadata": {
                "name": "p",
                "namespace": "default",
                "finalizers": ["chains.tekton.dev/pipelinerun"],
            },
            "spec": {"pipelineSpec": status["pipelineSpec"]},
            "status": status,
        }
    )
    for c in children:
        body = taskrun_body(
            f"p-{c}",
            results=[
                {"name": "IMAGE_URL", "type": "string", "value": f"registry.test/app-{c}"},
                {"name": "IMAGE_DIGEST", "type": "string", "value": DIGEST},
            ],
            labels={"tekton.dev/pipelineRun": "p", "tekton.dev/pipelineTask": c},
            ownerReferences=[
                {
                    "apiVersion": "tekton.dev/v1",
                    "kind": "PipelineRun",
                    "name": "p",
                    "uid": pr["metadata"]["uid"],
                }
            ],
            finalizers=["chains.tekton.dev"],
        )
        cluster.store.create(body)
    return pr


def drain(watcher: Any) -> list[tuple[tuple[str, str, str], str]]:
    """Process the queue until empty (the watcher queues parents and children itself)."""
    done = []
    watcher.queue.close()
    while (item := watcher.queue.get(timeout=0)) is not None:
        done.append((item[0], watcher.process(*item)))
    return done


def test_a_pipelinerun_waits_for_its_children(cluster: Cluster) -> None:
    pipelinerun(cluster, ["a", "b"])
    watcher = make_watcher(cluster)
    assert watcher.process(("PipelineRun", "default", "p")) == Action.WAIT
    assert A.SIGNED not in ann(get(cluster, "PipelineRun", "p"))


def test_children_first_then_the_pipelinerun_then_children_are_released(cluster: Cluster) -> None:
    chains_config(
        cluster, {"artifacts.pipelinerun.enable-deep-inspection": "true", "artifacts.oci.storage": ""}
    )
    pr = pipelinerun(cluster, ["a", "b"])
    watcher = make_watcher(cluster)
    assert watcher.process(("TaskRun", "default", "p-a")) == Action.SIGNED
    # signed, but the finalizer stays: the PipelineRun's provenance still has to read it
    assert get(cluster, "TaskRun", "p-a")["metadata"]["finalizers"] == ["chains.tekton.dev"]
    assert watcher.process(("TaskRun", "default", "p-b")) == Action.SIGNED
    steps = drain(watcher)  # the second child queued the PipelineRun, which queues its children
    assert (("PipelineRun", "default", "p"), Action.SIGNED) in steps
    assert {k for k, a in steps if a == Action.REMOVE_FINALIZER} == {
        ("TaskRun", "default", "p-a"),
        ("TaskRun", "default", "p-b"),
    }
    for name in ("p-a", "p-b"):
        assert "finalizers" not in get(cluster, "TaskRun", name)["metadata"]
    signed = get(cluster, "PipelineRun", "p")
    assert "finalizers" not in signed["metadata"]
    statement = json.loads(
        base64.b64decode(ann(signed)[f"chains.tekton.dev/payload-pipelinerun-{pr['metadata']['uid']}"])
    )
    assert statement["predicate"]["buildType"] == "tekton.dev/v1/PipelineRun"
    # deep inspection read the children's type-hinted images
    assert {s["name"] for s in statement["subject"]} == {"registry.test/app-a", "registry.test/app-b"}
    # all settled: the next watcher start reads none of them (tektite.core.derived)
    waiting = [cluster.store.list(k, label_selector=CHAINS_PENDING).items for k in ("TaskRun", "PipelineRun")]
    assert waiting == [[], []]


def test_deleting_a_pipelinerun_waits_for_its_signature_and_keeps_its_children(cluster: Cluster) -> None:
    chains_config(cluster, {"artifacts.oci.storage": ""})
    pipelinerun(cluster, ["a"])
    watcher = make_watcher(cluster)
    watcher.process(("TaskRun", "default", "p-a"))
    cluster.delete("PipelineRun", "p")  # cascades to the child: both are only marked for deletion
    assert get(cluster, "PipelineRun", "p")["metadata"]["deletionTimestamp"]
    assert get(cluster, "TaskRun", "p-a")["metadata"]["deletionTimestamp"]
    steps = drain(watcher)
    assert (("PipelineRun", "default", "p"), Action.SIGNED) in steps
    assert cluster.store.try_get("PipelineRun", "p") is None
    assert cluster.store.try_get("TaskRun", "p-a") is None


def test_a_missing_child_fails_the_pipelinerun_with_its_name(cluster: Cluster) -> None:
    pipelinerun(cluster, ["a"])
    cluster.store.delete("TaskRun", "p-a")  # the finalizer holds it; force it out
    obj = cluster.store.get("TaskRun", "p-a")
    obj["metadata"]["finalizers"] = []
    cluster.store.update(obj)
    watcher = make_watcher(cluster)
    assert watcher.process(("PipelineRun", "default", "p")) == Action.RETRY
    assert 'child TaskRun "p-a" of the PipelineRun is gone' in ann(get(cluster, "PipelineRun", "p"))[A.ERROR]


def test_a_sync_writes_its_marks_from_the_runs_it_read_and_changes_nothing_else(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync owns what it reads, so each mark is written from its own copy of the run
    (MetadataPatch.base) instead of being merged in SQL. Formatting, signing and storing must
    then leave that copy as it was read: everything but the marks is stored unchanged."""
    chains_config(
        cluster,
        {
            "artifacts.oci.storage": "tekton",
            "artifacts.pipelinerun.format": "slsa/v2alpha4",
            "artifacts.pipelinerun.enable-deep-inspection": "true",
        },
    )
    pipelinerun(cluster, ["a", "b"])
    cluster.store.create(
        taskrun_body("alone", results=[{"name": "IMAGES", "value": f"registry.test/x@{DIGEST}"}])
    )
    before = {
        (o["kind"], o["metadata"]["name"]): o
        for k in ("TaskRun", "PipelineRun")
        for o in cluster.store.list(k).items
    }
    written_from_base = []
    real = MetadataPatch.applied_to

    def applied_to(self: MetadataPatch, base: JSON, rv: str) -> JSON:
        written_from_base.append(self.name)
        return real(self, base, rv)

    monkeypatch.setattr(MetadataPatch, "applied_to", applied_to)
    assert make_watcher(cluster).sync(workers=1).signed == 4
    assert sorted(written_from_base) == ["alone", "p", "p-a", "p-b"]

    def unmarked(obj: JSON) -> JSON:
        meta = {
            k: v
            for k, v in obj["metadata"].items()
            if k not in ("resourceVersion", "finalizers", "annotations")
        }
        notes = {k: v for k, v in ann(obj).items() if not k.startswith(A.PREFIX)}
        return {**obj, "metadata": {**meta, "annotations": notes}}

    for (kind, name), old in before.items():
        new = get(cluster, kind, name)
        assert ann(new)[A.SIGNED] == "true"
        assert unmarked(new) == unmarked(old), f"{kind} {name} changed beyond its marks"
