"""The REST verbs on stored objects, as the Kubernetes apiserver does them.

Plain functions over a :class:`~tektite.controller.cluster.Cluster`: creates and updates go
through ``Cluster.admit`` (structure + Tekton's webhook rules), a stale ``resourceVersion`` is a
409 Conflict, the main resource never changes ``status`` and ``/status`` changes nothing else.
They block (SQL), so the HTTP layer calls them in a worker thread.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

from tektite.controller.cluster import Cluster
from tektite.core.selectors import matches, parse_selector
from tektite.errors import Conflict, NotFound, TektiteError
from tektite.server.auth import Principal, redact
from tektite.server.patch import APPLY_PATCH, apply_patch
from tektite.server.status import ApiError, resource_ref, status_body
from tektite.server.target import Target

JSON = dict[str, Any]
RETRIES = 8


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    value: str
    equal: bool


def parse_field_selector(text: str | None) -> list[FieldRequirement]:
    """``metadata.name=x,metadata.namespace!=y``: the field selectors every kind supports."""
    out: list[FieldRequirement] = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "!=" in part:
            field, _, value = part.partition("!=")
            equal = False
        else:
            field, _, value = part.replace("==", "=").partition("=")
            equal = True
        field = field.strip()
        if field not in ("metadata.name", "metadata.namespace"):
            raise ApiError(
                400,
                "BadRequest",
                f'field label not supported: "{field}"; supported: metadata.name, metadata.namespace',
            )
        out.append(FieldRequirement(field, value.strip(), equal))
    return out


def field_matches(reqs: list[FieldRequirement], obj: JSON) -> bool:
    meta = obj.get("metadata") or {}
    for r in reqs:
        actual = meta.get(r.field.split(".", 1)[1], "")
        if (actual == r.value) != r.equal:
            return False
    return True


@dataclass
class Query:
    label_selector: str | None = None
    field_selector: str | None = None
    limit: int | None = None
    continue_token: str | None = None
    order: Literal["name", "-created"] = "name"  # tektite extension: ?orderBy=-created
    owner_uid: str | None = None  # tektite extension: ?ownerUid=...

    def check(self) -> None:
        """Raise (400) on a malformed selector before anything is read."""
        parse_selector(self.label_selector)
        parse_field_selector(self.field_selector)

    def selects(self, obj: JSON) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return matches(parse_selector(self.label_selector), labels) and field_matches(
            parse_field_selector(self.field_selector), obj
        )


class Resources:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store

    # -- reads ----------------------------------------------------------------------------------
    def get(self, target: Target, principal: Principal | None) -> JSON:
        assert target.name is not None
        obj = self.store.get(target.kind.kind, target.name, target.store_namespace)
        return redact(principal, obj)

    def list(self, target: Target, query: Query, principal: Principal | None) -> JSON:
        query.check()  # a bad selector is a 400 even when nothing matches
        fields = parse_field_selector(query.field_selector)
        names = [f.value for f in fields if f.field == "metadata.name" and f.equal]
        if names and not query.continue_token:
            obj = self.store.try_get(target.kind.kind, names[0], target.store_namespace or "default")
            if target.store_namespace == "*" and obj is None:
                found = self.store.list(target.kind.kind, "*", query.label_selector).items
                items = [o for o in found if field_matches(fields, o)]
            else:
                items = [obj] if obj is not None and query.selects(obj) else []
            rv = self.store.current_resource_version()
            token = None
            remaining = None
        else:
            res = self.store.list(
                target.kind.kind,
                target.store_namespace,
                label_selector=query.label_selector,
                limit=query.limit,
                continue_token=query.continue_token,
                order=query.order,
                owner_uid=query.owner_uid,
            )
            items = [o for o in res.items if field_matches(fields, o)]
            rv, token, remaining = res.resource_version, res.continue_token, res.remaining
        meta: JSON = {"resourceVersion": str(rv)}
        if token:
            meta["continue"] = token
            if remaining is not None:
                meta["remainingItemCount"] = remaining
        return {
            "apiVersion": target.kind.api_version,
            "kind": f"{target.kind.kind}List",
            "metadata": meta,
            "items": [redact(principal, o) for o in items],
        }

    # -- writes ---------------------------------------------------------------------------------
    def _complete(self, target: Target, body: Any) -> JSON:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the request body must be a JSON or YAML object")
        obj = copy.deepcopy(body)
        obj.setdefault("apiVersion", target.kind.api_version)
        obj.setdefault("kind", target.kind.kind)
        if obj["kind"] != target.kind.kind:
            raise ApiError(
                400,
                "BadRequest",
                f"the body is a {obj['kind']} but the request is for {resource_ref(target.kind)}",
            )
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        if target.kind.namespaced and target.namespace:
            if meta.get("namespace") not in (None, "", target.namespace):
                raise ApiError(
                    400,
                    "BadRequest",
                    f'the namespace of the provided object ("{meta["namespace"]}") does not match the '
                    f'namespace sent on the request ("{target.namespace}")',
                )
            meta["namespace"] = target.namespace
        if target.name is not None and meta.get("name") not in (None, target.name):
            raise ApiError(
                400,
                "BadRequest",
                f'the name of the object ("{meta.get("name")}") does not match the name on the URL '
                f'("{target.name}")',
            )
        if target.name is not None:
            meta["name"] = target.name
        return obj

    def create(self, target: Target, body: Any, dry_run: bool = False) -> JSON:
        if target.name is not None or target.subresource is not None:
            raise ApiError(405, "MethodNotAllowed", "POST creates objects in a collection URL")
        if target.kind.namespaced and target.namespace is None:
            raise ApiError(400, "BadRequest", "a namespaced object is created under /namespaces/{namespace}/")
        obj = self._complete(target, body)
        parsed = self.cluster.admit(obj, None, target.namespace)
        if dry_run:
            return parsed.obj
        return self.store.create(parsed.obj)

    def replace(self, target: Target, body: Any, dry_run: bool = False) -> JSON:
        obj = self._complete(target, body)
        sent_rv = (obj.get("metadata") or {}).get("resourceVersion")
        status_only = target.subresource == "status"
        if not status_only:
            obj = self.cluster.admit(obj, None, target.namespace).obj
        return self._write(target, lambda current: obj, sent_rv, status_only, dry_run)

    def patch(self, target: Target, content_type: str, body: Any, dry_run: bool = False) -> JSON:
        status_only = target.subresource == "status"
        if content_type.split(";")[0].strip() == APPLY_PATCH and target.subresource is None:
            assert target.name is not None
            if self.store.try_get(target.kind.kind, target.name, target.store_namespace) is None:
                collection = Target(target.kind, target.group, target.version, target.namespace)
                obj = self._complete(target, body)
                return self.create(collection, obj, dry_run)
        sent_rv = body.get("metadata", {}).get("resourceVersion") if isinstance(body, dict) else None

        def build(current: JSON) -> JSON:
            patched = apply_patch(content_type, current, body)
            meta = patched.get("metadata") or {}
            for key in ("name", "namespace"):
                if meta.get(key) != current["metadata"].get(key):
                    raise ApiError(422, "Invalid", f"metadata.{key} cannot be changed by a patch")
            if patched.get("kind") != current.get("kind"):
                raise ApiError(422, "Invalid", "kind cannot be changed by a patch")
            if status_only:
                return patched
            patched["status"] = current.get("status")
            if patched["status"] is None:
                patched.pop("status")
            return self.cluster.admit(patched, None, target.namespace).obj

        return self._write(target, build, sent_rv, status_only, dry_run)

    def _write(
        self,
        target: Target,
        build: Any,
        sent_rv: Any,
        status_only: bool,
        dry_run: bool,
    ) -> JSON:
        assert target.name is not None
        for _attempt in range(RETRIES):
            current = self.store.get(target.kind.kind, target.name, target.store_namespace)
            new: JSON = copy.deepcopy(build(current))
            meta = new.setdefault("metadata", {})
            meta["resourceVersion"] = str(sent_rv) if sent_rv else current["metadata"]["resourceVersion"]
            if not status_only:
                if "status" in current:
                    new["status"] = current["status"]
                else:
                    new.pop("status", None)
            if dry_run:
                return new
            try:
                return self.store.update(new, status_only=status_only)
            except Conflict:
                if sent_rv:
                    raise
        raise Conflict(
            f"{resource_ref(target.kind, target.name)}: the object kept changing; gave up after "
            f"{RETRIES} attempts"
        )

    def delete(self, target: Target, options: JSON, dry_run: bool = False) -> tuple[int, JSON]:
        assert target.name is not None
        kind = target.kind.kind
        current = self.store.get(kind, target.name, target.store_namespace)
        pre = options.get("preconditions") or {}
        cmeta = current["metadata"]
        if pre.get("uid") and pre["uid"] != cmeta.get("uid"):
            raise Conflict(f"{resource_ref(target.kind, target.name)}: precondition failed: UID mismatch")
        if pre.get("resourceVersion") and str(pre["resourceVersion"]) != str(cmeta.get("resourceVersion")):
            raise Conflict(
                f"{resource_ref(target.kind, target.name)}: precondition failed: resourceVersion mismatch"
            )
        if dry_run:
            return 200, current
        cascade = (options.get("propagationPolicy") or "Background") != "Orphan"
        result = self.store.delete(kind, target.name, target.store_namespace, cascade=cascade)
        for obj in result.deleted:
            self.cluster.cleanup(obj)
        held = next((o for o in result.pending if o["metadata"].get("uid") == cmeta.get("uid")), None)
        if held is not None:
            return 202, held
        body = status_body(200, "", "")
        body.pop("reason")
        body.pop("message")
        body["details"] = {
            "name": target.name,
            "group": target.kind.group,
            "kind": target.kind.plural,
            "uid": cmeta.get("uid"),
        }
        return 200, body

    def delete_collection(self, target: Target, query: Query, options: JSON, dry_run: bool) -> JSON:
        listed = self.list(target, Query(query.label_selector, query.field_selector), None)
        deleted = []
        for obj in listed["items"]:
            meta = obj["metadata"]
            one = Target(target.kind, target.group, target.version, meta.get("namespace"), meta["name"], None)
            try:
                self.delete(one, options, dry_run)
            except NotFound:
                continue
            deleted.append(obj)
        listed["items"] = deleted
        return listed


def check_body_size(body: bytes, limit: int = 3 * 1024 * 1024) -> None:
    if len(body) > limit:
        raise TektiteError(f"request body is {len(body)} bytes; the limit is {limit}")
