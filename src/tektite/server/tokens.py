"""Bearer tokens for ``tektite serve``: stored hashed (sha256) in ``<home>/tokens.json`` (mode 0600).

A token is shown once, when it is created; the file only keeps its sha256, its name and its role.
The CLI (``tektite token create|list|delete``) and a running server share the file: the server
re-reads it when its modification time changes, so new and deleted tokens take effect at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from tektite.core.conditions import now
from tektite.errors import AlreadyExists, FieldError, NotFound, TektiteError, ValidationError

TOKEN_PREFIX = "tkt_"
TOKENS_FILE = "tokens.json"
ADMIN_TOKEN_FILE = "admin-token"
BOOTSTRAP_NAME = "bootstrap-admin"
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")


class Role(StrEnum):
    """``admin`` may do everything; ``edit`` may also start, cancel and delete runs; ``view`` reads."""

    ADMIN = "admin"
    EDIT = "edit"
    VIEW = "view"

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls(value)
        except ValueError:
            raise ValidationError(
                [FieldError(("role",), "unknown role", "one of admin, edit, view", repr(value))]
            ) from None


@dataclass(frozen=True)
class TokenRecord:
    name: str
    role: Role
    sha256: str
    created: str

    def public(self) -> dict[str, str]:
        """What ``token list`` shows: never the hash."""
        return {"name": self.name, "role": str(self.role), "created": self.created}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600 from the first byte."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


class TokenStore:
    """The token file of one tektite home."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / TOKENS_FILE
        self._cache: tuple[float, int, dict[str, TokenRecord]] | None = None

    # -- file access ------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        lock = self.home / ".tokens.lock"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _read(self) -> dict[str, TokenRecord]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        if self._cache and self._cache[0] == st.st_mtime and self._cache[1] == st.st_size:
            return self._cache[2]
        try:
            raw: Any = json.loads(self.path.read_text() or "{}")
            records = {
                r["name"]: TokenRecord(r["name"], Role(r["role"]), r["sha256"], r.get("created", ""))
                for r in raw.get("tokens", [])
            }
        except (ValueError, KeyError, TypeError) as exc:
            raise TektiteError(
                f"{self.path}: cannot read the token file ({exc}); expected JSON "
                '{"tokens": [{"name", "role", "sha256", "created"}]}'
            ) from None
        self._cache = (st.st_mtime, st.st_size, records)
        return records

    def _write(self, records: dict[str, TokenRecord]) -> None:
        body = {"tokens": [{**asdict(r), "role": str(r.role)} for r in records.values()]}
        _write_private(self.path, json.dumps(body, indent=2) + "\n")
        self._cache = None

    # -- public -----------------------------------------------------------------------------
    def list(self) -> list[TokenRecord]:
        return sorted(self._read().values(), key=lambda r: r.name)

    def create(self, role: Role | str, name: str | None = None) -> tuple[TokenRecord, str]:
        """Make a token; returns its record and the token text (the only time it is visible)."""
        role = Role.parse(str(role))
        with self._locked():
            records = dict(self._read())
            if name is None:
                name = f"{role}-{secrets.token_hex(3)}"
            if not _NAME_RE.match(name):
                expected = "lowercase letters, digits, '-' and '.'"
                raise ValidationError([FieldError(("name",), "invalid token name", expected, repr(name))])
            if name in records:
                raise AlreadyExists(f'token "{name}" already exists; delete it first or pick another --name')
            token = TOKEN_PREFIX + secrets.token_urlsafe(32)
            record = TokenRecord(name, role, hash_token(token), now())
            records[name] = record
            self._write(records)
        return record, token

    def delete(self, name: str) -> TokenRecord:
        with self._locked():
            records = dict(self._read())
            if name not in records:
                known = ", ".join(sorted(records)) or "none"
                raise NotFound(f'token "{name}" not found; tokens are: {known}')
            record = records.pop(name)
            self._write(records)
        return record

    def lookup(self, token: str) -> TokenRecord | None:
        """The record whose hash matches ``token`` (compared in constant time), or None."""
        digest = hash_token(token)
        found = None
        for record in self._read().values():
            if hmac.compare_digest(record.sha256, digest):
                found = record
        return found

    def bootstrap(self) -> str | None:
        """On a home without tokens: create an admin token, write it to ``<home>/admin-token``
        (mode 0600) and return it so ``serve`` can print it once. Otherwise None."""
        if self.list():
            return None
        _record, token = self.create(Role.ADMIN, BOOTSTRAP_NAME)
        _write_private(self.home / ADMIN_TOKEN_FILE, token + "\n")
        return token
