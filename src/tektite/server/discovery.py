"""Discovery documents (``/api``, ``/apis``, group/version resource lists), ``/version`` and a
minimal OpenAPI v3, so that kubectl maps kinds to URLs and uses server-side field validation.

Every kind in :data:`tektite.api.scheme.KINDS` is served at its stored version and at the older
versions tektite accepts (``tekton.dev/v1beta1`` Tasks are converted on the way in; objects are
always returned at their stored version).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tektite import __version__
from tektite.api.scheme import KINDS, Kind

JSON = dict[str, Any]
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_PREFERRED_ORDER = ("v1", "v1beta1", "v1alpha1")
_CATEGORIES = {
    "tekton.dev": ["tekton", "tekton-pipelines"],
    "triggers.tekton.dev": ["tekton", "tekton-triggers"],
}


@dataclass(frozen=True)
class Served:
    kind: Kind
    version: str


def served_versions(kind: Kind) -> tuple[str, ...]:
    return (kind.version, *kind.accepted_versions)


def groups() -> dict[str, list[str]]:
    """group -> versions, preferred first ("" is the core group)."""
    out: dict[str, set[str]] = {}
    for kind in KINDS.values():
        out.setdefault(kind.group, set()).update(served_versions(kind))

    def rank(v: str) -> tuple[int, str]:
        return (_PREFERRED_ORDER.index(v) if v in _PREFERRED_ORDER else 99, v)

    return {g: sorted(vs, key=rank) for g, vs in out.items()}


def kinds_at(group: str, version: str) -> list[Kind]:
    return [k for k in KINDS.values() if k.group == group and version in served_versions(k)]


def lookup(group: str, version: str, plural: str) -> Kind | None:
    for kind in kinds_at(group, version):
        if kind.plural == plural:
            return kind
    return None


def version_info() -> JSON:
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": f"v1.32.0-tektite.{__version__}",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "tektite",
        "platform": "linux/amd64",
    }


def core_versions() -> JSON:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    }


def _group_doc(group: str, versions: list[str]) -> JSON:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def group_list() -> JSON:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_doc(g, vs) for g, vs in sorted(groups().items()) if g],
    }


def group(name: str) -> JSON | None:
    versions = groups().get(name)
    if not name or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(name, versions)}


def resource_list(group: str, version: str) -> JSON | None:
    kinds = kinds_at(group, version)
    if not kinds:
        return None
    resources: list[JSON] = []
    for k in sorted(kinds, key=lambda k: k.plural):
        entry: JSON = {
            "name": k.plural,
            "singularName": k.singular,
            "namespaced": k.namespaced,
            "kind": k.kind,
            "verbs": VERBS,
        }
        if k.short_names:
            entry["shortNames"] = list(k.short_names)
        if k.group in _CATEGORIES:
            entry["categories"] = _CATEGORIES[k.group]
        resources.append(entry)
        sub = {"namespaced": k.namespaced, "kind": k.kind, "singularName": ""}
        if k.group:
            resources.append({"name": f"{k.plural}/status", **sub, "verbs": ["get", "patch", "update"]})
        if k.kind == "TaskRun":
            resources.append({"name": "taskruns/log", **sub, "kind": "TaskRun", "verbs": ["get"]})
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


# -- OpenAPI v3 ---------------------------------------------------------------------------------
def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _all_gvs() -> Iterator[tuple[str, str]]:
    for g, versions in sorted(groups().items()):
        for v in versions:
            yield g, v


def openapi_v3_spec(group: str, version: str) -> JSON | None:
    """One group-version's document: paths with Kubernetes' vendor extensions and query params,
    and a permissive schema per kind (tektite validates on the server, strictly)."""
    kinds = kinds_at(group, version)
    if not kinds:
        return None
    prefix = "/" + _gv_path(group, version)
    query = [
        {"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for n in ("dryRun", "fieldManager", "fieldValidation")
    ]
    paths: JSON = {}
    schemas: JSON = {}
    for k in kinds:
        gvk = {"group": group, "version": version, "kind": k.kind}
        schema_name = f"{group or 'io.k8s.api.core'}.{version}.{k.kind}"
        schemas[schema_name] = {
            "type": "object",
            "x-kubernetes-group-version-kind": [gvk],
            "x-kubernetes-preserve-unknown-fields": True,
        }
        ref = {"$ref": f"#/components/schemas/{schema_name}"}
        ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
        base = f"{prefix}/namespaces/{{namespace}}/{k.plural}" if k.namespaced else f"{prefix}/{k.plural}"
        op = {"x-kubernetes-group-version-kind": gvk, "parameters": query, "responses": ok}
        paths[base] = {"post": {**op, "x-kubernetes-action": "post"}, "parameters": query}
        paths[base + "/{name}"] = {
            "get": {**op, "x-kubernetes-action": "get"},
            "put": {**op, "x-kubernetes-action": "put"},
            "patch": {**op, "x-kubernetes-action": "patch"},
            "delete": {**op, "x-kubernetes-action": "delete"},
            "parameters": query,
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "tektite", "version": __version__},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def openapi_v3_root() -> JSON:
    paths: JSON = {}
    for g, v in _all_gvs():
        spec = openapi_v3_spec(g, v)
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16].upper()
        paths[_gv_path(g, v)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}?hash={digest}"}
    return {"paths": paths}
