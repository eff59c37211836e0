"""The ``x509`` signer: an unencrypted private key from the ``signing-secrets`` key ``x509.pem``.

Chains asks for a PKCS#8 PEM (``-----BEGIN PRIVATE KEY-----``) ECDSA or Ed25519 key; like Chains
(sigstore ``cryptoutils.UnmarshalPEMToPrivateKey``) tektite also takes RSA and the SEC1/PKCS#1 PEM
forms (``EC PRIVATE KEY``, ``RSA PRIVATE KEY``).
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from tektite.chains.signing.base import SIGNING_KEY_TYPES, KeySigner, check_signing_key
from tektite.errors import SigningError

__all__ = ["load_x509_signer"]


def load_x509_signer(pem: bytes, *, where: str = "signing-secrets/x509.pem") -> KeySigner:
    """A signer for the unencrypted PEM private key ``pem``; ``where`` names it in errors."""
    if b"-----BEGIN" not in pem:
        raise SigningError(
            "not a PEM private key; expected '-----BEGIN PRIVATE KEY-----' (PKCS#8), found no PEM header",
            obj=where,
        )
    if b"ENCRYPTED" in pem.split(b"-----BEGIN", 1)[1].split(b"-----", 1)[0]:
        raise SigningError(
            "x509.pem must be an unencrypted PKCS#8 PEM ('BEGIN PRIVATE KEY'), found an encrypted key",
            obj=where,
            hint="store an encrypted cosign key as 'cosign.key' with its password in 'cosign.password'",
        )
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as err:
        raise SigningError(
            f"cannot read the private key; expected an unencrypted PKCS#8 PEM {SIGNING_KEY_TYPES} key, "
            f"found unreadable PEM ({type(err).__name__})",
            obj=where,
        ) from None
    except UnsupportedAlgorithm:
        raise SigningError(
            f"unsupported private key algorithm; expected {SIGNING_KEY_TYPES}", obj=where
        ) from None
    return KeySigner("x509", check_signing_key(key, where))
