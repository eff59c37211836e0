"""How reconcilers read other objects (Secrets, ConfigMaps, Tasks...) without owning a store."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tektite.errors import TektiteError

JSON = dict[str, Any]
Getter = Callable[[str, str, str], JSON | None]  # (kind, name, namespace) -> object or None


class RunSetupError(TektiteError):
    """A run cannot start: the reconciler marks it failed with ``reason``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Paths:
    """Where a run's files live on the host (all under the tektite home)."""

    home: Path

    def __post_init__(self) -> None:
        self._runs = self.home / "runs"

    def claim_dir(self, namespace: str, claim: str) -> Path:
        return self.home / "claims" / namespace / claim

    def caches_dir(self) -> Path:
        """Where keyed workspace caches are kept (controller/caches.py)."""
        return self.home / "caches"

    def taskrun_dir(self, namespace: str, name: str, uid: str) -> Path:
        return self._runs / namespace / f"{name}-{uid[:8]}"

    def spare_runs_dir(self) -> Path:
        """Where the engine keeps spare run directories (no namespace starts with a dot)."""
        return self.home / "runs" / ".spare"


@dataclass
class Secrets:
    """Secret values seen while preparing a run: masked in its logs."""

    values: list[str] = field(default_factory=list)

    def add(self, value: str) -> None:
        if value and value not in self.values:
            self.values.append(value)


def configmap_data(cm: JSON) -> dict[str, bytes]:
    out = {k: str(v).encode() for k, v in (cm.get("data") or {}).items()}
    for k, v in (cm.get("binaryData") or {}).items():
        out[k] = base64.b64decode(v)
    return out
