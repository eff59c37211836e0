"""tektite.oci and Chains' oci storage against a real docker-registry on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from registry import AuthRegistry, push_random_image

from tektite.chains.storage.oci import OCIStorage
from tektite.errors import NotFound, Unauthorized, ValidationError
from tektite.oci.auth import DockerConfig
from tektite.oci.client import RegistryClient, RegistryError

pytestmark = pytest.mark.registry

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE = "application/vnd.dsse.envelope.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def raw_manifest(address: str, repository: str, tag: str) -> dict:
    """Read a manifest with plain httpx, independently of tektite's client."""
    response = httpx.get(
        f"http://{address}/v2/{repository}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}
    )
    response.raise_for_status()
    return {"content_type": response.headers["Content-Type"], **response.json()}


def raw_blob(address: str, repository: str, digest: str) -> bytes:
    response = httpx.get(f"http://{address}/v2/{repository}/blobs/{digest}")
    response.raise_for_status()
    return response.content


def payload_for(image: str) -> bytes:
    digest = image.split("@", 1)[1]
    return json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": image.split("@", 1)[0]},
                "image": {"docker-manifest-digest": digest},
                "type": "cosign container image signature",
            },
            "optional": None,
        },
        separators=(",", ":"),
    ).encode()


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def tag_for(image: str, suffix: str) -> str:
    return image.split("@", 1)[1].replace(":", "-") + "." + suffix


# -- the client ---------------------------------------------------------------------------------


def test_client_reads_what_was_pushed(registry: str) -> None:
    image = push_random_image(registry, "client/read", tag="v1")
    digest = image.split("@")[1]
    with RegistryClient() as client:
        assert client.resolve_digest(f"{registry}/client/read:v1") == digest
        by_tag = client.get_manifest(f"{registry}/client/read:v1")
        by_digest = client.get_manifest(image)
        assert by_tag.content == by_digest.content
        assert by_digest.media_type == OCI_MANIFEST
        assert hashlib.sha256(by_digest.content).hexdigest() == digest.split(":")[1]
        layer = json.loads(by_digest.content)["layers"][0]
        assert client.blob_exists(image, layer["digest"])
        assert len(client.get_blob(image, layer["digest"])) == layer["size"]
        assert client.list_tags(image) == ["v1"]


def test_client_pushes_blobs_and_manifests_others_can_read(registry: str) -> None:
    data = os.urandom(64)
    with RegistryClient() as client:
        digest = client.put_blob(f"{registry}/client/write", data)
        assert client.put_blob(f"{registry}/client/write", data) == digest  # already there: no second upload
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": digest,
                    "size": 64,
                },
                "layers": [],
            }
        ).encode()
        pushed = client.put_manifest(f"{registry}/client/write:t1", manifest, OCI_MANIFEST)
    assert raw_blob(registry, "client/write", digest) == data
    assert pushed == "sha256:" + hashlib.sha256(manifest).hexdigest()
    assert raw_manifest(registry, "client/write", "t1")["config"]["digest"] == digest


def test_missing_manifest_names_the_reference(registry: str) -> None:
    push_random_image(registry, "client/missing", tag="v1")
    with RegistryClient() as client, pytest.raises(NotFound) as err:
        client.get_manifest(f"{registry}/client/missing:nope")
    assert f"{registry}/client/missing:nope" in str(err.value)
    assert "MANIFEST_UNKNOWN" in str(err.value)


def test_unreachable_registry_is_a_clear_error() -> None:
    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with RegistryClient() as client, pytest.raises(RegistryError) as err:
        client.get_manifest(f"127.0.0.1:{port}/some/app:v1")
    assert f"cannot reach registry 127.0.0.1:{port}" in str(err.value)


def test_tls_registry_with_self_signed_cert_needs_insecure(tls_registry: str) -> None:
    with RegistryClient() as client, pytest.raises(RegistryError) as err:
        client.list_tags(f"{tls_registry}/tls/app")
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value) or "certificate verify failed" in str(err.value)
    assert "not a registry API" in str(err.value)  # plain http on the TLS port was tried and rejected
    assert err.value.hint is not None and "insecure" in err.value.hint
    with RegistryClient(insecure=True) as client:
        digest = client.put_blob(f"{tls_registry}/tls/app", b"over tls")
        assert client.base_url(tls_registry) == f"https://{tls_registry}"
        assert client.get_blob(f"{tls_registry}/tls/app", digest) == b"over tls"


