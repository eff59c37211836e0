"""Where Chains' configuration comes from: the ``chains-config`` ConfigMap and ``signing-secrets``.

Both are looked up in the namespace ``tekton-chains`` first (where Chains keeps them), then in
``default`` (where a tektite user applies things without ``-n``). The first one found is used
whole; the two are never merged. Parsed values are cached until the object's resourceVersion
changes (callers call :meth:`ChainsSettings.invalidate` when they see a change).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tektite.chains.config import CONFIGMAP, ChainsConfig
from tektite.core.secrets import secret_data

__all__ = ["CHAINS_NAMESPACES", "SECRET_NAME", "ChainsSettings"]

CHAINS_NAMESPACES = ("tekton-chains", "default")
SECRET_NAME = "signing-secrets"

JSON = dict[str, Any]
Getter = Callable[[str, str, str], JSON | None]  # (kind, name, namespace)


def _version(obj: JSON | None) -> str:
    if obj is None:
        return ""
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('uid', '')}/{meta.get('resourceVersion', '')}"


class ChainsSettings:
    """The parsed ``chains-config`` and the ``signing-secrets`` data, cached by resourceVersion."""

    def __init__(self, get: Getter) -> None:
        self._get = get
        self._lock = threading.Lock()
        self._config: tuple[str, ChainsConfig] | None = None
        self._secret: tuple[str, dict[str, bytes] | None] | None = None

    def find(self, kind: str, name: str) -> JSON | None:
        for namespace in CHAINS_NAMESPACES:
            obj = self._get(kind, name, namespace)
            if obj is not None:
                return obj
        return None

    def config(self) -> ChainsConfig:
        """The effective config; raises the config's ValidationError/NotSupported when it is bad."""
        with self._lock:
            if self._config is not None:
                return self._config[1]
        cm = self.find("ConfigMap", CONFIGMAP)
        data = {str(k): v for k, v in ((cm or {}).get("data") or {}).items()}
        config = ChainsConfig.from_configmap_data(data)
        with self._lock:
            self._config = (_version(cm), config)
        return config

    def secret_data(self) -> tuple[str, dict[str, bytes] | None]:
        """``(version, data)`` of ``signing-secrets``; data is None when there is no such Secret."""
        with self._lock:
            if self._secret is not None:
                return self._secret
        secret = self.find("Secret", SECRET_NAME)
        value = (_version(secret), secret_data(secret) if secret is not None else None)
        with self._lock:
            self._secret = value
        return value

    def invalidate(self, kind: str, name: str) -> None:
        """Forget a cached object after an event about it."""
        with self._lock:
            if kind == "ConfigMap" and name == CONFIGMAP:
                self._config = None
            elif kind == "Secret" and name == SECRET_NAME:
                self._secret = None

    def invalidate_all(self) -> None:
        with self._lock:
            self._config = None
            self._secret = None
