"""Trusted resources, as a user works with them: ``tektite task|pipeline sign|verify`` with a cosign key,
then Tasks and Pipelines fetched by the git resolver from a real repository, checked against
``VerificationPolicy`` objects when a run resolves them. The signature is checked by OpenSSL too, over
the digest of the JSON Go's ``json.Marshal`` writes for the Task (written out here by hand)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import clirun
import pytest
import yaml

JSON = dict[str, Any]
PASSWORD = "correct horse"

TASK = """apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: echo
spec:
  params: [{name: who, default: world}]
  steps:
  - name: echo
    image: busybox
    script: |
      echo "hello $(params.who)" > /tmp/x && cat /tmp/x
"""
# What Go's json.Marshal writes for TASK as Tekton's v1.Task: TypeMeta's kind then apiVersion,
# ObjectMeta's creationTimestamp null, a ParamSpec's default, a Step's computeResources struct
# (never omitted) before its script, and <, >, & escaped.
TASK_AS_GO_MARSHALS = (
    '{"kind":"Task","apiVersion":"tekton.dev/v1","metadata":{"name":"echo","creationTimestamp":null},'
    '"spec":{"params":[{"name":"who","default":"world"}],"steps":[{"name":"echo","image":"busybox",'
    '"computeResources":{},"script":"echo \\"hello $(params.who)\\" \\u003e /tmp/x \\u0026\\u0026 cat /tmp/x\\n"}]}}'
)
PIPELINE = """apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: greet
spec:
  tasks:
  - name: hi
    taskSpec:
      steps: [{name: hi, image: busybox, script: 'echo hi from a signed pipeline'}]
"""


def tektite(cwd: Path, *args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    return clirun.tektite(home or cwd / "home", *args, env={"COSIGN_PASSWORD": PASSWORD}, cwd=cwd)


def git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        **{
            f"GIT_{who}_{what}": v
            for who in ("AUTHOR", "COMMITTER")
            for what, v in (("NAME", "t"), ("EMAIL", "t@example.com"))
        },
    }
    subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """Keys, and a git repository holding a signed Task, the same Task changed after signing, an
    unsigned one and a signed Pipeline."""
    assert tektite(tmp_path, "keys", "generate").returncode == 0
    (tmp_path / "task.yaml").write_text(TASK)
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    repo = tmp_path / "catalog"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    signed = tektite(tmp_path, "task", "sign", "task.yaml", "-K", "cosign.key", "-f", "catalog/signed.yaml")
    assert signed.returncode == 0, signed.stderr
    assert (
        tektite(
            tmp_path, "pipeline", "sign", "pipeline.yaml", "-K", "cosign.key", "-f", "catalog/pipeline.yaml"
        ).returncode
        == 0
    )
    text = (repo / "signed.yaml").read_text()
    (repo / "tampered.yaml").write_text(text.replace('echo "hello', 'echo "HELLO'))
    (repo / "unsigned.yaml").write_text(TASK)
    pipeline_text = (repo / "pipeline.yaml").read_text()
    (repo / "pipeline-changed.yaml").write_text(
        pipeline_text.replace("from a signed pipeline", "from a changed one")
    )
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "catalog")
    return tmp_path


def policy(work: Path, name: str = "catalog", mode: str = "enforce", pattern: str | None = None) -> str:
    key = (work / "cosign.pub").read_text()
    return yaml.safe_dump(
        {
            "apiVersion": "tekton.dev/v1alpha1",
            "kind": "VerificationPolicy",
            "metadata": {"name": name},
            "spec": {
                "resources": [{"pattern": pattern or f"^git\\+{(work / 'catalog').as_uri()}$"}],
                "authorities": [{"name": "release-key", "key": {"data": key}}],
                "mode": mode,
            },
        },
        sort_keys=False,
    )


def taskrun(work: Path, name: str, path: str) -> str:
    return f"""---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {{name: {name}}}
spec:
  taskRef:
    resolver: git
    params:
    - {{name: url, value: "{(work / "catalog").as_uri()}"}}
    - {{name: revision, value: main}}
    - {{name: pathInRepo, value: {path}}}
