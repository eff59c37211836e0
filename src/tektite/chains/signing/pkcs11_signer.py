"""The ``kms`` signer for ``pkcs11:`` key URIs: the private key stays inside the token (HSM).

Signing happens in the token with python-pkcs11:

- EC keys: SHA-256 is computed here, the token signs the digest with ``CKM_ECDSA``, and the raw
  ``r || s`` it returns is re-encoded as ASN.1 DER (what cosign verifies);
- RSA keys: ``CKM_SHA256_RSA_PKCS``;
- Ed25519 keys (``CKK_EC_EDWARDS``): ``CKM_EDDSA``.

The public key is read from the token's public key object with the same label/id.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import pkcs11
import pkcs11.exceptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_ec_public_key

from tektite.chains.signing.base import key_id_for, public_key_pem
from tektite.chains.signing.pkcs11_uri import Pkcs11Uri
from tektite.errors import SigningError

__all__ = ["Pkcs11Signer"]

_LIBS: dict[str, Any] = {}
_LIBS_LOCK = threading.Lock()


def _lib(module: Path) -> Any:
    """One ``pkcs11.lib`` per module for the process (C_Initialize may only run once)."""
    key = str(module.resolve())
    with _LIBS_LOCK:
        if key not in _LIBS:
            try:
                _LIBS[key] = pkcs11.lib(key)
            except pkcs11.exceptions.PKCS11Error as err:
                raise SigningError(f"cannot load PKCS#11 module {key}: {err}") from None
        return _LIBS[key]


def _describe(uri: Pkcs11Uri) -> str:
    parts = [f"token={uri.token}" if uri.token else "", f"object={uri.object}" if uri.object else ""]
    if uri.id is not None:
        parts.append(f"id={uri.id.hex()}")
    return "pkcs11:" + ";".join(p for p in parts if p)


class Pkcs11Signer:
    """Signs with a private key held in a PKCS#11 token. ``name`` is ``"kms"``."""

    name = "kms"

    def __init__(self, uri: Pkcs11Uri) -> None:
        self._uri = uri
        self._where = _describe(uri)
        self._lock = threading.Lock()
        lib = _lib(uri.module())
        token = self._find_token(lib)
        try:
            self._session = token.open(user_pin=uri.pin())
        except pkcs11.exceptions.UserAlreadyLoggedIn:
            # PKCS#11 logins are per process: another signer on this token already logged in.
            self._session = token.open()
        except pkcs11.exceptions.PinIncorrect:
            raise SigningError("wrong PIN for the PKCS#11 token", obj=self._where) from None
        except pkcs11.exceptions.PKCS11Error as err:
            raise SigningError(
                f"cannot open a session on the token: {type(err).__name__}", obj=self._where
            ) from None
        self._key = self._find(ObjectClass.PRIVATE_KEY)
        self._key_type = self._key[Attribute.KEY_TYPE]
        self._public = self._read_public_key(self._find(ObjectClass.PUBLIC_KEY))
        self._key_id = key_id_for(self._public)

    def _find_token(self, lib: Any) -> Any:
        uri = self._uri
        candidates = []
        for slot in lib.get_slots(token_present=True):
            if uri.slot_id is not None and slot.slot_id != uri.slot_id:
                continue
            token = slot.get_token()
            checks = (
                (uri.token, token.label),
                (uri.manufacturer, token.manufacturer_id),
                (uri.model, token.model),
            )
            if any(want is not None and want != have for want, have in checks):
                continue
            if uri.serial is not None and uri.serial != token.serial.decode(errors="replace").strip():
                continue
            candidates.append(token)
        if not candidates:
            labels = [repr(slot.get_token().label) for slot in lib.get_slots(token_present=True)]
            raise SigningError(
                f"no matching PKCS#11 token; found tokens: {', '.join(labels) or 'none'}", obj=self._where
            )
        if len(candidates) > 1:
            raise SigningError(
                f"{len(candidates)} tokens match; expected one (add token=, serial= or slot-id=)",
                obj=self._where,
            )
        return candidates[0]

    def _find(self, object_class: ObjectClass) -> Any:
        kind = "private" if object_class == ObjectClass.PRIVATE_KEY else "public"
        try:
            return self._session.get_key(object_class=object_class, label=self._uri.object, id=self._uri.id)
        except pkcs11.exceptions.NoSuchKey:
            raise SigningError(f"no {kind} key with this label/id in the token", obj=self._where) from None
        except pkcs11.exceptions.MultipleObjectsReturned:
            raise SigningError(
                f"several {kind} keys match; expected one (add id= or a more specific object=)",
                obj=self._where,
            ) from None

    def _read_public_key(self, obj: Any) -> PublicKeyTypes:
        key_type = obj[Attribute.KEY_TYPE]
        if key_type == KeyType.EC:
            return serialization.load_der_public_key(encode_ec_public_key(obj))
        if key_type == KeyType.RSA:
            n = int.from_bytes(obj[Attribute.MODULUS], "big")
            e = int.from_bytes(obj[Attribute.PUBLIC_EXPONENT], "big")
            return rsa.RSAPublicNumbers(e, n).public_key()
        if key_type == KeyType.EC_EDWARDS:
            point = bytes(obj[Attribute.EC_POINT])
            raw = point[2:] if len(point) == 34 and point[0] == 0x04 else point  # DER OCTET STRING or raw
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        raise SigningError(
            f"unsupported key type in token; expected EC, RSA or Ed25519, found {key_type!r}", obj=self._where
        )

    def sign(self, data: bytes) -> bytes:
        try:
            with self._lock:
                if self._key_type == KeyType.EC:
                    raw = self._key.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA)
                    half = len(raw) // 2
                    return encode_dss_signature(
                        int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
                    )
                if self._key_type == KeyType.RSA:
                    return bytes(self._key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS))
                return bytes(self._key.sign(data, mechanism=Mechanism.EDDSA))
        except pkcs11.exceptions.PKCS11Error as err:
            raise SigningError(
                f"the token refused to sign: {type(err).__name__} {err}", obj=self._where
            ) from None

    def public_key(self) -> PublicKeyTypes:
        return self._public

    def public_key_pem(self) -> bytes:
        return public_key_pem(self._public)

    @property
    def key_id(self) -> str:
        return self._key_id

    def close(self) -> None:
        """Close the token session (the module stays loaded for the process)."""
        with self._lock:
            self._session.close()

    def __repr__(self) -> str:
        return f"<Pkcs11Signer {self._where} {self._key_id}>"
