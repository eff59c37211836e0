"""The Signer protocol every signing backend implements, and the helpers they share.

A signer signs raw bytes the way cosign and Tekton Chains do (sigstore's default ``LoadSigner``):

- ECDSA (any NIST curve): SHA-256 digest, ASN.1 DER ``Ecdsa-Sig-Value``;
- Ed25519: the message itself (pure EdDSA);
- RSA: PKCS#1 v1.5 over SHA-256.

The ``key_id`` recorded in DSSE signatures is what Chains writes: the OpenSSH SHA-256 fingerprint of
the public key (``ssh.FingerprintSHA256``: ``"SHA256:"`` + unpadded base64 of the SHA-256 of the SSH
wire encoding), e.g. ``SHA256:W/C1oJjm9+YGXQH2GzgvaaIEy8I2eSXN7919FgEiehU``.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from tektite.errors import SigningError

__all__ = [
    "SIGNING_KEY_TYPES",
    "KeySigner",
    "Signer",
    "SigningKey",
    "check_signing_key",
    "key_id_for",
    "public_key_pem",
    "sign_with_key",
]

SigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
SIGNING_KEY_TYPES = "ECDSA (P-256, P-384, P-521), Ed25519 or RSA"


@runtime_checkable
class Signer(Protocol):
    """Signs bytes with one key. Found by its config name: ``x509``, ``cosign``, ``kms``, ``none``."""

    name: str

    def sign(self, data: bytes) -> bytes:
        """Raw signature bytes over ``data`` (ECDSA: ASN.1 DER over SHA-256, as cosign)."""
        ...

    def public_key(self) -> PublicKeyTypes | None:
        """The public half as a ``cryptography`` key; ``None`` for the ``none`` signer."""
        ...

    def public_key_pem(self) -> bytes:
        """``-----BEGIN PUBLIC KEY-----`` (PKIX) PEM, as in ``cosign.pub``; ``b""`` for ``none``."""
        ...

    @property
    def key_id(self) -> str:
        """The keyid recorded in DSSE signatures (Chains: SSH SHA-256 fingerprint); ``""`` for none."""
        ...


def check_signing_key(key: PrivateKeyTypes, where: str) -> SigningKey:
    """Return ``key`` if tektite can sign with it, else raise a :class:`SigningError` naming ``where``."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1 | ec.SECP384R1 | ec.SECP521R1):
            raise SigningError(
                f"unsupported ECDSA curve; expected P-256, P-384 or P-521, found {key.curve.name}", obj=where
            )
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
        return key
    raise SigningError(
        f"unsupported private key type; expected {SIGNING_KEY_TYPES}, found {type(key).__name__}", obj=where
    )


def sign_with_key(key: SigningKey, data: bytes) -> bytes:
    """Sign ``data`` the way sigstore/cosign does for this key type."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def public_key_pem(public_key: PublicKeyTypes) -> bytes:
    """PKIX ``PUBLIC KEY`` PEM, byte-for-byte what cosign writes to ``cosign.pub``."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id_for(public_key: PublicKeyTypes) -> str:
    """The DSSE keyid Chains records: ``ssh.FingerprintSHA256`` of the public key."""
    try:
        openssh = public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    except (ValueError, TypeError) as err:
        raise SigningError(
            f"cannot compute a key id; expected {SIGNING_KEY_TYPES} public key, found {type(public_key).__name__}"
        ) from err
    wire = base64.b64decode(openssh.split()[1])
    digest = hashlib.sha256(wire).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class KeySigner:
    """A signer holding an in-memory private key (the ``x509`` and ``cosign`` backends)."""

    def __init__(self, name: str, key: SigningKey) -> None:
        self.name = name
        self._key = key
        self._public = key.public_key()
        self._key_id = key_id_for(self._public)

    def sign(self, data: bytes) -> bytes:
        return sign_with_key(self._key, data)

    def public_key(self) -> PublicKeyTypes:
        return self._public

    def public_key_pem(self) -> bytes:
        return public_key_pem(self._public)

    @property
    def key_id(self) -> str:
        return self._key_id

    def __repr__(self) -> str:  # never the key material
        return f"<{type(self).__name__} {self.name} {self._key_id}>"
