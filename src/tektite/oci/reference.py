"""Image references as docker and go-containerregistry read them.

``busybox`` -> ``index.docker.io/library/busybox:latest`` (go-containerregistry's spelling); ``localhost:5000/app@sha256:...``;
``ghcr.io/org/app:v1@sha256:...`` (tag and digest together: the digest wins for pulls).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from tektite.errors import FieldError, ValidationError

__all__ = [
    "DEFAULT_REGISTRY",
    "DEFAULT_TAG",
    "ImageReference",
    "parse_reference",
    "validate_digest",
]

DEFAULT_REGISTRY = "index.docker.io"
DEFAULT_TAG = "latest"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

# From distribution/reference: path components, tags and digests.
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_SHA256_HEX = re.compile(r"[a-f0-9]{64}")
_HOST = re.compile(r"(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?")


def _invalid(text: str, what: str, expected: str, found: str) -> ValidationError:
    return ValidationError([FieldError((), f"image reference {text!r}: {what}", expected, found)])


def validate_digest(digest: str, *, where: str = "digest") -> str:
    """Check ``algorithm:hex`` form (sha256 must be 64 lowercase hex characters); return it."""
    if not _DIGEST.fullmatch(digest):
        raise ValidationError([FieldError((), f"{where}: malformed digest", "algorithm:hex", repr(digest))])
    algorithm, _, hex_part = digest.partition(":")
    if algorithm == "sha256" and not _SHA256_HEX.fullmatch(hex_part):
        raise ValidationError(
            [
                FieldError(
                    (), f"{where}: malformed sha256 digest", "64 lowercase hex characters", repr(hex_part)
                )
            ]
        )
    return digest


@dataclass(frozen=True)
class ImageReference:
    """A parsed image reference. ``tag`` and ``digest`` may both be set, or neither (then ``latest``)."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def identifier(self) -> str:
        """What goes after ``/manifests/``: the digest if known, else the tag (default ``latest``)."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_digest(self, digest: str) -> ImageReference:
        return replace(self, digest=validate_digest(digest), tag=None)

    def with_tag(self, tag: str) -> ImageReference:
        if not _TAG.fullmatch(tag):
            raise _invalid(tag, "invalid tag", "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", repr(tag))
        return replace(self, tag=tag, digest=None)

    def in_repository(self, repository: ImageReference) -> ImageReference:
        """The same tag/digest, but in ``repository``'s registry and repository."""
        return replace(self, registry=repository.registry, repository=repository.repository)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _split_registry(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        return first, rest
    return DEFAULT_REGISTRY, name


def parse_reference(text: str) -> ImageReference:
    """Parse ``[registry/]repository[:tag][@digest]``; Docker Hub and ``library/`` are the defaults.

    Raises :class:`ValidationError` naming the reference and the part that is wrong.
    """
    original = text
    text = text.strip()
    if not text:
        raise _invalid(original, "empty reference", "[registry/]repository[:tag][@digest]", "''")
    digest: str | None = None
    if "@" in text:
        text, _, digest = text.partition("@")
        try:
            validate_digest(digest, where=f"image reference {original!r}")
        except ValidationError:
            raise _invalid(original, "malformed digest", "sha256:<64 hex>", repr(digest)) from None
    tag: str | None = None
    last_slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > last_slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise _invalid(original, "invalid tag", "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", repr(tag))
    registry, repository = _split_registry(text)
    if not _HOST.fullmatch(registry):
        raise _invalid(original, "invalid registry host", "host[:port]", repr(registry))
    if registry in DOCKER_HUB_ALIASES:
        registry = DEFAULT_REGISTRY
        if "/" not in repository:
            repository = f"library/{repository}"
    if not repository:
        raise _invalid(original, "missing repository", "a repository name", "nothing")
    for part in repository.split("/"):
        if not _COMPONENT.fullmatch(part):
            raise _invalid(
                original,
                "invalid repository path component",
                "lowercase letters, digits and separators [._-]",
                repr(part),
            )
    if len(registry) + 1 + len(repository) > 255:
        raise _invalid(
            original, "name too long", "at most 255 characters", str(len(registry) + 1 + len(repository))
        )
    return ImageReference(registry=registry, repository=repository, tag=tag, digest=digest)
