"""``cosign verify`` / ``cosign verify-attestation`` with a public key, against Chains' ``oci`` storage.

``verify_image`` resolves the image digest, reads ``sha256-<hex>.sig`` and the image's Sigstore
bundle referrers (``storage.oci.encoding-format: sigstore-bundle``, cosign v3's layout), and accepts
the image when at least one simple-signing payload verifies with the key *and* names the image's
digest. It returns the verified payloads (what ``cosign verify`` prints). ``verify_attestation``
does the same over ``sha256-<hex>.att`` and the attestation bundles: DSSE envelopes whose signature
verifies, whose in-toto statement has the image digest among its subjects and whose
``predicateType`` matches; then every match must pass ``policy``. When nothing verifies,
:class:`VerificationError` lists, per stored layer or referrer, why it was rejected.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from tektite.chains.dsse import Envelope
from tektite.chains.simplesigning import COSIGN_SIGNATURE_TYPE, SIMPLE_SIGNING_MEDIA_TYPE
from tektite.chains.storage.bundle import (
    COSIGN_SIGN_PREDICATE,
    ReferrerStorage,
    StoredBundle,
    bundle_envelope,
)
from tektite.chains.storage.oci import ATTESTATION_SUFFIX, SIGNATURE_SUFFIX, OCIStorage
from tektite.errors import FieldError, ValidationError, VerificationError
from tektite.oci.auth import DockerConfig
from tektite.oci.client import RegistryClient
from tektite.oci.reference import ImageReference
from tektite.verify.envelope import verify_envelope
from tektite.verify.keys import BadSignature, load_public_key, verify_signature

__all__ = [
    "INTOTO_STATEMENT_TYPES",
    "PREDICATE_TYPES",
    "AttestationPolicy",
    "predicate_type_uri",
    "verify_attestation",
    "verify_image",
]

# cosign's --type shorthands (cosign/pkg/cosign/attestation, options/predicate.go).
PREDICATE_TYPES = {
    "slsaprovenance": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance02": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance1": "https://slsa.dev/provenance/v1",
    "spdx": "https://spdx.dev/Document",
    "spdxjson": "https://spdx.dev/Document",
    "cyclonedx": "https://cyclonedx.org/bom",
    "vuln": "https://cosign.sigstore.dev/attestation/vuln/v1",
    "openvex": "https://openvex.dev/ns",
    "custom": "https://cosign.sigstore.dev/attestation/v1",
}
INTOTO_STATEMENT_TYPES = ("https://in-toto.io/Statement/v0.1", "https://in-toto.io/Statement/v1")

PublicKeyInput = PublicKeyTypes | bytes | str


class AttestationPolicy(Protocol):
    """Conditions on an attestation (e.g. :class:`tektite.verify.policy.Policy`): returns the failures."""

    def evaluate(self, statement: dict[str, Any]) -> list[str]: ...


def predicate_type_uri(name: str) -> str:
    """``slsaprovenance`` -> ``https://slsa.dev/provenance/v0.2``; a full URI is returned as is."""
    if name in PREDICATE_TYPES:
        return PREDICATE_TYPES[name]
    if "://" in name:
        return name
    raise ValidationError(
        [
            FieldError(
                ("--type",),
                "unknown predicate type",
                f"one of {', '.join(PREDICATE_TYPES)} or a URI",
                repr(name),
            )
        ]
    )


def _key(public_key: PublicKeyInput) -> PublicKeyTypes:
    if isinstance(public_key, str):
        return load_public_key(public_key.encode())
    if isinstance(public_key, bytes):
        return load_public_key(public_key)
    return public_key


def _clients(
    registry_auth: DockerConfig | None, client_factory: Callable[[bool], RegistryClient] | None
) -> Callable[[bool], RegistryClient]:
    """``client_factory``, else clients carrying ``registry_auth``."""
    if client_factory is not None:
        return client_factory
    return lambda insecure: RegistryClient(registry_auth, insecure=insecure)


