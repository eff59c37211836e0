"""Chains ``oci`` storage: cosign's tag layout in the image's registry (``storage.encoding-format: dsse``).

For an image ``reg/app@sha256:<hex>``:

- ``reg/app:sha256-<hex>.sig`` is an OCI image manifest with one layer per signature: the layer blob is
  the simple-signing payload (``application/vnd.dev.cosign.simplesigning.v1+json``) and the layer's
  ``dev.cosignproject.cosign/signature`` annotation is the base64 signature (plus
  ``dev.sigstore.cosign/certificate`` / ``chain`` for keyless signatures);
- ``reg/app:sha256-<hex>.att`` has one layer per attestation: the DSSE envelope
  (``application/vnd.dsse.envelope.v1+json``), annotated with ``predicateType`` and an empty
  ``dev.cosignproject.cosign/signature``.

With ``storage.oci.repository`` set, the same tags go to that repository instead. Writing appends to
the manifest already there unless the signing is there already (cosign's dupe detector): a layer
with the same blob and annotations, or one with the same payload (``.att``: the envelope's
``payload`` and ``payloadType``) whose signature verifies with the signer's public key - a retried
signing after a partial push, whose ECDSA signature differs. A signature by another key is
appended. Read-modify-write is not atomic: two writers racing on one tag can drop a layer.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from tektite.chains.dsse import Envelope
from tektite.chains.simplesigning import SIMPLE_SIGNING_MEDIA_TYPE
from tektite.core.pubkeys import signed_with
from tektite.errors import FieldError, NotFound, ValidationError, VerificationError
from tektite.oci.client import RegistryClient, RegistryError
from tektite.oci.manifest import OCI_CONFIG, OCI_MANIFEST, Descriptor, ImageManifest, descriptor_for
from tektite.oci.reference import ImageReference, parse_reference

__all__ = [
    "ATTESTATION_SUFFIX",
    "CERTIFICATE_ANNOTATION",
    "CHAIN_ANNOTATION",
    "DSSE_MEDIA_TYPE",
    "PREDICATE_TYPE_ANNOTATION",
    "SIGNATURE_ANNOTATION",
    "SIGNATURE_SUFFIX",
    "SIMPLE_SIGNING_MEDIA_TYPE",
    "ClientFactory",
    "OCIStorage",
    "StoredAttestation",
    "StoredSignature",
    "cosign_config",
    "cosign_tag",
]

DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
PREDICATE_TYPE_ANNOTATION = "predicateType"
SIGNATURE_SUFFIX = "sig"
ATTESTATION_SUFFIX = "att"

ClientFactory = Callable[[bool], RegistryClient]
"""Called with ``insecure``; returns a client carrying the run's registry credentials."""

SameSigning = Callable[[Descriptor, Callable[[], bytes]], bool]
"""Whether a stored layer (its descriptor; a reader of its blob) is the one being stored, signed again."""


def cosign_tag(digest: str, suffix: str) -> str:
    """``sha256:<hex>`` + ``sig`` -> ``sha256-<hex>.sig``."""
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}-{hex_part}.{suffix}"


def cosign_config(layers: list[Descriptor]) -> bytes:
    """The config blob cosign (go-containerregistry ``empty.Image`` + append) writes for its layers."""
    zero = "0001-01-01T00:00:00Z"
    config = {
        "architecture": "",
        "created": zero,
        "history": [{"created": zero} for _ in layers],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
        "config": {},
    }
    return json.dumps(config, separators=(",", ":")).encode()


@dataclass(frozen=True)
class StoredSignature:
    """One layer of a ``.sig`` manifest."""

    payload: bytes
    signature_b64: str
    layer_digest: str
    certificate: bytes | None = None
    chain: bytes | None = None

    def signature(self) -> bytes:
        try:
            return base64.b64decode(self.signature_b64, validate=True)
        except binascii.Error:
            raise VerificationError(
                f"signature layer {self.layer_digest}: annotation {SIGNATURE_ANNOTATION} is not base64"
            ) from None


@dataclass(frozen=True)
class StoredAttestation:
    """One layer of an ``.att`` manifest."""

    envelope: bytes
    layer_digest: str
    predicate_type: str | None = None


def _default_factory(insecure: bool) -> RegistryClient:
    return RegistryClient(insecure=insecure)


