"""Container environment (``env``/``envFrom`` with ``valueFrom``), credentials init, quantities."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
from pathlib import Path
from typing import Any

from tektite.controller.lookup import Getter, RunSetupError, Secrets, configmap_data
from tektite.core.secrets import secret_data

JSON = dict[str, Any]


def resolve_env(
    env: list[JSON] | None,
    env_from: list[JSON] | None,
    *,
    namespace: str,
    get: Getter,
    secrets: Secrets,
    field_values: dict[str, str],
    where: str,
) -> dict[str, str]:
    """Kubernetes' env rules: envFrom first (with prefix), then env entries in order."""
    out: dict[str, str] = {}
    for src in env_from or []:
        prefix = src.get("prefix") or ""
        if src.get("configMapRef"):
            ref = src["configMapRef"]
            cm = get("ConfigMap", ref.get("name", ""), namespace)
            if cm is None:
                if ref.get("optional"):
                    continue
                raise RunSetupError(
                    "CreateContainerConfigError", f'{where}: envFrom configmap "{ref.get("name")}" not found'
                )
            for k, v in configmap_data(cm).items():
                out[prefix + k] = v.decode(errors="replace")
        if src.get("secretRef"):
            ref = src["secretRef"]
            sec = get("Secret", ref.get("name", ""), namespace)
            if sec is None:
                if ref.get("optional"):
                    continue
                raise RunSetupError(
                    "CreateContainerConfigError", f'{where}: envFrom secret "{ref.get("name")}" not found'
                )
            for k, v in secret_data(sec).items():
                value = v.decode(errors="replace")
                secrets.add(value)
                out[prefix + k] = value
    for var in env or []:
        name = var.get("name", "")
        if "valueFrom" not in var or not var["valueFrom"]:
            out[name] = _expand(var.get("value") or "", out)
            continue
        vf = var["valueFrom"]
        if vf.get("secretKeyRef"):
            ref = vf["secretKeyRef"]
            sec = get("Secret", ref.get("name", ""), namespace)
            data = secret_data(sec) if sec else None
            if data is None or ref.get("key") not in data:
                if ref.get("optional"):
                    continue
                what = (
                    f'secret "{ref.get("name")}"'
                    if data is None
                    else f'key "{ref.get("key")}" in secret "{ref.get("name")}"'
                )
                raise RunSetupError("CreateContainerConfigError", f'{where}: env "{name}": {what} not found')
            value = data[ref["key"]].decode(errors="replace")
            secrets.add(value)
            out[name] = value
        elif vf.get("configMapKeyRef"):
            ref = vf["configMapKeyRef"]
            cm = get("ConfigMap", ref.get("name", ""), namespace)
            cdata = configmap_data(cm) if cm else None
            if cdata is None or ref.get("key") not in cdata:
                if ref.get("optional"):
                    continue
                what = (
                    f'configmap "{ref.get("name")}"'
                    if cdata is None
                    else f'key "{ref.get("key")}" in configmap "{ref.get("name")}"'
                )
                raise RunSetupError("CreateContainerConfigError", f'{where}: env "{name}": {what} not found')
            out[name] = cdata[ref["key"]].decode(errors="replace")
        elif vf.get("fieldRef"):
            path = vf["fieldRef"].get("fieldPath", "")
            out[name] = field_values.get(path, _label_field(path, field_values))
        elif vf.get("resourceFieldRef"):
            out[name] = "0"
    return out


