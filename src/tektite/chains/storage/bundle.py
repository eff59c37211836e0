"""Chains ``oci`` storage with ``storage.oci.encoding-format: sigstore-bundle``: Sigstore bundles
as OCI 1.1 referrers (cosign v3's layout).

For an image ``reg/app@sha256:<hex>``, each attestation and each image signature is its own
manifest in ``reg/app``, pushed by digest, with no tag:

- ``artifactType`` and its one layer's media type: ``application/vnd.dev.sigstore.bundle.v0.3+json``;
  the config is the OCI empty descriptor (``application/vnd.oci.empty.v1+json``, ``{}``);
- ``subject``: the image's manifest descriptor;
- annotations ``dev.sigstore.bundle.content: dsse-envelope``,
  ``dev.sigstore.bundle.predicateType`` (the in-toto predicate type, or
  ``https://sigstore.dev/cosign/sign/v1`` for an image signature) and
  ``org.opencontainers.image.created``.

The layer is a Sigstore bundle (protobuf-specs, protojson): ``verificationMaterial.publicKey.hint``
(base64 of the SHA-256 of the key's DER SubjectPublicKeyInfo, as cosign writes it) and a
``dsseEnvelope``. An attestation's envelope is the run's DSSE envelope, unchanged; an image
signature's envelope wraps the cosign simple-signing payload (payloadType
``application/vnd.dev.cosign.simplesigning.v1+json``), signed over its PAE.

The referrers are found through the registry's Referrers API (``GET /v2/<repo>/referrers/<digest>``).
A registry without one (the registry does not answer ``OCI-Subject`` to the push) gets the
referrers tag schema instead, as go-containerregistry does: the tag ``sha256-<hex>`` holds an image
index listing every referrer, updated read-append-write (two writers racing can drop an entry, as
Chains warns). ``storage.oci.repository`` does not apply: a referrer lives beside its subject.

Storing is idempotent like the ``dsse`` layout: a bundle already there with the same payload,
payload type and predicate type whose signature verifies with the signer's key is this signing
done before (a retried signing), and nothing is pushed.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from tektite.chains.dsse import Envelope
from tektite.core.pubkeys import signed_with
from tektite.errors import NotFound, TektiteError, VerificationError
from tektite.oci.client import RegistryClient, RegistryError
from tektite.oci.manifest import (
    OCI_EMPTY,
    OCI_EMPTY_BLOB,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    ImageIndex,
    ImageManifest,
    descriptor_for,
    sha256_digest,
)
from tektite.oci.reference import ImageReference, parse_reference

__all__ = [
    "BUNDLE_CONTENT_ANNOTATION",
    "BUNDLE_MEDIA_TYPE",
    "BUNDLE_PREDICATE_ANNOTATION",
    "COSIGN_SIGN_PREDICATE",
    "ReferrerStorage",
    "StoredBundle",
    "bundle_envelope",
    "make_bundle",
    "public_key_hint",
    "referrers_tag",
]

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
BUNDLE_CONTENT_ANNOTATION = "dev.sigstore.bundle.content"
BUNDLE_PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
CREATED_ANNOTATION = "org.opencontainers.image.created"
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"

ClientFactory = Callable[[bool], RegistryClient]


def public_key_hint(public_key: PublicKeyTypes) -> str:
    """cosign's key hint: base64 of the SHA-256 of the DER SubjectPublicKeyInfo."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return base64.b64encode(digest.finalize()).decode()


def make_bundle(envelope: Envelope, public_key: PublicKeyTypes | None) -> bytes:
    """The Sigstore bundle (v0.3, protojson: empty fields left out) holding ``envelope``."""
    signatures = []
    for s in envelope.signatures:
        signature: dict[str, str] = {"sig": base64.b64encode(s.sig).decode()}
        if s.keyid:
            signature["keyid"] = s.keyid
        signatures.append(signature)
    material: dict[str, Any] = {}
    if public_key is not None:
        material["publicKey"] = {"hint": public_key_hint(public_key)}
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": material,
        "dsseEnvelope": {
            "payload": base64.b64encode(envelope.payload).decode(),
            "payloadType": envelope.payload_type,
            "signatures": signatures,
        },
    }
    return json.dumps(bundle, separators=(",", ":")).encode()


