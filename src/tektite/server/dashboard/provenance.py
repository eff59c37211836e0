"""A run's provenance as Chains' ``tekton`` storage leaves it, and whether its signature verifies.

Chains writes, on the TaskRun/PipelineRun (``<kind>`` is ``taskrun`` or ``pipelinerun``)::

    chains.tekton.dev/signed: "true" | "failed"
    chains.tekton.dev/payload-<kind>-<uid>:   base64 of the in-toto statement
    chains.tekton.dev/signature-<kind>-<uid>: base64 of the DSSE envelope (or of a raw signature)
    chains.tekton.dev/cert-<kind>-<uid>, chain-<kind>-<uid>, chains.tekton.dev/transparency

The verdict is computed here, with tektite's verification code, on the exact bytes that were
signed; every "not verified" says why.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from tektite.chains.dsse import Envelope
from tektite.errors import VerificationError
from tektite.server.dashboard.keys import PublicKeys
from tektite.verify.envelope import verify_envelope
from tektite.verify.keys import verify_signature

JSON = dict[str, Any]
PREFIX = "chains.tekton.dev/"


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip() + "=" * (-len(text.strip()) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(f"{what} is not valid base64") from None


def annotation_keys(run: JSON) -> dict[str, str]:
    meta = run.get("metadata") or {}
    suffix = f"{str(run.get('kind', '')).lower()}-{meta.get('uid', '')}"
    return {part: f"{PREFIX}{part}-{suffix}" for part in ("payload", "signature", "cert", "chain")}


def _verdict(sig_bytes: bytes, payload: bytes | None, keys: PublicKeys) -> tuple[JSON, bytes | None]:
    """(signature verdict, the signed payload bytes when the signature is a DSSE envelope)."""
    envelope: Envelope | None = None
    if sig_bytes.lstrip().startswith(b"{"):
        try:
            envelope = Envelope.from_json(sig_bytes)
        except VerificationError as exc:
            return {"verified": False, "format": "dsse", "reason": exc.message}, None
    fmt = "dsse" if envelope is not None else "raw"
    signed = envelope.payload if envelope is not None else payload
    if envelope is not None and payload is not None and envelope.payload != payload:
        return {
            "verified": False,
            "format": fmt,
            "reason": "the DSSE envelope signs different bytes than the payload annotation holds",
        }, signed
    if signed is None:
        return {
            "verified": False,
            "format": fmt,
            "reason": "there is no payload to check the signature against",
        }, None
    if not keys.keys:
        return {
            "verified": False,
            "format": fmt,
            "reason": f"no public key to verify with: {keys.problem}",
        }, signed
    reasons = []
    for where, key in keys.keys:
        try:
            if envelope is not None:
                verify_envelope(envelope, key, payload_type=None)
            else:
                verify_signature(key, sig_bytes, signed)
        except VerificationError as exc:
            reasons.append(f"{where}: {exc.message}")
            continue
        return {
            "verified": True,
            "format": fmt,
            "key": where,
            "reason": f"the signature verifies with {where}",
        }, signed
    return {"verified": False, "format": fmt, "reason": "; ".join(reasons)}, signed


def provenance(run: JSON, keys: PublicKeys | None, *, done: bool) -> JSON:
    """``{state, statement, signature{verified, reason, ...}, transparency, ...}`` for one run.

    ``state`` is ``unsigned`` (no Chains annotations yet), ``failed`` (Chains gave up),
    ``signed`` (with or without the payload on the run).
    """
    meta = run.get("metadata") or {}
    ann = meta.get("annotations") or {}
    names = annotation_keys(run)
    signed = ann.get(f"{PREFIX}signed")
    out: JSON = {
        "signedAnnotation": signed,
        "transparency": ann.get(f"{PREFIX}transparency"),
        "error": ann.get(f"{PREFIX}error"),
        "statement": None,
        "signature": None,
    }
    payload_text, sig_text = ann.get(names["payload"]), ann.get(names["signature"])
    if signed is None and payload_text is None and sig_text is None:
        out["state"] = "unsigned"
        if not done:
            out["reason"] = "Chains signs a run once it has finished"
        elif out["error"]:
            out["reason"] = f"Chains has not signed this run yet; its last attempt failed: {out['error']}"
        else:
            out["reason"] = "Chains has not signed this run (is Chains running, and enabled for this kind?)"
        return out
    if signed == "failed":
        out["state"] = "failed"
        out["reason"] = "Chains could not sign this run (chains.tekton.dev/signed: failed)" + (
            f": {out['error']}" if out["error"] else ""
        )
    else:
        out["state"] = "signed"
    if payload_text is None and sig_text is None:
        if out["state"] == "failed":
            return out
        out["reason"] = (
            f"no {names['payload']} annotation: the provenance is stored elsewhere "
            "(artifacts.*.storage in chains-config does not include tekton)"
        )
        return out
    payload: bytes | None = None
    try:
        payload = _b64(payload_text, names["payload"]) if payload_text is not None else None
    except VerificationError as exc:
        out["payloadError"] = exc.message
    signed_bytes = payload
    if sig_text is None:
        out["signature"] = {"verified": False, "reason": f"no {names['signature']} annotation"}
    else:
        try:
            sig_bytes = _b64(sig_text, names["signature"])
        except VerificationError as exc:
            out["signature"] = {"verified": False, "reason": exc.message}
        else:
            out["signature"], from_envelope = _verdict(
                sig_bytes, payload, keys or PublicKeys((), "not looked up")
            )
            signed_bytes = from_envelope or payload
    if signed_bytes is not None:
        try:
            out["statement"] = json.loads(signed_bytes)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            out["payloadError"] = f"the payload is not JSON ({exc})"
    out["certificate"] = names["cert"] in ann and bool(ann[names["cert"]])
    return out
