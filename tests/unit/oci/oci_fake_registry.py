"""An in-memory OCI distribution API behind ``httpx.MockTransport``, for unit tests of the client.

It serves one or more registry hosts, supports token auth (``auth="bearer"``: 401 with a
``Bearer realm`` challenge, tokens from ``https://auth.test/token`` given the right basic
credentials) or basic auth, paginates tag lists, and can be told to serve corrupted content.
With ``referrers_api=True`` it is an OCI 1.1 registry: it indexes a pushed manifest's ``subject``
(answering ``OCI-Subject``) and serves ``GET /v2/<name>/referrers/<digest>``.
Every request is recorded in ``requests`` and, as sent, in ``seen``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import httpx

REALM = "https://auth.test/token"


@dataclass
class FakeRegistry:
    auth: str | None = None  # None, "basic" or "bearer"
    username: str = "user"
    password: str = "s3cret"
    refresh_token: str = "refresh-me"
    page_size: int = 1000
    corrupt: bool = False
    refuse_schemes: tuple[str, ...] = ()
    referrers_api: bool = False
    blobs: dict[tuple[str, str], bytes] = field(default_factory=dict)
    manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    tags: dict[tuple[str, str], str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> scope
    requests: list[httpx.Request] = field(default_factory=list)
    # (method, url, Authorization header) as each request was sent: auth flows resend the same object
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)
    uploads: dict[str, str] = field(default_factory=dict)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    # -- auth -------------------------------------------------------------------------------------

    def _basic_ok(self, request: httpx.Request) -> bool:
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    def _token(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":  # OAuth2 refresh-token grant (docker "identitytoken")
            form = dict(parse_qsl(request.content.decode()))
            if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token:
                return httpx.Response(401, json={"details": "bad refresh token"})
            token = secrets.token_hex(8)
            self.tokens[token] = form.get("scope", "")
            return httpx.Response(200, json={"access_token": token})
        if not self._basic_ok(request):
            return httpx.Response(401, json={"details": "bad credentials"})
        token = secrets.token_hex(8)
        self.tokens[token] = request.url.params.get("scope", "")
        return httpx.Response(200, json={"token": token})

    def _authorized(self, request: httpx.Request, name: str) -> httpx.Response | None:
        if self.auth == "basic" and not self._basic_ok(request):
            return httpx.Response(
                401, headers={"WWW-Authenticate": 'Basic realm="fake"'}, json=_err("UNAUTHORIZED")
            )
        if self.auth == "bearer":
            header = request.headers.get("Authorization", "")
            action = "pull" if request.method in ("GET", "HEAD") else "push"
            scope = (
                self.tokens.get(header.removeprefix("Bearer "), "") if header.startswith("Bearer ") else ""
            )
            if not (scope.startswith(f"repository:{name}:") and action in scope.rsplit(":", 1)[1].split(",")):
                wanted = f"repository:{name}:{'pull' if action == 'pull' else 'pull,push'}"
                challenge = f'Bearer realm="{REALM}",service="fake.test",scope="{wanted}"'
                return httpx.Response(401, headers={"WWW-Authenticate": challenge}, json=_err("UNAUTHORIZED"))
        return None

    # -- API --------------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.seen.append((request.method, str(request.url), request.headers.get("Authorization")))
        if request.url.scheme in self.refuse_schemes:
            raise httpx.ConnectError("connection refused", request=request)
        if str(request.url).startswith(REALM):
            return self._token(request)
        path = request.url.path
        if path == "/v2/":
            return httpx.Response(200, json={})
        kinds = ("/manifests/", "/blobs/uploads/", "/blobs/", "/tags/list")
        for kind in (*kinds, "/referrers/") if self.referrers_api else kinds:
            if kind in path:
                name, _, rest = path.removeprefix("/v2/").partition(kind)
                denied = self._authorized(request, name)
                if denied:
                    return denied
                return getattr(self, "_" + kind.strip("/").replace("/", "_"))(request, name, rest)
        return httpx.Response(404)

    def _manifests(self, request: httpx.Request, name: str, ref: str) -> httpx.Response:
        if request.method == "PUT":
            body = request.content
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            self.manifests[(name, digest)] = (body, request.headers["Content-Type"])
            if not ref.startswith("sha256:"):
                self.tags[(name, ref)] = digest
            headers = {"Docker-Content-Digest": digest}
            subject = json.loads(body).get("subject") if self.referrers_api else None
            if subject:
                headers["OCI-Subject"] = subject["digest"]
            return httpx.Response(201, headers=headers)
        digest = ref if ref.startswith("sha256:") else self.tags.get((name, ref), "")
        if (name, digest) not in self.manifests:
            return httpx.Response(404, json=_err("MANIFEST_UNKNOWN", "manifest unknown"))
        body, media_type = self.manifests[(name, digest)]
        if self.corrupt:
            body = body + b" "
        headers = {"Content-Type": media_type, "Docker-Content-Digest": digest}
        if request.method == "HEAD":
            return httpx.Response(200, headers={**headers, "Content-Length": str(len(body))})
        return httpx.Response(200, headers=headers, content=body)

    def _blobs_uploads(self, request: httpx.Request, name: str, rest: str) -> httpx.Response:
        if request.method == "POST":
            upload = secrets.token_hex(4)
            self.uploads[upload] = name
            return httpx.Response(202, headers={"Location": f"/v2/{name}/blobs/uploads/{upload}?_state=x"})
        digest = request.url.params["digest"]
        if hashlib.sha256(request.content).hexdigest() != digest.split(":")[1]:
            return httpx.Response(400, json=_err("DIGEST_INVALID", "digest does not match"))
        self.blobs[(name, digest)] = request.content
        return httpx.Response(201, headers={"Docker-Content-Digest": digest})

    def _blobs(self, request: httpx.Request, name: str, digest: str) -> httpx.Response:
        if (name, digest) not in self.blobs:
            return httpx.Response(404, json=_err("BLOB_UNKNOWN", "blob unknown to registry"))
        data = self.blobs[(name, digest)] + (b"x" if self.corrupt else b"")
        return httpx.Response(200, content=b"" if request.method == "HEAD" else data)

    def _referrers(self, request: httpx.Request, name: str, digest: str) -> httpx.Response:
        found = []
        for (repo, manifest_digest), (body, media_type) in self.manifests.items():
            manifest = json.loads(body)
            if repo == name and (manifest.get("subject") or {}).get("digest") == digest:
                entry = {"mediaType": media_type, "digest": manifest_digest, "size": len(body)}
                for key in ("artifactType", "annotations"):
                    if manifest.get(key):
                        entry[key] = manifest[key]
                found.append(entry)
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": found,
        }
        return httpx.Response(
            200,
            headers={"Content-Type": "application/vnd.oci.image.index.v1+json"},
            content=json.dumps(index).encode(),
        )

    def _tags_list(self, request: httpx.Request, name: str, _: str) -> httpx.Response:
        names = sorted(t for (repo, t) in self.tags if repo == name)
        if not names:
            return httpx.Response(404, json=_err("NAME_UNKNOWN", "repository name not known to registry"))
        last = request.url.params.get("last")
        start = names.index(last) + 1 if last in names else 0
        page = names[start : start + self.page_size]
        headers = {}
        if start + self.page_size < len(names):
            headers["Link"] = f'</v2/{name}/tags/list?n={self.page_size}&last={page[-1]}>; rel="next"'
        return httpx.Response(200, headers=headers, content=json.dumps({"name": name, "tags": page}).encode())


def _err(code: str, message: str = "") -> dict[str, object]:
    return {"errors": [{"code": code, "message": message or code.lower()}]}