class OCIStorage:
    """The ``oci`` storage backend. ``repository`` is ``storage.oci.repository`` (or ``None``)."""

    name = "oci"

    def __init__(
        self,
        client_factory: ClientFactory | None = None,
        repository: str | None = None,
        insecure: bool = False,
    ) -> None:
        self._factory = client_factory or _default_factory
        self.insecure = insecure
        self.repository: ImageReference | None = None
        if repository:
            repo = parse_reference(repository)
            if repo.tag or repo.digest:
                raise ValidationError(
                    [
                        FieldError(
                            ("storage.oci.repository",),
                            "must name a repository only",
                            "registry/repository",
                            repr(repository),
                        )
                    ],
                    obj="chains-config",
                )
            self.repository = repo

    # -- where ----------------------------------------------------------------------------------

    def target(self, image: ImageReference, digest: str, suffix: str) -> ImageReference:
        """``<image repo or storage.oci.repository>:sha256-<hex>.<suffix>``."""
        base = image.in_repository(self.repository) if self.repository else image
        return base.with_tag(cosign_tag(digest, suffix))

    @staticmethod
    def _pinned(image_ref: str | ImageReference) -> tuple[ImageReference, str]:
        image = parse_reference(image_ref) if isinstance(image_ref, str) else image_ref
        if not image.digest:
            raise ValidationError(
                [
                    FieldError(
                        (), "image reference has no digest", "registry/repository@sha256:<hex>", str(image)
                    )
                ],
                obj="oci storage",
            )
        return image, image.digest

    # -- write ----------------------------------------------------------------------------------

    def store_signature(
        self,
        image_ref_with_digest: str | ImageReference,
        simple_signing_payload: bytes,
        signature: bytes,
        cert: bytes | None = None,
        chain: bytes | None = None,
        public_key: PublicKeyTypes | None = None,
    ) -> ImageReference:
        """Append a signature layer to ``sha256-<hex>.sig``; returns that tag pinned to the new manifest.

        ``public_key`` (the signer's): a layer with the same payload whose signature verifies with it
        is this signing done before, and nothing is appended.
        """
        image, digest = self._pinned(image_ref_with_digest)
        annotations = {SIGNATURE_ANNOTATION: base64.b64encode(signature).decode()}
        if cert:
            annotations[CERTIFICATE_ANNOTATION] = cert.decode()
        if chain:
            annotations[CHAIN_ANNOTATION] = chain.decode()
        target = self.target(image, digest, SIGNATURE_SUFFIX)
        same: SameSigning | None = None
        if public_key is not None:
            payload_digest = descriptor_for(simple_signing_payload, SIMPLE_SIGNING_MEDIA_TYPE).digest

            def same(layer: Descriptor, blob: Callable[[], bytes]) -> bool:
                stored = _b64((layer.annotations or {}).get(SIGNATURE_ANNOTATION, ""))
                return (
                    layer.digest == payload_digest
                    and stored is not None
                    and signed_with(public_key, stored, simple_signing_payload)
                )

        return self._append(target, simple_signing_payload, SIMPLE_SIGNING_MEDIA_TYPE, annotations, same)

    def store_attestation(
        self,
        image_ref_with_digest: str | ImageReference,
        envelope_json: bytes,
        predicate_type: str,
        public_key: PublicKeyTypes | None = None,
    ) -> ImageReference:
        """Append a DSSE envelope layer to ``sha256-<hex>.att``; returns that tag pinned to the new manifest.

        ``public_key`` (the signer's): an envelope there with the same payload and payloadType, one
        of whose signatures verifies with it, is this attestation made before: nothing is appended.
        """
        image, digest = self._pinned(image_ref_with_digest)
        annotations = {SIGNATURE_ANNOTATION: "", PREDICATE_TYPE_ANNOTATION: predicate_type}
        target = self.target(image, digest, ATTESTATION_SUFFIX)
        same: SameSigning | None = None
        if public_key is not None:
            new = Envelope.from_json(envelope_json)

            def same(layer: Descriptor, blob: Callable[[], bytes]) -> bool:
                try:
                    stored = Envelope.from_json(blob())
                except (VerificationError, NotFound):  # not an envelope, or a blob the registry lost
                    return False
                if (stored.payload_type, stored.payload) != (new.payload_type, new.payload):
                    return False
                return any(signed_with(public_key, s.sig, stored.pae()) for s in stored.signatures)

        return self._append(target, envelope_json, DSSE_MEDIA_TYPE, annotations, same)

    def _append(
        self,
        target: ImageReference,
        blob: bytes,
        media_type: str,
        annotations: dict[str, str],
        same: SameSigning | None = None,
    ) -> ImageReference:
        layer = descriptor_for(blob, media_type, annotations)
        with self._factory(self.insecure) as client:
            existing = self._read_manifest(client, target)
            layers = list(existing.layers) if existing else []
            if any(_duplicate(client, target, layer, d, same) for d in layers):
                digest = client.resolve_digest(target)
                return _pin(target, digest)
            layers.append(layer)
            config = cosign_config(layers)
            client.put_blob(target, blob)
            client.put_blob(target, config)
            manifest = ImageManifest(config=descriptor_for(config, OCI_CONFIG), layers=layers)
            digest = client.put_manifest(target, manifest.to_bytes(), OCI_MANIFEST)
        return _pin(target, digest)

    @staticmethod
    def _read_manifest(client: RegistryClient, target: ImageReference) -> ImageManifest | None:
        try:
            fetched = client.get_manifest(target)
        except NotFound:
            return None
        if fetched.media_type not in (
            OCI_MANIFEST,
            "application/vnd.docker.distribution.manifest.v2+json",
            "",
        ):
            raise RegistryError(
                f"manifest {target}: expected an image manifest ({OCI_MANIFEST}), found {fetched.media_type}"
            )
        return ImageManifest.from_bytes(fetched.content, where=str(target))

    # -- read -----------------------------------------------------------------------------------

    def read_signatures(
        self, image_ref: str | ImageReference
    ) -> tuple[ImageReference, list[StoredSignature]]:
        """The image pinned to its digest, and the simple-signing layers stored for it (may be empty)."""
        with self._factory(self.insecure) as client:
            image, manifest, target = self._read_for(client, image_ref, SIGNATURE_SUFFIX)
            out = []
            for layer in manifest.layers if manifest else []:
                if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE:
                    continue
                notes = layer.annotations or {}
                cert, chain = notes.get(CERTIFICATE_ANNOTATION), notes.get(CHAIN_ANNOTATION)
                out.append(
                    StoredSignature(
                        payload=client.get_blob(target, layer.digest),
                        signature_b64=notes.get(SIGNATURE_ANNOTATION, ""),
                        layer_digest=layer.digest,
                        certificate=cert.encode() if cert else None,
                        chain=chain.encode() if chain else None,
                    )
                )
        return image, out

    def read_attestations(
        self, image_ref: str | ImageReference
    ) -> tuple[ImageReference, list[StoredAttestation]]:
        """The image pinned to its digest, and the DSSE layers stored for it (may be empty)."""
        with self._factory(self.insecure) as client:
            image, manifest, target = self._read_for(client, image_ref, ATTESTATION_SUFFIX)
            out = [
                StoredAttestation(
                    envelope=client.get_blob(target, layer.digest),
                    layer_digest=layer.digest,
                    predicate_type=(layer.annotations or {}).get(PREDICATE_TYPE_ANNOTATION),
                )
                for layer in (manifest.layers if manifest else [])
                if layer.media_type == DSSE_MEDIA_TYPE
            ]
        return image, out

    def _read_for(
        self, client: RegistryClient, image_ref: str | ImageReference, suffix: str
    ) -> tuple[ImageReference, ImageManifest | None, ImageReference]:
        image = parse_reference(image_ref) if isinstance(image_ref, str) else image_ref
        digest = client.resolve_digest(image)
        pinned = image.with_digest(digest)
        target = self.target(pinned, digest, suffix)
        return pinned, self._read_manifest(client, target), target

    def fetch_signatures(self, image_ref: str | ImageReference) -> list[tuple[bytes, bytes]]:
        """``(simple-signing payload, raw signature)`` for every signature stored for the image."""
        return [(s.payload, s.signature()) for s in self.read_signatures(image_ref)[1]]

    def fetch_attestations(self, image_ref: str | ImageReference) -> list[bytes]:
        """The DSSE envelope JSON of every attestation stored for the image."""
        return [a.envelope for a in self.read_attestations(image_ref)[1]]


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        return None


def _duplicate(
    client: RegistryClient, target: ImageReference, new: Descriptor, old: Descriptor, same: SameSigning | None
) -> bool:
    """cosign's ``dupeDetector.Find``: ``old`` is identical to ``new``, or has its media type and
    annotations (but the signature) and ``same`` says it holds the same signing."""
    annotations = new.annotations or {}
    if old.digest == new.digest and (old.annotations or {}) == annotations:
        return True
    if same is None or old.media_type != new.media_type:
        return False
    stored = old.annotations or {}
    if any(stored.get(k) != v for k, v in annotations.items() if k != SIGNATURE_ANNOTATION):
        return False
    return same(old, lambda: client.get_blob(target, old.digest))


def _pin(target: ImageReference, digest: str) -> ImageReference:
    """``repo:sha256-<hex>.sig@sha256:<manifest>`` (tag kept for display, digest for pulls)."""
    return ImageReference(target.registry, target.repository, tag=target.tag, digest=digest)
