"""Simple-signing payloads (what `cosign verify` checks) and image signatures checked by OpenSSL."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tektite.chains.signing import load_signer
from tektite.chains.signing.cosign import generate_cosign_keypair
from tektite.chains.simplesigning import repository_name, simple_signing_payload
from tektite.errors import SigningError

DIGEST = "sha256:05f95b26ed10668b7183c1e2da98610e91372fa9f510046d4ce5812addad86b5"


def test_payload_is_byte_for_byte_what_cosign_marshals() -> None:
    # The layout cosign writes (sigstore payload.SimpleContainerImage through Go's json.Marshal).
    expected = (
        '{"critical":{"identity":{"docker-reference":"gcr.io/foo/bar"},'
        f'"image":{{"docker-manifest-digest":"{DIGEST}"}},'
        '"type":"cosign container image signature"},"optional":null}'
    ).encode()
    assert simple_signing_payload("gcr.io/foo/bar", DIGEST) == expected


def test_annotations_go_to_optional_sorted_and_html_escaped_like_go() -> None:
    payload = simple_signing_payload("gcr.io/foo/bar", DIGEST, {"z": "1", "a": "<b>&"})
    assert payload.endswith(b'"optional":{"a":"\\u003cb\\u003e\\u0026","z":"1"}}')
    assert json.loads(payload)["optional"] == {"a": "<b>&", "z": "1"}


@pytest.mark.parametrize(
    ("reference", "repository"),
    [
        ("gcr.io/foo/bar", "gcr.io/foo/bar"),
        ("gcr.io/foo/bar:v1", "gcr.io/foo/bar"),
        (f"gcr.io/foo/bar@{DIGEST}", "gcr.io/foo/bar"),
        (f"gcr.io/foo/bar:v1@{DIGEST}", "gcr.io/foo/bar"),
        ("localhost:5000/app:latest", "localhost:5000/app"),
        ("127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app"),
        ("localhost/app", "localhost/app"),
        ("busybox", "index.docker.io/library/busybox"),
        ("busybox:1.36", "index.docker.io/library/busybox"),
        ("docker.io/library/bash", "index.docker.io/library/bash"),
        ("puneet2147/kaniko-chains", "index.docker.io/puneet2147/kaniko-chains"),
    ],
)
def test_docker_reference_is_the_repository_name_go_containerregistry_gives(
    reference: str, repository: str
) -> None:
    assert repository_name(reference) == repository
    identity = json.loads(simple_signing_payload(reference, DIGEST))["critical"]["identity"]
    assert identity == {"docker-reference": repository}


@pytest.mark.parametrize("digest", ["", "05f95b26", "sha256", "sha256:", "latest"])
def test_a_payload_needs_a_real_digest(digest: str) -> None:
    with pytest.raises(SigningError, match="not an image digest"):
        simple_signing_payload("gcr.io/foo/bar", digest)


def test_image_signature_from_a_cosign_key_verifies_with_openssl(
    openssl_verify: Callable[[bytes, bytes, bytes], bool],
) -> None:
    key_pem, pub_pem = generate_cosign_keypair(b"pw")
    signer = load_signer("x509", secret_data={"cosign.key": key_pem, "cosign.password": b"pw"})
    payload = simple_signing_payload("registry.local/app", DIGEST)
    signature = signer.sign(payload)
    assert openssl_verify(pub_pem, signature, payload)
    tampered = payload.replace(b"registry.local/app", b"registry.local/evil")
    assert not openssl_verify(pub_pem, signature, tampered)
    _, other_pub = generate_cosign_keypair(b"pw")
    assert not openssl_verify(other_pub, signature, payload)
