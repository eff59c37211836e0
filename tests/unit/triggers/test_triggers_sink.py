"""The sink end to end in-process: listeners, triggers, selectors, groups, records, reject status."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tektite.api.loader import load_text
from tektite.controller.cluster import Cluster
from tektite.errors import NotFound
from tektite.triggers import records
from tektite.triggers.sink import Incoming, Sink

JSON = dict[str, Any]

COMMON = """
apiVersion: v1
kind: Secret
metadata: {name: hook}
stringData: {token: s3cr3t-value}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerBinding
metadata: {name: rev}
spec:
  params:
    - {name: revision, value: $(body.head_commit.id)}
    - {name: url, value: $(body.repository.url)}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: ClusterTriggerBinding
metadata: {name: greeting}
spec:
  params:
    - {name: message, value: Hello from a ClusterTriggerBinding}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerTemplate
metadata: {name: cm-template}
spec:
  params:
    - {name: revision, default: main}
    - {name: url}
    - {name: message, default: the default message}
  resourcetemplates:
    - apiVersion: v1
      kind: ConfigMap
      metadata: {generateName: "event-"}
      data: {revision: $(tt.params.revision), url: $(tt.params.url), message: $(tt.params.message)}
"""

PUSH = {"head_commit": {"id": "abc123"}, "repository": {"url": "https://example.com/repo.git"}}


def _sig(body: bytes, key: bytes = b"s3cr3t-value") -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path / "home")
    c.apply(load_text(COMMON, "common.yaml"))
    yield c
    c.close()


def apply(cluster: Cluster, text: str) -> None:
    cluster.apply(load_text(text, "test.yaml"))


def send(
    cluster: Cluster,
    name: str,
    body: Any = PUSH,
    headers: dict[str, str] | None = None,
    *,
    namespace: str = "default",
    reject_status: int | None = None,
    transport: Callable[[httpx.Request], httpx.Response] | None = None,
) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    http = httpx.Client(transport=httpx.MockTransport(transport or (lambda r: httpx.Response(599))))
    sink = Sink(cluster, http=http)
    try:
        return sink.handle(
            namespace, name, Incoming(raw, list((headers or {}).items())), reject_status=reject_status
        )
    finally:
        sink.close()


def made(cluster: Cluster, event_id: str, kind: str = "ConfigMap") -> list[JSON]:
    return cluster.store.list(
        kind, "*", label_selector=f"triggers.tekton.dev/triggers-eventid={event_id}"
    ).items


LISTENER = """
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {name: listener}
spec:
  serviceAccountName: sa
  triggers:
    - name: push
      interceptors:
        - ref: {name: github}
          params:
            - {name: secretRef, value: {secretName: hook, secretKey: token}}
            - {name: eventTypes, value: [push]}
      bindings:
        - ref: rev
        - {ref: greeting, kind: ClusterTriggerBinding}
      template:
        ref: cm-template
