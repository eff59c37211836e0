"""The API in-process (httpx ASGI transport, a real SQLite store): verbs the HTTPS tests don't cover."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tektite.controller.cluster import Cluster
from tektite.server.app import build
from tektite.server.auth import Auth
from tektite.server.metrics import Recorder
from tektite.server.tls import ensure_certificates
from tektite.server.tokens import TokenStore

CORE = "/api/v1/namespaces/default"
TEKTON = "/apis/tekton.dev/v1/namespaces/default"


class Client:
    """Synchronous calls into the ASGI app through httpx's ASGI transport (no sockets)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.headers = {"Authorization": f"Bearer {token}"}

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test", headers=self.headers
            ) as c:
                return await c.request(method, url, **kwargs)

        return asyncio.run(go())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


@pytest.fixture()
def api(tmp_path: Path) -> Iterator[tuple[Client, Cluster]]:
    cluster = Cluster(tmp_path)
    tokens = TokenStore(tmp_path)
    _rec, token = tokens.create("admin", "t")
    app = build(cluster, auth=Auth(tokens), dashboard=False, triggers=False)
    yield Client(app, token), cluster
    cluster.close()


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"k": "v"},
    }


def test_dry_run_validates_without_storing(api: tuple[Client, Cluster]) -> None:
    client, cluster = api
    assert client.post(f"{CORE}/configmaps", params={"dryRun": "All"}, json=cm("dry")).status_code == 201
    assert cluster.store.try_get("ConfigMap", "dry") is None


def test_namespace_and_name_must_match_the_url(api: tuple[Client, Cluster]) -> None:
    client, _ = api
    other = cm("x")
    other["metadata"]["namespace"] = "prod"
    resp = client.post(f"{CORE}/configmaps", json=other)
    assert resp.status_code == 400 and "does not match" in resp.json()["message"]
    client.post(f"{CORE}/configmaps", json=cm("y"))
    assert client.put(f"{CORE}/configmaps/y", json=cm("z")).status_code == 400


def test_yaml_bodies_and_field_selectors(api: tuple[Client, Cluster]) -> None:
    client, _ = api
    body = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: b\n"
    assert (
        client.post(
            f"{CORE}/configmaps", content=body, headers={"Content-Type": "application/yaml"}
        ).status_code
        == 201
    )
    client.post(f"{CORE}/configmaps", json=cm("other"))
    names = [
        o["metadata"]["name"]
        for o in client.get(f"{CORE}/configmaps", params={"fieldSelector": "metadata.name=from-yaml"}).json()[
            "items"
        ]
    ]
    assert names == ["from-yaml"]
    every = client.get("/api/v1/configmaps", params={"fieldSelector": "metadata.name!=other"}).json()["items"]
    assert "other" not in [o["metadata"]["name"] for o in every]
    bad = client.get(f"{CORE}/configmaps", params={"fieldSelector": "spec.x=1"})
    assert bad.status_code == 400 and "spec.x" in bad.json()["message"]


def test_delete_collection_by_label(api: tuple[Client, Cluster]) -> None:
    client, cluster = api
    for n in ("a", "b"):
        client.post(f"{CORE}/configmaps", json=cm(n, group="old"))
    client.post(f"{CORE}/configmaps", json=cm("c", group="new"))
    gone = client.delete(f"{CORE}/configmaps", params={"labelSelector": "group=old"}).json()
    assert sorted(o["metadata"]["name"] for o in gone["items"]) == ["a", "b"]
    assert [o["metadata"]["name"] for o in cluster.store.list("ConfigMap", "default").items] == ["c"]


def test_finalizers_hold_a_delete_and_orphan_keeps_children(api: tuple[Client, Cluster]) -> None:
    client, cluster = api
    held = cm("held")
    held["metadata"]["finalizers"] = ["chains.tekton.dev/finalizer"]
    client.post(f"{CORE}/configmaps", json=held)
    resp = client.delete(f"{CORE}/configmaps/held")
    assert resp.status_code == 202 and resp.json()["metadata"]["deletionTimestamp"]
    parent = client.post(f"{CORE}/configmaps", json=cm("parent")).json()
    child = cm("child")
    child["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "parent", "uid": parent["metadata"]["uid"]}
    ]
    client.post(f"{CORE}/configmaps", json=child)
    done = client.request("DELETE", f"{CORE}/configmaps/parent", json={"propagationPolicy": "Orphan"})
    assert (done.status_code, done.json()["status"]) == (200, "Success")
    assert cluster.store.try_get("ConfigMap", "child") is not None


def test_v1beta1_input_is_converted_and_returned_at_v1(api: tuple[Client, Cluster]) -> None:
    client, _ = api
    task = {
        "apiVersion": "tekton.dev/v1beta1",
        "kind": "Task",
        "metadata": {"name": "old-style"},
        "spec": {"steps": [{"name": "s", "image": "busybox", "script": "true"}]},
    }
    created = client.post("/apis/tekton.dev/v1beta1/namespaces/default/tasks", json=task)
    assert created.status_code == 201, created.text
    assert created.json()["apiVersion"] == "tekton.dev/v1"
    assert client.get(f"{TEKTON}/tasks/old-style").status_code == 200


def test_metrics_recorder_counts_each_run_once() -> None:
    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    run = {
        "kind": "TaskRun",
        "metadata": {
            "name": "m",
            "namespace": "ns-metrics",
            "uid": "u-1",
            "labels": {"tekton.dev/task": "unit-task"},
        },
        "status": {
            "startTime": "2026-01-01T00:00:00Z",
            "completionTime": "2026-01-01T00:00:42Z",
            "conditions": [{"type": "Succeeded", "status": "False", "reason": "TaskRunCancelled"}],
        },
    }
    labels = {"task": "unit-task", "namespace": "ns-metrics", "status": "cancelled"}
    before = value("tekton_pipelines_controller_taskrun_total", status="cancelled")
    recorder = Recorder()
    recorder.finished(run)
    recorder.finished(run)  # the engine may report twice; counted once
    assert value("tekton_pipelines_controller_taskrun_total", status="cancelled") == before + 1
    assert value("tekton_pipelines_controller_taskrun_duration_seconds_sum", **labels) == 42.0
    assert value("tekton_pipelines_controller_taskrun_duration_seconds_count", **labels) == 1.0


def test_tls_certificate_verifies_with_openssl(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path, ["10.1.2.3", "build.example"])
    assert oct(files.key.stat().st_mode & 0o777) == "0o600"
    proc = subprocess.run(
        ["openssl", "verify", "-CAfile", str(files.ca_cert), str(files.cert)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    text = subprocess.run(
        ["openssl", "x509", "-in", str(files.cert), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
    ).stdout
    for name in ("IP Address:127.0.0.1", "IP Address:10.1.2.3", "DNS:build.example", "DNS:localhost"):
        assert name in text
    same = files.cert.read_bytes()
    assert ensure_certificates(tmp_path, ["10.1.2.3"]).cert.read_bytes() == same  # still covered: kept
    assert ensure_certificates(tmp_path, ["10.9.9.9"]).cert.read_bytes() != same  # a new name: re-made
