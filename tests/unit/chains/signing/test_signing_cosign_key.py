"""cosign.key: reads what the real cosign CLI wrote, and writes what cosign can read."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import nacl.secret
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from tektite.chains.signing import load_signer
from tektite.chains.signing.cosign import (
    COSIGN_PEM_TYPE,
    SIGSTORE_PEM_TYPE,
    encrypt_cosign_private_key,
    generate_cosign_keypair,
    load_cosign_private_key,
)
from tektite.errors import SigningError, TektiteError


def _independent_decrypt(pem: bytes, password: bytes) -> bytes:
    """Decrypt a cosign key with hashlib.scrypt + PyNaCl directly, from the format description."""
    lines = pem.decode().strip().splitlines()
    assert lines[0] in (f"-----BEGIN {COSIGN_PEM_TYPE}-----", f"-----BEGIN {SIGSTORE_PEM_TYPE}-----")
    envelope = json.loads(base64.b64decode("".join(lines[1:-1])))
    params = envelope["kdf"]["params"]
    key = hashlib.scrypt(
        password,
        salt=base64.b64decode(envelope["kdf"]["salt"]),
        n=params["N"],
        r=params["r"],
        p=params["p"],
        maxmem=256 * 1024 * 1024,
        dklen=32,
    )
    box = nacl.secret.SecretBox(key)
    return box.decrypt(
        base64.b64decode(envelope["ciphertext"]), base64.b64decode(envelope["cipher"]["nonce"])
    )


def _independent_encrypt(der: bytes, password: bytes, pem_type: str) -> bytes:
    salt, nonce = os.urandom(32), os.urandom(24)
    key = hashlib.scrypt(password, salt=salt, n=32768, r=8, p=1, maxmem=256 * 1024 * 1024, dklen=32)
    ciphertext = nacl.secret.SecretBox(key).encrypt(der, nonce).ciphertext
    body = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": 32768, "r": 8, "p": 1},
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    b64 = base64.b64encode(json.dumps(body).encode()).decode()
    return f"-----BEGIN {pem_type}-----\n{b64}\n-----END {pem_type}-----\n".encode()


@pytest.mark.conformance
def test_the_cosign_cli_key_loads_and_matches_its_public_key(conformance_dir: Path) -> None:
    testdata = conformance_dir / "chains" / "test" / "testdata"
    key = load_cosign_private_key(
        (testdata / "cosign.key").read_bytes(), (testdata / "cosign.password").read_bytes()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public_pem == (testdata / "cosign.pub").read_bytes()


@pytest.mark.conformance
def test_chains_signing_secret_with_the_cosign_cli_key_signs(conformance_dir: Path) -> None:
    testdata = conformance_dir / "chains" / "test" / "testdata"
    secret = {
        "cosign.key": (testdata / "cosign.key").read_bytes(),
        "cosign.password": (testdata / "cosign.password").read_bytes(),
    }
    signer = load_signer("x509", secret_data=secret)
    assert signer.public_key_pem() == (testdata / "cosign.pub").read_bytes()
    pub = serialization.load_pem_public_key((testdata / "cosign.pub").read_bytes())
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify(signer.sign(b"payload"), b"payload", ec.ECDSA(hashes.SHA256()))


@pytest.mark.conformance
def test_wrong_password_for_the_cosign_cli_key_is_a_clear_error(conformance_dir: Path) -> None:
    pem = (conformance_dir / "chains" / "test" / "testdata" / "cosign.key").read_bytes()
    with pytest.raises(SigningError, match=r"wrong password for cosign\.key"):
        load_cosign_private_key(pem, b"not-the-password")


def test_generated_key_decrypts_with_an_independent_scrypt_and_secretbox() -> None:
    key_pem, pub_pem = generate_cosign_keypair(b"s3cret")
    der = _independent_decrypt(key_pem, b"s3cret")
    key = serialization.load_der_private_key(der, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    assert (
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == pub_pem
    )


def test_generated_key_uses_cosigns_kdf_parameters_and_pem_shape() -> None:
    key_pem, pub_pem = generate_cosign_keypair(b"pw")
    lines = key_pem.decode().splitlines()
    assert lines[0] == "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----"
    assert lines[-1] == "-----END ENCRYPTED COSIGN PRIVATE KEY-----"
    assert all(len(line) <= 64 for line in lines[1:-1])  # Go's pem.Encode line length
    envelope = json.loads(base64.b64decode("".join(lines[1:-1])))
    assert envelope["kdf"]["name"] == "scrypt"
    assert envelope["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}
    assert len(base64.b64decode(envelope["kdf"]["salt"])) == 32
    assert envelope["cipher"]["name"] == "nacl/secretbox"
    assert len(base64.b64decode(envelope["cipher"]["nonce"])) == 24
    assert pub_pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")


@pytest.mark.parametrize("pem_type", [COSIGN_PEM_TYPE, SIGSTORE_PEM_TYPE])
def test_independently_encrypted_key_loads(pem_type: str) -> None:
    original = ec.generate_private_key(ec.SECP256R1())
    der = original.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    loaded = load_cosign_private_key(_independent_encrypt(der, b"pw", pem_type), b"pw")
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert loaded.private_numbers() == original.private_numbers()


def test_encrypt_then_load_round_trip_for_every_key_kind(any_key: PrivateKeyTypes) -> None:
    pem = encrypt_cosign_private_key(any_key, b"round-trip", pem_type=SIGSTORE_PEM_TYPE)
    assert pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    loaded = load_cosign_private_key(pem, b"round-trip")
    assert type(loaded) is type(any_key)
    assert loaded.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == any_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_password_read_with_a_trailing_newline_still_opens_the_key() -> None:
    key_pem, _ = generate_cosign_keypair(b"pw")
    assert load_cosign_private_key(key_pem, b"pw\n") is not None


def test_wrong_password_is_a_tektite_error_without_traceback_noise() -> None:
    key_pem, _ = generate_cosign_keypair(b"right")
    with pytest.raises(TektiteError) as err:
        load_cosign_private_key(key_pem, b"wrong", where="keys/cosign.key")
    assert "wrong password for keys/cosign.key" in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_tampered_ciphertext_is_rejected() -> None:
    key_pem, _ = generate_cosign_keypair(b"pw")
    lines = key_pem.decode().splitlines()
    envelope = json.loads(base64.b64decode("".join(lines[1:-1])))
    raw = bytearray(base64.b64decode(envelope["ciphertext"]))
    raw[5] ^= 0x01
    envelope["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    body = base64.b64encode(json.dumps(envelope).encode()).decode()
    tampered = f"{lines[0]}\n{body}\n{lines[-1]}\n".encode()
    with pytest.raises(SigningError, match="cannot be decrypted"):
        load_cosign_private_key(tampered, b"pw")


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        (b"not a pem at all", "not a PEM file"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "unexpected PEM type"),
        (
            b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n" + base64.b64encode(b"[1]") + b"\n"
            b"-----END ENCRYPTED COSIGN PRIVATE KEY-----\n",
            "not a JSON object",
        ),
        (
            b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n"
            + base64.b64encode(b'{"kdf":{"name":"argon2"},"cipher":{"name":"nacl/secretbox"}}')
            + b"\n-----END ENCRYPTED COSIGN PRIVATE KEY-----\n",
            "expected kdf.name 'scrypt', found 'argon2'",
        ),
    ],
)
def test_malformed_keys_say_what_is_wrong(pem: bytes, message: str) -> None:
    with pytest.raises(SigningError, match=message):
        load_cosign_private_key(pem, b"pw")


def test_absurd_scrypt_work_factor_is_refused_before_deriving() -> None:
    body = {
        "kdf": {"name": "scrypt", "params": {"N": 1 << 30, "r": 8, "p": 1}, "salt": "AAAA"},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(b"\0" * 24).decode()},
        "ciphertext": "AAAA",
    }
    pem = (
        b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n"
        + base64.b64encode(json.dumps(body).encode())
        + b"\n-----END ENCRYPTED COSIGN PRIVATE KEY-----\n"
    )
    with pytest.raises(SigningError, match="unsupported scrypt parameters"):
        load_cosign_private_key(pem, b"pw")
