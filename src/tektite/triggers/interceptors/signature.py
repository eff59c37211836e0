"""go-github's ``ValidateSignature``: ``sha1=``/``sha256=``/``sha512=`` HMAC of the exact body bytes."""

from __future__ import annotations

import hashlib
import hmac

_HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def check(signature: str, body: bytes, secret: bytes) -> str | None:
    """``None`` when ``signature`` is the HMAC of ``body`` under ``secret``; else why it is not.

    The comparison is constant-time (:func:`hmac.compare_digest`).
    """
    algo, sep, hexdigest = signature.partition("=")
    if not sep:
        return f'error parsing signature "{signature}"'
    digest = _HASHES.get(algo)
    if digest is None:
        return f'unknown hash type prefix: "{algo}"'
    try:
        given = bytes.fromhex(hexdigest)
    except ValueError:
        return f'error decoding signature "{signature}": not hex'
    expected = hmac.new(secret, body, digest).digest()
    if not hmac.compare_digest(given, expected):
        return "payload signature check failed"
    return None
