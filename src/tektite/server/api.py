"""The Kubernetes-style HTTP API: discovery, OpenAPI, and the REST verbs under ``/api`` and ``/apis``.

Order of checks, as the apiserver does it: authenticate (401), find the resource type (404 for
unknown paths), authorize the verb on the kind (403) - and only then look at objects, so a
caller who may not read something cannot learn whether it exists.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tektite.controller.cluster import Cluster
from tektite.errors import TektiteError
from tektite.server import discovery, protobuf
from tektite.server import logs as logapi
from tektite.server.auth import Auth, Principal, can
from tektite.server.resources import Query, Resources
from tektite.server.status import ApiError, error_response, not_found, resource_ref, status_body
from tektite.server.tables import table, wants_table
from tektite.server.target import Target, parse_target
from tektite.server.watch import Broadcaster, start_rv, stream

log = logging.getLogger("tektite.server")
JSON = dict[str, Any]
MAX_BODY = 3 * 1024 * 1024


def unauthorized() -> JSONResponse:
    return JSONResponse(status_body(401, "Unauthorized", "Unauthorized"), status_code=401)


def _forbidden(principal: Principal, verb: str, target: Target) -> JSONResponse:
    what = resource_ref(target.kind, target.name)
    res = target.kind.plural + (f"/{target.subresource}" if target.subresource else "")
    where = f' in the namespace "{target.namespace}"' if target.namespace else ""
    msg = (
        f'{what} is forbidden: User "{principal.name}" (role {principal.role}) cannot {verb} resource '
        f'"{res}" in API group "{target.kind.group}"{where}'
    )
    body = status_body(403, "Forbidden", msg, {"name": target.name or "", "kind": target.kind.plural})
    return JSONResponse(body, status_code=403)


def _verb(method: str, target: Target, params: Any) -> str:
    if target.subresource == "log":
        return "logs"
    if method in ("GET", "HEAD"):
        if _truthy(params.get("watch")):
            return "watch"
        return "get" if target.name else "list"
    return {
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if target.name else "deletecollection",
    }.get(method, "unknown")


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "")


async def _body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError(413, "RequestEntityTooLarge", f"the request body is larger than {MAX_BODY} bytes")
    if not raw.strip():
        return {}
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if ctype == protobuf.MEDIA_TYPE:  # kubectl create configmap|secret|namespace|serviceaccount
        return protobuf.decode(raw)
    try:
        if ctype in ("application/yaml", "application/apply-patch+yaml"):
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise ApiError(400, "BadRequest", f"the request body is not valid {ctype}: {exc}") from None


class KubeApi:
    def __init__(self, cluster: Cluster, auth: Auth) -> None:
        self.cluster = cluster
        self.auth = auth
        self.resources = Resources(cluster)
        self.broadcaster = Broadcaster(cluster.store)

    def routes(self) -> list[Route]:
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
        return [
            Route("/version", self.version, methods=["GET"]),
            Route("/openapi/v3", self.openapi_root, methods=["GET"]),
            Route("/openapi/v3/{path:path}", self.openapi_gv, methods=["GET"]),
            Route("/api", self.core_versions, methods=["GET"]),
            Route("/apis", self.groups, methods=["GET"]),
            Route("/api/{version}", self.core_resources, methods=["GET"]),
            Route("/apis/{group}", self.group, methods=["GET"]),
            Route("/apis/{group}/{version}", self.group_resources, methods=["GET"]),
            Route("/api/{version}/{rest:path}", self.core_objects, methods=methods),
            Route("/apis/{group}/{version}/{rest:path}", self.group_objects, methods=methods),
        ]

    # -- discovery -------------------------------------------------------------------------------
    async def version(self, request: Request) -> Response:
        return JSONResponse(discovery.version_info())

    def _discovery(self, request: Request, doc: JSON | None) -> Response:
        if self.auth.authenticate(request) is None:
            return unauthorized()
        return JSONResponse(doc) if doc is not None else not_found()

    async def openapi_root(self, request: Request) -> Response:
        return self._discovery(request, discovery.openapi_v3_root())

    async def openapi_gv(self, request: Request) -> Response:
        parts = request.path_params["path"].strip("/").split("/")
        doc = None
        if parts[0] == "api" and len(parts) == 2:
            doc = discovery.openapi_v3_spec("", parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            doc = discovery.openapi_v3_spec(parts[1], parts[2])
        return self._discovery(request, doc)

    async def core_versions(self, request: Request) -> Response:
        return self._discovery(request, discovery.core_versions())

    async def groups(self, request: Request) -> Response:
        return self._discovery(request, discovery.group_list())

    async def core_resources(self, request: Request) -> Response:
        return self._discovery(request, discovery.resource_list("", request.path_params["version"]))

    async def group(self, request: Request) -> Response:
        return self._discovery(request, discovery.group(request.path_params["group"]))

    async def group_resources(self, request: Request) -> Response:
        p = request.path_params
        return self._discovery(request, discovery.resource_list(p["group"], p["version"]))

    # -- objects ---------------------------------------------------------------------------------
    async def core_objects(self, request: Request) -> Response:
        return await self._objects(request, "", request.path_params["version"])

    async def group_objects(self, request: Request) -> Response:
        return await self._objects(request, request.path_params["group"], request.path_params["version"])

    async def _objects(self, request: Request, group: str, version: str) -> Response:
        principal = self.auth.authenticate(request)
        if principal is None:
            return unauthorized()
        target: Target | None = None
        try:
            target = parse_target(group, version, request.path_params["rest"].split("/"))
            verb = _verb(request.method, target, request.query_params)
            if not can(principal, verb, target.kind.kind):
                return _forbidden(principal, verb, target)
            return await self._dispatch(request, target, verb, principal)
        except TektiteError as exc:
            if exc.http_status >= 500:
                log.warning("%s %s: %s", request.method, request.url.path, exc.message)
            name = target.name if target else None
            return error_response(exc, target.kind if target else None, name)

    async def _dispatch(self, request: Request, target: Target, verb: str, principal: Principal) -> Response:
        params = request.query_params
        res = self.resources
        dry_run = params.get("dryRun") == "All"
        as_table = wants_table(request.headers.get("accept", ""))
        query = Query(
            params.get("labelSelector") or None,
            params.get("fieldSelector") or None,
            int(params["limit"]) if params.get("limit", "").isdigit() and int(params["limit"]) > 0 else None,
            params.get("continue") or None,
            "-created" if params.get("orderBy") == "-created" else "name",
            params.get("ownerUid") or None,
        )
        if verb == "logs":
            return await self._logs(request, target)
        if verb == "watch":
            return await self._watch(request, target, query, principal, as_table)
        if verb == "get":
            obj = await asyncio.to_thread(res.get, target, principal)
            if as_table:
                return JSONResponse(
                    table(target.kind.kind, [obj], obj["metadata"].get("resourceVersion", ""))
                )
            return JSONResponse(obj)
        if verb == "list":
            listed = await asyncio.to_thread(res.list, target, query, principal)
            if as_table:
                meta = listed["metadata"]
                include = params.get("includeObject", "Metadata")
                doc = table(
                    target.kind.kind, listed["items"], meta["resourceVersion"], meta.get("continue"), include
                )
                if "remainingItemCount" in meta:
                    doc["metadata"]["remainingItemCount"] = meta["remainingItemCount"]
                return JSONResponse(doc)
            return JSONResponse(listed)
        body = await _body(request)
        if verb == "create":
            obj = await asyncio.to_thread(res.create, target, body, dry_run)
            return JSONResponse(obj, status_code=201)
        if verb == "update":
            return JSONResponse(await asyncio.to_thread(res.replace, target, body, dry_run))
        if verb == "patch":
            ctype = request.headers.get("content-type", "application/merge-patch+json")
            return JSONResponse(await asyncio.to_thread(res.patch, target, ctype, body, dry_run))
        options = body if isinstance(body, dict) else {}
        if params.get("propagationPolicy"):
            options = {**options, "propagationPolicy": params["propagationPolicy"]}
        if verb == "delete":
            code, out = await asyncio.to_thread(res.delete, target, options, dry_run)
            return JSONResponse(out, status_code=code)
        if verb == "deletecollection":
            return JSONResponse(
                await asyncio.to_thread(res.delete_collection, target, query, options, dry_run)
            )
        raise ApiError(405, "MethodNotAllowed", f"{request.method} is not supported here")

    async def _watch(
        self, request: Request, target: Target, query: Query, principal: Principal, as_table: bool
    ) -> Response:
        params = request.query_params
        query.check()
        rv = start_rv(params.get("resourceVersion"))
        initial: list[JSON] = []
        if rv is None:
            listed = await asyncio.to_thread(
                self.resources.list, target, Query(query.label_selector, query.field_selector), principal
            )
            initial = listed["items"]
            if target.name is not None:
                initial = [o for o in initial if o["metadata"]["name"] == target.name]
            rv = int(listed["metadata"]["resourceVersion"])
        timeout = params.get("timeoutSeconds")
        self.broadcaster.start()
        body = stream(
            self.broadcaster,
            target,
            query,
            principal,
            params.get("resourceVersion"),
            float(timeout) if timeout and timeout.isdigit() else None,
            as_table,
            initial,
            rv,
            drain=_truthy(params.get("drain")),
        )
        return StreamingResponse(body, media_type="application/json")

    async def _logs(self, request: Request, target: Target) -> Response:
        assert target.name is not None
        params = request.query_params
        ns = target.namespace or "default"
        obj = await asyncio.to_thread(self.cluster.store.get, target.kind.kind, target.name, ns)
        follow = _truthy(params.get("follow"))
        if target.kind.kind == "PipelineRun" or _truthy(params.get("all")):
            body = logapi.prefixed_logs(self.cluster, target.kind.kind, target.name, ns, follow)
            return StreamingResponse(body, media_type="text/plain; charset=utf-8")
        retry = int(params["retry"]) if params.get("retry", "").isdigit() else None
        container = logapi.pick_container(self.cluster, obj, params.get("container"), retry)
        return StreamingResponse(
            logapi.container_log(self.cluster, obj, container, follow, retry),
            media_type="text/plain; charset=utf-8",
        )
