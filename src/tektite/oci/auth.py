"""Registry credentials from docker config JSON, as ``docker login`` and Kubernetes write them.

Sources: a ``config.json`` file (``{"auths": {"host": {"auth": base64(user:pass)}}}`` or
``username``/``password``), the bytes of a ``kubernetes.io/dockerconfigjson`` Secret's
``.dockerconfigjson`` (or the legacy ``.dockercfg`` map without ``auths``), or a whole Secret object.
Credential helpers (``credsStore``/``credHelpers``) are not run; a registry served only by a helper is
accessed anonymously.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tektite.errors import FieldError, NotFound, ValidationError
from tektite.oci.reference import DEFAULT_REGISTRY, DOCKER_HUB_ALIASES

__all__ = ["Credentials", "DockerConfig", "normalize_registry"]

SECRET_TYPES = {
    "kubernetes.io/dockerconfigjson": ".dockerconfigjson",
    "kubernetes.io/dockercfg": ".dockercfg",
}


@dataclass(frozen=True)
class Credentials:
    """A username and password (or token) for one registry. The password never shows in ``repr``."""

    username: str
    password: str = field(repr=False)
    identity_token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***)"


def normalize_registry(key: str) -> str:
    """``https://index.docker.io/v1/`` -> ``index.docker.io``; ``http://host:5000/v2/`` -> ``host:5000``."""
    host = key.strip()
    if "://" in host:
        host = host.split("://", 1)[1]
    host = host.split("/", 1)[0].lower()
    return DEFAULT_REGISTRY if host in DOCKER_HUB_ALIASES else host


def _entry_credentials(entry: Any, where: str) -> Credentials | None:
    if not isinstance(entry, Mapping):
        raise ValidationError(
            [FieldError((), f"{where}: registry entry must be an object", "object", type(entry).__name__)]
        )
    username = entry.get("username") or ""
    password = entry.get("password") or ""
    auth = entry.get("auth")
    if auth:
        try:
            decoded = base64.b64decode(str(auth), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ValidationError(
                [
                    FieldError(
                        (),
                        f"{where}.auth: not valid base64",
                        "base64 of 'username:password'",
                        "undecodable text",
                    )
                ]
            ) from None
        if ":" not in decoded:
            raise ValidationError(
                [
                    FieldError(
                        (),
                        f"{where}.auth: decoded value has no ':'",
                        "base64 of 'username:password'",
                        "no separator",
                    )
                ]
            )
        username, password = decoded.split(":", 1)
    token = entry.get("identitytoken") or None
    if not username and not password and not token:
        return None
    return Credentials(username=str(username), password=str(password), identity_token=token)


@dataclass
class DockerConfig:
    """Credentials by registry host, merged from one or more docker config sources."""

    auths: dict[str, Credentials] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    @classmethod
    def from_bytes(cls, data: bytes | str, *, source: str = "docker config") -> DockerConfig:
        """Parse docker config JSON (``{"auths": {...}}``, or the legacy bare map of ``.dockercfg``)."""
        try:
            doc = json.loads(data)
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            raise ValidationError(
                [FieldError((), problem, "docker config JSON", "unparseable text")], file=source
            ) from None
        except UnicodeDecodeError:
            raise ValidationError(
                [FieldError((), "not UTF-8 text", "docker config JSON", "binary data")], file=source
            ) from None
        if not isinstance(doc, Mapping):
            raise ValidationError(
                [FieldError((), "top level must be an object", '{"auths": {...}}', type(doc).__name__)],
                file=source,
            )
        auths = doc.get("auths", None)
        if auths is None:
            # Legacy .dockercfg: the map itself; a modern file without auths has none.
            auths = {
                k: v for k, v in doc.items() if isinstance(v, Mapping) and ("auth" in v or "username" in v)
            }
        if not isinstance(auths, Mapping):
            raise ValidationError(
                [
                    FieldError(
                        ("auths",),
                        "must be an object",
                        "map of registry to credentials",
                        type(auths).__name__,
                    )
                ],
                file=source,
            )
        config = cls(sources=[source])
        for key, entry in auths.items():
            creds = _entry_credentials(entry, f"{source}: auths[{key!r}]")
            if creds is not None:
                config.auths.setdefault(normalize_registry(str(key)), creds)
        return config

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> DockerConfig:
        p = Path(path)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"docker config file {str(p)!r} does not exist") from None
        except OSError as exc:
            raise NotFound(f"docker config file {str(p)!r} cannot be read: {exc.strerror}") from None
        return cls.from_bytes(data, source=str(p))

    @classmethod
    def from_secret(cls, secret: Mapping[str, Any]) -> DockerConfig:
        """From a Secret object of type ``kubernetes.io/dockerconfigjson`` (or ``dockercfg``).

        Reads ``data`` (base64) or ``stringData`` (plain).
        """
        meta = secret.get("metadata") or {}
        name = f'Secret "{meta.get("namespace", "default")}/{meta.get("name", "?")}"'
        stype = secret.get("type")
        key = SECRET_TYPES.get(str(stype))
        if key is None:
            raise ValidationError(
                [
                    FieldError(
                        ("type",), "not a registry credential secret", " or ".join(SECRET_TYPES), repr(stype)
                    )
                ],
                obj=name,
            )
        string_data = secret.get("stringData") or {}
        data = secret.get("data") or {}
        if key in string_data:
            raw: bytes = str(string_data[key]).encode()
        elif key in data:
            try:
                raw = base64.b64decode(str(data[key]), validate=True)
            except binascii.Error:
                raise ValidationError(
                    [FieldError(("data", key), "not valid base64", "base64", "undecodable text")], obj=name
                ) from None
        else:
            raise ValidationError(
                [FieldError(("data", key), "missing", f"key {key!r}", "no such key")], obj=name
            )
        return cls.from_bytes(raw, source=f"{name} {key}")

    @classmethod
    def default(cls) -> DockerConfig:
        """``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``; empty when neither exists."""
        base = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
        path = Path(base) / "config.json"
        return cls.from_file(path) if path.is_file() else cls()

    @classmethod
    def merged(cls, configs: Iterable[DockerConfig]) -> DockerConfig:
        """Earlier configs win for a registry present in several (like Tekton's credential init)."""
        out = cls()
        for config in configs:
            for host, creds in config.auths.items():
                out.auths.setdefault(host, creds)
            out.sources.extend(config.sources)
        return out

    def credentials_for(self, registry: str) -> Credentials | None:
        return self.auths.get(normalize_registry(registry))

    def __repr__(self) -> str:
        return f"DockerConfig(registries={sorted(self.auths)}, sources={self.sources})"
