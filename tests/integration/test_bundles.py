"""Tekton Bundles against a real docker-registry: the ``bundles`` resolver reading a bundle made by
plain tar/gzip/httpx (code tektite did not write), ``tektite bundle push``/``list`` (read back the
same way), runs that resolve their Task and Pipeline from bundles (refSource in their provenance
and in the signed statement), credentials from a Secret, and bundles that break the contract."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import clirun
import httpx
import pytest
import yaml
from registry import AuthRegistry

pytestmark = pytest.mark.registry

JSON = dict[str, Any]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
TASK = {
    "apiVersion": "tekton.dev/v1",
    "kind": "Task",
    "metadata": {"name": "greet"},
    "spec": {
        "params": [{"name": "who", "default": "world"}],
        "results": [{"name": "said"}],
        "steps": [
            {
                "name": "say",
                "image": "busybox",
                "script": 'printf "hello $(params.who)" > $(results.said.path)',
            }
        ],
    },
}
PIPELINE = {
    "apiVersion": "tekton.dev/v1",
    "kind": "Pipeline",
    "metadata": {"name": "greetings"},
    "spec": {
        "params": [{"name": "bundle"}],
        "tasks": [
            {
                "name": "one",
                "taskRef": {
                    "resolver": "bundles",
                    "params": [
                        {"name": "bundle", "value": "$(params.bundle)"},
                        {"name": "name", "value": "greet"},
                        {"name": "kind", "value": "task"},
                    ],
                },
                "params": [{"name": "who", "value": "pipeline"}],
            }
        ],
    },
}


def tektite(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return clirun.tektite(home, *args, check=check)


def push_layers(registry: str, repository: str, tag: str, layers: list[tuple[bytes, dict[str, str]]],
                auth: tuple[str, str] | None = None) -> str:  # fmt: skip
    """Push an image whose layers are the given blobs and annotations, with plain httpx."""
    base = f"http://{registry}/v2/{repository}"
    http = httpx.Client(auth=auth)

    def blob(data: bytes) -> JSON:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        started = http.post(f"{base}/blobs/uploads/")
        started.raise_for_status()
        http.put(
            started.url.join(started.headers["Location"]).copy_merge_params({"digest": digest}), content=data
        ).raise_for_status()
        return {"digest": digest, "size": len(data)}

    config = blob(b'{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}')
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    **blob(data),
                    "annotations": notes,
                }
                for data, notes in layers
            ],
        }
    ).encode()
    http.put(
        f"{base}/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    ).raise_for_status()
    http.close()
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


def tar_gz(filename: str, content: bytes) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo(filename)
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue())


def layer_of(obj: JSON, as_yaml: bool = True) -> tuple[bytes, dict[str, str]]:
    text = yaml.safe_dump(obj) if as_yaml else json.dumps(obj)
    return tar_gz(obj["metadata"]["name"], text.encode()), {
        "dev.tekton.image.apiVersion": obj["apiVersion"],
        "dev.tekton.image.kind": obj["kind"].lower(),
        "dev.tekton.image.name": obj["metadata"]["name"],
    }


def taskrun(name: str, bundle: str, task: str | None = "greet", extra: list[JSON] | None = None) -> str:
    named = [{"name": "name", "value": task}] if task is not None else []
    params = [{"name": "bundle", "value": bundle}, *named, *(extra or [])]
    return yaml.safe_dump(
        {
            "apiVersion": "tekton.dev/v1",
            "kind": "TaskRun",
            "metadata": {"name": name},
            "spec": {
                "taskRef": {"resolver": "bundles", "params": params},
                "params": [{"name": "who", "value": "bundles"}],
            },
        }
    )


def run(home: Path, tmp_path: Path, text: str) -> tuple[int, JSON]:
    """``tektite run`` the one run in ``text``; its exit code and the run as stored."""
    path = tmp_path / "run.yaml"
    path.write_text(text)
    done = tektite(home, "run", "-f", str(path), "--executor", "process", "-q", check=False)
    doc = yaml.safe_load(text)
    got = tektite(home, "get", doc["kind"].lower(), doc["metadata"]["name"], "-o", "json")
    return done.returncode, json.loads(got.stdout)


def message(obj: JSON) -> str:
    [cond] = obj["status"]["conditions"]
    return f"{cond['reason']}: {cond['message']}"


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def test_a_task_from_a_bundle_runs_and_its_source_is_in_the_provenance(
    registry: str, home: Path, tmp_path: Path
) -> None:
    other = {**TASK, "metadata": {"name": "other"}}
    digest = push_layers(registry, "catalog/greet", "v1", [layer_of(other, as_yaml=False), layer_of(TASK)])
    code, tr = run(home, tmp_path, taskrun("from-bundle", f"{registry}/catalog/greet:v1"))
    assert code == 0, message(tr)
    assert tr["status"]["results"] == [{"name": "said", "type": "string", "value": "hello bundles"}]
    ref_source = {
        "uri": f"{registry}/catalog/greet",
        "digest": {"sha256": digest.split(":")[1]},
        "entryPoint": "greet",
    }
    assert tr["status"]["provenance"]["refSource"] == ref_source
    # the signed statement names the bundle as where the build's definition came from (Chains'
    # in-toto default, SLSA v0.2: invocation.configSource)
    statement = json.loads(tektite(home, "chains", "payload", "from-bundle").stdout)
    assert statement["predicate"]["invocation"]["configSource"] == ref_source


def test_bundle_push_and_list_and_a_pipeline_resolved_from_a_bundle(
    registry: str, home: Path, tmp_path: Path
) -> None:
    files = tmp_path / "catalog.yaml"
    files.write_text(yaml.safe_dump_all([TASK, PIPELINE]))
    ref = f"{registry}/catalog/all:v1"
    pushed = tektite(
        home, "bundle", "push", ref, "-f", str(files), "--ctime", "2024-01-01T00:00:00Z"
    ).stdout.strip()
    assert pushed.startswith(ref + "@sha256:")
    again = tektite(
        home, "bundle", "push", ref, "-f", str(files), "--ctime", "2024-01-01T00:00:00Z"
    ).stdout.strip()
    assert again == pushed  # a fixed creation time: the same objects, the same digest

    # the layout, read with plain httpx: one gzip tar layer per object, annotated as the contract says
    manifest = httpx.get(
        f"http://{registry}/v2/catalog/all/manifests/v1", headers={"Accept": OCI_MANIFEST}
    ).json()
    found = {}
    for layer in manifest["layers"]:
        blob = httpx.get(f"http://{registry}/v2/catalog/all/blobs/{layer['digest']}").content
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
            [member] = tar.getmembers()
            obj = yaml.safe_load(tar.extractfile(member).read())  # type: ignore[union-attr]
        notes = layer["annotations"]
        assert notes["dev.tekton.image.apiVersion"] == obj["apiVersion"] == "tekton.dev/v1"
        assert notes["dev.tekton.image.kind"] == obj["kind"].lower()
        found[notes["dev.tekton.image.name"]] = obj
    assert found == {"greet": TASK, "greetings": PIPELINE}

    bad = tmp_path / "runs.yaml"
    text = yaml.safe_dump_all(
        [TASK, {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {"name": "r"}}]
    )
    bad.write_text(text)
    line = text.splitlines().index("---") + 2  # the TaskRun's first line
    refused = tektite(home, "bundle", "push", ref, "-f", str(bad), check=False)
    assert refused.returncode == 1 and f'{bad}:{line}: TaskRun "r": a bundle holds Tasks' in refused.stderr

    listed = tektite(home, "bundle", "list", ref).stdout.split()
    assert listed == ["task.tekton.dev/greet", "pipeline.tekton.dev/greetings"]
    printed = yaml.safe_load(tektite(home, "bundle", "list", ref, "task", "greet", "-o", "yaml").stdout)
    assert printed == TASK

    pipelinerun = yaml.safe_dump(
        {
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "metadata": {"name": "bundled"},
            "spec": {
                "pipelineRef": {
                    "resolver": "bundles",
                    "params": [
                        {"name": "bundle", "value": pushed},
                        {"name": "name", "value": "greetings"},
                        {"name": "kind", "value": "pipeline"},
                    ],
                },
                "params": [{"name": "bundle", "value": pushed}],
            },
        }
    )
    code, pr = run(home, tmp_path, pipelinerun)
    assert code == 0, message(pr)
    digest = pushed.split("@")[1]
    ref_source = {
        "uri": f"{registry}/catalog/all",
        "digest": {"sha256": digest[7:]},
        "entryPoint": "greetings",
    }
    assert pr["status"]["provenance"]["refSource"] == ref_source
    statement = json.loads(tektite(home, "chains", "payload", "bundled", "--kind", "pipelinerun").stdout)
    assert statement["predicate"]["invocation"]["configSource"] == ref_source
    [child] = json.loads(tektite(home, "get", "taskruns", "-o", "json").stdout)["items"]
    assert child["status"]["results"][0]["value"] == "hello pipeline"
    assert child["status"]["provenance"]["refSource"]["uri"] == f"{registry}/catalog/all"


def test_credentials_come_from_the_secret_param(
    auth_registry: AuthRegistry, home: Path, tmp_path: Path
) -> None:
    registry, user, password = auth_registry.address, auth_registry.username, auth_registry.password
    push_layers(registry, "private/greet", "v1", [layer_of(TASK)], auth=(user, password))
    bundle = f"{registry}/private/greet:v1"

    code, tr = run(home, tmp_path, taskrun("anonymous", bundle))
    assert code != 0
    assert "TaskRunResolutionFailed" in message(tr) and "refused anonymous access" in message(tr)

    config = json.dumps(
        {"auths": {registry: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}
    )
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "pull", "namespace": "default"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(config.encode()).decode()},
    }
    (tmp_path / "secret.yaml").write_text(yaml.safe_dump(secret))
    tektite(home, "apply", "-f", str(tmp_path / "secret.yaml"))
    code, tr = run(
        home, tmp_path, taskrun("with-secret", bundle, extra=[{"name": "secret", "value": "pull"}])
    )
    assert code == 0, message(tr)
    assert password not in json.dumps(tr)


@pytest.mark.parametrize(
    ("layers", "task", "says"),
    [
        ([layer_of(TASK)], "missing", "has no task named 'missing'; it holds task/greet"),
        (
            [(layer_of(TASK)[0], {"dev.tekton.image.name": "greet"})],
            "greet",
            "layer 0 has no dev.tekton.image.kind",
        ),
        ([layer_of(TASK)] * 21, "greet", "has 21 layers; a Tekton Bundle holds at most 20 objects"),
        ([layer_of(TASK), layer_of(TASK)], "greet", "two layers hold task greet"),
        ([(b"not a tar", layer_of(TASK)[1])], "greet", "is not a tar archive"),
        # ~10 KB compressed, 10 MiB + 1 inflated: refused before it is read
        (
            [(tar_gz("big", b" " * (10 * 1024 * 1024 + 1)), layer_of(TASK)[1])],
            "greet",
            "big is 10485761 bytes",
        ),
    ],
    ids=["unknown-name", "missing-annotation", "too-many-layers", "duplicate", "not-a-tar", "too-big"],
)
def test_a_bundle_that_breaks_the_contract_fails_the_run_saying_why(
    registry: str,
    home: Path,
    tmp_path: Path,
    layers: list[tuple[bytes, dict[str, str]]],
    task: str,
    says: str,
) -> None:
    repository = "broken/" + hashlib.sha256(says.encode()).hexdigest()[:8]
    push_layers(registry, repository, "v1", layers)
    code, tr = run(home, tmp_path, taskrun("broken", f"{registry}/{repository}:v1", task=task))
    assert code != 0
    assert "TaskRunResolutionFailed" in message(tr) and says in message(tr)


def test_missing_params_and_a_missing_bundle_are_clear(registry: str, home: Path, tmp_path: Path) -> None:
    code, tr = run(home, tmp_path, taskrun("nothing-there", f"{registry}/nowhere/greet:v1"))
    assert code != 0 and f"bundle {registry}/nowhere/greet:v1: not found" in message(tr)
    code, tr = run(home, tmp_path, taskrun("no-name", f"{registry}/nowhere/greet:v1", task=None))
    assert code != 0 and "param 'name' is required" in message(tr)
