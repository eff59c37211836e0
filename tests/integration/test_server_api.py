"""``tektite serve`` as a real process on 127.0.0.1 (TLS), driven over HTTP like a Kubernetes client.

The ``served`` fixture is shared with test_kubectl.py and test_metrics.py (they import it).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

TEKTON = "/apis/tekton.dev/v1/namespaces/default"
CORE = "/api/v1/namespaces/default"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    home: Path
    ca: Path
    admin: str
    edit: str
    view: str
    proc: subprocess.Popen[bytes]

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, verify=trust(self.ca), headers=headers, timeout=30)

    def tektite(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tektite.cli.main", "--home", str(self.home), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )


def trust(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def start_server(home: Path) -> Served:
    port = free_port()
    with open(home.parent / "serve.log", "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tektite.cli.main",
                "--home",
                str(home),
                "serve",
                "--listen",
                f"127.0.0.1:{port}",
                "--tls",
                "--executor",
                "process",
                "--prune-interval",
                "0.5",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TEKTITE_HOME": str(home)},
        )
    try:
        return _wait_ready(home, port, proc)
    except BaseException:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def _wait_ready(home: Path, port: int, proc: subprocess.Popen[bytes]) -> Served:
    url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    ca = home / "tls" / "ca.crt"
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"tektite serve exited: {(home.parent / 'serve.log').read_text()}")
        try:
            if ca.exists() and httpx.get(url + "/healthz", verify=trust(ca), timeout=2).status_code == 200:
                break
        except (httpx.HTTPError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("tektite serve did not become ready in 60s")
        time.sleep(0.1)
    admin = (home / "admin-token").read_text().strip()
    tokens = {}
    for role in ("edit", "view"):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "tektite.cli.main",
                "--home",
                str(home),
                "token",
                "create",
                "--role",
                role,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        tokens[role] = out.stdout.strip()
    return Served(url, home, ca, admin, tokens["edit"], tokens["view"], proc)


def stop_server(served: Served) -> None:
    os.kill(served.proc.pid, signal.SIGTERM)
    try:
        served.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.kill(served.proc.pid, signal.SIGKILL)
        served.proc.wait()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("serve") / "home"
    home.mkdir()
    s = start_server(home)
    try:
        yield s
    finally:
        stop_server(s)


def wait_done(client: httpx.Client, path: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        obj = client.get(path).json()
        conds = (obj.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Succeeded" and c.get("status") in ("True", "False") for c in conds):
            return dict(obj)
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not finish: {json.dumps(obj.get('status'))}")
        time.sleep(0.2)


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels or {}},
        "data": data,
    }


def taskrun_of(task_name: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {"name": name},
        "spec": {"taskRef": {"name": task_name}},
    }


def task(name: str, script: str = "echo hi") -> dict[str, Any]:
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "Task",
        "metadata": {"name": name},
        "spec": {"steps": [{"name": "main", "image": "busybox", "script": script}]},
    }


# -- authentication and authorization ------------------------------------------------------------
def test_no_token_or_a_wrong_one_is_401_and_reveals_nothing(served: Served) -> None:
    with served.client(served.admin) as admin:
        assert admin.post(f"{TEKTON}/tasks", json=task("exists")).status_code == 201
    for token in (None, "tkt_not-a-real-token"):
        with served.client(token) as anon:
            there = anon.get(f"{TEKTON}/tasks/exists")
            absent = anon.get(f"{TEKTON}/tasks/absent")
            assert there.status_code == absent.status_code == 401
            assert there.json() == absent.json()
            assert there.json()["reason"] == "Unauthorized"
            assert anon.get("/apis").status_code == 401


def test_forbidden_is_403_whether_or_not_the_object_exists(served: Served) -> None:
    with served.client(served.admin) as admin:
        admin.post(f"{TEKTON}/tasks", json=task("guarded"))
    with served.client(served.view) as viewer:
        there = viewer.delete(f"{TEKTON}/tasks/guarded")
        absent = viewer.delete(f"{TEKTON}/tasks/never-was")
        assert there.status_code == absent.status_code == 403
        assert there.json()["reason"] == absent.json()["reason"] == "Forbidden"
        assert "guarded" not in absent.json()["message"]
    with served.client(served.edit) as editor:
        assert editor.put(f"{TEKTON}/tasks/guarded", json=task("guarded")).status_code == 403
        assert editor.put(f"{TEKTON}/tasks/nothing", json=task("nothing")).status_code == 403
    with served.client(served.admin) as admin:
        assert admin.get(f"{TEKTON}/tasks/guarded").status_code == 200


def test_edit_starts_and_cancels_runs_but_does_not_change_definitions(served: Served) -> None:
    with served.client(served.admin) as admin:
        admin.post(f"{TEKTON}/tasks", json=task("slow", "sleep 30"))
    with served.client(served.edit) as editor:
        assert editor.post(f"{TEKTON}/tasks", json=task("mine")).status_code == 403
        run = {
            "apiVersion": "tekton.dev/v1",
            "kind": "TaskRun",
            "metadata": {"generateName": "slow-"},
            "spec": {"taskRef": {"name": "slow"}},
        }
        created = editor.post(f"{TEKTON}/taskruns", json=run)
        assert created.status_code == 201, created.text
        name = created.json()["metadata"]["name"]
        assert name.startswith("slow-")
        cancel = editor.patch(
            f"{TEKTON}/taskruns/{name}",
            json={"spec": {"status": "TaskRunCancelled"}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert cancel.status_code == 200, cancel.text
        final = wait_done(editor, f"{TEKTON}/taskruns/{name}")
        assert final["status"]["conditions"][0]["reason"] == "TaskRunCancelled"


def test_secret_data_is_only_returned_to_admin(served: Served) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "labels": {"app": "s"}},
        "stringData": {"token": "hunter2"},
        "data": {"password": "c2VjcmV0"},
    }
    with served.client(served.admin) as admin:
        assert admin.post(f"{CORE}/secrets", json=secret).status_code == 201
        assert admin.get(f"{CORE}/secrets/creds").json()["data"]["password"] == "c2VjcmV0"
    for token in (served.view, served.edit):
        with served.client(token) as reader:
            one = reader.get(f"{CORE}/secrets/creds")
            assert one.status_code == 200
            listed = reader.get(f"{CORE}/secrets", params={"labelSelector": "app=s"}).json()["items"]
            watched = reader.get(
                f"{CORE}/secrets", params={"watch": "true", "labelSelector": "app=s", "timeoutSeconds": "1"}
            ).text
            for text in (one.text, json.dumps(listed), watched):
                assert "c2VjcmV0" not in text and "hunter2" not in text
            assert listed[0]["metadata"]["name"] == "creds"


# -- Kubernetes errors ------------------------------------------------------------------------------
def test_invalid_object_is_422_with_field_causes(served: Served) -> None:
    bad = task("bad")
    bad["spec"]["stepz"] = bad["spec"].pop("steps")
    with served.client(served.admin) as admin:
        resp = admin.post(f"{TEKTON}/tasks", json=bad)
    assert resp.status_code == 422
    body = resp.json()
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "Invalid", 422)
    fields = [c["field"] for c in body["details"]["causes"]]
    assert "spec.stepz" in fields
    assert any("steps" in c["message"] for c in body["details"]["causes"])


def test_already_exists_and_stale_resource_version_are_409(served: Served) -> None:
    with served.client(served.admin) as admin:
        first = admin.post(f"{CORE}/configmaps", json=configmap("dup", a="1"))
        assert first.status_code == 201
        again = admin.post(f"{CORE}/configmaps", json=configmap("dup", a="1"))
        assert (again.status_code, again.json()["reason"]) == (409, "AlreadyExists")
        obj = first.json()
        obj["data"] = {"a": "2"}
        assert admin.put(f"{CORE}/configmaps/dup", json=obj).status_code == 200
        obj["data"] = {"a": "3"}  # still carries the first resourceVersion
        stale = admin.put(f"{CORE}/configmaps/dup", json=obj)
        assert (stale.status_code, stale.json()["reason"]) == (409, "Conflict")
        assert admin.get(f"{CORE}/configmaps/dup").json()["data"] == {"a": "2"}


def test_unknown_paths_and_missing_objects_are_404(served: Served) -> None:
    with served.client(served.admin) as admin:
        assert admin.get("/apis/tekton.dev/v1/namespaces/default/widgets").status_code == 404
        assert admin.get("/apis/nothing.example/v1").status_code == 404
        missing = admin.get(f"{TEKTON}/pipelines/nope")
        assert missing.status_code == 404
        assert missing.json()["reason"] == "NotFound"
        assert missing.json()["details"]["name"] == "nope"


# -- patch, status, lists, watch ---------------------------------------------------------------------
def test_merge_patch_json_patch_and_strategic_merge(served: Served) -> None:
    with served.client(served.admin) as admin:
        admin.post(f"{CORE}/configmaps", json=configmap("patched", a="1", b="2"))
        merge = admin.patch(
            f"{CORE}/configmaps/patched",
            json={"data": {"a": None, "c": "3"}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert merge.json()["data"] == {"b": "2", "c": "3"}
        ops = [
            {"op": "replace", "path": "/data/b", "value": "20"},
            {"op": "add", "path": "/data/d", "value": "4"},
        ]
        jp = admin.patch(
            f"{CORE}/configmaps/patched", json=ops, headers={"Content-Type": "application/json-patch+json"}
        )
        assert jp.json()["data"] == {"b": "20", "c": "3", "d": "4"}
        failing = admin.patch(
            f"{CORE}/configmaps/patched",
            json=[{"op": "test", "path": "/data/b", "value": "nope"}],
            headers={"Content-Type": "application/json-patch+json"},
        )
        assert failing.status_code == 422
        sa = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "builder"},
            "secrets": [{"name": "one"}, {"name": "two"}],
        }
        admin.post(f"{CORE}/serviceaccounts", json=sa)
        smp = admin.patch(
            f"{CORE}/serviceaccounts/builder",
            json={"secrets": [{"name": "three"}, {"name": "one", "$patch": "delete"}]},
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        )
        assert smp.status_code == 200, smp.text
        assert [s["name"] for s in smp.json()["secrets"]] == ["two", "three"]


def test_status_is_its_own_subresource(served: Served) -> None:
    with served.client(served.admin) as admin:
        admin.post(f"{TEKTON}/tasks", json=task("stat"))
        run = {
            "apiVersion": "tekton.dev/v1",
            "kind": "TaskRun",
            "metadata": {"name": "stat-run"},
            "spec": {"taskRef": {"name": "stat"}, "status": "TaskRunPending"},
        }
        admin.post(f"{TEKTON}/taskruns", json=run)
        current = admin.get(f"{TEKTON}/taskruns/stat-run").json()
        forged = {**current, "status": {"podName": "forged"}}
        forged["metadata"] = {**current["metadata"], "labels": {"touched": "yes"}}
        forged["metadata"].pop("resourceVersion")
        after = admin.put(f"{TEKTON}/taskruns/stat-run", json=forged).json()
        assert after["metadata"]["labels"]["touched"] == "yes"
        assert (after.get("status") or {}).get("podName") != "forged"
        sub = admin.patch(
            f"{TEKTON}/taskruns/stat-run/status",
            json={"status": {"podName": "via-status"}, "metadata": {"labels": {"other": "x"}}},
            headers={"Content-Type": "application/merge-patch+json"},
        ).json()
        assert sub["status"]["podName"] == "via-status"
        assert "other" not in sub["metadata"]["labels"]


def test_pagination_with_limit_and_continue(served: Served) -> None:
    names = {f"page-{i:02d}" for i in range(23)}
    with served.client(served.admin) as admin:
        for n in sorted(names):
            assert admin.post(f"{CORE}/configmaps", json=configmap(n, {"set": "paged"})).status_code == 201
        admin.post(f"{CORE}/configmaps", json=configmap("not-paged", {"set": "other"}))
        seen: list[str] = []
        token = None
        pages = 0
        while True:
            params = {"labelSelector": "set=paged", "limit": "10"}
            if token:
                params["continue"] = token
            page = admin.get(f"{CORE}/configmaps", params=params).json()
            pages += 1
            seen += [o["metadata"]["name"] for o in page["items"]]
            assert len(page["items"]) <= 10
            token = page["metadata"].get("continue")
            if not token:
                break
            assert page["metadata"]["remainingItemCount"] == len(names) - len(seen)
    assert pages == 3
    assert sorted(seen) == sorted(names)


def _watch_lines(client: httpx.Client, path: str, **params: str) -> list[dict[str, Any]]:
    text = client.get(path, params={"watch": "true", "timeoutSeconds": "2", **params}).text
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_watch_resumes_from_a_resource_version(served: Served) -> None:
    with served.client(served.admin) as admin:
        start = admin.get(f"{CORE}/configmaps", params={"labelSelector": "w=1"}).json()["metadata"]
        admin.post(f"{CORE}/configmaps", json=configmap("watched", {"w": "1"}, v="1"))
        middle = admin.patch(
            f"{CORE}/configmaps/watched",
            json={"data": {"v": "2"}},
            headers={"Content-Type": "application/merge-patch+json"},
        ).json()
        admin.delete(f"{CORE}/configmaps/watched")
        all_events = _watch_lines(
            admin, f"{CORE}/configmaps", labelSelector="w=1", resourceVersion=start["resourceVersion"]
        )
        assert [(e["type"], e["object"]["data"]["v"]) for e in all_events] == [
            ("ADDED", "1"),
            ("MODIFIED", "2"),
            ("DELETED", "2"),
        ]
        later = _watch_lines(
            admin,
            f"{CORE}/configmaps",
            labelSelector="w=1",
            resourceVersion=middle["metadata"]["resourceVersion"],
        )
        assert [e["type"] for e in later] == ["DELETED"]


def test_watch_without_version_starts_with_current_objects_then_streams(served: Served) -> None:
    with served.client(served.admin) as admin:
        admin.post(f"{CORE}/configmaps", json=configmap("live-a", {"live": "1"}))
        with admin.stream(
            "GET",
            f"{CORE}/configmaps",
            params={"watch": "true", "labelSelector": "live=1", "timeoutSeconds": "5"},
        ) as resp:
            lines = resp.iter_lines()
            first = json.loads(next(lines))
            assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "live-a")
            with served.client(served.admin) as other:
                other.post(f"{CORE}/configmaps", json=configmap("live-b", {"live": "1"}))
            second = json.loads(next(lines))
            assert (second["type"], second["object"]["metadata"]["name"]) == ("ADDED", "live-b")


def test_table_output_has_tekton_columns(served: Served) -> None:
    with served.client(served.admin) as admin:
        admin.post(f"{TEKTON}/tasks", json=task("tabled", "echo tabled"))
        run = taskrun_of("tabled", "tabled-run")
        admin.post(f"{TEKTON}/taskruns", json=run)
        wait_done(admin, f"{TEKTON}/taskruns/tabled-run")
        doc = admin.get(
            f"{TEKTON}/taskruns",
            headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"},
        ).json()
    assert doc["kind"] == "Table"
    assert [c["name"] for c in doc["columnDefinitions"]] == [
        "Name",
        "Succeeded",
        "Reason",
        "StartTime",
        "CompletionTime",
    ]
    row = next(r for r in doc["rows"] if r["cells"][0] == "tabled-run")
    assert row["cells"][1:3] == ["True", "Succeeded"]
    assert row["object"]["metadata"]["name"] == "tabled-run"


def test_taskrun_log_endpoint(served: Served) -> None:
    with served.client(served.admin) as admin:
        admin.post(f"{TEKTON}/tasks", json=task("talk", "echo first line; echo second line"))
        run = taskrun_of("talk", "talk-run")
        admin.post(f"{TEKTON}/taskruns", json=run)
        followed = admin.get(
            f"{TEKTON}/taskruns/talk-run/log", params={"container": "step-main", "follow": "true"}
        )
        assert followed.status_code == 200
        assert followed.text.splitlines() == ["first line", "second line"]
    with served.client(served.view) as viewer:
        prefixed = viewer.get(f"{TEKTON}/taskruns/talk-run/log", params={"all": "true"}).text
        assert "[main] second line" in prefixed.splitlines()


# -- the CLI and RemoteStore as clients -------------------------------------------------------------
def test_cli_with_server_talks_to_the_api(served: Served, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TEKTITE_SERVER": served.url,
        "TEKTITE_TOKEN": served.edit,
        "TEKTITE_CA_FILE": str(served.ca),
        "TEKTITE_HOME": str(tmp_path / "client-home"),
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tektite.cli.main", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    with served.client(served.admin) as admin:
        admin.post(f"{TEKTON}/tasks", json=task("remote", "echo remote"))
    listed = cli("get", "tasks")
    assert listed.returncode == 0, listed.stderr
    assert "remote" in listed.stdout.split()
    started = cli("task", "start", "remote")
    assert started.returncode == 0, started.stderr
    assert "✓ taskrun remote-" in started.stderr  # the run's outcome as it comes, as locally
    runs = cli("taskrun", "list")
    assert "Succeeded" in runs.stdout
    again = cli("taskrun", "rerun", "--last", "-o", "name")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("taskrun.tekton.dev/remote-")
    refused = cli("apply", "-f", str(_write(tmp_path / "t.yaml", task("by-editor"))))
    assert refused.returncode == 1
    assert "forbidden" in refused.stderr.lower()
    assert not (tmp_path / "client-home" / "tektite.db").exists()  # nothing stored locally
    env["TEKTITE_TOKEN"] = "tkt_wrong"
    denied = cli("get", "tasks")
    assert denied.returncode == 1 and "401" in denied.stderr and "Traceback" not in denied.stderr


def test_an_approval_gate_is_decided_through_the_api(served: Served, tmp_path: Path) -> None:
    """``tektite customrun approve`` against ``tektite serve``: a view token may not decide, an
    edit token may, and the server's engine then marks the gate approved."""
    gate = {
        "apiVersion": "tekton.dev/v1beta1",
        "kind": "CustomRun",
        "metadata": {"name": "remote-gate", "namespace": "default"},
        "spec": {
            "customRef": {"apiVersion": "tektite.dev/v1alpha1", "kind": "Approval"},
            "params": [{"name": "approvers", "value": ["alice"]}],
        },
    }
    base = "/apis/tekton.dev/v1beta1/namespaces/default/customruns"
    with served.client(served.edit) as editor:
        assert editor.post(base, json=gate).status_code == 201

    def cli(token: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "TEKTITE_SERVER": served.url, "TEKTITE_TOKEN": token,
               "TEKTITE_CA_FILE": str(served.ca), "TEKTITE_HOME": str(tmp_path / "client")}  # fmt: skip
        return subprocess.run([sys.executable, "-m", "tektite.cli.main", *args],
                              capture_output=True, text=True, env=env, timeout=120)  # fmt: skip

    refused = cli(served.view, "customrun", "approve", "remote-gate", "--as", "alice")
    assert refused.returncode == 1 and "forbidden" in refused.stderr.lower()
    done = cli(served.edit, "customrun", "approve", "remote-gate", "--as", "alice", "-m", "ship it")
    assert done.returncode == 0, done.stderr
    with served.client(served.view) as viewer:
        for _ in range(200):
            got = viewer.get(f"{base}/remote-gate").json()
            conds = (got.get("status") or {}).get("conditions") or []
            if conds and conds[0]["status"] != "Unknown":
                break
            time.sleep(0.05)
    assert (conds[0]["status"], conds[0]["reason"]) == ("True", "Approved")
    assert got["status"]["results"] == [{"name": "approvedBy", "value": "alice"}]


