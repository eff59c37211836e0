"""Tekton Triggers' own examples (``../shared/conformance/triggers-examples/v1beta1``).

For every example directory with a ``curl.sh``: apply its YAML (git symlinks checked out as a
one-line file are followed), serve its EventListener with ``python -m tektite.triggers`` under
uvicorn, send exactly the request ``curl.sh`` sends (URL pointed at tektite) and check that what the
listener creates carries the values bound from that request. When an interceptor checks a secret,
the same request with a wrong signature or token must create nothing. Examples whose listener calls
a service outside tektite (the GitHub API, a webhook Service) are skipped with the reason.

Directories without a ``curl.sh`` are applied too; listeners among them get a request written here.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tektite.api.loader import Document, load_text
from tektite.api.scheme import KINDS
from tektite.controller.cluster import Cluster
from tektite.triggers.app import make_app
from tektite.triggers.curl import CurlRequest, parse_curl

pytestmark = pytest.mark.conformance

EXAMPLES_REL = "triggers-examples/v1beta1"
CORE = {"github", "gitlab", "bitbucket", "cel", "slack"}
EVENTID = "triggers.tekton.dev/triggers-eventid"
JSON = dict[str, Any]


def _root() -> Path:
    return Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / EXAMPLES_REL


def _dirs(with_curl: bool) -> list[str]:
    root = _root()
    if not root.is_dir():
        return []
    found = (
        {p.parent for p in root.rglob("*.yaml")}
        if not with_curl
        else {p.parent for p in root.rglob("curl.sh")}
    )
    return sorted(str(d.relative_to(root)) for d in found)


def _text(path: Path) -> str | None:
    """A file's YAML; a git symlink checked out as text (``../../rbac.yaml``) is followed."""
    text = path.read_text()
    line = text.strip()
    if "\n" not in line and line.endswith((".yaml", ".yml")) and ":" not in line:
        target = (path.parent / line).resolve()
        return _text(target) if target.is_file() else None
    return text


def load_dir(d: Path) -> tuple[list[Document], list[str]]:
    """Documents tektite stores, and notes about what was left out (missing links, foreign kinds)."""
    docs: list[Document] = []
    notes: list[str] = []
    for f in sorted([*d.glob("*.yaml"), *d.glob("*.yml")]):
        text = _text(f)
        if text is None:
            notes.append(f"{f.name}: symlink target missing")
            continue
        for doc in load_text(text, str(f)):
            if doc.obj.get("kind") in KINDS:
                docs.append(doc)
            else:
                notes.append(
                    f"{f.name}: {doc.obj.get('apiVersion')} {doc.obj.get('kind')} is not a kind tektite stores"
                )
    return docs, notes


def _interceptors(docs: list[Document]) -> list[JSON]:
    out: list[JSON] = []
    for doc in docs:
        spec = doc.obj.get("spec") or {}
        if doc.obj["kind"] == "EventListener":
            for t in spec.get("triggers") or []:
                out.extend(t.get("interceptors") or [])
            for g in spec.get("triggerGroups") or []:
                out.extend(g.get("interceptors") or [])
        elif doc.obj["kind"] == "Trigger":
            out.extend(spec.get("interceptors") or [])
    return out


def _params(ic: JSON) -> JSON:
    for legacy in ("github", "gitlab", "bitbucket", "cel"):
        if isinstance(ic.get(legacy), dict):
            return dict(ic[legacy])
    return {p.get("name"): p.get("value") for p in ic.get("params") or []}


def _name(ic: JSON) -> str:
    if ic.get("ref"):
        return str(ic["ref"].get("name"))
    return next((k for k in ("github", "gitlab", "bitbucket", "cel") if k in ic), "webhook")


def outside_service(docs: list[Document], request: CurlRequest | None) -> str | None:
    """Why the example cannot run without a service outside tektite, or None."""
    defined = {
        d.obj["metadata"]["name"] for d in docs if d.obj["kind"] in ("ClusterInterceptor", "Interceptor")
    }
    if defined:
        return f"interceptor service(s) {sorted(defined)} run outside tektite"
    event = request.header("X-GitHub-Event") if request else None
    for ic in _interceptors(docs):
        name, params = _name(ic), _params(ic)
        if ic.get("webhook"):
            ref = ic["webhook"].get("objectRef") or {}
            return f"a webhook interceptor calls Service {ref.get('name') or ic['webhook'].get('url')}"
        if name not in CORE:
            return f'ClusterInterceptor "{name}" is a service outside tektite'
        if name == "github":
            lower = {str(k).lower(): v for k, v in params.items()}
            owners = lower.get("githubowners") or {}
            if isinstance(owners, dict) and owners.get("enabled"):
                return "githubOwners reads the repository's OWNERS file from the GitHub API"
            changed = lower.get("addchangedfiles") or {}
            if isinstance(changed, dict) and changed.get("enabled") and event == "pull_request":
                return "addChangedFiles lists a pull request's files through the GitHub API"
    return None


