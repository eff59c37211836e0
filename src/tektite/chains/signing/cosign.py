"""cosign's encrypted private key format (``cosign.key``) and the signer built on it.

The file is a PEM block of type ``ENCRYPTED COSIGN PRIVATE KEY`` (cosign < 2) or
``ENCRYPTED SIGSTORE PRIVATE KEY`` (cosign >= 2) whose body is the JSON written by
go-securesystemslib ``encrypted.Encrypt``::

    {"kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": "<base64>"},
     "cipher": {"name": "nacl/secretbox", "nonce": "<base64>"},
     "ciphertext": "<base64>"}

The secretbox key is ``scrypt(password, salt, N, r, p, 32 bytes)``; the plaintext is the PKCS#8 DER
private key. ``cosign.pub`` is the PKIX ``PUBLIC KEY`` PEM.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from typing import Any

import nacl.exceptions
import nacl.secret
import nacl.utils
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from tektite.chains.signing.base import KeySigner, check_signing_key, public_key_pem
from tektite.errors import SigningError

__all__ = [
    "COSIGN_PEM_TYPE",
    "ENCRYPTED_PEM_TYPES",
    "SIGSTORE_PEM_TYPE",
    "encrypt_cosign_private_key",
    "generate_cosign_keypair",
    "load_cosign_private_key",
    "load_cosign_signer",
]

COSIGN_PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"
SIGSTORE_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
ENCRYPTED_PEM_TYPES = (COSIGN_PEM_TYPE, SIGSTORE_PEM_TYPE)

# go-securesystemslib encrypted package defaults, used by `cosign generate-key-pair`.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 32768, 8, 1
_SALT_SIZE = 32
_MAX_SCRYPT_N = 1 << 20  # refuse absurd work factors from a hostile file


class _WrongPassword(SigningError):
    pass


_PEM_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)\r?\n?-----END \1-----", re.DOTALL)


def _pem_block(pem: bytes, where: str) -> tuple[str, bytes]:
    match = _PEM_RE.search(pem)
    if not match:
        raise SigningError(
            f"not a PEM file; expected a '-----BEGIN {SIGSTORE_PEM_TYPE}-----' block, found none", obj=where
        )
    pem_type = match.group(1).decode()
    body = b"".join(line.strip() for line in match.group(2).splitlines() if b":" not in line)
    try:
        return pem_type, base64.b64decode(body, validate=True)
    except binascii.Error:
        raise SigningError(f"PEM block {pem_type!r} is not valid base64", obj=where) from None


def _b64_field(obj: dict[str, Any], key: str, where: str, path: str) -> bytes:
    value = obj.get(key)
    if not isinstance(value, str):
        raise SigningError(f"malformed encrypted key: {path}.{key} must be a base64 string", obj=where)
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise SigningError(f"malformed encrypted key: {path}.{key} is not valid base64", obj=where) from None


def _derive(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=nacl.secret.SecretBox.KEY_SIZE, n=n, r=r, p=p).derive(password)


def _decrypt(envelope: dict[str, Any], password: bytes, where: str) -> bytes:
    kdf, cipher = envelope.get("kdf"), envelope.get("cipher")
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        found = kdf.get("name") if isinstance(kdf, dict) else kdf
        raise SigningError(
            f"unsupported key derivation; expected kdf.name 'scrypt', found {found!r}", obj=where
        )
    if not isinstance(cipher, dict) or cipher.get("name") != "nacl/secretbox":
        found = cipher.get("name") if isinstance(cipher, dict) else cipher
        raise SigningError(
            f"unsupported cipher; expected cipher.name 'nacl/secretbox', found {found!r}", obj=where
        )
    params = kdf.get("params")
    if not isinstance(params, dict) or not all(isinstance(params.get(k), int) for k in ("N", "r", "p")):
        raise SigningError("malformed encrypted key: kdf.params must hold integers N, r and p", obj=where)
    n, r, p = params["N"], params["r"], params["p"]
    if not 1 < n <= _MAX_SCRYPT_N or n & (n - 1) or r < 1 or p < 1 or r * p >= 1 << 30:
        raise SigningError(
            f"unsupported scrypt parameters; expected N a power of two up to {_MAX_SCRYPT_N}, r >= 1, "
            f"p >= 1, found N={n}, r={r}, p={p}",
            obj=where,
        )
    salt = _b64_field(kdf, "salt", where, "kdf")
    nonce = _b64_field(cipher, "nonce", where, "cipher")
    ciphertext = _b64_field(envelope, "ciphertext", where, "")
    if len(nonce) != nacl.secret.SecretBox.NONCE_SIZE:
        raise SigningError(
            f"malformed encrypted key: cipher.nonce must be {nacl.secret.SecretBox.NONCE_SIZE} bytes, "
            f"found {len(nonce)}",
            obj=where,
        )
    box = nacl.secret.SecretBox(_derive(password, salt, n, r, p))
    try:
        return box.decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError:
        raise _WrongPassword(f"wrong password for {where}: the key cannot be decrypted") from None


def load_cosign_private_key(pem: bytes, password: bytes, *, where: str = "cosign.key") -> PrivateKeyTypes:
    """Decrypt a cosign/sigstore encrypted private key. ``where`` names the key in errors.

    A wrong password raises :class:`SigningError` ("wrong password for cosign.key ..."). As a
    convenience for secrets written with ``echo``, a password ending in a newline that does not
    decrypt the key is retried once without it.
    """
    pem_type, body = _pem_block(pem, where)
    if pem_type not in ENCRYPTED_PEM_TYPES:
        raise SigningError(
            f"unexpected PEM type; expected {' or '.join(repr(t) for t in ENCRYPTED_PEM_TYPES)}, "
            f"found {pem_type!r}",
            obj=where,
        )
    try:
        envelope = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SigningError("malformed encrypted key: the PEM body is not JSON", obj=where) from None
    if not isinstance(envelope, dict):
        raise SigningError("malformed encrypted key: the PEM body is not a JSON object", obj=where)
    try:
        der = _decrypt(envelope, password, where)
    except _WrongPassword:
        stripped = password.rstrip(b"\r\n")
        if stripped == password:
            raise
        der = _decrypt(envelope, stripped, where)
    try:
        return serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SigningError(
            "the decrypted key is not a PKCS#8 private key tektite can read", obj=where
        ) from None


def encrypt_cosign_private_key(
    key: PrivateKeyTypes, password: bytes, *, pem_type: str = COSIGN_PEM_TYPE
) -> bytes:
    """``key`` as a cosign-compatible encrypted PEM (scrypt N=32768 r=8 p=1 + NaCl secretbox).

    The default PEM type ``ENCRYPTED COSIGN PRIVATE KEY`` is the one the Chains docs require and
    every cosign release reads; pass :data:`SIGSTORE_PEM_TYPE` for what cosign 2 writes.
    """
    if pem_type not in ENCRYPTED_PEM_TYPES:
        raise SigningError(f"unknown PEM type; expected one of {ENCRYPTED_PEM_TYPES}, found {pem_type!r}")
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt = os.urandom(_SALT_SIZE)
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    box = nacl.secret.SecretBox(_derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))
    ciphertext = box.encrypt(der, nonce).ciphertext

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    envelope = {
        "kdf": {"name": "scrypt", "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}, "salt": b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": b64(nonce)},
        "ciphertext": b64(ciphertext),
    }
    body = base64.b64encode(json.dumps(envelope, separators=(",", ":")).encode()).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {pem_type}-----\n{chr(10).join(lines)}\n-----END {pem_type}-----\n".encode()


def generate_cosign_keypair(password: bytes) -> tuple[bytes, bytes]:
    """A new ECDSA P-256 pair as ``(cosign.key PEM, cosign.pub PEM)``, like ``cosign generate-key-pair``."""
    key = ec.generate_private_key(ec.SECP256R1())
    return encrypt_cosign_private_key(key, password), public_key_pem(key.public_key())


def load_cosign_signer(pem: bytes, password: bytes, *, where: str = "cosign.key") -> KeySigner:
    """A signer for an encrypted cosign key (Chains' ``x509`` signer with ``cosign.key``)."""
    return KeySigner("cosign", check_signing_key(load_cosign_private_key(pem, password, where=where), where))