def _storage(
    registry_auth: DockerConfig | None,
    insecure: bool,
    repository: str | None,
    client_factory: Callable[[bool], RegistryClient] | None,
) -> OCIStorage:
    return OCIStorage(_clients(registry_auth, client_factory), repository=repository, insecure=insecure)


def _referrers(
    registry_auth: DockerConfig | None,
    insecure: bool,
    client_factory: Callable[[bool], RegistryClient] | None,
    image: ImageReference,
    signatures: bool,
) -> list[StoredBundle]:
    """The image's bundle referrers holding image signatures (``signatures``) or attestations."""
    _, bundles = ReferrerStorage(_clients(registry_auth, client_factory), insecure=insecure).read(image)
    return [b for b in bundles if (b.predicate_type == COSIGN_SIGN_PREDICATE) == signatures]


def _referrer_label(bundle: StoredBundle) -> str:
    return f"referrer {bundle.manifest_digest[:19]}..."


def _looked_in(storage: OCIStorage, image: ImageReference, suffix: str) -> str:
    return f"looked for {storage.target(image, _digest(image), suffix)} and for Sigstore bundles referring to the image"


def _digest(image: ImageReference) -> str:
    if not image.digest:  # read_* always pin the image; this guards the type, not a user error
        raise VerificationError(f"image {image} has no resolved digest")
    return image.digest


def _label(index: int, layer_digest: str) -> str:
    return f"layer {index + 1} ({layer_digest[:19]}...)"


def _check_simple_signing(payload: bytes, image: ImageReference) -> dict[str, Any]:
    try:
        doc = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise VerificationError("payload is not JSON; expected a cosign simple-signing document") from None
    critical = doc.get("critical") if isinstance(doc, dict) else None
    if not isinstance(critical, dict):
        raise VerificationError("payload has no 'critical' object; expected a cosign simple-signing document")
    kind = critical.get("type")
    if kind != COSIGN_SIGNATURE_TYPE:
        raise VerificationError(f"payload critical.type is {kind!r}; expected {COSIGN_SIGNATURE_TYPE!r}")
    named = (critical.get("image") or {}).get("docker-manifest-digest")
    if named != image.digest:
        raise VerificationError(f"payload names digest {named} but image is {image.digest}")
    return dict(doc)


def verify_image(
    image_ref: str | ImageReference,
    public_key: PublicKeyInput,
    *,
    registry_auth: DockerConfig | None = None,
    insecure: bool = False,
    repository: str | None = None,
    client_factory: Callable[[bool], RegistryClient] | None = None,
) -> list[dict[str, Any]]:
    """The simple-signing payloads stored for ``image_ref`` that verify with ``public_key``.

    ``public_key``: a ``cryptography`` key, or PEM bytes/str (``cosign.pub`` or a certificate).
    ``repository``: where signatures live when not next to the image (cosign's ``COSIGN_REPOSITORY``,
    Chains' ``storage.oci.repository``). Raises :class:`VerificationError` when none verifies.
    """
    key = _key(public_key)
    storage = _storage(registry_auth, insecure, repository, client_factory)
    image, layers = storage.read_signatures(image_ref)
    bundles = _referrers(registry_auth, insecure, client_factory, image, signatures=True)
    if not layers and not bundles:
        raise VerificationError(
            f"no signatures found for {image}", hint=_looked_in(storage, image, SIGNATURE_SUFFIX)
        )
    verified: list[dict[str, Any]] = []
    problems: list[str] = []
    for i, layer in enumerate(layers):
        try:
            try:
                verify_signature(key, layer.signature(), layer.payload)
            except BadSignature:
                raise VerificationError("signature does not verify with the given key") from None
            verified.append(_check_simple_signing(layer.payload, image))
        except VerificationError as err:
            problems.append(f"{_label(i, layer.layer_digest)}: {err.message}")
    for bundle in bundles:
        try:
            envelope = bundle_envelope(bundle.bundle)
            payload = verify_envelope(envelope, key, payload_type=SIMPLE_SIGNING_MEDIA_TYPE)
            verified.append(_check_simple_signing(payload, image))
        except VerificationError as err:
            problems.append(f"{_referrer_label(bundle)}: {err.message}")
    if not verified:
        raise VerificationError(f"no valid signature for {image}: " + "; ".join(problems))
    return verified


