"""Chains end to end with real processes: ``tektite run`` (engine + in-engine watcher), standalone
``tektite chains run`` watchers, a real docker-registry, and checks by code tektite did not write
(securesystemslib for DSSE envelopes, ``openssl dgst -sha256 -verify`` for image signatures).

Every process is started here and stopped by its PID.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import clirun
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from registry import push_random_image
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.exceptions import VerificationError as SslibVerificationError
from securesystemslib.signer import SSlibKey

from tektite.chains.lease import LEASE_NAME, LEASE_NAMESPACE
from tektite.controller.cluster import Cluster
from tektite.core.conditions import set_condition

JSON = dict[str, Any]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
TASKRUN = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: {name}
spec:
  taskSpec:
    results:
    - name: IMAGE_URL
    - name: IMAGE_DIGEST
    steps:
    - name: build
      image: busybox
      script: |
        {wait}
        printf '%s' '{url}' > $(results.IMAGE_URL.path)
        printf '%s' '{digest}' > $(results.IMAGE_DIGEST.path)
"""


# -- helpers --------------------------------------------------------------------------------------


def tektite(
    home: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return clirun.tektite(home, *args, env=env, check=check)


def start_tektite(
    home: Path, log: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tektite.cli.main", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TEKTITE_HOME": str(home), **(env or {})},
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def eventually(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def with_cluster(home: Path, fn: Callable[[Cluster], Any]) -> Any:
    cluster = Cluster(home)
    try:
        return fn(cluster)
    finally:
        cluster.close()


def annotations(home: Path, kind: str, name: str) -> dict[str, str]:
    obj = with_cluster(home, lambda c: c.store.try_get(kind, name, "default"))
    return dict((obj or {}).get("metadata", {}).get("annotations") or {})


def finished_taskrun(name: str) -> JSON:
    status: JSON = {
        "podName": f"{name}-pod",
        "startTime": "2024-05-01T10:00:00Z",
        "completionTime": "2024-05-01T10:00:05Z",
        "taskSpec": {"steps": [{"name": "build", "image": "busybox", "script": "true"}]},
        "steps": [{"name": "build", "container": "step-build", "imageID": "host://builder?os=debian-12"}],
    }
    set_condition(status, "True", "Succeeded", "All Steps have completed executing")
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"taskSpec": status["taskSpec"]},
        "status": status,
    }


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture()
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        stop(proc)


def offline_config(home: Path) -> None:
    """Image signatures in tekton storage: the registry.test images of these runs do not exist."""
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "chains-config", "namespace": "tekton-chains"},
        "data": {"artifacts.oci.storage": "tekton"},
    }
    with_cluster(home, lambda c: c.store.create(config))


def public_key_pem(home: Path) -> bytes:
    return tektite(home, "chains", "public-key").stdout.encode()


def envelope_of(home: Path, kind: str, name: str, uid: str) -> JSON:
    notes = annotations(home, kind, name)
    return dict(json.loads(base64.b64decode(notes[f"chains.tekton.dev/signature-{kind.lower()}-{uid}"])))


# -- the in-engine watcher ------------------------------------------------------------------------


