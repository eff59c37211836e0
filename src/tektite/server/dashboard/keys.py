"""The public key a run's provenance should verify with: the one Tekton Chains signs with.

Looked up the way tektite's Chains finds its signing key: the ``signing-secrets`` Secret
(namespace ``tekton-chains``, then ``default``) - its ``cosign.pub`` as is, else the public half of
``x509.pem`` or of ``cosign.key`` + ``cosign.password`` (read on the server, never sent) - and
when the Secret holds no key, the key Chains made in the home (``<home>/keys/x509.pem``). With
``artifacts.<kind>.signer: kms`` in ``chains-config``, the public key is read from the token.
Results are cached until the Secret, the ConfigMap or the home key changes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from tektite.chains.config import CONFIGMAP, ChainsConfig
from tektite.chains.keys import HOME_KEY
from tektite.chains.settings import CHAINS_NAMESPACES, SECRET_NAME
from tektite.chains.signing import load_signer
from tektite.core.secrets import secret_data
from tektite.errors import TektiteError
from tektite.store.base import Store
from tektite.verify.keys import load_public_key

JSON = dict[str, Any]
SECRET = SECRET_NAME
NAMESPACES = CHAINS_NAMESPACES  # where the Chains watcher looks, so both find the same Secret
_PRIVATE_KEYS = ("x509.pem", "cosign.key")


@dataclass(frozen=True)
class PublicKeys:
    """The keys to try (``(where, key)``), or why there are none."""

    keys: tuple[tuple[str, PublicKeyTypes], ...]
    problem: str | None = None


def _first(store: Store, kind: str, name: str) -> JSON | None:
    for ns in NAMESPACES:
        found = store.try_get(kind, name, ns)
        if found is not None:
            return found
    return None


def _chains_config(cm: JSON | None) -> tuple[ChainsConfig | None, str | None]:
    data: Mapping[str, str] = {k: str(v) for k, v in ((cm or {}).get("data") or {}).items()}
    try:
        return ChainsConfig.from_configmap_data(data), None
    except TektiteError as exc:
        return None, f"ConfigMap {CONFIGMAP} is invalid: {exc.message}"


def _home_key(home: Path | None) -> PublicKeys:
    """The key tektite's Chains creates in the home when no Secret holds one. Named relative to
    the home in messages: viewers need not learn the server's paths."""
    shown = f"<home>/{HOME_KEY}"
    path = home / HOME_KEY if home is not None else None
    if path is None or not path.is_file():
        return PublicKeys(
            (),
            f"no Secret {SECRET} with a key in namespaces {', '.join(NAMESPACES)}, and no key made by "
            f"Chains at {shown}: there is no key to verify with",
        )
    try:
        key = load_signer("x509", key_file=path).public_key()
    except TektiteError:
        return PublicKeys((), f"{shown}: cannot read the key Chains made")
    return PublicKeys(((f"tektite's Chains key ({shown})", key),) if key is not None else ())


def find_public_keys(store: Store, run_kind: str, home: Path | None = None) -> PublicKeys:
    """The key(s) Chains would have signed a ``run_kind`` with (uncached)."""
    secret = _first(store, "Secret", SECRET)
    config, problem = _chains_config(_first(store, "ConfigMap", CONFIGMAP))
    if problem:
        return PublicKeys((), problem)
    assert config is not None
    artifact = config.artifacts.pipelineruns if run_kind == "PipelineRun" else config.artifacts.taskruns
    if artifact.signer == "none":
        return PublicKeys(
            (), f"chains-config sets artifacts.{run_kind.lower()}.signer to none: nothing is signed"
        )
    if artifact.signer == "kms":
        try:
            key = load_signer("kms", kmsref=config.signers.kms.kmsref).public_key()
        except TektiteError as exc:
            return PublicKeys((), f"cannot read the kms signer's public key: {exc.message}")
        return PublicKeys((("kms signer (signers.kms.kmsref)", key),) if key is not None else ())
    data = secret_data(secret) if secret is not None else {}
    if secret is None or not any(k in data for k in _PRIVATE_KEYS):
        return _home_key(home)
    where = f"Secret {secret['metadata'].get('namespace')}/{SECRET}"
    if "cosign.pub" in data:
        try:
            return PublicKeys(((f"{where} cosign.pub", load_public_key(data["cosign.pub"], source=where)),))
        except TektiteError as exc:
            return PublicKeys((), f"{where}: cosign.pub: {exc.message}")
    try:
        signer = load_signer("x509", secret_data=data)
    except TektiteError as exc:
        return PublicKeys((), f"{where}: {exc.message}")
    key = signer.public_key()
    which = "x509.pem" if "x509.pem" in data else "cosign.key"
    return PublicKeys(((f"{where} ({which})", key),) if key is not None else ())


class KeyCache:
    """:func:`find_public_keys`, recomputed only when the Secret or chains-config changed."""

    def __init__(self, store: Store, home: Path | None = None) -> None:
        self.store = store
        self.home = home
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], PublicKeys] = {}

    def _version(self) -> str:
        parts = []
        for kind, name in (("Secret", SECRET), ("ConfigMap", CONFIGMAP)):
            obj = _first(self.store, kind, name)
            meta = (obj or {}).get("metadata") or {}
            parts.append(f"{meta.get('uid')}@{meta.get('resourceVersion')}")
        if self.home is not None:
            try:
                parts.append(str((self.home / HOME_KEY).stat().st_mtime_ns))
            except OSError:
                parts.append("-")
        return "|".join(parts)

    def get(self, run_kind: str) -> PublicKeys:
        version = self._version()
        with self._lock:
            found = self._cache.get((run_kind, version))
            if found is None:
                found = find_public_keys(self.store, run_kind, self.home)
                self._cache = {k: v for k, v in self._cache.items() if k[1] == version}
                self._cache[(run_kind, version)] = found
            return found