"""


def test_a_good_event_creates_labelled_objects_with_bound_params(cluster: Cluster) -> None:
    apply(cluster, LISTENER)
    raw = json.dumps(PUSH).encode()
    result = send(cluster, "listener", raw, {"X-GitHub-Event": "push", "X-Hub-Signature-256": _sig(raw)})
    assert result.response_code == 202 and result.status == "accepted"
    body = result.response_body()
    el = cluster.store.get("EventListener", "listener", "default")
    assert body == {
        "eventListener": "listener",
        "namespace": "default",
        "eventListenerUID": el["metadata"]["uid"],
        "eventID": result.event_id,
    }
    (cm,) = made(cluster, result.event_id)
    assert cm["metadata"]["name"].startswith("event-")
    assert cm["metadata"]["namespace"] == "default"
    assert cm["data"] == {
        "revision": "abc123",
        "url": "https://example.com/repo.git",
        "message": "Hello from a ClusterTriggerBinding",
    }
    assert cm["metadata"]["labels"] == {
        "triggers.tekton.dev/eventlistener": "listener",
        "triggers.tekton.dev/trigger": "push",
        "triggers.tekton.dev/triggers-eventid": result.event_id,
    }


def test_a_bad_signature_creates_nothing_answers_202_and_is_recorded(cluster: Cluster) -> None:
    apply(cluster, LISTENER)
    raw = json.dumps(PUSH).encode()
    result = send(
        cluster, "listener", raw, {"X-GitHub-Event": "push", "X-Hub-Signature-256": _sig(raw, b"guess")}
    )
    assert result.response_code == 202 and result.status == "rejected"
    assert made(cluster, result.event_id) == []
    (rec,) = records.list_events(cluster.store, "default", "listener").items
    assert rec["metadata"]["name"] == result.event_id
    (trig,) = rec["status"]["triggers"]
    assert trig["status"] == "rejected" and trig["stoppedBy"] == "github"
    assert trig["reason"] == "payload signature check failed"
    assert trig["interceptors"][0]["code"] == "FailedPrecondition"
    assert rec["metadata"]["labels"]["triggers.tektite.dev/status"] == "rejected"


def test_reject_status_turns_rejections_into_an_error_answer(cluster: Cluster) -> None:
    apply(cluster, LISTENER)
    result = send(cluster, "listener", PUSH, {"X-GitHub-Event": "issues"}, reject_status=403)
    assert result.response_code == 403
    assert result.response_body()["status"] == "rejected"
    assert "event type issues is not allowed" in result.response_body()["message"]
    # the listener's annotation overrides the server-wide default
    apply(
        cluster,
        LISTENER.replace(
            "metadata: {name: listener}",
            "metadata: {name: listener, annotations: {triggers.tektite.dev/reject-status: '422'}}",
        ),
    )
    assert (
        send(cluster, "listener", PUSH, {"X-GitHub-Event": "issues"}, reject_status=403).response_code == 422
    )
    assert send(cluster, "listener", PUSH, {"X-GitHub-Event": "issues"}).response_code == 422


def test_the_body_must_be_json_unless_validation_is_off(cluster: Cluster) -> None:
    apply(
        cluster,
        LISTENER.replace(
            "      interceptors:\n        - ref: {name: github}\n          params:\n            - {name: secretRef, value: {secretName: hook, secretKey: token}}\n            - {name: eventTypes, value: [push]}\n",
            "",
        ),
    )
    bad = send(cluster, "listener", b"not json")
    assert bad.response_code == 400 and bad.status == "invalid"
    assert send(cluster, "listener", b"").response_code == 400
    apply(
        cluster,
        """
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata:
  name: forms
  annotations: {tekton.dev/payload-validation: "false"}
spec:
  triggers:
    - name: slack
      interceptors:
        - ref: {name: slack}
          params: [{name: requestedFields, value: [text]}]
      bindings: [{name: url, value: $(extensions.text)}]
      template: {ref: cm-template}
""",
    )
    ok = send(cluster, "forms", b"text=deploy&token=x", {"Content-Type": "application/x-www-form-urlencoded"})
    assert ok.status == "accepted", ok.triggers
    assert made(cluster, ok.event_id)[0]["data"]["url"] == "deploy"


def test_unknown_listener_is_not_found(cluster: Cluster) -> None:
    with pytest.raises(NotFound):
        send(cluster, "nope")


def test_trigger_ref_label_selector_and_namespace_selector(cluster: Cluster) -> None:
    apply(
        cluster,
        """
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerTemplate
metadata: {name: cm-template, namespace: team}
spec:
  params: [{name: url}]
  resourcetemplates:
    - {apiVersion: v1, kind: ConfigMap, metadata: {generateName: "team-"}, data: {url: $(tt.params.url)}}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: Trigger
metadata: {name: referenced}
spec:
  bindings: [{ref: rev}]
  template: {ref: cm-template}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: Trigger
metadata: {name: labelled, labels: {app: web}}
spec:
  bindings: [{ref: rev}]
  template: {ref: cm-template}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: Trigger
metadata: {name: unlabelled}
spec:
  bindings: [{ref: rev}]
  template: {ref: cm-template}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: Trigger
metadata: {name: in-team, namespace: team}
spec:
  bindings: [{name: url, value: $(body.repository.url)}]
  template: {ref: cm-template}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {name: by-ref}
spec:
  triggers: [{triggerRef: referenced}, {triggerRef: missing}]
