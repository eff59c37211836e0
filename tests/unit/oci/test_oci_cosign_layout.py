"""Chains' oci storage and verification over the in-memory registry (no docker-registry needed)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from oci_fake_registry import FakeRegistry

from tektite.chains.storage.oci import OCIStorage, cosign_config, cosign_tag
from tektite.errors import ValidationError, VerificationError
from tektite.oci.client import RegistryClient, RegistryError
from tektite.oci.manifest import OCI_MANIFEST, descriptor_for
from tektite.verify.oci import predicate_type_uri, verify_image

IMAGE_REPO = "reg.test/team/app"


def storage(fake: FakeRegistry, repository: str | None = None) -> OCIStorage:
    return OCIStorage(lambda insecure: RegistryClient(transport=fake.transport()), repository=repository)


def image(fake: FakeRegistry) -> str:
    with RegistryClient(transport=fake.transport()) as c:
        digest = c.put_manifest(f"{IMAGE_REPO}:v1", b'{"schemaVersion":2,"layers":[]}', OCI_MANIFEST)
    return f"{IMAGE_REPO}@{digest}"


def payload(img: str) -> bytes:
    return json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": IMAGE_REPO},
                "image": {"docker-manifest-digest": img.split("@")[1]},
                "type": "cosign container image signature",
            },
            "optional": None,
        }
    ).encode()


def test_cosign_tag() -> None:
    assert cosign_tag("sha256:" + "ab" * 32, "sig") == "sha256-" + "ab" * 32 + ".sig"


def test_cosign_config_lists_layers_as_diff_ids() -> None:
    layers = [descriptor_for(b"one", "x"), descriptor_for(b"two", "x")]
    config = json.loads(cosign_config(layers))
    assert config["rootfs"] == {"type": "layers", "diff_ids": [layers[0].digest, layers[1].digest]}
    assert len(config["history"]) == 2


@pytest.mark.parametrize(
    ("name", "uri"),
    [
        ("slsaprovenance", "https://slsa.dev/provenance/v0.2"),
        ("slsaprovenance02", "https://slsa.dev/provenance/v0.2"),
        ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
        ("https://example.com/custom/v1", "https://example.com/custom/v1"),
    ],
)
def test_predicate_type_names(name: str, uri: str) -> None:
    assert predicate_type_uri(name) == uri


def test_unknown_predicate_type_lists_the_known_ones() -> None:
    with pytest.raises(ValidationError, match="slsaprovenance1"):
        predicate_type_uri("provenance")


def test_repository_override_must_not_have_a_tag() -> None:
    with pytest.raises(ValidationError, match=r"storage\.oci\.repository"):
        OCIStorage(repository="reg.test/sigs:latest")


def test_tag_image_is_resolved_before_reading() -> None:
    fake = FakeRegistry()
    img = image(fake)
    key = ec.generate_private_key(ec.SECP256R1())
    body = payload(img)
    storage(fake).store_signature(img, body, key.sign(body, ec.ECDSA(hashes.SHA256())))
    pinned, layers = storage(fake).read_signatures(f"{IMAGE_REPO}:v1")
    assert str(pinned) == img
    assert [layer.payload for layer in layers] == [body]


def test_signature_annotation_that_is_not_base64_is_a_reason_not_a_crash() -> None:
    fake = FakeRegistry()
    img = image(fake)
    key = ec.generate_private_key(ec.SECP256R1())
    storage(fake).store_signature(img, payload(img), b"x")
    tag = cosign_tag(img.split("@")[1], "sig")
    with RegistryClient(transport=fake.transport()) as c:
        manifest = json.loads(c.get_manifest(f"{IMAGE_REPO}:{tag}").content)
        manifest["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"] = "***"
        c.put_manifest(f"{IMAGE_REPO}:{tag}", json.dumps(manifest).encode(), OCI_MANIFEST)
    with pytest.raises(VerificationError, match="is not base64"):
        verify_image(
            img, key.public_key(), client_factory=lambda insecure: RegistryClient(transport=fake.transport())
        )


def test_a_non_manifest_at_the_sig_tag_is_reported() -> None:
    fake = FakeRegistry()
    img = image(fake)
    tag = cosign_tag(img.split("@")[1], "sig")
    with RegistryClient(transport=fake.transport()) as c:
        c.put_manifest(f"{IMAGE_REPO}:{tag}", b'{"manifests":[]}', "application/vnd.oci.image.index.v1+json")
    with pytest.raises(RegistryError, match="expected an image manifest"):
        storage(fake).store_signature(img, payload(img), b"sig")
