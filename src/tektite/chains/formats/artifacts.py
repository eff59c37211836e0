"""Type hinting: finding inputs and outputs in results (Chains' ``pkg/artifacts``).

The conventions (``docs/slsa-provenance.md`` of Chains):

- ``*IMAGE_URL`` + ``*IMAGE_DIGEST`` (same prefix) and ``IMAGES`` (comma/newline list of
  ``repo@sha256:...``): OCI images, parsed as go-containerregistry does.
- ``*ARTIFACT_URI`` + ``*ARTIFACT_DIGEST``: any artifact, digest ``<alg>:<hex>``.
- ``*ARTIFACT_INPUTS`` / ``*ARTIFACT_OUTPUTS``: object results ``{"uri", "digest"}``; outputs may
  carry ``"isBuildArtifact": "true"`` (read by ``slsa/v2alpha4``).
- ``CHAINS-GIT_URL`` + ``CHAINS-GIT_COMMIT``: the source repository (see :mod:`material`).

Chains pairs ``*_URL``/``*_DIGEST`` results through a Go map, so the order of several pairs is
random there; tektite keeps the order in which each prefix first appears.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from tektite.chains.formats.imageref import DigestRef, InvalidReference, check_digest, parse_digest_ref
from tektite.chains.formats.objects import Result

__all__ = [
    "ARTIFACTS_INPUTS",
    "ARTIFACTS_OUTPUTS",
    "Artifact",
    "append_artifacts",
    "build_artifacts",
    "is_subject_hint",
    "materials_from_structured_results",
    "oci_images",
    "signable_targets",
    "structured_targets",
]

ARTIFACTS_INPUTS = "ARTIFACT_INPUTS"
ARTIFACTS_OUTPUTS = "ARTIFACT_OUTPUTS"
IS_BUILD_ARTIFACT = "isBuildArtifact"


@dataclass
class Artifact:
    """A subject or a material: a name (or uri) and a digest set ``{alg: hex}``."""

    name: str
    digest: dict[str, str] = field(default_factory=dict)


class Target(NamedTuple):
    """``StructuredSignable``: a uri and a ``<alg>:<hex>`` digest taken from results."""

    uri: str
    digest: str


def _pairs(results: list[Result], uri_suffix: str, digest_suffix: str) -> list[Target]:
    """``structuredSignableExtractor.extract``: join ``<prefix><uri_suffix>`` with ``<prefix><digest_suffix>``."""
    partial: dict[str, list[str]] = {}  # by prefix, in first-seen order: [uri, digest]
    for res in results:
        name = res.name
        if not name.endswith((uri_suffix, digest_suffix)):
            continue  # most results: one test, not one per suffix
        value = res.value.strip() if isinstance(res.value, str) else ""  # string_val, stripped
        if not value:
            continue
        if name.endswith(uri_suffix):
            partial.setdefault(name[: -len(uri_suffix)], ["", ""])[0] = value
        if name.endswith(digest_suffix):
            partial.setdefault(name[: -len(digest_suffix)], ["", ""])[1] = value
    return [Target(uri, digest) for uri, digest in partial.values() if uri and digest]


def oci_images(results: list[Result]) -> list[DigestRef]:
    """``ExtractOCIImagesFromResults``: ``*IMAGE_URL``/``*IMAGE_DIGEST`` pairs, then ``IMAGES`` entries."""
    images: list[DigestRef] = []
    for target in _pairs(results, "IMAGE_URL", "IMAGE_DIGEST"):
        try:
            images.append(parse_digest_ref(f"{target.uri}@{target.digest}"))
        except InvalidReference:
            continue
    for res in results:
        if res.name != "IMAGES":
            continue
        for item in res.string_val.replace("\n", ",").split(","):
            trimmed = item.strip()
            if not trimmed:
                continue
            try:
                images.append(parse_digest_ref(trimmed))
            except InvalidReference:
                continue
    return images


def signable_targets(results: list[Result]) -> list[Target]:
    """``ExtractSignableTargetFromResults``: ``*ARTIFACT_URI``/``*ARTIFACT_DIGEST`` pairs with valid digests."""
    out = []
    for target in _pairs(results, "ARTIFACT_URI", "ARTIFACT_DIGEST"):
        try:
            check_digest(target.digest)
        except InvalidReference:
            continue
        out.append(target)
    return out


def _structured(res: Result, marker: str) -> Target | None:
    """``isStructuredResult``: an object result named ``*<marker>`` with a uri and a valid digest."""
    if not res.name.endswith(marker):
        return None
    obj = res.object_val
    if obj is None:
        return None
    uri, digest = obj.get("uri", ""), obj.get("digest", "")
    if not uri or not digest:
        return None
    try:
        check_digest(digest)
    except InvalidReference:
        return None
    return Target(uri, digest)


def structured_targets(results: list[Result], marker: str) -> list[Target]:
    """``ExtractStructuredTargetFromResults`` for ``ARTIFACT_INPUTS`` or ``ARTIFACT_OUTPUTS``."""
    return [t for res in results if res.name.endswith(marker) and (t := _structured(res, marker)) is not None]


def build_artifacts(results: list[Result]) -> list[Target]:
    """``ExtractBuildArtifactsFromResults``: valid ``*ARTIFACT_OUTPUTS`` marked ``isBuildArtifact: "true"``."""
    out = []
    for res in results:
        target = _structured(res, ARTIFACTS_OUTPUTS)
        if target is not None and (res.object_val or {}).get(IS_BUILD_ARTIFACT) == "true":
            out.append(target)
    return out


def is_subject_hint(res: Result) -> bool:
    """Whether ``slsa/v2alpha4`` treats a result as a subject rather than a byproduct.

    ``IMAGES`` and ``*IMAGE_URL``/``*IMAGE_DIGEST`` are subjects automatically; an
    ``*ARTIFACT_OUTPUTS`` object is one when it says ``isBuildArtifact: "true"``.
    """
    if res.name == "IMAGES" or res.name.endswith(("IMAGE_URL", "IMAGE_DIGEST")):
        return True
    obj = res.object_val
    return res.name.endswith(ARTIFACTS_OUTPUTS) and obj is not None and obj.get(IS_BUILD_ARTIFACT) == "true"


def materials_from_structured_results(results: list[Result]) -> list[Artifact]:
    """``RetrieveMaterialsFromStructuredResults``: ``*ARTIFACT_INPUTS`` objects as materials."""
    out = []
    for target in structured_targets(results, ARTIFACTS_INPUTS):
        alg, hexdigest = target.digest.split(":")
        out.append(Artifact(target.uri, {alg: hexdigest}))
    return out


def append_artifacts(original: list[Artifact], *items: Artifact) -> list[Artifact]:
    """``AppendSubjects``/``AppendMaterials``: same name and one shared digest -> merge digest sets."""
    out = [Artifact(a.name, dict(a.digest)) for a in original]
    for item in items:
        for existing in out:
            if existing.name == item.name and any(
                item.digest.get(k) == v for k, v in existing.digest.items()
            ):
                existing.digest.update(item.digest)
                break
        else:
            out.append(Artifact(item.name, dict(item.digest)))
    return out