def _write(path: Path, obj: dict[str, Any]) -> Path:
    path.write_text(json.dumps(obj))
    return path


def test_remote_store_follows_the_store_protocol(served: Served) -> None:
    from tektite.errors import AlreadyExists, Conflict, NotFound
    from tektite.server.client import RemoteStore
    from tektite.store.base import MetadataPatch

    store = RemoteStore(served.url, served.admin, ca_file=served.ca)
    try:
        created = store.create(configmap("remote-cm", {"via": "client"}, a="1"))
        assert created["metadata"]["uid"]
        with pytest.raises(AlreadyExists):
            store.create(configmap("remote-cm", a="1"))
        assert store.get("ConfigMap", "remote-cm")["data"] == {"a": "1"}
        assert store.try_get("ConfigMap", "no-such") is None
        stale = dict(created, data={"a": "stale"})
        store.update(dict(created, data={"a": "2"}))
        with pytest.raises(Conflict):
            store.update(stale)
        page = store.list("ConfigMap", "default", label_selector="via=client")
        assert [o["metadata"]["name"] for o in page.items] == ["remote-cm"]
        assert "remote-cm" in [o["metadata"]["name"] for o in store.scan("ConfigMap", page=1)]
        events = store.events_since(int(created["metadata"]["resourceVersion"]) - 1, ("ConfigMap",))
        assert [e.type for e in events if e.name == "remote-cm"] == ["ADDED", "MODIFIED"]
        current = store.get("ConfigMap", "remote-cm")
        rv = current["metadata"]["resourceVersion"]
        patched, stale_patch = store.patch_metadata_many(
            [
                MetadataPatch("ConfigMap", "remote-cm", "default", rv, {"signed": "true"}, ("hold",)),
                MetadataPatch("ConfigMap", "remote-cm", "default", rv, {"signed": "again"}),
            ]
        )
        assert isinstance(patched, int) and isinstance(stale_patch, Conflict)
        meta = store.get("ConfigMap", "remote-cm")["metadata"]
        assert meta["annotations"]["signed"] == "true" and meta["finalizers"] == ["hold"]
        assert meta["resourceVersion"] == str(patched)
        store.patch_metadata_many([MetadataPatch("ConfigMap", "remote-cm", "default", str(patched), {}, ())])
        assert store.delete("ConfigMap", "remote-cm").deleted[0]["metadata"]["name"] == "remote-cm"
        with pytest.raises(NotFound):
            store.get("ConfigMap", "remote-cm")
    finally:
        store.close()