---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {name: by-label}
spec:
  labelSelector:
    matchExpressions: [{key: app, operator: In, values: [web, api]}]
---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {name: by-namespace}
spec:
  namespaceSelector: {matchNames: [team]}
""",
    )
    r = send(cluster, "by-ref")
    assert [(t.trigger, t.status) for t in r.triggers] == [("referenced", "created"), ("missing", "failed")]
    assert 'Trigger "missing" not found' in r.triggers[1].reason
    assert r.status == "accepted"
    r = send(cluster, "by-label")
    assert [t.trigger for t in r.triggers] == ["labelled"]
    r = send(cluster, "by-namespace")
    assert [(t.trigger, t.namespace) for t in r.triggers] == [("in-team", "team")]
    (cm,) = made(cluster, r.event_id)
    assert cm["metadata"]["namespace"] == "team" and cm["metadata"]["name"].startswith("team-")


def test_trigger_groups_share_interceptors_and_pass_extensions(cluster: Cluster) -> None:
    apply(
        cluster,
        """
apiVersion: triggers.tekton.dev/v1beta1
kind: Trigger
metadata: {name: grouped, labels: {type: cel-preprocessed}}
spec:
  bindings: [{name: url, value: $(extensions.myfield)}]
  template: {ref: cm-template}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {name: groups}
spec:
  triggerGroups:
    - name: cel-filter-group
      interceptors:
        - ref: {name: cel}
          params:
            - {name: filter, value: "body.action in ['opened', 'reopened']"}
            - {name: overlays, value: [{key: myfield, expression: "body.sha.truncate(3)"}]}
      triggerSelector:
        labelSelector: {matchLabels: {type: cel-preprocessed}}
""",
    )
    ok = send(cluster, "groups", {"action": "opened", "sha": "abcdef"})
    assert [(t.trigger, t.group, t.status) for t in ok.triggers] == [
        ("grouped", "cel-filter-group", "created")
    ]
    assert made(cluster, ok.event_id)[0]["data"]["url"] == "abc"
    no = send(cluster, "groups", {"action": "closed", "sha": "abcdef"})
    assert [(t.group, t.status) for t in no.triggers] == [("cel-filter-group", "rejected")]


def test_binding_failures_and_template_defaults(cluster: Cluster) -> None:
    apply(
        cluster,
        """
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {name: defaults}
spec:
  triggers:
    - name: t
      bindings: [{ref: rev}]
      template: {ref: cm-template}
    - name: broken
      bindings: [{ref: no-such-binding}]
      template: {ref: cm-template}
""",
    )
    r = send(cluster, "defaults", {"repository": {"url": "u"}})
    assert r.triggers[0].status == "created"
    assert made(cluster, r.event_id)[0]["data"] == {
        "revision": "main",
        "url": "u",
        "message": "the default message",
    }
    assert r.triggers[1].status == "failed"
    assert 'TriggerBinding "no-such-binding" not found' in r.triggers[1].reason
    # url has no default: an event without it fails that trigger and creates nothing
    r = send(cluster, "defaults", {"x": 1})
    assert r.status == "failed" and made(cluster, r.event_id) == []
    assert "$(body.repository.url)" in r.triggers[0].reason


def test_invalid_created_objects_are_reported_not_stored(cluster: Cluster) -> None:
    apply(
        cluster,
        """
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {name: invalid}
spec:
  triggers:
    - name: t
      bindings: [{name: timeout, value: $(body.timeout)}]
      template:
        spec:
          params: [{name: timeout}]
          resourcetemplates:
            - apiVersion: tekton.dev/v1beta1
              kind: TaskRun
              metadata: {generateName: run-}
              spec:
                timeout: $(tt.params.timeout)
                taskSpec: {steps: [{image: busybox, script: "true"}]}
""",
    )
    r = send(cluster, "invalid", {"timeout": "soon"})
    assert r.status == "failed"
    assert "timeout" in r.triggers[0].reason and "soon" in r.triggers[0].reason
    assert made(cluster, r.event_id, "TaskRun") == []
    ok = send(cluster, "invalid", {"timeout": "1h"})
    (tr,) = made(cluster, ok.event_id, "TaskRun")
    assert tr["apiVersion"] == "tekton.dev/v1" and tr["spec"]["timeout"] == "1h"


def test_secret_values_are_masked_in_records(cluster: Cluster) -> None:
    apply(
        cluster,
        """
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {name: leaky}
spec:
  triggers:
    - name: t
      interceptors:
        - ref: {name: gitlab}
          params: [{name: secretRef, value: {secretName: hook, secretKey: token}}]
      bindings: [{name: url, value: "$(header.X-Gitlab-Token)"}]
      template: {ref: cm-template}
