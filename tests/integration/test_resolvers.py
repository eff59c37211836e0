"""The remote resolvers (``cluster``, ``git``, ``http``) with real components: git repositories made
with the git CLI and reached through ``file://`` URLs or local paths, a loopback HTTP server (with
and without basic auth) and real stores. First through :func:`tektite.resolution.resolve`, then end
to end: ``tektite run -f ... --executor process`` (in-process through ``main()``) and the run read
back with ``tektite get ... -o json``.

Every server is started here and stopped when its fixture ends.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tektite.api.params import ResolverRef
from tektite.cli.common import STATE
from tektite.cli.main import main
from tektite.controller.cluster import Cluster
from tektite.errors import NotFound, TektiteError
from tektite.resolution import Getter, resolve

JSON = dict[str, Any]
PASSWORD = "s3cr3t-Pa55-for-resolver-tests"
USER = "robot"


def task_yaml(name: str, says: str) -> str:
    return f"""apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  steps:
    - name: say
      image: bash
      script: echo "{says}"
"""


def ref(resolver: str, params: dict[str, str]) -> ResolverRef:
    return ResolverRef.model_validate(
        {"resolver": resolver, "params": [{"name": k, "value": v} for k, v in params.items()]}
    )


def nothing(kind: str, name: str, namespace: str) -> JSON | None:
    return None


def script(obj: JSON) -> str:
    return str(obj["spec"]["steps"][0]["script"]).strip()


# -- a git repository -----------------------------------------------------------------------------


@dataclass
class Repo:
    path: Path
    v1: str  # first commit on main, annotated tag v1
    head: str  # tip of main, the repository's HEAD
    feature: str  # tip of branch "feature" (not the default branch)

    @property
    def url(self) -> str:
        return self.path.as_uri()


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


PIPELINE = """apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: build
spec:
  tasks:
    - name: greet
      taskRef:
        resolver: git
        params:
          - {{name: url, value: "{url}"}}
          - {{name: revision, value: v1}}
          - {{name: pathInRepo, value: task/hello.yaml}}
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """main: v1 (tagged) then a second commit; branch feature off main with its own Task."""
    path = tmp_path_factory.mktemp("git") / "catalog"
    path.mkdir()
    git(path, "init", "--quiet", "--initial-branch=main")
    (path / "task").mkdir()
    (path / "task" / "hello.yaml").write_text(task_yaml("hello", "hello from v1"))
    git(path, "add", "-A")
    git(path, "commit", "--quiet", "-m", "v1")
    git(path, "tag", "-a", "v1", "-m", "release v1")
    v1 = git(path, "rev-parse", "HEAD")
    (path / "task" / "hello.yaml").write_text(task_yaml("hello", "hello from main"))
    (path / "pipeline").mkdir()
    (path / "pipeline" / "build.yaml").write_text(PIPELINE.format(url=path.as_uri()))
    (path / "config.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {}\n")
    git(path, "add", "-A")
    git(path, "commit", "--quiet", "-m", "main")
    head = git(path, "rev-parse", "HEAD")
    git(path, "checkout", "--quiet", "-b", "feature")
    (path / "task" / "hello.yaml").write_text(task_yaml("hello", "hello from feature"))
    git(path, "commit", "--quiet", "-am", "feature")
    feature = git(path, "rev-parse", "HEAD")
    git(path, "checkout", "--quiet", "main")
    return Repo(path, v1, head, feature)


def git_params(repo: Repo, revision: str | None = None, path: str = "task/hello.yaml") -> dict[str, str]:
    params = {"url": repo.url, "pathInRepo": path}
    if revision is not None:
        params["revision"] = revision
    return params


# -- an HTTP server ---------------------------------------------------------------------------------


@dataclass
class Files:
    server: ThreadingHTTPServer
    bodies: dict[str, tuple[bytes, bool]] = field(default_factory=dict)  # path -> (body, needs auth)
    authorizations: list[str | None] = field(default_factory=list)  # Authorization header of each GET

    def serve(self, path: str, body: str, *, auth: bool = False) -> str:
        self.bodies[path] = (body.encode(), auth)
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