def bundle_envelope(data: bytes) -> Envelope:
    """The DSSE envelope in a Sigstore bundle; :class:`VerificationError` says what is malformed."""
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise VerificationError("malformed Sigstore bundle: not JSON") from None
    if not isinstance(doc, dict):
        raise VerificationError(
            f"malformed Sigstore bundle: expected a JSON object, found {type(doc).__name__}"
        )
    media_type = doc.get("mediaType")
    if not isinstance(media_type, str) or not media_type.startswith("application/vnd.dev.sigstore.bundle"):
        raise VerificationError(
            f"malformed Sigstore bundle: mediaType is {media_type!r}; expected {BUNDLE_MEDIA_TYPE!r}"
        )
    if "dsseEnvelope" not in doc:
        found = "a message signature" if "messageSignature" in doc else "no content"
        raise VerificationError(f"Sigstore bundle holds {found}, not a DSSE envelope")
    return Envelope.from_dict(doc["dsseEnvelope"])


def referrers_tag(digest: str) -> str:
    """The referrers tag schema's tag for a subject: ``sha256:<hex>`` -> ``sha256-<hex>``."""
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}-{hex_part}"


@dataclass(frozen=True)
class StoredBundle:
    """One referrer of an image: its manifest digest, bundle bytes and predicate type annotation."""

    manifest_digest: str
    bundle: bytes
    predicate_type: str | None


def _default_factory(insecure: bool) -> RegistryClient:
    return RegistryClient(insecure=insecure)


