"""``tektite chains ...``, ``tektite keys ...`` and the verify verbs, through the CLI entry point."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tektite.cli.main import main
from tektite.controller.cluster import Cluster
from tektite.core.conditions import set_condition

JSON = dict[str, Any]


def cli(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])  # each call opens its own home (main forgets the last)


def finished_taskrun(name: str = "build", results: list[JSON] | None = None) -> JSON:
    status: JSON = {
        "podName": f"{name}-pod",
        "startTime": "2024-05-01T10:00:00Z",
        "completionTime": "2024-05-01T10:00:05Z",
        "taskSpec": {"steps": [{"name": "build", "image": "busybox", "script": "echo hi"}]},
        "steps": [{"name": "build", "container": "step-build", "imageID": "host://builder?os=debian-12"}],
        "results": results or [],
    }
    set_condition(status, "True", "Succeeded", "All Steps have completed executing")
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"taskSpec": {"steps": [{"name": "build", "image": "busybox", "script": "echo hi"}]}},
        "status": status,
    }


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def store(home: Path, *objs: JSON) -> list[JSON]:
    cluster = Cluster(home)
    try:
        return [cluster.store.create(o) for o in objs]
    finally:
        cluster.close()


def get(home: Path, kind: str, name: str) -> JSON:
    cluster = Cluster(home)
    try:
        return cluster.store.get(kind, name, "default")
    finally:
        cluster.close()


def edit_annotation(home: Path, name: str, key: str, change: Any) -> None:
    cluster = Cluster(home)
    try:
        obj = cluster.store.get("TaskRun", name, "default")
        obj["metadata"]["annotations"][key] = change(obj["metadata"]["annotations"][key])
        cluster.store.update(obj)
    finally:
        cluster.close()


# -- chains format ----------------------------------------------------------------------------------


def test_format_prints_the_statement_with_config_overrides(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run.json"
    run.write_text(json.dumps({**finished_taskrun(), "metadata": {"name": "build", "uid": "u-1"}}))
    assert (
        cli(
            home,
            "chains",
            "format",
            "--format",
            "slsa/v2alpha4",
            "-c",
            "builder.id=https://ci.test",
            str(run),
        )
        == 0
    )
    statement = json.loads(capsys.readouterr().out)
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["predicate"]["runDetails"]["builder"]["id"] == "https://ci.test"
    assert statement["predicate"]["runDetails"]["metadata"]["invocationId"] == "u-1"


def test_format_errors_name_the_problem(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run.json"
    run.write_text(json.dumps(finished_taskrun()))
    assert cli(home, "chains", "format", "--format", "slsa/v2alpha5", str(run)) == 1
    assert "did you mean 'slsa/v2alpha4'" in capsys.readouterr().err
    assert cli(home, "chains", "format", "-c", "builder.id", str(run)) == 1
    assert "KEY=VALUE" in capsys.readouterr().err
    assert cli(home, "chains", "format", str(tmp_path / "missing.json")) == 1
    assert "missing.json: cannot read the run" in capsys.readouterr().err


# -- keys, signing, verifying a run -----------------------------------------------------------------


def test_public_key_creates_the_home_key_once_and_prints_it(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(home, "chains", "public-key") == 0
    first = capsys.readouterr()
    assert "created a signing key (ECDSA P-256)" in first.err
    key = serialization.load_pem_private_key((home / "keys" / "x509.pem").read_bytes(), None)
    assert first.out.encode() == key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert cli(home, "chains", "public-key") == 0
    again = capsys.readouterr()
    assert again.out == first.out and again.err == ""


def test_run_once_signs_pending_runs_and_verify_checks_them(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = "sha256:" + "ef" * 32
    store(
        home,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "chains-config", "namespace": "default"},
            "data": {"artifacts.oci.storage": "tekton"},
        },
        finished_taskrun(
            results=[
                {"name": "IMAGE_URL", "type": "string", "value": "registry.test/app"},
                {"name": "IMAGE_DIGEST", "type": "string", "value": digest},
            ]
        ),
        finished_taskrun("other"),
    )
    assert cli(home, "chains", "run", "--once") == 0
    assert "chains: 2 signed, 0 failed" in capsys.readouterr().err
    assert cli(home, "chains", "verify", "build") == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("taskrun-") and "DSSE envelope verified" in line for line in lines)
    assert any(
        line.startswith("image ef") and "image signature (simple signing) verified" in line for line in lines
    )
    assert cli(home, "chains", "payload", "build") == 0
    assert json.loads(capsys.readouterr().out)["predicate"]["buildType"] == "tekton.dev/v1/TaskRun"
    assert cli(home, "chains", "signature", "build") == 0
    assert json.loads(capsys.readouterr().out)["payloadType"] == "application/vnd.in-toto+json"


def test_verify_fails_on_a_tampered_payload_annotation(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [tr] = store(home, finished_taskrun())
    assert cli(home, "chains", "run", "--once") == 0
    key = f"chains.tekton.dev/payload-taskrun-{tr['metadata']['uid']}"

    def tamper(value: str) -> str:
        statement = json.loads(base64.b64decode(value))
        statement["predicate"]["builder"]["id"] = "https://evil.test"
        return base64.b64encode(json.dumps(statement).encode()).decode()

    edit_annotation(home, "build", key, tamper)
    capsys.readouterr()
    assert cli(home, "chains", "verify", "build") == 1
    err = capsys.readouterr().err
    assert "is not the payload that was signed" in err and "Traceback" not in err


def test_verify_fails_on_a_tampered_signature(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    [tr] = store(home, finished_taskrun())
    assert cli(home, "chains", "run", "--once") == 0
    key = f"chains.tekton.dev/signature-taskrun-{tr['metadata']['uid']}"

    def tamper(value: str) -> str:
        envelope = json.loads(base64.b64decode(value))
        envelope["payload"] = base64.b64encode(b'{"_type":"forged"}').decode()
        return base64.b64encode(json.dumps(envelope).encode()).decode()

    edit_annotation(home, "build", key, tamper)
    capsys.readouterr()
    assert cli(home, "chains", "verify", "build") == 1
    assert "bad signature" in capsys.readouterr().err


def test_verify_with_another_key_fails(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store(home, finished_taskrun())
    assert cli(home, "chains", "run", "--once") == 0
    os.environ["COSIGN_PASSWORD"] = "pw"
    try:
        assert cli(home, "keys", "generate", "--output-key-prefix", str(tmp_path / "other")) == 0
    finally:
        del os.environ["COSIGN_PASSWORD"]
    capsys.readouterr()
    assert cli(home, "chains", "verify", "build", "--key", str(tmp_path / "other.pub")) == 1
    assert "bad signature" in capsys.readouterr().err
    assert cli(home, "chains", "public-key") == 0
    (tmp_path / "mine.pub").write_text(capsys.readouterr().out)
    assert cli(home, "chains", "verify", "build", "--key", str(tmp_path / "mine.pub")) == 0


def test_unsigned_and_ambiguous_runs_are_explained(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store(home, finished_taskrun())
    assert cli(home, "chains", "payload", "build") == 1
    assert "has no chains.tekton.dev/payload-taskrun-" in capsys.readouterr().err
    pr = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": "build", "namespace": "default"},
        "spec": {"pipelineSpec": {"tasks": []}},
    }
    store(home, pr)
    assert cli(home, "chains", "payload", "build") == 1
    assert "say which with --kind" in capsys.readouterr().err
    assert cli(home, "chains", "payload", "nothing-here") == 1
    assert 'no TaskRun or PipelineRun "nothing-here"' in capsys.readouterr().err


def test_public_key_with_the_none_signer_says_so(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store(
        home,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "chains-config", "namespace": "tekton-chains"},
            "data": {"artifacts.taskrun.signer": "none"},
        },
    )
    assert cli(home, "chains", "public-key") == 1
    assert "artifacts.taskrun.signer is none" in capsys.readouterr().err


# -- keys -----------------------------------------------------------------------------------------


def test_keys_generate_and_public_key(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "correct horse")
    prefix = tmp_path / "signing"
    assert cli(home, "keys", "generate", "--output-key-prefix", str(prefix)) == 0
    assert "Private key written to" in capsys.readouterr().err
    key, pub = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    assert key.stat().st_mode & 0o777 == 0o600
    assert (
        b"ENCRYPTED SIGSTORE PRIVATE KEY" in key.read_bytes()
        or b"ENCRYPTED COSIGN PRIVATE KEY" in key.read_bytes()
    )
    assert cli(home, "keys", "public-key", str(key)) == 0
    assert capsys.readouterr().out.encode() == pub.read_bytes()
    assert cli(home, "keys", "generate", "--output-key-prefix", str(prefix)) == 1
    assert "already exists" in capsys.readouterr().err
    monkeypatch.setenv("COSIGN_PASSWORD", "wrong")
    assert cli(home, "keys", "public-key", str(key)) == 1
    assert "wrong password" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl (Debian package openssl)")
def test_a_public_key_from_keys_generate_is_read_by_openssl(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    assert cli(home, "keys", "generate", "--output-key-prefix", str(tmp_path / "k")) == 0
    out = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", str(tmp_path / "k.pub"), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "prime256v1" in out.stdout or "P-256" in out.stdout


# -- verify verbs: usage errors (the registry round trip is in test_chains_e2e.py) -------------------


def test_verify_attestation_with_an_unknown_type(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    pub = tmp_path / "k.pub"
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pub.write_bytes(
        key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert cli(home, "verify-attestation", "127.0.0.1:1/x:y", "--key", str(pub), "--type", "slsa99") == 1
    assert "unknown predicate type" in capsys.readouterr().err


def test_verify_with_a_missing_key_file(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(home, "verify", "127.0.0.1:1/x:y", "--key", str(tmp_path / "nope.pub")) == 1
    assert "cannot read the public key" in capsys.readouterr().err