class _Handler(BaseHTTPRequestHandler):
    files: Files

    def do_GET(self) -> None:
        header = self.headers.get("Authorization")
        self.files.authorizations.append(header)
        entry = self.files.bodies.get(self.path)
        if entry is None:
            self.send_error(404)
            return
        body, needs_auth = entry
        good = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if needs_auth and header != good:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="tasks"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/yaml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def files() -> Iterator[Files]:
    """A loopback HTTP server on a free port; ``/private/...`` paths served with ``auth=True``
    need basic auth ``USER``/``PASSWORD``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    state = Files(server)
    handler = type("Handler", (_Handler,), {"files": state})
    server.RequestHandlerClass = handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# -- a store ------------------------------------------------------------------------------------------


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path / "store-home")
    try:
        yield c
    finally:
        c.close()


def store(cluster: Cluster, *objs: JSON) -> list[JSON]:
    return [cluster.store.create(cluster.admit(o).obj) for o in objs]


def secret(name: str, namespace: str = "default", key: str = "password", value: str = PASSWORD) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: base64.b64encode(value.encode()).decode()},
    }


# == git ==============================================================================================


@pytest.mark.parametrize(
    ("revision", "commit", "says"),
    [
        (None, "head", "hello from main"),  # no revision: the remote's HEAD
        ("main", "head", "hello from main"),
        ("v1", "v1", "hello from v1"),  # an annotated tag: the commit it points at
        ("@v1", "v1", "hello from v1"),  # the commit SHA (filled in below)
    ],
    ids=["default-HEAD", "branch", "tag", "commit-sha"],
)
def test_git_resolves_the_file_at_a_revision_and_records_where_it_came_from(
    repo: Repo, revision: str | None, commit: str, says: str
) -> None:
    if revision == "@v1":
        revision = repo.v1
    resolved = resolve(ref("git", git_params(repo, revision)), "task", "default", nothing)
    assert resolved.obj["kind"] == "Task" and resolved.obj["metadata"]["name"] == "hello"
    assert script(resolved.obj) == f'echo "{says}"'
    assert resolved.remote
    assert resolved.ref_source == {
        "uri": f"git+{repo.url}",
        "digest": {"sha1": getattr(repo, commit)},
        "entryPoint": "task/hello.yaml",
    }


def test_git_url_may_be_a_local_path_and_resolve_a_pipeline(repo: Repo) -> None:
    params = {"url": str(repo.path), "revision": "main", "pathInRepo": "pipeline/build.yaml"}
    resolved = resolve(ref("git", params), "pipeline", "default", nothing)
    assert resolved.obj["kind"] == "Pipeline"
    assert [t["name"] for t in resolved.obj["spec"]["tasks"]] == ["greet"]
    assert resolved.ref_source == {
        "uri": f"git+{repo.path}",
        "digest": {"sha1": repo.head},
        "entryPoint": "pipeline/build.yaml",
    }


def test_git_resolves_a_branch_that_is_not_the_default_one(repo: Repo) -> None:
    resolved = resolve(ref("git", git_params(repo, "feature")), "task", "default", nothing)
    assert script(resolved.obj) == 'echo "hello from feature"'
    assert resolved.ref_source is not None and resolved.ref_source["digest"] == {"sha1": repo.feature}


@pytest.mark.parametrize(
    ("params", "kind", "expect"),
    [
        (
            {"revision": "main", "pathInRepo": "task/hello.yaml"},
            "task",
            ['git resolver: param "url" is required'],
        ),
        ({"url": "@repo", "revision": "main"}, "task", ['git resolver: param "pathInRepo" is required']),
        (
            {"url": "@repo", "revision": "no-such-rev", "pathInRepo": "task/hello.yaml"},
            "task",
            ["git resolver: file://", "/catalog@no-such-rev:task/hello.yaml: fatal: ", "unknown revision"],
        ),
        (
            {"url": "@repo", "revision": "v1", "pathInRepo": "pipeline/build.yaml"},  # added after v1
            "pipeline",
            ["git resolver: file://", "/catalog@v1:pipeline/build.yaml: fatal: ", "does not exist"],
        ),
        (
            {"url": "@repo", "pathInRepo": "config.yaml"},
            "task",
            ["/catalog/config.yaml: no Task found in the resolved document"],
        ),
        (
            {"url": "@missing", "pathInRepo": "task/hello.yaml"},
            "task",
            ["git resolver: file://", "no-such-repo@HEAD:task/hello.yaml: fatal: "],
        ),
    ],
    ids=["no-url", "no-pathInRepo", "unknown-revision", "missing-file", "not-a-task", "no-repo"],
)
def test_git_errors_are_clear(
    repo: Repo, tmp_path: Path, params: dict[str, str], kind: str, expect: list[str]
) -> None:
    swap = {"@repo": repo.url, "@missing": (tmp_path / "no-such-repo").as_uri()}
    params = {k: swap.get(v, v) for k, v in params.items()}
    with pytest.raises(TektiteError) as info:
        resolve(ref("git", params), kind, "default", nothing)
    message = str(info.value.message)
    for e in expect:
        assert e in message, f"{e!r} not in {message!r}"
    assert "Traceback" not in message


# == http =============================================================================================


def test_http_fetches_the_url_and_records_its_sha256(files: Files) -> None:
    body = task_yaml("fetched", "over http")
    url = files.serve("/tasks/fetched.yaml", body)
    resolved = resolve(ref("http", {"url": url}), "task", "default", nothing)
    assert resolved.obj["metadata"]["name"] == "fetched" and script(resolved.obj) == 'echo "over http"'
    assert resolved.remote
    assert resolved.ref_source == {
        "uri": url,
        "digest": {"sha256": hashlib.sha256(body.encode()).hexdigest()},
    }


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_http_digest_that_matches_is_accepted_and_one_that_does_not_is_refused(
    files: Files, algorithm: str
) -> None:
    body = task_yaml("pinned", "pinned")
    url = files.serve(f"/tasks/pinned-{algorithm}.yaml", body)
    good = hashlib.new(algorithm, body.encode()).hexdigest()
    resolved = resolve(ref("http", {"url": url, "digest": f"{algorithm}:{good}"}), "task", "default", nothing)
    assert resolved.obj["metadata"]["name"] == "pinned"

    bad = hashlib.new(algorithm, b"something else").hexdigest()
    with pytest.raises(TektiteError) as info:
        resolve(ref("http", {"url": url, "digest": f"{algorithm}:{bad}"}), "task", "default", nothing)
    message = str(info.value.message)
    assert "digest mismatch" in message and url in message
    assert bad in message and good in message  # what was expected and what was served


def test_http_digest_with_another_algorithm_is_refused(files: Files) -> None:
    body = task_yaml("md5", "md5")
    url = files.serve("/tasks/md5.yaml", body)
    digest = hashlib.md5(body.encode()).hexdigest()
    with pytest.raises(TektiteError, match='sha256 or sha512, found "md5"'):
        resolve(ref("http", {"url": url, "digest": f"md5:{digest}"}), "task", "default", nothing)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/task.yaml", "file:///etc/passwd", "/task.yaml"])
def test_http_url_must_be_http_or_https(url: str) -> None:
    with pytest.raises(TektiteError, match='param "url" must be an http\\(s\\) URL'):
        resolve(ref("http", {"url": url}), "task", "default", nothing)


def test_http_not_found_is_a_clear_error(files: Files) -> None:
    url = files.serve("/tasks/exists.yaml", task_yaml("exists", "x")).replace("exists", "missing")
    with pytest.raises(TektiteError) as info:
        resolve(ref("http", {"url": url}), "task", "default", nothing)
    message = str(info.value.message)
    assert message.startswith(f"http resolver: cannot fetch {url}") and "404" in message


@pytest.mark.parametrize(
    ("key_param", "key"), [(None, "password"), ("token", "token")], ids=["default-key", "named-key"]
)
def test_http_basic_auth_reads_the_password_from_a_secret_in_the_runs_namespace(
    files: Files, cluster: Cluster, key_param: str | None, key: str
) -> None:
    url = files.serve(f"/private/{key}.yaml", task_yaml("private", "private"), auth=True)
    store(cluster, secret("creds", "team", key=key))
    params = {"url": url, "http-username": USER, "http-password-secret": "creds"}
    if key_param:
        params["http-password-secret-key"] = key_param
    before = len(files.authorizations)
    get: Getter = cluster.getter()
    resolved = resolve(ref("http", params), "task", "team", get, secret_getter=get)
    assert resolved.obj["metadata"]["name"] == "private"
    assert files.authorizations[before:] == [
        "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    ]

    # the same reference from a run in another namespace does not see that Secret
    with pytest.raises(TektiteError) as info:
        resolve(ref("http", params), "task", "default", get, secret_getter=get)
    assert f'secret "creds" with key "{key}" not found' in str(info.value.message)


def test_http_without_or_with_a_wrong_password_is_refused_without_showing_it(
    files: Files, cluster: Cluster
) -> None:
    url = files.serve("/private/guarded.yaml", task_yaml("guarded", "x"), auth=True)
    with pytest.raises(TektiteError, match="401"):
        resolve(ref("http", {"url": url}), "task", "default", nothing)

    wrong = "wrong-Pa55-not-to-be-shown"
    store(cluster, secret("wrong", value=wrong))
    get: Getter = cluster.getter()
    params = {"url": url, "http-username": USER, "http-password-secret": "wrong"}
    with pytest.raises(TektiteError) as info:
        resolve(ref("http", params), "task", "default", get, secret_getter=get)
    message = str(info.value.message)
    assert "401" in message and url in message
    assert wrong not in message and base64.b64encode(wrong.encode()).decode() not in message


def test_http_basic_auth_password_may_come_from_string_data(files: Files, cluster: Cluster) -> None:
    url = files.serve("/private/stringdata.yaml", task_yaml("sd", "x"), auth=True)
    store(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "sd"},
            "stringData": {"password": PASSWORD},
        },
    )
    get: Getter = cluster.getter()
    params = {"url": url, "http-username": USER, "http-password-secret": "sd"}
    resolved = resolve(ref("http", params), "task", "default", get, secret_getter=get)
    assert resolved.obj["metadata"]["name"] == "sd"


# == cluster ==========================================================================================


def catalog_task(
    name: str = "shared-task", namespace: str = "catalog", says: str = "from the catalog"
) -> JSON:
    import yaml

    obj: JSON = yaml.safe_load(task_yaml(name, says))
    obj["metadata"]["namespace"] = namespace
    return obj


def test_cluster_resolves_kind_name_namespace_and_records_uri_and_digest(cluster: Cluster) -> None:
    [task] = store(cluster, catalog_task())
    params = {"kind": "task", "name": "shared-task", "namespace": "catalog"}
    resolved = resolve(ref("cluster", params), "task", "default", cluster.getter())
    assert resolved.obj["metadata"]["uid"] == task["metadata"]["uid"]
    assert script(resolved.obj) == 'echo "from the catalog"'
    assert resolved.remote and resolved.ref_source is not None
    # Tekton's form (the kind as the param names it), and a digest anyone holding the spec recomputes
    assert (
        resolved.ref_source["uri"]
        == f"/apis/tekton.dev/v1/namespaces/catalog/task/shared-task@{task['metadata']['uid']}"
    )
    canonical = json.dumps(resolved.obj["spec"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert resolved.ref_source["digest"] == {"sha256": hashlib.sha256(canonical.encode()).hexdigest()}
    assert "entryPoint" not in resolved.ref_source


def test_cluster_digest_follows_the_spec_not_the_metadata(cluster: Cluster) -> None:
    store(cluster, catalog_task())
    get: Getter = cluster.getter()
    params = {"kind": "task", "name": "shared-task", "namespace": "catalog"}

    def digest() -> str:
        source = resolve(ref("cluster", params), "task", "default", get).ref_source
        assert source is not None
        return str(source["digest"]["sha256"])

    first = digest()
    assert len(first) == 64
    obj = cluster.store.get("Task", "shared-task", "catalog")
    obj["metadata"]["labels"] = {"team": "platform"}
    cluster.store.update(obj)
    assert digest() == first  # a label is not the Task's content
    obj = cluster.store.get("Task", "shared-task", "catalog")
    obj["spec"]["steps"][0]["script"] = "echo changed"
    cluster.store.update(obj)
    assert digest() != first


def test_cluster_defaults_to_the_runs_namespace_and_the_references_kind(cluster: Cluster) -> None:
    store(cluster, catalog_task(namespace="team"), catalog_task(namespace="catalog", says="wrong one"))
    resolved = resolve(ref("cluster", {"name": "shared-task"}), "task", "team", cluster.getter())
    assert script(resolved.obj) == 'echo "from the catalog"'
    assert resolved.obj["metadata"]["namespace"] == "team"


def test_cluster_resolves_pipelines_and_step_actions(cluster: Cluster) -> None:
    store(
        cluster,
        {
            "apiVersion": "tekton.dev/v1",
            "kind": "Pipeline",
            "metadata": {"name": "p", "namespace": "catalog"},
            "spec": {"tasks": [{"name": "t", "taskRef": {"name": "shared-task"}}]},
        },
        {
            "apiVersion": "tekton.dev/v1beta1",
            "kind": "StepAction",
            "metadata": {"name": "sa", "namespace": "catalog"},
            "spec": {"image": "bash", "script": "echo step action"},
        },
    )
    get: Getter = cluster.getter()
    p = resolve(
        ref("cluster", {"kind": "pipeline", "name": "p", "namespace": "catalog"}), "pipeline", "x", get
    )
    assert p.obj["kind"] == "Pipeline" and p.obj["spec"]["tasks"][0]["name"] == "t"
    sa = resolve(
        ref("cluster", {"kind": "stepaction", "name": "sa", "namespace": "catalog"}), "stepaction", "x", get
    )
    assert sa.obj["kind"] == "StepAction" and sa.obj["spec"]["script"] == "echo step action"


def test_cluster_errors_are_clear(cluster: Cluster) -> None:
    store(cluster, catalog_task())
    get: Getter = cluster.getter()
    with pytest.raises(NotFound) as info:
        resolve(ref("cluster", {"name": "shared-task", "namespace": "elsewhere"}), "task", "default", get)
    assert (
        str(info.value.message) == 'cluster resolver: task "shared-task" not found in namespace "elsewhere"'
    )
    with pytest.raises(TektiteError, match='param "name" is required'):
        resolve(ref("cluster", {"kind": "task", "namespace": "catalog"}), "task", "default", get)


def test_cluster_refuses_an_unknown_kind(cluster: Cluster) -> None:
    store(cluster, catalog_task())
    with pytest.raises(TektiteError, match="pipelin"):
        resolve(
            ref("cluster", {"kind": "pipelin", "name": "shared-task", "namespace": "catalog"}),
            "task",
            "default",
            cluster.getter(),
        )


# == end to end: tektite run ==========================================================================


@pytest.fixture(autouse=True)
def _close_cli_cluster() -> Iterator[None]:
    """``main()`` keeps the last command's home open in ``STATE``; close it after each test."""
    yield
    STATE.forget_cluster()