"""


def run(work: Path, text: str) -> subprocess.CompletedProcess[str]:
    (work / "runs.yaml").write_text(text)
    return tektite(work, "run", "-f", "runs.yaml", "--executor", "process")


def status(work: Path, kind: str, name: str) -> dict[str, JSON]:
    got = tektite(work, "get", kind, name, "-o", "json")
    assert got.returncode == 0, got.stderr
    return {c["type"]: c for c in json.loads(got.stdout)["status"]["conditions"]}


def test_sign_writes_the_signature_tkn_writes_and_openssl_checks_it(work: Path) -> None:
    signed = yaml.safe_load((work / "catalog" / "signed.yaml").read_text())
    signature = base64.b64decode(signed["metadata"]["annotations"]["tekton.dev/signature"])
    digest = hashlib.sha256(TASK_AS_GO_MARSHALS.encode()).digest()
    (work / "digest.bin").write_bytes(digest)
    (work / "sig.der").write_bytes(signature)
    checked = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", "cosign.pub", "-signature", "sig.der", "digest.bin"],
        cwd=work, capture_output=True, text=True,
    )  # fmt: skip
    assert checked.returncode == 0 and "Verified OK" in checked.stdout, checked.stdout + checked.stderr
    (work / "digest.bin").write_bytes(
        hashlib.sha256(TASK_AS_GO_MARSHALS.replace("world", "w0rld").encode()).digest()
    )
    forged = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", "cosign.pub", "-signature", "sig.der", "digest.bin"],
        cwd=work, capture_output=True, text=True,
    )  # fmt: skip
    assert forged.returncode != 0

    ok = tektite(work, "task", "verify", "catalog/signed.yaml", "-K", "cosign.pub")
    assert ok.returncode == 0 and ok.stdout.strip() == "Task echo passes verification"
    for path, message in [
        ("catalog/tampered.yaml", 'Task "echo" fails verification'),
        ("catalog/unsigned.yaml", 'Task "echo" is not signed: no tekton.dev/signature annotation'),
        ("catalog/pipeline.yaml", "expected one Task, found 0"),
    ]:
        bad = tektite(work, "task", "verify", path, "-K", "cosign.pub")
        assert bad.returncode == 1 and message in bad.stderr, (path, bad.stderr)
        assert "Traceback" not in bad.stderr
    assert tektite(work, "pipeline", "verify", "catalog/pipeline.yaml", "-K", "cosign.pub").returncode == 0
    other = tektite(work, "keys", "generate", "--output-key-prefix", "other")
    assert other.returncode == 0
    wrong_key = tektite(work, "task", "verify", "catalog/signed.yaml", "-K", "other.pub")
    assert wrong_key.returncode == 1 and "fails verification" in wrong_key.stderr


def test_an_enforce_policy_runs_signed_tasks_and_fails_changed_or_unsigned_ones(work: Path) -> None:
    (work / "policy.yaml").write_text(policy(work))
    assert tektite(work, "apply", "-f", "policy.yaml").returncode == 0
    done = run(
        work,
        taskrun(work, "signed", "signed.yaml") + taskrun(work, "tampered", "tampered.yaml")
        + taskrun(work, "unsigned", "unsigned.yaml"),
    )  # fmt: skip
    assert done.returncode == 1  # two of three fail
    assert "hello world" in done.stdout and "Traceback" not in done.stderr

    ok = status(work, "taskrun", "signed")
    assert ok["Succeeded"]["status"] == "True"
    described = tektite(work, "taskrun", "describe", "tampered").stdout
    assert (
        "🔐 Trusted resources: NOT verified" in described
        and 'fails VerificationPolicy "catalog"' in described
    )
    assert ok["TrustedResourcesVerified"]["status"] == "True"
    assert ok["TrustedResourcesVerified"]["message"] == "Trusted resource verification passed"
    for name, why in [
        ("tampered", 'fails VerificationPolicy "catalog" (no key of release-key verifies its signature)'),
        ("unsigned", "is not signed (no tekton.dev/signature annotation)"),
    ]:
        conditions = status(work, "taskrun", name)
        assert conditions["Succeeded"]["status"] == "False"
        assert conditions["Succeeded"]["reason"] == "ResourceVerificationFailed"
        assert why in conditions["Succeeded"]["message"]
        assert conditions["TrustedResourcesVerified"]["status"] == "False"
        assert why in done.stderr  # the summary says why


def test_a_warn_policy_lets_a_changed_task_run_and_says_so(work: Path) -> None:
    (work / "policy.yaml").write_text(policy(work, mode="warn"))
    assert tektite(work, "apply", "-f", "policy.yaml").returncode == 0
    done = run(work, taskrun(work, "tampered", "tampered.yaml"))
    assert done.returncode == 0, done.stderr
    assert "HELLO world" in done.stdout  # the changed Task ran
    conditions = status(work, "taskrun", "tampered")
    assert conditions["Succeeded"]["status"] == "True"
    assert conditions["TrustedResourcesVerified"]["status"] == "False"
    assert "fails VerificationPolicy" in conditions["TrustedResourcesVerified"]["message"]


def test_the_no_match_policy_flag_and_a_key_from_a_secret(work: Path) -> None:
    flags = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: feature-flags, namespace: tekton-pipelines}\n"
    (work / "flags.yaml").write_text(flags + "data: {trusted-resources-verification-no-match-policy: fail}\n")
    (work / "other.yaml").write_text(policy(work, "elsewhere", pattern="^https://example.com/"))
    assert tektite(work, "apply", "-f", "flags.yaml", "-f", "other.yaml").returncode == 0
    done = run(work, taskrun(work, "no-match", "signed.yaml"))
    assert done.returncode == 1
    failed = status(work, "taskrun", "no-match")["Succeeded"]
    assert failed["reason"] == "ResourceVerificationFailed"
    assert 'no VerificationPolicy in namespace "default" matches Task "echo"' in failed["message"]

    pem = (work / "cosign.pub").read_text()
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "keys"},
        "stringData": {"cosign.pub": pem},
    }
    by_secret = {
        "apiVersion": "tekton.dev/v1alpha1",
        "kind": "VerificationPolicy",
        "metadata": {"name": "by-secret"},
        "spec": {
            "resources": [
                {"pattern": "catalog"}
            ],  # searched for anywhere in the uri, as Go's regexp.MatchString
            "authorities": [{"name": "from-secret", "key": {"secretRef": {"name": "keys"}}}],
        },
    }
    (work / "secret.yaml").write_text(yaml.safe_dump_all([secret, by_secret]))
    assert tektite(work, "apply", "-f", "secret.yaml").returncode == 0
    again = run(work, taskrun(work, "by-secret", "signed.yaml"))
    assert again.returncode == 0, again.stderr
    assert status(work, "taskrun", "by-secret")["TrustedResourcesVerified"]["status"] == "True"


def test_a_pipeline_fetched_by_a_resolver_is_verified_too(work: Path) -> None:
    (work / "policy.yaml").write_text(policy(work))
    assert tektite(work, "apply", "-f", "policy.yaml").returncode == 0
    url = (work / "catalog").as_uri()
    pipelinerun = f"""apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {{name: signed-pipeline}}
