"""Storage backends, found by their chains-config name (``artifacts.*.storage``).

::

    backend = get_backend("tekton", env)
    backend.store(item, ctx)

A backend is one small class with ``name`` and ``store(item, ctx)`` (Chains' ``StorePayload``).
``item`` is one signed thing: the run's provenance (an in-toto statement and its DSSE envelope) or
an image's simple-signing payload and raw signature. ``ctx`` carries what a backend may need from
the run (registry credentials) and collects the annotations the ``tekton`` backend asks for, which
the watcher writes together with ``chains.tekton.dev/signed`` in one update.

| name | where |
|---|---|
| ``tekton`` | annotations on the run (:mod:`.tekton`) |
| ``oci`` | ``sha256-<hex>.sig`` / ``.att`` next to the image, or in ``storage.oci.repository`` |
| ``docdb`` | ``tektite://<collection>``: a table in the store's own database (:mod:`.docdb`) |
| ``file`` | a directory tree of envelopes (:mod:`.file`, tektite's own) |
| ``gcs``, ``grafeas``, ``archivista``, ``pubsub`` | not supported yet |

Backends never import each other; they are wired here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tektite.chains.config import ChainsConfig
from tektite.errors import FieldError, NotSupported, ValidationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

__all__ = [
    "BACKENDS",
    "NOT_YET",
    "Backend",
    "BackendEnv",
    "StorageContext",
    "StorageItem",
    "get_backend",
]

JSON = dict[str, Any]
SIMPLESIGNING = "simplesigning"


@dataclass(frozen=True)
class StorageItem:
    """One signed thing to store: Chains' ``StorePayload(obj, rawPayload, signature, opts)``."""

    short_key: str  # taskrun-<uid>, pipelinerun-<uid>, or the first 12 hex digits of an image digest
    payload: bytes  # the exact bytes that were signed (statement JSON, or simple-signing JSON)
    signature: bytes  # in-toto: the DSSE envelope JSON; simplesigning: the raw signature; none: b""
    payload_format: str  # the chains format name (in-toto, slsa/v2alpha4, ...) or "simplesigning"
    cert: str = ""
    chain: str = ""
    image: str = ""  # simplesigning: the image signed, repository@sha256:<hex>
    predicate_type: str = ""
    # simplesigning with storage.oci.encoding-format sigstore-bundle: the payload's DSSE envelope
    # (JSON), which the bundle carries instead of the raw signature
    envelope: bytes = b""
    # the signer's public key (None: unsigned): the oci backend recognises its own earlier signature
    public_key: PublicKeyTypes | None = field(default=None, repr=False, compare=False)

    @property
    def is_simplesigning(self) -> bool:
        return self.payload_format == SIMPLESIGNING


@dataclass
class StorageContext:
    """What a backend may read about the run, and what it asks the watcher to write on it."""

    run: JSON
    registry_auth: Callable[[], Any] | None = None  # -> tektite.oci.auth.DockerConfig, built lazily
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.run.get("kind", ""))

    @property
    def namespace(self) -> str:
        return str((self.run.get("metadata") or {}).get("namespace") or "default")

    @property
    def name(self) -> str:
        return str((self.run.get("metadata") or {}).get("name", ""))

    @property
    def uid(self) -> str:
        return str((self.run.get("metadata") or {}).get("uid", ""))


class Backend(Protocol):
    name: str

    def store(self, item: StorageItem, ctx: StorageContext) -> None:
        """Store ``item``; raise a TektiteError saying what failed."""
        ...


@dataclass(frozen=True)
class BackendEnv:
    """What backends are built from: the config, the tektite home, and the store's SQL engine."""

    config: ChainsConfig
    home: Path
    sql_engine: Any = None  # sqlalchemy.Engine of the store, when it is a SQL store


def _tekton(env: BackendEnv) -> Backend:
    from tektite.chains.storage.tekton import TektonBackend

    return TektonBackend()


def _oci(env: BackendEnv) -> Backend:
    from tektite.chains.storage.ocibackend import OCIBackend

    storage = env.config.storage
    return OCIBackend(
        storage.oci_repository or None, storage.oci_repository_insecure, encoding=storage.oci_encoding_format
    )


def _docdb(env: BackendEnv) -> Backend:
    from tektite.chains.storage.docdb import DocDBBackend

    return DocDBBackend.from_url(env.config.storage.docdb_url, env.sql_engine)


def _file(env: BackendEnv) -> Backend:
    from tektite.chains.storage.file import FileBackend

    root = Path(env.config.storage.file_path).expanduser() if env.config.storage.file_path else None
    return FileBackend(root or env.home / "chains" / "file")


BACKENDS: dict[str, Callable[[BackendEnv], Backend]] = {
    "tekton": _tekton,
    "oci": _oci,
    "docdb": _docdb,
    "file": _file,
}
NOT_YET = {
    "gcs": "the gcs storage backend",
    "grafeas": "the grafeas storage backend",
    "archivista": "the archivista storage backend",
    "pubsub": "the pubsub (kafka) storage backend",
}


def get_backend(name: str, env: BackendEnv) -> Backend:
    """The backend called ``name``; ``NotSupported`` for Chains backends tektite has not built."""
    factory = BACKENDS.get(name)
    if factory is not None:
        return factory(env)
    if name in NOT_YET:
        raise NotSupported(
            f"{NOT_YET[name]} is not supported yet", hint="tektite stores in: " + ", ".join(BACKENDS)
        )
    close = difflib.get_close_matches(name, [*BACKENDS, *NOT_YET], n=1)
    raise ValidationError(
        [
            FieldError(
                ("storage",),
                "unknown storage backend" + (f" (did you mean {close[0]!r}?)" if close else ""),
                "one of " + ", ".join(BACKENDS),
                repr(name),
            )
        ]
    )
