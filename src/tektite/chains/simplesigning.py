"""cosign "simple signing" payloads: what an image signature (the ``.sig`` tag) signs.

Byte-for-byte what sigstore's ``payload.Cosign`` marshals with Go's ``json.Marshal`` (struct field
order, sorted ``optional`` keys, ``<``, ``>``, ``&`` escaped)::

    {"critical":{"identity":{"docker-reference":"gcr.io/foo/bar"},
                 "image":{"docker-manifest-digest":"sha256:..."},
                 "type":"cosign container image signature"},
     "optional":null}

``docker-reference`` is the repository name as go-containerregistry spells it
(``Repository.Name()``): no tag or digest, Docker Hub names expanded (``busybox`` ->
``index.docker.io/library/busybox``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from tektite.errors import SigningError

__all__ = ["COSIGN_SIGNATURE_TYPE", "SIMPLE_SIGNING_MEDIA_TYPE", "repository_name", "simple_signing_payload"]

COSIGN_SIGNATURE_TYPE = "cosign container image signature"
SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
_DOCKER_HUB = "index.docker.io"
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")


def repository_name(reference: str) -> str:
    """``registry/repo`` of an image reference, without tag or digest, as go-containerregistry names it."""
    ref = reference.strip().split("@", 1)[0]
    last_slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > last_slash:  # a tag, not a registry port
        ref = ref[:colon]
    if not ref:
        raise SigningError(f"not an image reference; expected registry/repository, found {reference!r}")
    first, sep, rest = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, repo = first, rest
    else:
        registry, repo = _DOCKER_HUB, ref
    if registry == "docker.io":
        registry = _DOCKER_HUB
    if registry == _DOCKER_HUB and "/" not in repo:
        repo = f"library/{repo}"
    return f"{registry}/{repo}"


def _go_json(value: Any) -> bytes:
    """``json.Marshal``-compatible bytes: compact, map keys sorted, HTML characters escaped."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text.encode()


def simple_signing_payload(
    docker_reference: str, manifest_digest: str, annotations: dict[str, Any] | None = None
) -> bytes:
    """The payload cosign signs for the image ``docker_reference`` at ``manifest_digest``.

    ``annotations`` become the ``optional`` map (``null`` when ``None``, as Chains writes it).
    """
    if not _DIGEST_RE.match(manifest_digest):
        raise SigningError(
            f"not an image digest; expected 'sha256:<hex>', found {manifest_digest!r}", obj=docker_reference
        )
    critical = {
        "identity": {"docker-reference": repository_name(docker_reference)},
        "image": {"docker-manifest-digest": manifest_digest},
        "type": COSIGN_SIGNATURE_TYPE,
    }
    # critical's keys are already in Go struct order, which happens to be sorted.
    return _go_json({"critical": critical, "optional": annotations})
