"""Replaying the request of a ``curl`` command, as curl itself would send it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tektite.triggers.curl import FORM, CurlError, parse_curl


def test_headers_body_and_method() -> None:
    req = parse_curl(
        """curl -X POST \\
  http://localhost:8080 \\
  -H 'Content-Type: application/json' \\
  -H 'X-Hub-Signature-256: sha256=5bfc' \\
  -d '{
\t"repository": {"url": "x"}
}'"""
    )
    assert req.method == "POST" and req.url == "http://localhost:8080"
    assert req.headers == [("Content-Type", "application/json"), ("X-Hub-Signature-256", "sha256=5bfc")]
    assert req.body == b'{\n\t"repository": {"url": "x"}\n}'  # literal data is sent as written


def test_data_implies_post_and_curls_default_content_type() -> None:
    req = parse_curl("curl -v -H 'X-Event-Key: repo:refs_changed' -d '{\"a\": 1}' http://localhost:8080")
    assert req.method == "POST"
    assert req.header("content-type") == FORM
    assert parse_curl("curl http://x/").method == "GET"


def test_data_files(tmp_path: Path) -> None:
    (tmp_path / "examples" / "v1beta1" / "gitlab").mkdir(parents=True)
    event = tmp_path / "examples" / "v1beta1" / "gitlab" / "event.json"
    event.write_bytes(b'{\r\n  "a": 1\n}\n')
    script_dir = tmp_path / "examples" / "v1beta1" / "gitlab"
    binary = parse_curl(
        'curl --data-binary "@examples/v1beta1/gitlab/event.json" http://x', base_dir=script_dir
    )
    assert binary.body == event.read_bytes()
    stripped = parse_curl("curl -d @event.json http://x", base_dir=script_dir)
    assert stripped.body == b'{  "a": 1}'  # -d @file drops CR and LF, as curl does
    with pytest.raises(CurlError, match="not found"):
        parse_curl("curl -d @missing.json http://x", base_dir=script_dir)


def test_several_data_options_are_joined_and_urlencoded() -> None:
    req = parse_curl("curl --data-raw a=1 --data-urlencode 'b=x y&z' http://x")
    assert req.body == b"a=1&b=x+y%26z"


def test_not_curl() -> None:
    with pytest.raises(CurlError):
        parse_curl("wget http://x")
    with pytest.raises(CurlError, match="no URL"):
        parse_curl("curl -d x")


def test_with_header_replaces() -> None:
    req = parse_curl("curl -H 'X-Gitlab-Token: a' http://x").with_header("x-gitlab-token", "b")
    assert req.headers == [("x-gitlab-token", "b")]