def test_tektite_run_signs_and_securesystemslib_verifies(home: Path, tmp_path: Path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text(
        TASKRUN.format(name="build", wait="", url="registry.test/app", digest="sha256:" + "1" * 64)
    )
    offline_config(home)
    tektite(home, "run", "-f", str(task), "--executor", "process", "-q")
    tr = with_cluster(home, lambda c: c.store.get("TaskRun", "build", "default"))
    notes = tr["metadata"]["annotations"]
    assert notes["chains.tekton.dev/signed"] == "true"
    assert "finalizers" not in tr["metadata"]
    envelope = envelope_of(home, "TaskRun", "build", tr["metadata"]["uid"])
    payload = base64.b64decode(notes[f"chains.tekton.dev/payload-taskrun-{tr['metadata']['uid']}"])
    assert base64.b64decode(envelope["payload"]) == payload
    keyid = envelope["signatures"][0]["keyid"]
    key = serialization.load_pem_public_key(public_key_pem(home))
    verified = SslibEnvelope.from_dict(json.loads(json.dumps(envelope))).verify(
        [SSlibKey.from_crypto(key, keyid=keyid)], 1
    )  # type: ignore[arg-type]
    assert keyid in verified
    from cryptography.hazmat.primitives.asymmetric import ec

    wrong = SSlibKey.from_crypto(ec.generate_private_key(ec.SECP256R1()).public_key(), keyid=keyid)
    with pytest.raises(SslibVerificationError):
        SslibEnvelope.from_dict(json.loads(json.dumps(envelope))).verify([wrong], 1)
    # tampering with what the tekton storage wrote is caught by `tektite chains verify`
    assert tektite(home, "chains", "verify", "build").returncode == 0

    def tamper(c: Cluster) -> None:
        obj = c.store.get("TaskRun", "build", "default")
        key_name = f"chains.tekton.dev/payload-taskrun-{obj['metadata']['uid']}"
        statement = json.loads(base64.b64decode(obj["metadata"]["annotations"][key_name]))
        statement["subject"] = [{"name": "registry.test/evil", "digest": {"sha256": "2" * 64}}]
        obj["metadata"]["annotations"][key_name] = base64.b64encode(json.dumps(statement).encode()).decode()
        c.store.update(obj)

    with_cluster(home, tamper)
    failed = tektite(home, "chains", "verify", "build", check=False)
    assert failed.returncode == 1
    assert "is not the payload that was signed" in failed.stderr and "Traceback" not in failed.stderr


# -- exactly once ---------------------------------------------------------------------------------


def signed_events(home: Path) -> dict[str, list[JSON]]:
    """Per run, every event in which its ``signed`` annotation first became ``true``."""
    events = with_cluster(
        home, lambda c: c.store.events_since(0, ("TaskRun", "PipelineRun"), limit=1_000_000)
    )
    seen: dict[str, bool] = {}
    out: dict[str, list[JSON]] = {}
    for evt in events:
        notes = (evt.object.get("metadata") or {}).get("annotations") or {}
        key = f"{evt.kind}/{evt.name}"
        now_signed = notes.get("chains.tekton.dev/signed") == "true"
        if now_signed and not seen.get(key):
            out.setdefault(key, []).append(evt.object)
        seen[key] = now_signed
    return out


def test_two_watchers_and_an_engine_sign_each_run_exactly_once(
    home: Path, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    offline_config(home)
    logs = [tmp_path / "watcher-1.log", tmp_path / "watcher-2.log"]
    for log in logs:
        processes.append(start_tektite(home, log, "chains", "run", "--poll-interval", "0.05"))
    holder = eventually(
        lambda: (
            (with_cluster(home, lambda c: c.store.try_get("Lease", LEASE_NAME, LEASE_NAMESPACE)) or {})
            .get("spec", {})
            .get("holderIdentity")
        ),
        "a watcher holds the lease",
    )
    names = [f"bulk-{i}" for i in range(25)]
    with_cluster(home, lambda c: [c.store.create(finished_taskrun(n)) for n in names])
    task = tmp_path / "task.yaml"
    task.write_text(
        TASKRUN.format(name="engine-run", wait="", url="registry.test/app", digest="sha256:" + "3" * 64)
    )
    tektite(home, "run", "-f", str(task), "--executor", "process", "-q")  # a third watcher, in the engine
    names.append("engine-run")
    eventually(
        lambda: all(annotations(home, "TaskRun", n).get("chains.tekton.dev/signed") for n in names),
        "all signed",
    )
    # the leader goes away: the other takes over and signs what comes next
    leader = next(p for p in processes if str(p.pid) in holder)
    stop(leader)
    more = [f"later-{i}" for i in range(10)]
    with_cluster(home, lambda c: [c.store.create(finished_taskrun(n)) for n in more])
    eventually(
        lambda: all(annotations(home, "TaskRun", n).get("chains.tekton.dev/signed") for n in more),
        "all signed",
    )
    for proc in processes:
        stop(proc)
    marks = signed_events(home)
    assert {k: len(v) for k, v in marks.items()} == {f"TaskRun/{n}": 1 for n in names + more}
    said = "".join(log.read_text() for log in logs)
    for n in names + more:
        assert said.count(f"chains: TaskRun default/{n} signed") == 1, said
    assert "signing failed" not in said


# -- finalizers -------------------------------------------------------------------------------------


def test_a_run_cannot_be_deleted_before_it_is_signed(
    home: Path, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    go = tmp_path / "go"
    task = tmp_path / "task.yaml"
    wait = f"while [ ! -e {go} ]; do sleep 0.05; done"
    task.write_text(
        TASKRUN.format(name="slow", wait=wait, url="registry.test/app", digest="sha256:" + "4" * 64)
    )
    offline_config(home)
    watcher = start_tektite(home, tmp_path / "watcher.log", "chains", "run", "--poll-interval", "0.05")
    processes.append(watcher)
    # an engine without Chains: the standalone watcher gives the run its finalizer while it runs
    engine = start_tektite(
        home, tmp_path / "engine.log", "run", "-f", str(task), "--executor", "process", "-q",
        env={"TEKTITE_CHAINS": "off"},
    )  # fmt: skip
    processes.append(engine)
    eventually(
        lambda: (
            (with_cluster(home, lambda c: c.store.try_get("TaskRun", "slow", "default")) or {})
            .get("metadata", {})
            .get("finalizers")
        ),
        "the watcher adds its finalizer",
    )
    stop(watcher)  # Chains is down while the run finishes
    go.touch()
    assert engine.wait(timeout=120) == 0
    deleted = tektite(home, "taskrun", "delete", "slow")
    assert "is being deleted (waiting for signing to finish)" in deleted.stdout
    pending = with_cluster(home, lambda c: c.store.get("TaskRun", "slow", "default"))
    assert pending["metadata"]["deletionTimestamp"]
    assert "chains.tekton.dev/signed" not in (pending["metadata"].get("annotations") or {})
    done = tektite(home, "chains", "run", "--once")
    assert "1 signed" in done.stderr
    assert with_cluster(home, lambda c: c.store.try_get("TaskRun", "slow", "default")) is None
    # the run was signed, then removed: its last state carries the signature
    last = with_cluster(home, lambda c: c.store.events_since(0, ("TaskRun",), limit=1_000_000))[-1]
    assert last.type == "DELETED"
    assert last.object["metadata"]["annotations"]["chains.tekton.dev/signed"] == "true"


def test_chains_run_once_shares_a_backlog_among_processes_and_signs_each_run_once(tmp_path: Path) -> None:
    """``tektite chains run --once --workers 2`` on 520 finished runs: forked processes sign them,
    each run once (one signature in all its events), verified with the home key's public half."""
    home = tmp_path / "home"
    runs = 520

    def fill(cluster: Cluster) -> int:
        for i in range(runs):
            status: JSON = {
                "startTime": "2026-11-22T10:00:00Z",
                "completionTime": "2026-11-22T10:00:03Z",
                "taskSpec": {"steps": [{"name": "build", "image": "busybox", "script": "make"}]},
                "steps": [{"name": "build", "container": "step-build", "imageID": "host://builder"}],
            }
            set_condition(status, "True", "Succeeded", "All Steps have completed executing")
            cluster.store.create(
                {
                    "apiVersion": "tekton.dev/v1",
                    "kind": "TaskRun",
                    "metadata": {"name": f"build-{i:04d}", "namespace": "default"},
                    "spec": {"taskSpec": status["taskSpec"]},
                    "status": status,
                }
            )
        return cluster.store.current_resource_version()

    start = with_cluster(home, fill)
    done = tektite(home, "chains", "run", "--once", "--workers", "2")
    assert f"chains: {runs} signed, 0 failed" in done.stderr
    assert "chains: sharing the backlog among 2 processes" in done.stderr
    assert done.stderr.count(" signed\n") == runs  # one log line per run, from whichever process
    events = with_cluster(home, lambda c: c.store.events_since(start, ("TaskRun",), limit=100_000))
    signatures: dict[str, set[str]] = {}
    for event in events:
        notes = event.object["metadata"].get("annotations") or {}
        signatures.setdefault(event.name, set()).update(v for k, v in notes.items() if "/signature-" in k)
    assert len(signatures) == runs and all(len(v) == 1 for v in signatures.values())
    public = tektite(home, "chains", "public-key").stdout.encode()
    key = serialization.load_pem_public_key(public)
    for name in ("build-0000", f"build-{runs - 1:04d}"):
        [value] = signatures[name]
        envelope = json.loads(base64.b64decode(value))
        sslib_key = SSlibKey.from_crypto(key, keyid=envelope["signatures"][0]["keyid"])  # type: ignore[arg-type]
        SslibEnvelope.from_dict(envelope).verify([sslib_key], 1)


# -- OCI round trip against a real registry ----------------------------------------------------------


def openssl_verify(pub_pem: bytes, signature: bytes, payload: bytes, tmp_path: Path) -> bool:
    (tmp_path / "pub.pem").write_bytes(pub_pem)
    (tmp_path / "sig.der").write_bytes(signature)
    (tmp_path / "payload").write_bytes(payload)
    done = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"), "-signature", str(tmp_path / "sig.der"),
         str(tmp_path / "payload")],
        capture_output=True, text=True,
    )  # fmt: skip
    return done.returncode == 0 and "Verified OK" in done.stdout


def sign_a_pushed_image(
    registry: str, home: Path, tmp_path: Path, repository: str, run: str, config: str
) -> tuple[str, Path]:
    """Push an image (tag v1), ``tektite run`` a TaskRun whose results name it, with the oci storage
    on (plus ``config`` lines of chains-config): the image, and the public key's file."""
    image = push_random_image(registry, repository, tag="v1")
    name, digest = image.split("@")
    (tmp_path / "config.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: chains-config, namespace: tekton-chains}\n"
        "data:\n  artifacts.taskrun.storage: tekton,oci\n  artifacts.oci.storage: oci\n" + config
    )
    tektite(home, "apply", "-f", str(tmp_path / "config.yaml"))
    task = tmp_path / "task.yaml"
    task.write_text(TASKRUN.format(name=run, wait="", url=name, digest=digest))
    tektite(home, "run", "-f", str(task), "--executor", "process", "-q")
    assert annotations(home, "TaskRun", run)["chains.tekton.dev/signed"] == "true"
    pub = tmp_path / "cosign.pub"
    pub.write_bytes(public_key_pem(home))
    return image, pub


@pytest.mark.registry
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl (Debian package openssl)")
def test_oci_round_trip_through_a_real_registry(registry: str, home: Path, tmp_path: Path) -> None:
    image, pub = sign_a_pushed_image(
        registry, home, tmp_path, "chains/app", "push", "  artifacts.taskrun.format: slsa/v1\n"
    )
    name, digest = image.split("@")

    verified = tektite(home, "verify", name + ":v1", "--key", str(pub))
    lines = verified.stdout.splitlines()
    # signed exactly once: one signature on the image (a retried signing would append another)
    assert len(lines) == 1, f"{verified.stdout}\n{verified.stderr}\n{annotations(home, 'TaskRun', 'push')}"
    payload = json.loads(lines[0])
    assert payload["critical"]["image"]["docker-manifest-digest"] == digest

    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "predicateType: https://slsa.dev/provenance/v0.2\nbuilder:\n  id: https://tekton.dev/chains/v2\n"
        f"subject:\n  - name: {name}\n    digest: {digest}\n"
    )
    attested = tektite(home, "verify-attestation", image, "--key", str(pub), "--type", "slsaprovenance",
                       "--policy", str(policy))  # fmt: skip
    [statement] = [json.loads(line) for line in attested.stdout.splitlines()]
    assert statement["predicate"]["buildType"] == "tekton.dev/v1/TaskRun"
    strict = tmp_path / "strict.yaml"
    strict.write_text("builder:\n  id: https://builder.example/other\n")
    refused = tektite(home, "verify-attestation", image, "--key", str(pub), "--type", "slsaprovenance",
                      "--policy", str(strict), check=False)  # fmt: skip
    assert refused.returncode == 1 and "policy failed" in refused.stderr

    # independent checks: openssl for the image signature, securesystemslib for the attestation
    tag = digest.replace(":", "-")
    base = f"http://{registry}/v2/chains/app"
    sig_manifest = httpx.get(f"{base}/manifests/{tag}.sig", headers={"Accept": OCI_MANIFEST}).json()
    [layer] = sig_manifest["layers"]
    blob = httpx.get(f"{base}/blobs/{layer['digest']}").content
    signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    assert openssl_verify(pub.read_bytes(), signature, blob, tmp_path)
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    other_pem = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert not openssl_verify(other_pem, signature, blob, tmp_path)
    att_manifest = httpx.get(f"{base}/manifests/{tag}.att", headers={"Accept": OCI_MANIFEST}).json()
    [att] = att_manifest["layers"]
    envelope = json.loads(httpx.get(f"{base}/blobs/{att['digest']}").content)
    keyid = envelope["signatures"][0]["keyid"]
    key = serialization.load_pem_public_key(pub.read_bytes())
    assert keyid in SslibEnvelope.from_dict(envelope).verify([SSlibKey.from_crypto(key, keyid=keyid)], 1)  # type: ignore[arg-type]

    # a wrong key fails tektite's verify verbs too
    (tmp_path / "other.pub").write_bytes(other_pem)
    wrong = tektite(home, "verify", image, "--key", str(tmp_path / "other.pub"), check=False)
    assert wrong.returncode == 1 and "no valid signature" in wrong.stderr
    wrong_att = tektite(home, "verify-attestation", image, "--key", str(tmp_path / "other.pub"), check=False)
    assert wrong_att.returncode == 1 and "no valid attestation" in wrong_att.stderr