def checks_a_secret(docs: list[Document]) -> bool:
    return any(
        _name(ic) in ("github", "gitlab", "bitbucket") and _params(ic).get("secretRef")
        for ic in _interceptors(docs)
    )


def forged(request: CurlRequest) -> CurlRequest | None:
    """The same request with a signature/token that does not match the secret."""
    for header in ("X-Hub-Signature-256", "X-Hub-Signature"):
        value = request.header(header)
        if value:
            algo, _, digest = value.partition("=")
            flipped = digest[:-1] + ("0" if digest[-1:] != "0" else "1")
            return request.with_header(header, f"{algo}={flipped}")
    token = request.header("X-GitLab-Token")
    if token:
        return request.with_header("X-GitLab-Token", token + "-wrong")
    return None


def templates(docs: list[Document]) -> list[JSON]:
    out: list[JSON] = []
    for doc in docs:
        spec = doc.obj.get("spec") or {}
        if doc.obj["kind"] == "TriggerTemplate":
            out.extend(spec.get("resourcetemplates") or spec.get("resourceTemplates") or [])
        for t in spec.get("triggers") or [] if doc.obj["kind"] == "EventListener" else []:
            embedded = (t.get("template") or {}).get("spec") or {}
            out.extend(embedded.get("resourcetemplates") or embedded.get("resourceTemplates") or [])
    return out


def created(home: Path, event_id: str, kinds: set[str]) -> list[JSON]:
    c = Cluster(home)
    try:
        return [
            o
            for k in sorted(kinds)
            for o in c.store.list(k, "*", label_selector=f"{EVENTID}={event_id}").items
        ]
    finally:
        c.close()


def check_generic(objs: list[JSON], docs: list[Document]) -> None:
    """What any example must satisfy: objects made from its templates, every variable resolved."""
    assert objs, "the event created nothing"
    shapes = {
        (
            t.get("kind"),
            (t.get("metadata") or {}).get("generateName") or (t.get("metadata") or {}).get("name"),
        )
        for t in templates(docs)
    }
    for o in objs:
        meta = o["metadata"]
        assert any(
            kind == o["kind"] and prefix and meta["name"].startswith(prefix.replace("$(uid)", ""))
            for kind, prefix in shapes
        ), f"{o['kind']} {meta['name']} does not come from one of the templates {sorted(map(str, shapes))}"
        text = json.dumps(o)
        for var in ("$(tt.params.", "$(body", "$(header", "$(extensions", "$(uid)"):
            assert var not in text, f"{o['kind']} {meta['name']} still contains {var}"


# What the examples' YAML and curl.sh say must come out (worked out by reading them).
EXPECTED: dict[str, JSON] = {
    "github": {
        "kind": "TaskRun",
        "prefix": "github-run-",
        "script": [
            "Revision is : 28911bbb5a3e2ea034daf1f6be0a822d50e31e73. RepoURL is https://github.com/tektoncd/triggers.git"
        ],
    },
    "custom-resource": {
        "kind": "TaskRun",
        "prefix": "github-run-",
        "script": [
            "Revision is : 28911bbb5a3e2ea034daf1f6be0a822d50e31e73. RepoURL is https://github.com/tektoncd/triggers.git"
        ],
    },
    "bitbucket-server": {
        "kind": "TaskRun",
        "prefix": "bitbucket-run-",
        "script": ["Revision is : main. RepoURL is ssh://git@localhost:7999/~test/helloworld.git"],
    },
    "gitlab": {
        "kind": "TaskRun",
        "prefix": "gitlab-run-",
        "script": [
            "Revision is : 1a1736ec3d7b03349b31218a2f2c572c7c7206d6. RepoURL is https://gitlab.com/dibyom/triggers.git"
        ],
    },
    "embedded-trigger": {
        "kind": "PipelineRun",
        "prefix": "simple-pipeline-run-",
        # body has no head_commit: git-revision falls back to the template default
        "params": {
            "message": "Hello from the Triggers EventListener!",
            "contenttype": "application/json",
            "git-revision": "main",
            "git-url": "https://github.com/tektoncd/triggers.git",
        },
    },
    "namespace-selector": {
        "kind": "PipelineRun",
        "prefix": "simple-pipeline-run-",
        "namespace": "foo",
        "params": {
            "message": "This is the default message",
            "contenttype": "application/json",
            "git-revision": "28911bbb5a3e2ea034daf1f6be0a822d50e31e73",
            "git-url": "https://github.com/tektoncd/triggers.git",
        },
    },
    "github-add-changed-files-push-cel": {
        "kind": "TaskRun",
        "prefix": "github-add-changed-files-push-cel-run-",
        "script": [
            "api/v1beta1/tektonhelperconfig_types.go",
            "config/crd/bases/tekton-helper..com_tektonhelperconfigs.yaml",
            "config/samples/tektonhelperconfig-oomkillpipeline.yaml",
            "config/samples/tektonhelperconfig-timeout.yaml",
            "controllers/tektonhelperconfig_controller.go",
        ],
    },
}


