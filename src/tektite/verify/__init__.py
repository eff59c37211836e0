"""Verification: signatures, DSSE envelopes and attestation policies.

::

    from tektite.verify import load_public_key, verify_envelope, load_policy

    payload = verify_envelope(envelope_json, load_public_key(pub_pem))
    failures = load_policy(Path("policy.yaml")).evaluate(json.loads(payload))
"""

from __future__ import annotations

from tektite.verify.envelope import verify_envelope
from tektite.verify.keys import BadSignature, load_public_key, verify_signature
from tektite.verify.policy import Policy, load_policy

__all__ = ["BadSignature", "Policy", "load_policy", "load_public_key", "verify_envelope", "verify_signature"]
