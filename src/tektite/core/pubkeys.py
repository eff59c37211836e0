"""Public keys and signature checks the way sigstore/cosign make them - for Chains' signatures,
``tektite verify`` and trusted resources alike.

ECDSA signatures are ASN.1 DER over a hash of the message (SHA-256 unless a policy names another),
Ed25519 signs the message itself, RSA uses PKCS#1 v1.5.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from tektite.errors import VerificationError

__all__ = ["HASHES", "load_public_key", "signed_with"]

HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def signed_with(
    public_key: PublicKeyTypes, signature: bytes, data: bytes, hash_algorithm: str = "sha256"
) -> bool:
    """Whether ``signature`` over ``data`` was made with ``public_key``'s private half (sigstore's
    ``VerifySignature``; ``hash_algorithm``: a ``HASHES`` name, for ECDSA and RSA)."""
    algorithm = HASHES[hash_algorithm.lower()]()
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), algorithm)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def load_public_key(pem: bytes, *, source: str = "public key") -> PublicKeyTypes:
    """A ``PUBLIC KEY`` PEM (``cosign.pub``) or a ``CERTIFICATE`` PEM's key. ``source`` names it in errors."""
    if b"-----BEGIN CERTIFICATE-----" in pem:
        try:
            return x509.load_pem_x509_certificate(pem).public_key()
        except ValueError:
            raise VerificationError("cannot read the certificate PEM", obj=source) from None
    if b"-----BEGIN" not in pem:
        raise VerificationError(
            "not a PEM public key; expected '-----BEGIN PUBLIC KEY-----', found no PEM header", obj=source
        )
    if b"PRIVATE KEY-----" in pem:
        raise VerificationError(
            "expected a public key ('BEGIN PUBLIC KEY'), found a private key",
            obj=source,
            hint="tektite keys public-key KEYFILE prints the public key of a private key",
        )
    try:
        return serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm):
        raise VerificationError(
            "cannot read the public key; expected a PKIX '-----BEGIN PUBLIC KEY-----' PEM", obj=source
        ) from None