class ReferrerStorage:
    """Sigstore bundles stored as OCI referrers of the image they sign (see the module doc)."""

    def __init__(self, client_factory: ClientFactory | None = None, insecure: bool = False) -> None:
        self._factory = client_factory or _default_factory
        self.insecure = insecure

    # -- write ----------------------------------------------------------------------------------

    def store(
        self,
        image_ref_with_digest: str | ImageReference,
        envelope: Envelope,
        predicate_type: str,
        public_key: PublicKeyTypes | None = None,
    ) -> ImageReference:
        """Push ``envelope`` as a bundle referring to the image; returns the referrer, pinned."""
        image = _pinned(image_ref_with_digest)
        digest = image.digest or ""
        with self._factory(self.insecure) as client:
            if public_key is not None:
                for found in self._read(client, image, digest):
                    if _same(found, envelope, predicate_type, public_key):
                        return image.with_digest(found.manifest_digest)
            subject = client.head_manifest(image)
            bundle = make_bundle(envelope, public_key)
            client.put_blob(image, OCI_EMPTY_BLOB)
            client.put_blob(image, bundle)
            annotations = {
                BUNDLE_CONTENT_ANNOTATION: "dsse-envelope",
                BUNDLE_PREDICATE_ANNOTATION: predicate_type,
                CREATED_ANNOTATION: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            manifest = ImageManifest(
                mediaType=OCI_MANIFEST,
                artifactType=BUNDLE_MEDIA_TYPE,
                config=descriptor_for(OCI_EMPTY_BLOB, OCI_EMPTY),
                layers=[descriptor_for(bundle, BUNDLE_MEDIA_TYPE)],
                subject=Descriptor(
                    mediaType=subject.media_type or OCI_MANIFEST, digest=digest, size=subject.size
                ),
                annotations=annotations,
            )
            body = manifest.to_bytes()
            target = image.with_digest(sha256_digest(body))
            manifest_digest, indexed = client.push_manifest(target, body, OCI_MANIFEST)
            if not indexed:  # no Referrers API: the referrers tag schema
                entry = Descriptor(
                    mediaType=OCI_MANIFEST,
                    digest=manifest_digest,
                    size=len(body),
                    artifactType=BUNDLE_MEDIA_TYPE,
                    annotations=annotations,
                )
                self._add_to_tag(client, image, digest, entry)
        return target

    @staticmethod
    def _add_to_tag(client: RegistryClient, image: ImageReference, digest: str, entry: Descriptor) -> None:
        tag = image.with_tag(referrers_tag(digest))
        index = _fallback_index(client, tag) or ImageIndex()
        if all(m.digest != entry.digest for m in index.manifests):
            index.manifests.append(entry)
            client.put_manifest(tag, index.to_bytes(), OCI_INDEX)

    # -- read -----------------------------------------------------------------------------------

    def read(self, image_ref: str | ImageReference) -> tuple[ImageReference, list[StoredBundle]]:
        """The image pinned to its digest, and the bundles that refer to it (may be empty)."""
        image = parse_reference(image_ref) if isinstance(image_ref, str) else image_ref
        with self._factory(self.insecure) as client:
            digest = client.resolve_digest(image)
            pinned = image.with_digest(digest)
            return pinned, self._read(client, pinned, digest)

    @staticmethod
    def _read(client: RegistryClient, image: ImageReference, digest: str) -> list[StoredBundle]:
        answer = client.referrers(image, digest)
        if answer is not None:
            index: ImageIndex | None = ImageIndex.from_bytes(answer, where=f"referrers of {image}")
        else:
            index = _fallback_index(client, image.with_tag(referrers_tag(digest)))
        out = []
        for entry in index.manifests if index else []:
            if entry.artifact_type not in (None, BUNDLE_MEDIA_TYPE):
                continue  # an SBOM, a signature of another kind: not ours to read
            where = image.with_digest(entry.digest)
            try:
                manifest = ImageManifest.from_bytes(client.get_manifest(where).content, where=str(where))
            except NotFound:
                continue  # listed, then deleted: the tag schema is not kept in step by registries
            if manifest.artifact_type != BUNDLE_MEDIA_TYPE or manifest.subject is None:
                continue
            if manifest.subject.digest != digest:
                continue  # an index entry naming a manifest about another image: not this one's
            for layer in manifest.layers:
                if layer.media_type == BUNDLE_MEDIA_TYPE:
                    out.append(
                        StoredBundle(
                            manifest_digest=entry.digest,
                            bundle=client.get_blob(image, layer.digest),
                            predicate_type=(manifest.annotations or {}).get(BUNDLE_PREDICATE_ANNOTATION),
                        )
                    )
        return out


def _pinned(image_ref: str | ImageReference) -> ImageReference:
    image = parse_reference(image_ref) if isinstance(image_ref, str) else image_ref
    if not image.digest:
        raise TektiteError(
            f"oci storage: image reference {image} has no digest; expected registry/repository@sha256:<hex>"
        )
    return image


def _fallback_index(client: RegistryClient, tag: ImageReference) -> ImageIndex | None:
    try:
        fetched = client.get_manifest(tag)
    except NotFound:
        return None
    if fetched.media_type != OCI_INDEX:
        raise RegistryError(
            f"referrers tag {tag}: expected an image index ({OCI_INDEX}), found {fetched.media_type}"
        )
    return ImageIndex.from_bytes(fetched.content, where=str(tag))


def _same(found: StoredBundle, envelope: Envelope, predicate_type: str, public_key: PublicKeyTypes) -> bool:
    if found.predicate_type != predicate_type:
        return False
    try:
        stored = bundle_envelope(found.bundle)
    except VerificationError:
        return False
    if (stored.payload_type, stored.payload) != (envelope.payload_type, envelope.payload):
        return False
    return any(signed_with(public_key, s.sig, stored.pae()) for s in stored.signatures)
