"""The ``none`` signer: provenance is still produced and stored, but nothing is signed.

``sign`` returns ``b""``; :func:`tektite.chains.dsse.sign_envelope` turns that into an envelope with
no signatures, which every verifier rejects ("no signatures").
"""

from __future__ import annotations

__all__ = ["NoneSigner"]


class NoneSigner:
    name = "none"

    def sign(self, data: bytes) -> bytes:
        return b""

    def public_key(self) -> None:
        return None

    def public_key_pem(self) -> bytes:
        return b""

    @property
    def key_id(self) -> str:
        return ""

    def __repr__(self) -> str:
        return "<NoneSigner>"
