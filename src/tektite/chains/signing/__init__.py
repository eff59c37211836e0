"""Signers, found by their Chains config name (``artifacts.*.signer``): ``x509``, ``kms``, ``none``.

::

    signer = load_signer("x509", secret_data={"x509.pem": pem})
    signer = load_signer("x509", secret_data={"cosign.key": key, "cosign.password": b"..."})
    signer = load_signer("kms", kmsref="pkcs11:token=chains;object=signing?module-path=...&pin-value=...")
    signer = load_signer("none")
    signature = signer.sign(data)

See ``docs/signing.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tektite.chains.signing.base import KeySigner, Signer, key_id_for, public_key_pem
from tektite.chains.signing.cosign import ENCRYPTED_PEM_TYPES, load_cosign_signer
from tektite.chains.signing.kms import load_kms_signer
from tektite.chains.signing.none import NoneSigner
from tektite.chains.signing.x509 import load_x509_signer
from tektite.errors import FieldError, SigningError, ValidationError

__all__ = [
    "SIGNER_KINDS",
    "KeySigner",
    "NoneSigner",
    "Signer",
    "generate_ecdsa_p256_pem",
    "key_id_for",
    "load_signer",
    "public_key_pem",
]

SECRET_NAME = "signing-secrets"


def generate_ecdsa_p256_pem() -> bytes:
    """A new unencrypted PKCS#8 PEM ECDSA P-256 key (tektite's auto-created default ``x509.pem``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _is_encrypted_cosign(pem: bytes) -> bool:
    return any(f"-----BEGIN {t}-----".encode() in pem for t in ENCRYPTED_PEM_TYPES)


def _cosign(pem: bytes, password: bytes | None, where: str, password_where: str) -> Signer:
    if password is None:
        raise SigningError(
            f"the encrypted cosign key needs a password; expected {password_where}, found none", obj=where
        )
    return load_cosign_signer(pem, password, where=where)


def _key_signer(
    kind: str, secret_data: Mapping[str, bytes | str] | None, key_file: Path | None, password: bytes | None
) -> Signer:
    if key_file is not None:
        try:
            pem = Path(key_file).read_bytes()
        except OSError as err:
            raise SigningError(f"cannot read the key file: {err.strerror}", obj=str(key_file)) from None
        if _is_encrypted_cosign(pem):
            return _cosign(pem, password, str(key_file), "a password (COSIGN_PASSWORD)")
        if kind == "cosign":
            raise SigningError(
                f"not an encrypted cosign key; expected a '-----BEGIN {ENCRYPTED_PEM_TYPES[0]}-----' PEM",
                obj=str(key_file),
            )
        return load_x509_signer(pem, where=str(key_file))
    data = {k: _as_bytes(v) for k, v in (secret_data or {}).items()}
    if kind == "x509" and "x509.pem" in data:  # Chains looks at x509.pem first
        return load_x509_signer(data["x509.pem"], where=f"{SECRET_NAME}/x509.pem")
    if "cosign.key" in data:
        secret_password = data.get("cosign.password", password)
        return _cosign(
            data["cosign.key"], secret_password, f"{SECRET_NAME}/cosign.key", f"{SECRET_NAME}/cosign.password"
        )
    looked_for = "x509.pem, cosign.key" if kind == "x509" else "cosign.key"
    raise SigningError(
        f"no private key found; looked for [{looked_for}], found [{', '.join(sorted(data)) or 'nothing'}]",
        obj=f"Secret {SECRET_NAME}",
        hint="tektite keys generate writes a cosign.key/cosign.pub pair",
    )


SIGNER_KINDS: dict[str, Callable[..., Signer]] = {
    "x509": lambda secret_data, kmsref, key_file, password: _key_signer(
        "x509", secret_data, key_file, password
    ),
    "cosign": lambda secret_data, kmsref, key_file, password: _key_signer(
        "cosign", secret_data, key_file, password
    ),
    "kms": lambda secret_data, kmsref, key_file, password: load_kms_signer(kmsref),
    "none": lambda secret_data, kmsref, key_file, password: NoneSigner(),
}


def load_signer(
    kind: str,
    *,
    secret_data: Mapping[str, bytes] | None = None,
    kmsref: str | None = None,
    key_file: Path | None = None,
    password: bytes | None = None,
) -> Signer:
    """The signer Chains would use for ``artifacts.*.signer: <kind>``.

    - ``x509``: ``secret_data["x509.pem"]`` (unencrypted PEM) or, as Chains does,
      ``secret_data["cosign.key"]`` + ``["cosign.password"]``; or ``key_file`` (+ ``password`` when
      it is an encrypted cosign key).
    - ``cosign``: the same, but only an encrypted cosign key.
    - ``kms``: ``kmsref`` (``pkcs11:...``; cloud KMS schemes raise NotSupported).
    - ``none``: signs nothing.
    """
    factory = SIGNER_KINDS.get(kind)
    if factory is None:
        raise ValidationError([FieldError(("signer",), "unknown signer", "x509, kms or none", repr(kind))])
    return factory(secret_data, kmsref, key_file, password)
