"""Trusted resources (Tekton's ``trusted-resources.md``, TEP-0091): signed Tasks and Pipelines.

**The signature** is the annotation ``tekton.dev/signature``: base64 of a signature, made with the
signer's hash (SHA-256 by default), over the SHA-256 digest of Go's ``json.Marshal`` of the object as
``tkn task sign`` and Tekton's verifier build it - ``kind``, ``apiVersion``, the ``metadata`` a user
writes (name, generateName, namespace, labels, annotations but the signature and kubectl's) and the
``spec``, each field as Go's struct for it marshals (:mod:`tektite.core.gotypes`).

**Verification** happens when a resolver (git, http, bundles, cluster) fetched a Task or Pipeline,
on the document as fetched: the ``VerificationPolicy`` objects of the run's namespace whose
``resources[].pattern`` (a regular expression, searched for as Go's ``regexp.MatchString`` does) matches
the resolver's ``refSource.uri`` apply. Each ``enforce`` policy must pass - one of its keys verifies
the signature - or the run fails (``ResourceVerificationFailed``); a failing ``warn`` policy only marks
the condition ``TrustedResourcesVerified`` False. With no policy matching,
``trusted-resources-verification-no-match-policy`` decides: ``ignore`` (default), ``warn``, ``fail``.

What tektite cannot marshal as Go does: the fields its schema keeps as written (a step's
``securityContext``, ``envFrom``, volume sources, a sidecar's probes) are written in the document's
key order, which Go would sort by its struct; a signature tkn made over such a field with several
keys out of Go's order does not verify here. ``tekton.dev/v1beta1`` objects (another Go struct) and
``kms`` keys answer "not supported yet".
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tektite.core.gotypes.k8stypes import OBJECT_META
from tektite.core.gotypes.tektontypes import PIPELINE_SPEC, TASK_SPEC
from tektite.core.jsontext import compact_json
from tektite.core.pubkeys import load_public_key, signed_with
from tektite.core.secrets import secret_data
from tektite.errors import NotSupported, TektiteError

__all__ = [
    "CONDITION",
    "FAILED_REASON",
    "SIGNATURE_ANNOTATION",
    "TrustError",
    "Verdict",
    "check",
    "load_public_key",
    "signed_copy",
    "signed_with",
    "signing_digest",
]

JSON = dict[str, Any]
Getter = Callable[[str, str, str], JSON | None]

SIGNATURE_ANNOTATION = "tekton.dev/signature"
CONDITION = "TrustedResourcesVerified"
FAILED_REASON = "ResourceVerificationFailed"
PASSED_MESSAGE = "Trusted resource verification passed"
_IGNORED_ANNOTATIONS = ("kubectl-client-side-apply", "kubectl.kubernetes.io/last-applied-configuration")
_SPECS = {"Task": TASK_SPEC, "Pipeline": PIPELINE_SPEC}
# Go's json.Marshal escapes these inside strings (they appear nowhere else in JSON)
_GO_ESCAPES = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"),
               ("\u2028".encode(), b"\\u2028"), ("\u2029".encode(), b"\\u2029"))  # fmt: skip


class TrustError(TektiteError):
    pass


def _go_json(value: Any) -> bytes:
    out = compact_json(value)
    for raw, escaped in _GO_ESCAPES:
        out = out.replace(raw, escaped)
    return out


def signing_digest(obj: JSON, where: str = "") -> bytes:
    """The SHA-256 digest a trusted-resources signature is made over (the signature itself and
    kubectl's annotations left out)."""
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if kind not in _SPECS:
        raise TrustError(f"only Tasks and Pipelines are signed; found kind {kind!r}", obj=where or None)
    if api_version != "tekton.dev/v1":
        raise NotSupported(
            f"signing {api_version} {kind}s is not supported yet (tkn signs them as another Go "
            "struct); tektite signs and verifies tekton.dev/v1",
            obj=where or None,
        )
    meta = obj.get("metadata") or {}
    if not isinstance(meta, dict):
        raise TrustError("metadata must be a mapping", obj=where or None)
    written: JSON = {k: meta[k] for k in ("name", "generateName", "namespace") if k in meta}
    if meta.get("labels") is not None:
        written["labels"] = dict(meta["labels"])
    written["annotations"] = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k != SIGNATURE_ANNOTATION and k not in _IGNORED_ANNOTATIONS
    }
    marshaled = {
        "kind": kind,
        "apiVersion": api_version,
        "metadata": OBJECT_META.norm(written),
        "spec": _SPECS[kind].norm(obj.get("spec") or {}),
    }
    return hashlib.sha256(_go_json(marshaled)).digest()


