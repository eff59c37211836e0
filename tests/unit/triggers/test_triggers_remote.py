"""Interceptors reached over HTTP: the ClusterInterceptor protocol, namespaced Interceptors, legacy
webhooks, and how a Service name becomes a URL off-cluster."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tektite.api.loader import load_text
from tektite.controller.cluster import Cluster
from tektite.triggers.interceptors.remote import service_url
from tektite.triggers.sink import Incoming, Sink

SETUP = """
apiVersion: v1
kind: ConfigMap
metadata: {name: tektite-services, namespace: default}
data:
  my-interceptor.tools: http://interceptor.test:9000
  gh-validate.default: http://webhook.test
---
apiVersion: triggers.tekton.dev/v1alpha1
kind: ClusterInterceptor
metadata: {name: my-interceptor}
spec:
  clientConfig:
    service: {name: my-interceptor, namespace: tools, path: /check, port: 8081}
---
apiVersion: triggers.tekton.dev/v1alpha1
kind: Interceptor
metadata: {name: local}
spec:
  clientConfig: {url: "http://local.test/intercept"}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {name: remote}
spec:
  triggers:
    - name: t
      interceptors:
        - ref: {name: cel}
          params: [{name: overlays, value: [{key: first, expression: "'from-cel'"}]}]
        - name: custom
          ref: {name: my-interceptor}
          params: [{name: wanted, value: {deep: [1, 2]}}]
        - ref: {name: local, kind: NamespacedInterceptor}
      bindings:
        - {name: a, value: $(extensions.first)}
        - {name: b, value: $(extensions.second)}
      template:
        spec:
          params: [{name: a}, {name: b}]
          resourcetemplates:
            - {apiVersion: v1, kind: ConfigMap, metadata: {generateName: "r-"}, data: {a: $(tt.params.a), b: $(tt.params.b)}}
"""

BODY = b'{"action":  "opened"}'


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path / "home")
    c.apply(load_text(SETUP, "setup.yaml"))
    yield c
    c.close()


def _send(cluster: Cluster, name: str, handler: Any) -> Any:
    sink = Sink(cluster, http=httpx.Client(transport=httpx.MockTransport(handler)))
    try:
        return sink.handle(
            "default",
            name,
            Incoming(
                BODY,
                [("X-GitHub-Event", "push"), ("Content-Type", "application/json")],
                "http://el.test/hook",
            ),
        )
    finally:
        sink.close()


def test_cluster_interceptor_protocol(cluster: Cluster) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content)
        calls.append((str(request.url), payload))
        if request.url.host == "interceptor.test":
            return httpx.Response(
                200, json={"continue": True, "extensions": {"second": "from-service", "first": "overwritten"}}
            )
        return httpx.Response(200, json={"continue": True})

    r = _send(cluster, "remote", handler)
    assert r.status == "accepted", r.triggers
    (url1, req1), (url2, req2) = calls
    assert url1 == "http://interceptor.test:9000/check"
    assert url2 == "http://local.test/intercept"
    # InterceptorRequest, field for field
    assert req1["body"] == BODY.decode()  # the exact text, spaces kept
    assert req1["header"]["X-Github-Event"] == ["push"]
    assert req1["extensions"] == {"first": "from-cel"}
    assert req1["interceptor_params"] == {"wanted": {"deep": [1, 2]}}
    assert req1["context"]["event_id"] == r.event_id
    assert req1["context"]["event_url"] == "http://el.test/hook"
    assert req1["context"]["trigger_id"] == "namespaces/default/triggers/t"
    # later extensions overwrite earlier ones and reach the next interceptor and the bindings
    assert req2["extensions"] == {"first": "overwritten", "second": "from-service"}
    (cm,) = cluster.store.list(
        "ConfigMap", "default", label_selector=f"triggers.tekton.dev/triggers-eventid={r.event_id}"
    ).items
    assert cm["data"] == {"a": "overwritten", "b": "from-service"}


def test_a_service_that_says_stop_rejects_with_its_reason(cluster: Cluster) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"continue": False, "status": {"code": 7, "message": "not on my watch"}}
        )

    r = _send(cluster, "remote", handler)
    assert r.status == "rejected"
    t = r.triggers[0]
    assert t.stopped_by == "custom" and t.reason == "not on my watch"
    assert t.interceptors[-1].code == "PermissionDenied"


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(500, text="boom"), "answered 500"),
        (httpx.Response(200, text="not json"), "not an InterceptorResponse"),
    ],
)
def test_a_broken_service_fails_the_trigger(cluster: Cluster, response: httpx.Response, reason: str) -> None:
    r = _send(cluster, "remote", lambda req: response)
    assert r.status == "failed"
    assert reason in r.triggers[0].reason and "custom" in r.triggers[0].reason


def test_unreachable_service_names_the_configmap_to_fix(cluster: Cluster) -> None:
    cluster.apply(
        load_text(SETUP.replace("  my-interceptor.tools: http://interceptor.test:9000\n", ""), "s.yaml")
    )

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("name does not resolve", request=request)

    r = _send(cluster, "remote", handler)
    assert r.status == "failed"
    assert "http://my-interceptor.tools.svc:8081/check" in r.triggers[0].reason
    assert "tektite-services" in r.triggers[0].reason


def test_unknown_cluster_interceptor(cluster: Cluster) -> None:
    cluster.apply(load_text(SETUP.replace("ref: {name: my-interceptor}", "ref: {name: nobody}"), "s.yaml"))
    r = _send(cluster, "remote", lambda req: httpx.Response(200, json={"continue": True}))
    assert r.status == "failed" and 'ClusterInterceptor "nobody" not found' in r.triggers[0].reason


WEBHOOK = """
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {name: hooked}
spec:
  triggers:
    - name: t
      interceptors:
        - cel: {overlays: [{key: truncated_sha, expression: "'abcde'"}]}
        - webhook:
            header:
              - {name: Foo-Trig-Header1, value: string-value}
              - {name: Foo-Trig-Header2, value: [array-val1, array-val2]}
            objectRef: {kind: Service, name: gh-validate, apiVersion: v1, namespace: default}
        - cel: {filter: "body.extensions.truncated_sha == 'abcde' && header.canonical('X-Validated') == 'yes'"}
      bindings:
        - {name: a, value: $(body.added)}
        - {name: b, value: $(extensions.truncated_sha)}
      template:
        spec:
          params: [{name: a}, {name: b}]
          resourcetemplates:
            - {apiVersion: v1, kind: ConfigMap, metadata: {generateName: "w-"}, data: {a: $(tt.params.a), b: $(tt.params.b)}}
