"""Resolve ``taskRef`` / ``pipelineRef`` / step ``ref`` to objects: from the store or a resolver.

Resolvers: ``cluster`` (the store), ``git`` (any URL ``git clone`` can reach, e.g. a local path
or ``file://``), ``http`` (with optional digest and basic auth from a Secret), ``bundles`` (Tekton
Bundles in any OCI registry, :mod:`tektite.resolution.bundles`). ``hub`` needs Artifact Hub on the
internet and answers "not supported yet".
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tektite.api.loader import load_text
from tektite.api.params import ResolverRef
from tektite.api.structure import parse
from tektite.core.secrets import secret_data
from tektite.errors import NotFound, NotSupported, TektiteError
from tektite.resolution.cache import ResolverCache

JSON = dict[str, Any]
Getter = Callable[[str, str, str], JSON | None]  # (kind, name, namespace) -> object


class ResolutionError(TektiteError):
    pass


@dataclass
class Resolved:
    obj: JSON
    ref_source: JSON | None = None  # provenance.refSource: {uri, digest, entryPoint}
    remote: bool = False
    annotations: dict[str, str] = field(default_factory=dict)
    raw: JSON | None = (
        None  # the document as fetched, before parsing: what a trusted-resources signature covers
    )

    @property
    def as_fetched(self) -> JSON:
        return self.raw if self.raw is not None else self.obj


_KIND_NAMES = {"task": "Task", "pipeline": "Pipeline", "stepaction": "StepAction"}


def _params(ref: ResolverRef) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in ref.params or []:
        out[p.name] = p.value if isinstance(p.value, str) else str(p.value)
    return out


def _parse_one(text: str, source: str, kind: str, name: str | None = None) -> tuple[JSON, JSON]:
    """The object of ``kind`` in ``text``: parsed, and as written (a deep copy)."""
    docs = load_text(text, source)
    want = _KIND_NAMES[kind]
    for doc in docs:
        if doc.obj.get("kind") in (want, "ClusterTask" if want == "Task" else want):
            if name and (doc.obj.get("metadata") or {}).get("name") not in (None, name):
                continue
            raw = copy.deepcopy(doc.obj)
            return parse(doc.obj, doc.source).obj, raw
    raise ResolutionError(f"{source}: no {want} found in the resolved document")


def resolve(
    ref: ResolverRef,
    kind: str,
    namespace: str,
    get: Getter,
    *,
    default_resolver: str = "",
    secret_getter: Getter | None = None,
    cache: ResolverCache | None = None,
) -> Resolved:
    """Resolve one reference. ``kind`` is ``task``, ``pipeline`` or ``stepaction``. With a
    ``cache``, the git, bundles and cluster resolvers use it as their ``cache`` param says."""
    resolver = ref.resolver or (default_resolver if not ref.name else "")
    if not resolver:
        want = _KIND_NAMES[kind]
        obj = get(want, ref.name or "", namespace)
        if obj is None and want == "Task" and ref.kind == "ClusterTask":
            obj = get("ClusterTask", ref.name or "", "")
        if obj is None:
            raise NotFound(f'{want} "{ref.name}" not found in namespace "{namespace}"')
        return Resolved(obj)
    params = _params(ref)
    if cache is not None and resolver in ("git", "bundles", "cluster"):
        return cache.resolve(
            resolver,
            kind,
            namespace,
            params,
            get,
            lambda: _remote(resolver, params, kind, namespace, get, secret_getter),
        )
    return _remote(resolver, params, kind, namespace, get, secret_getter)


def _remote(
    resolver: str,
    params: dict[str, str],
    kind: str,
    namespace: str,
    get: Getter,
    secret_getter: Getter | None,
) -> Resolved:
    if resolver == "cluster":
        target_kind = params.get("kind", kind).lower()
        ns = params.get("namespace", namespace)
        name = params.get("name")
        if not name:
            raise ResolutionError('cluster resolver: param "name" is required')
        if target_kind not in _KIND_NAMES:
            raise ResolutionError(
                f'cluster resolver: unknown or unsupported resource kind "{target_kind}"; '
                "expected task, pipeline or stepaction"
            )
        obj = get(_KIND_NAMES[target_kind], name, ns)
        if obj is None:
            raise NotFound(f'cluster resolver: {target_kind} "{name}" not found in namespace "{ns}"')
        uid = (obj.get("metadata") or {}).get("uid", "")
        # As Tekton's cluster resolver writes it: the kind as the param names it (its docs' example:
        # /apis/tekton.dev/v1beta1/namespaces/default/task/a-simple-task@<uid>), and a digest of
        # the object's spec as canonical JSON (keys sorted), which anyone holding the spec can recompute
        spec_json = json.dumps(obj.get("spec"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return Resolved(
            obj,
            {
                "uri": f"/apis/{obj.get('apiVersion') or 'tekton.dev/v1'}/namespaces/{ns}/{target_kind}/{name}@{uid}",
                "digest": {"sha256": hashlib.sha256(spec_json.encode()).hexdigest()},
            },
            remote=True,
        )
    if resolver == "http":
        return _http(params, kind, namespace, secret_getter)
    if resolver == "git":
        return _git(params, kind)
    if resolver == "bundles":
        from tektite.resolution.bundles import resolve_params  # the registry client: only when used

        text, source, ref_source = resolve_params(params, kind, namespace, secret_getter)
        obj, raw = _parse_one(text, source, kind, params.get("name"))
        return Resolved(obj, ref_source, remote=True, raw=raw)
    if resolver == "hub":
        raise NotSupported(
            'the "hub" resolver is not supported yet (it needs Artifact Hub on the internet); '
            "use the bundles, git, http or cluster resolver, or apply the object locally"
        )
    raise ResolutionError(f'unknown resolver "{resolver}"; expected one of: cluster, git, http, hub, bundles')


def _http(params: dict[str, str], kind: str, namespace: str, secret_getter: Getter | None) -> Resolved:
    url = params.get("url")
    if not url or not url.startswith(("http://", "https://")):
        raise ResolutionError(f'http resolver: param "url" must be an http(s) URL, found "{url}"')
    auth = None
    if params.get("http-username"):
        secret_name = params.get("http-password-secret")
        key = params.get("http-password-secret-key", "password")
        secret = secret_getter("Secret", secret_name, namespace) if secret_getter and secret_name else None
        data = secret_data(secret) if secret else {}
        if key not in data:
            raise ResolutionError(f'http resolver: secret "{secret_name}" with key "{key}" not found')
        auth = (params["http-username"], data[key].decode())
    import httpx  # only here: every engine start would pay its import (~80 ms)

    try:
        resp = httpx.get(url, auth=auth, timeout=60, follow_redirects=True)
        resp.raise_for_status()
    except httpx.HTTPError as exc:
        raise ResolutionError(f"http resolver: cannot fetch {url}: {exc}") from None
    body = resp.content
    digest = params.get("digest")
    sha256 = hashlib.sha256(body).hexdigest()
    if digest:
        algo, _, want = digest.partition(":")
        if algo not in ("sha256", "sha512"):
            raise ResolutionError(f'http resolver: digest algorithm must be sha256 or sha512, found "{algo}"')
        got = hashlib.new(algo, body).hexdigest()
        if got != want:
            raise ResolutionError(f"http resolver: digest mismatch for {url}: expected {want}, got {got}")
    obj, raw = _parse_one(body.decode(), url, kind)
    return Resolved(obj, {"uri": url, "digest": {"sha256": sha256}}, remote=True, raw=raw)


def _git(params: dict[str, str], kind: str) -> Resolved:
    url = params.get("url")
    if not url:
        if params.get("repo"):
            raise NotSupported("git resolver: repo/org through an SCM API is not supported yet; use url")
        raise ResolutionError('git resolver: param "url" is required')
    revision = params.get("revision", "")
    path = params.get("pathInRepo")
    if not path:
        raise ResolutionError('git resolver: param "pathInRepo" is required')
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    with tempfile.TemporaryDirectory(prefix="tektite-git-") as tmp:
        try:
            subprocess.run(
                ["git", "clone", "--quiet", "--bare", "--", url, tmp],  # bare: every branch a local ref
                check=True,
                capture_output=True,
                env=env,
                timeout=60,
            )
            rev = revision or "HEAD"
            commit = subprocess.run(
                ["git", "-C", tmp, "rev-parse", f"{rev}^{{commit}}"],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            ).stdout.strip()
            content = subprocess.run(
                ["git", "-C", tmp, "show", f"{commit}:{path}"], check=True, capture_output=True, env=env
            ).stdout
        except subprocess.CalledProcessError as exc:
            msg = (
                (exc.stderr or b"").decode(errors="replace").strip()
                if isinstance(exc.stderr, bytes)
                else str(exc.stderr or "").strip()
            )
            raise ResolutionError(f"git resolver: {url}@{revision or 'HEAD'}:{path}: {msg}") from None
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ResolutionError(f"git resolver: {url}: {exc}") from None
    obj, raw = _parse_one(content.decode(), f"{url}/{path}", kind)
    uri = url if url.startswith("git+") else f"git+{url}"
    return Resolved(obj, {"uri": uri, "digest": {"sha1": commit}, "entryPoint": path}, remote=True, raw=raw)


def local_path_url(path: Path) -> str:
    return path.resolve().as_uri()
