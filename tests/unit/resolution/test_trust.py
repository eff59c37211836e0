"""Trusted resources' signatures with each key type and hash a VerificationPolicy may name, made here
with ``cryptography`` directly (not tektite's signers), and what cannot be signed yet."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from tektite.errors import NotSupported, TektiteError
from tektite.resolution import trust

TASK: dict[str, Any] = {
    "apiVersion": "tekton.dev/v1",
    "kind": "Task",
    "metadata": {"name": "t", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
    "spec": {"steps": [{"name": "s", "image": "busybox", "script": "true"}]},
}


@pytest.mark.parametrize("algorithm", ["sha224", "sha256", "sha384", "sha512"])
def test_ecdsa_and_rsa_signatures_verify_with_the_policys_hash(algorithm: str) -> None:
    digest = trust.signing_digest(TASK)
    hash_ = {
        "sha224": hashes.SHA224,
        "sha256": hashes.SHA256,
        "sha384": hashes.SHA384,
        "sha512": hashes.SHA512,
    }[algorithm]()
    ec_key = ec.generate_private_key(ec.SECP384R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_sig = ec_key.sign(digest, ec.ECDSA(hash_))
    rsa_sig = rsa_key.sign(digest, padding.PKCS1v15(), hash_)
    assert trust.signed_with(ec_key.public_key(), ec_sig, digest, algorithm)
    assert trust.signed_with(rsa_key.public_key(), rsa_sig, digest, algorithm.upper())
    other = "sha512" if algorithm != "sha512" else "sha256"
    assert not trust.signed_with(ec_key.public_key(), ec_sig, digest, other)
    assert not trust.signed_with(rsa_key.public_key(), rsa_sig, digest, other)


def test_ed25519_signs_the_digest_itself_and_a_changed_task_fails() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    signed = trust.signed_copy(TASK, key.sign)
    signature = base64.b64decode(signed["metadata"]["annotations"][trust.SIGNATURE_ANNOTATION])
    assert trust.signed_with(
        key.public_key(), signature, trust.signing_digest(signed)
    )  # the annotation is left out
    changed = {**signed, "spec": {"steps": [{"name": "s", "image": "busybox", "script": "false"}]}}
    assert not trust.signed_with(key.public_key(), signature, trust.signing_digest(changed))
    relabelled = {**signed, "metadata": {**signed["metadata"], "labels": {"team": "x"}}}
    assert not trust.signed_with(key.public_key(), signature, trust.signing_digest(relabelled))


def test_what_cannot_be_signed_says_so() -> None:
    with pytest.raises(NotSupported, match=r"tekton\.dev/v1beta1 Tasks is not supported yet"):
        trust.signing_digest({**TASK, "apiVersion": "tekton.dev/v1beta1"})
    with pytest.raises(TektiteError, match="only Tasks and Pipelines are signed; found kind 'TaskRun'"):
        trust.signing_digest({**TASK, "kind": "TaskRun"})
    bad = {**TASK, "metadata": {"name": "t", "annotations": {trust.SIGNATURE_ANNOTATION: "not base64!"}}}
    with pytest.raises(TektiteError, match="is not base64"):
        trust.signature_of(bad)
