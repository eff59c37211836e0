"""cosign-style verification (tektite.verify.oci) of what Chains' oci storage wrote to a real registry."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from registry import push_random_image
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.exceptions import VerificationError as SslibVerificationError
from securesystemslib.signer import SSlibKey

from tektite.chains.dsse import sign_envelope
from tektite.chains.signing.base import KeySigner
from tektite.chains.simplesigning import simple_signing_payload
from tektite.chains.storage.oci import OCIStorage
from tektite.errors import ValidationError, VerificationError
from tektite.verify.oci import verify_attestation, verify_image
from tektite.verify.policy import load_policy

pytestmark = pytest.mark.registry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SLSA_02 = "https://slsa.dev/provenance/v0.2"
SLSA_1 = "https://slsa.dev/provenance/v1"


@pytest.fixture(scope="module")
def signer() -> KeySigner:
    return KeySigner("x509", ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture(scope="module")
def other_signer() -> KeySigner:
    return KeySigner("x509", ec.generate_private_key(ec.SECP256R1()))


def sign_image(
    image: str, signer: KeySigner, *, digest: str | None = None, repository: str | None = None
) -> bytes:
    name, _, image_digest = image.partition("@")
    payload = simple_signing_payload(name, digest or image_digest)
    OCIStorage(repository=repository).store_signature(image, payload, signer.sign(payload))
    return payload


def statement(image: str, predicate_type: str = SLSA_02, digest: str | None = None) -> dict[str, Any]:
    name, _, image_digest = image.partition("@")
    hex_digest = (digest or image_digest).split(":")[1]
    return {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": name, "digest": {"sha256": hex_digest}}],
        "predicate": {
            "builder": {"id": "https://tekton.dev/chains/v2"},
            "buildType": "tekton.dev/v1/TaskRun",
        },
    }


def attest(image: str, signer: KeySigner, st: dict[str, Any], *, repository: str | None = None) -> bytes:
    envelope = sign_envelope(json.dumps(st).encode(), signer).to_json()
    OCIStorage(repository=repository).store_attestation(image, envelope, st["predicateType"])
    return envelope


def rewrite_layer(registry: str, repository: str, tag: str, change: Any) -> None:
    """Tamper in the registry: replace the first layer's blob by ``change(blob)``, keep its annotations."""
    base = f"http://{registry}/v2/{repository}"
    manifest = httpx.get(f"{base}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}).json()
    layer = manifest["layers"][0]
    blob = change(httpx.get(f"{base}/blobs/{layer['digest']}").content)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    started = httpx.post(f"{base}/blobs/uploads/")
    httpx.put(
        started.url.join(started.headers["Location"]).copy_merge_params({"digest": digest}), content=blob
    )
    layer.update(digest=digest, size=len(blob))
    body = json.dumps(manifest).encode()
    httpx.put(
        f"{base}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST}
    ).raise_for_status()


def tag_for(image: str, suffix: str) -> str:
    return image.split("@", 1)[1].replace(":", "-") + "." + suffix


# -- verify (image signatures) -------------------------------------------------------------------


def test_verify_image_with_the_right_key(registry: str, signer: KeySigner) -> None:
    image = push_random_image(registry, "verify/ok", tag="v1")
    sign_image(image, signer)
    [payload] = verify_image(image, signer.public_key_pem())
    assert payload["critical"]["image"]["docker-manifest-digest"] == image.split("@")[1]
    # by tag: the digest is resolved from the registry
    assert verify_image(f"{registry}/verify/ok:v1", signer.public_key()) == [payload]


def test_verify_image_with_a_wrong_key_fails(
    registry: str, signer: KeySigner, other_signer: KeySigner
) -> None:
    image = push_random_image(registry, "verify/wrongkey")
    sign_image(image, signer)
    with pytest.raises(VerificationError) as err:
        verify_image(image, other_signer.public_key_pem())
    assert "signature does not verify with the given key" in str(err.value)
    assert image in str(err.value)


def test_verify_image_rejects_a_payload_tampered_in_the_registry(registry: str, signer: KeySigner) -> None:
    image = push_random_image(registry, "verify/tampered")
    sign_image(image, signer)
    rewrite_layer(
        registry,
        "verify/tampered",
        tag_for(image, "sig"),
        lambda b: b.replace(b'"optional":null', b'"optional":{}'),
    )
    with pytest.raises(VerificationError, match="signature does not verify with the given key"):
        verify_image(image, signer.public_key_pem())


def test_verify_image_rejects_a_signature_for_another_digest(registry: str, signer: KeySigner) -> None:
    image = push_random_image(registry, "verify/otherdigest")
    other = "sha256:" + "ab" * 32
    sign_image(image, signer, digest=other)
    with pytest.raises(VerificationError) as err:
        verify_image(image, signer.public_key_pem())
    assert f"payload names digest {other} but image is {image.split('@')[1]}" in str(err.value)


def test_one_good_signature_among_bad_ones_is_enough(
    registry: str, signer: KeySigner, other_signer: KeySigner
) -> None:
    image = push_random_image(registry, "verify/mixed")
    sign_image(image, other_signer)
    sign_image(image, signer)
    assert len(verify_image(image, signer.public_key_pem())) == 1


def test_unsigned_image_says_no_signatures(registry: str, signer: KeySigner) -> None:
    image = push_random_image(registry, "verify/unsigned")
    with pytest.raises(VerificationError) as err:
        verify_image(image, signer.public_key_pem())
    assert f"no signatures found for {image}" in str(err.value)


def test_verify_with_signatures_in_another_repository(registry: str, signer: KeySigner) -> None:
    image = push_random_image(registry, "verify/elsewhere")
    repository = f"{registry}/verify/signatures"
    sign_image(image, signer, repository=repository)
    attest(image, signer, statement(image), repository=repository)
    assert len(verify_image(image, signer.public_key_pem(), repository=repository)) == 1
    assert len(verify_attestation(image, signer.public_key_pem(), repository=repository)) == 1
    with pytest.raises(VerificationError, match="no signatures found"):
        verify_image(image, signer.public_key_pem())


# -- verify-attestation ---------------------------------------------------------------------------


def test_verify_attestation_by_type(registry: str, signer: KeySigner) -> None:
    image = push_random_image(registry, "attest/types")
    attest(image, signer, statement(image, SLSA_02))
    attest(image, signer, statement(image, SLSA_1))
    [v02] = verify_attestation(image, signer.public_key_pem(), predicate_type="slsaprovenance")
    assert v02["predicateType"] == SLSA_02
    [v1] = verify_attestation(image, signer.public_key_pem(), predicate_type="slsaprovenance1")
    assert v1["predicateType"] == SLSA_1
    assert len(verify_attestation(image, signer.public_key_pem())) == 2
    with pytest.raises(
        VerificationError, match=re.escape("no valid attestation of type https://spdx.dev/Document")
    ):
        verify_attestation(image, signer.public_key_pem(), predicate_type="spdx")


def test_unknown_type_name_is_a_usage_error(registry: str, signer: KeySigner) -> None:
    with pytest.raises(ValidationError, match="slsaprovenance1"):
        verify_attestation(
            f"{registry}/attest/x@sha256:{'0' * 64}", signer.public_key_pem(), predicate_type="slsa"
        )


def test_verify_attestation_with_a_wrong_key_fails(
    registry: str, signer: KeySigner, other_signer: KeySigner
) -> None:
    image = push_random_image(registry, "attest/wrongkey")
    attest(image, signer, statement(image))
    with pytest.raises(VerificationError, match="verifies with the given public key"):
        verify_attestation(image, other_signer.public_key_pem(), predicate_type="slsaprovenance")


def test_verify_attestation_rejects_an_envelope_tampered_in_the_registry(
    registry: str, signer: KeySigner
) -> None:
    image = push_random_image(registry, "attest/tampered")
    attest(image, signer, statement(image))

    def swap_payload(blob: bytes) -> bytes:
        env = json.loads(blob)
        evil = statement(image)
        evil["predicate"]["builder"]["id"] = "https://evil.example/builder"
        env["payload"] = base64.b64encode(json.dumps(evil).encode()).decode()
        return json.dumps(env).encode()

    rewrite_layer(registry, "attest/tampered", tag_for(image, "att"), swap_payload)
    with pytest.raises(VerificationError, match="bad signature"):
        verify_attestation(image, signer.public_key_pem())


def test_verify_attestation_rejects_a_statement_about_another_image(registry: str, signer: KeySigner) -> None:
    image = push_random_image(registry, "attest/subject")
    attest(image, signer, statement(image, digest="sha256:" + "cd" * 32))
    with pytest.raises(VerificationError, match="subjects do not include the image digest"):
        verify_attestation(image, signer.public_key_pem())


class BuilderPolicy:
    def __init__(self, builder: str) -> None:
        self.builder = builder

    def evaluate(self, st: dict[str, Any]) -> list[str]:
        found = st["predicate"]["builder"]["id"]
        return (
            [] if found == self.builder else [f"predicate.builder.id is {found!r}, expected {self.builder!r}"]
        )


def test_policy_decides_after_the_signature(registry: str, signer: KeySigner) -> None:
    image = push_random_image(registry, "attest/policy")
    attest(image, signer, statement(image))
    ok = verify_attestation(
        image, signer.public_key_pem(), policy=BuilderPolicy("https://tekton.dev/chains/v2")
    )
    assert len(ok) == 1
    with pytest.raises(VerificationError) as err:
        verify_attestation(image, signer.public_key_pem(), policy=BuilderPolicy("https://other/builder"))
    assert "policy failed" in str(err.value)
    assert "https://other/builder" in str(err.value)


def test_policy_file_from_tektite_verify_policy(registry: str, signer: KeySigner) -> None:
    image = push_random_image(registry, "attest/policyfile")
    name = image.split("@")[0]
    attest(image, signer, statement(image))
    good = load_policy(f"builder:\n  id: https://tekton.dev/chains/*\nsubject:\n  - name: {name}\n")
    assert (
        len(verify_attestation(image, signer.public_key_pem(), predicate_type="slsaprovenance", policy=good))
        == 1
    )
    bad = load_policy("predicateType: https://slsa.dev/provenance/v1\n")
    with pytest.raises(VerificationError, match="policy failed"):
        verify_attestation(image, signer.public_key_pem(), policy=bad)


def test_securesystemslib_verifies_the_envelope_fetched_from_the_registry(
    registry: str, signer: KeySigner
) -> None:
    image = push_random_image(registry, "attest/sslib")
    attest(image, signer, statement(image))
    [layer] = httpx.get(
        f"http://{registry}/v2/attest/sslib/manifests/{tag_for(image, 'att')}",
        headers={"Accept": OCI_MANIFEST},
    ).json()["layers"]
    blob = httpx.get(f"http://{registry}/v2/attest/sslib/blobs/{layer['digest']}").content
    envelope = SslibEnvelope.from_dict(json.loads(blob))
    key = SSlibKey.from_crypto(signer.public_key(), keyid=signer.key_id)
    assert signer.key_id in envelope.verify([key], 1)
    wrong = SSlibKey.from_crypto(ec.generate_private_key(ec.SECP256R1()).public_key(), keyid=signer.key_id)
    with pytest.raises(SslibVerificationError, match="threshold"):
        envelope.verify([wrong], 1)
