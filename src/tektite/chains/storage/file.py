"""``file`` storage (tektite's own): a directory tree of envelopes, one folder per run.

Root: ``storage.file.path`` (default ``<home>/chains/file``). For each run::

    <root>/<namespace>/<taskruns|pipelineruns>/<name>-<uid>/
        taskrun-<uid>.intoto.json   the DSSE envelope exactly as signed (in-toto formats)
        <12 hex>.payload            an image's simple-signing payload (exact bytes)
        <12 hex>.sig                its signature, base64 (cosign's --output-signature form)
        <12 hex>.cert               the certificate, when there is one

With the ``none`` signer the envelope has no signatures.
Files are written whole (temporary file + rename), so a reader never sees half an envelope.
A run signed again (a retry) replaces its files.
"""

from __future__ import annotations

import base64
import contextlib
import os
from pathlib import Path

from tektite.chains.storage import StorageContext, StorageItem
from tektite.errors import FieldError, TektiteError, ValidationError

__all__ = ["FileBackend", "run_folder"]


def _safe(part: str, what: str) -> str:
    if not part or part in (".", "..") or "/" in part or "\0" in part:
        raise ValidationError([FieldError((what,), "cannot be used as a path element", "a name", repr(part))])
    return part


def run_folder(root: Path, kind: str, namespace: str, name: str, uid: str) -> Path:
    plural = kind.lower() + "s"
    return root / _safe(namespace, "namespace") / plural / f"{_safe(name, 'name')}-{_safe(uid, 'uid')}"


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise TektiteError(f"file storage: cannot write {path}: {err.strerror}") from None


class FileBackend:
    name = "file"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def folder(self, ctx: StorageContext) -> Path:
        return run_folder(self.root, ctx.kind, ctx.namespace, ctx.name, ctx.uid)

    def store(self, item: StorageItem, ctx: StorageContext) -> None:
        folder = self.folder(ctx)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise TektiteError(f"file storage: cannot create {folder}: {err.strerror}") from None
        key = _safe(item.short_key, "short key")
        if not item.is_simplesigning:
            _write(folder / f"{key}.intoto.json", item.signature)
            return
        _write(folder / f"{key}.payload", item.payload)
        _write(folder / f"{key}.sig", base64.b64encode(item.signature))
        if item.cert:
            _write(folder / f"{key}.cert", item.cert.encode())
