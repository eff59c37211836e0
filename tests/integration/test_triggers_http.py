"""EventListeners over real HTTP: ``python -m tektite.triggers`` under uvicorn on 127.0.0.1, driven
with httpx, with interceptor services as separate processes. Every process is started by a
fixture and stopped by its PID.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tektite.api.loader import load_text
from tektite.controller.cluster import Cluster
from tektite.core.conditions import get_condition, is_done

SECRET = "it's a secret"

OBJECTS = f"""
apiVersion: v1
kind: Secret
metadata: {{name: github-secret}}
stringData: {{secretToken: "{SECRET}"}}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerBinding
metadata: {{name: pr-binding}}
spec:
  params:
    - {{name: gitrevision, value: $(body.pull_request.head.sha)}}
    - {{name: gitrepositoryurl, value: $(body.repository.clone_url)}}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerTemplate
metadata: {{name: pr-template}}
spec:
  params: [{{name: gitrevision}}, {{name: gitrepositoryurl}}]
  resourcetemplates:
    - apiVersion: tekton.dev/v1beta1
      kind: TaskRun
      metadata: {{generateName: pr-run-}}
      spec:
        taskSpec:
          steps:
            - image: ubuntu
              script: |
                #!/usr/bin/env bash
                echo "Revision is : $(tt.params.gitrevision). RepoURL is $(tt.params.gitrepositoryurl)"
---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {{name: github-listener}}
spec:
  triggers:
    - name: github-listener
      interceptors:
        - ref: {{name: github}}
          params:
            - {{name: secretRef, value: {{secretName: github-secret, secretKey: secretToken}}}}
            - {{name: eventTypes, value: [pull_request]}}
        - name: only when PRs are opened
          ref: {{name: cel}}
          params:
            - {{name: filter, value: "body.action in ['opened', 'synchronize', 'reopened']"}}
      bindings: [{{ref: pr-binding}}]
      template: {{ref: pr-template}}
