"""Chains' ``tekton`` storage: the payload and its signature as annotations on the run itself.

For a short key ``K`` (``taskrun-<uid>``, ``pipelinerun-<uid>``, or 12 hex digits of an image digest)
Chains writes, each value standard base64 (``pkg/chains/storage/tekton``)::

    chains.tekton.dev/payload-K    the signed bytes (the in-toto statement JSON, or simple-signing JSON)
    chains.tekton.dev/signature-K  in-toto: the DSSE envelope JSON; simplesigning: the raw signature
    chains.tekton.dev/cert-K       the signing certificate ("" with a key)
    chains.tekton.dev/chain-K      the certificate chain ("")

The backend does not write the run: it adds the annotations to ``ctx.annotations`` and the watcher
writes them in the same update that marks the run signed, so both happen or neither does.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import pybase64

from tektite.chains.storage import StorageContext, StorageItem
from tektite.errors import VerificationError

__all__ = [
    "CERT_PREFIX",
    "CHAIN_PREFIX",
    "PAYLOAD_PREFIX",
    "SIGNATURE_PREFIX",
    "TektonBackend",
    "TektonEntry",
    "annotations_for",
    "read_entries",
]

PAYLOAD_PREFIX = "chains.tekton.dev/payload-"
SIGNATURE_PREFIX = "chains.tekton.dev/signature-"
CERT_PREFIX = "chains.tekton.dev/cert-"
CHAIN_PREFIX = "chains.tekton.dev/chain-"


def _b64(data: bytes | str) -> str:
    if not data:
        return ""
    return pybase64.b64encode(data.encode() if isinstance(data, str) else data).decode("ascii")


def annotations_for(item: StorageItem) -> dict[str, str]:
    key = item.short_key
    return {
        PAYLOAD_PREFIX + key: _b64(item.payload),
        SIGNATURE_PREFIX + key: _b64(item.signature),
        CERT_PREFIX + key: _b64(item.cert),
        CHAIN_PREFIX + key: _b64(item.chain),
    }


class TektonBackend:
    name = "tekton"

    def store(self, item: StorageItem, ctx: StorageContext) -> None:
        ctx.annotations.update(annotations_for(item))


@dataclass(frozen=True)
class TektonEntry:
    """One short key's annotations, decoded."""

    short_key: str
    payload: bytes
    signature: bytes
    cert: bytes
    chain: bytes


def _decode(annotations: dict[str, str], name: str) -> bytes:
    value = annotations.get(name, "")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(f"annotation {name} is not valid base64") from None


def read_entries(run: dict[str, Any]) -> dict[str, TektonEntry]:
    """Every ``payload-K`` on the run with its signature, cert and chain, by short key."""
    annotations = dict((run.get("metadata") or {}).get("annotations") or {})
    out = {}
    for name in sorted(annotations):
        if not name.startswith(PAYLOAD_PREFIX):
            continue
        key = name[len(PAYLOAD_PREFIX) :]
        out[key] = TektonEntry(
            key,
            _decode(annotations, name),
            _decode(annotations, SIGNATURE_PREFIX + key),
            _decode(annotations, CERT_PREFIX + key),
            _decode(annotations, CHAIN_PREFIX + key),
        )
    return out
