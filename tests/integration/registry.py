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
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

__all__ = ["AuthRegistry", "auth_registry", "push_random_image", "registry", "tls_registry", "token_registry"]

TOKEN_SERVICE = "tektite-test-registry"
TOKEN_ISSUER = "tektite-test-token-issuer"
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


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def _spawn(
    cmd: list[str], log_path: Path, ready_url: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` and poll ``ready_url`` until it answers (any HTTP status); fail with its log if not."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    for _ in range(200):
        if proc.poll() is not None:
            pytest.fail(f"{cmd[0]} exited with {proc.returncode}:\n{log_path.read_text()[-2000:]}")
        try:
            httpx.get(ready_url, timeout=1.0, verify=False)  # a TLS registry's own self-signed cert
            return proc
        except httpx.TransportError:
            time.sleep(0.05)
    _stop(proc)
    pytest.fail(f"{cmd[0]} never answered {ready_url}:\n{log_path.read_text()[-2000:]}")


def _start(workdir: Path, auth_yaml: str = "", tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    binary = _binary()
    address = f"127.0.0.1:{_free_port()}"
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {address}\n"
        + (f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n" if tls else "")
        + auth_yaml
    )
    scheme = "https" if tls else "http"
    proc = _spawn([binary, "serve", str(config)], workdir / "registry.log", f"{scheme}://{address}/v2/")
    try:
        yield address
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``127.0.0.1:<port>`` of an anonymous docker-registry, served over plain http."""
    yield from _start(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthRegistry]:
    """A docker-registry that demands basic auth; its username and a random password."""
    _binary()
    workdir = tmp_path_factory.mktemp("auth-registry")
    username, password = "tektite", secrets.token_urlsafe(16)
    htpasswd = workdir / "htpasswd"
    htpasswd.write_text(_bcrypt_htpasswd(username, password))
    auth_yaml = f"auth:\n  htpasswd:\n    realm: tektite-test\n    path: {htpasswd}\n"
    for address in _start(workdir, auth_yaml):
        yield AuthRegistry(address=address, username=username, password=password)


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthRegistry]:
    """A docker-registry with token auth (``WWW-Authenticate: Bearer realm=...``).

    The token service is this file run as a script (``token-server``): it checks basic credentials
    and issues ES256 JWTs whose ``x5c`` certificate is the registry's ``rootcertbundle``.
    """
    _binary()
    workdir = tmp_path_factory.mktemp("token-registry")
    username, password = "tektite", secrets.token_urlsafe(16)
    cert, key = _self_signed_cert()
    (workdir / "cert.pem").write_bytes(cert)
    (workdir / "key.pem").write_bytes(key)
    token_port = _free_port()
    env = {**os.environ, "TOKEN_SERVER_USER": username, "TOKEN_SERVER_PASSWORD": password}
    cmd = [
        sys.executable,
        __file__,
        "token-server",
        str(token_port),
        str(workdir / "key.pem"),
        str(workdir / "cert.pem"),
    ]
    server = _spawn(cmd, workdir / "token-server.log", f"http://127.0.0.1:{token_port}/health", env=env)
    auth_yaml = (
        "auth:\n  token:\n"
        f"    realm: http://127.0.0.1:{token_port}/token\n"
        f"    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n"
        f"    rootcertbundle: {workdir / 'cert.pem'}\n"
    )
    try:
        for address in _start(workdir, auth_yaml):
            yield AuthRegistry(address=address, username=username, password=password)
    finally:
        _stop(server)


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An anonymous docker-registry served over https with a self-signed certificate."""
    _binary()
    workdir = tmp_path_factory.mktemp("tls-registry")
    cert, key = _self_signed_cert()
    (workdir / "cert.pem").write_bytes(cert)
    (workdir / "key.pem").write_bytes(key)
    yield from _start(workdir, tls=(workdir / "cert.pem", workdir / "key.pem"))


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


# -- the token service (run as: python registry.py token-server PORT KEY CERT) ---------------------


def _self_signed_cert() -> tuple[bytes, bytes]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TOKEN_ISSUER)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _token_server(port: int, key_path: str, cert_path: str) -> None:
    """Docker token auth: ``GET /token?service=...&scope=repository:NAME:ACTIONS`` with basic auth."""
    import base64
    import json
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from urllib.parse import parse_qs, urlparse

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key = serialization.load_pem_private_key(Path(key_path).read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cert_der = x509.load_pem_x509_certificate(Path(cert_path).read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    expected = (
        "Basic "
        + base64.b64encode(
            f"{os.environ['TOKEN_SERVER_USER']}:{os.environ['TOKEN_SERVER_PASSWORD']}".encode()
        ).decode()
    )

    def b64url(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    def jwt(access: list[dict[str, object]]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(cert_der).decode()]}
        claims = {
            "iss": TOKEN_ISSUER,
            "sub": os.environ["TOKEN_SERVER_USER"],
            "aud": TOKEN_SERVICE,
            "exp": now + 600,
            "nbf": now - 60,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/health":
                return self._send(200, {})
            if url.path != "/token":
                return self._send(404, {})
            if self.headers.get("Authorization") != expected:
                return self._send(401, {"details": "bad credentials"})
            access = []
            for scope in parse_qs(url.query).get("scope", []):
                kind, name_actions = scope.split(":", 1)
                name, _, actions = name_actions.rpartition(":")
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
            return self._send(200, {"token": jwt(access), "expires_in": 600})

        def _send(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # no request logs
            pass

    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__" and sys.argv[1:2] == ["token-server"]:
    _token_server(int(sys.argv[2]), sys.argv[3], sys.argv[4])