def _check_statement(payload: bytes, image: ImageReference) -> dict[str, Any]:
    try:
        statement = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise VerificationError("DSSE payload is not JSON; expected an in-toto statement") from None
    if not isinstance(statement, dict) or statement.get("_type") not in INTOTO_STATEMENT_TYPES:
        found = statement.get("_type") if isinstance(statement, dict) else type(statement).__name__
        raise VerificationError(
            f"DSSE payload is not an in-toto statement; expected _type {' or '.join(INTOTO_STATEMENT_TYPES)}, "
            f"found {found!r}"
        )
    algorithm, _, hex_part = _digest(image).partition(":")
    subjects = statement.get("subject") or []
    digests = [s.get("digest", {}).get(algorithm) for s in subjects if isinstance(s, dict)]
    if hex_part not in digests:
        found_list = ", ".join(f"{algorithm}:{d}" for d in digests if d) or "none"
        raise VerificationError(
            f"statement subjects do not include the image digest {image.digest}; found {found_list}"
        )
    return statement


def verify_attestation(
    image_ref: str | ImageReference,
    public_key: PublicKeyInput,
    *,
    predicate_type: str | None = None,
    policy: AttestationPolicy | None = None,
    registry_auth: DockerConfig | None = None,
    insecure: bool = False,
    repository: str | None = None,
    client_factory: Callable[[bool], RegistryClient] | None = None,
) -> list[dict[str, Any]]:
    """The in-toto statements attested for ``image_ref`` that verify with ``public_key``.

    ``predicate_type``: a cosign ``--type`` name (``slsaprovenance``, ``slsaprovenance02``,
    ``slsaprovenance1``, ...) or a full URI; ``None`` accepts any type. ``policy``: any object with
    ``evaluate(statement) -> list[str]``; every matching statement must pass it. Raises
    :class:`VerificationError` when no attestation verifies or the policy fails.
    """
    key = _key(public_key)
    wanted = predicate_type_uri(predicate_type) if predicate_type else None
    storage = _storage(registry_auth, insecure, repository, client_factory)
    image, layers = storage.read_attestations(image_ref)
    bundles = _referrers(registry_auth, insecure, client_factory, image, signatures=False)
    if not layers and not bundles:
        raise VerificationError(
            f"no attestations found for {image}", hint=_looked_in(storage, image, ATTESTATION_SUFFIX)
        )
    stored: list[tuple[str, Callable[[], Envelope]]] = []
    for i, layer in enumerate(layers):
        stored.append((_label(i, layer.layer_digest), partial(Envelope.from_json, layer.envelope)))
    for bundle in bundles:
        stored.append((_referrer_label(bundle), partial(bundle_envelope, bundle.bundle)))
    matched: list[dict[str, Any]] = []
    problems: list[str] = []
    for label, envelope in stored:
        try:
            payload = verify_envelope(envelope(), key)
            statement = _check_statement(payload, image)
        except VerificationError as err:
            problems.append(f"{label}: {err.message}")
            continue
        found_type = statement.get("predicateType")
        if wanted is not None and found_type != wanted:
            problems.append(f"{label}: predicate type {found_type!r}, not {wanted!r}")
            continue
        matched.append(statement)
    if not matched:
        of_type = f" of type {wanted}" if wanted else ""
        raise VerificationError(f"no valid attestation{of_type} for {image}: " + "; ".join(problems))
    if policy is not None:
        failures = [f"attestation {n + 1}: {f}" for n, st in enumerate(matched) for f in policy.evaluate(st)]
        if failures:
            raise VerificationError(f"policy failed for {image}: " + "; ".join(failures))
    return matched
