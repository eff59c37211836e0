"""The Chains watcher on a real SQL store: finalizers, signing, marking, retries, deletion.

Also the kit the other ``test_watcher_*`` modules import (``finished_taskrun``, ``make_watcher``...).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.signer import SSlibKey

from tektite.chains import annotations as A
from tektite.chains.keys import HOME_KEY
from tektite.chains.metrics import counter
from tektite.chains.storage import BACKENDS, StorageContext, StorageItem
from tektite.chains.watcher import Action, ChainsWatcher
from tektite.controller.cluster import Cluster
from tektite.core.conditions import set_condition
from tektite.errors import TektiteError

JSON = dict[str, Any]
HOST_IMAGE = "host://builder?os=debian-12"
DIGEST = "sha256:" + "ab" * 32


# -- kit ------------------------------------------------------------------------------------------


def chains_config(cluster: Cluster, data: dict[str, str], namespace: str = "default") -> JSON:
    return cluster.store.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "chains-config", "namespace": namespace},
            "data": data,
        }
    )


def taskrun_body(name: str, *, results: list[JSON] | None = None, done: bool = True, **meta: Any) -> JSON:
    status: JSON = {
        "podName": f"{name}-pod",
        "startTime": "2024-05-01T10:00:00Z",
        "taskSpec": {"steps": [{"name": "build", "image": "busybox", "script": "echo hi"}]},
        "steps": [
            {
                "name": "build",
                "container": "step-build",
                "imageID": HOST_IMAGE,
                "terminated": {"exitCode": 0, "reason": "Completed"},
            }
        ],
    }
    if done:
        status["completionTime"] = "2024-05-01T10:00:05Z"
        status["results"] = results or []
        set_condition(status, "True", "Succeeded", "All Steps have completed executing")
    else:
        set_condition(status, "Unknown", "Running", "Not all Steps in the Task have finished executing")
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {"name": name, "namespace": "default", **meta},
        "spec": {"taskSpec": {"steps": [{"name": "build", "image": "busybox", "script": "echo hi"}]}},
        "status": status,
    }


def finished_taskrun(cluster: Cluster, name: str = "build", **kw: Any) -> JSON:
    return cluster.store.create(taskrun_body(name, **kw))


def make_watcher(cluster: Cluster, notices: list[str] | None = None, **kw: Any) -> ChainsWatcher:
    kw.setdefault("host_registry_config", False)
    return ChainsWatcher(cluster, notify=(notices.append if notices is not None else lambda m: None), **kw)


def get(cluster: Cluster, kind: str, name: str) -> JSON:
    return cluster.store.get(kind, name, "default")


def ann(obj: JSON) -> dict[str, str]:
    return dict(obj["metadata"].get("annotations") or {})


def count(kind: str, event: str) -> float:
    return float(counter(kind, event)._value.get())


@pytest.fixture()
def cluster(tmp_path: Path) -> Cluster:
    c = Cluster(tmp_path / "home")
    yield c
    c.close()


@pytest.fixture()
def failing_backend(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], list[str]]:
    """Register a ``broken`` storage backend that fails ``n`` times with ``message``."""
    calls: list[str] = []

    def install(message: str, fail_times: int = 1000) -> list[str]:
        class Broken:
            name = "tekton"

            def store(self, item: StorageItem, ctx: StorageContext) -> None:
                calls.append(item.short_key)
                if len(calls) <= fail_times:
                    raise TektiteError(message)
                ctx.annotations["chains.tekton.dev/payload-" + item.short_key] = "stored"

        monkeypatch.setitem(BACKENDS, "tekton", lambda env: Broken())
        return calls

    return install


# -- finalizers -----------------------------------------------------------------------------------


def test_a_running_taskrun_gets_the_chains_finalizer(cluster: Cluster) -> None:
    cluster.store.create(taskrun_body("running", done=False))
    assert make_watcher(cluster).process(("TaskRun", "default", "running")) == Action.ADD_FINALIZER
    assert get(cluster, "TaskRun", "running")["metadata"]["finalizers"] == ["chains.tekton.dev"]


def test_pipelineruns_get_their_own_finalizer_name(cluster: Cluster) -> None:
    pr = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"pipelineSpec": {"tasks": []}},
    }
    cluster.store.create(pr)
    make_watcher(cluster).process(("PipelineRun", "default", "p"))
    assert get(cluster, "PipelineRun", "p")["metadata"]["finalizers"] == ["chains.tekton.dev/pipelinerun"]


def test_a_run_deleted_before_it_finished_is_let_go(cluster: Cluster) -> None:
    cluster.store.create(taskrun_body("running", done=False, finalizers=["chains.tekton.dev"]))
    result = cluster.delete("TaskRun", "running")
    assert result and cluster.store.try_get("TaskRun", "running") is not None  # held by the finalizer
    assert make_watcher(cluster).process(("TaskRun", "default", "running")) == Action.REMOVE_FINALIZER
    assert cluster.store.try_get("TaskRun", "running") is None


def test_other_finalizers_are_kept(cluster: Cluster) -> None:
    cluster.store.create(taskrun_body("running", done=False, finalizers=["example.com/mine"]))
    make_watcher(cluster).process(("TaskRun", "default", "running"))
    assert get(cluster, "TaskRun", "running")["metadata"]["finalizers"] == [
        "example.com/mine",
        "chains.tekton.dev",
    ]


def test_runs_managed_by_another_controller_are_ignored(cluster: Cluster) -> None:
    body = taskrun_body("theirs", done=False)
    body["spec"]["managedBy"] = "example.com/other"
    cluster.store.create(body)
    assert make_watcher(cluster).process(("TaskRun", "default", "theirs")) == Action.NOTHING
    assert "finalizers" not in get(cluster, "TaskRun", "theirs")["metadata"]


def test_filter_managed_by_adds_accepted_controllers(cluster: Cluster) -> None:
    chains_config(cluster, {"filter.managed-by": "example.com/other"})
    body = taskrun_body("theirs")
    body["spec"]["managedBy"] = "example.com/other"
    cluster.store.create(body)
    assert make_watcher(cluster).process(("TaskRun", "default", "theirs")) == Action.SIGNED


# -- signing ----------------------------------------------------------------------------------------


def test_a_finished_taskrun_is_signed_stored_and_marked_in_one_update(
    cluster: Cluster, tmp_path: Path
) -> None:
    tr = finished_taskrun(cluster, finalizers=["chains.tekton.dev"])
    rv_before = cluster.store.current_resource_version()
    assert make_watcher(cluster).process(("TaskRun", "default", "build")) == Action.SIGNED
    assert cluster.store.current_resource_version() == rv_before + 1  # exactly one write
    signed = get(cluster, "TaskRun", "build")
    notes = ann(signed)
    key = f"taskrun-{tr['metadata']['uid']}"
    assert notes[A.SIGNED] == "true"
    assert "finalizers" not in signed["metadata"]
    payload = base64.b64decode(notes[f"chains.tekton.dev/payload-{key}"])
    envelope = json.loads(base64.b64decode(notes[f"chains.tekton.dev/signature-{key}"]))
    assert notes[f"chains.tekton.dev/cert-{key}"] == "" and notes[f"chains.tekton.dev/chain-{key}"] == ""
    statement = json.loads(payload)
    assert statement["predicateType"] == "https://slsa.dev/provenance/v0.2"  # the default in-toto format
    assert statement["predicate"]["materials"] == [{"uri": HOST_IMAGE}]  # what ran, no invented digest
    # securesystemslib (not tektite) verifies the envelope with the home key's public half
    private = serialization.load_pem_private_key((cluster.home / HOME_KEY).read_bytes(), None)
    keyid = envelope["signatures"][0]["keyid"]
    sslib_key = SSlibKey.from_crypto(private.public_key(), keyid=keyid)  # type: ignore[arg-type]
    assert base64.b64decode(envelope["payload"]) == payload
    assert keyid in SslibEnvelope.from_dict(envelope).verify([sslib_key], 1)


def test_the_home_key_is_created_once_with_mode_0600(cluster: Cluster) -> None:
    notices: list[str] = []
    finished_taskrun(cluster, name="one")
    finished_taskrun(cluster, name="two")
    watcher = make_watcher(cluster, notices)
    watcher.process(("TaskRun", "default", "one"))
    watcher.process(("TaskRun", "default", "two"))
    key = cluster.home / HOME_KEY
    assert key.stat().st_mode & 0o777 == 0o600
    assert b"BEGIN PRIVATE KEY" in key.read_bytes()
    assert len(notices) == 1 and str(key) in notices[0] and "tektite chains public-key" in notices[0]
    make_watcher(cluster, notices).process(("TaskRun", "default", "two"))
    assert len(notices) == 1  # a second watcher finds the key: nothing to say


def test_a_signing_secret_takes_precedence_over_the_home_key(cluster: Cluster) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cluster.store.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "signing-secrets", "namespace": "tekton-chains"},
            "data": {"x509.pem": base64.b64encode(pem).decode()},
        }
    )
    tr = finished_taskrun(cluster)
    make_watcher(cluster).process(("TaskRun", "default", "build"))
    envelope = json.loads(
        base64.b64decode(
            ann(get(cluster, "TaskRun", "build"))[
                f"chains.tekton.dev/signature-taskrun-{tr['metadata']['uid']}"
            ]
        )
    )
    sslib_key = SSlibKey.from_crypto(key.public_key(), keyid=envelope["signatures"][0]["keyid"])
    SslibEnvelope.from_dict(envelope).verify([sslib_key], 1)
    assert not (cluster.home / HOME_KEY).exists()


def test_chains_config_in_tekton_chains_wins_over_default(cluster: Cluster) -> None:
    chains_config(cluster, {"artifacts.taskrun.format": "slsa/v1"}, namespace="default")
    chains_config(cluster, {"artifacts.taskrun.format": "slsa/v2alpha4"}, namespace="tekton-chains")
    tr = finished_taskrun(cluster)
    make_watcher(cluster).process(("TaskRun", "default", "build"))
    payload = ann(get(cluster, "TaskRun", "build"))[
        f"chains.tekton.dev/payload-taskrun-{tr['metadata']['uid']}"
    ]
    assert json.loads(base64.b64decode(payload))["predicateType"] == "https://slsa.dev/provenance/v1"


def test_the_none_signer_stores_an_unsigned_envelope_and_marks_signed(cluster: Cluster) -> None:
    chains_config(cluster, {"artifacts.taskrun.signer": "none"})
    tr = finished_taskrun(cluster)
    assert make_watcher(cluster).process(("TaskRun", "default", "build")) == Action.SIGNED
    sig = ann(get(cluster, "TaskRun", "build"))[
        f"chains.tekton.dev/signature-taskrun-{tr['metadata']['uid']}"
    ]
    assert json.loads(base64.b64decode(sig))["signatures"] == []
    assert not (cluster.home / HOME_KEY).exists()  # nothing needed a key


def test_empty_storage_marks_signed_without_storing(cluster: Cluster) -> None:
    chains_config(cluster, {"artifacts.taskrun.storage": "", "artifacts.oci.storage": ""})
    finished_taskrun(cluster)
    assert make_watcher(cluster).process(("TaskRun", "default", "build")) == Action.SIGNED
    notes = ann(get(cluster, "TaskRun", "build"))
    assert notes == {A.SIGNED: "true"}


def test_sync_signs_a_few_runs_at_a_time_as_it_reads_them(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tektite.chains.watcher.SCAN_STEP", 2)
    for i in range(5):
        finished_taskrun(cluster, f"build-{i}")
    real_scan = cluster.store.scan
    signed_when_read: list[int] = []

    def scan(kind: str, label_selector: str | None = None) -> Iterator[JSON]:
        for obj in real_scan(kind, page=3, label_selector=label_selector):  # pages of 3 runs
            if kind == "TaskRun":
                runs = cluster.store.list("TaskRun").items
                signed_when_read.append(sum(A.SIGNED in ann(r) for r in runs))
            yield obj

    monkeypatch.setattr(cluster.store, "scan", scan)
    assert make_watcher(cluster).sync(workers=1).signed == 5
    assert signed_when_read == [0, 0, 2, 2, 4]  # two signed before the next two are read
    assert all(ann(get(cluster, "TaskRun", f"build-{i}"))[A.SIGNED] == "true" for i in range(5))


def test_a_start_reads_only_the_runs_that_wait_for_chains(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A home's signed history is not read again by each watcher start (each `tektite run`):
    the store's index of runs that wait (tektite.dev/chains=pending) says which to read."""
    for i in range(3):
        finished_taskrun(cluster, f"old-{i}")
    assert make_watcher(cluster).sync(workers=1).signed == 3
    finished_taskrun(cluster, "new")
    real_scan, read = cluster.store.scan, []

    def scan(kind: str, label_selector: str | None = None) -> Iterator[JSON]:
        for obj in real_scan(kind, label_selector=label_selector):
            read.append(obj["metadata"]["name"])
            yield obj

    monkeypatch.setattr(cluster.store, "scan", scan)
    assert make_watcher(cluster).sync(workers=1).signed == 1
    assert read == ["new"]
    assert ann(get(cluster, "TaskRun", "new"))[A.SIGNED] == "true"