@pytest.mark.skipif(
    importlib.util.find_spec("tektite.triggers.app") is None, reason="the Triggers sink is not in this tree"
)
def test_eventlistener_sink_is_served_without_a_bearer_token(served: Served) -> None:
    with httpx.Client(base_url=served.url, verify=trust(served.ca)) as webhook:
        resp = webhook.post("/el/default/no-such-listener", json={"ref": "main"})
    assert resp.status_code == 404
    assert 'EventListener "no-such-listener" not found' in resp.json()["message"]


class _Sink:
    """A CloudEvents sink on 127.0.0.1 (stdlib http.server) that records every request."""

    def __init__(self) -> None:
        import http.server
        import threading

        received = self.received = []  # type: list[tuple[dict[str, str], dict[str, Any]]]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_cloudevents_go_to_the_configured_sink(served: Served) -> None:
    sink = _Sink()
    try:
        events_cm = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "config-events", "namespace": "tekton-pipelines"},
            "data": {"sink": sink.url, "formats": "tektonv1"},
        }
        with served.client(served.admin) as admin:
            assert (
                admin.post("/api/v1/namespaces/tekton-pipelines/configmaps", json=events_cm).status_code
                == 201
            )
            admin.post(f"{TEKTON}/tasks", json=task("evented", "echo event"))
            run = taskrun_of("evented", "evented-run")
            admin.post(f"{TEKTON}/taskruns", json=run)
            wait_done(admin, f"{TEKTON}/taskruns/evented-run")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not any(
                h["ce-type"].endswith(".successful.v1") and h["ce-subject"] == "evented-run"
                for h, _ in sink.received
            ):
                time.sleep(0.1)
            admin.delete("/api/v1/namespaces/tekton-pipelines/configmaps/config-events")
        mine = [(h, b) for h, b in sink.received if h.get("ce-subject") == "evented-run"]
        types = [h["ce-type"] for h, _ in mine]
        assert "dev.tekton.event.taskrun.successful.v1" in types
        assert (
            "dev.tekton.event.taskrun.running.v1" in types
        )  # delivery order is not guaranteed (as in Tekton)
        headers, body = next((h, b) for h, b in mine if h["ce-type"].endswith(".successful.v1"))
        assert headers["ce-source"] == "/apis/tekton.dev/v1/namespaces/default/taskruns/evented-run"
        assert headers["ce-specversion"] == "1.0" and headers["ce-id"]
        assert body["taskRun"]["status"]["conditions"][0]["reason"] == "Succeeded"
    finally:
        sink.close()
