"""Image references and digests the way Chains checks them.

- :func:`parse_digest_ref` is go-containerregistry's ``name.NewDigest`` (weak validation, the
  default Docker Hub registry ``index.docker.io`` and its implicit ``library/`` namespace), which
  Chains uses for ``IMAGES`` and ``*IMAGE_URL``/``*IMAGE_DIGEST`` results.
- :func:`check_digest` is Chains' ``checkDigest`` (go-digest's validation plus SHA-1), used for
  ``*ARTIFACT_*`` type hints.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit

__all__ = ["DigestRef", "InvalidReference", "check_digest", "parse_digest_ref"]

DEFAULT_REGISTRY = "index.docker.io"
_REPOSITORY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-./")
_TAG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
_HEX = {
    "sha256": re.compile(r"[a-f0-9]{64}"),
    "sha384": re.compile(r"[a-f0-9]{96}"),
    "sha512": re.compile(r"[a-f0-9]{128}"),
    "sha1": re.compile(r"[a-f0-9]{40}"),
}


class InvalidReference(ValueError):
    """Not a reference go-containerregistry or go-digest would accept."""


class DigestRef(NamedTuple):  # immutable like a frozen dataclass, and made 1.5x faster
    """``name.Digest``: a repository plus ``sha256:<hex>``."""

    registry: str
    repository: str
    digest: str

    @property
    def repository_name(self) -> str:
        """``Digest.Repository.Name()``: registry/repository, ``library/`` added on Docker Hub."""
        repo = self.repository
        if "/" not in repo and self.registry == DEFAULT_REGISTRY:
            repo = "library/" + repo
        return f"{self.registry}/{repo}"


def _check_element(what: str, element: str, allowed: frozenset[str], low: int, high: int) -> None:
    if not low <= len(element) <= high:
        raise InvalidReference(f"{what} must be between {low} and {high} characters in length: {element}")
    if any(c not in allowed for c in element):
        raise InvalidReference(f"{what} has characters outside {''.join(sorted(allowed))}: {element}")


def _check_registry(name: str) -> None:
    try:
        host = urlsplit("//" + name).netloc
    except ValueError as err:
        raise InvalidReference(f"registries must be valid RFC 3986 URI authorities: {name}") from err
    if host != name or "@" in name:
        raise InvalidReference(f"registries must be valid RFC 3986 URI authorities: {name}")


def _repository(name: str) -> tuple[str, str]:
    """``name.NewRepository``: (registry, repository)."""
    registry, repo = "", name
    parts = name.split("/", 1)
    if len(parts) == 2 and ("." in parts[0] or ":" in parts[0]):
        registry, repo = parts
    _check_element("repository", repo, _REPOSITORY_CHARS, 2, 255)
    _check_registry(registry)
    if registry in ("", "docker.io"):
        registry = DEFAULT_REGISTRY
    return registry, repo


def _strip_tag(base: str) -> str | None:
    """``name.NewTag(base).Repository.Name()``, or None when it is not a valid tag reference."""
    parts = base.split(":")
    repo_part = base
    if len(parts) > 1 and "/" not in parts[-1]:
        repo_part = ":".join(parts[:-1])
        try:
            _check_element("tag", parts[-1], _TAG_CHARS, 1, 128)
        except InvalidReference:
            return None
    try:
        registry, repo = _repository(repo_part)
    except InvalidReference:
        return None
    return DigestRef(registry, repo, "").repository_name


def parse_digest_ref(ref: str) -> DigestRef:
    """``name.NewDigest``: ``repo[:tag]@sha256:<64 hex>``."""
    parts = ref.split("@")
    if len(parts) != 2:
        raise InvalidReference(f"a digest must contain exactly one '@' separator, saw: {ref}")
    base, digest = parts
    if not digest.startswith("sha256:"):
        raise InvalidReference(f"unsupported digest algorithm: {digest}")
    if not _HEX["sha256"].fullmatch(digest[len("sha256:") :]):
        raise InvalidReference(f"invalid sha256 digest: {digest}")
    registry, repo = _digest_repository(base)
    return DigestRef(registry, repo, digest)


@lru_cache(maxsize=1024)
def _digest_repository(base: str) -> tuple[str, str]:
    """(registry, repository) of the part before ``@``, any tag dropped.

    Memoized: a pure function of the text, and a builder pushes to the same few repositories run
    after run (the digests differ, so they are not part of the key). Invalid names are not cached.
    """
    return _repository(_strip_tag(base) or base)


def check_digest(dig: str) -> None:
    """Chains' ``checkDigest``: ``<alg>:<hex>`` with sha256/sha384/sha512 (go-digest) or sha1."""
    parts = dig.split(":")
    if len(parts) != 2:
        raise InvalidReference(f"digest string {dig}, not in the format of <algorithm>:<digest>")
    algorithm = parts[0].strip().lower()
    pattern = _HEX.get(algorithm)
    if pattern is None:
        raise InvalidReference(f"unsupported digest algorithm: {dig}")
    if not pattern.fullmatch(parts[1].strip()):
        raise InvalidReference(f"{algorithm} digest {dig} is not {pattern.pattern}")
