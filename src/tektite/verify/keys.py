"""Public keys and raw signature checks, the cosign way (see ``tektite.chains.signing.base``).

ECDSA signatures are ASN.1 DER over SHA-256 (whatever the curve), Ed25519 signs the message
itself, RSA uses PKCS#1 v1.5 with SHA-256.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from tektite.core.pubkeys import load_public_key, signed_with
from tektite.errors import VerificationError

__all__ = ["BadSignature", "load_public_key", "verify_signature"]


class BadSignature(VerificationError):
    """The signature does not match the key and data (as opposed to an unusable key or input)."""


def verify_signature(public_key: PublicKeyTypes, signature: bytes, data: bytes) -> None:
    """Return if ``signature`` over ``data`` verifies with ``public_key``; else raise VerificationError."""
    if not isinstance(public_key, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, rsa.RSAPublicKey)):
        raise VerificationError(
            f"unsupported public key; expected ECDSA, Ed25519 or RSA, found {type(public_key).__name__}"
        )
    if not signed_with(public_key, signature, data):
        raise BadSignature(
            "signature does not verify with the given public key (wrong key, or the data was changed)"
        )
