"""Keyed caches for workspaces (beyond Tekton: FEATURES demand #11, pipeline#7706).

A workspace bound to the CSI driver :data:`DRIVER` is a cache: a directory restored from the
namespace's cache under a key when the run starts, and saved under that key when the run
succeeds, as GitHub's ``actions/cache`` and GitLab's ``cache:`` do. It is plain Tekton YAML (a
``csi`` workspace binding, which Tekton accepts), so the same file still applies to a cluster
that has such a driver::

    workspaces:
    - name: deps
      csi:
        driver: cache.tektite.dev
        volumeAttributes:
          key: npm-$(params.branch)          # params and context variables are substituted
          fallbackKeys: npm-main,npm-        # else the newest entry under each prefix, in order
          policy: pull-push                  # or pull (never saved) / push (starts empty)

- On a PipelineRun the cache is one working copy for all its tasks (a claim, like a
  ``volumeClaimTemplate``'s): restored before the first task runs, saved once the PipelineRun
  has succeeded. On a lone TaskRun: restored when it starts, saved when it succeeds.
- A run works on its own copy: runs that share a key at the same time do not see each other's
  writes, and a failed run saves nothing. The last run to succeed wins the key.
- Entries live in ``<home>/caches/<namespace>/``, one directory per key; ``tektite cache list``
  and ``tektite cache delete`` manage them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tektite.core.cachebinding import DRIVER, POLICIES, problems
from tektite.errors import TektiteError

JSON = dict[str, Any]
log = logging.getLogger("tektite")
KEY_ANNOTATION = "tektite.dev/cache-key"  # on the claim a PipelineRun makes for a cache binding
FALLBACK_ANNOTATION = "tektite.dev/cache-fallback-keys"
POLICY_ANNOTATION = "tektite.dev/cache-policy"
RESTORED_ANNOTATION = "tektite.dev/cache-restored"  # what the claim started from
WORKSPACE_ANNOTATION = "tektite.dev/cache-workspace"  # the PipelineRun's workspace it is for
MAX_KEY = 512
_ENTRY = "entry.json"
_DATA = "data"


@dataclass(frozen=True)
class CacheSpec:
    key: str
    fallback_keys: tuple[str, ...] = ()
    policy: str = "pull-push"

    @property
    def pulls(self) -> bool:
        return self.policy in ("pull-push", "pull")

    @property
    def pushes(self) -> bool:
        return self.policy in ("pull-push", "push")

    def annotations(self) -> dict[str, str]:
        out = {KEY_ANNOTATION: self.key, POLICY_ANNOTATION: self.policy}
        if self.fallback_keys:
            out[FALLBACK_ANNOTATION] = ",".join(self.fallback_keys)
        return out

    @classmethod
    def from_annotations(cls, annotations: dict[str, str]) -> CacheSpec | None:
        key = annotations.get(KEY_ANNOTATION)
        if not key:
            return None
        fallback = tuple(k for k in annotations.get(FALLBACK_ANNOTATION, "").split(",") if k)
        return cls(key, fallback, annotations.get(POLICY_ANNOTATION, "pull-push"))


def in_use(claims: list[JSON]) -> dict[str, tuple[str, str | None]]:
    """A PipelineRun's cache claims (its claims whose annotations name a key): workspace ->
    (key as substituted, how it started: hit, fallback KEY, miss; None until restored)."""
    out: dict[str, tuple[str, str | None]] = {}
    for claim in claims:
        notes = (claim.get("metadata") or {}).get("annotations") or {}
        if KEY_ANNOTATION in notes:
            out[notes.get(WORKSPACE_ANNOTATION, "")] = (notes[KEY_ANNOTATION], notes.get(RESTORED_ANNOTATION))
    return out


def parse(binding: JSON, where: str, substitute: Callable[[str], str] | None = None) -> CacheSpec:
    """The cache a binding asks for, its variables substituted; a :class:`TektiteError` naming
    ``where`` (the workspace) and the field when it is not one."""
    found = problems(binding.get("csi"))
    if found:  # what admission says too (core/validation.py), for runs stored before it did
        path, problem, expected, value = found[0]
        raise TektiteError(f"{where}: {'.'.join(path)}: {problem}: expected {expected}, found {value}")
    attrs = binding["csi"]["volumeAttributes"]

    def text(name: str, default: str = "") -> str:
        value = attrs.get(name, default)
        if not isinstance(value, str):
            raise TektiteError(f"{where}: csi.volumeAttributes.{name} must be a string, found {value!r}")
        value = substitute(value) if substitute is not None else value
        if "$(" in value:
            raise TektiteError(
                f'{where}: csi.volumeAttributes.{name} "{value}" names a variable that is not known here '
                "(params and context variables are; on a PipelineRun, results of tasks that ran before its first user)"
            )
        return value.strip()

    key = text("key")
    if not key:
        raise TektiteError(
            f"{where}: csi.volumeAttributes.key is required for driver {DRIVER} (the cache's key)"
        )
    policy = text("policy", "pull-push") or "pull-push"
    if policy not in POLICIES:
        raise TektiteError(
            f'{where}: csi.volumeAttributes.policy "{policy}" is not one of {", ".join(POLICIES)}'
        )
    fallback = tuple(k.strip() for k in text("fallbackKeys").split(",") if k.strip())
    for k in (key, *fallback):
        if len(k) > MAX_KEY:
            raise TektiteError(f"{where}: a cache key is at most {MAX_KEY} characters, found {len(k)}")
    return CacheSpec(key, fallback, policy)


def _special(folder: str, names: list[str]) -> list[str]:
    """What a copy leaves out: anything but directories, regular files and symlinks (a FIFO a
    step left would block the copy, a socket cannot be copied)."""
    skipped = []
    for name in names:
        try:
            mode = os.lstat(os.path.join(folder, name)).st_mode
        except OSError:
            skipped.append(name)
            continue
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            skipped.append(name)
    return skipped


def _first_error(exc: BaseException) -> str:
    """shutil.Error carries a list of (source, target, why); the first says enough."""
    if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list) and exc.args[0]:
        source, _, why = exc.args[0][0]
        return f"{source}: {why}"
    return str(exc)


@dataclass(frozen=True)
class Entry:
    namespace: str
    key: str
    saved: float  # when, seconds since the epoch
    used: float  # last restored (or saved)
    size: int  # bytes of file data
    run: str  # the run that saved it


def evictions(
    entries: list[Entry], unused_for: float | None, max_bytes: float | None, now: float
) -> list[Entry]:
    """Which of one namespace's entries to delete: those not used in ``unused_for`` seconds,
    then the least recently used until the rest hold at most ``max_bytes``."""
    doomed = [e for e in entries if unused_for is not None and now - e.used > unused_for]
    if max_bytes is not None:
        kept = sorted((e for e in entries if e not in doomed), key=lambda e: (e.used, e.saved))
        total = sum(e.size for e in kept)
        while kept and total > max_bytes:
            oldest = kept.pop(0)
            total -= oldest.size
            doomed.append(oldest)
    return doomed


class Caches:
    """A home's cache entries: ``<root>/<namespace>/<sha256(key)>/{entry.json,data/}``.

    A save copies into a new directory and swaps it in by rename under the namespace's lock; a
    restore copies out under the same lock, shared: neither sees half of the other."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, namespace: str, key: str) -> Path:
        return self.root / namespace / hashlib.sha256(key.encode()).hexdigest()[:40]

    @contextlib.contextmanager
    def _locked(self, namespace: str, exclusive: bool) -> Iterator[None]:
        folder = self.root / namespace
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def restore(self, namespace: str, spec: CacheSpec, target: Path) -> str:
        """Fill ``target`` from the entry of ``spec.key``, else from the newest entry under each
        fallback key in turn. Says what happened: ``hit``, ``fallback <key>`` or ``miss``."""
        target.mkdir(parents=True, exist_ok=True)
        if not spec.pulls:
            return "miss (policy push)"
        with self._locked(namespace, exclusive=False):
            found = self._read(self._dir(namespace, spec.key))
            how = "hit"
            if found is None:
                how = "miss"
                entries = self._entries(namespace)
                for prefix in spec.fallback_keys:
                    matches = [e for e in entries if e[1]["key"].startswith(prefix)]
                    if matches:
                        found = max(matches, key=lambda e: float(e[1].get("saved", 0)))
                        how = f"fallback {found[1]['key']}"
                        break
            if found is None:
                return how
            folder, _ = found
            try:
                shutil.copytree(folder / _DATA, target, symlinks=True, dirs_exist_ok=True, ignore=_special)
            except (OSError, shutil.Error) as exc:  # the run goes on, with what was copied
                log.warning('cache "%s": restoring %s failed: %s', spec.key, found[1]["key"], exc)
                return f"{how}, incomplete: {_first_error(exc)}"
            with contextlib.suppress(OSError):
                os.utime(folder / _ENTRY)  # last used: what pruning goes by
        return how

    def save(self, namespace: str, spec: CacheSpec, source: Path, run: str) -> bool:
        """Keep ``source`` as the entry of ``spec.key`` (replacing it); False when the policy
        does not save or there is nothing to save."""
        if not spec.pushes or not source.is_dir():
            return False
        folder = self.root / namespace
        incoming = folder / f".incoming-{os.urandom(8).hex()}"
        old = folder / f".old-{os.urandom(8).hex()}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copytree(source, incoming / _DATA, symlinks=True, ignore=_special)
            size = sum(
                p.stat().st_size for p in (incoming / _DATA).rglob("*") if p.is_file() and not p.is_symlink()
            )
            record = {"key": spec.key, "saved": time.time(), "size": size, "run": run}
            (incoming / _ENTRY).write_text(json.dumps(record))
            final = self._dir(namespace, spec.key)
            with self._locked(namespace, exclusive=True):
                if final.exists():
                    os.rename(final, old)
                os.rename(incoming, final)
        except (OSError, shutil.Error) as exc:  # the entry stays as it was; the run's outcome too
            log.warning('cache "%s": not saved: %s', spec.key, _first_error(exc))
            return False
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
        return True

    def _read(self, folder: Path) -> tuple[Path, JSON] | None:
        try:
            record = json.loads((folder / _ENTRY).read_text())
        except (OSError, ValueError):
            return None
        return (folder, record) if isinstance(record, dict) and "key" in record else None

    def _entries(self, namespace: str) -> list[tuple[Path, JSON]]:
        folder = self.root / namespace
        if not folder.is_dir():
            return []
        found = [self._read(d) for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")]
        return [f for f in found if f is not None]

    def list(self, namespace: str | None = None) -> list[Entry]:
        """Entries of a namespace (of all when None), newest saved first."""
        if namespace is None:
            spaces = sorted(d.name for d in self.root.iterdir() if d.is_dir()) if self.root.is_dir() else []
        else:
            spaces = [namespace]
        out = []
        for ns in spaces:
            for folder, record in self._entries(ns):
                try:
                    used = (folder / _ENTRY).stat().st_mtime
                except OSError:  # deleted meanwhile
                    continue
                out.append(
                    Entry(
                        ns,
                        str(record["key"]),
                        float(record.get("saved", 0)),
                        used,
                        int(record.get("size", 0)),
                        str(record.get("run", "")),
                    )
                )
        return sorted(out, key=lambda e: -e.saved)

    def delete(self, namespace: str, key: str) -> bool:
        """Remove one entry; False when there is none."""
        final = self._dir(namespace, key)
        if self._read(final) is None:
            return False
        gone = self.root / namespace / f".old-{os.urandom(8).hex()}"
        with self._locked(namespace, exclusive=True):
            try:
                os.rename(final, gone)
            except FileNotFoundError:  # deleted meanwhile
                return False
        shutil.rmtree(gone, ignore_errors=True)
        return True
