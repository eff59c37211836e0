"""Verification primitives: public keys, raw signatures made by OpenSSL, envelope checks."""

from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.x509.oid import NameOID

from tektite.chains.dsse import Envelope, sign_envelope
from tektite.chains.signing import generate_ecdsa_p256_pem, load_signer
from tektite.errors import VerificationError
from tektite.verify import BadSignature, load_public_key, verify_envelope, verify_signature


def _openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.skip("openssl is not installed (Debian package 'openssl')")
    return path


@pytest.mark.parametrize(
    "genpkey", [["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], ["-algorithm", "RSA"]]
)
def test_signatures_made_by_openssl_verify(genpkey: list[str], tmp_path: Path) -> None:
    openssl = _openssl()
    key, pub, data, sig = (tmp_path / n for n in ("key.pem", "pub.pem", "data", "sig.bin"))
    subprocess.run([openssl, "genpkey", *genpkey, "-out", str(key)], check=True, capture_output=True)
    subprocess.run(
        [openssl, "pkey", "-in", str(key), "-pubout", "-out", str(pub)], check=True, capture_output=True
    )
    data.write_bytes(b"signed by openssl")
    subprocess.run(
        [openssl, "dgst", "-sha256", "-sign", str(key), "-out", str(sig), str(data)],
        check=True,
        capture_output=True,
    )
    public_key = load_public_key(pub.read_bytes())
    verify_signature(public_key, sig.read_bytes(), b"signed by openssl")
    with pytest.raises(BadSignature):
        verify_signature(public_key, sig.read_bytes(), b"signed by openss1")


def test_public_key_can_come_from_a_certificate() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chains")])
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    loaded = load_public_key(cert.public_bytes(serialization.Encoding.PEM))
    assert loaded == key.public_key()


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        (b"nope", "not a PEM public key"),
        (generate_ecdsa_p256_pem(), "found a private key"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "cannot read the public key"),
    ],
)
def test_unusable_public_keys_say_why_and_where(pem: bytes, message: str) -> None:
    with pytest.raises(VerificationError, match=message) as err:
        load_public_key(pem, source="cosign.pub")
    assert "cosign.pub" in str(err.value)


def test_unsupported_key_type_is_not_reported_as_a_bad_signature() -> None:
    # Ed448: a key cryptography loads but cosign and tektite don't sign or verify with
    # (DSA was used before; cryptography 51 deprecates it).
    ed448_key = ed448.Ed448PrivateKey.generate().public_key()
    envelope = sign_envelope(b"{}", load_signer("x509", secret_data={"x509.pem": generate_ecdsa_p256_pem()}))
    with pytest.raises(VerificationError, match="unsupported public key") as err:
        verify_envelope(envelope, ed448_key)
    assert not isinstance(err.value, BadSignature)


def test_payload_type_is_checked_unless_told_otherwise() -> None:
    pem = generate_ecdsa_p256_pem()
    signer = load_signer("x509", secret_data={"x509.pem": pem})
    envelope = sign_envelope(b"hello", signer, payload_type="text/plain")
    with pytest.raises(
        VerificationError, match=r"expected 'application/vnd\.in-toto\+json', found 'text/plain'"
    ):
        verify_envelope(envelope, signer.public_key())  # type: ignore[arg-type]
    assert verify_envelope(envelope, signer.public_key(), payload_type=None) == b"hello"  # type: ignore[arg-type]
    assert verify_envelope(envelope.to_json(), signer.public_key(), payload_type="text/plain") == b"hello"  # type: ignore[arg-type]


def test_changing_the_payload_type_breaks_the_signature() -> None:
    signer = load_signer("x509", secret_data={"x509.pem": generate_ecdsa_p256_pem()})
    envelope = sign_envelope(b"hello", signer, payload_type="text/plain")
    relabelled = Envelope(envelope.payload, "application/vnd.in-toto+json", envelope.signatures)
    with pytest.raises(BadSignature):
        verify_envelope(relabelled, signer.public_key())  # type: ignore[arg-type]


def test_malformed_envelope_bytes_raise_verification_error() -> None:
    with pytest.raises(VerificationError, match="malformed DSSE envelope"):
        verify_envelope(b"{", ec.generate_private_key(ec.SECP256R1()).public_key())
