"""Discovery, OpenAPI and path parsing: what kubectl needs to map kinds to URLs."""

from __future__ import annotations

import pytest

from tektite.server import discovery
from tektite.server.status import ApiError
from tektite.server.tables import human_age, table, wants_table
from tektite.server.target import parse_target


def test_groups_prefer_v1_and_list_every_served_version() -> None:
    doc = discovery.group("tekton.dev")
    assert doc is not None
    assert doc["preferredVersion"]["version"] == "v1"
    assert {"v1", "v1beta1"} <= {v["version"] for v in doc["versions"]}
    assert discovery.group("nothing.example") is None
    names = {g["name"] for g in discovery.group_list()["groups"]}
    assert {"tekton.dev", "triggers.tekton.dev"} <= names and "" not in names


def test_resource_lists_have_kinds_verbs_short_names_and_status() -> None:
    doc = discovery.resource_list("tekton.dev", "v1")
    assert doc is not None and doc["groupVersion"] == "tekton.dev/v1"
    by_name = {r["name"]: r for r in doc["resources"]}
    pr = by_name["pipelineruns"]
    assert (pr["kind"], pr["namespaced"], pr["shortNames"]) == ("PipelineRun", True, ["pr"])
    assert {"create", "get", "list", "watch", "patch", "delete"} <= set(pr["verbs"])
    assert "tekton" in pr["categories"]
    assert "pipelineruns/status" in by_name and "taskruns/log" in by_name
    core = discovery.resource_list("", "v1")
    assert core is not None and core["groupVersion"] == "v1"
    assert "configmaps" in {r["name"] for r in core["resources"]}
    assert discovery.resource_list("tekton.dev", "v9") is None


def test_openapi_v3_advertises_field_validation_per_kind() -> None:
    root = discovery.openapi_v3_root()["paths"]
    assert root["apis/tekton.dev/v1"]["serverRelativeURL"].startswith("/openapi/v3/apis/tekton.dev/v1?hash=")
    spec = discovery.openapi_v3_spec("tekton.dev", "v1")
    assert spec is not None
    item = spec["paths"]["/apis/tekton.dev/v1/namespaces/{namespace}/pipelineruns/{name}"]
    patch = item["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "tekton.dev",
        "version": "v1",
        "kind": "PipelineRun",
    }
    assert any(p["name"] == "fieldValidation" and p["in"] == "query" for p in patch["parameters"])
    cluster_scoped = discovery.openapi_v3_spec("tekton.dev", "v1beta1")
    assert (
        cluster_scoped is not None
        and "/apis/tekton.dev/v1beta1/clustertasks/{name}" in cluster_scoped["paths"]
    )


def test_parse_target() -> None:
    t = parse_target("tekton.dev", "v1", ["namespaces", "ci", "pipelineruns", "build-1", "status"])
    assert (t.kind.kind, t.namespace, t.name, t.subresource) == ("PipelineRun", "ci", "build-1", "status")
    every = parse_target("tekton.dev", "v1", ["taskruns"])
    assert every.namespace is None and every.store_namespace == "*"
    ns = parse_target("", "v1", ["namespaces", "ci"])
    assert (ns.kind.kind, ns.name) == ("Namespace", "ci")
    for segments in (
        ["widgets"],
        ["namespaces", "ci", "clustertasks"],
        ["namespaces", "ci", "tasks", "x", "scale"],
    ):
        with pytest.raises(ApiError) as exc:
            parse_target("tekton.dev", "v1", segments)
        assert exc.value.http_status == 404


def test_tables() -> None:
    assert wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
    assert not wants_table("application/json")
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert human_age("2026-01-01T11:59:15Z", now) == "45s"
    assert human_age("2026-01-01T11:55:30Z", now) == "4m30s"
    assert human_age("2026-01-01T11:00:00Z", now) == "60m"
    assert human_age("2025-12-29T12:00:00Z", now) == "3d"
    run = {
        "kind": "PipelineRun",
        "metadata": {"name": "r"},
        "status": {"conditions": [{"type": "Succeeded", "status": "False", "reason": "Failed"}]},
    }
    doc = table("PipelineRun", [run], "7")
    assert doc["rows"][0]["cells"][:3] == ["r", "False", "Failed"]
    assert doc["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert [c["name"] for c in table("ConfigMap", [], "1")["columnDefinitions"]] == ["Name", "Age"]