def test_a_changed_storage_config_is_used_by_the_same_watcher(cluster: Cluster) -> None:
    config = chains_config(cluster, {"artifacts.taskrun.storage": "", "artifacts.oci.storage": ""})
    watcher = make_watcher(cluster)
    finished_taskrun(cluster, "first")
    assert watcher.sync().signed == 1
    config["data"] = {"artifacts.taskrun.storage": "tekton", "artifacts.oci.storage": ""}
    cluster.store.update(config)
    finished_taskrun(cluster, "second")
    assert watcher.sync().signed == 1
    assert ann(get(cluster, "TaskRun", "first")) == {A.SIGNED: "true"}
    assert any(k.startswith("chains.tekton.dev/payload-") for k in ann(get(cluster, "TaskRun", "second")))


def test_type_hinted_images_get_simple_signing_signatures(cluster: Cluster) -> None:
    chains_config(cluster, {"artifacts.oci.storage": "tekton"})
    finished_taskrun(
        cluster,
        results=[
            {"name": "IMAGE_URL", "type": "string", "value": "registry.test/app"},
            {"name": "IMAGE_DIGEST", "type": "string", "value": DIGEST},
        ],
    )
    make_watcher(cluster).process(("TaskRun", "default", "build"))
    notes = ann(get(cluster, "TaskRun", "build"))
    short = DIGEST.removeprefix("sha256:")[:12]
    payload = json.loads(base64.b64decode(notes[f"chains.tekton.dev/payload-{short}"]))
    assert payload["critical"]["image"]["docker-manifest-digest"] == DIGEST
    assert payload["critical"]["identity"]["docker-reference"] == "registry.test/app"
    assert len(base64.b64decode(notes[f"chains.tekton.dev/signature-{short}"])) > 60  # a raw DER signature


