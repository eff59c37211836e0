"""``docdb`` storage: Chains' signed documents in a table of tektite's own database.

``storage.docdb.url: tektite://<collection>`` stores into the table ``chains_documents`` of the
database the store uses (SQLite in the home, or PostgreSQL), one row per ``(collection, name)``.
A row holds what Chains' docstore backend writes (``SignedDocument``):

| column | Chains field | value |
|---|---|---|
| ``name`` | ``Name`` | the short key: ``taskrun-<uid>``, ``pipelinerun-<uid>``, 12 hex digits of an image |
| ``signed`` | ``Signed`` | the signed payload, exact bytes |
| ``signature`` | ``Signature`` | base64 of the signature (in-toto: the DSSE envelope JSON) |
| ``cert``, ``chain`` | ``Cert``, ``Chain`` | certificate and chain ("" with a key) |
| ``object`` | ``Object`` | the payload parsed as JSON |

plus ``kind``, ``namespace``, ``run_name``, ``run_uid``, ``payload_format`` and ``created`` to find
documents by run. Storing a name again replaces the row (the docstore ``Put``). Chains' go-cloud
schemes (``mongo://``, ``firestore://``, ``dynamodb://``, ``mem://``) are not supported yet.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from tektite.chains.storage import StorageContext, StorageItem
from tektite.errors import FieldError, NotSupported, TektiteError, ValidationError

__all__ = ["SCHEME", "DocDBBackend", "Document", "documents"]

SCHEME = "tektite"

_metadata = sa.MetaData()
documents = sa.Table(
    "chains_documents",
    _metadata,
    sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("collection", sa.String(253), nullable=False),
    sa.Column("name", sa.String(253), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("namespace", sa.String(253), nullable=False),
    sa.Column("run_name", sa.String(253), nullable=False),
    sa.Column("run_uid", sa.String(36), nullable=False),
    sa.Column("payload_format", sa.String(64), nullable=False),
    sa.Column("signed", sa.LargeBinary, nullable=False),
    sa.Column("signature", sa.Text, nullable=False),
    sa.Column("cert", sa.Text, nullable=False),
    sa.Column("chain", sa.Text, nullable=False),
    sa.Column("object", sa.Text, nullable=True),
    sa.Column("created", sa.String(40), nullable=False),
    sa.UniqueConstraint("collection", "name", name="uq_chains_document"),
    sa.Index("ix_chains_documents_run", "run_uid"),
)


@dataclass(frozen=True)
class Document:
    collection: str
    name: str
    kind: str
    namespace: str
    run_name: str
    run_uid: str
    payload_format: str
    signed: bytes
    signature: str
    cert: str
    chain: str
    object: Any


def _collection(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != SCHEME:
        raise NotSupported(
            f"storage.docdb.url: {parts.scheme or 'a URL without a scheme'}:// collections are not supported "
            "yet",
            obj="ConfigMap chains-config",
            hint="tektite stores docdb documents in its own database: tektite://<collection>",
        )
    collection = (parts.netloc + parts.path).strip("/")
    if not collection or "/" in collection:
        raise ValidationError(
            [
                FieldError(
                    ("data", "storage.docdb.url"),
                    "invalid tektite docdb URL",
                    "tektite://<collection>",
                    repr(url),
                )
            ],
            obj="ConfigMap chains-config",
        )
    return collection


class DocDBBackend:
    name = "docdb"

    def __init__(self, engine: sa.Engine, collection: str) -> None:
        self.engine = engine
        self.collection = collection
        _metadata.create_all(engine, tables=[documents])

    @classmethod
    def from_url(cls, url: str, engine: Any) -> DocDBBackend:
        collection = _collection(url)
        if not isinstance(engine, sa.Engine):
            raise NotSupported(
                "docdb storage needs tektite's SQL store (SQLite or PostgreSQL) for its table",
                obj="ConfigMap chains-config",
            )
        return cls(engine, collection)

    def store(self, item: StorageItem, ctx: StorageContext) -> None:
        try:
            parsed: Any = json.loads(item.payload)
        except (ValueError, UnicodeDecodeError):
            parsed = None
        row = {
            "collection": self.collection,
            "name": item.short_key,
            "kind": ctx.kind,
            "namespace": ctx.namespace,
            "run_name": ctx.name,
            "run_uid": ctx.uid,
            "payload_format": item.payload_format,
            "signed": item.payload,
            "signature": base64.b64encode(item.signature).decode("ascii"),
            "cert": item.cert,
            "chain": item.chain,
            "object": json.dumps(parsed, separators=(",", ":")) if parsed is not None else None,
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    documents.delete().where(
                        documents.c.collection == self.collection, documents.c.name == item.short_key
                    )
                )
                conn.execute(documents.insert().values(**row))
        except sa.exc.SQLAlchemyError as err:
            raise TektiteError(
                f"docdb storage: cannot write document {item.short_key!r} to collection "
                f"{self.collection!r}: {type(err).__name__}"
            ) from None

    def get(self, name: str) -> Document | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(documents).where(
                    documents.c.collection == self.collection, documents.c.name == name
                )
            ).first()
        return _document(row) if row is not None else None

    def for_run(self, run_uid: str) -> list[Document]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(documents)
                .where(documents.c.collection == self.collection, documents.c.run_uid == run_uid)
                .order_by(documents.c.name)
            ).all()
        return [_document(r) for r in rows]


def _document(row: Any) -> Document:
    return Document(
        row.collection,
        row.name,
        row.kind,
        row.namespace,
        row.run_name,
        row.run_uid,
        row.payload_format,
        bytes(row.signed),
        row.signature,
        row.cert,
        row.chain,
        json.loads(row.object) if row.object else None,
    )
