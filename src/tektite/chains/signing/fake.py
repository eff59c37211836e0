"""A signer for tests that signs with a plain function (no keys, no I/O)."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from tektite.chains.signing.base import public_key_pem

__all__ = ["FakeSigner"]


class FakeSigner:
    """``FakeSigner(lambda data: b"sig:" + data)``; give ``public_key`` to make it verifiable."""

    def __init__(
        self,
        sign: Callable[[bytes], bytes],
        *,
        name: str = "fake",
        key_id: str = "fake-key",
        public_key: PublicKeyTypes | None = None,
    ) -> None:
        self.name = name
        self._sign = sign
        self._key_id = key_id
        self._public = public_key
        self.signed: list[bytes] = []  # every input, for assertions

    def sign(self, data: bytes) -> bytes:
        self.signed.append(data)
        return self._sign(data)

    def public_key(self) -> PublicKeyTypes | None:
        return self._public

    def public_key_pem(self) -> bytes:
        return public_key_pem(self._public) if self._public is not None else b""

    @property
    def key_id(self) -> str:
        return self._key_id
