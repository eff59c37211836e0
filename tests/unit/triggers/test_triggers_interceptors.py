"""The core interceptors: signatures, tokens and event types, as Triggers' interceptors check them.

Expected signatures are computed here with the standard library's ``hmac`` (code tektite did not
write), and by ``openssl`` when it is installed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess
from typing import Any

import httpx
import pytest

from tektite.triggers import interceptors
from tektite.triggers.interceptors import Code, Env, InterceptorRequest, TriggerContext
from tektite.triggers.interceptors.base import SecretMissing

SECRET = b"1234567"
BODY = b'{"action": "opened", "pull_request":{"head":{"sha": "28911bbb"}}}'
REF = {"secretName": "hook-secret", "secretKey": "token"}


def _secrets(namespace: str, name: str, key: str) -> bytes:
    if (namespace, name, key) == ("team", "hook-secret", "token"):
        return SECRET
    raise SecretMissing(f'secret "{name}" not found in namespace "{namespace}"')


@pytest.fixture()
def env() -> Env:
    return Env(_secrets, httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500))))


def _req(headers: dict[str, str], params: dict[str, Any], body: bytes = BODY) -> InterceptorRequest:
    return InterceptorRequest(
        body,
        {k: [v] for k, v in headers.items()},
        {},
        params,
        TriggerContext("http://el/", "ev", "namespaces/team/triggers/t"),
    )


def _sig(algo: str, body: bytes = BODY, key: bytes = SECRET) -> str:
    return f"{algo}=" + hmac.new(key, body, getattr(hashlib, algo)).hexdigest()


def _run(name: str, req: InterceptorRequest, env: Env) -> interceptors.InterceptorResponse:
    fn = interceptors.get(name)
    assert fn is not None
    return fn(req, env)


# -- github ---------------------------------------------------------------------------------------


def test_github_accepts_a_good_sha256_signature(env: Env) -> None:
    req = _req(
        {"X-GitHub-Event": "pull_request", "X-Hub-Signature-256": _sig("sha256")},
        {"secretRef": REF, "eventTypes": ["pull_request"]},
    )
    resp = _run("github", req, env)
    assert resp.continue_, resp.message


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_github_accepts_a_signature_made_by_openssl(env: Env) -> None:
    digest = (
        subprocess.run(
            ["openssl", "dgst", "-sha256", "-hmac", SECRET.decode(), "-r"],
            input=BODY,
            capture_output=True,
            check=True,
        )
        .stdout.split()[0]
        .decode()
    )
    resp = _run("github", _req({"X-Hub-Signature-256": f"sha256={digest}"}, {"secretRef": REF}), env)
    assert resp.continue_, resp.message


def test_github_accepts_the_legacy_sha1_header(env: Env) -> None:
    assert _run("github", _req({"X-Hub-Signature": _sig("sha1")}, {"secretRef": REF}), env).continue_


@pytest.mark.parametrize(
    "signature",
    [
        _sig("sha256", key=b"wrong"),
        _sig("sha256", body=BODY + b" "),
        "sha256=" + "0" * 64,
        "sha256=not-hex",
        "md5=abcd",
        "no-equals-sign",
    ],
)
def test_github_rejects_bad_signatures(env: Env, signature: str) -> None:
    resp = _run("github", _req({"X-Hub-Signature-256": signature}, {"secretRef": REF}), env)
    assert not resp.continue_
    assert resp.code == Code.FAILED_PRECONDITION


def test_github_rejects_a_missing_signature(env: Env) -> None:
    resp = _run("github", _req({"X-GitHub-Event": "push"}, {"secretRef": REF}), env)
    assert not resp.continue_
    assert "X-Hub-Signature-256" in resp.message


def test_github_rejects_other_event_types_before_checking_the_signature(env: Env) -> None:
    resp = _run(
        "github", _req({"X-GitHub-Event": "push"}, {"eventTypes": ["pull_request"], "secretRef": REF}), env
    )
    assert not resp.continue_
    assert resp.message == "event type push is not allowed"


def test_github_reports_a_missing_secret(env: Env) -> None:
    ref = {"secretName": "absent", "secretKey": "token"}
    resp = _run("github", _req({"X-Hub-Signature-256": _sig("sha256")}, {"secretRef": ref}), env)
    assert not resp.continue_
    assert 'secret "absent" not found in namespace "team"' in resp.message


def test_github_refuses_form_encoded_hooks(env: Env) -> None:
    resp = _run("github", _req({"Content-Type": "application/x-www-form-urlencoded"}, {}), env)
    assert not resp.continue_ and resp.code == Code.INVALID_ARGUMENT


def test_github_header_names_are_case_insensitive(env: Env) -> None:
    req = InterceptorRequest(
        BODY,
        {"X-Hub-Signature-256": [_sig("sha256")], "X-Github-Event": ["push"]},
        {},
        {"secretRef": REF, "eventTypes": ["push"]},
        TriggerContext(trigger_id="namespaces/team/triggers/t"),
    )
    assert _run("github", req, env).continue_


def test_github_adds_changed_files_of_a_push_from_the_payload(env: Env) -> None:
    body = json.dumps(
        {
            "commits": [
                {"added": ["a.go"], "removed": ["b.go"], "modified": ["controllers/c.go"]},
                {"added": ["a.go", "d.go"]},
            ]
        }
    ).encode()
    req = _req({"X-GitHub-Event": "push"}, {"addChangedFiles": {"enabled": True}}, body)
    resp = _run("github", req, env)
    assert resp.continue_
    assert resp.extensions == {"changed_files": "a.go,b.go,controllers/c.go,d.go"}


def test_github_lists_pull_request_files_through_the_api(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.url.path == "/repos/tektoncd/triggers/pulls/1503/files"
        page = int(request.url.params["page"])
        files = [{"filename": f"f{i}"} for i in range(100)] if page == 1 else [{"filename": "last"}]
        return httpx.Response(200, json=files)

    monkeypatch.setenv("TEKTITE_GITHUB_API_URL", "http://github.test")
    env.http = httpx.Client(transport=httpx.MockTransport(api))
    body = json.dumps({"number": 1503, "repository": {"full_name": "tektoncd/triggers"}}).encode()
    resp = _run(
        "github",
        _req(
            {"X-GitHub-Event": "pull_request"},
            {"addChangedFiles": {"enabled": True, "personalAccessToken": REF}},
            body,
        ),
        env,
    )
    assert resp.continue_, resp.message
    assert resp.extensions is not None
    assert resp.extensions["changed_files"].split(",")[-1] == "last"
    assert len(resp.extensions["changed_files"].split(",")) == 101
    assert seen[0].headers["Authorization"] == "Bearer 1234567"


def _owners_api(approvers: list[str], members: set[str]) -> httpx.MockTransport:
    def api(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/repos/tektoncd/triggers/contents/OWNERS":
            return httpx.Response(200, text="approvers:\n" + "".join(f"- {a}\n" for a in approvers))
        if request.url.path.startswith("/orgs/tektoncd/members/"):
            return httpx.Response(204 if request.url.path.rsplit("/", 1)[1] in members else 404)
        return httpx.Response(404)

    return httpx.MockTransport(api)


@pytest.mark.parametrize(
    ("user", "check", "allowed"),
    [
        ("dibyom", "none", True),
        ("khrm", "none", False),
        ("khrm", "orgMembers", True),
        ("nobody", "all", False),
    ],
)
def test_github_owners(
    env: Env, monkeypatch: pytest.MonkeyPatch, user: str, check: str, allowed: bool
) -> None:
    monkeypatch.setenv("TEKTITE_GITHUB_API_URL", "http://github.test")
    env.http = httpx.Client(transport=_owners_api(["dibyom"], {"khrm"}))
    body = json.dumps(
        {"action": "opened", "repository": {"full_name": "tektoncd/triggers"}, "sender": {"login": user}}
    ).encode()
    params = {
        "eventTypes": ["pull_request", "issue_comment"],
        "githubOwners": {"enabled": True, "CheckType": check},
    }
    resp = _run("github", _req({"X-GitHub-Event": "pull_request"}, params, body), env)
    assert resp.continue_ is allowed, resp.message
    if not allowed:
        assert user in resp.message


def test_github_owners_ok_to_test_comment(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEKTITE_GITHUB_API_URL", "http://github.test")
    env.http = httpx.Client(transport=_owners_api(["dibyom"], set()))

    def comment(text: str) -> bytes:
        return json.dumps(
            {
                "issue": {"pull_request": {"url": "x"}},
                "comment": {"body": text, "user": {"login": "dibyom"}},
                "repository": {"full_name": "tektoncd/triggers"},
            }
        ).encode()

    params = {"githubOwners": {"enabled": True}}
    assert _run(
        "github", _req({"X-GitHub-Event": "issue_comment"}, params, comment("/ok-to-test")), env
    ).continue_
    assert not _run(
        "github", _req({"X-GitHub-Event": "issue_comment"}, params, comment("lgtm")), env
    ).continue_


# -- gitlab ---------------------------------------------------------------------------------------


def test_gitlab_token_and_event_type(env: Env) -> None:
    params = {"secretRef": REF, "eventTypes": ["Push Hook"]}
    assert _run(
        "gitlab", _req({"X-GitLab-Token": "1234567", "X-Gitlab-Event": "Push Hook"}, params), env
    ).continue_
    wrong = _run("gitlab", _req({"X-GitLab-Token": "12345678", "X-Gitlab-Event": "Push Hook"}, params), env)
    assert not wrong.continue_ and wrong.message == "Invalid X-GitLab-Token"
    missing = _run("gitlab", _req({"X-Gitlab-Event": "Push Hook"}, params), env)
    assert not missing.continue_ and "X-GitLab-Token" in missing.message
    other = _run(
        "gitlab", _req({"X-GitLab-Token": "1234567", "X-Gitlab-Event": "Tag Push Hook"}, params), env
    )
    assert not other.continue_ and other.message == "event type Tag Push Hook is not allowed"


def test_gitlab_missing_secret(env: Env) -> None:
    resp = _run(
        "gitlab",
        _req({"X-GitLab-Token": "1234567"}, {"secretRef": {"secretName": "x", "secretKey": "y"}}),
        env,
    )
    assert not resp.continue_ and "error getting secret" in resp.message


# -- bitbucket ------------------------------------------------------------------------------------


def test_bitbucket_server_hmac(env: Env) -> None:
    params = {"secretRef": REF, "eventTypes": ["repo:refs_changed"]}
    good = {"X-Event-Key": "repo:refs_changed", "X-Hub-Signature": _sig("sha1")}
    assert _run("bitbucket", _req(good, params), env).continue_
    bad = {**good, "X-Hub-Signature": _sig("sha1", key=b"nope")}
    resp = _run("bitbucket", _req(bad, params), env)
    assert not resp.continue_ and resp.message == "payload signature check failed"
    assert not _run("bitbucket", _req({"X-Event-Key": "repo:refs_changed"}, params), env).continue_


def test_bitbucket_missing_secret(env: Env) -> None:
    ref = {"secretName": "absent", "secretKey": "token"}
    resp = _run("bitbucket", _req({"X-Hub-Signature": _sig("sha1")}, {"secretRef": ref}), env)
    assert not resp.continue_ and 'secret "absent" not found' in resp.message


def test_bitbucket_cloud_filters_event_types_without_a_secret(env: Env) -> None:
    params = {"eventTypes": ["repo:push"]}
    assert _run("bitbucket", _req({"X-Event-Key": "repo:push"}, params), env).continue_
    resp = _run("bitbucket", _req({"X-Event-Key": "pullrequest:created"}, params), env)
    assert not resp.continue_ and resp.message == "event type pullrequest:created is not allowed"


# -- slack ----------------------------------------------------------------------------------------


def test_slack_extracts_requested_form_fields(env: Env) -> None:
    body = b"token=x&text=deploy+prod&user_name=ana"
    resp = _run(
        "slack",
        _req(
            {"Content-Type": "application/x-www-form-urlencoded"},
            {"requestedFields": ["text", "user_name", "absent"]},
            body,
        ),
        env,
    )
    assert resp.continue_
    assert resp.extensions == {"text": "deploy prod", "user_name": "ana"}


def test_the_registry_knows_the_core_interceptors() -> None:
    assert {"github", "gitlab", "bitbucket", "cel", "slack"} <= set(interceptors.names())
    assert interceptors.get("nope") is None
