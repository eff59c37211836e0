"""Which key signs: ``signing-secrets`` first (as in Chains), else tektite's own key in the home.

- ``x509`` signer: the Secret ``signing-secrets`` key ``x509.pem``, else ``cosign.key`` +
  ``cosign.password`` (Chains' order). When there is no such Secret, or it holds neither key (Chains'
  installation creates it empty), tektite signs with ``<home>/keys/x509.pem``: an ECDSA P-256 PKCS#8
  key created on first use with mode 0600, announced once through ``notify``.
- ``kms`` signer: ``signers.kms.kmsref`` (a ``pkcs11:`` URI).
- ``none``: no signature.

Loaded signers are cached until the Secret or the kmsref changes (a cosign key costs an scrypt).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from tektite.chains.config import ChainsConfig
from tektite.chains.settings import SECRET_NAME, ChainsSettings
from tektite.chains.signing import NoneSigner, Signer, generate_ecdsa_p256_pem, load_signer
from tektite.errors import SigningError

__all__ = ["HOME_KEY", "SignerSource", "ensure_home_key", "stderr_notice"]

HOME_KEY = Path("keys") / "x509.pem"
_SECRET_KEYS = ("x509.pem", "cosign.key")


def stderr_notice(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def ensure_home_key(home: Path) -> tuple[Path, bool]:
    """``(<home>/keys/x509.pem, created)``. Creation is atomic: two processes racing get one key."""
    path = home / HOME_KEY
    if path.exists():
        return path, False
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(generate_ecdsa_p256_pem())
        try:
            os.link(tmp, path)  # fails if another process made the key first; theirs wins
            created = True
        except FileExistsError:
            created = False
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    except OSError as err:
        raise SigningError(
            f"cannot create the signing key: {err.strerror}", obj=str(err.filename or path)
        ) from None
    return path, created


class SignerSource:
    """Signers by Chains config name, for one tektite home."""

    def __init__(
        self, home: Path, settings: ChainsSettings, notify: Callable[[str], None] = stderr_notice
    ) -> None:
        self.home = home
        self.settings = settings
        self.notify = notify
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], Signer] = {}

    def get(self, kind: str, config: ChainsConfig) -> Signer:
        """The signer for ``artifacts.*.signer: <kind>``."""
        if kind == "none":
            return NoneSigner()
        if kind == "kms":
            return self._cached(("kms", config.signers.kms.kmsref), lambda: self._kms(config))
        version, data = self.settings.secret_data()
        if data is not None and any(k in data for k in _SECRET_KEYS):
            return self._cached((kind, "secret:" + version), lambda: load_signer(kind, secret_data=data))
        return self._cached((kind, "home"), self._home_signer)

    def _kms(self, config: ChainsConfig) -> Signer:
        return load_signer("kms", kmsref=config.signers.kms.kmsref)

    def _cached(self, key: tuple[str, str], make: Callable[[], Signer]) -> Signer:
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                return found
            signer = make()
            # keep one entry per signer kind: a rotated Secret replaces the old key
            for old in [k for k in self._cache if k[0] == key[0]]:
                del self._cache[old]
            self._cache[key] = signer
            return signer

    def _home_signer(self) -> Signer:
        path, created = ensure_home_key(self.home)
        if created:
            self.notify(
                f"chains: created a signing key (ECDSA P-256) at {path}; "
                "`tektite chains public-key` prints its public key "
                f"(a Secret {SECRET_NAME} with x509.pem or cosign.key takes precedence)"
            )
        return load_signer("x509", key_file=path)

    def describe(self, kind: str, config: ChainsConfig) -> str:
        """Where the key for ``kind`` comes from, for messages."""
        if kind == "none":
            return "no signer (artifacts.*.signer: none)"
        if kind == "kms":
            return "signers.kms.kmsref"
        _, data = self.settings.secret_data()
        if data is not None and any(k in data for k in _SECRET_KEYS):
            return f"Secret {SECRET_NAME}"
        return str(self.home / HOME_KEY)
