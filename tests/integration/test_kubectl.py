"""Debian's real ``kubectl`` (package kubernetes-client) against ``tektite serve``: a client nobody here wrote."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from test_server_api import Served, start_server, stop_server, wait_done

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl not installed (Debian package kubernetes-client)"
)

TASK = """\
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: greet
spec:
  params:
    - name: who
      default: world
  steps:
    - name: say
      image: busybox
      script: echo "hello $(params.who)"
"""

RUN = """\
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: greet-pr
spec:
  params:
    - name: who
      value: kubectl
  pipelineSpec:
    params:
      - name: who
    tasks:
      - name: greet
        taskRef:
          name: greet
        params:
          - name: who
            value: $(params.who)
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("kubectl") / "home"
    home.mkdir()
    s = start_server(home)
    try:
        yield s
    finally:
        stop_server(s)


def kubectl(
    served: Served, *args: str, token: str | None = None, timeout: float = 60, check: bool = True
) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    cmd = [
        KUBECTL,
        "--server",
        served.url,
        "--certificate-authority",
        str(served.ca),
        "--token",
        token or served.admin,
        "--cache-dir",
        str(served.home.parent / "kube-cache"),
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_create_get_yaml_table_and_delete(served: Served, tmp_path: Path) -> None:
    task_file = write(tmp_path, "task.yaml", TASK)
    run_file = write(tmp_path, "run.yaml", RUN)
    out = kubectl(served, "create", "-f", task_file, "-f", run_file).stdout
    assert "task.tekton.dev/greet created" in out
    assert "pipelinerun.tekton.dev/greet-pr created" in out
    with served.client(served.admin) as client:
        wait_done(client, "/apis/tekton.dev/v1/namespaces/default/pipelineruns/greet-pr")
    listed = yaml.safe_load(kubectl(served, "get", "pipelineruns", "-o", "yaml").stdout)
    (pr,) = [i for i in listed["items"] if i["metadata"]["name"] == "greet-pr"]
    assert pr["status"]["conditions"][0]["status"] == "True"
    assert pr["spec"]["params"] == [{"name": "who", "value": "kubectl"}]
    table = kubectl(served, "get", "pr").stdout.splitlines()
    assert table[0].split() == ["NAME", "SUCCEEDED", "REASON", "STARTTIME", "COMPLETIONTIME"]
    assert table[1].split()[:3] == ["greet-pr", "True", "Succeeded"]
    by_short = kubectl(served, "get", "tr", "-l", "tekton.dev/pipelineRun=greet-pr", "-o", "name").stdout
    assert by_short.strip().startswith("taskrun.tekton.dev/greet-pr-")
    assert "deleted" in kubectl(served, "delete", "-f", run_file).stdout
    gone = kubectl(served, "get", "pr", "greet-pr", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    assert kubectl(served, "get", "tr", "-l", "tekton.dev/pipelineRun=greet-pr", "-o", "name").stdout == ""


def test_apply_creates_then_configures(served: Served, tmp_path: Path) -> None:
    cm = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: knobs\ndata:\n  level: "1"\n  old: x\n'
    path = write(tmp_path, "cm.yaml", cm)
    assert "configmap/knobs created" in kubectl(served, "apply", "-f", path).stdout
    write(tmp_path, "cm.yaml", cm.replace('"1"', '"2"').replace("  old: x\n", ""))
    assert "configmap/knobs configured" in kubectl(served, "apply", "-f", path).stdout
    data = yaml.safe_load(kubectl(served, "get", "cm", "knobs", "-o", "yaml").stdout)["data"]
    assert data == {"level": "2"}
    task_file = write(tmp_path, "task.yaml", TASK.replace("greet", "apply-greet"))
    assert "task.tekton.dev/apply-greet created" in kubectl(served, "apply", "-f", task_file).stdout
    write(
        tmp_path, "task.yaml", TASK.replace("greet", "apply-greet").replace("default: world", "default: moon")
    )
    assert "configured" in kubectl(served, "apply", "-f", task_file).stdout
    task = yaml.safe_load(kubectl(served, "get", "task", "apply-greet", "-o", "yaml").stdout)
    assert task["spec"]["params"][0]["default"] == "moon"
    assert "unchanged" in kubectl(served, "apply", "-f", task_file).stdout


def test_invalid_object_is_rejected_with_the_field(served: Served, tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", TASK.replace("greet", "bad-greet").replace("steps:", "stepz:"))
    proc = kubectl(served, "create", "-f", bad, check=False)
    assert proc.returncode != 0
    assert "stepz" in proc.stderr


def test_view_token_is_forbidden_to_create(served: Served, tmp_path: Path) -> None:
    path = write(tmp_path, "task.yaml", TASK.replace("greet", "viewer-greet"))
    proc = kubectl(served, "create", "-f", path, token=served.view, check=False)
    assert proc.returncode != 0
    assert "forbidden" in proc.stderr.lower()
    assert kubectl(served, "get", "tasks", token=served.view).returncode == 0


def test_watch_prints_changes(served: Served, tmp_path: Path) -> None:
    kubectl(served, "apply", "-f", write(tmp_path, "task.yaml", TASK.replace("greet", "watch-greet")))
    assert KUBECTL is not None
    cmd = [
        KUBECTL,
        "--server",
        served.url,
        "--certificate-authority",
        str(served.ca),
        "--token",
        served.admin,
        "--cache-dir",
        str(served.home.parent / "kube-cache"),
        "get",
        "taskruns",
        "--watch",
        "--request-timeout",
        "60s",
    ]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as watcher:
        try:
            time.sleep(1)  # let kubectl list and open its watch
            run = RUN.replace("greet-pr", "watched-pr")
            kubectl(
                served,
                "create",
                "-f",
                write(tmp_path, "run.yaml", run.replace("name: greet\n", "name: watch-greet\n")),
            )
            with served.client(served.admin) as client:
                wait_done(client, "/apis/tekton.dev/v1/namespaces/default/pipelineruns/watched-pr")
            time.sleep(1)
        finally:
            watcher.terminate()
        out, _err = watcher.communicate(timeout=20)
    lines = [line.split() for line in out.splitlines() if line.startswith("watched-pr-")]
    assert lines, out
    assert any(cells[1:3] == ["True", "Succeeded"] for cells in lines), out


def test_server_side_apply_creates_and_updates(served: Served, tmp_path: Path) -> None:
    cm = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  level: "1"\n'
    path = write(tmp_path, "ssa.yaml", cm)
    assert "serverside-applied" in kubectl(served, "apply", "--server-side", "-f", path).stdout
    write(tmp_path, "ssa.yaml", cm.replace('"1"', '"2"'))
    kubectl(served, "apply", "--server-side", "-f", path)
    data = yaml.safe_load(kubectl(served, "get", "cm", "ssa", "-o", "yaml").stdout)["data"]
    assert data == {"level": "2"}


def test_imperative_creates_and_the_chains_config_patch_of_the_tutorials(
    served: Served, tmp_path: Path
) -> None:
    """kubectl's typed ``create`` commands send protobuf; Chains' docs patch chains-config."""
    assert "namespace/tekton-chains created" in kubectl(served, "create", "namespace", "tekton-chains").stdout
    created = kubectl(
        served, "create", "configmap", "chains-config", "-n", "tekton-chains",
        "--from-literal=artifacts.oci.storage=oci", "--from-literal=transparency.enabled=true",
    )  # fmt: skip
    assert "configmap/chains-config created" in created.stdout
    patched = kubectl(
        served, "patch", "configmap", "chains-config", "-n", "tekton-chains", "-p",
        '{"data": {"artifacts.taskrun.format": "in-toto", "artifacts.oci.storage": "", "transparency.enabled": "false"}}',
    )  # fmt: skip
    assert "configmap/chains-config patched" in patched.stdout
    config = yaml.safe_load(
        kubectl(served, "get", "cm", "chains-config", "-n", "tekton-chains", "-o", "yaml").stdout
    )
    assert config["data"] == {
        "artifacts.oci.storage": "",
        "artifacts.taskrun.format": "in-toto",
        "transparency.enabled": "false",
    }
    assert "generateName" not in config["metadata"]  # Go's empty strings are not written back

    (tmp_path / "config.json").write_bytes(b'{"auths": {}}')
    kubectl(
        served, "create", "secret", "generic", "docker-credentials",
        f"--from-file=config.json={tmp_path / 'config.json'}", "--type=kubernetes.io/dockerconfigjson",
    )  # fmt: skip
    kubectl(served, "create", "secret", "generic", "signing-secrets", "-n", "tekton-chains",
            "--from-literal=cosign.password=s3cret")  # fmt: skip
    kubectl(
        served, "create", "secret", "docker-registry", "regcred", "--docker-server=registry.example",
        "--docker-username=bot", "--docker-password=pw",
    )  # fmt: skip
    kubectl(served, "create", "serviceaccount", "builder")
    with served.client(served.admin) as client:
        docker = client.get("/api/v1/namespaces/default/secrets/docker-credentials").json()
        assert docker["type"] == "kubernetes.io/dockerconfigjson"
        assert base64.b64decode(docker["data"]["config.json"]) == b'{"auths": {}}'
        signing = client.get("/api/v1/namespaces/tekton-chains/secrets/signing-secrets").json()
        assert base64.b64decode(signing["data"]["cosign.password"]) == b"s3cret"
        registry = client.get("/api/v1/namespaces/default/secrets/regcred").json()
        auths = json.loads(base64.b64decode(registry["data"][".dockerconfigjson"]))["auths"]
        assert auths["registry.example"]["username"] == "bot"
        account = client.get("/api/v1/namespaces/default/serviceaccounts/builder")
        assert account.status_code == 200 and account.json()["metadata"]["name"] == "builder"
        # a protobuf body of a kind not decoded, or not protobuf at all, is refused with why
        refused = client.post(
            "/api/v1/namespaces/default/configmaps",
            content=b"not protobuf",
            headers={"Content-Type": "application/vnd.kubernetes.protobuf"},
        )
        assert refused.status_code == 400 and "k8s" in refused.json()["message"]
