"""The watcher's parts: signing keys, settings, registry credentials of a run, format-sign-store."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from test_watcher import DIGEST, chains_config, cluster, taskrun_body

from tektite.chains.config import ChainsConfig
from tektite.chains.keys import HOME_KEY, SignerSource, ensure_home_key
from tektite.chains.registryauth import run_registry_auth, service_account_of
from tektite.chains.settings import ChainsSettings
from tektite.chains.sign import sign_run
from tektite.chains.signing.cosign import generate_cosign_keypair
from tektite.chains.signing.fake import FakeSigner
from tektite.chains.storage import StorageContext, StorageItem
from tektite.controller.cluster import Cluster
from tektite.errors import SigningError, TektiteError
from tektite.verify import load_public_key, verify_envelope

__all__ = ["cluster"]


# -- keys -------------------------------------------------------------------------------------------


def test_racing_processes_end_up_with_one_home_key(tmp_path: Path) -> None:
    results: list[tuple[Path, bool]] = []
    threads = [threading.Thread(target=lambda: results.append(ensure_home_key(tmp_path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(created for _, created in results) == 1
    assert {path for path, _ in results} == {tmp_path / HOME_KEY}
    assert [p.name for p in (tmp_path / "keys").iterdir()] == ["x509.pem"]  # no temporary files left
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700


def test_cosign_key_in_the_secret_signs(cluster: Cluster) -> None:
    key_pem, pub_pem = generate_cosign_keypair(b"hunter2")
    cluster.store.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "signing-secrets", "namespace": "default"},
            "stringData": {"cosign.key": key_pem.decode(), "cosign.password": "hunter2"},
        }
    )
    source = SignerSource(cluster.home, ChainsSettings(cluster.getter()), notify=lambda m: None)
    signer = source.get("x509", ChainsConfig.default())
    assert signer.public_key_pem() == pub_pem
    assert source.describe("x509", ChainsConfig.default()) == "Secret signing-secrets"


def test_an_empty_signing_secret_falls_back_to_the_home_key(cluster: Cluster) -> None:
    cluster.store.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "signing-secrets", "namespace": "tekton-chains"},
        }
    )
    source = SignerSource(cluster.home, ChainsSettings(cluster.getter()), notify=lambda m: None)
    signer = source.get("x509", ChainsConfig.default())
    home_key = serialization.load_pem_private_key((cluster.home / HOME_KEY).read_bytes(), None)
    assert signer.public_key_pem() == home_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_a_wrong_cosign_password_is_a_signing_error_without_the_password(cluster: Cluster) -> None:
    key_pem, _ = generate_cosign_keypair(b"right")
    cluster.store.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "signing-secrets", "namespace": "default"},
            "stringData": {"cosign.key": key_pem.decode(), "cosign.password": "wrong-secret-value"},
        }
    )
    source = SignerSource(cluster.home, ChainsSettings(cluster.getter()), notify=lambda m: None)
    with pytest.raises(SigningError) as err:
        source.get("x509", ChainsConfig.default())
    assert "wrong-secret-value" not in str(err.value)


def test_a_rotated_secret_is_picked_up(cluster: Cluster) -> None:
    first, _ = generate_cosign_keypair(b"pw")
    second, second_pub = generate_cosign_keypair(b"pw")
    secret = cluster.store.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "signing-secrets", "namespace": "default"},
            "stringData": {"cosign.key": first.decode(), "cosign.password": "pw"},
        }
    )
    settings = ChainsSettings(cluster.getter())
    source = SignerSource(cluster.home, settings, notify=lambda m: None)
    source.get("x509", ChainsConfig.default())
    secret["stringData"]["cosign.key"] = second.decode()
    cluster.store.update(secret)
    settings.invalidate("Secret", "signing-secrets")  # what the watcher does on the Secret's event
    assert source.get("x509", ChainsConfig.default()).public_key_pem() == second_pub


# -- settings ---------------------------------------------------------------------------------------


def test_settings_are_cached_until_invalidated(cluster: Cluster) -> None:
    settings = ChainsSettings(cluster.getter())
    assert settings.config().artifacts.taskruns.format == "in-toto"
    chains_config(cluster, {"artifacts.taskrun.format": "slsa/v2alpha3"})
    assert settings.config().artifacts.taskruns.format == "in-toto"
    settings.invalidate("ConfigMap", "chains-config")
    assert settings.config().artifacts.taskruns.format == "slsa/v2alpha3"


# -- registry credentials ---------------------------------------------------------------------------


def docker_secret(cluster: Cluster, name: str, registry: str, user: str) -> None:
    config = {"auths": {registry: {"auth": base64.b64encode(f"{user}:pw".encode()).decode()}}}
    cluster.store.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": name, "namespace": "default"},
            "stringData": {".dockerconfigjson": json.dumps(config)},
        }
    )


def test_registry_credentials_come_from_the_runs_service_account(cluster: Cluster) -> None:
    docker_secret(cluster, "from-pod", "a.test", "pod")
    docker_secret(cluster, "from-sa", "a.test", "sa")
    docker_secret(cluster, "sa-only", "b.test", "sa-b")
    cluster.store.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "opaque", "namespace": "default"},
            "stringData": {"x": "y"},
        }
    )
    cluster.store.create(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "builder", "namespace": "default"},
            "imagePullSecrets": [{"name": "from-sa"}],
            "secrets": [{"name": "sa-only"}, {"name": "opaque"}],
        }
    )
    run = taskrun_body("x")
    run["spec"]["serviceAccountName"] = "builder"
    run["spec"]["podTemplate"] = {"imagePullSecrets": [{"name": "from-pod"}]}
    auth = run_registry_auth(run, cluster.getter(), host_config=False)
    creds_a, creds_b = auth.credentials_for("a.test"), auth.credentials_for("b.test")
    assert creds_a is not None and creds_a.username == "pod"  # the pod template wins
    assert creds_b is not None and creds_b.username == "sa-b"


def test_a_pipelineruns_service_account_is_in_its_task_run_template() -> None:
    assert (
        service_account_of({"kind": "PipelineRun", "spec": {"taskRunTemplate": {"serviceAccountName": "sa"}}})
        == "sa"
    )
    assert service_account_of({"kind": "TaskRun", "spec": {}}) == "default"


# -- format, sign, store ----------------------------------------------------------------------------


class Recorder:
    name = "recorder"

    def __init__(self, fail: str | None = None) -> None:
        self.items: list[StorageItem] = []
        self.fail = fail

    def store(self, item: StorageItem, ctx: StorageContext) -> None:
        self.items.append(item)
        if self.fail:
            raise TektiteError(self.fail)


def run_with_image() -> dict[str, Any]:
    run = taskrun_body("x", results=[
        {"name": "IMAGE_URL", "type": "string", "value": "reg.test/team/app"},
        {"name": "IMAGE_DIGEST", "type": "string", "value": DIGEST},
    ])  # fmt: skip
    run["metadata"]["uid"] = "u-1"
    return run


def signer() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    from tektite.chains.signing.base import KeySigner

    return KeySigner("x509", ec.generate_private_key(ec.SECP256R1()))


def test_sign_run_signs_the_statement_and_each_image() -> None:
    recorder = Recorder()
    key = signer()
    config = ChainsConfig.default()
    out = sign_run(
        run_with_image(), [], config, lambda k: key, lambda name: recorder, StorageContext(run_with_image())
    )
    assert out.ok and (out.signed, out.stored) == (2, 2)
    provenance, image = recorder.items
    assert provenance.short_key == "taskrun-u-1" and provenance.payload_format == "in-toto"
    assert verify_envelope(provenance.signature, load_public_key(key.public_key_pem())) == provenance.payload
    assert provenance.predicate_type == "https://slsa.dev/provenance/v0.2"
    assert (
        image.short_key == DIGEST.removeprefix("sha256:")[:12]
        and image.image == f"reg.test/team/app@{DIGEST}"
    )
    assert json.loads(image.payload)["critical"]["image"]["docker-manifest-digest"] == DIGEST


def test_sign_run_collects_every_backend_error() -> None:
    broken = Recorder(fail="no space left")
    out = sign_run(run_with_image(), [], ChainsConfig.default(), lambda k: signer(), lambda n: broken,
                   StorageContext(run_with_image()))  # fmt: skip
    assert not out.ok and len(out.errors) == 2
    assert out.errors[0].startswith("tekton storage (taskrun-u-1): no space left")
    assert (
        out.errors[1].startswith("oci storage (")
        and 'artifacts.oci.storage says where, "" for nowhere' in out.errors[1]
    )


def test_sign_run_with_the_none_oci_signer_skips_image_signatures() -> None:
    recorder = Recorder()
    config = ChainsConfig.from_configmap_data({"artifacts.oci.signer": "none"})
    fake = FakeSigner(lambda data: b"sig")
    out = sign_run(
        run_with_image(), [], config, lambda k: fake, lambda n: recorder, StorageContext(run_with_image())
    )
    assert [i.short_key for i in recorder.items] == ["taskrun-u-1"] and out.signed == 1


def test_sign_run_reports_a_format_error_instead_of_raising() -> None:
    run = taskrun_body("x")
    run["status"]["steps"][0]["imageID"] = "busybox"  # an unpinned name: not something tektite records
    out = sign_run(
        run, [], ChainsConfig.default(), lambda k: signer(), lambda n: Recorder(), StorageContext(run)
    )
    assert not out.ok and out.errors[0].startswith("provenance: ") and "pinned by digest" in out.errors[0]
