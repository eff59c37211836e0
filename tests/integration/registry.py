"""Fixtures: a real ``docker-registry`` (Debian package ``docker-registry``) on 127.0.0.1.

``registry`` is anonymous; ``auth_registry`` requires htpasswd basic auth (bcrypt hash made with the
python ``bcrypt`` package, or ``htpasswd -B`` from apache2-utils). Both are session-scoped, started
as child processes and stopped by PID. Tests that need them skip with a clear message when the
binary (or a bcrypt hasher) is missing.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

__all__ = ["AuthRegistry", "auth_registry", "push_random_image", "registry"]

REGISTRY_BINARY = os.environ.get("TEKTITE_DOCKER_REGISTRY", "/usr/bin/docker-registry")


@dataclass(frozen=True)
class AuthRegistry:
    address: str
    username: str
    password: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary() -> str:
    found = REGISTRY_BINARY if os.access(REGISTRY_BINARY, os.X_OK) else shutil.which("docker-registry")
    if not found:
        pytest.skip(
            f"docker-registry not found at {REGISTRY_BINARY} or on PATH "
            "(install the Debian package docker-registry, or set TEKTITE_DOCKER_REGISTRY)"
        )
    return found


def _bcrypt_htpasswd(username: str, password: str) -> str:
    try:
        import bcrypt
    except ImportError:
        bcrypt = None
    if bcrypt is not None:
        return f"{username}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"
    tool = shutil.which("htpasswd")
    if tool is None:
        pytest.skip(
            "no bcrypt hasher for the registry's htpasswd file (pip install bcrypt, or apt apache2-utils)"
        )
    out = subprocess.run([tool, "-nbB", username, password], check=True, capture_output=True, text=True)
    return out.stdout.strip() + "\n"


def _start(workdir: Path, htpasswd: Path | None) -> Iterator[str]:
    binary = _binary()
    port = _free_port()
    address = f"127.0.0.1:{port}"
    auth = f"auth:\n  htpasswd:\n    realm: tektite-test\n    path: {htpasswd}\n" if htpasswd else ""
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {address}\n"
        f"{auth}"
    )
    log_path = workdir / "registry.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            if proc.poll() is not None:
                pytest.fail(f"docker-registry exited with {proc.returncode}:\n{log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://{address}/v2/", timeout=1.0).status_code in (200, 401):
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            pytest.fail(f"docker-registry on {address} never answered /v2/:\n{log_path.read_text()[-2000:]}")
        yield address
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``127.0.0.1:<port>`` of an anonymous docker-registry, served over plain http."""
    yield from _start(tmp_path_factory.mktemp("registry"), None)


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthRegistry]:
    """A docker-registry that demands basic auth; its username and a random password."""
    _binary()
    workdir = tmp_path_factory.mktemp("auth-registry")
    username, password = "tektite", secrets.token_urlsafe(16)
    htpasswd = workdir / "htpasswd"
    htpasswd.write_text(_bcrypt_htpasswd(username, password))
    for address in _start(workdir, htpasswd):
        yield AuthRegistry(address=address, username=username, password=password)


def push_random_image(
    address: str, repository: str, tag: str = "latest", auth: tuple[str, str] | None = None
) -> str:
    """Push a small synthetic OCI image (random layer, config, manifest) with plain httpx.

    Returns ``address/repository@sha256:<manifest digest>``. Written without tektite's client so the
    tests of that client do not depend on themselves.
    """
    import hashlib
    import json

    base = f"http://{address}/v2/{repository}"
    http = httpx.Client(auth=auth)

    def push_blob(data: bytes) -> dict[str, object]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        started = http.post(f"{base}/blobs/uploads/")
        started.raise_for_status()
        location = started.url.join(started.headers["Location"])
        http.put(location.copy_merge_params({"digest": digest}), content=data).raise_for_status()
        return {"digest": digest, "size": len(data)}

    layer = push_blob(secrets.token_bytes(256))
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}
    ).encode()
    config_desc = push_blob(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
        }
    ).encode()
    http.put(
        f"{base}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    ).raise_for_status()
    http.close()
    return f"{address}/{repository}@sha256:{hashlib.sha256(manifest).hexdigest()}"