def test_metrics_count_signatures_stores_and_marks(cluster: Cluster) -> None:
    before = {e: count("TaskRun", e) for e in ("sign_created", "payload_stored", "marked_signed")}
    finished_taskrun(cluster)
    make_watcher(cluster).process(("TaskRun", "default", "build"))
    assert {e: count("TaskRun", e) - before[e] for e in before} == {
        "sign_created": 1,
        "payload_stored": 1,
        "marked_signed": 1,
    }


def test_a_reconciled_run_is_never_signed_again(cluster: Cluster) -> None:
    finished_taskrun(cluster)
    watcher = make_watcher(cluster)
    watcher.process(("TaskRun", "default", "build"))
    first = get(cluster, "TaskRun", "build")
    assert watcher.process(("TaskRun", "default", "build")) == Action.NOTHING
    assert make_watcher(cluster).process(("TaskRun", "default", "build"), first) == Action.NOTHING
    assert (
        get(cluster, "TaskRun", "build")["metadata"]["resourceVersion"]
        == first["metadata"]["resourceVersion"]
    )


def test_a_stale_snapshot_does_not_mark_twice(cluster: Cluster) -> None:
    """Two watchers that both read the unsigned run: the compare-and-swap lets one mark it."""
    snapshot = finished_taskrun(cluster)
    first, second = make_watcher(cluster), make_watcher(cluster)
    assert first.process(("TaskRun", "default", "build"), snapshot) == Action.SIGNED
    marked = get(cluster, "TaskRun", "build")
    assert second.process(("TaskRun", "default", "build"), snapshot) == Action.NOTHING
    assert get(cluster, "TaskRun", "build") == marked


