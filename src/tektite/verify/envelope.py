"""Verify DSSE envelopes against a public key, on the exact bytes that were signed."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from tektite.chains.dsse import PAYLOAD_TYPE_INTOTO, Envelope
from tektite.errors import VerificationError
from tektite.verify.keys import BadSignature, verify_signature

__all__ = ["verify_envelope"]


def verify_envelope(
    envelope: Envelope | bytes,
    public_key: PublicKeyTypes,
    *,
    payload_type: str | None = PAYLOAD_TYPE_INTOTO,
) -> bytes:
    """Return the payload bytes if one signature of ``envelope`` verifies with ``public_key``.

    ``envelope`` is an :class:`Envelope` or its JSON. ``payload_type`` is the expected
    ``payloadType`` (``None`` accepts any). Like cosign, keyids are informational: every signature
    is tried. Raises :class:`VerificationError` saying why: malformed, wrong payloadType, no
    signatures, or no signature verifies (:class:`BadSignature`).
    """
    env = envelope if isinstance(envelope, Envelope) else Envelope.from_json(envelope)
    if payload_type is not None and env.payload_type != payload_type:
        raise VerificationError(
            f"wrong DSSE payloadType; expected {payload_type!r}, found {env.payload_type!r}"
        )
    if not env.signatures:
        raise VerificationError("the DSSE envelope has no signatures; expected at least one")
    signed = env.pae()
    for signature in env.signatures:
        try:
            verify_signature(public_key, signature.sig, signed)
        except BadSignature:
            continue
        return env.payload
    keyids = ", ".join(repr(s.keyid) for s in env.signatures)
    raise BadSignature(
        f"bad signature: none of the {len(env.signatures)} DSSE signature(s) (keyid {keyids}) verifies "
        "with the given public key (wrong key, or the payload was changed)"
    )
