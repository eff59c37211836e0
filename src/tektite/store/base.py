"""The Store protocol: Kubernetes-style object storage with resourceVersions and watch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from tektite.errors import TektiteError

JSON = dict[str, Any]
EventType = Literal["ADDED", "MODIFIED", "DELETED"]
DEFAULT_NAMESPACE = "default"
ALL_NAMESPACES = "*"


@dataclass(frozen=True)
class Event:
    type: EventType
    object: JSON
    resource_version: int

    @property
    def kind(self) -> str:
        return str(self.object.get("kind", ""))

    @property
    def namespace(self) -> str:
        return str((self.object.get("metadata") or {}).get("namespace", ""))

    @property
    def name(self) -> str:
        return str((self.object.get("metadata") or {}).get("name", ""))


@dataclass
class ListResult:
    items: list[JSON]
    resource_version: int
    continue_token: str | None = None
    remaining: int | None = None


@dataclass
class DeleteResult:
    """What a delete removed: the object itself and everything it owned (cascade)."""

    deleted: list[JSON] = field(default_factory=list)
    pending: list[JSON] = field(default_factory=list)  # marked for deletion, held by finalizers


@dataclass(frozen=True)
class MetadataPatch:
    """A merge patch (RFC 7386) of one object's annotations and finalizers, applied only while its
    resourceVersion is still ``resource_version``: how Chains marks a run (``MergePatchType``).
    An annotation set to None is removed; ``finalizers`` None leaves them, a tuple replaces them.

    ``base``, when the caller has it, is the whole object exactly as it read it at
    ``resource_version`` and has not changed since: a store may then write ``base`` with the patch
    applied (:meth:`applied_to`) instead of merging the patch into its own copy. Only a caller
    that owns what it read may pass it: a wrong base is written as it is."""

    kind: str
    name: str
    namespace: str | None
    resource_version: str
    annotations: dict[str, str | None] = field(default_factory=dict)
    finalizers: tuple[str, ...] | None = None
    base: JSON | None = field(default=None, compare=False, repr=False)

    def applied_to(self, base: JSON, resource_version: str) -> JSON:
        """``base`` with the patch applied and ``resource_version`` (``base`` is not changed)."""
        meta = dict(base.get("metadata") or {})
        self.apply(meta)
        meta["resourceVersion"] = resource_version
        return {**base, "metadata": meta}

    def document(self, resource_version: str) -> JSON:
        """The merge-patch document, carrying ``resource_version`` (the precondition, or the new
        resourceVersion when a store writes it into the body)."""
        meta: JSON = {"resourceVersion": resource_version}
        if self.annotations:
            meta["annotations"] = self.annotations
        if self.finalizers is not None:
            meta["finalizers"] = list(self.finalizers) or None
        return {"metadata": meta}

    def apply(self, meta: JSON) -> None:
        """Merge the patch into an object's ``metadata`` (what the document does, in Python)."""
        if self.annotations:
            annotations = dict(meta.get("annotations") or {})
            for key, value in self.annotations.items():
                if value is None:
                    annotations.pop(key, None)
                else:
                    annotations[key] = value
            if annotations:
                meta["annotations"] = annotations
            else:
                meta.pop("annotations", None)
        if self.finalizers is not None:
            if self.finalizers:
                meta["finalizers"] = list(self.finalizers)
            else:
                meta.pop("finalizers", None)


SCAN_PAGE = 500  # objects read per query by Store.scan


MetadataPatches = list[MetadataPatch]
PatchResults = list[int | TektiteError]  # the new resourceVersion, or why it was not applied


Listener = Callable[[Event], None]
EventList = list[Event]
JSONList = list[JSON]
UpdateResults = list[JSON | TektiteError]


class Store(Protocol):
    """All callers use this protocol; SQLite and PostgreSQL implement it (``store.sql``)."""

    def create(self, obj: JSON) -> JSON: ...

    def get(self, kind: str, name: str, namespace: str | None = DEFAULT_NAMESPACE) -> JSON: ...

    def try_get(self, kind: str, name: str, namespace: str | None = DEFAULT_NAMESPACE) -> JSON | None: ...

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
        """Objects of ``kind`` in pages of ``limit``."""
        ...

    def scan(
        self,
        kind: str,
        page: int = SCAN_PAGE,
        label_selector: str | None = None,
        namespace: str | None = ALL_NAMESPACES,
        order: Literal["name", "-created"] = "name",
    ) -> Iterator[JSON]:
        """Every object of ``kind`` (that ``label_selector`` selects, in ``namespace``), in
        ``order`` as :meth:`list`, read ``page`` at a time and each parsed only when the iteration
        reaches it: a caller that works on each object as it comes finds it still in the CPU's
        caches, and holds few at once (20,000 runs listed: 90 MB, against 645 MB for one list)."""
        ...

    def update(self, obj: JSON, *, status_only: bool = False) -> JSON: ...

    def update_many(self, objs: JSONList) -> UpdateResults:
        """Full updates in one transaction where the backend can; each fails on its own."""
        ...

    def patch_metadata_many(self, patches: MetadataPatches) -> PatchResults:
        """Several :class:`MetadataPatch` in one transaction; each fails on its own (``Conflict``,
        ``NotFound``). Removing the last finalizer of an object being deleted deletes it."""
        ...

    def delete(
        self, kind: str, name: str, namespace: str | None = DEFAULT_NAMESPACE, *, cascade: bool = True
    ) -> DeleteResult: ...

    def events_since(
        self, resource_version: int, kinds: tuple[str, ...] | None = None, limit: int = 1000
    ) -> EventList: ...

    def current_resource_version(self) -> int: ...

    def subscribe(self, listener: Listener) -> Callable[[], None]: ...

    def close(self) -> None: ...