"""

EVENT = {
    "action": "opened",
    "pull_request": {"head": {"sha": "0123456789abcdef0123456789abcdef01234567"}},
    "repository": {"clone_url": "https://example.com/org/repo.git"},
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    _stop(proc)
    pytest.fail(f"{url} did not come up:\n{log.read_text(errors='replace')}")


@contextmanager
def sink_server(home: Path, *args: str) -> Iterator[str]:
    """``python -m tektite.triggers`` on a free port; yields its base URL."""
    port = _free_port()
    log = home.parent / f"sink-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tektite.triggers", "--home", str(home), "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_http(f"http://127.0.0.1:{port}/live", proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


SERVICE = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {}
        if self.path.startswith("/interceptor"):
            req = json.loads(body)
            event = json.loads(req["body"])
            if event.get("action") == req["interceptor_params"]["allowedAction"]:
                resp = {"continue": True, "extensions": {"approved_by": "policy-bot", "event": req["context"]["event_id"]}}
            else:
                resp = {"continue": False, "status": {"code": 7, "message": "policy-bot: action %s is not allowed" % event.get("action")}}
        else:  # a legacy webhook interceptor: returns the body with a field added
            resp = json.loads(body)
            resp["validated_by"] = self.headers.get("Foo-Trig-Header1", "")
            headers["X-Validated"] = "yes"
        data = json.dumps(resp).encode()
        self.send_response(200)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
if len(sys.argv) > 3:  # serve TLS with the given certificate and key
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[2], sys.argv[3])
    server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""


@contextmanager
def service_process(tmp_path: Path, *tls_files: Path) -> Iterator[str]:
    """A separate process answering the ClusterInterceptor protocol (/interceptor) and as a webhook."""
    script = tmp_path / "service.py"
    script.write_text(SERVICE)
    port = _free_port()
    log = tmp_path / f"service-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(port), *map(str, tls_files)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"interceptor service did not start: {log.read_text()}")
                time.sleep(0.05)
        yield f"{'https' if tls_files else 'http'}://127.0.0.1:{port}"
    finally:
        _stop(proc)


@pytest.fixture()
def interceptor_service(tmp_path: Path) -> Iterator[str]:
    with service_process(tmp_path) as url:
        yield url


@pytest.fixture()
def home(tmp_path: Path) -> Iterator[Path]:
    h = tmp_path / "home"
    c = Cluster(h)
    c.apply(load_text(OBJECTS, "objects.yaml"))
    c.close()
    yield h


def _signed(event: dict[str, Any], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "X-GitHub-Event": "pull_request",
        "X-Hub-Signature-256": sig,
        "Content-Type": "application/json",
    }


def _created(home: Path, event_id: str, kind: str = "TaskRun") -> list[dict[str, Any]]:
    c = Cluster(home)
    try:
        return c.store.list(
            kind, "*", label_selector=f"triggers.tekton.dev/triggers-eventid={event_id}"
        ).items
    finally:
        c.close()


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    tektite = Path(sys.executable).with_name("tektite")
    return subprocess.run(
        [str(tektite), "--home", str(home), *args], capture_output=True, text=True, timeout=120
    )


def test_signed_event_creates_a_taskrun_with_bound_params(home: Path) -> None:
    with sink_server(home) as url:
        body, headers = _signed(EVENT)
        resp = httpx.post(f"{url}/el/default/github-listener", content=body, headers=headers)
        assert resp.status_code == 202, resp.text
        data = resp.json()
        assert set(data) == {"eventListener", "namespace", "eventListenerUID", "eventID"}
        assert (data["eventListener"], data["namespace"]) == ("github-listener", "default")
    (tr,) = _created(home, data["eventID"])
    assert tr["metadata"]["name"].startswith("pr-run-")
    assert tr["metadata"]["labels"]["triggers.tekton.dev/eventlistener"] == "github-listener"
    assert tr["metadata"]["labels"]["triggers.tekton.dev/trigger"] == "github-listener"
    script = tr["spec"]["taskSpec"]["steps"][0]["script"]
    assert "Revision is : 0123456789abcdef0123456789abcdef01234567." in script
    assert "RepoURL is https://example.com/org/repo.git" in script


def test_bad_signature_creates_nothing_and_the_event_says_why(home: Path) -> None:
    with sink_server(home) as url:
        body, headers = _signed(EVENT, secret="guess")
        resp = httpx.post(f"{url}/el/default/github-listener", content=body, headers=headers)
        assert resp.status_code == 202  # Tekton's answer: rejections are still accepted
        event_id = resp.json()["eventID"]
        closed = httpx.post(
            f"{url}/el/default/github-listener",
            content=_signed({**EVENT, "action": "closed"})[0],
            headers=_signed({**EVENT, "action": "closed"})[1],
        )
        assert closed.status_code == 202
    assert _created(home, event_id) == []
    res = _cli(home, "eventlistener", "events", "github-listener", "-o", "json")
    assert res.returncode == 0, res.stderr
    events = {e["metadata"]["name"]: e for e in json.loads(res.stdout)["items"]}
    rejected = events[event_id]["status"]
    assert rejected["status"] == "rejected"
    assert rejected["triggers"][0]["stoppedBy"] == "github"
    assert rejected["triggers"][0]["reason"] == "payload signature check failed"
    filtered = events[closed.json()["eventID"]]["status"]["triggers"][0]
    assert filtered["stoppedBy"] == "only when PRs are opened"
    assert "did not return true" in filtered["reason"]
    table = _cli(home, "eventlistener", "events", "github-listener")
    assert "stopped by github: payload signature check failed" in table.stdout
    assert SECRET not in table.stdout + res.stdout


def test_reject_status_option(home: Path) -> None:
    with sink_server(home, "--reject-status", "403") as url:
        body, headers = _signed(EVENT, secret="guess")
        resp = httpx.post(f"{url}/el/default/github-listener", content=body, headers=headers)
        assert resp.status_code == 403
        assert resp.json()["status"] == "rejected"
        assert "payload signature check failed" in resp.json()["message"]
        good = httpx.post(
            f"{url}/el/default/github-listener", content=_signed(EVENT)[0], headers=_signed(EVENT)[1]
        )
        assert good.status_code == 202


def test_listener_on_its_own_port_takes_any_path(home: Path) -> None:
    with sink_server(home, "--listener", "default/github-listener") as url:
        body, headers = _signed(EVENT)
        for path in ("/", "/some/path"):
            resp = httpx.post(url + path, content=body, headers=headers)
            assert resp.status_code == 202, resp.text
            assert len(_created(home, resp.json()["eventID"])) == 1
        assert httpx.get(f"{url}/ready").status_code == 200


def test_http_errors(home: Path) -> None:
    with sink_server(home) as url:
        missing = httpx.post(f"{url}/el/default/nope", content=b"{}")
        assert missing.status_code == 404 and "nope" in missing.json()["message"]
        bad = httpx.post(
            f"{url}/el/default/github-listener",
            content=b"{not json",
            headers={"X-GitHub-Event": "pull_request"},
        )
        assert bad.status_code == 400
        assert httpx.get(f"{url}/el/default/github-listener").status_code == 405


def test_cluster_interceptor_and_webhook_services_over_http(home: Path, interceptor_service: str) -> None:
    c = Cluster(home)
    c.apply(
        load_text(
            f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: tektite-services, namespace: default}}
data:
  validator.default: {interceptor_service}/webhook
---
apiVersion: triggers.tekton.dev/v1alpha1
kind: ClusterInterceptor
metadata: {{name: policy}}
spec:
  clientConfig: {{url: "{interceptor_service}/interceptor"}}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {{name: custom}}
spec:
  triggers:
    - name: custom
      interceptors:
        - name: policy check
          ref: {{name: policy}}
          params: [{{name: allowedAction, value: opened}}]
        - webhook:
            header: [{{name: Foo-Trig-Header1, value: from-the-trigger}}]
            objectRef: {{kind: Service, name: validator, apiVersion: v1, namespace: default}}
      bindings:
        - {{name: approver, value: $(extensions.approved_by)}}
        - {{name: validated, value: "$(body.validated_by)/$(header.X-Validated)"}}
      template:
        spec:
          params: [{{name: approver}}, {{name: validated}}]
          resourcetemplates:
            - apiVersion: v1
              kind: ConfigMap
              metadata: {{generateName: custom-}}
              data: {{approver: $(tt.params.approver), validated: $(tt.params.validated)}}
""",
            "custom.yaml",
        )
    )
    c.close()
    with sink_server(home) as url:
        ok = httpx.post(f"{url}/el/default/custom", json={"action": "opened"})
        assert ok.status_code == 202
        no = httpx.post(f"{url}/el/default/custom", json={"action": "deleted"})
        assert no.status_code == 202
    (cm,) = _created(home, ok.json()["eventID"], "ConfigMap")
    assert cm["data"] == {"approver": "policy-bot", "validated": "from-the-trigger/yes"}
    assert _created(home, no.json()["eventID"], "ConfigMap") == []
    res = _cli(home, "el", "events", "custom", "--status", "rejected", "-o", "json")
    (rec,) = json.loads(res.stdout)["items"]
    assert rec["status"]["triggers"][0]["stoppedBy"] == "policy check"
    assert rec["status"]["triggers"][0]["reason"] == "policy-bot: action deleted is not allowed"
    assert rec["status"]["triggers"][0]["interceptors"][0]["code"] == "PermissionDenied"


