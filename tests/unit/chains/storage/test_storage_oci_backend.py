"""The ``oci`` backend over an in-memory registry: which tag each signed thing goes to, and that
the same signing stored again (a retry) adds no layer.

The round trip against a real docker-registry, checked by openssl and ``tektite verify``, is in
``tests/integration/test_chains_e2e.py``.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.exceptions import VerificationError as SslibVerificationError
from securesystemslib.signer import SSlibKey

from tektite.chains.dsse import sign_envelope
from tektite.chains.keys import HOME_KEY
from tektite.chains.signing.base import KeySigner
from tektite.chains.simplesigning import SIMPLE_SIGNING_MEDIA_TYPE
from tektite.chains.storage import BACKENDS, StorageContext, StorageItem
from tektite.chains.storage.bundle import COSIGN_SIGN_PREDICATE, ReferrerStorage, bundle_envelope
from tektite.chains.storage.oci import OCIStorage
from tektite.chains.storage.ocibackend import OCIBackend, image_subjects
from tektite.chains.watcher import Action
from tektite.controller.cluster import Cluster
from tektite.errors import TektiteError
from tektite.oci.auth import DockerConfig
from tektite.oci.client import RegistryClient
from tektite.oci.manifest import OCI_MANIFEST

RUN = {"kind": "TaskRun", "metadata": {"name": "build", "namespace": "default", "uid": "u1"}}
UNIT = Path(__file__).resolve().parents[2]


def sibling(folder: Path, module: str) -> Any:
    """A helper module of another unit test folder (not a package, so found by path)."""
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.pop(0)


@pytest.fixture()
def fake() -> Any:
    """The in-memory registry of tests/unit/oci."""
    return sibling(UNIT / "oci", "oci_fake_registry").FakeRegistry()


def push_image(fake: Any, repo: str = "reg.test/team/app") -> str:
    with RegistryClient(transport=fake.transport()) as client:
        digest = client.put_manifest(f"{repo}:v1", b'{"schemaVersion":2,"layers":[]}', OCI_MANIFEST)
    return f"{repo}@{digest}"


def backend(fake: Any, seen: list[Any] | None = None, repository: str | None = None) -> OCIBackend:
    def client(auth: Any, insecure: bool) -> RegistryClient:
        if seen is not None:
            seen.append(auth)
        return RegistryClient(auth, transport=fake.transport())

    return OCIBackend(repository, False, client_factory=client)


def reader(fake: Any, repository: str | None = None) -> OCIStorage:
    return OCIStorage(lambda insecure: RegistryClient(transport=fake.transport()), repository=repository)


def test_image_signature_goes_to_the_sig_tag(fake: Any) -> None:
    image = push_image(fake)
    item = StorageItem("0123456789ab", b'{"critical":{}}', b"raw-signature", "simplesigning", image=image)
    backend(fake).store(item, StorageContext(RUN))
    [(payload, signature)] = reader(fake).fetch_signatures(image)
    assert (payload, signature) == (b'{"critical":{}}', b"raw-signature")


def test_attestation_goes_to_the_att_tag_of_each_image_subject(fake: Any) -> None:
    one, two = push_image(fake, "reg.test/team/one"), push_image(fake, "reg.test/team/two")
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "subject": [
            {"name": one.split("@")[0], "digest": {"sha256": one.split(":")[-1]}},
            {"name": two.split("@")[0], "digest": {"sha256": two.split(":")[-1]}},
            {"name": "pkg:npm/left-pad@1.0.0", "digest": {"sha1": "a" * 40}},  # not an image: skipped
        ],
    }
    envelope = b'{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}'
    item = StorageItem(
        "taskrun-u1", json.dumps(statement).encode(), envelope, "in-toto", predicate_type="p/v1"
    )
    backend(fake).store(item, StorageContext(RUN))
    for image in (one, two):
        assert reader(fake).fetch_attestations(image) == [envelope]
    _, [stored] = reader(fake).read_attestations(one)
    assert stored.predicate_type == "p/v1"


def test_storage_oci_repository_holds_them_instead(fake: Any) -> None:
    image = push_image(fake)
    item = StorageItem("0123456789ab", b"{}", b"sig", "simplesigning", image=image)
    backend(fake, repository="reg.test/signatures").store(item, StorageContext(RUN))
    assert reader(fake).fetch_signatures(image) == []
    assert reader(fake, "reg.test/signatures").fetch_signatures(image) == [(b"{}", b"sig")]


def test_sigstore_bundles_ignore_storage_oci_repository_and_say_so(
    fake: Any, caplog: pytest.LogCaptureFixture
) -> None:
    image = push_image(fake)
    signer = KeySigner("x509", ec.generate_private_key(ec.SECP256R1()))
    client = lambda auth, insecure: RegistryClient(auth, transport=fake.transport())  # noqa: E731
    with caplog.at_level("WARNING", logger="tektite.chains"):
        bundles = OCIBackend("reg.test/signatures", False, client_factory=client, encoding="sigstore-bundle")
    assert "storage.oci.repository (reg.test/signatures) is ignored" in caplog.text
    payload = b'{"critical":{}}'
    envelope = sign_envelope(payload, signer, SIMPLE_SIGNING_MEDIA_TYPE)
    item = StorageItem(
        "0123456789ab", payload, b"raw", "simplesigning", image=image, envelope=envelope.to_json()
    )
    bundles.store(item, StorageContext(RUN))
    _, [stored] = ReferrerStorage(lambda insecure: RegistryClient(transport=fake.transport())).read(image)
    assert stored.predicate_type == COSIGN_SIGN_PREDICATE and bundle_envelope(stored.bundle) == envelope
    assert reader(fake, "reg.test/signatures").fetch_signatures(image) == []
    with pytest.raises(TektiteError, match="no DSSE envelope"):
        bundles.store(dataclasses.replace(item, envelope=b""), StorageContext(RUN))


def test_the_runs_registry_credentials_are_used(fake: Any) -> None:
    image = push_image(fake)
    creds = DockerConfig.from_bytes(b'{"auths":{"reg.test":{"username":"u","password":"p"}}}')
    seen: list[Any] = []
    item = StorageItem("0123456789ab", b"{}", b"sig", "simplesigning", image=image)
    backend(fake, seen).store(item, StorageContext(RUN, registry_auth=lambda: creds))
    assert seen and all(auth is creds for auth in seen)


def test_a_missing_image_is_an_error_naming_it(fake: Any) -> None:
    fake.refuse_schemes = ("https", "http")
    item = StorageItem("x", b'{"subject":[{"name":"reg.test/team/app","digest":{"sha256":"' + b"a" * 64 + b'"}}]}',
                       b"{}", "in-toto", predicate_type="p")  # fmt: skip
    with pytest.raises(
        TektiteError, match=r"cannot store the attestation for reg\.test/team/app@sha256:aaaa"
    ):
        backend(fake).store(item, StorageContext(RUN))


def test_image_subjects_need_a_sha256_digest_and_a_valid_name() -> None:
    hexd = "b" * 64
    statement = {
        "subject": [
            {"name": "busybox", "digest": {"sha256": hexd}},
            {"name": "Not A Name", "digest": {"sha256": hexd}},
            {"name": "reg.test/x", "digest": {"sha512": hexd}},
            "junk",
        ]
    }
    assert [str(r) for r in image_subjects(statement)] == [f"index.docker.io/library/busybox@sha256:{hexd}"]


# -- the same signing stored again (cosign's dupe detector) ----------------------------------------


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def image_signature(image: str, key: ec.EllipticCurvePrivateKey, payload: bytes) -> StorageItem:
    """``payload`` signed with ``key`` now (ECDSA: a different signature each time)."""
    signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    return StorageItem(
        "0123456789ab", payload, signature, "simplesigning", image=image, public_key=key.public_key()
    )


def checks(key: ec.EllipticCurvePrivateKey, signature: bytes, payload: bytes) -> bool:
    """``cryptography``'s verdict, not tektite's."""
    try:
        key.public_key().verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


PAYLOAD = b'{"critical":{"image":{"docker-manifest-digest":"sha256:00"}},"optional":null}'


def test_the_same_payload_signed_again_with_the_same_key_adds_no_layer(fake: Any) -> None:
    image, key = push_image(fake), new_key()
    first, again = image_signature(image, key, PAYLOAD), image_signature(image, key, PAYLOAD)
    assert first.signature != again.signature  # ECDSA: the retry made another signature
    backend(fake).store(first, StorageContext(RUN))
    backend(fake).store(again, StorageContext(RUN))
    [(payload, signature)] = reader(fake).fetch_signatures(image)
    assert (payload, signature) == (PAYLOAD, first.signature)  # the first one stays
    assert checks(key, signature, payload)


def test_the_same_payload_signed_with_another_key_is_appended(fake: Any) -> None:
    image, one, two = push_image(fake), new_key(), new_key()
    for key in (one, two, one, two):  # each key signs twice: one layer per key
        backend(fake).store(image_signature(image, key, PAYLOAD), StorageContext(RUN))
    [(p1, s1), (p2, s2)] = reader(fake).fetch_signatures(image)
    assert p1 == p2 == PAYLOAD
    assert checks(one, s1, PAYLOAD) and checks(two, s2, PAYLOAD)
    assert not checks(two, s1, PAYLOAD) and not checks(one, s2, PAYLOAD)


def test_a_stored_signature_that_does_not_verify_is_no_duplicate(fake: Any) -> None:
    image, key = push_image(fake), new_key()
    not_by_key = b"\x30\x06\x02\x01\x01\x02\x01\x01"  # well-formed DER (r=1, s=1), not made by the key
    forged = StorageItem("0123456789ab", PAYLOAD, not_by_key, "simplesigning", image=image)
    backend(fake).store(forged, StorageContext(RUN))
    backend(fake).store(image_signature(image, key, PAYLOAD), StorageContext(RUN))
    signatures = reader(fake).fetch_signatures(image)
    assert [checks(key, s, p) for p, s in signatures] == [False, True]


def test_another_payload_or_certificate_with_the_same_key_is_appended(fake: Any) -> None:
    image, key = push_image(fake), new_key()
    backend(fake).store(image_signature(image, key, PAYLOAD), StorageContext(RUN))
    other = PAYLOAD.replace(b"null", b'{"run":"2"}')
    backend(fake).store(image_signature(image, key, other), StorageContext(RUN))
    cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    with_cert = dataclasses.replace(image_signature(image, key, PAYLOAD), cert=cert)
    backend(fake).store(with_cert, StorageContext(RUN))
    _, stored = reader(fake).read_signatures(image)
    assert [s.payload for s in stored] == [PAYLOAD, other, PAYLOAD]
    assert [s.certificate is not None for s in stored] == [False, False, True]
    assert all(checks(key, s.signature(), s.payload) for s in stored)


def statement_for(image: str, build: str = "1") -> bytes:
    name, digest = image.split("@")
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": name, "digest": {"sha256": digest.removeprefix("sha256:")}}],
        "predicate": {"build": build},
    }
    return json.dumps(statement).encode()


def attestation(statement: bytes, key: ec.EllipticCurvePrivateKey) -> StorageItem:
    """A DSSE envelope signed here, by hand: PAE as the DSSE spec writes it."""
    kind = b"application/vnd.in-toto+json"
    pae = b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(statement), statement)
    envelope = {
        "payloadType": kind.decode(),
        "payload": base64.b64encode(statement).decode(),
        "signatures": [
            {"keyid": "k", "sig": base64.b64encode(key.sign(pae, ec.ECDSA(hashes.SHA256()))).decode()}
        ],
    }
    predicate = "https://slsa.dev/provenance/v0.2"
    envelope_json = json.dumps(envelope).encode()
    return StorageItem(
        "taskrun-u1",
        statement,
        envelope_json,
        "slsa/v1",
        predicate_type=predicate,
        public_key=key.public_key(),
    )


def sslib_verifies(envelope: bytes, key: ec.EllipticCurvePrivateKey) -> bool:
    parsed = json.loads(envelope)
    sslib_key = SSlibKey.from_crypto(key.public_key(), keyid="k")  # type: ignore[arg-type]
    try:
        return "k" in SslibEnvelope.from_dict(parsed).verify([sslib_key], 1)
    except SslibVerificationError:  # the threshold (one signature) is not met
        return False


def test_an_attestation_signed_again_after_a_retry_adds_no_layer(fake: Any) -> None:
    image, key = push_image(fake), new_key()
    first, again = attestation(statement_for(image), key), attestation(statement_for(image), key)
    assert first.signature != again.signature
    backend(fake).store(first, StorageContext(RUN))
    backend(fake).store(again, StorageContext(RUN))
    [envelope] = reader(fake).fetch_attestations(image)
    assert envelope == first.signature and sslib_verifies(envelope, key)


def test_attestations_by_another_key_or_of_another_statement_are_appended(fake: Any) -> None:
    image, one, two = push_image(fake), new_key(), new_key()
    same, other = statement_for(image), statement_for(image, build="2")
    items = [attestation(same, one), attestation(same, two), attestation(other, one)]
    for item in items:
        backend(fake).store(item, StorageContext(RUN))
    stored = reader(fake).fetch_attestations(image)
    assert stored == [item.signature for item in items]
    assert [sslib_verifies(e, one) for e in stored] == [True, False, True]
    assert [sslib_verifies(e, two) for e in stored] == [False, True, False]


# -- a retry after a partial push, through the watcher ----------------------------------------------


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path / "home")
    yield c
    c.close()


class FailOnce:
    """The registry refuses the first manifest PUT to a tag ending in ``suffix`` (blobs got there)."""

    def __init__(self, fake: Any, suffix: str) -> None:
        self.fake, self.suffix, self.failed = fake, suffix, False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if (
            request.method == "PUT"
            and "/manifests/" in path
            and path.endswith(self.suffix)
            and not self.failed
        ):
            self.failed = True
            return httpx.Response(500, json={"errors": [{"code": "UNKNOWN", "message": "disk full"}]})
        return self.fake.handle(request)


@pytest.mark.parametrize("refused", [".sig", ".att"])
def test_a_retry_after_a_partial_push_leaves_one_signature_and_one_attestation(
    fake: Any, cluster: Cluster, monkeypatch: pytest.MonkeyPatch, refused: str
) -> None:
    kit = sibling(UNIT / "chains", "test_watcher")
    image = push_image(fake)
    name, digest = image.split("@")
    config = {"artifacts.taskrun.storage": "oci", "artifacts.oci.storage": "oci"}
    kit.chains_config(cluster, {"artifacts.taskrun.format": "slsa/v1", **config})
    results = [
        {"name": "IMAGE_URL", "type": "string", "value": name},
        {"name": "IMAGE_DIGEST", "type": "string", "value": digest},
    ]
    kit.finished_taskrun(cluster, results=results)
    transport = httpx.MockTransport(FailOnce(fake, refused))
    registry = OCIBackend(None, False, lambda auth, insecure: RegistryClient(auth, transport=transport))
    monkeypatch.setitem(BACKENDS, "oci", lambda env: registry)
    watcher = kit.make_watcher(cluster)
    key = ("TaskRun", "default", "build")
    assert watcher.process(key) == Action.RETRY  # one of the two tags was written, the other not
    assert watcher.process(key) == Action.SIGNED  # the retry signs both again
    home = serialization.load_pem_private_key((cluster.home / HOME_KEY).read_bytes(), None)
    assert isinstance(home, ec.EllipticCurvePrivateKey)
    [(payload, signature)] = reader(fake).fetch_signatures(image)
    assert checks(home, signature, payload)
    [envelope] = reader(fake).fetch_attestations(image)
    keyid = json.loads(envelope)["signatures"][0]["keyid"]
    sslib_key = SSlibKey.from_crypto(home.public_key(), keyid=keyid)  # type: ignore[arg-type]
    assert keyid in SslibEnvelope.from_dict(json.loads(envelope)).verify([sslib_key], 1)
