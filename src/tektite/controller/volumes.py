"""Workspaces and volumes -> host directories mounted into a run's containers.

emptyDir: a directory of the attempt. persistentVolumeClaim: a named directory under the home
that outlives runs. volumeClaimTemplate: a fresh directory removed with its owner. configMap,
secret, projected: files written read-only into the attempt. Secret values are recorded for
masking.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tektite.controller.lookup import Getter, Paths, RunSetupError, Secrets, configmap_data
from tektite.core.secrets import secret_data
from tektite.executor.plan import Mount

JSON = dict[str, Any]


@dataclass
class Source:
    host: Path
    read_only: bool = False
    claim: str = ""


def _write_items(
    target: Path, data: dict[str, bytes], items: list[JSON] | None, mode: int | None, what: str
) -> None:
    target.mkdir(parents=True, exist_ok=True)
    pairs: list[tuple[str, bytes, int | None]] = []
    if items:
        for item in items:
            key = item.get("key", "")
            if key not in data:
                raise RunSetupError("CreateContainerConfigError", f'{what}: key "{key}" not found')
            pairs.append((item.get("path") or key, data[key], item.get("mode")))
    else:
        pairs = [(k, v, None) for k, v in data.items()]
    for rel, content, item_mode in pairs:
        dest = (target / rel).resolve()
        if not dest.is_relative_to(target.resolve()):
            raise RunSetupError("CreateContainerConfigError", f'{what}: item path "{rel}" escapes the volume')
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(content)
        os.chmod(dest, item_mode or mode or 0o644)


def _secret(
    name: str, namespace: str, get: Getter, secrets: Secrets, optional: bool
) -> dict[str, bytes] | None:
    obj = get("Secret", name, namespace)
    if obj is None:
        if optional:
            return None
        raise RunSetupError(
            "CreateContainerConfigError", f'secret "{name}" not found in namespace "{namespace}"'
        )
    data = secret_data(obj)
    for v in data.values():
        try:
            secrets.add(v.decode())
        except UnicodeDecodeError:
            pass
    return data


def _configmap(name: str, namespace: str, get: Getter, optional: bool) -> dict[str, bytes] | None:
    obj = get("ConfigMap", name, namespace)
    if obj is None:
        if optional:
            return None
        raise RunSetupError(
            "CreateContainerConfigError", f'configmap "{name}" not found in namespace "{namespace}"'
        )
    return configmap_data(obj)


def materialize(
    kind: str,
    spec: JSON,
    *,
    name: str,
    target: Path,
    namespace: str,
    get: Getter,
    paths: Paths,
    secrets: Secrets,
    vct_claim: str | None = None,
) -> Source:
    """Make the host directory for one volume source. ``kind`` is the source's field name."""
    if kind == "emptyDir":
        target.mkdir(parents=True, exist_ok=True)
        return Source(target)
    if kind == "persistentVolumeClaim":
        claim = spec.get("claimName", "")
        if not claim:
            raise RunSetupError(
                "InvalidWorkspaceBindings", f'volume "{name}": persistentVolumeClaim.claimName is required'
            )
        d = paths.claim_dir(namespace, claim)
        d.mkdir(parents=True, exist_ok=True)
        return Source(d, bool(spec.get("readOnly")), claim)
    if kind == "volumeClaimTemplate":
        claim = vct_claim or f"{(spec.get('metadata') or {}).get('name') or 'pvc'}-{name}"
        d = paths.claim_dir(namespace, claim)
        d.mkdir(parents=True, exist_ok=True)
        return Source(d, False, claim)
    if kind == "secret":
        sname = spec.get("secretName", "")
        data = _secret(sname, namespace, get, secrets, bool(spec.get("optional")))
        _write_items(target, data or {}, spec.get("items"), spec.get("defaultMode"), f'secret "{sname}"')
        return Source(target, True)
    if kind == "configMap":
        cname = spec.get("name", "")
        data = _configmap(cname, namespace, get, bool(spec.get("optional")))
        _write_items(target, data or {}, spec.get("items"), spec.get("defaultMode"), f'configmap "{cname}"')
        return Source(target, True)
    if kind == "projected":
        target.mkdir(parents=True, exist_ok=True)
        for src in spec.get("sources") or []:
            if "secret" in src:
                s = src["secret"]
                data = _secret(s.get("name", ""), namespace, get, secrets, bool(s.get("optional")))
                _write_items(
                    target, data or {}, s.get("items"), spec.get("defaultMode"), f'secret "{s.get("name")}"'
                )
            elif "configMap" in src:
                c = src["configMap"]
                data = _configmap(c.get("name", ""), namespace, get, bool(c.get("optional")))
                _write_items(
                    target,
                    data or {},
                    c.get("items"),
                    spec.get("defaultMode"),
                    f'configmap "{c.get("name")}"',
                )
        return Source(target, True)
    if kind == "hostPath":
        # Host paths are visible read-only: nothing a step writes may escape its run's directories.
        return Source(Path(spec.get("path", "/")), True)
    raise RunSetupError(
        "CreateContainerConfigError",
        f'volume "{name}": {kind} volumes are not supported by '
        "tektite (supported: emptyDir, persistentVolumeClaim, volumeClaimTemplate, configMap, "
        "secret, projected, hostPath read-only, and csi with driver cache.tektite.dev: a keyed cache)",
    )


_SOURCES = (
    "emptyDir",
    "persistentVolumeClaim",
    "volumeClaimTemplate",
    "configMap",
    "secret",
    "projected",
    "hostPath",
    "csi",
    "downwardAPI",
    "ephemeral",
    "nfs",
    "image",
)


def source_kind(spec: JSON) -> tuple[str, JSON]:
    for k in _SOURCES:
        if k in spec and spec[k] is not None:
            return k, spec[k] if isinstance(spec[k], dict) else {}
    return "emptyDir", {}


def sub_path(base: Source, sub: str | None) -> Source:
    if not sub:
        return base
    target = (base.host / sub).resolve()
    if not target.is_relative_to(base.host.resolve()):
        raise RunSetupError("InvalidWorkspaceBindings", f'subPath "{sub}" escapes its volume')
    if not base.read_only:
        target.mkdir(parents=True, exist_ok=True)
    return Source(target, base.read_only, base.claim)


def mount(src: Source, container_path: str, read_only: bool = False) -> Mount:
    return Mount(src.host, container_path, read_only or src.read_only, is_file=src.host.is_file())