@pytest.mark.slow
def test_created_run_executes_with_the_engine(home: Path) -> None:
    with sink_server(home, "--engine") as url:
        body, headers = _signed(EVENT)
        resp = httpx.post(f"{url}/el/default/github-listener", content=body, headers=headers)
        assert resp.status_code == 202
        event_id = resp.json()["eventID"]
        final = _poll(lambda: [r for r in _created(home, event_id) if is_done(r)], timeout=120)
    (tr,) = final
    assert (get_condition(tr) or {}).get("status") == "True", get_condition(tr)
    logs = _cli(home, "taskrun", "logs", tr["metadata"]["name"])
    assert (
        "Revision is : 0123456789abcdef0123456789abcdef01234567. RepoURL is https://example.com/org/repo.git"
        in logs.stdout
    )


def _poll(fn: Callable[[], list[dict[str, Any]]], timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.2)
    pytest.fail("the created run did not finish")


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path, bytes]:
    """A certificate for 127.0.0.1 made with ``cryptography``: (cert file, key file, PEM)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file, key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_file.write_bytes(pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file, pem


def test_https_cluster_interceptor_is_verified_against_its_ca_bundle(home: Path, tmp_path: Path) -> None:
    import base64

    cert, key, pem = _self_signed(tmp_path, "interceptor")
    _, _, other_pem = _self_signed(tmp_path, "someone-else")
    with service_process(tmp_path, cert, key) as url:
        c = Cluster(home)
        listener = """
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {name: NAME}
spec:
  triggers:
    - name: t
      interceptors:
        - ref: {name: NAME}
          params: [{name: allowedAction, value: opened}]
      bindings: [{name: who, value: $(extensions.approved_by)}]
      template:
        spec:
          params: [{name: who}]
          resourcetemplates:
            - {apiVersion: v1, kind: ConfigMap, metadata: {generateName: tls-}, data: {who: $(tt.params.who)}}
"""
        for name, bundle in (("trusted", pem), ("untrusted", other_pem)):
            interceptor = (
                "apiVersion: triggers.tekton.dev/v1alpha1\nkind: ClusterInterceptor\n"
                f"metadata: {{name: {name}, labels: {{server/type: https}}}}\n"
                f"spec: {{clientConfig: {{url: '{url}/interceptor', caBundle: {base64.b64encode(bundle).decode()}}}}}\n"
            )
            c.apply(load_text(interceptor + "---\n" + listener.replace("NAME", name), f"{name}.yaml"))
        c.close()
        with sink_server(home) as sink:
            trusted = httpx.post(f"{sink}/el/default/trusted", json={"action": "opened"})
            untrusted = httpx.post(f"{sink}/el/default/untrusted", json={"action": "opened"})
    (cm,) = _created(home, trusted.json()["eventID"], "ConfigMap")
    assert cm["data"] == {"who": "policy-bot"}
    assert _created(home, untrusted.json()["eventID"], "ConfigMap") == []
    res = _cli(home, "el", "events", "untrusted", "-o", "json")
    (rec,) = json.loads(res.stdout)["items"]
    assert rec["status"]["status"] == "failed"
    assert "CERTIFICATE_VERIFY_FAILED" in rec["status"]["triggers"][0]["reason"]
