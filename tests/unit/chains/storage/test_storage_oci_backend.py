"""The ``oci`` backend over an in-memory registry: which tag each signed thing goes to.

The round trip against a real docker-registry, checked by openssl and ``tektite verify``, is in
``tests/integration/test_chains_e2e.py``.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tektite.chains.storage import StorageContext, StorageItem
from tektite.chains.storage.oci import OCIStorage
from tektite.chains.storage.ocibackend import OCIBackend, image_subjects
from tektite.errors import TektiteError
from tektite.oci.auth import DockerConfig
from tektite.oci.client import RegistryClient
from tektite.oci.manifest import OCI_MANIFEST

RUN = {"kind": "TaskRun", "metadata": {"name": "build", "namespace": "default", "uid": "u1"}}


@pytest.fixture()
def fake() -> Any:
    """The in-memory registry of tests/unit/oci (a sibling test folder, so found by path)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "oci"))
    try:
        return importlib.import_module("oci_fake_registry").FakeRegistry()
    finally:
        sys.path.pop(0)


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
