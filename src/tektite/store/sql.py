"""SQL store (SQLAlchemy Core): SQLite (WAL) embedded by default, PostgreSQL when scaled out.

One global resourceVersion counter; every write appends an event row in the same
transaction, so watches replay exactly what happened, in order, from any resourceVersion
still retained.
"""

from __future__ import annotations

import base64
import contextlib
import random
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, NamedTuple

import orjson
import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.schema import CreateIndex

from tektite.api.scheme import KINDS
from tektite.core.conditions import now
from tektite.core.derived import (
    CHAINS_LABEL,
    DERIVED_KEYS,
    DERIVED_KINDS,
    DERIVED_VERSION,
    chains_pending,
    derived_labels,
)
from tektite.core.jsontext import compact_json
from tektite.core.selectors import parse_selector
from tektite.errors import AlreadyExists, Conflict, NotFound, TektiteError
from tektite.store.base import (
    ALL_NAMESPACES,
    DEFAULT_NAMESPACE,
    JSON,
    SCAN_PAGE,
    DeleteResult,
    Event,
    EventList,
    EventType,
    JSONList,
    Listener,
    ListResult,
    MetadataPatch,
    MetadataPatches,
    PatchResults,
    UpdateResults,
)

metadata = sa.MetaData()

objects = sa.Table(
    "objects",
    metadata,
    sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("namespace", sa.String(253), nullable=False),
    sa.Column("name", sa.String(253), nullable=False),
    sa.Column("uid", sa.String(36), nullable=False, unique=True),
    sa.Column("rv", sa.BigInteger, nullable=False),
    sa.Column("created", sa.String(40), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    # 1 while the run may need the Chains watcher (tektite.core.derived.chains_pending), else 0;
    # selected as the label tektite.dev/chains=pending. A column and not a label row: the mark of
    # a signed run clears it in the same UPDATE that writes the mark.
    sa.Column("chains_pending", sa.SmallInteger, nullable=False, server_default="0"),
    sa.UniqueConstraint("kind", "namespace", "name", name="uq_object_key"),
    sa.Index("ix_objects_kind_created", "kind", "created", "pk"),
    # a namespace's objects newest first (listing runs): without it each page, and its count of
    # what remains, read every row of the kind to check its namespace
    sa.Index("ix_objects_kind_ns_created", "kind", "namespace", "created", "pk"),
)
# Partial indexes, in SQL both SQLite and PostgreSQL take (declared on the table with
# sqlite_where/postgresql_where, SQLAlchemy would import its PostgreSQL dialects at every start).
_PARTIAL_INDEXES = {
    "ix_objects_chains_pending": "CREATE INDEX IF NOT EXISTS ix_objects_chains_pending ON objects "
    "(kind, namespace, name) WHERE chains_pending = 1",
}

labels = sa.Table(
    "labels",
    metadata,
    sa.Column("obj_pk", sa.Integer, sa.ForeignKey("objects.pk", ondelete="CASCADE"), nullable=False),
    sa.Column("key", sa.String(317), nullable=False),
    sa.Column("value", sa.String(63), nullable=False),
    sa.Index("ix_labels_kv", "key", "value", "obj_pk"),
    # An object's labels, and one of them: without "key" here SQLite looks one up by key in
    # ix_labels_kv, through every object's row of that key (20,000 runs: 2.5 ms to change a run's
    # status label; a keys() with a group label, quadratic).
    sa.Index("ix_labels_obj_key", "obj_pk", "key", "value"),
)
# what a database from before ix_labels_obj_key has instead (dropped when the store opens it)
_OLD_INDEXES = ("ix_labels_obj",)

owners = sa.Table(
    "owners",
    metadata,
    sa.Column("owner_uid", sa.String(36), nullable=False),
    sa.Column("obj_pk", sa.Integer, sa.ForeignKey("objects.pk", ondelete="CASCADE"), nullable=False),
    sa.Index("ix_owners_owner", "owner_uid"),
    sa.Index("ix_owners_obj", "obj_pk"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("rv", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("type", sa.String(10), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Index("ix_events_kind_rv", "kind", "rv"),
)

counter = sa.Table(
    "counter",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("rv", sa.BigInteger, nullable=False),
)

# Facts about the database itself: "derived-labels" is the DERIVED_VERSION its run labels follow.
store_info = sa.Table(
    "store_info",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
)

EVENT_RETENTION = 100_000

# Statements built once: SQLAlchemy caches their compiled form, which keeps per-call overhead low.
_ROW = sa.select(objects.c.pk, objects.c.body, objects.c.rv).where(
    objects.c.kind == sa.bindparam("k"),
    objects.c.namespace == sa.bindparam("ns"),
    objects.c.name == sa.bindparam("n"),
)
_ROWS = sa.select(objects.c.pk, objects.c.body, objects.c.rv, objects.c.name).where(
    objects.c.kind == sa.bindparam("k"),
    objects.c.namespace == sa.bindparam("ns"),
    objects.c.name.in_(sa.bindparam("names", expanding=True)),
)
_NEXT_RV = (
    counter.update()
    .where(counter.c.id == 1)
    .values(rv=counter.c.rv + sa.bindparam("n", 1))
    .returning(counter.c.rv)
)
_EVENT_INSERT = events.insert().values(
    rv=sa.bindparam("rv"), kind=sa.bindparam("kind"), type=sa.bindparam("type"), body=sa.bindparam("body")
)
_OBJECT_INSERT = (
    objects.insert()
    .values(
        kind=sa.bindparam("kind"),
        namespace=sa.bindparam("namespace"),
        name=sa.bindparam("name"),
        uid=sa.bindparam("uid"),
        rv=sa.bindparam("rv"),
        created=sa.bindparam("created"),
        body=sa.bindparam("body"),
        chains_pending=sa.bindparam("chains_pending"),
    )
    .returning(objects.c.pk)
)
_OBJECT_UPDATE = (
    objects.update()
    .where(objects.c.pk == sa.bindparam("b_pk"))
    .values(rv=sa.bindparam("b_rv"), body=sa.bindparam("b_body"), chains_pending=sa.bindparam("b_pending"))
)
_LABELS_DELETE = labels.delete().where(labels.c.obj_pk == sa.bindparam("b_pk"))
_LABEL_DELETE = labels.delete().where(
    labels.c.obj_pk == sa.bindparam("b_pk"), labels.c.key == sa.bindparam("b_key")
)
_OWNERS_DELETE = owners.delete().where(owners.c.obj_pk == sa.bindparam("b_pk"))
_OBJECT_DELETE = objects.delete().where(objects.c.pk == sa.bindparam("b_pk"))
_LABELS_INSERT = labels.insert().values(
    obj_pk=sa.bindparam("obj_pk"), key=sa.bindparam("key"), value=sa.bindparam("value")
)
_OWNERS_INSERT = owners.insert().values(obj_pk=sa.bindparam("obj_pk"), owner_uid=sa.bindparam("owner_uid"))


class _Stored(NamedTuple):
    pk: int
    body: str
    rv: int


class _Compiled:
    """A statement compiled once for the engine's dialect and run on the DBAPI cursor of the
    SQLAlchemy connection, inside its transaction. The store's few hot statements go this way:
    SQLAlchemy's per-execute work (compiled-cache lookup, parameter construction, result
    wrapping; ~15-20 us) is most of the cost of a small SQLite statement (~4 us), and a store
    write runs five or six of them. The SQL text and the parameter style are SQLAlchemy's, so
    SQLite and PostgreSQL both work unchanged."""

    def __init__(self, stmt: Any, dialect: sa.Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        self.defaults = dict(compiled.params)
        self.order = compiled.positiontup  # None: the driver takes named parameters

    def args(self, values: dict[str, Any]) -> Any:
        merged = {**self.defaults, **values}
        return merged if self.order is None else tuple(merged[name] for name in self.order)

    def first(self, conn: sa.Connection, values: dict[str, Any]) -> Any:
        """Run it; its first row (a tuple), None if it returned none."""
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cur.execute(self.sql, self.args(values))
            return cur.fetchone()
        finally:
            cur.close()

    def run(self, conn: sa.Connection, values: dict[str, Any]) -> None:
        self.run_many(conn, [values])

    def run_many(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cur.executemany(self.sql, [self.args(r) for r in rows])
        cur.close()


# SQLite's fast path of a metadata patch: the object with the patch applied is written whole. The
# caller's copy is used when it has one (MetadataPatch.base), else the row read here (only at the
# patch's resourceVersion: otherwise the general path answers Conflict or NotFound).
_SQLITE_READ_AT = "SELECT body FROM objects WHERE kind = ? AND namespace = ? AND name = ? AND rv = ?"
_SQLITE_WRITE_PATCHED = (
    "UPDATE objects SET rv = ?, body = ?, chains_pending = ? WHERE kind = ? AND namespace = ? AND name = ? "
    "AND rv = ?"
)
# Its MODIFIED event points at the object's row ("@<pk>") instead of holding a second copy of the
# body: while the row is at the event's resourceVersion, the row's body is the event's. SQLite's
# triggers below copy the body into the event before the row changes again or is deleted, so a
# reader always gets the object as it was at that event. Only SQLite's fast path writes these.
_EVENT_REF = "@"
_SQLITE_EVENT_REF = (
    f"INSERT INTO events (rv, kind, type, body) SELECT rv, kind, 'MODIFIED', '{_EVENT_REF}' || pk "
    "FROM objects WHERE kind = ? AND namespace = ? AND name = ?"
)
_KEEP_EVENT_BODY = f"UPDATE events SET body = OLD.body WHERE rv = OLD.rv AND body = '{_EVENT_REF}' || OLD.pk"
_SQLITE_TRIGGERS = (
    f"CREATE TRIGGER IF NOT EXISTS objects_update_keeps_event_body BEFORE UPDATE ON objects "
    f"BEGIN {_KEEP_EVENT_BODY}; END",
    f"CREATE TRIGGER IF NOT EXISTS objects_delete_keeps_event_body BEFORE DELETE ON objects "
    f"BEGIN {_KEEP_EVENT_BODY}; END",
)


# An event's body, or for "@<pk>" the body of the row it points at.
_EVENT_BODY = sa.case(
    (
        sa.func.substr(events.c.body, 1, 1) == _EVENT_REF,
        sa.select(objects.c.body)
        .where(objects.c.pk == sa.cast(sa.func.substr(events.c.body, 2), sa.Integer))
        .scalar_subquery(),
    ),
    else_=events.c.body,
).label("body")


class _Statements:
    def __init__(self, dialect: sa.Dialect) -> None:
        self.row = _Compiled(_ROW, dialect)
        self.next_rv = _Compiled(_NEXT_RV, dialect)
        self.event_insert = _Compiled(_EVENT_INSERT, dialect)
        self.object_insert = _Compiled(_OBJECT_INSERT, dialect)
        self.object_update = _Compiled(_OBJECT_UPDATE, dialect)
        self.object_delete = _Compiled(_OBJECT_DELETE, dialect)
        self.labels_delete = _Compiled(_LABELS_DELETE, dialect)
        self.label_delete = _Compiled(_LABEL_DELETE, dialect)
        self.labels_insert = _Compiled(_LABELS_INSERT, dialect)
        self.owners_delete = _Compiled(_OWNERS_DELETE, dialect)
        self.owners_insert = _Compiled(_OWNERS_INSERT, dialect)


_ABSENT = object()
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def _dumps(obj: Any) -> str:
    """Compact JSON text (every store write encodes an object)."""
    return compact_json(obj).decode()


_loads = orjson.loads


def _meta(obj: JSON) -> JSON:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    return meta


def _namespaced(kind: str) -> bool:
    k = KINDS.get(kind)
    return True if k is None else k.namespaced


def _ns(kind: str, namespace: str | None) -> str:
    if not _namespaced(kind):
        return ""
    return namespace or DEFAULT_NAMESPACE


def _indexed_labels(obj: JSON) -> dict[str, str]:
    """The object's labels, and those the store derives from runs (``tektite.core.derived``)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return {**labels, **derived_labels(obj)}


def _pending(obj: JSON) -> int:
    """The row's ``chains_pending``."""
    return 1 if obj.get("kind") in DERIVED_KINDS and chains_pending(obj) else 0


def _selected(label_selector: str | None) -> list[Any]:
    """The conditions on ``objects`` of a label selector (each term a lookup in the label index,
    or for ``tektite.dev/chains`` in the partial index of the rows it selects)."""
    conds: list[Any] = []
    for req in parse_selector(label_selector):
        if req.key == CHAINS_LABEL:  # "pending" on the runs whose row says so, absent on the rest
            when_pending, otherwise = req.matches({CHAINS_LABEL: "pending"}), req.matches({})
            if when_pending != otherwise:
                # a literal: SQLite uses a partial index only for a WHERE it can see implies its own
                conds.append(objects.c.chains_pending == sa.literal_column("1" if when_pending else "0"))
            elif not when_pending:
                conds.append(sa.false())
            continue
        sub = sa.select(labels.c.obj_pk).where(labels.c.key == req.key)
        if req.op in ("=", "!="):
            sub_eq = sub.where(labels.c.value == req.values[0])
            conds.append(objects.c.pk.in_(sub_eq) if req.op == "=" else objects.c.pk.not_in(sub_eq))
        elif req.op in ("in", "notin"):
            sub_in = sub.where(labels.c.value.in_(req.values))
            conds.append(objects.c.pk.in_(sub_in) if req.op == "in" else objects.c.pk.not_in(sub_in))
        elif req.op == "exists":
            conds.append(objects.c.pk.in_(sub))
        else:
            conds.append(objects.c.pk.not_in(sub))
    return conds


def _not_found(kind: str, name: str, namespace: str) -> NotFound:
    return NotFound(f'{kind} "{name}" not found' + (f' in namespace "{namespace}"' if namespace else ""))


def _spec_part(obj: JSON) -> JSON:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class SQLStore:
    """The Store protocol on SQLAlchemy Core."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine = sa.create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            sa_event.listen(self.engine, "connect", _sqlite_pragmas)
        self._listeners: list[Listener] = []
        self._lock = threading.RLock()
        self._writes = 0
        self._q = _Statements(self.engine.dialect)
        with self._schema_lock():  # two processes opening a new home at once: one makes the tables
            metadata.create_all(self.engine)
            with self.engine.begin() as conn:
                self._upgrade(conn)
                if self.engine.dialect.name == "sqlite":
                    for trigger in _SQLITE_TRIGGERS:
                        conn.exec_driver_sql(trigger)
                if conn.execute(sa.select(counter.c.rv).where(counter.c.id == 1)).first() is None:
                    conn.execute(counter.insert().values(id=1, rv=0))
        self._derive()

    _PG_SCHEMA_LOCK = 0x74656B74  # pg_advisory_lock key: "tekt"

    @contextlib.contextmanager
    def _schema_lock(self) -> Iterator[None]:
        """Held while the schema is made or upgraded: create_all checks for each table, then
        creates it, so processes racing to open a new database failed with "table objects
        already exists". SQLite: an flock on a file beside the database (not the database file:
        closing another descriptor of it would drop SQLite's own locks); PostgreSQL: an advisory
        lock."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({self._PG_SCHEMA_LOCK})")
                try:
                    yield
                finally:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({self._PG_SCHEMA_LOCK})")
            return
        path = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or not path or path == ":memory:":
            yield
            return
        import fcntl

        with open(f"{path}.init-lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @staticmethod
    def _upgrade(conn: sa.Connection) -> None:
        """Bring a database an older tektite made up to this schema (create_all only makes the
        tables missing, with their indexes): columns, then indexes. What goes into the new
        columns is derived by :meth:`_derive`."""
        inspector = sa.inspect(conn)
        if "chains_pending" not in {c["name"] for c in inspector.get_columns("objects")}:
            add = "ADD COLUMN chains_pending SMALLINT NOT NULL DEFAULT 0"
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"ALTER TABLE objects {add.replace('COLUMN', 'COLUMN IF NOT EXISTS')}")
            else:
                try:
                    conn.exec_driver_sql(f"ALTER TABLE objects {add}")
                except sa.exc.OperationalError as err:  # another process opening it added it first
                    if "duplicate column" not in str(err):
                        raise
        # only what is missing: on PostgreSQL even CREATE INDEX IF NOT EXISTS of an index that
        # exists locks the table against writes for a moment, at every start of every command
        present = {ix["name"] for table in ("objects", "labels") for ix in inspector.get_indexes(table)}
        for table in (objects, labels):
            for index in table.indexes:
                if index.name not in present:
                    conn.execute(CreateIndex(index, if_not_exists=True))
        for name, ddl in _PARTIAL_INDEXES.items():
            if name not in present:
                conn.exec_driver_sql(ddl)
        for name in _OLD_INDEXES:
            if name in present:
                conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")

    def _derive(self, page: int = SCAN_PAGE) -> None:
        """Derive the labels and ``chains_pending`` of every run again when the database's were
        derived by another version of ``tektite.core.derived`` (or none: a database from before
        it). Once per change, a page of runs at a time, in one transaction: a reader sees the old
        index or the new."""
        version = sa.select(store_info.c.value).where(store_info.c.key == "derived-labels")
        with self.engine.connect() as conn:
            if conn.execute(version).scalar() == DERIVED_VERSION:
                return
        with self._lock, self.engine.begin() as conn:
            if conn.execute(version).scalar() == DERIVED_VERSION:
                return  # another process did it meanwhile
            for kind in sorted(DERIVED_KINDS):
                last = 0
                while rows := conn.execute(
                    sa.select(objects.c.pk, objects.c.body)
                    .where(objects.c.kind == kind, objects.c.pk > last)
                    .order_by(objects.c.pk)
                    .limit(page)
                ).all():
                    last = rows[-1].pk
                    runs = [(r.pk, _loads(r.body)) for r in rows]
                    conn.execute(
                        labels.delete().where(
                            labels.c.obj_pk.in_([pk for pk, _ in runs]), labels.c.key.in_(DERIVED_KEYS)
                        )
                    )
                    derived = [
                        {"obj_pk": pk, "key": k, "value": v}
                        for pk, run in runs
                        for k, v in derived_labels(run).items()
                    ]
                    if derived:
                        self._q.labels_insert.run_many(conn, derived)
                    conn.execute(
                        objects.update().where(objects.c.pk == sa.bindparam("b_pk")),
                        [{"b_pk": pk, "chains_pending": _pending(run)} for pk, run in runs],
                    )
            conn.execute(store_info.delete().where(store_info.c.key == "derived-labels"))
            conn.execute(store_info.insert().values(key="derived-labels", value=DERIVED_VERSION))

    # -- internals ------------------------------------------------------------------------
    def _next_rv(self, conn: sa.Connection, n: int = 1) -> int:
        """Allocate ``n`` resourceVersions; the last one is returned."""
        row = self._q.next_rv.first(conn, {"n": n})
        assert row is not None
        return int(row[0])

    def _event(
        self, conn: sa.Connection, rv: int, type_: EventType, body: JSON, text: str | None = None
    ) -> Event:
        self._q.event_insert.run(
            conn,
            {
                "rv": rv,
                "kind": body.get("kind", ""),
                "type": type_,
                "body": text if text is not None else _dumps(body),
            },
        )
        return Event(type_, body, rv)

    def _write_indexes(self, conn: sa.Connection, pk: int, obj: JSON, old: JSON | None = None) -> None:
        """Label and owner index rows; on an update only the labels that changed are rewritten
        (a run's status label changes on most of its writes, its other labels never)."""
        meta = obj.get("metadata") or {}
        lbls = _indexed_labels(obj)
        refs = meta.get("ownerReferences") or []
        if old is not None:
            before = _indexed_labels(old)
            gone = [k for k, v in before.items() if lbls.get(k, _ABSENT) != v]
            if gone:
                self._q.label_delete.run_many(conn, [{"b_pk": pk, "b_key": k} for k in gone])
            lbls = {k: v for k, v in lbls.items() if before.get(k, _ABSENT) != v}
            if ((old.get("metadata") or {}).get("ownerReferences") or []) != refs:
                self._q.owners_delete.run(conn, {"b_pk": pk})
            else:
                refs = []
        if lbls:
            self._q.labels_insert.run_many(
                conn, [{"obj_pk": pk, "key": k, "value": str(v)[:63]} for k, v in lbls.items()]
            )
        if refs:
            self._q.owners_insert.run_many(
                conn, [{"obj_pk": pk, "owner_uid": r.get("uid", "")} for r in refs]
            )

    def _row(self, conn: sa.Connection, kind: str, name: str, namespace: str) -> _Stored | None:
        row = self._q.row.first(conn, {"k": kind, "ns": namespace, "n": name})
        return _Stored(*row) if row is not None else None

    def _notify(self, evts: EventList) -> None:
        for evt in evts:
            for listener in list(self._listeners):
                listener(evt)

    def _prune_events(self, conn: sa.Connection, rv: int) -> None:
        self._writes += 1
        if self._writes % 1000 == 0 and rv > EVENT_RETENTION:
            conn.execute(events.delete().where(events.c.rv < rv - EVENT_RETENTION))

    # -- protocol ---------------------------------------------------------------------------
    def create(self, obj: JSON) -> JSON:
        obj = _loads(_dumps(obj))
        kind = obj.get("kind")
        if not isinstance(kind, str) or not kind:
            raise TektiteError("cannot store an object without a kind")
        meta = _meta(obj)
        namespace = _ns(kind, meta.get("namespace"))
        if namespace:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        generated = not meta.get("name")
        if generated and not meta.get("generateName"):
            raise TektiteError(f"{kind}: metadata.name or metadata.generateName is required")
        for key in ("resourceVersion", "deletionTimestamp", "selfLink"):
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        meta["generation"] = 1
        with self._lock, self.engine.begin() as conn:
            for _attempt in range(8):
                if generated:
                    meta["name"] = meta["generateName"] + "".join(random.choices(_NAME_CHARS, k=5))
                if self._row(conn, kind, meta["name"], namespace) is None:
                    break
                if not generated:
                    raise AlreadyExists(f'{kind} "{meta["name"]}" already exists in namespace "{namespace}"')
            else:  # pragma: no cover - 27^5 names
                raise AlreadyExists(f"{kind}: could not generate a unique name from {meta['generateName']!r}")
            rv = self._next_rv(conn)
            meta["resourceVersion"] = str(rv)
            text = _dumps(obj)
            row = {
                "kind": kind,
                "namespace": namespace,
                "name": meta["name"],
                "uid": meta["uid"],
                "rv": rv,
                "created": meta["creationTimestamp"],
                "body": text,
                "chains_pending": _pending(obj),
            }
            pk = self._q.object_insert.first(conn, row)[0]
            self._write_indexes(conn, int(pk), obj)
            evt = self._event(conn, rv, "ADDED", obj, text)
            self._prune_events(conn, rv)
        self._notify([evt])
        copy_: JSON = _loads(text)  # the caller's copy
        return copy_

    def get(self, kind: str, name: str, namespace: str | None = DEFAULT_NAMESPACE) -> JSON:
        obj = self.try_get(kind, name, namespace)
        if obj is None:
            ns = _ns(kind, namespace)
            where = f' in namespace "{ns}"' if ns else ""
            raise NotFound(f'{kind} "{name}" not found{where}')
        return obj

    def try_get(self, kind: str, name: str, namespace: str | None = DEFAULT_NAMESPACE) -> JSON | None:
        with self.engine.connect() as conn:
            row = self._row(conn, kind, name, _ns(kind, namespace))
        return _loads(row.body) if row else None

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
        rows, rv, token, remaining = self._list_rows(
            kind, namespace, label_selector, limit, continue_token, order, owner_uid
        )
        return ListResult([_loads(r[4]) for r in rows], rv, token, remaining)

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
            rows, _, token, _ = self._list_rows(
                kind, namespace, label_selector, page, token, order, count=False
            )
            for row in rows:
                yield _loads(row[4])
            if not token:
                return

    def keys(
        self, kind: str, group_label: str | None = None, label_selector: str | None = None
    ) -> Sequence[tuple[str, str, str | None]]:
        """``(namespace, name, value of the label group_label or None)`` of every object of
        ``kind`` (that ``label_selector`` selects), in name order, without reading a body:
        processes that share out a kind's objects (a Chains backlog) plan with it, then read their
        share with :meth:`get_many`."""
        group = (
            sa.select(labels.c.value)
            .where(labels.c.obj_pk == objects.c.pk, labels.c.key == group_label)
            .scalar_subquery()
            if group_label
            else sa.null()
        )
        query = (
            sa.select(objects.c.namespace, objects.c.name, group)
            .where(objects.c.kind == kind, *_selected(label_selector))
            .order_by(objects.c.namespace, objects.c.name)
        )
        with self.engine.connect() as conn:
            return [(r[0], r[1], r[2]) for r in conn.execute(query)]

    def get_many(self, kind: str, namespace: str | None, names: Sequence[str]) -> Iterator[JSON]:
        """The objects of ``kind`` in ``namespace`` named in ``names`` (those that exist), in name
        order, read 500 at a time and each parsed when the iteration reaches it."""
        ns = _ns(kind, namespace)
        wanted = sorted(set(names))
        for i in range(0, len(wanted), 500):
            with self.engine.connect() as conn:
                rows = conn.execute(_ROWS, {"k": kind, "ns": ns, "names": wanted[i : i + 500]}).all()
            for row in sorted(rows, key=lambda r: r.name):
                yield _loads(row.body)

    def _list_rows(
        self,
        kind: str,
        namespace: str | None = ALL_NAMESPACES,
        label_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        order: Literal["name", "-created"] = "name",
        owner_uid: str | None = None,
        count: bool = True,
    ) -> tuple[Sequence[Any], int, str | None, int | None]:
        """``list`` before its bodies are parsed: the rows (``[4]`` is the body text), the
        resourceVersion, the continue token and the remaining count (None unless ``count``)."""
        conds: list[Any] = [objects.c.kind == kind]
        if namespace not in (None, ALL_NAMESPACES):
            conds.append(objects.c.namespace == _ns(kind, namespace))
        conds += _selected(label_selector)
        if owner_uid is not None:
            conds.append(objects.c.pk.in_(sa.select(owners.c.obj_pk).where(owners.c.owner_uid == owner_uid)))
        order_by: list[Any] = (
            [objects.c.namespace, objects.c.name]
            if order == "name"
            else [objects.c.created.desc(), objects.c.pk.desc()]
        )
        if continue_token:
            try:
                key = _loads(base64.urlsafe_b64decode(continue_token.encode()))
            except (ValueError, TypeError):
                raise TektiteError(f'invalid continue token "{continue_token}"') from None
            if order == "name":
                conds.append(sa.tuple_(objects.c.namespace, objects.c.name) > sa.tuple_(*key))
            else:  # a row value, as for names: SQLite ranges over ix_objects_kind_created with it (an
                # OR of the two cases made each page's query and count walk every row of the kind)
                conds.append(sa.tuple_(objects.c.created, objects.c.pk) < sa.tuple_(*key))
        query = (
            sa.select(objects.c.pk, objects.c.namespace, objects.c.name, objects.c.created, objects.c.body)
            .where(*conds)
            .order_by(*order_by)
        )
        if limit:
            query = query.limit(limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            rv = conn.execute(sa.select(counter.c.rv)).scalar_one()
            remaining = None
            token = None
            if limit and len(rows) > limit:
                rows = rows[:limit]
                last = rows[-1]
                key_out = [last.namespace, last.name] if order == "name" else [last.created, last.pk]
                token = base64.urlsafe_b64encode(_dumps(key_out).encode()).decode()
                if count:
                    remaining = (
                        conn.execute(
                            sa.select(sa.func.count()).select_from(objects).where(*conds)
                        ).scalar_one()
                        - limit
                    )
        return rows, int(rv), token, remaining

    def update(self, obj: JSON, *, status_only: bool = False) -> JSON:
        with self._lock, self.engine.begin() as conn:
            new, text, evts = self._update_in(conn, obj, status_only)
        return self._updated(new, text, evts)

    def update_many(self, objs: JSONList) -> UpdateResults:
        """Several full updates in one transaction (one commit; the resourceVersions allocated, the
        rows and the events written in bulk): each is checked on its own (``Conflict``,
        ``NotFound``) and the others are written regardless. The objects returned share
        structure with the ones given (they are not fresh copies)."""
        results: list[JSON | TektiteError] = []
        ready: list[tuple[Any, JSON, JSON]] = []
        deletes: list[tuple[JSON, str | None, EventList]] = []
        with self._lock, self.engine.begin() as conn:
            current = self._rows_many(conn, objs)
            for obj in objs:
                try:
                    row, new, old = self._prepare_update(conn, obj, False, current)
                except (Conflict, NotFound) as exc:
                    results.append(exc)
                    continue
                if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
                    done = self._apply_update(conn, row, new, old, self._next_rv(conn))
                    deletes.append(done)
                    results.append(done[0])
                    continue
                results.append(new)
                ready.append((row, new, old))
            if ready:
                top = self._next_rv(conn, len(ready))
                rows, evts = [], []
                for n, (row, new, old) in enumerate(ready):
                    rv = top - len(ready) + 1 + n
                    new["metadata"]["resourceVersion"] = str(rv)
                    text = _dumps(new)
                    rows.append({"b_pk": row.pk, "b_rv": rv, "b_body": text, "b_pending": _pending(new)})
                    evts.append({"rv": rv, "kind": new.get("kind", ""), "type": "MODIFIED", "body": text})
                    self._write_indexes(conn, row.pk, new, old)
                self._q.object_update.run_many(conn, rows)
                self._q.event_insert.run_many(conn, evts)
                self._prune_events(conn, top)
        for done in deletes:
            self._updated(*done, copy=False)
        if self._listeners and ready:
            self._notify(
                [
                    Event("MODIFIED", _loads(_dumps(new)), int(new["metadata"]["resourceVersion"]))
                    for _, new, _ in ready
                ]
            )
        return results

    def patch_metadata_many(self, patches: MetadataPatches) -> PatchResults:
        results: PatchResults = []
        evts: EventList = []
        fast: list[MetadataPatch] = []  # applied in SQL: their events are read back for listeners
        sqlite = self.engine.dialect.name == "sqlite"
        with self._lock, self.engine.begin() as conn:
            top = self._next_rv(conn, len(patches)) if sqlite else 0
            cur = conn.connection.dbapi_connection.cursor() if sqlite else None  # type: ignore[union-attr]
            for n, patch in enumerate(patches):
                namespace = _ns(patch.kind, patch.namespace)
                if cur is not None:
                    rv = top - len(patches) + 1 + n
                    where = (patch.kind, namespace, patch.name)
                    if self._patch_in_sql(cur, patch, rv, where):
                        cur.execute(_SQLITE_EVENT_REF, where)
                        self._prune_events(conn, rv)
                        results.append(rv)
                        fast.append(patch)
                        continue
                try:  # PostgreSQL, or not applied above: read, merge here, update
                    new, _, done = self._patch_one(conn, patch, namespace)
                except (Conflict, NotFound) as exc:
                    results.append(exc)
                    continue
                results.append(int(new["metadata"]["resourceVersion"]))
                evts.extend(done)
            if cur is not None:
                cur.close()
            if fast and self._listeners:
                evts.extend(self._events_of(conn, fast))
        evts.sort(key=lambda e: e.resource_version)
        self._notify(evts)
        return results

    @staticmethod
    def _patch_in_sql(cur: Any, patch: MetadataPatch, rv: int, where: tuple[str, str, str]) -> bool:
        """SQLite's fast path: whether the patch was applied (else the general path does it)."""
        base = patch.base
        if base is None:
            row = cur.execute(_SQLITE_READ_AT, (*where, patch.resource_version)).fetchone()
            if row is None:
                return False  # changed or gone: the general path says which
            base = _loads(row[0])
        if patch.finalizers is not None and (base.get("metadata") or {}).get("deletionTimestamp"):
            return False  # it may remove the last finalizer of an object being deleted
        new = patch.applied_to(base, str(rv))
        args = (rv, _dumps(new), _pending(new), *where, patch.resource_version)
        cur.execute(_SQLITE_WRITE_PATCHED, args)
        return bool(cur.rowcount == 1)  # a metadata patch changes no label, derived or not

    def _patch_one(
        self, conn: sa.Connection, patch: MetadataPatch, namespace: str
    ) -> tuple[JSON, str | None, EventList]:
        row = self._row(conn, patch.kind, patch.name, namespace)
        if row is None:
            raise _not_found(patch.kind, patch.name, namespace)
        obj = _loads(row.body)
        obj["metadata"]["resourceVersion"] = patch.resource_version  # the precondition
        patch.apply(obj["metadata"])
        row, new, old = self._prepare_update(conn, obj, False, {(patch.kind, namespace, patch.name): row})
        return self._apply_update(conn, row, new, old, self._next_rv(conn))

    def _events_of(self, conn: sa.Connection, patches: MetadataPatches) -> EventList:
        """The MODIFIED events of objects just patched in SQL (for listeners)."""
        found = self._rows_many(
            conn, [{"kind": p.kind, "metadata": {"name": p.name, "namespace": p.namespace}} for p in patches]
        )
        out = []
        for p in patches:
            row = found[(p.kind, _ns(p.kind, p.namespace), p.name)]
            out.append(Event("MODIFIED", _loads(row.body), int(row.rv)))
        return out

    def _updated(self, new: JSON, text: str | None, evts: EventList, *, copy: bool = True) -> JSON:
        # listeners and the caller each get their own copy: listeners one parsed from the text
        # written (if there are listeners), the caller a fresh parse of it (when ``copy``)
        if text is not None and self._listeners:
            event_obj: JSON = _loads(text)
            evts = [Event(e.type, event_obj, e.resource_version) for e in evts]
        self._notify(evts)
        if not copy:
            return new
        out: JSON = _loads(text) if text is not None else _loads(_dumps(new))
        return out

    def _update_in(
        self, conn: sa.Connection, obj: JSON, status_only: bool
    ) -> tuple[JSON, str | None, EventList]:
        row, new, old = self._prepare_update(conn, obj, status_only)
        return self._apply_update(conn, row, new, old, self._next_rv(conn))

    def _rows_many(self, conn: sa.Connection, objs: JSONList) -> dict[tuple[str, str, str], Any]:
        """The stored rows of several objects, by (kind, namespace, name): one query per kind and
        namespace (and per 500 names) instead of one per object."""
        wanted: dict[tuple[str, str], set[str]] = {}
        for obj in objs:
            kind = obj.get("kind", "")
            meta = obj.get("metadata") or {}
            wanted.setdefault((kind, _ns(kind, meta.get("namespace"))), set()).add(meta.get("name") or "")
        found: dict[tuple[str, str, str], Any] = {}
        for (kind, namespace), names in wanted.items():
            ordered = sorted(names)
            for i in range(0, len(ordered), 500):
                for row in conn.execute(_ROWS, {"k": kind, "ns": namespace, "names": ordered[i : i + 500]}):
                    found[(kind, namespace, row.name)] = row
        return found

    def _prepare_update(
        self,
        conn: sa.Connection,
        obj: JSON,
        status_only: bool,
        rows: dict[tuple[str, str, str], Any] | None = None,
    ) -> tuple[Any, JSON, JSON]:
        """The current row (from ``rows`` when given, else read), the object to store and the old
        one (for the index diff); raises NotFound or Conflict (a stale resourceVersion)."""
        # only metadata is changed here: a shallow copy keeps the caller's object intact
        obj = {**obj, "metadata": dict(obj.get("metadata") or {})}
        kind = obj.get("kind", "")
        meta = _meta(obj)
        name = meta.get("name")
        namespace = _ns(kind, meta.get("namespace"))
        if rows is None:
            row = self._row(conn, kind, name or "", namespace)
        else:
            row = rows.get((kind, namespace, name or ""))
        if row is None:
            raise _not_found(kind, name or "", namespace)
        current = _loads(row.body)
        cmeta = current["metadata"]
        old = {"kind": kind, "metadata": dict(cmeta), "status": current.get("status")}
        sent_rv = meta.get("resourceVersion")
        if sent_rv not in (None, "") and str(sent_rv) != str(row.rv):
            raise Conflict(
                f'Operation cannot be fulfilled on {kind} "{name}": the object has been modified; '
                f"please apply your changes to the latest version and try again "
                f"(sent resourceVersion {sent_rv}, current is {row.rv})"
            )
        if status_only:
            new = current
            if "status" in obj:
                new["status"] = obj["status"]
            return row, new, old
        for key in ("uid", "creationTimestamp", "namespace", "name", "generation"):
            if key in cmeta:
                meta[key] = cmeta[key]
            else:
                meta.pop(key, None)
        if cmeta.get("deletionTimestamp"):
            meta["deletionTimestamp"] = cmeta["deletionTimestamp"]
        if _spec_part(obj) != _spec_part(current):
            meta["generation"] = int(cmeta.get("generation", 1)) + 1
        return row, obj, old

    def _apply_update(
        self, conn: sa.Connection, row: Any, new: JSON, old: JSON, rv: int
    ) -> tuple[JSON, str | None, EventList]:
        evts: EventList = []
        text: str | None = None
        nmeta = new["metadata"]
        nmeta["resourceVersion"] = str(rv)
        if nmeta.get("deletionTimestamp") and not nmeta.get("finalizers"):
            evts.extend(self._delete_rows(conn, row.pk, new, rv))
        else:
            text = _dumps(new)
            self._q.object_update.run(
                conn, {"b_pk": row.pk, "b_rv": rv, "b_body": text, "b_pending": _pending(new)}
            )
            self._write_indexes(conn, row.pk, new, old)
            evts.append(self._event(conn, rv, "MODIFIED", new, text))
        self._prune_events(conn, rv)
        return new, text, evts

    def _delete_rows(self, conn: sa.Connection, pk: int, body: JSON, rv: int) -> EventList:
        self._q.labels_delete.run(conn, {"b_pk": pk})
        self._q.owners_delete.run(conn, {"b_pk": pk})
        self._q.object_delete.run(conn, {"b_pk": pk})
        return [self._event(conn, rv, "DELETED", body)]

    def delete(
        self, kind: str, name: str, namespace: str | None = DEFAULT_NAMESPACE, *, cascade: bool = True
    ) -> DeleteResult:
        result = DeleteResult()
        evts: EventList = []
        with self._lock, self.engine.begin() as conn:
            row = self._row(conn, kind, name, _ns(kind, namespace))
            if row is None:
                raise _not_found(kind, name, _ns(kind, namespace))
            self._delete_one(conn, row.pk, _loads(row.body), cascade, result, evts)
        self._notify(evts)
        return result

    def _delete_one(
        self, conn: sa.Connection, pk: int, body: JSON, cascade: bool, result: DeleteResult, evts: EventList
    ) -> None:
        meta = body["metadata"]
        if cascade:
            children = conn.execute(
                sa.select(objects.c.pk, objects.c.body).where(
                    objects.c.pk.in_(sa.select(owners.c.obj_pk).where(owners.c.owner_uid == meta["uid"]))
                )
            ).all()
            for child in children:
                self._delete_one(conn, child.pk, _loads(child.body), cascade, result, evts)
        rv = self._next_rv(conn)
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now()
                meta["resourceVersion"] = str(rv)
                conn.execute(
                    objects.update()
                    .where(objects.c.pk == pk)
                    .values(rv=rv, body=_dumps(body), chains_pending=_pending(body))
                )
                evts.append(self._event(conn, rv, "MODIFIED", body))
            result.pending.append(body)
            return
        meta["resourceVersion"] = str(rv)
        evts.extend(self._delete_rows(conn, pk, body, rv))
        result.deleted.append(body)

    def events_since(
        self, resource_version: int, kinds: tuple[str, ...] | None = None, limit: int = 1000
    ) -> EventList:
        query = sa.select(events.c.rv, events.c.type, _EVENT_BODY).where(events.c.rv > resource_version)
        if kinds:
            query = query.where(events.c.kind.in_(kinds))
        query = query.order_by(events.c.rv).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            if resource_version and rows and rows[0].rv > resource_version + 1:
                oldest = conn.execute(sa.select(sa.func.min(events.c.rv))).scalar()
                if oldest is not None and oldest > resource_version + 1:
                    raise Gone(
                        f"resourceVersion {resource_version} is too old; the oldest retained is {oldest}"
                    )
        return [Event(r.type, _loads(r.body), int(r.rv)) for r in rows]

    def current_resource_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(counter.c.rv)).scalar_one())

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def leave_checkpoints(self) -> None:
        """This process's new connections leave SQLite's WAL checkpoints to another process,
        which calls :meth:`checkpoint`. Nothing to do for other databases."""
        if self.engine.dialect.name == "sqlite":
            sa_event.listen(self.engine, "connect", _no_autocheckpoint)

    def checkpoint(self) -> None:
        """Copy committed WAL frames into the SQLite database file without waiting for writers
        or readers (``PASSIVE``). Nothing to do for other databases."""
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        self.engine.dispose()


class Gone(TektiteError):
    http_status = 410
    reason = "Expired"


def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    # a checkpoint (copy the WAL into the database, fsync) every 4000 pages (16 MiB) instead of
    # SQLite's 1000: a run's write touches ~12 pages, so this is one fsync per ~300 writes, not ~80
    # (create + final status update: 0.55 -> 0.50 ms over 3,000 runs)
    cur.execute("PRAGMA wal_autocheckpoint=4000")
    cur.close()