""",
    )
    r = send(cluster, "leaky", PUSH, {"X-Gitlab-Token": "s3cr3t-value"})
    assert r.status == "accepted"
    rec = cluster.store.get(records.KIND, r.event_id, "default")
    text = json.dumps(rec)
    assert "s3cr3t-value" not in text
    assert rec["spec"]["request"]["headers"]["X-Gitlab-Token"] == "(not recorded)"
    assert rec["status"]["triggers"][0]["params"] == [
        {"name": "url", "value": "***"},
        {"name": "revision", "value": "main"},
        {"name": "message", "value": "the default message"},
    ]


def test_records_are_pruned_and_go_with_their_listener(cluster: Cluster) -> None:
    apply(cluster, LISTENER)
    sink = Sink(cluster, http=httpx.Client(), keep_events=3)
    ids = [sink.handle("default", "listener", Incoming(b"{}", [])).event_id for _ in range(5)]
    sink.close()
    kept = records.list_events(cluster.store, "default", "listener").items
    assert len(kept) == 3
    assert {o["metadata"]["name"] for o in kept} <= set(ids)
    assert ids[-1] in {o["metadata"]["name"] for o in kept}
    cluster.delete("EventListener", "listener", "default")
    assert records.list_events(cluster.store, "default", "listener").items == []


def test_cloud_events_go_to_the_cloud_event_uri(cluster: Cluster) -> None:
    apply(
        cluster,
        LISTENER.replace(
            "  serviceAccountName: sa\n", "  serviceAccountName: sa\n  cloudEventURI: http://sink.test/ce\n"
        ),
    )
    seen: list[httpx.Request] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    raw = json.dumps(PUSH).encode()
    r = send(
        cluster,
        "listener",
        raw,
        {"X-GitHub-Event": "push", "X-Hub-Signature-256": _sig(raw)},
        transport=capture,
    )
    types = [req.headers["ce-type"] for req in seen]
    assert types == [
        "dev.tekton.event.triggers.started.v1",
        "dev.tekton.event.triggers.successful.v1",
        "dev.tekton.event.triggers.done.v1",
    ]
    assert all(json.loads(req.content)["eventID"] == r.event_id for req in seen)


def test_a_listener_without_triggers_accepts_and_records_no_triggers(cluster: Cluster) -> None:
    apply(
        cluster,
        "apiVersion: triggers.tekton.dev/v1beta1\nkind: EventListener\nmetadata: {name: empty}\nspec: {}\n",
    )
    r = send(cluster, "empty")
    assert r.response_code == 202 and r.status == "no-triggers"
    assert records.list_events(cluster.store, "default", "empty", status="no-triggers").items


def test_metrics_count_events_and_created_kinds(cluster: Cluster) -> None:
    from prometheus_client import REGISTRY

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    apply(cluster, LISTENER)
    el = {"eventlistener": "listener", "namespace": "default"}
    before_ok = sample("eventlistener_event_received_count_total", **el, status="succeeded")
    before_bad = sample("eventlistener_event_received_count_total", **el, status="failed")
    before_cm = sample("eventlistener_triggered_resources_total", **el, kind="ConfigMap")
    raw = json.dumps(PUSH).encode()
    send(cluster, "listener", raw, {"X-GitHub-Event": "push", "X-Hub-Signature-256": _sig(raw)})
    send(cluster, "listener", b"not json")
    assert sample("eventlistener_event_received_count_total", **el, status="succeeded") == before_ok + 1
    assert sample("eventlistener_event_received_count_total", **el, status="failed") == before_bad + 1
    assert sample("eventlistener_triggered_resources_total", **el, kind="ConfigMap") == before_cm + 1
    assert sample("tektite_eventlistener_events_total", **el, outcome="invalid") >= 1