def check_expected(example: str, objs: list[JSON]) -> None:
    exp = EXPECTED.get(example)
    if exp is None:
        return
    (obj,) = [o for o in objs if o["kind"] == exp["kind"]]
    assert obj["metadata"]["name"].startswith(exp["prefix"])
    assert obj["metadata"]["namespace"] == exp.get("namespace", "default")
    if "params" in exp:
        assert {p["name"]: p["value"] for p in obj["spec"].get("params") or []} == exp["params"]
    for piece in exp.get("script", []):
        script = "\n".join(s.get("script", "") for s in obj["spec"]["taskSpec"]["steps"])
        assert piece in script


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def listener_server(home: Path, namespace: str, name: str) -> Iterator[str]:
    """The listener on its own port, as ``el-NAME:8080`` is on a cluster; stopped by PID."""
    port = _free_port()
    log = home.parent / f"sink-{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tektite.triggers",
                "--home",
                str(home),
                "--port",
                str(port),
                "--listener",
                f"{namespace}/{name}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"listener server exited:\n{log.read_text(errors='replace')}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"listener server did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


def _send(base: str, request: CurlRequest) -> httpx.Response:
    parts = urlsplit(request.url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = [(k, v) for k, v in request.headers if k.lower() != "host"]
    return httpx.request(request.method, base + path, headers=headers, content=request.body, timeout=60)


@pytest.mark.parametrize("example", _dirs(with_curl=True) or ["<no conformance data>"])
def test_curl_example(example: str, conformance_dir: Path, tmp_path: Path) -> None:
    d = conformance_dir / EXAMPLES_REL / example
    docs, _notes = load_dir(d)
    request = parse_curl((d / "curl.sh").read_text(), base_dir=d, source=str(d / "curl.sh"))
    why = outside_service(docs, request)
    if why:
        pytest.skip(f"needs a service outside tektite: {why}")
    listeners = [doc.obj for doc in docs if doc.obj["kind"] == "EventListener"]
    assert listeners, f"{example} has a curl.sh but no EventListener"
    home = tmp_path / "home"
    cluster = Cluster(home)
    cluster.apply(docs)
    cluster.close()
    kinds = {str(t.get("kind")) for t in templates(docs)} | {"TaskRun", "PipelineRun"}
    made: list[JSON] = []
    for el in listeners:
        ns, name = el["metadata"].get("namespace") or "default", el["metadata"]["name"]
        with listener_server(home, ns, name) as base:
            resp = _send(base, request)
            assert resp.status_code == 202, resp.text
            body = resp.json()
            assert (body["eventListener"], body["namespace"]) == (name, ns)
            assert body["eventListenerUID"] and body["eventID"]
            objs = created(home, body["eventID"], kinds)
            for o in objs:
                labels = o["metadata"]["labels"]
                assert labels["triggers.tekton.dev/eventlistener"] == name
                assert "triggers.tekton.dev/trigger" in labels
            made.extend(objs)
            if checks_a_secret(docs):
                bad = forged(request)
                assert bad is not None, f"{example} checks a secret but its curl.sh sends none"
                for attempt in (bad, _strip_secret_headers(request)):
                    resp = _send(base, attempt)
                    assert resp.status_code == 202
                    assert created(home, resp.json()["eventID"], kinds) == [], (
                        f"{name}: a request with a wrong or missing secret created objects"
                    )
    check_generic(made, docs)
    check_expected(example, made)


def _strip_secret_headers(request: CurlRequest) -> CurlRequest:
    secret = {"x-hub-signature-256", "x-hub-signature", "x-gitlab-token"}
    return CurlRequest(
        request.url,
        request.method,
        [(k, v) for k, v in request.headers if k.lower() not in secret],
        request.body,
    )


@pytest.mark.parametrize("example", _dirs(with_curl=False) or ["<no conformance data>"])
def test_example_objects_are_admitted(example: str, conformance_dir: Path, tmp_path: Path) -> None:
    """Every object of every example is accepted by ``tektite apply`` (kinds tektite stores)."""
    docs, notes = load_dir(conformance_dir / EXAMPLES_REL / example)
    if not docs:
        pytest.skip("; ".join(notes) or "no objects")
    cluster = Cluster(tmp_path / "home")
    try:
        applied = cluster.apply(docs)
    finally:
        cluster.close()
    assert len(applied) == len(docs)


# -- listeners without a curl.sh, with requests written here ------------------------------------

SHARED = ("triggerbindings", "triggertemplates", "clustertriggerbindings")
PR_EVENT = {
    "action": "opened",
    "head_commit": {"id": "22ac84e04fd2bd9dce8529c9109d5bfd61678b29"},
    "repository": {"url": "https://github.com/tektoncd/triggers.git"},
    "pull_request": {"head": {"sha": "6113728f27ae82c7b1a177c8d03f9e96e0adf246"}},
    "ref": "refs/heads/main",
}
PIPELINE_PARAMS = {
    "message": "Hello from the Triggers EventListener!",
    "contenttype": "application/json",
    "git-revision": "22ac84e04fd2bd9dce8529c9109d5bfd61678b29",
    "git-url": "https://github.com/tektoncd/triggers.git",
}
WITHOUT_MESSAGE = {**PIPELINE_PARAMS, "message": "This is the default message"}

# file -> (extra files, headers, expected: list of (kind, generateName prefix, params or script text))
OWN: dict[str, tuple[tuple[str, ...], dict[str, str], list[tuple[str, str, Any]]]] = {
    "eventlisteners/eventlistener.yaml": ((), {}, [("PipelineRun", "simple-pipeline-run-", PIPELINE_PARAMS)]),
    "eventlisteners/eventlistener-clustertriggerbinding.yaml": (
        (),
        {},
        [("PipelineRun", "simple-pipeline-run-", PIPELINE_PARAMS)],
    ),
    "eventlisteners/eventlistener-gke-autopilot.yaml": (
        (),
        {},
        [("PipelineRun", "simple-pipeline-run-", PIPELINE_PARAMS)],
    ),
    "eventlisteners/eventlistener-podtemplate.yaml": (
        (),
        {},
        [("PipelineRun", "simple-pipeline-run-", PIPELINE_PARAMS)],
    ),
    "eventlisteners/eventlistener-replicas.yaml": (
        (),
        {},
        [("PipelineRun", "simple-pipeline-run-", PIPELINE_PARAMS)],
    ),
    "eventlisteners/eventlistener-serviceconfig.yaml": (
        (),
        {},
        [("PipelineRun", "simple-pipeline-run-", PIPELINE_PARAMS)],
    ),
    "eventlisteners/eventlistener-loadbalancerclass.yaml": (
        (),
        {},
        [("PipelineRun", "simple-pipeline-run-", PIPELINE_PARAMS)],
    ),
    "eventlisteners/eventlistener-tolerations.yaml": (
        (),
        {},
        [("PipelineRun", "simple-pipeline-run-", PIPELINE_PARAMS)],
    ),
    "eventlisteners/eventlistener-securitycontext.yaml": (
        (),
        {},
        [("PipelineRun", "simple-pipeline-run-", PIPELINE_PARAMS)],
    ),
    "eventlisteners/cel-eventlistener-interceptor.yaml": (
        (),
        {"X-GitHub-Event": "pull_request"},
        # the first trigger matches pull_request; the second only push
        [("TaskRun", "cel-trig-with-matches-", {"git_sha": "6113728"})],
    ),
    "eventlisteners/cel-eventlistener-multiple-overlays.yaml": (
        (),
        {},
        [("TaskRun", "cel-trig-", "SHA is : 6113728. Branch is main")],
    ),
    "eventlisteners/cel-eventlistener-no-filter.yaml": (
        (),
        {},
        [("PipelineRun", "simple-pipeline-run-", WITHOUT_MESSAGE)],
    ),
    "eventlisteners/cel-eventlistener-interceptor-with-secret.yaml": (
        (),
        {},
        [("PipelineRun", "simple-pipeline-run-", WITHOUT_MESSAGE)],
    ),
    "trigger-ref/eventlistener-triggerref.yaml": (
        ("trigger-ref/trigger.yaml", "trigger-ref/triggerbinding.yaml", "trigger-ref/triggertemplate.yaml"),
        {"X-GitHub-Event": "pull_request"},
        [("PipelineRun", "simple-pipeline-run-", WITHOUT_MESSAGE)],
    ),
    "cron/eventlistener.yaml": (
        ("cron/triggerbinding.yaml", "cron/triggertemplate.yaml"),
        {},
        [
            (
                "PipelineRun",
                "simple-pipeline-run-",
                {
                    "message": "This is the default message",
                    "contenttype": "application/json",
                    "git-revision": "main",
                    "git-url": "https://github.com/tektoncd/triggers",
                },
            )
        ],
    ),
}


async def _post_asgi(cluster: Cluster, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """The sink app in this process, through httpx's ASGI transport."""
    transport = httpx.ASGITransport(app=make_app(cluster))
    async with httpx.AsyncClient(transport=transport, base_url="http://el.test") as client:
        return await client.post(path, content=body, headers=headers)


@pytest.mark.parametrize("listener_file", sorted(OWN))
def test_listener_with_a_request_written_here(
    listener_file: str, conformance_dir: Path, tmp_path: Path
) -> None:
    root = conformance_dir / EXAMPLES_REL
    if not (root / listener_file).is_file():
        pytest.skip(f"{listener_file} is not in this copy of the examples")
    extra, headers, expected = OWN[listener_file]
    docs: list[Document] = []
    for shared in SHARED:
        docs.extend(load_dir(root / shared)[0])
    for f in (listener_file, *extra):
        text = _text(root / f)
        assert text is not None, f"{f}: symlink target missing"
        docs.extend(load_text(text, str(root / f)))
    # later files win (trigger-ref's own binding/template replace the shared ones of the same name)
    by_key = {(d.obj["kind"], d.obj["metadata"]["name"], d.obj["metadata"].get("namespace")): d for d in docs}
    docs = list(by_key.values())
    home = tmp_path / "home"
    cluster = Cluster(home)
    cluster.apply(docs)
    (el,) = [
        d.obj
        for d in load_text(_text(root / listener_file) or "", listener_file)
        if d.obj["kind"] == "EventListener"
    ]
    resp = asyncio.run(
        _post_asgi(
            cluster,
            f"/el/default/{el['metadata']['name']}",
            json.dumps(PR_EVENT).encode(),
            {"Content-Type": "application/json", **headers},
        )
    )
    assert resp.status_code == 202, resp.text
    objs = [
        o
        for k in ("TaskRun", "PipelineRun")
        for o in cluster.store.list(k, "*", label_selector=f"{EVENTID}={resp.json()['eventID']}").items
    ]
    cluster.close()
    assert len(objs) == len(expected), [o["metadata"]["name"] for o in objs]
    for (kind, prefix, want), obj in zip(expected, sorted(objs, key=lambda o: o["kind"]), strict=True):
        assert obj["kind"] == kind and obj["metadata"]["name"].startswith(prefix)
        if isinstance(want, dict):
            assert {p["name"]: p["value"] for p in obj["spec"].get("params") or []} == want
        else:
            assert want in obj["spec"]["taskSpec"]["steps"][0]["script"]


def test_skip_reasons_name_real_examples(conformance_dir: Path) -> None:
    """The examples skipped as needing an outside service are the ones that do (and only those)."""
    root = conformance_dir / EXAMPLES_REL
    skipped = {}
    for example in _dirs(with_curl=True):
        d = root / example
        docs, _ = load_dir(d)
        why = outside_service(docs, parse_curl((d / "curl.sh").read_text(), base_dir=d))
        if why:
            skipped[example] = why
    known = {"github-owners", "github-add-changed-files-pr"}
    for name in known & set(_dirs(with_curl=True)):
        assert name in skipped, f"{name} needs the GitHub API but was not skipped"
    assert "github" not in skipped and "gitlab" not in skipped