# -- basic auth from docker config --------------------------------------------------------------


def _config_json(address: str, username: str, password: str) -> bytes:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {address: {"auth": auth}}}).encode()


def test_anonymous_push_to_auth_registry_is_unauthorized(auth_registry: AuthRegistry) -> None:
    with RegistryClient() as client, pytest.raises(Unauthorized) as err:
        client.put_blob(f"{auth_registry.address}/auth/app", b"data")
    assert "anonymous" in str(err.value)
    assert auth_registry.address in str(err.value)


def test_credentials_from_docker_config_file(auth_registry: AuthRegistry, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(_config_json(auth_registry.address, auth_registry.username, auth_registry.password))
    with RegistryClient(DockerConfig.from_file(path)) as client:
        digest = client.put_blob(f"{auth_registry.address}/auth/file", b"from a config file")
        assert client.get_blob(f"{auth_registry.address}/auth/file", digest) == b"from a config file"


def test_credentials_from_dockerconfigjson_secret(auth_registry: AuthRegistry) -> None:
    config = json.dumps(
        {
            "auths": {
                f"https://{auth_registry.address}": {
                    "username": auth_registry.username,
                    "password": auth_registry.password,
                }
            }
        }
    )
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "registry-credentials", "namespace": "default"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(config.encode()).decode()},
    }
    image = push_random_image(
        auth_registry.address, "auth/secret", auth=(auth_registry.username, auth_registry.password)
    )
    storage = OCIStorage(lambda insecure: RegistryClient(DockerConfig.from_secret(secret), insecure=insecure))
    storage.store_signature(image, payload_for(image), b"not-checked-here")
    assert len(storage.fetch_signatures(image)) == 1


def test_wrong_password_is_unauthorized_and_not_echoed(auth_registry: AuthRegistry) -> None:
    config = DockerConfig.from_bytes(
        _config_json(auth_registry.address, auth_registry.username, "hunter2-wrong")
    )
    with RegistryClient(config) as client, pytest.raises(Unauthorized) as err:
        client.put_blob(f"{auth_registry.address}/auth/wrong", b"data")
    assert "configured credentials" in str(err.value)
    assert "hunter2-wrong" not in str(err.value)


# -- bearer token auth ----------------------------------------------------------------------------


def test_bearer_token_flow_with_docker_config(
    token_registry: AuthRegistry, key: ec.EllipticCurvePrivateKey
) -> None:
    config = DockerConfig.from_bytes(
        _config_json(token_registry.address, token_registry.username, token_registry.password)
    )
    with RegistryClient(config) as client:
        digest = client.put_blob(f"{token_registry.address}/token/app", b"layer bytes")
        assert client.get_blob(f"{token_registry.address}/token/app", digest) == b"layer bytes"
    # the whole Chains path works through the token service too
    with RegistryClient(config) as client:
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": digest,
                    "size": 11,
                },
                "layers": [],
            }
        ).encode()
        image_digest = client.put_manifest(f"{token_registry.address}/token/app:v1", manifest, OCI_MANIFEST)
    image = f"{token_registry.address}/token/app@{image_digest}"
    storage = OCIStorage(lambda insecure: RegistryClient(config, insecure=insecure))
    payload = payload_for(image)
    signature = sign(key, payload)
    storage.store_signature(image, payload, signature)
    assert storage.fetch_signatures(f"{token_registry.address}/token/app:v1") == [(payload, signature)]


def test_bearer_token_refused_for_wrong_password_or_anonymous(token_registry: AuthRegistry) -> None:
    wrong = DockerConfig.from_bytes(_config_json(token_registry.address, token_registry.username, "not-it"))
    with RegistryClient(wrong) as client, pytest.raises(Unauthorized) as err:
        client.list_tags(f"{token_registry.address}/token/app")
    assert "token service" in str(err.value) and "refused the given credentials" in str(err.value)
    assert "not-it" not in str(err.value)
    with RegistryClient() as client, pytest.raises(Unauthorized, match="refused anonymous access"):
        client.list_tags(f"{token_registry.address}/token/app")


# -- Chains' oci storage --------------------------------------------------------------------------