"""


def test_legacy_webhook_sees_extensions_and_may_rewrite_body_and_headers(cluster: Cluster) -> None:
    cluster.apply(load_text(WEBHOOK, "w.yaml"))
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = json.loads(request.content)
        body["added"] = "by-webhook"
        return httpx.Response(200, json=body, headers={"X-Validated": "yes"})

    r = _send(cluster, "hooked", handler)
    assert r.status == "accepted", r.triggers
    (req,) = seen
    assert str(req.url) == "http://webhook.test/"
    assert json.loads(req.content) == {"action": "opened", "extensions": {"truncated_sha": "abcde"}}
    assert req.headers["Foo-Trig-Header1"] == "string-value"
    assert req.headers.get_list("Foo-Trig-Header2") == ["array-val1", "array-val2"]
    assert req.headers["X-GitHub-Event"] == "push"
    (cm,) = cluster.store.list(
        "ConfigMap", "default", label_selector=f"triggers.tekton.dev/triggers-eventid={r.event_id}"
    ).items
    assert cm["data"] == {"a": "by-webhook", "b": "abcde"}


def test_legacy_webhook_non_200_stops_the_chain(cluster: Cluster) -> None:
    cluster.apply(load_text(WEBHOOK, "w.yaml"))
    r = _send(cluster, "hooked", lambda req: httpx.Response(403))
    assert r.status == "rejected"
    assert r.triggers[0].stopped_by == "webhook" and "answered 403" in r.triggers[0].reason


def test_service_urls() -> None:
    def none(name: str) -> dict[str, str]:
        return {}

    assert service_url("svc", "ns", None, None, none) == "http://svc.ns.svc/"
    assert service_url("svc", "ns", 8443, "/p", none, https=True) == "https://svc.ns.svc:8443/p"
    assert (
        service_url("svc", "ns", 80, "p", lambda n: {"svc.ns": "http://127.0.0.1:9/"})
        == "http://127.0.0.1:9/p"
    )
