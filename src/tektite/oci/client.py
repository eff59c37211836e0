"""A synchronous OCI distribution client over httpx: manifests, blobs, tags.

``RegistryClient`` talks to any registry named in the references it is given. It picks https, and
falls back to plain http for insecure registries and for localhost/loopback/private addresses (as
go-containerregistry does); ``insecure=True`` also turns off TLS certificate checks. Credentials come
from a :class:`~tektite.oci.auth.DockerConfig`; the auth flow is in :mod:`tektite.oci.challenge`.
Everything fetched by digest is checked against that digest.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from tektite.errors import Forbidden, NotFound, TektiteError, Unauthorized
from tektite.oci.auth import DockerConfig
from tektite.oci.challenge import RegistryAuth
from tektite.oci.manifest import MANIFEST_ACCEPT, OCI_INDEX
from tektite.oci.reference import DEFAULT_REGISTRY, ImageReference, parse_reference

__all__ = ["ManifestInfo", "RegistryClient", "RegistryError", "api_host"]


class RegistryError(TektiteError):
    """The registry could not be reached, or answered something a registry should not."""

    http_status = 502
    reason = "BadGateway"


@dataclass(frozen=True)
class ManifestInfo:
    """A manifest as stored: its bytes (empty after a HEAD), media type and digest."""

    digest: str
    media_type: str
    size: int
    content: bytes = b""


def api_host(registry: str) -> str:
    """The host that serves the registry API (Docker Hub's API is at registry-1.docker.io)."""
    return "registry-1.docker.io" if registry == DEFAULT_REGISTRY else registry


def _is_local(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if not registry.endswith("]") else registry
    host = host.strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private


def _check_digest(data: bytes, digest: str, what: str) -> None:
    algorithm, _, expected = digest.partition(":")
    if algorithm not in ("sha256", "sha384", "sha512"):
        raise RegistryError(
            f"{what}: unsupported digest algorithm {algorithm!r}; expected sha256/sha384/sha512"
        )
    found = hashlib.new(algorithm, data).hexdigest()
    if found != expected:
        raise RegistryError(
            f"{what}: content does not match its digest; expected {digest}, found {algorithm}:{found}"
        )


def _as_ref(ref: ImageReference | str) -> ImageReference:
    return ref if isinstance(ref, ImageReference) else parse_reference(ref)


class RegistryClient:
    """Distribution API client. Use as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        auth: DockerConfig | None = None,
        *,
        insecure: bool = False,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.auth_config = auth or DockerConfig()
        self.insecure = insecure
        self._http = httpx.Client(
            transport=transport,
            verify=not insecure,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=True,
            headers={"User-Agent": "tektite"},
        )
        self._base: dict[str, str] = {}
        self._auth: dict[str, RegistryAuth] = {}

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- plumbing -------------------------------------------------------------------------------

    def base_url(self, registry: str) -> str:
        """``https://host`` or ``http://host`` after pinging ``/v2/``; cached per registry."""
        if registry in self._base:
            return self._base[registry]
        host = api_host(registry)
        schemes = ["https", "http"] if self.insecure or _is_local(registry) else ["https"]
        problems = []
        for scheme in schemes:
            url = f"{scheme}://{host}/v2/"
            try:
                response = self._http.get(url)
            except httpx.TransportError as exc:
                problems.append(f"{url}: {type(exc).__name__}: {exc}")
                continue
            if response.status_code not in (200, 401, 403):  # not a registry API (e.g. http on a TLS port)
                problems.append(f"{url}: answered HTTP {response.status_code}, not a registry API")
                continue
            self._base[registry] = f"{scheme}://{host}"
            return self._base[registry]
        hint = None
        if not self.insecure and any("CERTIFICATE_VERIFY_FAILED" in p for p in problems):
            hint = "the registry's TLS certificate is not trusted; insecure (storage.oci.repository.insecure) skips the check"
        elif "http" not in schemes:
            hint = "for a registry served over plain http, set storage.oci.repository.insecure / --insecure"
        raise RegistryError(f"cannot reach registry {registry}: " + "; ".join(problems), hint=hint)

    def _auth_for(self, registry: str) -> RegistryAuth:
        if registry not in self._auth:
            self._auth[registry] = RegistryAuth(registry, self.auth_config.credentials_for(registry))
        return self._auth[registry]

    def _request(
        self,
        method: str,
        ref: ImageReference,
        path: str,
        what: str,
        *,
        ok: tuple[int, ...] = (200,),
        **kwargs: Any,
    ) -> httpx.Response:
        url = path if "://" in path else f"{self.base_url(ref.registry)}/v2/{ref.repository}/{path}"
        try:
            response = self._http.request(method, url, auth=self._auth_for(ref.registry), **kwargs)
        except httpx.TransportError as exc:
            raise RegistryError(
                f"{what}: registry {ref.registry} did not answer: {type(exc).__name__}: {exc}"
            ) from None
        if response.status_code not in ok:
            self._raise_for(response, ref, what)
        return response

    def _raise_for(self, response: httpx.Response, ref: ImageReference, what: str) -> None:
        status = response.status_code
        detail = _error_detail(response)
        suffix = f" ({detail})" if detail else ""
        if status == 401:
            has_creds = self.auth_config.credentials_for(ref.registry) is not None
            raise Unauthorized(
                f"{what}: registry {ref.registry} refused "
                + ("the configured credentials" if has_creds else "anonymous access")
                + suffix,
                hint=None
                if has_creds
                else f"add credentials for {ref.registry} to a docker config (docker login)",
            )
        if status == 403:
            raise Forbidden(f"{what}: registry {ref.registry} denied access{suffix}")
        if status == 404:
            path = response.request.url.path
            kind = (
                "manifest unknown"
                if "/manifests/" in path
                else "blob unknown"
                if "/blobs/" in path
                else "not found"
            )
            raise NotFound(f"{what}: not found{suffix}" if detail else f"{what}: {kind}")
        raise RegistryError(f"{what}: registry answered HTTP {status}{suffix}")

    # -- manifests ------------------------------------------------------------------------------

    def get_manifest(self, ref: ImageReference | str) -> ManifestInfo:
        """Fetch a manifest by tag or digest; its bytes are checked against a requested digest."""
        ref = _as_ref(ref)
        what = f"manifest {ref}"
        response = self._request("GET", ref, f"manifests/{ref.identifier}", what, headers=_ACCEPT)
        content = response.content
        if ref.digest:
            _check_digest(content, ref.digest, what)
        digest = ref.digest or "sha256:" + hashlib.sha256(content).hexdigest()
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return ManifestInfo(digest=digest, media_type=media_type, size=len(content), content=content)

    def head_manifest(self, ref: ImageReference | str) -> ManifestInfo:
        """Digest and media type without the body (falls back to GET if the registry omits the digest)."""
        ref = _as_ref(ref)
        response = self._request(
            "HEAD", ref, f"manifests/{ref.identifier}", f"manifest {ref}", headers=_ACCEPT
        )
        digest = response.headers.get("Docker-Content-Digest")
        if not digest:
            info = self.get_manifest(ref)
            return ManifestInfo(digest=info.digest, media_type=info.media_type, size=info.size)
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return ManifestInfo(
            digest=digest, media_type=media_type, size=int(response.headers.get("Content-Length", 0))
        )

    def resolve_digest(self, ref: ImageReference | str) -> str:
        """The manifest digest a reference names: its own digest, or the tag's current one."""
        ref = _as_ref(ref)
        return ref.digest or self.head_manifest(ref).digest

    def put_manifest(self, ref: ImageReference | str, content: bytes, media_type: str) -> str:
        """Push manifest bytes under ``ref``'s tag (or digest); returns the manifest digest."""
        return self.push_manifest(ref, content, media_type)[0]

    def push_manifest(self, ref: ImageReference | str, content: bytes, media_type: str) -> tuple[str, bool]:
        """:meth:`put_manifest`, and whether the registry says it indexed the manifest's ``subject``
        for its Referrers API (the ``OCI-Subject`` header of OCI distribution 1.1)."""
        ref = _as_ref(ref)
        digest = "sha256:" + hashlib.sha256(content).hexdigest()
        if ref.digest and ref.digest != digest:
            raise RegistryError(f"manifest {ref}: pushing content whose digest is {digest}")
        response = self._request(
            "PUT",
            ref,
            f"manifests/{ref.identifier}",
            f"push manifest {ref}",
            ok=(200, 201, 202),
            content=content,
            headers={"Content-Type": media_type},
        )
        return digest, bool(response.headers.get("OCI-Subject"))

    def referrers(self, ref: ImageReference | str, digest: str) -> bytes | None:
        """The Referrers API's index of the manifests whose subject is ``digest`` in ``ref``'s
        repository, or ``None`` when the registry has no Referrers API (then the referrers tag
        schema, ``sha256-<hex>``, holds that index)."""
        ref = _as_ref(ref)
        response = self._request(
            "GET",
            ref,
            f"referrers/{digest}",
            f"referrers of {ref.name}@{digest}",
            ok=(200, 404, 405),
            headers={"Accept": OCI_INDEX},
        )
        if response.status_code != 200:
            return None
        if response.headers.get("Content-Type", "").split(";")[0].strip() != OCI_INDEX:
            return None  # a registry answering something else on this path (an HTML page, ...)
        return response.content

    # -- blobs ----------------------------------------------------------------------------------

    def blob_exists(self, ref: ImageReference | str, digest: str) -> bool:
        ref = _as_ref(ref)
        response = self._request("HEAD", ref, f"blobs/{digest}", f"blob {ref.name}@{digest}", ok=(200, 404))
        return response.status_code == 200

    def get_blob(self, ref: ImageReference | str, digest: str) -> bytes:
        ref = _as_ref(ref)
        what = f"blob {ref.name}@{digest}"
        content = self._request("GET", ref, f"blobs/{digest}", what).content
        _check_digest(content, digest, what)
        return content

    def put_blob(self, ref: ImageReference | str, data: bytes) -> str:
        """Upload ``data`` to ``ref``'s repository (monolithic POST + PUT) unless present; return its digest."""
        ref = _as_ref(ref)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if self.blob_exists(ref, digest):
            return digest
        what = f"upload blob {ref.name}@{digest}"
        started = self._request("POST", ref, "blobs/uploads/", what, ok=(202,))
        location = started.headers.get("Location")
        if not location:
            raise RegistryError(f"{what}: registry started an upload without a Location header")
        upload_url = started.url.join(location)
        upload_url = upload_url.copy_merge_params({"digest": digest})
        self._request(
            "PUT",
            ref,
            str(upload_url),
            what,
            ok=(201, 204),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        return digest

    # -- tags -----------------------------------------------------------------------------------

    def list_tags(self, ref: ImageReference | str) -> list[str]:
        """All tags of ``ref``'s repository, following ``Link: <...>; rel="next"`` pagination."""
        ref = _as_ref(ref)
        what = f"tags of {ref.name}"
        tags: list[str] = []
        path = "tags/list"
        for _ in range(10_000):
            response = self._request("GET", ref, path, what)
            body = response.json()
            tags.extend(body.get("tags") or [])
            nxt = response.links.get("next", {}).get("url")
            if not nxt:
                return tags
            path = str(response.url.join(nxt))
        raise RegistryError(f"{what}: pagination does not end")


_ACCEPT = {"Accept": ", ".join(MANIFEST_ACCEPT)}


def _error_detail(response: httpx.Response) -> str:
    """``MANIFEST_UNKNOWN: manifest unknown`` from an OCI error body, when there is one."""
    if response.request.method == "HEAD":
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return ""
    parts = []
    for err in errors[:3]:
        if isinstance(err, dict):
            parts.append(": ".join(str(err[k]) for k in ("code", "message") if err.get(k)))
    return "; ".join(p for p in parts if p)