@pytest.mark.registry
def test_sigstore_bundle_referrers_round_trip_through_a_real_registry(
    registry: str, home: Path, tmp_path: Path
) -> None:
    """``storage.oci.encoding-format: sigstore-bundle``: the run's image signature and attestation
    are Sigstore bundles referring to the image (the referrers tag schema on this registry);
    securesystemslib verifies both envelopes, and tektite's verbs read them."""
    image, pub = sign_a_pushed_image(
        registry,
        home,
        tmp_path,
        "chains/bundled",
        "bundled",
        "  storage.oci.encoding-format: sigstore-bundle\n",
    )
    name, digest = image.split("@")
    key = serialization.load_pem_public_key(pub.read_bytes())

    base = f"http://{registry}/v2/chains/bundled"
    tags = httpx.get(f"{base}/tags/list").json()["tags"]
    assert sorted(tags) == sorted(["v1", digest.replace(":", "-")])  # no .sig / .att tags
    index = httpx.get(
        f"{base}/manifests/{digest.replace(':', '-')}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
    ).json()
    kinds = {}
    for entry in index["manifests"]:
        manifest = httpx.get(f"{base}/manifests/{entry['digest']}", headers={"Accept": OCI_MANIFEST}).json()
        assert manifest["subject"]["digest"] == digest
        [layer] = manifest["layers"]
        bundle = json.loads(httpx.get(f"{base}/blobs/{layer['digest']}").content)
        envelope = bundle["dsseEnvelope"]
        keyid = envelope["signatures"][0]["keyid"]
        if envelope["payloadType"] == "application/vnd.in-toto+json":
            attestation = json.loads(json.dumps(envelope))  # from_dict below empties what it reads
        assert keyid in SslibEnvelope.from_dict(dict(envelope)).verify(  # type: ignore[arg-type]
            [SSlibKey.from_crypto(key, keyid=keyid)], 1
        )
        kinds[manifest["annotations"]["dev.sigstore.bundle.predicateType"]] = envelope["payloadType"]
    assert kinds == {
        "https://sigstore.dev/cosign/sign/v1": "application/vnd.dev.cosign.simplesigning.v1+json",
        "https://slsa.dev/provenance/v0.2": "application/vnd.in-toto+json",
    }

    [payload] = [
        json.loads(x) for x in tektite(home, "verify", name + ":v1", "--key", str(pub)).stdout.splitlines()
    ]
    assert payload["critical"]["image"]["docker-manifest-digest"] == digest
    attested = tektite(home, "verify-attestation", image, "--key", str(pub), "--type", "slsaprovenance")
    [statement] = [json.loads(line) for line in attested.stdout.splitlines()]
    assert statement["subject"] == [{"name": name, "digest": {"sha256": digest.split(":")[1]}}]

    from cryptography.hazmat.primitives.asymmetric import ec

    other = tmp_path / "other.pub"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    wrong = tektite(home, "verify-attestation", image, "--key", str(other), check=False)
    assert wrong.returncode == 1 and "no valid attestation" in wrong.stderr
    # a payload changed after signing: securesystemslib rejects it
    tampered = dict(attestation, payload=base64.b64encode(b'{"_type":"evil"}').decode())
    tampered["signatures"] = [dict(sig) for sig in attestation["signatures"]]
    with pytest.raises(SslibVerificationError):
        SslibEnvelope.from_dict(tampered).verify([SSlibKey.from_crypto(key, keyid=keyid)], 1)  # type: ignore[arg-type]
