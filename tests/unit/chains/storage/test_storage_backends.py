"""Storage backends: Chains' tekton annotations, tektite's file tree and docdb table, the registry."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tektite.chains.config import ChainsConfig
from tektite.chains.storage import BackendEnv, StorageContext, StorageItem, get_backend
from tektite.chains.storage.docdb import DocDBBackend
from tektite.chains.storage.file import FileBackend
from tektite.chains.storage.tekton import read_entries
from tektite.errors import NotSupported, TektiteError, ValidationError, VerificationError

RUN = {
    "apiVersion": "tekton.dev/v1",
    "kind": "TaskRun",
    "metadata": {"name": "build", "namespace": "team", "uid": "1234-abcd"},
}
STATEMENT = b'{"_type":"https://in-toto.io/Statement/v0.1","subject":null}'
ENVELOPE = b'{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}'


def intoto() -> StorageItem:
    return StorageItem("taskrun-1234-abcd", STATEMENT, ENVELOPE, "in-toto", predicate_type="p")


def image_signature() -> StorageItem:
    return StorageItem(
        "0123456789ab", b'{"critical":{}}', b"\x30\x45raw", "simplesigning", image="r.test/app@sha256:01"
    )


def env(tmp_path: Path, data: dict[str, str] | None = None, engine: object = None) -> BackendEnv:
    return BackendEnv(ChainsConfig.from_configmap_data(data or {}), tmp_path, engine)


# -- tekton ---------------------------------------------------------------------------------------


def test_tekton_writes_chains_annotation_names_with_base64_values(tmp_path: Path) -> None:
    ctx = StorageContext(RUN)
    get_backend("tekton", env(tmp_path)).store(intoto(), ctx)
    assert ctx.annotations == {
        "chains.tekton.dev/payload-taskrun-1234-abcd": base64.b64encode(STATEMENT).decode(),
        "chains.tekton.dev/signature-taskrun-1234-abcd": base64.b64encode(ENVELOPE).decode(),
        "chains.tekton.dev/cert-taskrun-1234-abcd": "",
        "chains.tekton.dev/chain-taskrun-1234-abcd": "",
    }


def test_tekton_entries_read_back(tmp_path: Path) -> None:
    ctx = StorageContext(RUN)
    backend = get_backend("tekton", env(tmp_path))
    backend.store(intoto(), ctx)
    backend.store(image_signature(), ctx)
    entries = read_entries({**RUN, "metadata": {**RUN["metadata"], "annotations": ctx.annotations}})
    assert set(entries) == {"taskrun-1234-abcd", "0123456789ab"}
    assert entries["taskrun-1234-abcd"].payload == STATEMENT
    assert entries["0123456789ab"].signature == b"\x30\x45raw"


def test_tekton_entries_refuse_bad_base64() -> None:
    run = {"metadata": {"annotations": {"chains.tekton.dev/payload-x": "not base64!"}}}
    with pytest.raises(VerificationError, match="payload-x is not valid base64"):
        read_entries(run)


# -- file -----------------------------------------------------------------------------------------


def test_file_writes_one_folder_per_run(tmp_path: Path) -> None:
    backend = get_backend("file", env(tmp_path, {"storage.file.path": str(tmp_path / "prov")}))
    ctx = StorageContext(RUN)
    backend.store(intoto(), ctx)
    backend.store(image_signature(), ctx)
    folder = tmp_path / "prov" / "team" / "taskruns" / "build-1234-abcd"
    assert sorted(p.name for p in folder.iterdir()) == [
        "0123456789ab.payload",
        "0123456789ab.sig",
        "taskrun-1234-abcd.intoto.json",
    ]
    assert (folder / "taskrun-1234-abcd.intoto.json").read_bytes() == ENVELOPE
    assert base64.b64decode((folder / "0123456789ab.sig").read_bytes()) == b"\x30\x45raw"


def test_file_defaults_to_the_home(tmp_path: Path) -> None:
    backend = get_backend("file", env(tmp_path))
    assert isinstance(backend, FileBackend) and backend.root == tmp_path / "chains" / "file"


def test_file_replaces_a_previous_attempt_whole(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path)
    ctx = StorageContext(RUN)
    backend.store(intoto(), ctx)
    newer = StorageItem("taskrun-1234-abcd", STATEMENT, b"{}", "in-toto")
    backend.store(newer, ctx)
    folder = backend.folder(ctx)
    assert (folder / "taskrun-1234-abcd.intoto.json").read_bytes() == b"{}"
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_file_refuses_path_tricks(tmp_path: Path) -> None:
    run = {**RUN, "metadata": {**RUN["metadata"], "namespace": ".."}}
    with pytest.raises(ValidationError, match="cannot be used as a path element"):
        FileBackend(tmp_path).store(intoto(), StorageContext(run))


def test_file_unwritable_root_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "a-file"
    root.write_text("not a directory")
    with pytest.raises(TektiteError, match=r"file storage: cannot create .*: Not a directory"):
        FileBackend(root).store(intoto(), StorageContext(RUN))


# -- docdb ----------------------------------------------------------------------------------------


def sqlite(tmp_path: Path) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")


def test_docdb_stores_signed_documents_in_the_stores_database(tmp_path: Path) -> None:
    engine = sqlite(tmp_path)
    backend = get_backend("docdb", env(tmp_path, {"storage.docdb.url": "tektite://provenance"}, engine))
    assert isinstance(backend, DocDBBackend)
    backend.store(intoto(), StorageContext(RUN))
    doc = backend.get("taskrun-1234-abcd")
    assert doc is not None
    assert (doc.kind, doc.namespace, doc.run_name, doc.run_uid) == ("TaskRun", "team", "build", "1234-abcd")
    assert doc.signed == STATEMENT
    assert base64.b64decode(doc.signature) == ENVELOPE
    assert doc.object == json.loads(STATEMENT)
    # another collection in the same database does not see it
    other = DocDBBackend.from_url("tektite://elsewhere", engine)
    assert other.get("taskrun-1234-abcd") is None


def test_docdb_put_replaces_by_name(tmp_path: Path) -> None:
    backend = DocDBBackend.from_url("tektite://c", sqlite(tmp_path))
    backend.store(intoto(), StorageContext(RUN))
    backend.store(StorageItem("taskrun-1234-abcd", b"{}", b"sig", "in-toto"), StorageContext(RUN))
    docs = backend.for_run("1234-abcd")
    assert len(docs) == 1 and docs[0].signed == b"{}"


@pytest.mark.parametrize("url", ["mongo://db/collection", "firestore://projects/p/databases/d/documents/c"])
def test_docdb_go_cloud_schemes_are_not_supported_yet(tmp_path: Path, url: str) -> None:
    with pytest.raises(NotSupported, match="not supported yet"):
        get_backend("docdb", env(tmp_path, {"storage.docdb.url": url}, sqlite(tmp_path)))


def test_docdb_other_schemes_name_the_tektite_scheme(tmp_path: Path) -> None:
    with pytest.raises(NotSupported, match=r"tektite://<collection>"):
        DocDBBackend.from_url("postgres://db/x", sqlite(tmp_path))


def test_docdb_needs_a_collection(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="tektite://<collection>"):
        DocDBBackend.from_url("tektite://", sqlite(tmp_path))


def test_docdb_needs_a_sql_store(tmp_path: Path) -> None:
    with pytest.raises(NotSupported, match="needs tektite's SQL store"):
        DocDBBackend.from_url("tektite://c", object())


# -- the registry ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gcs", "grafeas", "archivista", "pubsub"])
def test_chains_backends_not_built_say_not_supported_yet(tmp_path: Path, name: str) -> None:
    with pytest.raises(NotSupported, match=f"the {name} .*storage backend is not supported yet"):
        get_backend(name, env(tmp_path))


def test_unknown_backend_suggests_a_name(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="did you mean 'tekton'"):
        get_backend("tekon", env(tmp_path))