@dataclass
class Ran:
    rc: int
    out: str
    err: str


def tektite_run(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> Ran:
    f = tmp_path / "runs.yaml"
    f.write_text(text)
    capsys.readouterr()
    rc = main(["--home", str(home), "run", "-f", str(f), "--executor", "process"])
    captured = capsys.readouterr()
    return Ran(rc, captured.out, captured.err)


def get_json(
    home: Path, capsys: pytest.CaptureFixture[str], kind: str, name: str, ns: str = "default"
) -> JSON:
    capsys.readouterr()
    assert main(["--home", str(home), "-n", ns, "get", kind, name, "-o", "json"]) == 0
    obj: JSON = json.loads(capsys.readouterr().out)
    return obj


def condition(run: JSON) -> JSON:
    [cond] = [c for c in run["status"]["conditions"] if c["type"] == "Succeeded"]
    return dict(cond)


def taskrun(name: str, resolver: str, params: dict[str, str]) -> str:
    lines = "".join(f'\n      - {{name: {k}, value: "{v}"}}' for k, v in params.items())
    return f"""---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: {name}
spec:
  taskRef:
    resolver: {resolver}
    params:{lines}
"""


def test_e2e_git_task_runs_with_its_ref_source_and_failures_fail_the_run(
    repo: Repo, tektite_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = tektite_run(
        tektite_home,
        tmp_path,
        capsys,
        taskrun("from-git", "git", git_params(repo, "v1"))
        + taskrun("bad-revision", "git", git_params(repo, "no-such-rev"))
        + taskrun("no-path", "git", {"url": repo.url, "revision": "main"})
        + taskrun("cluster-missing", "cluster", {"kind": "task", "name": "nothing-here"}),
    )
    assert ran.rc == 1  # three of the four runs fail
    assert "hello from v1" in ran.out  # the step of the Task at v1 ran
    assert "Traceback" not in ran.out + ran.err

    ok = get_json(tektite_home, capsys, "taskrun", "from-git")
    assert condition(ok)["status"] == "True", condition(ok)
    assert ok["status"]["provenance"]["refSource"] == {
        "uri": f"git+{repo.url}",
        "digest": {"sha1": repo.v1},
        "entryPoint": "task/hello.yaml",
    }
    assert ok["status"]["taskSpec"]["steps"][0]["script"].strip() == 'echo "hello from v1"'
    assert ok["metadata"]["labels"]["app"] == "hello"  # the Task's labels reach the run

    for name, expect in [
        ("bad-revision", "@no-such-rev:task/hello.yaml"),
        ("no-path", 'param "pathInRepo" is required'),
    ]:
        cond = condition(get_json(tektite_home, capsys, "taskrun", name))
        assert cond["status"] == "False" and cond["reason"] == "TaskRunResolutionFailed", cond
        assert cond["message"].startswith("git resolver: ") and expect in cond["message"]
        assert expect in ran.err  # the summary shows why
    cond = condition(get_json(tektite_home, capsys, "taskrun", "cluster-missing"))
    assert cond["reason"] == "TaskRunResolutionFailed" and "nothing-here" in cond["message"], cond


PIPELINERUN = """---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: {name}
spec:
  pipelineRef:
    resolver: git
    params:
      - {{name: url, value: "{url}"}}
      - {{name: revision, value: {revision}}}
      - {{name: pathInRepo, value: pipeline/build.yaml}}
"""


def test_e2e_git_pipeline_ref_runs_the_pipeline_and_its_git_tasks(
    repo: Repo, tektite_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = PIPELINERUN.format(name="from-git", url=repo.url, revision="main") + PIPELINERUN.format(
        name="before-the-pipeline",
        url=repo.url,
        revision="v1",  # pipeline/build.yaml came after v1
    )
    ran = tektite_run(tektite_home, tmp_path, capsys, text)
    assert ran.rc == 1  # the second run fails
    assert "hello from v1" in ran.out  # the Pipeline's git Task ran, at the revision it names
    assert "Traceback" not in ran.out + ran.err

    pr = get_json(tektite_home, capsys, "pipelinerun", "from-git")
    assert condition(pr)["status"] == "True", condition(pr)
    assert [t["name"] for t in pr["status"]["pipelineSpec"]["tasks"]] == ["greet"]
    assert pr["status"]["provenance"]["refSource"] == {
        "uri": f"git+{repo.url}",
        "digest": {"sha1": repo.head},
        "entryPoint": "pipeline/build.yaml",
    }
    [child] = [c["name"] for c in pr["status"]["childReferences"]]
    tr = get_json(tektite_home, capsys, "taskrun", child)
    assert condition(tr)["status"] == "True", condition(tr)
    assert tr["status"]["provenance"]["refSource"] == {
        "uri": f"git+{repo.url}",
        "digest": {"sha1": repo.v1},
        "entryPoint": "task/hello.yaml",
    }

    cond = condition(get_json(tektite_home, capsys, "pipelinerun", "before-the-pipeline"))
    assert cond["status"] == "False" and cond["reason"] == "CouldntGetPipeline", cond
    assert "git resolver: " in cond["message"] and "@v1:pipeline/build.yaml" in cond["message"]


def test_e2e_http_task_with_basic_auth_runs_and_the_password_shows_nowhere(
    files: Files, tektite_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = task_yaml("private-e2e", "fetched with basic auth")
    url = files.serve("/private/e2e.yaml", body, auth=True)
    pinned = files.serve("/tasks/e2e-pinned.yaml", task_yaml("pinned-e2e", "pinned"))
    wrong_digest = hashlib.sha256(b"not the body").hexdigest()
    secrets = "\n---\n".join(
        json.dumps(s)
        for s in (secret("creds", key="token"), secret("wrong", key="token", value="wrong-Pa55-e2e"))
    )
    auth = {
        "url": url,
        "http-username": USER,
        "http-password-secret": "creds",
        "http-password-secret-key": "token",
    }
    ran = tektite_run(
        tektite_home,
        tmp_path,
        capsys,
        secrets
        + "\n"
        + taskrun("with-auth", "http", auth)
        + taskrun("wrong-password", "http", {**auth, "http-password-secret": "wrong"})
        + taskrun("bad-digest", "http", {"url": pinned, "digest": f"sha256:{wrong_digest}"})
        + taskrun("not-found", "http", {"url": url.replace("e2e.yaml", "nothing.yaml")}),
    )
    assert ran.rc == 1
    assert "fetched with basic auth" in ran.out
    assert "Traceback" not in ran.out + ran.err

    ok = get_json(tektite_home, capsys, "taskrun", "with-auth")
    assert condition(ok)["status"] == "True", condition(ok)
    assert ok["status"]["provenance"]["refSource"] == {
        "uri": url,
        "digest": {"sha256": hashlib.sha256(body.encode()).hexdigest()},
    }
    failed = {
        name: condition(get_json(tektite_home, capsys, "taskrun", name))
        for name in ("wrong-password", "bad-digest", "not-found")
    }
    for name, cond in failed.items():
        assert cond["status"] == "False" and cond["reason"] == "TaskRunResolutionFailed", (name, cond)
    assert "401" in failed["wrong-password"]["message"]
    assert wrong_digest in failed["bad-digest"]["message"]
    assert (
        hashlib.sha256(task_yaml("pinned-e2e", "pinned").encode()).hexdigest()
        in failed["bad-digest"]["message"]
    )
    assert "404" in failed["not-found"]["message"]

    # the passwords are in no run, no output and no log file
    runs = [get_json(tektite_home, capsys, "taskrun", n) for n in ("with-auth", *failed)]
    seen = json.dumps(runs) + ran.out + ran.err
    seen += "".join(p.read_text(errors="replace") for p in (tektite_home / "runs").rglob("*") if p.is_file())
    for password in (PASSWORD, "wrong-Pa55-e2e"):
        assert password not in seen


def test_e2e_cluster_task_from_another_namespace_runs_and_a_missing_one_fails(
    tektite_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        json.dumps(catalog_task())
        + "\n"
        + taskrun("from-catalog", "cluster", {"kind": "task", "name": "shared-task", "namespace": "catalog"})
        + taskrun("missing", "cluster", {"kind": "task", "name": "no-such-task", "namespace": "catalog"})
    )
    ran = tektite_run(tektite_home, tmp_path, capsys, text)
    assert ran.rc == 1
    assert "from the catalog" in ran.out
    assert "Traceback" not in ran.out + ran.err

    ok = get_json(tektite_home, capsys, "taskrun", "from-catalog")
    assert condition(ok)["status"] == "True", condition(ok)
    task = get_json(tektite_home, capsys, "task", "shared-task", ns="catalog")
    source = ok["status"]["provenance"]["refSource"]
    assert source["uri"].endswith(f"/shared-task@{task['metadata']['uid']}")
    assert set(source["digest"]) == {"sha256"}

    cond = condition(get_json(tektite_home, capsys, "taskrun", "missing"))
    assert cond["status"] == "False", cond
    assert cond["message"].endswith('cluster resolver: task "no-such-task" not found in namespace "catalog"')


# -- the resolver cache -----------------------------------------------------------------------------


def fan_out(name: str, repo: Repo, revision: str) -> str:
    tasks = "".join(
        f"""
    - name: t{i}
      taskRef:
        resolver: git
        params:
        - {{name: url, value: "{repo.url}"}}
        - {{name: revision, value: "{revision}"}}
        - {{name: pathInRepo, value: task/hello.yaml}}"""
        for i in range(3)
    )
    return f"""apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: {name}
spec:
  pipelineSpec:
    tasks:{tasks}
"""


def test_a_pipelines_tasks_from_one_commit_are_fetched_once(
    repo: Repo,
    tektite_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three tasks resolved at once from the same commit: one ``git clone`` (the resolver cache,
    auto mode: a commit cannot change). From a branch, which can: one clone each."""
    shim = tmp_path / "bin"
    shim.mkdir()
    clones = tmp_path / "clones.log"
    real = shutil.which("git")
    (shim / "git").write_text(f'#!/bin/sh\n[ "$1" = clone ] && echo "$@" >> {clones}\nexec {real} "$@"\n')
    (shim / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")

    ran = tektite_run(tektite_home, tmp_path, capsys, fan_out("pinned", repo, repo.v1))
    assert ran.rc == 0, ran.err
    assert len(clones.read_text().splitlines()) == 1
    clones.unlink()
    ran = tektite_run(tektite_home, tmp_path, capsys, fan_out("moving", repo, "main"))
    assert ran.rc == 0, ran.err
    assert len(clones.read_text().splitlines()) == 3
