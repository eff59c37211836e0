"""The ``kms`` signer: ``signers.kms.kmsref`` picks a key management backend by URI scheme.

``pkcs11:`` (RFC 7512, e.g. SoftHSM2, YubiHSM, a smart card) is implemented; the cloud schemes
Chains documents (``gcpkms://``, ``awskms://``, ``azurekms://``, ``hashivault://``) answer with a
:class:`~tektite.errors.NotSupported` error.
"""

from __future__ import annotations

from tektite.chains.signing.base import Signer
from tektite.chains.signing.pkcs11_uri import CONFIG_KEY, parse_pkcs11_uri, redact_kmsref
from tektite.errors import FieldError, NotSupported, ValidationError

__all__ = ["CLOUD_SCHEMES", "load_kms_signer"]

CLOUD_SCHEMES = ("gcpkms", "awskms", "azurekms", "hashivault")


def load_kms_signer(kmsref: str | None) -> Signer:
    """A signer for the key at ``kmsref`` (the ``signers.kms.kmsref`` config value)."""
    if not kmsref:
        raise ValidationError(
            [
                FieldError(
                    (CONFIG_KEY,),
                    "the kms signer needs a key reference",
                    "pkcs11:token=...;object=...",
                    "empty",
                )
            ]
        )
    scheme = kmsref.split(":", 1)[0] if ":" in kmsref else ""
    if scheme == "pkcs11":
        from tektite.chains.signing.pkcs11_signer import Pkcs11Signer  # loads python-pkcs11 only when used

        return Pkcs11Signer(parse_pkcs11_uri(kmsref))
    if scheme in CLOUD_SCHEMES:
        raise NotSupported(
            f"{scheme}:// keys are not supported yet; tektite signs with pkcs11: keys (HSMs, SoftHSM2)",
            obj=CONFIG_KEY,
            hint="use a pkcs11: URI, or the x509 signer with an x509.pem or cosign.key secret",
        )
    raise ValidationError(
        [
            FieldError(
                (CONFIG_KEY,),
                "unknown KMS scheme",
                "pkcs11: (supported) or gcpkms://, awskms://, azurekms://, hashivault:// (not supported yet)",
                redact_kmsref(kmsref),
            )
        ]
    )
