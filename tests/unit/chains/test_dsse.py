"""DSSE envelopes: what tektite signs is verified by securesystemslib, code tektite did not write."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from securesystemslib import dsse as ssl_dsse
from securesystemslib import exceptions as ssl_exceptions
from securesystemslib.signer import CryptoSigner, SSlibKey

from tektite.chains.dsse import PAYLOAD_TYPE_INTOTO, Envelope, Signature, pae, sign_envelope
from tektite.chains.signing import Signer, load_signer
from tektite.chains.signing.cosign import encrypt_cosign_private_key
from tektite.errors import VerificationError
from tektite.verify import verify_envelope

STATEMENT = b'{"_type": "https://in-toto.io/Statement/v1",  "subject": [], "predicateType": "x"}\n'

# securesystemslib scheme names for how cosign/Chains sign with each key type.
SCHEMES = {"ecdsa": "ecdsa-sha2-nistp256", "ed25519": "ed25519", "rsa": "rsa-pkcs1v15-sha256"}


def _key(kind: str) -> PrivateKeyTypes:
    if kind in ("ecdsa", "cosign"):
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _signer(kind: str, key: PrivateKeyTypes) -> Signer:
    if kind == "cosign":
        return load_signer(
            "x509",
            secret_data={"cosign.key": encrypt_cosign_private_key(key, b"pw"), "cosign.password": b"pw"},
        )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return load_signer("x509", secret_data={"x509.pem": pem})


def _sslib_key(key: PrivateKeyTypes, kind: str, keyid: str) -> SSlibKey:
    return SSlibKey.from_crypto(
        key.public_key(), keyid=keyid, scheme=SCHEMES["ecdsa" if kind == "cosign" else kind]
    )


def _sslib_verify(envelope_json: bytes, key: SSlibKey) -> bytes:
    envelope = ssl_dsse.Envelope.from_dict(json.loads(envelope_json))
    envelope.verify([key], 1)
    return envelope.payload


def _with_payload(envelope_json: bytes, payload: bytes) -> bytes:
    data = json.loads(envelope_json)
    data["payload"] = base64.b64encode(payload).decode()
    return json.dumps(data).encode()


KINDS = ["ecdsa", "ed25519", "rsa", "cosign"]


@pytest.mark.parametrize("kind", KINDS)
def test_securesystemslib_verifies_what_tektite_signs(kind: str) -> None:
    key = _key(kind)
    signer = _signer(kind, key)
    envelope_json = sign_envelope(STATEMENT, signer).to_json()
    assert _sslib_verify(envelope_json, _sslib_key(key, kind, signer.key_id)) == STATEMENT
    assert verify_envelope(envelope_json, key.public_key()) == STATEMENT


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_key_is_rejected_by_securesystemslib_and_tektite(kind: str) -> None:
    signer = _signer(kind, _key(kind))
    envelope_json = sign_envelope(STATEMENT, signer).to_json()
    wrong = _key(kind)
    # Same keyid, so securesystemslib really checks the signature instead of skipping the key.
    with pytest.raises(ssl_exceptions.VerificationError):
        _sslib_verify(envelope_json, _sslib_key(wrong, kind, signer.key_id))
    with pytest.raises(VerificationError, match="bad signature"):
        verify_envelope(envelope_json, wrong.public_key())


@pytest.mark.parametrize("kind", KINDS)
def test_tampered_payload_is_rejected_by_securesystemslib_and_tektite(kind: str) -> None:
    key = _key(kind)
    signer = _signer(kind, key)
    envelope_json = sign_envelope(STATEMENT, signer).to_json()
    tampered = _with_payload(envelope_json, STATEMENT.replace(b'"x"', b'"y"'))
    with pytest.raises(ssl_exceptions.VerificationError):
        _sslib_verify(tampered, _sslib_key(key, kind, signer.key_id))
    with pytest.raises(VerificationError, match="bad signature"):
        verify_envelope(tampered, key.public_key())


def test_tektite_verifies_an_envelope_securesystemslib_signed() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    ssl_signer = CryptoSigner(key, SSlibKey.from_crypto(key.public_key(), keyid="k"))
    envelope = ssl_dsse.Envelope(STATEMENT, PAYLOAD_TYPE_INTOTO, {})
    envelope.sign(ssl_signer)
    assert verify_envelope(json.dumps(envelope.to_dict()).encode(), key.public_key()) == STATEMENT


def test_pae_is_the_dsse_v1_encoding() -> None:
    # Example from the DSSE protocol specification.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert pae(PAYLOAD_TYPE_INTOTO, STATEMENT) == ssl_dsse.Envelope(STATEMENT, PAYLOAD_TYPE_INTOTO, {}).pae()


def test_envelope_json_has_chains_field_names_and_keeps_exact_bytes() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    signer = _signer("ecdsa", key)
    envelope_json = sign_envelope(STATEMENT, signer).to_json()
    data = json.loads(envelope_json)
    assert list(data) == ["payloadType", "payload", "signatures"]
    assert data["payloadType"] == "application/vnd.in-toto+json"
    assert list(data["signatures"][0]) == ["keyid", "sig"]
    assert data["signatures"][0]["keyid"] == signer.key_id
    # The odd spacing and trailing newline survive: the payload is never re-serialized.
    assert base64.b64decode(data["payload"]) == STATEMENT
    assert Envelope.from_json(envelope_json).payload == STATEMENT


def test_url_safe_unpadded_base64_is_accepted() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    envelope = sign_envelope(b"\xfb\xff\xfe payload", _signer("ed25519", key))
    data = envelope.to_dict()
    data["payload"] = base64.urlsafe_b64encode(envelope.payload).decode().rstrip("=")
    data["signatures"][0]["sig"] = base64.urlsafe_b64encode(envelope.signatures[0].sig).decode().rstrip("=")
    assert verify_envelope(json.dumps(data).encode(), key.public_key()) == envelope.payload


def test_none_signer_produces_an_envelope_without_signatures() -> None:
    envelope = sign_envelope(STATEMENT, load_signer("none"))
    assert envelope.signatures == [] and envelope.payload == STATEMENT
    with pytest.raises(VerificationError, match="no signatures"):
        verify_envelope(envelope, ec.generate_private_key(ec.SECP256R1()).public_key())


def test_any_matching_signature_is_enough() -> None:
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    good = sign_envelope(STATEMENT, _signer("ecdsa", key))
    bad = sign_envelope(STATEMENT, _signer("ecdsa", other))
    both = Envelope(STATEMENT, PAYLOAD_TYPE_INTOTO, [*bad.signatures, *good.signatures])
    assert verify_envelope(both.to_json(), key.public_key()) == STATEMENT


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"not json", "not JSON"),
        (b"[]", "expected a JSON object, found list"),
        (b'{"payload": "e30="}', "missing payloadType, signatures"),
        (b'{"payload": "e30=", "payloadType": 1, "signatures": []}', "payloadType must be a string"),
        (b'{"payload": "e30=", "payloadType": "t", "signatures": {}}', "signatures must be a list"),
        (b'{"payload": "!!", "payloadType": "t", "signatures": []}', "payload is not valid base64"),
        (
            b'{"payload": "e30=", "payloadType": "t", "signatures": [{"keyid": "k"}]}',
            r"signatures\[0\] has no 'sig'",
        ),
        (
            b'{"payload": "e30=", "payloadType": "t", "signatures": [{"sig": 5}]}',
            r"signatures\[0\]\.sig must be",
        ),
    ],
)
def test_malformed_envelopes_say_what_is_wrong(text: bytes, message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        Envelope.from_json(text)


def test_signature_dataclass_round_trips() -> None:
    envelope = Envelope(b"{}", "text/plain", [Signature("", b"\x00\x01")])
    assert Envelope.from_json(envelope.to_json()) == envelope
