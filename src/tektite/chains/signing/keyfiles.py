"""Key files on disk, for ``tektite keys generate`` and ``tektite keys public-key KEYFILE``.

Passwords come from ``$COSIGN_PASSWORD`` when it is set (even empty), as cosign does; otherwise
from an interactive prompt, or from standard input when it is not a terminal.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from tektite.chains.signing.base import public_key_pem
from tektite.chains.signing.cosign import (
    ENCRYPTED_PEM_TYPES,
    generate_cosign_keypair,
    load_cosign_private_key,
)
from tektite.errors import AlreadyExists, SigningError, TektiteError

__all__ = ["PASSWORD_ENV", "password_for_keyfile", "public_key_of_keyfile", "read_password", "write_keypair"]

PASSWORD_ENV = "COSIGN_PASSWORD"


def read_password(
    *,
    confirm: bool = False,
    env: Mapping[str, str] | None = None,
    prompt: Callable[[str], str] = getpass.getpass,
    stdin_is_tty: bool | None = None,
) -> bytes:
    """The key password: ``$COSIGN_PASSWORD`` if set, else a prompt (twice when ``confirm``).

    When standard input is not a terminal, everything on it is the password (cosign's behaviour).
    """
    env = os.environ if env is None else env
    if PASSWORD_ENV in env:
        return env[PASSWORD_ENV].encode()
    tty = sys.stdin.isatty() if stdin_is_tty is None else stdin_is_tty
    if not tty:
        return sys.stdin.buffer.read()
    first = prompt("Enter password for private key: ")
    if confirm and prompt("Enter password for private key again: ") != first:
        raise SigningError("passwords do not match; expected the same password twice")
    return first.encode()


def write_keypair(prefix: Path, password: bytes, *, force: bool = False) -> tuple[Path, Path]:
    """Write ``<prefix>.key`` (mode 0600, encrypted cosign key) and ``<prefix>.pub``; return both paths.

    Existing files are not overwritten unless ``force``.
    """
    prefix = Path(prefix)
    key_path, pub_path = prefix.with_name(prefix.name + ".key"), prefix.with_name(prefix.name + ".pub")
    if not force:
        for path in (key_path, pub_path):
            if path.exists():
                raise AlreadyExists(
                    f"{path} already exists; not overwriting it", hint="pass --force to replace it"
                )
    key_pem, pub_pem = generate_cosign_keypair(password)
    try:
        if force and key_path.exists():
            key_path.unlink()
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key_pem)
        pub_path.write_bytes(pub_pem)
    except OSError as err:
        raise TektiteError(f"cannot write the key pair: {err.strerror}", file=err.filename) from None
    return key_path, pub_path


def password_for_keyfile(path: Path) -> bytes | None:
    """The password an encrypted cosign key file needs (:func:`read_password`); None for an
    unencrypted PEM key."""
    try:
        pem = Path(path).read_bytes()
    except OSError as err:
        raise TektiteError(f"cannot read the key file: {err.strerror}", file=str(path)) from None
    return (
        read_password() if any(f"-----BEGIN {t}-----".encode() in pem for t in ENCRYPTED_PEM_TYPES) else None
    )


def public_key_of_keyfile(path: Path, password: bytes | None) -> bytes:
    """The PEM public key of the private key in ``path``.

    ``path`` is an encrypted cosign key (``password`` required) or an unencrypted PEM private key.
    A wrong password raises ``SigningError("wrong password for <path> ...")``.
    """
    path = Path(path)
    try:
        pem = path.read_bytes()
    except OSError as err:
        raise TektiteError(f"cannot read the key file: {err.strerror}", file=str(path)) from None
    if any(f"-----BEGIN {t}-----".encode() in pem for t in ENCRYPTED_PEM_TYPES):
        if password is None:
            raise SigningError(f"the key is encrypted; expected a password (${PASSWORD_ENV})", file=str(path))
        key = load_cosign_private_key(pem, password, where=str(path))
    else:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise SigningError(
                "not a private key; expected an encrypted cosign key or an unencrypted PEM private key",
                file=str(path),
            ) from None
    return public_key_pem(key.public_key())