# -- failures ---------------------------------------------------------------------------------------


def test_failures_are_retried_three_times_then_marked_failed(
    cluster: Cluster, failing_backend: Callable[..., list[str]]
) -> None:
    calls = failing_backend("the disk is full")
    finished_taskrun(cluster, finalizers=["chains.tekton.dev"])
    watcher = make_watcher(cluster)
    failures = count("TaskRun", "signing_failures")
    actions = [watcher.process(("TaskRun", "default", "build")) for _ in range(5)]
    assert actions == [Action.RETRY, Action.RETRY, Action.RETRY, Action.FAILED, Action.NOTHING]
    assert len(calls) == 4
    final = get(cluster, "TaskRun", "build")
    notes = ann(final)
    assert notes[A.SIGNED] == "failed" and notes[A.RETRIES] == "3"
    assert "tekton storage" in notes[A.ERROR] and "the disk is full" in notes[A.ERROR]
    assert "finalizers" not in final["metadata"]  # a failed run can be deleted
    assert count("TaskRun", "signing_failures") - failures == 4


def test_a_retry_that_succeeds_clears_the_error(
    cluster: Cluster, failing_backend: Callable[..., list[str]]
) -> None:
    failing_backend("flaky", fail_times=1)
    finished_taskrun(cluster)
    watcher = make_watcher(cluster)
    assert watcher.process(("TaskRun", "default", "build")) == Action.RETRY
    assert ann(get(cluster, "TaskRun", "build"))[A.ERROR].endswith("flaky")
    assert watcher.process(("TaskRun", "default", "build")) == Action.SIGNED
    notes = ann(get(cluster, "TaskRun", "build"))
    assert notes[A.SIGNED] == "true" and A.ERROR not in notes and notes[A.RETRIES] == "1"


