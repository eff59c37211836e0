"""Tekton Bundles: Tasks, Pipelines and StepActions in an OCI image (the ``bundles`` resolver, and
``tektite bundle push`` / ``list``, tkn's verbs).

The contract (reference: tekton-bundle-contracts.md): one Tekton object per layer, at most 20; each
layer annotated ``dev.tekton.image.name`` (the object's name), ``dev.tekton.image.kind`` (its kind,
lower-case) and ``dev.tekton.image.apiVersion``, the three unique among the layers; a layer is a
tar archive (gzip-compressed, or not; ``+zstd`` is refused) whose first file is the object as YAML
or JSON. A bundle that breaks the contract is refused, naming the layer and what is wrong.

Resolving ``{bundle, name, kind}`` reads the image from its registry (credentials: the ``secret``
param's docker config Secret in the run's namespace, then the host's docker config), and records
``refSource`` as Tekton does: ``uri`` the image repository, ``digest`` the manifest's sha256,
``entryPoint`` the object's name.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tektite.errors import NotFound, TektiteError
from tektite.oci.auth import SECRET_TYPES, DockerConfig
from tektite.oci.client import RegistryClient
from tektite.oci.manifest import (
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    Descriptor,
    ImageManifest,
    descriptor_for,
    sha256_digest,
)
from tektite.oci.reference import ImageReference, parse_reference

__all__ = [
    "API_VERSION_ANNOTATION",
    "KIND_ANNOTATION",
    "MAX_OBJECTS",
    "NAME_ANNOTATION",
    "BundleError",
    "BundleObject",
    "build_bundle",
    "fetch_bundle",
    "push_bundle",
]

JSON = dict[str, Any]
Getter = Callable[[str, str, str], JSON | None]

NAME_ANNOTATION = "dev.tekton.image.name"
KIND_ANNOTATION = "dev.tekton.image.kind"
API_VERSION_ANNOTATION = "dev.tekton.image.apiVersion"
MAX_OBJECTS = 20
MAX_OBJECT_BYTES = 10 * 1024 * 1024  # one Tekton object: far more than any Task or Pipeline needs
TEKTON_KINDS = ("task", "pipeline", "stepaction")


class BundleError(TektiteError):
    """A bundle that cannot be read or does not follow the Tekton Bundle contract."""


@dataclass(frozen=True)
class BundleObject:
    """One layer of a bundle: the annotations' identity and, once read, the object's text."""

    kind: str
    name: str
    api_version: str
    layer: Descriptor


# -- reading ------------------------------------------------------------------------------------


def _credentials(secret: str | None, namespace: str, get: Getter | None) -> DockerConfig:
    configs = []
    if secret:
        found = get("Secret", secret, namespace) if get else None
        if found is None:
            raise BundleError(f'bundles resolver: secret "{secret}" not found in namespace "{namespace}"')
        if str(found.get("type")) not in SECRET_TYPES:
            raise BundleError(
                f'bundles resolver: secret "{secret}" has type {found.get("type")!r}; expected one of '
                + ", ".join(SECRET_TYPES)
            )
        configs.append(DockerConfig.from_secret(found))
    configs.append(DockerConfig.default())
    return DockerConfig.merged(configs)


def _objects(manifest: ImageManifest, where: str) -> list[BundleObject]:
    if len(manifest.layers) > MAX_OBJECTS:
        raise BundleError(
            f"bundle {where}: has {len(manifest.layers)} layers; a Tekton Bundle holds at most {MAX_OBJECTS} objects"
        )
    out: list[BundleObject] = []
    seen: set[tuple[str, str, str]] = set()
    for i, layer in enumerate(manifest.layers):
        notes = layer.annotations or {}
        missing = [a for a in (NAME_ANNOTATION, KIND_ANNOTATION, API_VERSION_ANNOTATION) if not notes.get(a)]
        if missing:
            raise BundleError(
                f"bundle {where}: layer {i} has no {', '.join(missing)} annotation; "
                "every layer of a Tekton Bundle names the object it holds"
            )
        identity = (notes[API_VERSION_ANNOTATION], notes[KIND_ANNOTATION].lower(), notes[NAME_ANNOTATION])
        if identity in seen:
            raise BundleError(f"bundle {where}: two layers hold {identity[1]} {identity[2]} ({identity[0]})")
        seen.add(identity)
        out.append(BundleObject(identity[1], identity[2], identity[0], layer))
    return out


def _layer_text(data: bytes, layer: Descriptor, where: str) -> str:
    if "zstd" in layer.media_type:
        raise BundleError(
            f"bundle {where}: layer {layer.digest} is zstd-compressed ({layer.media_type}); not supported"
        )
    # read as a stream (gzip or not): only the first file, of at most MAX_OBJECT_BYTES, is
    # decompressed, whatever the layer would expand to
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                if member.size > MAX_OBJECT_BYTES:
                    raise BundleError(
                        f"bundle {where}: layer {layer.digest}: {member.name} is {member.size} bytes"
                    )
                handle = tar.extractfile(member)
                content = handle.read() if handle else b""
                return content.decode("utf-8")
    except (tarfile.TarError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise BundleError(
            f"bundle {where}: layer {layer.digest} is not a tar archive of a YAML/JSON object: {exc}"
        ) from None
    raise BundleError(f"bundle {where}: layer {layer.digest} holds no file")


def fetch_bundle(
    bundle: str,
    *,
    kind: str | None = None,
    name: str | None = None,
    secret: str | None = None,
    namespace: str = "default",
    get: Getter | None = None,
    auth: DockerConfig | None = None,
    insecure: bool = False,
) -> tuple[ImageReference, list[BundleObject], list[tuple[BundleObject, str]]]:
    """The bundle pinned to its digest, all its objects, and those of ``kind``/``name`` (when
    given; else all) with their text. Credentials: ``auth``, else ``secret`` then the host's."""
    image = parse_reference(bundle)
    config = auth if auth is not None else _credentials(secret, namespace, get)
    with RegistryClient(config, insecure=insecure) as client:
        try:
            fetched = client.get_manifest(image)
        except NotFound:
            raise BundleError(f"bundle {image}: not found in its registry") from None
        if fetched.media_type not in (OCI_MANIFEST, DOCKER_MANIFEST, ""):
            raise BundleError(
                f"bundle {image}: a Tekton Bundle is an image manifest ({OCI_MANIFEST}), found {fetched.media_type}"
            )
        pinned = replace(image, digest=fetched.digest)
        objects = _objects(ImageManifest.from_bytes(fetched.content, where=str(image)), str(image))
        wanted = [
            o
            for o in objects
            if (kind is None or o.kind == kind.lower()) and (name is None or o.name == name)
        ]
        found = [
            (o, _layer_text(client.get_blob(pinned, o.layer.digest), o.layer, str(image))) for o in wanted
        ]
    return pinned, objects, found