def signed_copy(obj: JSON, sign: Callable[[bytes], bytes], where: str = "") -> JSON:
    """``obj`` with ``tekton.dev/signature`` (``sign`` signs bytes: cosign's SignMessage)."""
    signature = sign(signing_digest(obj, where))
    out = copy.deepcopy(obj)
    out.setdefault("metadata", {}).setdefault("annotations", {})[SIGNATURE_ANNOTATION] = base64.b64encode(
        signature
    ).decode()
    return out


def signature_of(obj: JSON) -> bytes | None:
    """The decoded ``tekton.dev/signature``; None when the object is not signed."""
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(SIGNATURE_ANNOTATION)
    if text is None:
        return None
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise TrustError(f"the {SIGNATURE_ANNOTATION} annotation is not base64") from None


@dataclass
class Verdict:
    """What verification says about one resolved resource."""

    verified: bool | None  # the TrustedResourcesVerified condition; None: no condition
    message: str = ""
    fail: bool = False  # the run fails (ResourceVerificationFailed)


def _keys(policy: JSON, namespace: str, get: Getter) -> list[tuple[str, Any, str]]:
    """(authority, public key, hash algorithm) of each key the policy names."""
    name = policy["metadata"]["name"]
    out = []
    for authority in (policy.get("spec") or {}).get("authorities") or []:
        key = authority.get("key") or {}
        algorithm = str(key.get("hashAlgorithm") or "sha256").lower()
        where = f'VerificationPolicy "{name}" authority "{authority.get("name")}"'
        if key.get("kms"):
            raise NotSupported(
                f"{where}: kms keys are not supported yet; give the public key as data or secretRef"
            )
        if key.get("data"):
            out.append(
                (authority.get("name", ""), load_public_key(key["data"].encode(), source=where), algorithm)
            )
            continue
        ref = key.get("secretRef") or {}
        secret = get("Secret", ref.get("name", ""), ref.get("namespace") or namespace)
        if secret is None:
            raise TrustError(
                f'{where}: Secret "{ref.get("name")}" not found in namespace "{ref.get("namespace") or namespace}"'
            )
        for item, value in sorted(secret_data(secret).items()):  # each value is a public key, as in Tekton
            out.append(
                (
                    authority.get("name", ""),
                    load_public_key(value, source=f"{where} (Secret key {item})"),
                    algorithm,
                )
            )
    return out


def check(
    obj: JSON,
    uri: str,
    namespace: str,
    get: Getter,
    list_policies: Callable[[str], list[JSON]],
    no_match: str,
) -> Verdict:
    """Verify a resolved Task or Pipeline ``obj`` (as fetched) from ``uri`` against the policies."""
    name = (obj.get("metadata") or {}).get("name", "")
    what = f'{obj.get("kind", "resource")} "{name}" from {uri or "(no source)"}'
    policies = [
        p
        for p in list_policies(namespace)
        if any(re.search(r.get("pattern", ""), uri) for r in (p.get("spec") or {}).get("resources") or [])
    ]
    if not policies:
        message = f'no VerificationPolicy in namespace "{namespace}" matches {what}'
        if no_match == "fail":
            return Verdict(False, message, fail=True)
        return Verdict(False, message) if no_match == "warn" else Verdict(None)
    try:
        signature = signature_of(obj)
        if signature is None:
            return Verdict(False, f"{what} is not signed (no {SIGNATURE_ANNOTATION} annotation)", fail=True)
        digest = signing_digest(obj)
        warned = ""
        for policy in sorted(policies, key=lambda p: (p.get("spec") or {}).get("mode") == "warn"):
            keys = _keys(policy, namespace, get)
            if any(signed_with(key, signature, digest, algorithm) for _, key, algorithm in keys):
                continue
            names = ", ".join(a for a, _, _ in keys)
            message = (
                f'resource verification failed: {what} fails VerificationPolicy "{policy["metadata"]["name"]}" '
                f"(no key of {names} verifies its signature)"
            )
            if (policy.get("spec") or {}).get("mode") != "warn":
                return Verdict(False, message, fail=True)
            warned = warned or message
    except TektiteError as err:
        return Verdict(False, f"resource verification failed: {what}: {err.diagnostics()}", fail=True)
    return Verdict(False, warned) if warned else Verdict(True, PASSED_MESSAGE)
