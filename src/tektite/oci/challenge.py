"""Registry authentication as an ``httpx.Auth`` flow: anonymous, basic, and bearer token challenges.

The flow sends a request; on ``401`` it reads ``WWW-Authenticate``. ``Basic`` -> resend with the
registry's credentials. ``Bearer realm=...,service=...,scope=...`` -> fetch a token from the realm
(with basic credentials, or an OAuth2 refresh-token grant for a docker ``identitytoken``), then resend
with ``Authorization: Bearer``. Tokens are cached per registry and scope, so later requests for the same
repository and action go out authorized the first time. Tokens and passwords are never logged.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Generator
from dataclasses import dataclass

import httpx

from tektite.errors import Unauthorized
from tektite.oci.auth import Credentials

__all__ = ["Challenge", "RegistryAuth", "parse_challenge", "scope_for"]

_PARAM = re.compile(r'([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
_REPO_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags)/")


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: "basic" or "bearer"
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """Parse one ``WWW-Authenticate`` value: ``Bearer realm="...",service="...",scope="..."``."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM.finditer(rest)
    }
    params = {k: v.replace('\\"', '"') for k, v in params.items()}
    return Challenge(scheme=scheme.lower(), params=params)


def scope_for(request: httpx.Request) -> str | None:
    """``repository:<name>:pull`` for reads, ``repository:<name>:pull,push`` for writes."""
    match = _REPO_PATH.match(request.url.path)
    if not match:
        return None
    actions = "pull" if request.method in ("GET", "HEAD") else "pull,push"
    return f"repository:{match.group('name')}:{actions}"


def _basic_header(creds: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()


class RegistryAuth(httpx.Auth):
    """One registry's auth state; attach to every request sent to that registry."""

    requires_response_body = True

    def __init__(self, registry: str, credentials: Credentials | None) -> None:
        self.registry = registry
        self.credentials = credentials
        self._basic = False
        self._tokens: dict[str, str] = {}

    def _apply_cached(self, request: httpx.Request) -> bool:
        if self._basic and self.credentials is not None:
            request.headers["Authorization"] = _basic_header(self.credentials)
            return True
        token = self._tokens.get(scope_for(request) or "")
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
            return True
        return False

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        had_auth = self._apply_cached(request)
        response = yield request
        if response.status_code != 401:
            return
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None:
            return
        if challenge.scheme == "basic":
            if self.credentials is None or (had_auth and self._basic):
                return  # no credentials, or they were already refused: the caller reports the 401
            self._basic = True
            self._apply_cached(request)
            yield request
        elif challenge.scheme == "bearer":
            scope = challenge.params.get("scope") or scope_for(request)
            token_request = self._token_request(challenge, scope)
            token_response = yield token_request
            token = self._read_token(token_response)
            key = scope_for(request) or ""
            self._tokens[key] = token
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def _token_request(self, challenge: Challenge, scope: str | None) -> httpx.Request:
        realm = challenge.params.get("realm")
        if not realm:
            raise Unauthorized(f"registry {self.registry} sent a Bearer challenge without a realm")
        params: dict[str, str] = {}
        if challenge.params.get("service"):
            params["service"] = challenge.params["service"]
        if scope:
            params["scope"] = scope
        creds = self.credentials
        if creds is not None and creds.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": creds.identity_token,
                "client_id": "tektite",
            }
            return httpx.Request("POST", realm, data={**form, **params})
        headers = {}
        if creds is not None:
            headers["Authorization"] = _basic_header(creds)
        return httpx.Request("GET", realm, params=params, headers=headers)

    def _read_token(self, response: httpx.Response) -> str:
        realm = f"{response.request.url.scheme}://{response.request.url.host}{response.request.url.path}"
        if response.status_code in (401, 403):
            who = "the given credentials" if self.credentials else "anonymous access"
            raise Unauthorized(
                f"registry {self.registry}: token service {realm} refused {who} (HTTP {response.status_code})",
                hint=f"check the docker config entry for {self.registry}",
            )
        if response.status_code != 200:
            raise Unauthorized(
                f"registry {self.registry}: token service {realm} answered HTTP {response.status_code}"
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise Unauthorized(
                f"registry {self.registry}: token service {realm} answered without a token; "
                'expected JSON with "token" or "access_token"'
            )
        return token