def resolve_params(
    params: dict[str, str], kind: str, namespace: str, get: Getter | None
) -> tuple[str, str, JSON]:
    """The ``bundles`` resolver: ``(object text, source, refSource)`` for ``params``; ``kind`` is the
    reference's (``task``, ``pipeline``, ``stepaction``), which the ``kind`` param may name instead."""
    bundle, name = params.get("bundle"), params.get("name")
    if not bundle or not name:
        missing = [p for p in ("bundle", "name") if not params.get(p)]
        raise BundleError(f"bundles resolver: param {' and '.join(repr(m) for m in missing)} is required")
    want = params.get("kind", kind).lower()
    if want not in TEKTON_KINDS:
        raise BundleError(
            f'bundles resolver: param "kind" is {want!r}; expected one of {", ".join(TEKTON_KINDS)}'
        )
    cache = params.get("cache", "auto")
    if cache not in ("always", "never", "auto"):
        raise BundleError(f'bundles resolver: param "cache" is {cache!r}; expected always, never or auto')
    pinned, objects, found = fetch_bundle(
        bundle, kind=want, name=name, secret=params.get("secret"), namespace=namespace, get=get
    )
    if not found:
        holds = ", ".join(f"{o.kind}/{o.name}" for o in objects) or "nothing"
        raise BundleError(f"bundles resolver: bundle {pinned} has no {want} named {name!r}; it holds {holds}")
    [(_, text)] = found
    algorithm, _, hex_digest = (pinned.digest or "").partition(":")
    ref_source = {"uri": pinned.name, "digest": {algorithm: hex_digest}, "entryPoint": name}
    return text, f"{pinned} ({want} {name})", ref_source


