"""Sigstore bundle referrers on a registry with the OCI 1.1 Referrers API (the in-memory one:
Debian's docker-registry 2.8 has none; tests/integration/test_oci_bundles.py covers the referrers
tag schema that such a registry gets)."""

from __future__ import annotations

import json
import re

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from oci_fake_registry import FakeRegistry

from tektite.chains.dsse import sign_envelope
from tektite.chains.signing.base import KeySigner
from tektite.chains.storage.bundle import BUNDLE_MEDIA_TYPE, ReferrerStorage, bundle_envelope, make_bundle
from tektite.errors import VerificationError
from tektite.oci.client import RegistryClient
from tektite.oci.manifest import OCI_MANIFEST
from tektite.verify.oci import verify_attestation

IMAGE_REPO = "reg.test/team/app"
SLSA_02 = "https://slsa.dev/provenance/v0.2"


def test_a_registry_with_a_referrers_api_indexes_the_bundle_itself() -> None:
    fake = FakeRegistry(referrers_api=True)
    with RegistryClient(transport=fake.transport()) as c:
        digest = c.put_manifest(f"{IMAGE_REPO}:v1", b'{"schemaVersion":2,"layers":[]}', OCI_MANIFEST)
    image = f"{IMAGE_REPO}@{digest}"
    signer = KeySigner("x509", ec.generate_private_key(ec.SECP256R1()))
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": SLSA_02,
        "subject": [{"name": IMAGE_REPO, "digest": {"sha256": digest.split(":")[1]}}],
        "predicate": {},
    }
    envelope = sign_envelope(json.dumps(statement).encode(), signer)
    storage = ReferrerStorage(lambda insecure: RegistryClient(transport=fake.transport()))
    referrer = storage.store(image, envelope, SLSA_02, signer.public_key())

    assert ("team/app", digest.replace(":", "-")) not in fake.tags  # no referrers tag schema
    [(_, manifest_digest)] = [k for k in fake.manifests if k[1] == referrer.digest]
    manifest = json.loads(fake.manifests[("team/app", manifest_digest)][0])
    assert manifest["artifactType"] == BUNDLE_MEDIA_TYPE and manifest["subject"]["digest"] == digest
    _, [stored] = storage.read(f"{IMAGE_REPO}:v1")
    assert bundle_envelope(stored.bundle) == envelope
    assert verify_attestation(
        image,
        signer.public_key_pem(),
        predicate_type="slsaprovenance",
        client_factory=lambda insecure: RegistryClient(transport=fake.transport()),
    ) == [statement]
    storage.store(image, sign_envelope(envelope.payload, signer), SLSA_02, signer.public_key())
    assert len(storage.read(image)[1]) == 1  # signed again: found through the API, not pushed twice


def test_a_bundle_round_trips_its_envelope() -> None:
    signer = KeySigner("x509", ec.generate_private_key(ec.SECP256R1()))
    envelope = sign_envelope(b'{"_type":"https://in-toto.io/Statement/v1"}', signer)
    assert bundle_envelope(make_bundle(envelope, signer.public_key())) == envelope
    bundle = json.loads(make_bundle(envelope, None))
    assert bundle["verificationMaterial"] == {}
    assert bundle["dsseEnvelope"]["signatures"][0]["keyid"] == signer.key_id


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"not json", "malformed Sigstore bundle: not JSON"),
        (b"[]", "expected a JSON object, found list"),
        (b'{"mediaType": "application/json"}', "mediaType is 'application/json'"),
        (
            b'{"mediaType": "' + BUNDLE_MEDIA_TYPE.encode() + b'", "messageSignature": {}}',
            "a message signature",
        ),
        (
            b'{"mediaType": "' + BUNDLE_MEDIA_TYPE.encode() + b'", "dsseEnvelope": {}}',
            "malformed DSSE envelope",
        ),
    ],
)
def test_a_malformed_bundle_says_what_is_wrong(data: bytes, says: str) -> None:
    with pytest.raises(VerificationError, match=re.escape(says)):
        bundle_envelope(data)
