"""The x509 signer and load_signer: which key Chains' signing-secrets resolve to, and clear errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from tektite.chains.signing import generate_ecdsa_p256_pem, load_signer
from tektite.chains.signing.cosign import generate_cosign_keypair
from tektite.errors import NotSupported, SigningError, TektiteError, ValidationError

OpensslVerify = Callable[[bytes, bytes, bytes], bool]
NewKey = Callable[[str], PrivateKeyTypes]


def pkcs8_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _spki(key: PrivateKeyTypes) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_x509_pem_signer_signs_verifiably_for_every_key_kind(
    any_key: PrivateKeyTypes, openssl_verify: OpensslVerify
) -> None:
    signer = load_signer("x509", secret_data={"x509.pem": pkcs8_pem(any_key)})
    assert signer.name == "x509"
    assert signer.public_key_pem() == _spki(any_key)
    data = b'{"_type":"https://in-toto.io/Statement/v1"}'
    signature = signer.sign(data)
    assert openssl_verify(signer.public_key_pem(), signature, data)
    assert not openssl_verify(signer.public_key_pem(), signature, data + b" ")


def test_a_signature_does_not_verify_with_another_key(openssl_verify: OpensslVerify, new_key: NewKey) -> None:
    signer = load_signer("x509", secret_data={"x509.pem": generate_ecdsa_p256_pem()})
    other = new_key("ecdsa-p256")
    assert not openssl_verify(_spki(other), signer.sign(b"data"), b"data")


def test_generated_default_key_is_unencrypted_pkcs8_p256() -> None:
    pem = generate_ecdsa_p256_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert generate_ecdsa_p256_pem() != pem


def test_sec1_ec_private_key_pem_is_accepted_like_chains(new_key: NewKey) -> None:
    key = new_key("ecdsa-p256")
    sec1 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert sec1.startswith(b"-----BEGIN EC PRIVATE KEY-----")
    assert load_signer("x509", secret_data={"x509.pem": sec1}).public_key_pem() == _spki(key)


def test_x509_pem_is_preferred_over_cosign_key_as_in_chains(new_key: NewKey) -> None:
    x509_key = new_key("ed25519")
    cosign_key, cosign_pub = generate_cosign_keypair(b"pw")
    both = {"x509.pem": pkcs8_pem(x509_key), "cosign.key": cosign_key, "cosign.password": b"pw"}
    assert load_signer("x509", secret_data=both).public_key_pem() == _spki(x509_key)
    only_cosign = {"cosign.key": cosign_key, "cosign.password": b"pw"}
    signer = load_signer("x509", secret_data=only_cosign)
    assert signer.public_key_pem() == cosign_pub
    assert signer.name == "cosign"


def test_cosign_key_without_password_says_which_secret_key_is_missing() -> None:
    cosign_key, _ = generate_cosign_keypair(b"pw")
    with pytest.raises(SigningError, match=r"expected signing-secrets/cosign\.password, found none"):
        load_signer("x509", secret_data={"cosign.key": cosign_key})


def test_empty_secret_lists_what_was_looked_for_and_found() -> None:
    with pytest.raises(SigningError) as err:
        load_signer("x509", secret_data={"tls.crt": b"x"})
    assert "looked for [x509.pem, cosign.key], found [tls.crt]" in str(err.value)


def test_encrypted_pkcs8_x509_pem_is_refused_with_a_hint(new_key: NewKey) -> None:
    key = new_key("ecdsa-p256")
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    with pytest.raises(SigningError) as err:
        load_signer("x509", secret_data={"x509.pem": encrypted})
    assert "found an encrypted key" in str(err.value)
    assert "signing-secrets/x509.pem" in str(err.value)


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        (b"hello", "not a PEM private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "cannot read the private key"),
        (pkcs8_pem(ec.generate_private_key(ec.SECP256K1())), "unsupported ECDSA curve.*found secp256k1"),
        (pkcs8_pem(ed448.Ed448PrivateKey.generate()), "unsupported private key type.*Ed448"),
    ],
)
def test_unusable_x509_pem_says_what_is_wrong(pem: bytes, message: str) -> None:
    with pytest.raises(SigningError, match=message):
        load_signer("x509", secret_data={"x509.pem": pem})


def test_key_file_can_be_plain_pem_or_encrypted_cosign_key(tmp_path: Path, new_key: NewKey) -> None:
    plain = tmp_path / "x509.pem"
    key = new_key("rsa-2048")
    plain.write_bytes(pkcs8_pem(key))
    assert load_signer("x509", key_file=plain).public_key_pem() == _spki(key)
    cosign_key, cosign_pub = generate_cosign_keypair(b"pw")
    (tmp_path / "cosign.key").write_bytes(cosign_key)
    assert (
        load_signer("cosign", key_file=tmp_path / "cosign.key", password=b"pw").public_key_pem() == cosign_pub
    )
    with pytest.raises(SigningError, match="needs a password"):
        load_signer("x509", key_file=tmp_path / "cosign.key")
    with pytest.raises(SigningError, match="not an encrypted cosign key"):
        load_signer("cosign", key_file=plain)
    with pytest.raises(SigningError, match="cannot read the key file"):
        load_signer("x509", key_file=tmp_path / "missing.pem")


def test_unknown_signer_kind_lists_the_known_ones() -> None:
    with pytest.raises(ValidationError, match="expected x509, kms or none, found 'gpg'"):
        load_signer("gpg")


def test_none_signer_signs_nothing() -> None:
    signer = load_signer("none")
    assert signer.name == "none"
    assert signer.sign(b"data") == b""
    assert signer.public_key() is None and signer.public_key_pem() == b"" and signer.key_id == ""


def test_cloud_kms_is_not_supported_yet() -> None:
    with pytest.raises(NotSupported, match="not supported yet"):
        load_signer("kms", kmsref="hashivault://chains")


def test_signer_repr_never_shows_key_material() -> None:
    pem = generate_ecdsa_p256_pem()
    signer = load_signer("x509", secret_data={"x509.pem": pem})
    body = b"".join(pem.splitlines()[1:-1]).decode()
    assert body[:20] not in repr(signer)
    assert signer.key_id in repr(signer)


def test_errors_are_tektite_errors() -> None:
    for call in (
        lambda: load_signer("x509", secret_data={}),
        lambda: load_signer("kms"),
        lambda: load_signer("kms", kmsref="vault://x"),
    ):
        with pytest.raises(TektiteError):
            call()
