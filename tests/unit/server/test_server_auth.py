"""Tokens are stored hashed and private; roles decide what a caller may do; secrets stay hidden."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest
from starlette.requests import Request

from tektite.errors import AlreadyExists, NotFound, ValidationError
from tektite.server.auth import Auth, Principal, Role, authenticate, can, redact, sees_secret_data
from tektite.server.tokens import ADMIN_TOKEN_FILE, TokenStore


def _request(headers: dict[str, str] | None = None, auth: Auth | None = None) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    if auth is not None:
        auth.install(scope)
    return Request(scope)


def test_token_file_keeps_only_the_hash_and_is_private(tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path)
    record, token = tokens.create("edit", "ci")
    text = (tmp_path / "tokens.json").read_text()
    assert token not in text
    assert hashlib.sha256(token.encode()).hexdigest() in text
    assert stat.S_IMODE((tmp_path / "tokens.json").stat().st_mode) == 0o600
    assert record.role is Role.EDIT
    assert tokens.lookup(token) == record
    assert tokens.lookup(token + "x") is None


def test_token_names_roles_and_deletion(tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path)
    tokens.create("view", "reader")
    with pytest.raises(AlreadyExists):
        tokens.create("view", "reader")
    with pytest.raises(ValidationError, match="one of admin, edit, view"):
        tokens.create("root", "x")
    with pytest.raises(ValidationError, match="invalid token name"):
        tokens.create("view", "Bad Name")
    with pytest.raises(NotFound, match="reader"):
        tokens.delete("nobody")
    (listed,) = tokens.list()
    assert listed.public() == {"name": "reader", "role": "view", "created": listed.created}


def test_a_deleted_token_stops_working_for_a_reader_holding_the_file(tmp_path: Path) -> None:
    server_view = TokenStore(tmp_path)
    _rec, token = TokenStore(tmp_path).create("admin", "a")
    assert server_view.lookup(token) is not None
    TokenStore(tmp_path).delete("a")
    assert server_view.lookup(token) is None


def test_bootstrap_writes_an_admin_token_once(tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path)
    token = tokens.bootstrap()
    assert token is not None
    path = tmp_path / ADMIN_TOKEN_FILE
    assert path.read_text().strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    record = tokens.lookup(token)
    assert record is not None and record.role is Role.ADMIN
    assert tokens.bootstrap() is None


def test_authenticate_from_bearer_and_cookie(tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path)
    _rec, token = tokens.create("view", "v")
    auth = Auth(tokens)
    assert authenticate(_request({"Authorization": f"Bearer {token}"}, auth)) == Principal("v", Role.VIEW)
    assert authenticate(_request({"Cookie": f"tektite-token={token}"}, auth)) == Principal("v", Role.VIEW)
    assert authenticate(_request({}, auth)) is None
    assert authenticate(_request({"Authorization": "Bearer nope"}, auth)) is None
    # passed explicitly instead of found in the scope (how the dashboard may call it)
    assert authenticate(_request({"Authorization": f"Bearer {token}"}), auth) == Principal("v", Role.VIEW)


def test_anonymous_role_does_not_rescue_a_wrong_token(tmp_path: Path) -> None:
    auth = Auth(TokenStore(tmp_path), anonymous=Role.VIEW)
    assert authenticate(_request({}, auth)) == Principal("system:anonymous", Role.VIEW)
    assert authenticate(_request({"Authorization": "Bearer wrong"}, auth)) is None


@pytest.mark.parametrize(
    ("role", "verb", "kind", "allowed"),
    [
        ("admin", "delete", "Secret", True),
        ("admin", "create", "Pipeline", True),
        ("edit", "create", "PipelineRun", True),
        ("edit", "cancel", "TaskRun", True),
        ("edit", "rerun", "PipelineRun", True),
        ("edit", "delete", "TaskRun", True),
        ("edit", "create", "Pipeline", False),
        ("edit", "delete", "Secret", False),
        ("edit", "list", "Secret", True),
        ("view", "get", "PipelineRun", True),
        ("view", "watch", "TaskRun", True),
        ("view", "logs", "TaskRun", True),
        ("view", "create", "PipelineRun", False),
        ("view", "cancel", "PipelineRun", False),
        ("admin", "escalate", "Task", False),
    ],
)
def test_role_rules(role: str, verb: str, kind: str, allowed: bool) -> None:
    assert can(Principal("p", Role(role)), verb, kind) is allowed


def test_nobody_unauthenticated_may_do_anything() -> None:
    assert not can(None, "get", "Task")


def test_secret_data_is_for_admin_only() -> None:
    secret = {
        "kind": "Secret",
        "metadata": {
            "name": "s",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": json.dumps({"data": "x"})},
        },
        "data": {"password": "aHVudGVyMg=="},
        "stringData": {"token": "t"},
    }
    viewer = Principal("v", Role.VIEW)
    shown = redact(viewer, secret)
    assert "data" not in shown and "stringData" not in shown
    assert "kubectl.kubernetes.io/last-applied-configuration" not in shown["metadata"]["annotations"]
    assert secret["data"] == {"password": "aHVudGVyMg=="}  # the original is untouched
    assert redact(Principal("a", Role.ADMIN), secret)["data"] == secret["data"]
    assert not sees_secret_data(Principal("e", Role.EDIT))
    assert redact(viewer, {"kind": "ConfigMap", "data": {"a": "b"}})["data"] == {"a": "b"}