def test_signature_is_stored_in_cosign_layout(registry: str, key: ec.EllipticCurvePrivateKey) -> None:
    image = push_random_image(registry, "chains/sig")
    payload = payload_for(image)
    signature = sign(key, payload)
    OCIStorage().store_signature(image, payload, signature)

    tag = tag_for(image, "sig")
    assert tag in httpx.get(f"http://{registry}/v2/chains/sig/tags/list").json()["tags"]
    manifest = raw_manifest(registry, "chains/sig", tag)
    assert manifest["content_type"] == OCI_MANIFEST
    assert manifest["mediaType"] == OCI_MANIFEST
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    [layer] = manifest["layers"]
    assert layer["mediaType"] == SIMPLE_SIGNING
    assert base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"]) == signature
    assert raw_blob(registry, "chains/sig", layer["digest"]) == payload
    config = json.loads(raw_blob(registry, "chains/sig", manifest["config"]["digest"]))
    assert config["rootfs"] == {"type": "layers", "diff_ids": [layer["digest"]]}


def test_second_signature_appends_and_repeat_does_not_duplicate(
    registry: str, key: ec.EllipticCurvePrivateKey
) -> None:
    image = push_random_image(registry, "chains/append")
    payload = payload_for(image)
    storage = OCIStorage()
    first, second = sign(key, payload), sign(ec.generate_private_key(ec.SECP256R1()), payload)
    storage.store_signature(image, payload, first)
    storage.store_signature(
        image, payload, second, cert=b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    )
    storage.store_signature(image, payload, first)  # Chains re-running on the same run

    manifest = raw_manifest(registry, "chains/append", tag_for(image, "sig"))
    sigs = [
        base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
        for layer in manifest["layers"]
    ]
    assert sigs == [first, second]
    assert "dev.sigstore.cosign/certificate" in manifest["layers"][1]["annotations"]
    config = json.loads(raw_blob(registry, "chains/append", manifest["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == [layer["digest"] for layer in manifest["layers"]]
    assert storage.fetch_signatures(image) == [(payload, first), (payload, second)]


def test_attestation_is_stored_in_cosign_layout(registry: str) -> None:
    image = push_random_image(registry, "chains/att")
    envelope = json.dumps(
        {"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": []}
    ).encode()
    storage = OCIStorage()
    storage.store_attestation(image, envelope, "https://slsa.dev/provenance/v0.2")
    other = envelope.replace(b"e30=", b"W10=")
    storage.store_attestation(image, other, "https://slsa.dev/provenance/v1")

    manifest = raw_manifest(registry, "chains/att", tag_for(image, "att"))
    assert [layer["mediaType"] for layer in manifest["layers"]] == [DSSE, DSSE]
    assert [layer["annotations"] for layer in manifest["layers"]] == [
        {"dev.cosignproject.cosign/signature": "", "predicateType": "https://slsa.dev/provenance/v0.2"},
        {"dev.cosignproject.cosign/signature": "", "predicateType": "https://slsa.dev/provenance/v1"},
    ]
    assert storage.fetch_attestations(image) == [envelope, other]


# -- the same signing stored again: a retry after a partial push (cosign's dupe detector) ----------


def pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def openssl_verifies(public_pem: bytes, signature: bytes, data: bytes, tmp_path: Path) -> bool:
    """``openssl dgst -verify``'s verdict, not tektite's."""
    (tmp_path / "pub.pem").write_bytes(public_pem)
    (tmp_path / "sig.der").write_bytes(signature)
    (tmp_path / "data").write_bytes(data)
    cmd = ["openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.der", "data"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)
    return done.returncode == 0 and "Verified OK" in done.stdout


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_a_signature_made_again_by_the_same_key_adds_no_layer_one_by_another_key_does(
    registry: str, key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    image = push_random_image(registry, "chains/retry-sig")
    payload = payload_for(image)
    other = ec.generate_private_key(ec.SECP256R1())
    storage = OCIStorage()
    made = []
    for signer in (key, key, other, other):  # each signing done twice, as a retried run does
        signature = sign(signer, payload)
        made.append(signature)
        storage.store_signature(image, payload, signature, public_key=signer.public_key())
    assert len(set(made)) == 4  # ECDSA: every signing is a new signature

    layers = raw_manifest(registry, "chains/retry-sig", tag_for(image, "sig"))["layers"]
    assert [raw_blob(registry, "chains/retry-sig", layer["digest"]) for layer in layers] == [payload, payload]
    stored = [
        base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"]) for layer in layers
    ]
    assert stored == [made[0], made[2]]  # the first of each key's signings
    assert openssl_verifies(pem(key), stored[0], payload, tmp_path)
    assert openssl_verifies(pem(other), stored[1], payload, tmp_path)
    assert not openssl_verifies(pem(key), stored[1], payload, tmp_path)


def test_an_attestation_pushed_again_after_a_retry_adds_no_layer(
    registry: str, key: ec.EllipticCurvePrivateKey
) -> None:
    image = push_random_image(registry, "chains/retry-att")
    statement = json.dumps(
        {"_type": "https://in-toto.io/Statement/v0.1", "subject": [], "predicate": {}}
    ).encode()
    kind = b"application/vnd.in-toto+json"
    pae = b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(statement), statement)  # the DSSE spec's encoding

    def envelope(signer: ec.EllipticCurvePrivateKey) -> bytes:
        sig = base64.b64encode(sign(signer, pae)).decode()
        payload = base64.b64encode(statement).decode()
        data = {"payloadType": kind.decode(), "payload": payload, "signatures": [{"keyid": "", "sig": sig}]}
        return json.dumps(data).encode()

    storage, predicate = OCIStorage(), "https://slsa.dev/provenance/v0.2"
    other = ec.generate_private_key(ec.SECP256R1())
    first, retried, by_other = envelope(key), envelope(key), envelope(other)
    assert first != retried
    storage.store_attestation(image, first, predicate, public_key=key.public_key())
    storage.store_attestation(image, retried, predicate, public_key=key.public_key())  # the retry
    storage.store_attestation(image, by_other, predicate, public_key=other.public_key())

    layers = raw_manifest(registry, "chains/retry-att", tag_for(image, "att"))["layers"]
    assert [raw_blob(registry, "chains/retry-att", layer["digest"]) for layer in layers] == [first, by_other]
    for blob, signer in ((first, key), (by_other, other)):  # cryptography checks them, not tektite
        [signature] = json.loads(blob)["signatures"]
        signer.public_key().verify(base64.b64decode(signature["sig"]), pae, ec.ECDSA(hashes.SHA256()))


def test_repository_override_stores_elsewhere(registry: str, key: ec.EllipticCurvePrivateKey) -> None:
    image = push_random_image(registry, "chains/image")
    payload = payload_for(image)
    storage = OCIStorage(repository=f"{registry}/chains/signatures")
    storage.store_signature(image, payload, sign(key, payload))
    storage.store_attestation(
        image, b'{"payloadType":"x","payload":"","signatures":[]}', "https://example.com/t"
    )

    tags = httpx.get(f"http://{registry}/v2/chains/signatures/tags/list").json()["tags"]
    assert sorted(tags) == sorted([tag_for(image, "sig"), tag_for(image, "att")])
    assert httpx.get(f"http://{registry}/v2/chains/image/tags/list").json()["tags"] == ["latest"]
    assert len(storage.fetch_signatures(image)) == 1
    assert OCIStorage().fetch_signatures(image) == []  # nothing next to the image


def test_storing_needs_a_digest(registry: str) -> None:
    with pytest.raises(ValidationError) as err:
        OCIStorage().store_signature(f"{registry}/chains/x:latest", b"{}", b"sig")
    assert "has no digest" in str(err.value)


# -- independent check with openssl --------------------------------------------------------------


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_verifies_the_signature_fetched_from_the_registry(
    registry: str, key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    image = push_random_image(registry, "chains/openssl")
    payload = payload_for(image)
    OCIStorage().store_signature(image, payload, sign(key, payload))

    [layer] = raw_manifest(registry, "chains/openssl", tag_for(image, "sig"))["layers"]
    (tmp_path / "payload").write_bytes(raw_blob(registry, "chains/openssl", layer["digest"]))
    (tmp_path / "sig.der").write_bytes(
        base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    )
    (tmp_path / "pub.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp_path / "tampered").write_bytes(
        (tmp_path / "payload").read_bytes().replace(b'"optional":null', b'"optional":{}')
    )

    def openssl(data: str) -> subprocess.CompletedProcess[str]:
        cmd = ["openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.der", data]
        return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)

    good = openssl("payload")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Verified OK" in good.stdout
    bad = openssl("tampered")
    assert bad.returncode != 0
    assert "Verification failure" in bad.stdout + bad.stderr
