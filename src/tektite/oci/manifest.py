"""OCI/docker manifest media types, descriptors and image manifests (parse and build)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from tektite.errors import FieldError, ValidationError

__all__ = [
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "MANIFEST_ACCEPT",
    "OCI_CONFIG",
    "OCI_EMPTY",
    "OCI_EMPTY_BLOB",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_MANIFEST",
    "Descriptor",
    "ImageIndex",
    "ImageManifest",
    "descriptor_for",
    "sha256_digest",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"  # an artifact manifest's config (OCI 1.1)
OCI_EMPTY_BLOB = b"{}"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_ACCEPT = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)


_M = TypeVar("_M", bound="_Model")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _Model(BaseModel):
    # Registries carry fields we do not model (urls, platform, ...): keep them, write them back.
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class Descriptor(_Model):
    media_type: str = Field(alias="mediaType")
    digest: str
    size: int
    artifact_type: str | None = Field(default=None, alias="artifactType")
    annotations: dict[str, str] | None = None


def descriptor_for(data: bytes, media_type: str, annotations: dict[str, str] | None = None) -> Descriptor:
    return Descriptor(
        mediaType=media_type, digest=sha256_digest(data), size=len(data), annotations=annotations
    )


class ImageManifest(_Model):
    """An OCI image manifest (also reads docker schema 2 manifests, which have the same shape)."""

    schema_version: int = Field(default=2, alias="schemaVersion")
    media_type: str | None = Field(default=OCI_MANIFEST, alias="mediaType")
    artifact_type: str | None = Field(default=None, alias="artifactType")
    config: Descriptor
    layers: list[Descriptor] = Field(default_factory=list)
    subject: Descriptor | None = None  # OCI 1.1: the manifest this one refers to (a referrer)
    annotations: dict[str, str] | None = None

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes, *, where: str) -> ImageManifest:
        """Parse manifest bytes fetched from ``where`` (a reference, for the error message)."""
        return _parse(cls, data, where)


class ImageIndex(_Model):
    """An OCI image index: here, the Referrers API's answer and its tag-schema fallback."""

    schema_version: int = Field(default=2, alias="schemaVersion")
    media_type: str | None = Field(default=OCI_INDEX, alias="mediaType")
    manifests: list[Descriptor] = Field(default_factory=list)
    annotations: dict[str, str] | None = None

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes, *, where: str) -> ImageIndex:
        return _parse(cls, data, where)


def _parse(cls: type[_M], data: bytes, where: str) -> _M:
    try:
        return cls.model_validate_json(data)
    except PydanticValidationError as exc:
        errors = [
            FieldError(tuple(err["loc"]), err["msg"], found=repr(err.get("input"))[:80])
            for err in exc.errors(include_url=False)
        ]
        raise ValidationError(errors, obj=f"manifest {where}") from None