_EXPAND = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes expands ``$(VAR)`` in env values from earlier variables; unknown ones stay."""
    return _EXPAND.sub(lambda m: env.get(m.group(1), m.group(0)), value)


def _label_field(path: str, values: dict[str, str]) -> str:
    m = re.match(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        return values.get(f"{m.group(1)}:{m.group(2)}", "")
    return ""


def field_values(
    pod_name: str, namespace: str, labels: dict[str, str], annotations: dict[str, str], service_account: str
) -> dict[str, str]:
    host = socket.gethostname()
    out = {
        "metadata.name": pod_name,
        "metadata.namespace": namespace,
        "metadata.uid": "",
        "spec.nodeName": host,
        "spec.serviceAccountName": service_account,
        "status.hostIP": "127.0.0.1",
        "status.podIP": "127.0.0.1",
        "status.podIPs": "127.0.0.1",
        "metadata.labels": "\n".join(f'{k}="{v}"' for k, v in sorted(labels.items())),
        "metadata.annotations": "\n".join(f'{k}="{v}"' for k, v in sorted(annotations.items())),
    }
    out.update({f"labels:{k}": v for k, v in labels.items()})
    out.update({f"annotations:{k}": v for k, v in annotations.items()})
    return out


_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_BIN = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DEC = {
    "": 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "m": 1e-3,
}


def parse_quantity(value: Any) -> float | None:
    """Kubernetes quantities: ``512Mi`` -> bytes, ``500m`` -> 0.5."""
    if value is None:
        return None
    m = _QUANTITY.match(str(value).strip())
    if not m:
        return None
    num, suffix = float(m.group(1)), m.group(2)
    if suffix in _BIN:
        return num * _BIN[suffix]
    if suffix in _DEC:
        return num * _DEC[suffix]
    return None


def init_credentials(
    service_account: JSON | None, namespace: str, get: Getter, home: Path, secrets: Secrets
) -> None:
    """Tekton's creds-init: secrets of the ServiceAccount annotated ``tekton.dev/git-*`` /
    ``tekton.dev/docker-*`` become ``~/.ssh``, ``~/.gitconfig`` + ``~/.git-credentials`` and
    ``~/.docker/config.json`` in the step's HOME."""
    if not service_account:
        return
    ssh_config: list[str] = []
    git_creds: list[str] = []
    docker_auths: dict[str, Any] = {}
    for ref in service_account.get("secrets") or []:
        sec = get("Secret", ref.get("name", ""), namespace)
        if sec is None:
            continue
        name = sec["metadata"]["name"]
        annotations = (sec.get("metadata") or {}).get("annotations") or {}
        data = secret_data(sec)
        for v in data.values():
            try:
                secrets.add(v.decode())
            except UnicodeDecodeError:
                pass
        stype = sec.get("type", "Opaque")
        git_hosts = [v for k, v in annotations.items() if k.startswith("tekton.dev/git-")]
        docker_hosts = [v for k, v in annotations.items() if k.startswith("tekton.dev/docker-")]
        if stype == "kubernetes.io/ssh-auth" and git_hosts:
            ssh = home / ".ssh"
            ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
            key = ssh / f"id_{name}"
            key.write_bytes(data.get("ssh-privatekey", b""))
            key.chmod(0o600)
            for host in git_hosts:
                hostname, _, port = host.partition(":")
                ssh_config.append(
                    f"Host {hostname}\n    HostName {hostname}\n    IdentityFile {key}\n"
                    + (f"    Port {port}\n" if port else "")
                )
            if "known_hosts" in data:
                with open(ssh / "known_hosts", "ab") as fh:
                    fh.write(data["known_hosts"])
        elif stype == "kubernetes.io/basic-auth":
            user = data.get("username", b"").decode()
            password = data.get("password", b"").decode()
            for host in git_hosts:
                git_creds.append(f"{host.rstrip('/').replace('://', f'://{user}:{password}@', 1)}")
            for host in docker_hosts:
                docker_auths[host] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
        elif stype in ("kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"):
            raw = data.get(".dockerconfigjson") or data.get(".dockercfg") or b"{}"
            try:
                parsed = json.loads(raw)
            except ValueError:
                continue
            docker_auths.update(parsed.get("auths", parsed))
    if ssh_config:
        (home / ".ssh" / "config").write_text("".join(ssh_config))
    if git_creds:
        home.mkdir(parents=True, exist_ok=True)
        (home / ".git-credentials").write_text("\n".join(git_creds) + "\n")
        os.chmod(home / ".git-credentials", 0o600)
        (home / ".gitconfig").write_text("[credential]\n\thelper = store\n")
    if docker_auths:
        d = home / ".docker"
        d.mkdir(parents=True, exist_ok=True)
        (d / "config.json").write_text(json.dumps({"auths": docker_auths}, indent=2))