# -- writing ------------------------------------------------------------------------------------


def _tar_layer(filename: str, content: bytes, mtime: float) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(filename)
        info.size, info.mode, info.mtime = len(content), 0o600, int(mtime)
        tar.addfile(info, io.BytesIO(content))
    return raw.getvalue()


def build_bundle(
    objects: list[JSON], *, created: float | None = None, annotations: dict[str, str] | None = None
) -> tuple[ImageManifest, dict[str, bytes], bytes]:
    """An image holding ``objects`` (Tekton objects as JSON), one gzip tar layer each:
    ``(manifest, blobs by digest, config blob)``. ``created`` (seconds; default now) dates the
    layers' files and the config, so a fixed value gives the same digest every time."""
    if not objects:
        raise BundleError("a bundle needs at least one object")
    if len(objects) > MAX_OBJECTS:
        raise BundleError(f"a Tekton Bundle holds at most {MAX_OBJECTS} objects; found {len(objects)}")
    when = time.time() if created is None else created
    layers: list[Descriptor] = []
    blobs: dict[str, bytes] = {}
    diff_ids = []
    seen: set[tuple[str, str, str]] = set()
    for i, obj in enumerate(objects):
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        name = (obj.get("metadata") or {}).get("name")
        if not (isinstance(api_version, str) and isinstance(kind, str) and isinstance(name, str) and name):
            raise BundleError(f"object {i}: needs apiVersion, kind and metadata.name to go in a bundle")
        if kind.lower() not in TEKTON_KINDS:
            raise BundleError(
                f"object {i} ({kind} {name}): a bundle holds Tasks, Pipelines and StepActions only"
            )
        identity = (api_version, kind.lower(), name)
        if identity in seen:
            raise BundleError(f"object {i}: {kind} {name} ({api_version}) is in the bundle twice")
        seen.add(identity)
        tar = _tar_layer(f"{kind.lower()}-{name}", json.dumps(obj, separators=(",", ":")).encode(), when)
        diff_ids.append(sha256_digest(tar))
        blob = gzip.compress(tar, mtime=int(when))
        notes = {API_VERSION_ANNOTATION: api_version, KIND_ANNOTATION: kind.lower(), NAME_ANNOTATION: name}
        layers.append(descriptor_for(blob, OCI_LAYER, notes))
        blobs[layers[-1].digest] = blob
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    config = json.dumps(
        {
            "architecture": "",
            "created": stamp,
            "history": [{"created": stamp} for _ in layers],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "config": {},
        },
        separators=(",", ":"),
    ).encode()
    manifest = ImageManifest(
        config=descriptor_for(config, OCI_CONFIG), layers=layers, annotations=annotations or None
    )
    return manifest, blobs, config


def push_bundle(
    reference: str,
    objects: list[JSON],
    *,
    created: float | None = None,
    annotations: dict[str, str] | None = None,
    auth: DockerConfig | None = None,
    insecure: bool = False,
) -> ImageReference:
    """Push ``objects`` as a bundle to ``reference``; returns it pinned to the manifest's digest."""
    image = parse_reference(reference)
    manifest, blobs, config = build_bundle(objects, created=created, annotations=annotations)
    with RegistryClient(auth if auth is not None else DockerConfig.default(), insecure=insecure) as client:
        for blob in (*blobs.values(), config):
            client.put_blob(image, blob)
        digest = client.put_manifest(image, manifest.to_bytes(), OCI_MANIFEST)
    return replace(image, digest=digest)
