"""``RemoteStore``: the :class:`~tektite.store.base.Store` protocol over a ``tektite serve`` API.

``Cluster(home, store=RemoteStore(url, token))`` makes the CLI's ``get/apply/delete/describe/
run`` talk to a server (``--server URL`` / ``TEKTITE_SERVER``, ``--token`` / ``TEKTITE_TOKEN``)
instead of the embedded database. Errors come back as the same :class:`TektiteError` classes the
local store raises, with the server's message.

Beyond the Store protocol: :meth:`RemoteStore.logs` streams a run's logs from the log endpoints.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import httpx

from tektite.api.scheme import KINDS, Kind
from tektite.errors import (
    AlreadyExists,
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    TektiteError,
    Unauthorized,
    ValidationError,
)
from tektite.store.base import (
    ALL_NAMESPACES,
    DEFAULT_NAMESPACE,
    JSON,
    SCAN_PAGE,
    DeleteResult,
    Event,
    EventList,
    JSONList,
    Listener,
    ListResult,
    MetadataPatches,
    PatchResults,
    UpdateResults,
)

_BY_REASON: dict[str, type[TektiteError]] = {
    "NotFound": NotFound,
    "AlreadyExists": AlreadyExists,
    "Conflict": Conflict,
    "Unauthorized": Unauthorized,
    "Forbidden": Forbidden,
}


def _kind(name: str) -> Kind:
    kind = KINDS.get(name)
    if kind is None:
        raise TektiteError(f'unknown kind "{name}"')
    return kind


def error_from(resp: httpx.Response, url: str) -> TektiteError:
    try:
        body = resp.json()
    except ValueError:
        body = {}
    message = str(body.get("message") or resp.text[:300] or resp.reason_phrase)
    reason = str(body.get("reason") or "")
    if resp.status_code == 401:
        return Unauthorized(
            f"{url}: the server refused the request (401 Unauthorized)",
            hint="pass a token with --token or TEKTITE_TOKEN (`tektite token create` on the server)",
        )
    if reason == "Invalid" or resp.status_code == 422:
        causes = (body.get("details") or {}).get("causes") or []
        errors = [
            FieldError(tuple(str(c.get("field", "")).split(".")), str(c.get("message", ""))) for c in causes
        ]
        err = ValidationError(errors or [FieldError((), message)])
        return err
    cls = _BY_REASON.get(reason)
    if cls is not None:
        return cls(message)
    exc = TektiteError(message)
    exc.http_status = resp.status_code
    exc.reason = reason or "Error"
    return exc


class RemoteStore:
    """A Store that is a client of ``tektite serve``. Thread-safe (one httpx client)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        ca_file: str | Path | None = None,
        insecure: bool = False,
        timeout: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        verify: ssl.SSLContext | bool = True
        if insecure:
            verify = False
        elif ca_file:
            verify = ssl.create_default_context(cafile=str(ca_file))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, verify=verify, timeout=timeout)
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, url: str, token: str | None = None) -> RemoteStore:
        """``TEKTITE_TOKEN`` and ``TEKTITE_CA_FILE`` (or ``TEKTITE_INSECURE=1``) from the environment."""
        return cls(
            url,
            token or os.environ.get("TEKTITE_TOKEN"),
            ca_file=os.environ.get("TEKTITE_CA_FILE") or None,
            insecure=os.environ.get("TEKTITE_INSECURE") == "1",
        )

    # -- paths --------------------------------------------------------------------------------
    @staticmethod
    def path(kind: Kind, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
        if kind.namespaced and namespace not in (None, ALL_NAMESPACES):
            base += f"/namespaces/{namespace}"
        base += f"/{kind.plural}"
        if name is not None:
            base += f"/{name}"
        if sub is not None:
            base += f"/{sub}"
        return base

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise TektiteError(
                f"cannot reach the tektite server at {self.url}: {exc}",
                hint="is `tektite serve` running? For HTTPS with its own CA set TEKTITE_CA_FILE",
            ) from None
        if resp.status_code >= 400:
            raise error_from(resp, self.url + path)
        return resp

    # -- Store protocol -----------------------------------------------------------------------
    def create(self, obj: JSON) -> JSON:
        kind = _kind(str(obj.get("kind", "")))
        ns = (obj.get("metadata") or {}).get("namespace") or DEFAULT_NAMESPACE
        created: JSON = self._call("POST", self.path(kind, ns), json=obj).json()
        self._notify("ADDED", created)
        return created

    def get(self, kind: str, name: str, namespace: str | None = DEFAULT_NAMESPACE) -> JSON:
        k = _kind(kind)
        obj: JSON = self._call("GET", self.path(k, namespace or DEFAULT_NAMESPACE, name)).json()
        return obj

    def try_get(self, kind: str, name: str, namespace: str | None = DEFAULT_NAMESPACE) -> JSON | None:
        try:
            return self.get(kind, name, namespace)
        except NotFound:
            return None

    def list(
        self,
        kind: str,
        namespace: str | None = ALL_NAMESPACES,
        label_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        order: Literal["name", "-created"] = "name",
        owner_uid: str | None = None,
    ) -> ListResult:
        k = _kind(kind)
        params: dict[str, str] = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if limit:
            params["limit"] = str(limit)
        if continue_token:
            params["continue"] = continue_token
        if order != "name":
            params["orderBy"] = order
        if owner_uid:
            params["ownerUid"] = owner_uid
        body = self._call("GET", self.path(k, namespace), params=params).json()
        meta = body.get("metadata") or {}
        items = [{"apiVersion": k.api_version, "kind": k.kind, **o} for o in body.get("items") or []]
        return ListResult(
            items,
            int(meta.get("resourceVersion") or 0),
            meta.get("continue"),
            meta.get("remainingItemCount"),
        )

    def scan(
        self,
        kind: str,
        page: int = SCAN_PAGE,
        label_selector: str | None = None,
        namespace: str | None = ALL_NAMESPACES,
        order: Literal["name", "-created"] = "name",
    ) -> Iterator[JSON]:
        token: str | None = None
        while True:
            listed = self.list(
                kind, namespace, label_selector=label_selector, limit=page, continue_token=token, order=order
            )
            yield from listed.items
            token = listed.continue_token
            if not token:
                return

    def update_many(self, objs: JSONList) -> UpdateResults:
        """One request per object (the API has no batch write)."""
        out: UpdateResults = []
        for obj in objs:
            try:
                out.append(self.update(obj))
            except (Conflict, NotFound) as exc:
                out.append(exc)
        return out

    def patch_metadata_many(self, patches: MetadataPatches) -> PatchResults:
        """One merge-patch request per object; the resourceVersion in it is the precondition."""
        out: PatchResults = []
        for patch in patches:
            kind = _kind(patch.kind)
            path = self.path(kind, patch.namespace or DEFAULT_NAMESPACE, patch.name)
            try:
                resp = self._call(
                    "PATCH",
                    path,
                    json=patch.document(patch.resource_version),
                    headers={"content-type": "application/merge-patch+json"},
                )
            except (Conflict, NotFound) as exc:
                out.append(exc)
                continue
            updated: JSON = resp.json()
            self._notify("MODIFIED", updated)
            out.append(int(updated["metadata"]["resourceVersion"]))
        return out

    def update(self, obj: JSON, *, status_only: bool = False) -> JSON:
        kind = _kind(str(obj.get("kind", "")))
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") or DEFAULT_NAMESPACE
        sub = "status" if status_only else None
        updated: JSON = self._call("PUT", self.path(kind, ns, meta.get("name", ""), sub), json=obj).json()
        self._notify("MODIFIED", updated)
        return updated

    def delete(
        self, kind: str, name: str, namespace: str | None = DEFAULT_NAMESPACE, *, cascade: bool = True
    ) -> DeleteResult:
        k = _kind(kind)
        options = {"propagationPolicy": "Background" if cascade else "Orphan"}
        resp = self._call("DELETE", self.path(k, namespace or DEFAULT_NAMESPACE, name), json=options)
        body = resp.json()
        if resp.status_code == 202 or body.get("kind") == k.kind:
            return DeleteResult(pending=[body])
        details = body.get("details") or {}
        stub = {
            "apiVersion": k.api_version,
            "kind": k.kind,
            "metadata": {"name": name, "namespace": namespace, "uid": details.get("uid", "")},
        }
        self._notify("DELETED", stub)
        return DeleteResult(deleted=[stub])

    def events_since(
        self, resource_version: int, kinds: tuple[str, ...] | None = None, limit: int = 1000
    ) -> EventList:
        """Events from the server's log (one draining watch per kind), merged in resourceVersion order."""
        events: EventList = []
        for kind in kinds or tuple(KINDS):
            k = _kind(kind)
            params = {"watch": "true", "resourceVersion": str(resource_version), "drain": "true"}
            resp = self._call("GET", self.path(k, ALL_NAMESPACES), params=params)
            for line in resp.text.splitlines():
                if not line.strip():
                    continue
                evt = json.loads(line)
                if evt.get("type") == "ERROR":
                    raise error_from(
                        httpx.Response(int(evt["object"].get("code", 500)), json=evt["object"]), self.url
                    )
                obj = evt["object"]
                rv = int((obj.get("metadata") or {}).get("resourceVersion") or 0)
                events.append(Event(evt["type"], obj, rv))
        events.sort(key=lambda e: e.resource_version)
        return events[:limit]

    def current_resource_version(self) -> int:
        return self.list("ConfigMap", DEFAULT_NAMESPACE, limit=1).resource_version

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Listeners see this client's own writes (other writers: use ``events_since``)."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _notify(self, type_: Literal["ADDED", "MODIFIED", "DELETED"], obj: JSON) -> None:
        rv = int((obj.get("metadata") or {}).get("resourceVersion") or 0)
        for listener in list(self._listeners):
            listener(Event(type_, obj, rv))

    def close(self) -> None:
        self.http.close()

    # -- beyond the protocol --------------------------------------------------------------------
    def logs(
        self,
        kind: str,
        name: str,
        namespace: str = DEFAULT_NAMESPACE,
        *,
        follow: bool = False,
        container: str | None = None,
    ) -> Iterator[str]:
        """A run's log lines: one container's raw lines, or every step prefixed like tkn."""
        k = _kind(kind)
        params = {"follow": "true" if follow else "false"}
        if container:
            params["container"] = container
        else:
            params["all"] = "true"
        with self.http.stream(
            "GET", self.path(k, namespace, name, "log"), params=params, timeout=None
        ) as resp:
            if resp.status_code >= 400:
                resp.read()
                raise error_from(resp, self.url)
            yield from resp.iter_lines()
