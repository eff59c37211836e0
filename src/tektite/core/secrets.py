"""What a Kubernetes Secret holds: its ``data`` (base64) and ``stringData`` (plain), as bytes."""

from __future__ import annotations

import base64
from typing import Any

__all__ = ["secret_data"]


def secret_data(secret: dict[str, Any]) -> dict[str, bytes]:
    """A Secret's ``data`` (base64) and ``stringData`` as bytes; ``stringData`` wins, as the API
    server's merge does."""
    out: dict[str, bytes] = {}
    for k, v in (secret.get("data") or {}).items():
        try:
            out[k] = base64.b64decode(v)
        except ValueError:
            out[k] = str(v).encode()
    for k, v in (secret.get("stringData") or {}).items():
        out[k] = str(v).encode()
    return out