spec:
  pipelineRef:
    resolver: git
    params:
    - {{name: url, value: "{url}"}}
    - {{name: revision, value: main}}
    - {{name: pathInRepo, value: pipeline.yaml}}
"""
    done = run(work, pipelinerun)
    assert done.returncode == 0, done.stderr
    assert "hi from a signed pipeline" in done.stdout
    assert status(work, "pipelinerun", "signed-pipeline")["TrustedResourcesVerified"]["status"] == "True"
    changed = pipelinerun.replace("signed-pipeline", "changed-pipeline").replace(
        "pipeline.yaml", "signed.yaml"
    )
    refused = run(work, changed)  # a Task where a Pipeline is wanted: not found, not a verification matter
    assert refused.returncode == 1 and "Traceback" not in refused.stderr


def test_a_pipeline_tasks_fetched_task_is_verified_before_anything_runs(work: Path) -> None:
    (work / "policy.yaml").write_text(policy(work))
    assert tektite(work, "apply", "-f", "policy.yaml").returncode == 0
    url = (work / "catalog").as_uri()

    def pipelinerun(name: str, path: str) -> str:
        return f"""apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {{name: {name}}}
spec:
  pipelineSpec:
    tasks:
    - name: first
      taskSpec:
        steps: [{{name: s, image: busybox, script: 'echo first ran'}}]
    - name: checked
      taskRef:
        resolver: git
        params:
        - {{name: url, value: "{url}"}}
        - {{name: revision, value: main}}
        - {{name: pathInRepo, value: {path}}}
    finally:
    - name: report
      taskSpec:
        steps: [{{name: s, image: busybox, script: 'echo finally ran'}}]
"""

    done = run(work, pipelinerun("with-tampered", "tampered.yaml"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    conditions = status(work, "pipelinerun", "with-tampered")
    assert conditions["Succeeded"]["reason"] == "ResourceVerificationFailed"
    assert conditions["TrustedResourcesVerified"]["status"] == "False"
    assert 'pipeline task "checked"' in conditions["TrustedResourcesVerified"]["message"]
    assert "first ran" not in done.stdout and "finally ran" not in done.stdout  # nothing ran
    listed = tektite(work, "get", "taskruns", "-o", "name")
    assert "with-tampered" not in listed.stdout

    done = run(work, pipelinerun("with-signed", "signed.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hello world" in done.stdout and "first ran" in done.stdout
    conditions = status(work, "pipelinerun", "with-signed")
    assert conditions["TrustedResourcesVerified"]["status"] == "True"
    assert conditions["Succeeded"]["status"] == "True"


def test_policies_with_mistakes_are_refused_with_the_field_named(work: Path) -> None:
    bad = policy(work).replace("mode: enforce", "mode: strict")
    (work / "bad.yaml").write_text(bad)
    done = tektite(work, "apply", "-f", "bad.yaml")
    assert done.returncode == 1 and "spec.mode" in done.stderr and "strict" in done.stderr
    (work / "bad.yaml").write_text(policy(work, pattern="(unclosed"))
    done = tektite(work, "apply", "-f", "bad.yaml")
    assert done.returncode == 1 and "is not a regular expression" in done.stderr
    assert "Traceback" not in done.stderr
