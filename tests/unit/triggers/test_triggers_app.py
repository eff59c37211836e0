"""The sink's ASGI routes (driven in-process through httpx's ASGI transport) and listener ports."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tektite.api.loader import load_text
from tektite.controller.cluster import Cluster
from tektite.triggers import app as sink_app
from tektite.triggers.app import ListenerPort, listener_ports, make_app

LISTENERS = """
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {name: plain}
spec:
  triggers:
    - name: t
      bindings: [{name: v, value: $(body.v)}]
      template:
        spec:
          params: [{name: v}]
          resourcetemplates:
            - {apiVersion: v1, kind: ConfigMap, metadata: {generateName: "x-"}, data: {v: $(tt.params.v)}}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {name: ported, namespace: team, annotations: {triggers.tektite.dev/port: "8099"}}
spec: {}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {name: badport, annotations: {triggers.tektite.dev/port: "eighty"}}
spec: {}
"""


def _cluster(tmp_path: Path) -> Cluster:
    c = Cluster(tmp_path / "home")
    c.apply(load_text(LISTENERS, "l.yaml"))
    return c


async def _call(app: Any, method: str, path: str, **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sink") as client:
        return await client.request(method, path, **kw)


def test_routes(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    app = make_app(cluster)
    ok = asyncio.run(_call(app, "POST", "/el/default/plain", json={"v": "1"}))
    assert ok.status_code == 202 and ok.json()["eventListener"] == "plain"
    sub = asyncio.run(_call(app, "PUT", "/el/default/plain/deeper/path", json={"v": "2"}))
    assert sub.status_code == 202
    assert asyncio.run(_call(app, "POST", "/el/default/absent", json={})).status_code == 404
    assert asyncio.run(_call(app, "GET", "/el/default/plain")).status_code == 405
    assert asyncio.run(_call(app, "GET", "/live")).text == "ok"
    assert asyncio.run(_call(app, "POST", "/anything", json={})).status_code == 404
    made = cluster.store.list(
        "ConfigMap", "default", label_selector="triggers.tekton.dev/eventlistener=plain"
    ).items
    assert sorted(cm["data"]["v"] for cm in made) == ["1", "2"]
    cluster.close()


def test_one_listener_app_takes_every_path(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    app = make_app(cluster, listener=("default", "plain"))
    for path in ("/", "/hooks/github"):
        assert asyncio.run(_call(app, "POST", path, json={"v": "x"})).status_code == 202
    cluster.close()


def test_cloud_event_requests_get_cloud_event_headers(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    resp = asyncio.run(
        _call(
            make_app(cluster), "POST", "/el/default/plain", json={"v": "1"}, headers={"ce-specversion": "1.0"}
        )
    )
    assert resp.headers["ce-type"] == "dev.tekton.event.triggers.accepted.v1"
    assert resp.headers["ce-id"] == resp.json()["eventID"]
    cluster.close()


def test_oversized_bodies_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = _cluster(tmp_path)
    monkeypatch.setattr(sink_app, "MAX_BODY", 10)
    resp = asyncio.run(_call(make_app(cluster), "POST", "/el/default/plain", content=b"x" * 11))
    assert resp.status_code == 413
    cluster.close()


def test_listener_ports(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    assert listener_ports(cluster) == [ListenerPort("team", "ported", 8099)]
    cluster.close()
