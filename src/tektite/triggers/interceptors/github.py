"""``github``: ``eventTypes`` against ``X-GitHub-Event``, ``secretRef`` HMAC against
``X-Hub-Signature-256`` (or ``X-Hub-Signature``), ``addChangedFiles`` and ``githubOwners``.

As in Triggers, the event type is checked first, then the signature; form-encoded hooks are
refused. ``addChangedFiles`` puts a comma-separated list in ``extensions.changed_files``: for a
``push`` from the payload's commits, for a ``pull_request`` from the GitHub API.
``githubOwners`` lets a pull request (or an ``/ok-to-test`` comment) through only when its author
is an approver in the repository's ``OWNERS`` file or, per ``checkType``, an org/repo member.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from tektite.triggers.interceptors import signature
from tektite.triggers.interceptors.base import (
    Code,
    Env,
    InterceptorRequest,
    InterceptorResponse,
    SecretMissing,
    fail,
    ok,
    string_list,
)
from tektite.triggers.interceptors.github_api import GitHubAPI, GitHubAPIError, api_root

NAME = "github"
CHECK_TYPES = ("none", "orgMembers", "repoMembers", "all")


def _ci(obj: Any, key: str) -> Any:
    """Go decodes JSON keys case-insensitively (the owners example writes ``CheckType``)."""
    if not isinstance(obj, dict):
        return None
    if key in obj:
        return obj[key]
    for k, v in obj.items():
        if isinstance(k, str) and k.lower() == key.lower():
            return v
    return None


def process(request: InterceptorRequest, env: Env) -> InterceptorResponse:
    if request.get_header("Content-Type") == "application/x-www-form-urlencoded":
        return fail(
            Code.INVALID_ARGUMENT,
            "form parameter encoding not supported, please change the hook to send JSON payloads",
        )
    params = request.interceptor_params
    try:
        event_types = string_list(_ci(params, "eventTypes"), "eventTypes")
    except ValueError as exc:
        return fail(Code.INVALID_ARGUMENT, f"failed to parse interceptor params: {exc}")
    event = request.get_header("X-GitHub-Event")
    if event_types is not None and event not in event_types:
        return fail(Code.FAILED_PRECONDITION, f"event type {event} is not allowed")

    ref = _ci(params, "secretRef")
    if ref is not None:
        if not _ci(ref, "secretKey"):
            return fail(Code.FAILED_PRECONDITION, "github interceptor secretRef.secretKey is empty")
        header = request.get_header("X-Hub-Signature-256") or request.get_header("X-Hub-Signature")
        if not header:
            return fail(Code.FAILED_PRECONDITION, "Must set X-Hub-Signature-256 or X-Hub-Signature header")
        try:
            secret = env.secret_ref(_normal_ref(ref), request.context.namespace)
        except SecretMissing as exc:
            return fail(Code.FAILED_PRECONDITION, f"error getting secret: {exc}")
        problem = signature.check(header, request.body, secret)
        if problem:
            return fail(Code.FAILED_PRECONDITION, problem)

    owners = _ci(params, "githubOwners")
    if isinstance(owners, dict) and _ci(owners, "enabled"):
        resp = _owners(request, env, owners, event)
        if resp is not None:
            return resp

    changed = _ci(params, "addChangedFiles")
    if isinstance(changed, dict) and _ci(changed, "enabled") and event in ("push", "pull_request"):
        return _changed_files(request, env, changed, event)
    return ok()


def _normal_ref(ref: Any) -> dict[str, Any]:
    return {"secretName": _ci(ref, "secretName"), "secretKey": _ci(ref, "secretKey")}


def _token(env: Env, cfg: dict[str, Any], namespace: str) -> str:
    pat = _ci(cfg, "personalAccessToken")
    if not pat:
        return ""
    return env.secret_ref(_normal_ref(pat), namespace).decode().strip()


def _payload(request: InterceptorRequest) -> dict[str, Any]:
    data = json.loads(request.body or b"{}")
    if not isinstance(data, dict):
        raise ValueError("the body is not a JSON object")
    return data


def _api(request: InterceptorRequest, env: Env, cfg: dict[str, Any]) -> GitHubAPI:
    root = api_root(request.get_header("X-GitHub-Enterprise-Host"))
    return GitHubAPI(env.http, root, _token(env, cfg, request.context.namespace))


def _changed_files(
    request: InterceptorRequest, env: Env, cfg: dict[str, Any], event: str
) -> InterceptorResponse:
    try:
        payload = _payload(request)
    except ValueError as exc:
        return fail(Code.FAILED_PRECONDITION, f"error parsing body: {exc}")
    files: list[str] = []
    if event == "push":
        for commit in payload.get("commits") or []:
            if isinstance(commit, dict):
                for key in ("added", "removed", "modified"):
                    files.extend(str(f) for f in commit.get(key) or [])
    else:
        repo = str((payload.get("repository") or {}).get("full_name") or "")
        number = payload.get("number")
        if not repo or not isinstance(number, int | float):
            return fail(Code.FAILED_PRECONDITION, "error parsing body: no repository.full_name or number")
        try:
            files = _api(request, env, cfg).pull_request_files(repo, int(number))
        except (GitHubAPIError, SecretMissing) as exc:
            return fail(Code.FAILED_PRECONDITION, f"error getting changed files: {exc}")
    unique = list(dict.fromkeys(f for f in files if f))
    return ok({"changed_files": ",".join(unique)})


def _owners(
    request: InterceptorRequest, env: Env, cfg: dict[str, Any], event: str
) -> InterceptorResponse | None:
    """``None`` when the owners check passes."""
    check = str(_ci(cfg, "checkType") or "none")
    if check not in CHECK_TYPES:
        return fail(Code.INVALID_ARGUMENT, f"githubOwners.checkType must be one of {', '.join(CHECK_TYPES)}")
    try:
        payload = _payload(request)
    except ValueError as exc:
        return fail(Code.FAILED_PRECONDITION, f"error parsing body: {exc}")
    repo = str((payload.get("repository") or {}).get("full_name") or "")
    if event == "issue_comment":
        issue = payload.get("issue") or {}
        if not issue.get("pull_request"):
            return fail(Code.FAILED_PRECONDITION, "githubOwners: the comment is not on a pull request")
        comment = payload.get("comment") or {}
        if "/ok-to-test" not in str(comment.get("body") or ""):
            return fail(Code.FAILED_PRECONDITION, "githubOwners: the comment does not contain /ok-to-test")
        user = str(
            (comment.get("user") or {}).get("login") or (payload.get("sender") or {}).get("login") or ""
        )
    elif event == "pull_request":
        user = str((payload.get("sender") or {}).get("login") or "")
    else:
        return None
    if not repo or not user:
        return fail(
            Code.FAILED_PRECONDITION, "githubOwners: no repository.full_name or sender.login in the body"
        )
    try:
        api = _api(request, env, cfg)
        approvers = _approvers(api.file_text(repo, "OWNERS"))
        if user in approvers:
            return None
        if check in ("orgMembers", "all") and api.is_org_member(repo.split("/")[0], user):
            return None
        if check in ("repoMembers", "all") and api.is_collaborator(repo, user):
            return None
    except (GitHubAPIError, SecretMissing) as exc:
        return fail(Code.FAILED_PRECONDITION, f"githubOwners: {exc}")
    extra = {"none": "", "orgMembers": " nor an org member", "repoMembers": " nor a collaborator"}.get(
        check, " nor an org member or collaborator"
    )
    return fail(
        Code.FAILED_PRECONDITION, f'githubOwners: "{user}" is not an approver in {repo}/OWNERS{extra}'
    )


def _approvers(text: str | None) -> set[str]:
    if not text:
        return set()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return set()
    if not isinstance(data, dict):
        return set()
    return {str(a) for a in data.get("approvers") or []}