def test_a_bad_chains_config_fails_the_run_with_the_config_error(cluster: Cluster) -> None:
    chains_config(cluster, {"artifacts.taskrun.fromat": "slsa/v1"})
    finished_taskrun(cluster, annotations={A.RETRIES: "3"})
    assert make_watcher(cluster).process(("TaskRun", "default", "build")) == Action.FAILED
    error = ann(get(cluster, "TaskRun", "build"))[A.ERROR]
    assert "artifacts.taskrun.fromat" in error and "did you mean 'artifacts.taskrun.format'" in error


def test_unsupported_storage_answers_not_supported_yet(cluster: Cluster) -> None:
    chains_config(cluster, {"artifacts.taskrun.storage": "gcs"})
    finished_taskrun(cluster, annotations={A.RETRIES: "3"})
    make_watcher(cluster).process(("TaskRun", "default", "build"))
    assert "gcs storage backend is not supported yet" in ann(get(cluster, "TaskRun", "build"))[A.ERROR]


# -- deletion ---------------------------------------------------------------------------------------


def test_a_finished_run_is_only_deleted_once_signed(cluster: Cluster) -> None:
    tr = finished_taskrun(cluster, finalizers=["chains.tekton.dev"])
    run_dir = cluster.paths.taskrun_dir("default", "build", tr["metadata"]["uid"])
    run_dir.mkdir(parents=True)
    cluster.delete("TaskRun", "build")
    pending = cluster.store.get("TaskRun", "build")
    assert pending["metadata"]["deletionTimestamp"] and run_dir.is_dir()
    assert make_watcher(cluster).process(("TaskRun", "default", "build")) == Action.SIGNED
    assert cluster.store.try_get("TaskRun", "build") is None
    assert not run_dir.exists()  # the watcher's last write removed the run: its directory goes too
