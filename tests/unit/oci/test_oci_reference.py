from __future__ import annotations

import pytest

from tektite.errors import ValidationError
from tektite.oci.reference import ImageReference, parse_reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("busybox", "index.docker.io", "library/busybox", None, None),
        ("busybox:1.36", "index.docker.io", "library/busybox", "1.36", None),
        ("docker.io/busybox", "index.docker.io", "library/busybox", None, None),
        ("registry-1.docker.io/org/app", "index.docker.io", "org/app", None, None),
        ("org/app:v1", "index.docker.io", "org/app", "v1", None),
        ("localhost:5000/app", "localhost:5000", "app", None, None),
        ("localhost/app:dev", "localhost", "app", "dev", None),
        ("127.0.0.1:5000/a/b/c:v2", "127.0.0.1:5000", "a/b/c", "v2", None),
        (f"ghcr.io/org/app@{DIGEST}", "ghcr.io", "org/app", None, DIGEST),
        (f"ghcr.io/org/app:v1@{DIGEST}", "ghcr.io", "org/app", "v1", DIGEST),
        ("[::1]:5000/app", "[::1]:5000", "app", None, None),
        ("gcr.io/my-project/my_app__x", "gcr.io", "my-project/my_app__x", None, None),
    ],
)
def test_parse(text: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    assert parse_reference(text) == ImageReference(registry, repository, tag, digest)


def test_identifier_prefers_digest_then_tag_then_latest() -> None:
    assert parse_reference(f"r.io/a:v1@{DIGEST}").identifier == DIGEST
    assert parse_reference("r.io/a:v1").identifier == "v1"
    assert parse_reference("r.io/a").identifier == "latest"


def test_str_round_trips() -> None:
    for text in ("localhost:5000/app:v1", f"ghcr.io/org/app:v1@{DIGEST}", "index.docker.io/library/busybox"):
        assert str(parse_reference(text)) == text


def test_with_tag_digest_and_repository() -> None:
    ref = parse_reference("localhost:5000/app:v1")
    assert str(ref.with_digest(DIGEST)) == f"localhost:5000/app@{DIGEST}"
    assert str(ref.with_tag("sha256-abc.sig")) == "localhost:5000/app:sha256-abc.sig"
    other = parse_reference("ghcr.io/org/signatures")
    assert str(ref.in_repository(other)) == "ghcr.io/org/signatures:v1"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty reference"),
        ("Org/App", "invalid repository path component"),
        ("ghcr.io/org/app:bad tag", "invalid tag"),
        ("ghcr.io/org/app@sha256:1234", "malformed digest"),
        ("ghcr.io/org/app@md5", "malformed digest"),
        ("ghcr.io/", "missing repository"),
        ("ghcr.io/org//app", "invalid repository path component"),
    ],
)
def test_invalid_references_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_reference(text)
    assert says in str(err.value)
    assert repr(text) in str(err.value)


def test_with_digest_validates() -> None:
    with pytest.raises(ValidationError, match="malformed sha256 digest"):
        parse_reference("r.io/a").with_digest("sha256:XYZ")
