"""``storage.oci.encoding-format: sigstore-bundle`` against a real docker-registry: Sigstore bundles
stored as OCI 1.1 referrers (the referrers tag schema on this registry, which has no Referrers API),
read back with plain httpx and checked with securesystemslib, and verified by tektite's verbs."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from registry import push_random_image
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.exceptions import VerificationError as SslibVerificationError
from securesystemslib.signer import SSlibKey

from tektite.chains.dsse import Envelope, sign_envelope
from tektite.chains.signing.base import KeySigner
from tektite.chains.simplesigning import simple_signing_payload
from tektite.chains.storage import SIMPLESIGNING, StorageContext, StorageItem
from tektite.chains.storage.bundle import ReferrerStorage
from tektite.chains.storage.ocibackend import OCIBackend
from tektite.errors import VerificationError
from tektite.verify.oci import verify_attestation, verify_image

pytestmark = pytest.mark.registry

BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SLSA_02 = "https://slsa.dev/provenance/v0.2"
SIGN_V1 = "https://sigstore.dev/cosign/sign/v1"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
JSON = dict[str, Any]


@pytest.fixture(scope="module")
def signer() -> KeySigner:
    return KeySigner("x509", ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture(scope="module")
def other_signer() -> KeySigner:
    return KeySigner("x509", ec.generate_private_key(ec.SECP256R1()))


def statement(image: str) -> JSON:
    name, _, digest = image.partition("@")
    return {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": SLSA_02,
        "subject": [{"name": name, "digest": {"sha256": digest.split(":")[1]}}],
        "predicate": {
            "builder": {"id": "https://tekton.dev/chains/v2"},
            "buildType": "tekton.dev/v1/TaskRun",
        },
    }


def store_both(image: str, signer: KeySigner) -> None:
    """What the watcher hands the oci backend for a run that built ``image``: its image signature
    and its attestation, in sigstore-bundle mode."""
    backend = OCIBackend(None, False, encoding="sigstore-bundle")
    ctx = StorageContext(run={"kind": "TaskRun"})
    name, _, digest = image.partition("@")
    payload = simple_signing_payload(name, digest)
    backend.store(
        StorageItem(
            short_key=digest[7:19],
            payload=payload,
            signature=signer.sign(payload),
            payload_format=SIMPLESIGNING,
            image=image,
            public_key=signer.public_key(),
            envelope=sign_envelope(payload, signer, SIMPLE_SIGNING).to_json(),
        ),
        ctx,
    )
    st = json.dumps(statement(image)).encode()
    backend.store(
        StorageItem(
            short_key="taskrun-1",
            payload=st,
            signature=sign_envelope(st, signer).to_json(),
            payload_format="in-toto",
            predicate_type=SLSA_02,
            public_key=signer.public_key(),
        ),
        ctx,
    )


def referrers(registry: str, image: str) -> list[tuple[JSON, JSON, JSON]]:
    """(index entry, referrer manifest, bundle) for each referrer of ``image``, read with httpx
    through the referrers tag schema (this registry has no Referrers API)."""
    repository = image.split("/", 1)[1].split("@")[0]
    digest = image.split("@")[1]
    base = f"http://{registry}/v2/{repository}"
    assert httpx.get(f"{base}/referrers/{digest}").status_code == 404  # no Referrers API here
    index = httpx.get(f"{base}/manifests/{digest.replace(':', '-')}", headers={"Accept": OCI_INDEX})
    index.raise_for_status()
    assert index.headers["Content-Type"] == OCI_INDEX
    out = []
    for entry in index.json()["manifests"]:
        manifest = httpx.get(f"{base}/manifests/{entry['digest']}", headers={"Accept": OCI_MANIFEST}).json()
        [layer] = manifest["layers"]
        bundle = json.loads(httpx.get(f"{base}/blobs/{layer['digest']}").content)
        out.append((entry, manifest, bundle))
    return out


def sslib_verifies(bundle: JSON, public_key: Any) -> bool:
    dsse = json.loads(json.dumps(bundle["dsseEnvelope"]))  # from_dict empties what it is given
    keyid = dsse["signatures"][0].get("keyid", "")  # securesystemslib matches signatures by keyid
    envelope = SslibEnvelope.from_dict(dsse)
    key = SSlibKey.from_crypto(public_key, keyid=keyid)
    try:
        envelope.verify([key], 1)
    except SslibVerificationError:
        return False
    return True


def test_signature_and_attestation_are_bundle_referrers_of_the_image(
    registry: str, signer: KeySigner
) -> None:
    image = push_random_image(registry, "bundles/layout", tag="v1")
    digest = image.split("@")[1]
    store_both(image, signer)

    found = referrers(registry, image)
    by_type = {m["annotations"]["dev.sigstore.bundle.predicateType"]: (e, m, b) for e, m, b in found}
    assert sorted(by_type) == [SIGN_V1, SLSA_02]
    der = signer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hint = base64.b64encode(hashlib.sha256(der).digest()).decode()
    for entry, manifest, bundle in found:
        assert entry["artifactType"] == manifest["artifactType"] == BUNDLE
        assert entry["annotations"] == manifest["annotations"]
        assert manifest["subject"]["digest"] == digest
        assert manifest["config"] == {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(),
            "size": 2,
        }
        assert manifest["layers"][0]["mediaType"] == BUNDLE
        assert manifest["annotations"]["dev.sigstore.bundle.content"] == "dsse-envelope"
        assert bundle["mediaType"] == BUNDLE
        assert bundle["verificationMaterial"] == {"publicKey": {"hint": hint}}
        assert sslib_verifies(bundle, signer.public_key())

    signature_bundle = by_type[SIGN_V1][2]["dsseEnvelope"]
    assert signature_bundle["payloadType"] == SIMPLE_SIGNING
    signed = json.loads(base64.b64decode(signature_bundle["payload"]))
    assert signed["critical"]["image"]["docker-manifest-digest"] == digest
    attestation = by_type[SLSA_02][2]["dsseEnvelope"]
    assert attestation["payloadType"] == "application/vnd.in-toto+json"
    assert json.loads(base64.b64decode(attestation["payload"])) == statement(image)

    # no cosign tags in this mode: the image's tag and the referrers index only
    tags = httpx.get(f"http://{registry}/v2/bundles/layout/tags/list").json()["tags"]
    assert sorted(tags) == sorted(["v1", digest.replace(":", "-")])


def test_a_tampered_bundle_fails_securesystemslib_and_tektite(registry: str, signer: KeySigner) -> None:
    image = push_random_image(registry, "bundles/tampered")
    good = sign_envelope(json.dumps(statement(image)).encode(), signer)
    evil = statement(image)
    evil["predicate"]["builder"]["id"] = "https://evil.example"
    forged = Envelope(json.dumps(evil).encode(), good.payload_type, good.signatures)  # the old signature
    ReferrerStorage().store(image, forged, SLSA_02, None)

    [(_, _, bundle)] = referrers(registry, image)
    assert not sslib_verifies(bundle, signer.public_key())
    with pytest.raises(VerificationError) as err:
        verify_attestation(image, signer.public_key_pem())
    assert "no valid attestation" in str(err.value) and "referrer sha256:" in str(err.value)


def test_storing_a_signing_again_adds_no_referrer_another_key_does(
    registry: str, signer: KeySigner, other_signer: KeySigner
) -> None:
    image = push_random_image(registry, "bundles/retry")
    store_both(image, signer)
    store_both(image, signer)  # a retried signing: ECDSA signatures differ, the signing is the same
    assert len(referrers(registry, image)) == 2
    store_both(image, other_signer)
    assert len(referrers(registry, image)) == 4


def test_verify_verbs_read_bundles(registry: str, signer: KeySigner, other_signer: KeySigner) -> None:
    image = push_random_image(registry, "bundles/verify", tag="v2")
    store_both(image, signer)
    [payload] = verify_image(f"{registry}/bundles/verify:v2", signer.public_key_pem())
    assert payload["critical"]["image"]["docker-manifest-digest"] == image.split("@")[1]
    [st] = verify_attestation(image, signer.public_key_pem(), predicate_type="slsaprovenance")
    assert st == statement(image)
    with pytest.raises(
        VerificationError, match=re.escape("no valid attestation of type https://slsa.dev/provenance/v1")
    ):
        verify_attestation(image, signer.public_key_pem(), predicate_type="slsaprovenance1")
    with pytest.raises(VerificationError) as err:
        verify_image(image, other_signer.public_key_pem())
    assert "no valid signature" in str(err.value) and "referrer sha256:" in str(err.value)


def test_an_image_with_neither_layout_says_where_it_looked(registry: str, signer: KeySigner) -> None:
    image = push_random_image(registry, "bundles/none")
    with pytest.raises(VerificationError) as err:
        verify_attestation(image, signer.public_key_pem())
    assert f"no attestations found for {image}" in str(err.value)
    assert "Sigstore bundles referring to the image" in (err.value.hint or "")
