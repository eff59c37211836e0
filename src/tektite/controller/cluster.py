"""The "cluster" a user talks to: a store, a home directory, config, and admission.

Both the CLI and the server go through this facade: ``apply`` validates like Tekton's webhook
before anything is stored; ``delete`` also removes run directories, logs and claims.
"""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tektite.api.loader import Document
from tektite.api.scheme import KINDS
from tektite.api.structure import Parsed, parse
from tektite.controller.config import CONFIG_NAMESPACES, Config
from tektite.controller.lookup import Paths
from tektite.core.defaults import set_defaults
from tektite.core.durations import format_duration
from tektite.core.validation import validate
from tektite.errors import AlreadyExists, NotFound, TektiteError
from tektite.store.base import DEFAULT_NAMESPACE, Store
from tektite.store.sql import SQLStore

JSON = dict[str, Any]


def default_home() -> Path:
    env = os.environ.get("TEKTITE_HOME")
    if env:
        return Path(env).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "tektite"


def open_store(home: Path, url: str | None = None) -> Store:
    """``TEKTITE_DATABASE_URL`` (e.g. ``postgresql+psycopg://...``) or SQLite in the home."""
    url = url or os.environ.get("TEKTITE_DATABASE_URL")
    if not url:
        home.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{home / 'tektite.db'}"
    return SQLStore(url)


@dataclass
class Applied:
    obj: JSON
    action: str  # "created", "configured", "unchanged"

    def describe(self) -> str:
        kind = self.obj["kind"].lower()
        group = KINDS[self.obj["kind"]].group if self.obj["kind"] in KINDS else ""
        qual = f"{kind}.{group}" if group else kind
        return f"{qual}/{self.obj['metadata']['name']} {self.action}"


class Cluster:
    def __init__(self, home: Path | None = None, store: Store | None = None) -> None:
        self.home = (home or default_home()).expanduser()
        self.home.mkdir(parents=True, exist_ok=True)
        self.store = store or open_store(self.home)
        self.paths = Paths(self.home)

    # -- config -------------------------------------------------------------------------------
    def configmap(self, name: str) -> dict[str, str]:
        for ns in CONFIG_NAMESPACES:
            cm = self.store.try_get("ConfigMap", name, ns)
            if cm is not None:
                return {k: str(v) for k, v in (cm.get("data") or {}).items()}
        return {}

    def config(self) -> Config:
        return Config.from_data(self.configmap("feature-flags"), self.configmap("config-defaults"))

    # -- admission ------------------------------------------------------------------------------
    def admit(self, obj: JSON, doc: Document | None = None, namespace: str | None = None) -> Parsed:
        """Structural + semantic validation (raises ``ValidationError``); namespace defaulting."""
        parsed = parse(obj, doc.source if doc else None)
        if namespace and parsed.kind.namespaced:
            parsed.obj.setdefault("metadata", {})
            meta = parsed.obj["metadata"]
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise TektiteError(
                    f'{parsed.kind.kind} "{meta.get("name")}": namespace "{meta["namespace"]}" does '
                    f'not match the requested namespace "{namespace}"'
                )
            meta["namespace"] = namespace
        config = self.config()
        if parsed.kind.group == "tekton.dev" and parsed.model is not None:
            # Tekton's defaulting webhook runs before its validating one
            set_defaults(
                parsed.obj,
                timeout=format_duration(config.default_timeout),
                service_account=config.default_service_account,
                managed_by=config.defaults.get("default-managed-by-label-value") or "tekton-pipelines",
            )
            parsed = parse(parsed.obj, parsed.source)
        validate(parsed, config.flags)
        if parsed.kind.kind == "PipelineRun":
            label_pipeline(parsed.obj)
        return parsed

    def apply(self, docs: Iterable[Document], namespace: str | None = None) -> list[Applied]:
        """Validate every document first; store nothing if any is invalid. Then create or update."""
        parsed = [self.admit(d.obj, d, namespace) for d in docs]
        return [self.apply_one(p.obj) for p in parsed]

    def apply_one(self, obj: JSON) -> Applied:
        meta = obj.get("metadata") or {}
        if not meta.get("name"):
            return Applied(self.store.create(obj), "created")
        current = self.store.try_get(obj["kind"], meta["name"], meta.get("namespace") or DEFAULT_NAMESPACE)
        if current is None:
            try:
                return Applied(self.store.create(obj), "created")
            except AlreadyExists:
                current = self.store.get(
                    obj["kind"], meta["name"], meta.get("namespace") or DEFAULT_NAMESPACE
                )
        merged = copy.deepcopy(obj)
        mmeta = merged.setdefault("metadata", {})
        mmeta["resourceVersion"] = current["metadata"]["resourceVersion"]
        if "status" in current:
            merged["status"] = current["status"]
        same = (
            {k: v for k, v in merged.items() if k != "metadata"}
            == {k: v for k, v in current.items() if k != "metadata"}
            and (mmeta.get("labels") or {}) == (current["metadata"].get("labels") or {})
            and (mmeta.get("annotations") or {}) == (current["metadata"].get("annotations") or {})
        )
        if same:
            return Applied(current, "unchanged")
        for key in ("finalizers", "ownerReferences"):
            if key in current["metadata"] and key not in mmeta:
                mmeta[key] = current["metadata"][key]
        return Applied(self.store.update(merged), "configured")

    def create(self, obj: JSON, namespace: str | None = None) -> JSON:
        parsed = self.admit(obj, None, namespace)
        return self.store.create(parsed.obj)

    # -- deletion -------------------------------------------------------------------------------
    def delete(self, kind: str, name: str, namespace: str | None = DEFAULT_NAMESPACE) -> list[JSON]:
        result = self.store.delete(kind, name, namespace)
        for obj in result.deleted:
            self.cleanup(obj)
        return result.deleted + result.pending

    def cleanup(self, obj: JSON) -> None:
        """Remove what a deleted object owned on disk: a TaskRun's directory, a claim's data."""
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace", DEFAULT_NAMESPACE)
        if obj.get("kind") == "TaskRun":
            shutil.rmtree(self.paths.taskrun_dir(ns, meta["name"], meta.get("uid", "")), ignore_errors=True)
        elif obj.get("kind") == "PersistentVolumeClaim":
            shutil.rmtree(self.paths.claim_dir(ns, meta["name"]), ignore_errors=True)

    def get(self, kind: str, name: str, namespace: str | None = DEFAULT_NAMESPACE) -> JSON:
        return self.store.get(kind, name, namespace)

    def getter(self) -> Any:
        def get(kind: str, name: str, namespace: str) -> JSON | None:
            try:
                return self.store.try_get(kind, name, namespace or DEFAULT_NAMESPACE)
            except NotFound:
                return None

        return get

    def close(self) -> None:
        self.store.close()


def label_pipeline(pr: JSON) -> None:
    """Tekton's controller labels a PipelineRun ``tekton.dev/pipeline``: the Pipeline's name, or
    the run's own name for an embedded spec (set here, at admission, so lists can filter on it)."""
    spec = pr.get("spec") or {}
    meta = pr.setdefault("metadata", {})
    ref = spec.get("pipelineRef") or {}
    name = ref.get("name") if not ref.get("resolver") else None
    if not name and spec.get("pipelineSpec") is not None:
        name = meta.get("name")
    if name:
        meta.setdefault("labels", {}).setdefault("tekton.dev/pipeline", name)
